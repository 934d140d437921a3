// planRoutes(): expected lists written by hand from sing-tun's tun_linux.go rules()/routes()
// (revision 01b968d, see auto_route.ts) in the form `ip rule` / `ip route show table N` print.

import { DEFAULT_V4, DEFAULT_V6 } from "../../tun/_tun_options.ts";
import assert from "node:assert/strict";
import {
  excludedUidRanges,
  planRoutes,
  resolveIndexes,
} from "../../../src/platform/linux/auto_route.ts";
import type { RoutePlan } from "../../../src/platform/types.ts";
import { tunOptions } from "../../tun/_tun_options.ts";

const rules = (plan: RoutePlan, family: 4 | 6) =>
  plan.rules.filter((r) => r.family === family).map((r) => r.text);
const routes = (plan: RoutePlan) => plan.routes.map((r) => r.text);

Deno.test("`planRoutes()` default dual-stack: sing-tun's rules and a default route per family", () => {
  const plan = planRoutes(tunOptions(), "tun0");
  assert.deepEqual(rules(plan, 4), DEFAULT_V4);
  assert.deepEqual(rules(plan, 6), DEFAULT_V6);
  assert.deepEqual(routes(plan), [
    "default via 172.19.0.2 dev tun0",
    "default via fdfe:dcba:9876::2 dev tun0 metric 1024 pref medium",
  ]);
  assert.deepEqual(plan.routes.map((r) => r.table), [2022, 2022]);
  assert.deepEqual(plan.warnings, []);
});

Deno.test("`planRoutes()` strict_route with both families adds nothing", () => {
  const plan = planRoutes(tunOptions({ strict_route: true }), "tun0");
  assert.deepEqual(rules(plan, 4), DEFAULT_V4);
  assert.deepEqual(rules(plan, 6), DEFAULT_V6);
});

Deno.test("`planRoutes()` IPv4-only: no IPv6 rules or routes", () => {
  const plan = planRoutes(tunOptions({ address: ["172.19.0.1/30"] }), "tun0");
  assert.deepEqual(rules(plan, 4), DEFAULT_V4);
  assert.deepEqual(rules(plan, 6), []);
  assert.deepEqual(routes(plan), ["default via 172.19.0.2 dev tun0"]);
});

Deno.test("`planRoutes()` IPv4-only strict_route makes IPv6 unreachable", () => {
  const plan = planRoutes(tunOptions({ address: ["172.19.0.1/30"], strict_route: true }), "tun0");
  assert.deepEqual(rules(plan, 4), DEFAULT_V4);
  assert.deepEqual(rules(plan, 6), ["9000:\tfrom all unreachable"]);
});

Deno.test("`planRoutes()` IPv6-only strict_route makes IPv4 unreachable", () => {
  const plan = planRoutes(
    tunOptions({ address: ["fdfe:dcba:9876::1/126"], strict_route: true }),
    "tun0",
  );
  assert.deepEqual(rules(plan, 4), ["9000:\tfrom all unreachable"]);
  assert.deepEqual(rules(plan, 6), DEFAULT_V6);
  assert.deepEqual(routes(plan), [
    "default via fdfe:dcba:9876::2 dev tun0 metric 1024 pref medium",
  ]);
});

