import assert from "node:assert/strict";
import { parseRouteDump } from "../../../ffi/darwin/structs.ts";
import { RTF, RTM } from "../../../ffi/darwin/constants.ts";
import {
  findDefaultInterface,
  isIpv4DefaultRoute,
} from "../../../src/platform/darwin/default_interface.ts";
import { parseIp } from "../../../src/net/ip.ts";
import {
  RECORD_DEFAULT_EN0,
  RECORD_IPV6_DEFAULT_EN0,
  RECORD_LINK_ROUTE_EN0,
  RECORD_SCOPED_DEFAULT_EN5,
  ROUTE_DUMP,
} from "./_route_dump.ts";

const ip = (t: string) => parseIp(t)!;
const NAMES: Record<number, string> = { 1: "lo0", 6: "en0", 12: "en5" };
const nameOf = (i: number) => NAMES[i] ?? null;

Deno.test("`parseRouteDump()` decodes back-to-back records with their sockaddrs", () => {
  assert.equal(ROUTE_DUMP.length, 128 + 128 + 136 + 152);
  const recs = parseRouteDump(ROUTE_DUMP);
  assert.deepEqual(
    recs.map((r) => [r.msglen, r.version, r.type, r.index, r.flags >>> 0, r.addrs, r.mtu]),
    [
      [128, 5, RTM.GET, 12, 0x01010803, 7, 1500],
      [128, 5, RTM.GET, 6, 0x40010803, 7, 1500],
      [136, 5, RTM.GET, 6, 0x901, 7, 1500],
      [152, 5, RTM.GET, 6, 0x10803, 7, 1500],
    ],
  );
  assert.equal(recs[1]!.use, 123456);
  // A: scoped default via 10.0.0.1, empty netmask → /0.
  assert.deepEqual(recs[0]!.sockaddrs.slice(0, 3), [
    { kind: "inet", family: 4, addr: ip("0.0.0.0") },
    { kind: "inet", family: 4, addr: ip("10.0.0.1") },
    { kind: "mask", family: 4, mask: ip("0.0.0.0"), bits: 0 },
  ]);
  // C: link route, sockaddr_dl gateway, trimmed 7-byte netmask → /24.
  assert.deepEqual(recs[2]!.sockaddrs.slice(0, 3), [
    { kind: "inet", family: 4, addr: ip("192.168.1.0") },
    { kind: "link", index: 6, type: 6, name: "", lladdr: new Uint8Array(0) },
    { kind: "mask", family: 4, mask: ip("255.255.255.0"), bits: 24 },
  ]);
  // D: IPv6 default; the 2-byte netmask reads as ::/0 in the destination's family.
  assert.deepEqual(recs[3]!.sockaddrs.slice(0, 3), [
    { kind: "inet", family: 6, addr: ip("::") },
    { kind: "inet", family: 6, addr: ip("fe80:6::1") },
    { kind: "mask", family: 6, mask: ip("::"), bits: 0 },
  ]);
  assert.deepEqual(recs[0]!.sockaddrs.slice(3), [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
});

Deno.test("`parseRouteDump()` rejects a record cut short and skips other versions", () => {
  assert.throws(() => parseRouteDump(ROUTE_DUMP.subarray(0, ROUTE_DUMP.length - 1)), RangeError);
  assert.throws(() => parseRouteDump(ROUTE_DUMP.subarray(0, 130)), RangeError);
  const oldVersion = RECORD_DEFAULT_EN0.slice();
  oldVersion[2] = 4;
  assert.deepEqual(
    parseRouteDump(new Uint8Array([...oldVersion, ...RECORD_LINK_ROUTE_EN0])).map((r) => r.index),
    [6],
  );
  assert.deepEqual(parseRouteDump(new Uint8Array(0)), []);
});

Deno.test("`isIpv4DefaultRoute()` accepts only up IPv4 gateway routes to 0.0.0.0/0", () => {
  const [a, b, c, d] = parseRouteDump(ROUTE_DUMP);
  assert.deepEqual([a, b, c, d].map((r) => isIpv4DefaultRoute(r!)), [true, true, false, false]);
  const down = { ...b!, flags: b!.flags & ~RTF.UP };
  assert.equal(isIpv4DefaultRoute(down), false);
});

Deno.test("`findDefaultInterface()` prefers the unscoped default over an earlier scoped one", () => {
  const recs = parseRouteDump(ROUTE_DUMP);
  assert.deepEqual(findDefaultInterface(recs, nameOf), { name: "en0", index: 6 });
});

Deno.test("`findDefaultInterface()` falls back to a scoped default and honours exclude", () => {
  const recs = parseRouteDump(ROUTE_DUMP);
  assert.deepEqual(findDefaultInterface(recs, nameOf, "en0"), { name: "en5", index: 12 });
  const scopedOnly = parseRouteDump(RECORD_SCOPED_DEFAULT_EN5);
  assert.deepEqual(findDefaultInterface(scopedOnly, nameOf), { name: "en5", index: 12 });
});

Deno.test("`findDefaultInterface()` returns null without an IPv4 default route", () => {
  const recs = parseRouteDump(
    new Uint8Array([...RECORD_LINK_ROUTE_EN0, ...RECORD_IPV6_DEFAULT_EN0]),
  );
  assert.equal(findDefaultInterface(recs, nameOf), null);
  // A default whose interface index no longer resolves is skipped too.
  assert.equal(findDefaultInterface(parseRouteDump(RECORD_DEFAULT_EN0), () => null), null);
});
