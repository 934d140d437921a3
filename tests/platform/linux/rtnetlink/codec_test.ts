// Byte-exact tests for the rtnetlink request bodies (family header + attributes) and the
// decoders of dumped messages. Expected bytes are written by hand from the struct layouts.

import assert from "node:assert/strict";
import {
  decodeAddress,
  decodeLink,
  decodeRoute,
  decodeRule,
  encodeAddress,
  encodeLinkChange,
  encodeRoute,
  encodeRule,
  encodeRuleDeleteByPriority,
  NetlinkError,
} from "../../../../src/platform/linux/rtnetlink/mod.ts";
import {
  attrNested,
  attrString,
  attrU32,
  concatBytes,
  encodeAttr,
} from "../../../../ffi/linux/netlink.ts";
import { parsePrefix } from "../../../../src/net/ip.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);
const flat = (r: { body: Uint8Array; attrs: Uint8Array[] }) => concatBytes([r.body, ...r.attrs]);
const p = (s: string) => parsePrefix(s)!;

Deno.test("`encodeRule()` to-table rule with a table ≥ 256 and a destination", () => {
  const r = encodeRule({
    family: 4,
    priority: 9000,
    action: "lookup",
    table: 2022,
    dst: p("172.19.0.1/30"),
  });
  assert.deepEqual(
    flat(r),
    bytes(
      2,
      30,
      0,
      0,
      0,
      0,
      0,
      1,
      0,
      0,
      0,
      0, // fib_rule_hdr: AF_INET, dst_len 30, table 0, TO_TBL
      8,
      0,
      1,
      0,
      172,
      19,
      0,
      0, // FRA_DST 172.19.0.0 (masked)
      8,
      0,
      6,
      0,
      0x28,
      0x23,
      0,
      0, // FRA_PRIORITY 9000
      8,
      0,
      15,
      0,
      0xe6,
      0x07,
      0,
      0, // FRA_TABLE 2022
    ),
  );
});

Deno.test("`encodeRule()` inverted dport rule on main with suppress_prefixlength", () => {
  const r = encodeRule({
    family: 6,
    priority: 9001,
    action: "lookup",
    table: 254,
    invert: true,
    dport: { start: 53, end: 53 },
    suppressPrefixlen: 0,
  });
  assert.deepEqual(
    flat(r),
    bytes(
      10,
      0,
      0,
      0,
      254,
      0,
      0,
      1,
      2,
      0,
      0,
      0, // AF_INET6, table main in header, TO_TBL, INVERT
      8,
      0,
      6,
      0,
      0x29,
      0x23,
      0,
      0, // FRA_PRIORITY 9001
      8,
      0,
      15,
      0,
      254,
      0,
      0,
      0, // FRA_TABLE 254
      8,
      0,
      14,
      0,
      0,
      0,
      0,
      0, // FRA_SUPPRESS_PREFIXLEN 0
      8,
      0,
      24,
      0,
      53,
      0,
      53,
      0, // FRA_DPORT_RANGE 53-53
    ),
  );
});

Deno.test("`encodeRule()` goto with iif, source and uid range; nop; unreachable", () => {
  const g = encodeRule({
    family: 6,
    priority: 9001,
    action: "goto",
    goto: 9010,
    iif: "lo",
    src: p("8000::/1"),
    uidRange: { start: 1000, end: 1999 },
  });
  assert.deepEqual(
    flat(g),
    bytes(
      10,
      0,
      1,
      0,
      0,
      0,
      0,
      2,
      0,
      0,
      0,
      0, // src_len 1, GOTO
      20,
      0,
      2,
      0,
      0x80,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0, // FRA_SRC 8000::
      8,
      0,
      6,
      0,
      0x29,
      0x23,
      0,
      0, // FRA_PRIORITY 9001
      7,
      0,
      3,
      0,
      0x6c,
      0x6f,
      0,
      0, // FRA_IIFNAME "lo"
      8,
      0,
      4,
      0,
      0x32,
      0x23,
      0,
      0, // FRA_GOTO 9010
      12,
      0,
      20,
      0,
      0xe8,
      0x03,
      0,
      0,
      0xcf,
      0x07,
      0,
      0, // FRA_UID_RANGE 1000-1999
    ),
  );
  assert.deepEqual(
    flat(encodeRule({ family: 4, priority: 9010, action: "nop" })),
    bytes(2, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 8, 0, 6, 0, 0x32, 0x23, 0, 0),
  );
  assert.deepEqual(
    flat(encodeRule({ family: 6, priority: 9000, action: "unreachable" })).subarray(0, 12),
    bytes(10, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0),
  );
  assert.deepEqual(
    flat(encodeRuleDeleteByPriority(4, 9005)),
    bytes(2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 6, 0, 0x2d, 0x23, 0, 0),
  );
});