Deno.test("`planRoutes()` route_address minus route_exclude_address as minimal prefixes", () => {
  const plan = planRoutes(
    tunOptions({
      route_address: ["10.0.0.0/8", "fd00::/8"],
      route_exclude_address: ["10.1.0.0/16", "fd00:1::/32"],
    }),
    "tun0",
  );
  const v4 = [
    "10.0.0.0/16",
    "10.2.0.0/15",
    "10.4.0.0/14",
    "10.8.0.0/13",
    "10.16.0.0/12",
    "10.32.0.0/11",
    "10.64.0.0/10",
    "10.128.0.0/9",
  ].map((p) => `${p} via 172.19.0.2 dev tun0`);
  const v6 = [
    "fd00::/32",
    "fd00:2::/31",
    "fd00:4::/30",
    "fd00:8::/29",
    "fd00:10::/28",
    "fd00:20::/27",
    "fd00:40::/26",
    "fd00:80::/25",
    "fd00:100::/24",
    "fd00:200::/23",
    "fd00:400::/22",
    "fd00:800::/21",
    "fd00:1000::/20",
    "fd00:2000::/19",
    "fd00:4000::/18",
    "fd00:8000::/17",
    "fd01::/16",
    "fd02::/15",
    "fd04::/14",
    "fd08::/13",
    "fd10::/12",
    "fd20::/11",
    "fd40::/10",
    "fd80::/9",
  ].map((p) => `${p} via fdfe:dcba:9876::2 dev tun0 metric 1024 pref medium`);
  assert.deepEqual(routes(plan), [...v4, ...v6]);
  assert.deepEqual(rules(plan, 4), DEFAULT_V4);
});

Deno.test("`planRoutes()` excluding 192.168.0.0/16 from everything", () => {
  const plan = planRoutes(
    tunOptions({ address: ["172.19.0.1/30"], route_exclude_address: ["192.168.0.0/16"] }),
    "tun0",
  );
  assert.deepEqual(
    routes(plan),
    [
      "0.0.0.0/1",
      "128.0.0.0/2",
      "192.0.0.0/9",
      "192.128.0.0/11",
      "192.160.0.0/13",
      "192.169.0.0/16",
      "192.170.0.0/15",
      "192.172.0.0/14",
      "192.176.0.0/12",
      "192.192.0.0/10",
      "193.0.0.0/8",
      "194.0.0.0/7",
      "196.0.0.0/6",
      "200.0.0.0/5",
      "208.0.0.0/4",
      "224.0.0.0/3",
    ].map((p) => `${p} via 172.19.0.2 dev tun0`),
  );
});

Deno.test("`planRoutes()` masks and dedupes route_address, host routes print without /32", () => {
  const plan = planRoutes(
    tunOptions({
      address: ["172.19.0.1/30"],
      route_address: ["10.9.9.9/32", "10.1.2.3/8", "10.0.0.0/8"],
    }),
    "tun0",
  );
  assert.deepEqual(routes(plan), [
    "10.9.9.9 via 172.19.0.2 dev tun0",
    "10.0.0.0/8 via 172.19.0.2 dev tun0",
  ]);
});

Deno.test("`planRoutes()` has no gateway when the address has no next address", () => {
  const plan = planRoutes(tunOptions({ address: ["172.19.0.1/32", "fdfe::1/128"] }), "tun0");
  assert.deepEqual(routes(plan), ["default dev tun0", "default dev tun0 metric 1024 pref medium"]);
  assert.equal(plan.routes[0]!.gateway, undefined);
  assert.deepEqual(rules(plan, 4)[0], "9000:\tfrom all to 172.19.0.1 lookup 2022");
});

Deno.test("`planRoutes()` exclude_uid: one uidrange block before everything else", () => {
  const plan = planRoutes(
    tunOptions({ exclude_uid: [1000], exclude_uid_range: ["2000:2999"] }),
    "tun0",
  );
  assert.deepEqual(rules(plan, 4), [
    "9000:\tfrom all uidrange 1000-1000 goto 9010",
    "9000:\tfrom all uidrange 2000-2999 goto 9010",
    "9001:\tfrom all to 172.19.0.0/30 lookup 2022",
    "9002:\tfrom all lookup 2022 suppress_prefixlength 0",
    "9003:\tnot from all dport 53 lookup main suppress_prefixlength 0",
    "9003:\tfrom all iif tun0 goto 9010",
    "9004:\tnot from all iif lo lookup 2022",
    "9004:\tfrom 0.0.0.0 iif lo lookup 2022",
    "9004:\tfrom 172.19.0.0/30 iif lo lookup 2022",
    "9010:\tfrom all nop",
  ]);
  assert.deepEqual(rules(plan, 6), [
    "9000:\tfrom all uidrange 1000-1000 goto 9010",
    "9000:\tfrom all uidrange 2000-2999 goto 9010",
    "9001:\tfrom all lookup 2022 suppress_prefixlength 0",
    "9002:\tnot from all dport 53 lookup main suppress_prefixlength 0",
    "9002:\tfrom all iif tun0 goto 9010",
    "9002:\tfrom ::/1 iif lo goto 9010",
    "9002:\tfrom 8000::/1 iif lo goto 9010",
    "9003:\tfrom fdfe:dcba:9876::/126 iif lo lookup 2022",
    "9004:\tfrom all lookup 2022",
    "9010:\tfrom all nop",
  ]);
});

