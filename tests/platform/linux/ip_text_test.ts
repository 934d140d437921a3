import assert from "node:assert/strict";
import { formatRoute, formatRule, tableName } from "../../../src/platform/linux/ip_text.ts";
import { parsePrefix } from "../../../src/net/ip.ts";

const p = (s: string) => parsePrefix(s)!;

Deno.test("`formatRule()` prints selectors in iproute2's order", () => {
  assert.equal(
    formatRule({
      family: 4,
      priority: 9003,
      action: "lookup",
      table: 2022,
      invert: true,
      iif: "lo",
    }),
    "9003:\tnot from all iif lo lookup 2022",
  );
  assert.equal(
    formatRule({
      family: 4,
      priority: 100,
      action: "lookup",
      table: 254,
      src: p("10.1.2.3/8"),
      dst: p("10.9.9.9/32"),
      fwmark: 0x2024,
      fwmask: 0xff00,
      oif: "eth0",
      uidRange: { start: 1, end: 2 },
      ipProto: 17,
      sport: { start: 1000, end: 2000 },
      dport: { start: 53, end: 53 },
      suppressPrefixlen: 0,
    }),
    "100:\tfrom 10.0.0.0/8 to 10.9.9.9 fwmark 0x2024/0xff00 oif eth0 uidrange 1-2 ipproto udp " +
      "sport 1000-2000 dport 53 lookup main suppress_prefixlength 0",
  );
  assert.equal(
    formatRule({ family: 6, priority: 9000, action: "unreachable" }),
    "9000:\tfrom all unreachable",
  );
  assert.equal(formatRule({ family: 4, priority: 9010, action: "nop" }), "9010:\tfrom all nop");
});

Deno.test("`formatRule()` shows the kernel's detached/unresolved flags", () => {
  assert.equal(
    formatRule({ family: 4, priority: 1, action: "goto", goto: 5, iif: "x" }, 0x8 | 0x4),
    "1:\tfrom all iif x [detached] goto 5 [unresolved]",
  );
  assert.equal(
    formatRule({
      family: 4,
      priority: 1,
      action: "lookup",
      table: 7,
      fwmark: 1,
      fwmask: 0xffffffff,
    }),
    "1:\tfrom all fwmark 0x1 lookup 7",
  );
});

Deno.test("`formatRoute()` prints default, host routes, gateway and IPv6 metric/pref", () => {
  assert.equal(
    formatRoute({ family: 4, dst: p("0.0.0.0/0"), table: 2022 }, "tun0"),
    "default dev tun0",
  );
  assert.equal(
    formatRoute({
      family: 4,
      dst: p("10.9.9.9/32"),
      table: 2022,
      gateway: Uint8Array.of(172, 19, 0, 2),
    }, "tun0"),
    "10.9.9.9 via 172.19.0.2 dev tun0",
  );
  assert.equal(
    formatRoute({ family: 6, dst: p("fd00::/8"), table: 2022 }, "tun0"),
    "fd00::/8 dev tun0 metric 1024 pref medium",
  );
  assert.equal(
    formatRoute(
      { family: 4, dst: p("10.0.0.0/8"), table: 254, protocol: 2, scope: 253, type: 1 },
      "eth0",
    ),
    "10.0.0.0/8 dev eth0 proto kernel scope link",
  );
  assert.equal(
    formatRoute({ family: 4, dst: p("10.0.0.0/8"), table: 254, type: 7, priority: 5 }),
    "unreachable 10.0.0.0/8 metric 5",
  );
});

Deno.test("`tableName()` names the kernel's tables", () => {
  assert.deepEqual([253, 254, 255, 2022].map(tableName), ["default", "main", "local", "2022"]);
});