Deno.test("`encodeRoute()` add and delete forms", () => {
  const spec = {
    family: 4 as const,
    dst: p("10.0.0.0/8"),
    table: 2022,
    oif: 3,
    gateway: bytes(172, 19, 0, 2),
  };
  const add = bytes(
    2,
    8,
    0,
    0,
    0,
    3,
    0,
    1,
    0,
    0,
    0,
    0, // rtmsg: dst_len 8, table 0, proto boot, universe, unicast
    8,
    0,
    1,
    0,
    10,
    0,
    0,
    0, // RTA_DST
    8,
    0,
    15,
    0,
    0xe6,
    0x07,
    0,
    0, // RTA_TABLE 2022
    8,
    0,
    5,
    0,
    172,
    19,
    0,
    2, // RTA_GATEWAY
    8,
    0,
    4,
    0,
    3,
    0,
    0,
    0, // RTA_OIF
  );
  assert.deepEqual(flat(encodeRoute(spec)), add);
  const del = add.slice();
  del[5] = 0; // protocol any
  del[6] = 255; // RT_SCOPE_NOWHERE
  assert.deepEqual(flat(encodeRoute(spec, true)), del);
  // A /0 route has no RTA_DST; a table < 256 also goes in the header.
  assert.deepEqual(
    flat(encodeRoute({ family: 6, dst: p("::/0"), table: 100, priority: 5 })),
    bytes(10, 0, 0, 0, 100, 3, 0, 1, 0, 0, 0, 0, 8, 0, 15, 0, 100, 0, 0, 0, 8, 0, 6, 0, 5, 0, 0, 0),
  );
});

Deno.test("`encodeAddress()` IPv4 with broadcast, IPv6 with IFA_F_NODAD", () => {
  assert.deepEqual(
    flat(encodeAddress(4, p("172.19.0.1/30"))),
    bytes(
      2,
      30,
      0,
      0,
      4,
      0,
      0,
      0, // ifaddrmsg
      8,
      0,
      2,
      0,
      172,
      19,
      0,
      1, // IFA_LOCAL
      8,
      0,
      1,
      0,
      172,
      19,
      0,
      1, // IFA_ADDRESS
      8,
      0,
      4,
      0,
      172,
      19,
      0,
      3, // IFA_BROADCAST
    ),
  );
  const v6 = flat(encodeAddress(4, p("fd00::1/126"), 0x02));
  assert.deepEqual(v6.subarray(0, 8), bytes(10, 126, 2, 0, 4, 0, 0, 0));
  assert.deepEqual(v6.subarray(8, 12), bytes(20, 0, 2, 0));
  assert.deepEqual(v6.subarray(28, 32), bytes(20, 0, 1, 0));
  assert.deepEqual(v6.subarray(48), bytes(8, 0, 8, 0, 2, 0, 0, 0)); // IFA_FLAGS NODAD
  assert.equal(v6.byteLength, 56);
  // /31 and /32 get no broadcast.
  assert.equal(flat(encodeAddress(1, p("10.0.0.0/31"))).byteLength, 24);
});

Deno.test("`encodeLinkChange()` sets IFF_UP in flags and change; MTU as IFLA_MTU", () => {
  assert.deepEqual(
    flat(encodeLinkChange(7, { up: true })),
    bytes(0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0),
  );
  assert.deepEqual(
    flat(encodeLinkChange(7, { mtu: 65535 })),
    bytes(0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 4, 0, 0xff, 0xff, 0, 0),
  );
});