Deno.test("`planRoutes()` include_uid excludes the complement", () => {
  const plan = planRoutes(tunOptions({ address: ["172.19.0.1/30"], include_uid: [1000] }), "tun0");
  assert.deepEqual(rules(plan, 4).slice(0, 2), [
    "9000:\tfrom all uidrange 0-999 goto 9010",
    "9000:\tfrom all uidrange 1001-4294967294 goto 9010",
  ]);
});

Deno.test("`planRoutes()` custom table and rule index", () => {
  const plan = planRoutes(
    tunOptions({ iproute2_table_index: 100, iproute2_rule_index: 500 }),
    "tun9",
  );
  assert.deepEqual(rules(plan, 4), [
    "500:\tfrom all to 172.19.0.0/30 lookup 100",
    "501:\tfrom all lookup 100 suppress_prefixlength 0",
    "502:\tnot from all dport 53 lookup main suppress_prefixlength 0",
    "502:\tfrom all iif tun9 goto 510",
    "503:\tnot from all iif lo lookup 100",
    "503:\tfrom 0.0.0.0 iif lo lookup 100",
    "503:\tfrom 172.19.0.0/30 iif lo lookup 100",
    "510:\tfrom all nop",
  ]);
  assert.equal(rules(plan, 6).at(-2), "503:\tfrom all lookup 100");
  assert.deepEqual(plan.routes.map((r) => r.table), [100, 100]);
});

Deno.test("`planRoutes()` include_interface jumps matching interfaces past a catch-all", () => {
  const plan = planRoutes(
    tunOptions({ address: ["172.19.0.1/30"], include_interface: ["eth0", "eth1"] }),
    "tun0",
  );
  assert.deepEqual(rules(plan, 4), [
    "9000:\tfrom all iif eth0 goto 9002",
    "9000:\tfrom all iif eth1 goto 9002",
    "9001:\tfrom all goto 9010",
    "9002:\tfrom all nop",
    "9003:\tfrom all to 172.19.0.0/30 lookup 2022",
    "9004:\tfrom all lookup 2022 suppress_prefixlength 0",
    "9005:\tnot from all dport 53 lookup main suppress_prefixlength 0",
    "9005:\tfrom all iif tun0 goto 9010",
    "9006:\tnot from all iif lo lookup 2022",
    "9006:\tfrom 0.0.0.0 iif lo lookup 2022",
    "9006:\tfrom 172.19.0.0/30 iif lo lookup 2022",
    "9010:\tfrom all nop",
  ]);
});

Deno.test("`planRoutes()` include_interface lands per family on an IPv6-only TUN with uids", () => {
  const plan = planRoutes(
    tunOptions({
      address: ["fdfe:dcba:9876::1/126"],
      include_interface: ["eth0"],
      exclude_uid: [0],
    }),
    "tun0",
  );
  assert.deepEqual(rules(plan, 6).slice(0, 5), [
    "9000:\tfrom all uidrange 0-0 goto 9010",
    "9001:\tfrom all iif eth0 goto 9003",
    "9002:\tfrom all goto 9010",
    "9003:\tfrom all nop",
    "9004:\tfrom all lookup 2022 suppress_prefixlength 0",
  ]);
});

