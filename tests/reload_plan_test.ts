// What a reload swaps in place and what it restarts, from real decoded configs.

import assert from "node:assert/strict";
import { loadConfig } from "../src/config/load.ts";
import type { Options } from "../src/config/types.ts";
import { canonical, planReload } from "../src/reload_plan.ts";

async function decode(config: Record<string, unknown>): Promise<Options> {
  const r = await loadConfig([{ type: "text", name: "test.json", text: JSON.stringify(config) }]);
  assert.deepEqual(r.errors.map((e) => e.format()), []);
  return r.options!;
}

function base(): Record<string, unknown> {
  return {
    log: { level: "info" },
    inbounds: [
      { type: "tun", tag: "tun-in", address: ["198.18.0.1/16"], auto_route: true },
      { type: "mixed", tag: "mixed-in", listen: "127.0.0.1", listen_port: 2080 },
    ],
    outbounds: [
      { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: 1080 },
      { type: "direct", tag: "direct" },
    ],
    route: {
      rules: [{ ip_cidr: ["10.0.0.0/8"], outbound: "direct" }],
      final: "proxy",
      auto_detect_interface: true,
    },
  };
}

Deno.test("`planReload()` of an identical config (keys in another order) changes nothing", async () => {
  const a = await decode(base());
  const reordered = Object.fromEntries(Object.entries(base()).reverse());
  const b = await decode(reordered);
  const plan = planReload(a, b);
  assert.deepEqual(plan.changed, []);
  assert.equal(plan.restartTun || plan.restartListeners || plan.swapServices, false);
  assert.deepEqual(plan.kept, [
    "inbound/tun[tun-in]",
    "inbound/mixed[mixed-in]",
    "outbound/socks[proxy]",
    "outbound/direct[direct]",
    "route.rules",
    "route.rule_set",
    "route (final, interface, mark, resolver)",
    "dns",
  ]);
});

Deno.test("`planReload()` swaps a changed rule in place and keeps the TUN", async () => {
  const a = await decode(base());
  const next = base();
  (next.route as { rules: unknown[] }).rules.push({
    ip_cidr: ["203.0.113.0/24"],
    outbound: "direct",
  });
  const plan = planReload(a, await decode(next));
  assert.deepEqual(plan.changed, ["route.rules"]);
  assert.equal(plan.restart, null);
  assert.equal(plan.swapServices, true);
  assert.equal(plan.restartTun, false);
  assert.equal(plan.restartListeners, false);
  assert.ok(plan.kept.includes("inbound/tun[tun-in]"));
});

Deno.test("`planReload()` restarts the TUN only for a changed TUN section, names removed outbounds", async () => {
  const a = await decode(base());
  const next = base();
  (next.inbounds as Record<string, unknown>[])[0]!.address = ["198.19.0.1/16"];
  next.outbounds = [
    { type: "direct", tag: "direct", bind_interface: "eth1" },
    { type: "http", tag: "web", server: "127.0.0.1", server_port: 8080 },
  ];
  next.route = { rules: [], final: "web" };
  next.log = { level: "debug" };
  const plan = planReload(a, await decode(next));
  assert.equal(plan.restartTun, true);
  assert.equal(plan.restart, "a tun inbound changed");
  assert.equal(plan.restartListeners, false);
  assert.equal(plan.swapServices, true);
  assert.equal(plan.relog, true);
  assert.deepEqual(plan.removedOutbounds, ["proxy"]);
  assert.deepEqual(plan.changed, [
    "inbound/tun[tun-in] changed",
    "outbound/http[web] added",
    "outbound/socks[proxy] removed",
    "outbound/direct[direct] changed",
    "route.rules",
    "route (final, interface, mark, resolver)",
    "log",
  ]);
});

Deno.test("`canonical()` sorts keys, drops undefined and writes addresses as text", () => {
  assert.equal(
    canonical({ b: 1, a: Uint8Array.of(10, 0, 0, 1), c: undefined, d: [Uint8Array.of(1, 2)] }),
    '{"a":"ip:10.0.0.1","b":1,"d":["hex:0102"]}',
  );
});

Deno.test("`planReload()` restarts when the state workers share is laid out differently", async () => {
  const a = await decode(base());
  const next = base();
  (next.outbounds as unknown[]).push({
    type: "selector",
    tag: "pick",
    outbounds: ["proxy", "direct"],
  });
  const plan = planReload(a, await decode(next));
  assert.equal(plan.restartTun, false);
  assert.match(plan.restart ?? "", /the state workers share changed/);
  const listenerOnly = base();
  (listenerOnly.inbounds as Record<string, unknown>[])[1]!.listen_port = 2081;
  const p2 = planReload(a, await decode(listenerOnly));
  assert.equal(p2.restart, null);
  assert.equal(p2.restartListeners, true);
  assert.deepEqual(p2.changed, ["inbound/mixed[mixed-in] changed"]);
});