Deno.test("`decodeRule()` reads back what `encodeRule()` wrote", () => {
  const spec = {
    family: 4 as const,
    priority: 9003,
    action: "lookup" as const,
    table: 2022,
    invert: true,
    iif: "lo",
  };
  const decoded = decodeRule(flat(encodeRule(spec)));
  assert.deepEqual(decoded, { ...spec, flags: 2 });
  const s2 = decodeRule(
    flat(
      encodeRule({
        family: 4,
        priority: 9003,
        action: "lookup",
        table: 2022,
        src: p("0.0.0.0/32"),
      }),
    ),
  );
  assert.deepEqual(s2?.src, p("0.0.0.0/32"));
  assert.equal(decodeRule(bytes(7, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0)), null);
});

Deno.test("`decodeRoute()` reads a dumped route with table, oif, gateway, metric, pref", () => {
  const msg = concatBytes([
    bytes(10, 0, 0, 0, 0, 3, 0, 1, 0, 0, 0, 0),
    attrU32(15, 2022),
    attrU32(4, 9),
    attrU32(6, 1024),
    encodeAttr(5, bytes(0xfd, 0, ...new Array(13).fill(0), 2)),
    encodeAttr(20, bytes(0)),
  ]);
  const r = decodeRoute(msg)!;
  assert.equal(r.family, 6);
  assert.equal(r.dst.bits, 0);
  assert.equal(r.table, 2022);
  assert.equal(r.oif, 9);
  assert.equal(r.priority, 1024);
  assert.equal(r.pref, 0);
  assert.equal(r.gateway![15], 2);
});

Deno.test("`decodeRoute()` reads RTA_MULTIPATH nexthops", () => {
  // struct rtnexthop { u16 len; u8 flags; u8 hops; i32 ifindex } + RTA_GATEWAY
  const hop = (oif: number, gw: number[]) =>
    concatBytes([bytes(16, 0, 0, 0, oif, 0, 0, 0), encodeAttr(5, Uint8Array.from(gw))]);
  const msg = concatBytes([
    bytes(2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0),
    encodeAttr(9, concatBytes([hop(2, [10, 0, 0, 1]), hop(3, [10, 0, 1, 1])])),
  ]);
  const r = decodeRoute(msg)!;
  assert.deepEqual(r.nexthops?.map((h) => h.oif), [2, 3]);
  assert.deepEqual(r.nexthops?.[1]?.gateway, bytes(10, 0, 1, 1));
  assert.equal(r.oif, undefined);
});

Deno.test("`decodeLink()` reads name, mtu and IFLA_INFO_KIND; `decodeAddress()` prefers IFA_LOCAL", () => {
  const link = decodeLink(concatBytes([
    bytes(0, 0, 0xfe, 0xff, 5, 0, 0, 0, 0x41, 0x10, 0, 0, 0, 0, 0, 0),
    attrString(3, "tun0"),
    attrU32(4, 65535),
    attrNested(18, [attrString(1, "tun")]),
  ]));
  assert.deepEqual(link, {
    index: 5,
    name: "tun0",
    flags: 0x1041,
    mtu: 65535,
    type: 0xfffe,
    kind: "tun",
  });
  const addr = decodeAddress(concatBytes([
    bytes(2, 30, 0x80, 0, 5, 0, 0, 0),
    encodeAttr(1, bytes(172, 19, 0, 2)),
    encodeAttr(2, bytes(172, 19, 0, 1)),
    attrString(3, "tun0"),
  ]))!;
  assert.deepEqual(addr.prefix, p("172.19.0.1/30"));
  assert.equal(addr.flags, 0x80);
  assert.equal(addr.label, "tun0");
});

Deno.test("`NetlinkError` names the action, errno and the kernel's message", () => {
  const e = new NetlinkError("add route 0.0.0.0/0 table 2022 dev tun0", 17);
  assert.equal(e.message, "add route 0.0.0.0/0 table 2022 dev tun0 failed: EEXIST (File exists)");
  assert.equal(e.code, "EEXIST");
  const x = new NetlinkError("add rule 9010", 22, "Backward goto not supported");
  assert.equal(
    x.message,
    "add rule 9010 failed: EINVAL (Invalid argument): Backward goto not supported",
  );
  assert.equal(x.kernelMessage, "Backward goto not supported");
});