Deno.test("`planRoutes()` exclude_interface sends each interface to the nop rule", () => {
  const plan = planRoutes(
    tunOptions({ address: ["172.19.0.1/30"], exclude_interface: ["eth0", "docker0"] }),
    "tun0",
  );
  assert.deepEqual(rules(plan, 4).slice(0, 3), [
    "9000:\tfrom all iif eth0 goto 9010",
    "9000:\tfrom all iif docker0 goto 9010",
    "9001:\tfrom all to 172.19.0.0/30 lookup 2022",
  ]);
});

Deno.test("`planRoutes()` without auto_route plans nothing and warns about route options", () => {
  const plan = planRoutes(
    tunOptions({ auto_route: false, route_address: ["10.0.0.0/8"] }),
    "tun0",
  );
  assert.deepEqual(plan.routes, []);
  assert.deepEqual(plan.rules, []);
  assert.deepEqual(plan.warnings, ['"route_address" has no effect without "auto_route"']);
});

Deno.test("`planRoutes()` plans plain auto_route for auto_redirect (check warns by its verdict)", () => {
  const plan = planRoutes(tunOptions({ auto_redirect: true }), "tun0");
  assert.deepEqual(plan.warnings, []);
  assert.deepEqual(rules(plan, 4), DEFAULT_V4);
});

Deno.test("`planRoutes()` rejects an address without prefix length", () => {
  assert.throws(
    () => planRoutes(tunOptions({ address: ["172.19.0.1"] }), "tun0"),
    (e: unknown) =>
      e instanceof RangeError &&
      e.message ===
        'Invalid TUN address "172.19.0.1": missing or invalid prefix length (write it as 172.19.0.1/32 for a single address)',
  );
});

Deno.test("`resolveIndexes()` applies defaults and refuses system tables and ranges", () => {
  assert.deepEqual(resolveIndexes(tunOptions()), { table: 2022, ruleIndex: 9000 });
  assert.deepEqual(
    resolveIndexes(tunOptions({ iproute2_table_index: 0, iproute2_rule_index: 0 })),
    { table: 2022, ruleIndex: 9000 },
  );
  assert.throws(() => resolveIndexes(tunOptions({ iproute2_table_index: 254 })), /main and local/);
  assert.throws(() => resolveIndexes(tunOptions({ iproute2_rule_index: 32760 })), RangeError);
  assert.throws(() => resolveIndexes(tunOptions({ iproute2_rule_index: -1 })), RangeError);
});

Deno.test("`excludedUidRanges()` merges excludes and complements includes", () => {
  assert.deepEqual(excludedUidRanges([], [{ start: 5, end: 9 }, { start: 1, end: 5 }]), [
    { start: 1, end: 9 },
  ]);
  assert.deepEqual(
    excludedUidRanges([{ start: 1000, end: 2000 }], [{ start: 1500, end: 1500 }]),
    [{ start: 0, end: 999 }, { start: 1500, end: 1500 }, { start: 2001, end: 4294967294 }],
  );
  assert.deepEqual(excludedUidRanges([{ start: 7, end: 7 }], [{ start: 7, end: 7 }]), [
    { start: 0, end: 4294967294 },
  ]);
  assert.throws(() => excludedUidRanges([], [{ start: 9, end: 3 }]), RangeError);
});

Deno.test("`planRoutes()` rejects an interface name the kernel would refuse", () => {
  assert.throws(
    () => planRoutes(tunOptions({ include_interface: ["averyveryverylongname"] }), "tun0"),
    /Invalid include_interface "averyveryverylongname": it is 21 bytes long, the limit is 15/,
  );
  assert.throws(
    () => planRoutes(tunOptions({ exclude_interface: ["a b"] }), "tun0"),
    /Invalid exclude_interface "a b"/,
  );
});
