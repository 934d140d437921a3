import assert from "node:assert/strict";
import { planDarwinRoutes } from "../../../src/platform/darwin/route_plan.ts";
import { createDarwinPlatform } from "../../../src/platform/darwin/platform.ts";
import { formatIp, formatPrefix } from "../../../src/net/ip.ts";
import { SEED_TUN, tunOptions } from "./_options.ts";

const texts = (opts = SEED_TUN, dev = "utun8") =>
  planDarwinRoutes(opts, dev).routes.map((r) => r.text);

Deno.test("`planDarwinRoutes()` splits the seed's IPv4 default into two /1 routes via the TUN", () => {
  const plan = planDarwinRoutes(SEED_TUN, "utun8");
  assert.deepEqual(
    plan.routes.map((r) => [formatPrefix(r.prefix), formatIp(r.gateway!), r.device]),
    [
      ["0.0.0.0/1", "198.18.0.1", "utun8"],
      ["128.0.0.0/1", "198.18.0.1", "utun8"],
    ],
  );
  assert.deepEqual(texts(), [
    "0.0.0.0/1 via 198.18.0.1 (utun8)",
    "128.0.0.0/1 via 198.18.0.1 (utun8)",
  ]);
  assert.deepEqual(plan.rules, []);
});

Deno.test("`planDarwinRoutes()` warns that strict_route does nothing and IPv6 bypasses the TUN", () => {
  const { warnings } = planDarwinRoutes(SEED_TUN, "utun8");
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /^"strict_route" has no effect on macOS/);
  assert.match(warnings[1]!, /no IPv6 address.*IPv6 traffic bypasses the TUN/);
});

Deno.test("`planDarwinRoutes()` adds ::/1 and 8000::/1 only when the TUN has an IPv6 address", () => {
  const dual = tunOptions({
    address: ["172.19.0.1/30", "fdfe:dcba:9876::1/126"],
    auto_route: true,
  });
  const plan = planDarwinRoutes(dual, "utun4");
  assert.deepEqual(plan.routes.map((r) => r.text), [
    "0.0.0.0/1 via 172.19.0.1 (utun4)",
    "128.0.0.0/1 via 172.19.0.1 (utun4)",
    "::/1 via fdfe:dcba:9876::1 (utun4)",
    "8000::/1 via fdfe:dcba:9876::1 (utun4)",
  ]);
  assert.deepEqual(plan.warnings, []);
});

Deno.test("`planDarwinRoutes()` subtracts route_exclude_address from the split routes", () => {
  const opts = tunOptions({
    address: ["198.18.0.1/16"],
    auto_route: true,
    route_exclude_address: ["10.0.0.0/8", "3.1.2.82/32"],
  });
  assert.deepEqual(planDarwinRoutes(opts, "utun8").routes.map((r) => formatPrefix(r.prefix)), [
    "0.0.0.0/7",
    "2.0.0.0/8",
    "3.0.0.0/16",
    "3.1.0.0/23",
    "3.1.2.0/26",
    "3.1.2.64/28",
    "3.1.2.80/31",
    "3.1.2.83/32",
    "3.1.2.84/30",
    "3.1.2.88/29",
    "3.1.2.96/27",
    "3.1.2.128/25",
    "3.1.3.0/24",
    "3.1.4.0/22",
    "3.1.8.0/21",
    "3.1.16.0/20",
    "3.1.32.0/19",
    "3.1.64.0/18",
    "3.1.128.0/17",
    "3.2.0.0/15",
    "3.4.0.0/14",
    "3.8.0.0/13",
    "3.16.0.0/12",
    "3.32.0.0/11",
    "3.64.0.0/10",
    "3.128.0.0/9",
    "4.0.0.0/6",
    "8.0.0.0/7",
    "11.0.0.0/8",
    "12.0.0.0/6",
    "16.0.0.0/4",
    "32.0.0.0/3",
    "64.0.0.0/2",
    "128.0.0.0/1",
  ]);
});

Deno.test("`planDarwinRoutes()` never plans a /0: route_address 0.0.0.0/0 becomes two /1", () => {
  const opts = tunOptions({
    address: ["198.18.0.1/16"],
    auto_route: true,
    route_address: ["0.0.0.0/0", "::/0"],
  });
  assert.deepEqual(texts(opts), [
    "0.0.0.0/1 via 198.18.0.1 (utun8)",
    "128.0.0.0/1 via 198.18.0.1 (utun8)",
  ]);
});

Deno.test("`planDarwinRoutes()` uses route_address per family, masked to the network", () => {
  const opts = tunOptions({
    address: ["198.18.0.1/16", "fd00::1/64"],
    auto_route: true,
    route_address: ["8.8.8.8/24", "1.1.1.1/32"],
  });
  assert.deepEqual(texts(opts, ""), [
    "1.1.1.1/32 via 198.18.0.1",
    "8.8.8.0/24 via 198.18.0.1",
    "::/1 via fd00::1",
    "8000::/1 via fd00::1",
  ]);
});

Deno.test("`planDarwinRoutes()` plans nothing without auto_route", () => {
  const plan = planDarwinRoutes(tunOptions({ address: ["198.18.0.1/16"] }), "utun8");
  assert.deepEqual(plan, { routes: [], rules: [], warnings: [] });
});

Deno.test("`planDarwinRoutes()` warns about Linux-only options", () => {
  const opts = tunOptions({
    address: ["198.18.0.1/16", "fd00::1/64"],
    auto_route: true,
    include_interface: ["en0"],
    auto_redirect: true,
  });
  assert.deepEqual(planDarwinRoutes(opts, "utun8").warnings, [
    '"include_interface" has no effect on macOS and is ignored',
  ]);
});

Deno.test("`createDarwinPlatform()` plans routes without loading libSystem", () => {
  // No libc is handed in: planRoutes must not touch it (this runs on Linux).
  const platform = createDarwinPlatform();
  assert.equal(platform.os, "darwin");
  assert.equal(platform.planRoutes(SEED_TUN, "utun8").routes.length, 2);
});
