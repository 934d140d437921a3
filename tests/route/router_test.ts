import assert from "node:assert/strict";
import type { Network, OutboundOptions, Rule } from "../../src/config/types.ts";
import { type RouteDecision, type RouteHooks, Router } from "../../src/route/router.ts";
import type { ConnMetadata } from "../../src/route/metadata.ts";
import type { ResolveOptions } from "../../src/route/action.ts";
import { flow, ip, logical, prefixes, routeTo, rule } from "./_helpers.ts";

const OUTBOUNDS: OutboundOptions[] = [
  { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: 1080 },
  { type: "direct", tag: "direct" },
  { type: "block", tag: "block" },
];

function router(rules: Rule[], extra: { final?: string; now?: () => number } = {}): Router {
  return new Router({ rules, outbounds: OUTBOUNDS, ...extra });
}

/** Hooks that record calls and run the given effects. */
function hooks(
  onSniff: (m: ConnMetadata) => void = () => {},
  onResolve: (m: ConnMetadata) => void = () => {},
  meta?: ConnMetadata,
) {
  const calls: { sniff: [readonly string[], number][]; resolve: ResolveOptions[] } = {
    sniff: [],
    resolve: [],
  };
  const h: RouteHooks = {
    sniff(names, timeout) {
      calls.sniff.push([names, timeout]);
      if (meta) onSniff(meta);
      return Promise.resolve();
    },
    resolve(options) {
      calls.resolve.push(options);
      if (meta) onResolve(meta);
      return Promise.resolve();
    },
  };
  return { h, calls };
}

function routed(d: RouteDecision | null): { outbound: string; ruleIndex: number } {
  assert.ok(d && d.action === "route", `expected a route decision, got ${JSON.stringify(d)}`);
  return { outbound: d.outbound, ruleIndex: d.ruleIndex };
}

Deno.test('`Router` defaults final to the first outbound and reports rule -1 "final"', () => {
  const r = router([rule({ ip_is_private: true }, routeTo("direct"))]);
  assert.equal(r.final, "proxy");
  const d = r.matchSync(flow("8.8.8.8:443"));
  assert.deepEqual(d, {
    action: "route",
    outbound: "proxy",
    ruleIndex: -1,
    ruleText: "final",
    options: {},
  });
});

Deno.test("`Router` honours an explicit final and rejects unknown outbounds", () => {
  assert.equal(router([], { final: "direct" }).matchSync(flow("8.8.8.8:1"))?.action, "route");
  assert.equal(
    routed(router([], { final: "direct" }).matchSync(flow("8.8.8.8:1"))).outbound,
    "direct",
  );
  assert.throws(() => router([], { final: "nope" }), /route\.final outbound "nope" not found/);
  assert.throws(
    () => router([rule({}, routeTo("proxy")), rule({ port: [1] }, routeTo("nope"))]),
    /route\.rules\[1\]: outbound "nope" not found/,
  );
  assert.throws(() => new Router({ rules: [], outbounds: [] }), /no outbounds/);
});

Deno.test("`Router.matchSync()` returns the first matching final rule", () => {
  const r = router([
    rule({ port: [22] }, routeTo("block")),
    rule({ ip_is_private: true }, routeTo("direct")),
    rule({ ip_cidr: prefixes("10.0.0.0/8") }, routeTo("block")),
  ]);
  assert.deepEqual(routed(r.matchSync(flow("10.1.1.1:80"))), { outbound: "direct", ruleIndex: 1 });
  assert.deepEqual(routed(r.matchSync(flow("10.1.1.1:22"))), { outbound: "block", ruleIndex: 0 });
  const d = r.matchSync(flow("10.1.1.1:80"));
  assert.equal(d?.ruleText, "ip_is_private=true => route(direct)");
});

Deno.test("`Router` applies route-options and continues; later rules see the override", () => {
  const r = router([
    rule({ port: [80] }, { action: "route-options", override_port: 8080, udp_timeout: 5000 }),
    rule({ port: [8080] }, { action: "route-options", override_address: "10.9.9.9" }),
    rule({ ip_cidr: prefixes("10.9.9.9/32") }, {
      action: "route",
      outbound: "direct",
      udp_connect: true,
    }),
  ]);
  const meta = flow("8.8.8.8:80");
  const d = r.matchSync(meta);
  assert.ok(d && d.action === "route");
  assert.equal(d.outbound, "direct");
  assert.equal(d.ruleIndex, 2);
  assert.deepEqual(d.options, {
    override_port: 8080,
    udp_timeout: 5000,
    override_address: "10.9.9.9",
    udp_connect: true,
  });
  assert.deepEqual(meta.destination, { addr: ip("10.9.9.9"), port: 8080 });
  assert.deepEqual(meta.originalDestination, { addr: ip("8.8.8.8"), port: 80 });
});

Deno.test("`Router` routes a hijack-dns, reject and bypass rule", () => {
  const r = router([
    rule({ port: [53] }, { action: "hijack-dns" }),
    rule({ port: [25] }, { action: "reject", method: "default" }),
    rule({ port: [26] }, { action: "reject", method: "drop" }),
    rule({ network: ["icmp"] }, { action: "reject", method: "reply" }),
    rule({ port: [27] }, { action: "bypass" }),
    rule({ port: [27, 28] }, { action: "bypass", outbound: "direct" }),
  ]);
  assert.deepEqual(r.matchSync(flow("1.1.1.1:53", { network: "udp" })), {
    action: "hijack-dns",
    ruleIndex: 0,
    ruleText: "port=53 => hijack-dns",
  });
  assert.deepEqual(r.matchSync(flow("1.1.1.1:25")), {
    action: "reject",
    method: "default",
    flooded: false,
    ruleIndex: 1,
    ruleText: "port=25 => reject",
  });
  const drop = r.matchSync(flow("1.1.1.1:26"));
  assert.ok(drop?.action === "reject" && drop.method === "drop");
  const reply = r.matchSync(flow("1.1.1.1:0", { network: "icmp" }));
  assert.ok(reply?.action === "reject" && reply.method === "reply");
  // bypass without an outbound is skipped outside auto-redirect; with one it routes.
  assert.deepEqual(routed(r.matchSync(flow("1.1.1.1:27"))), { outbound: "direct", ruleIndex: 5 });
  assert.equal(r.matchSync(flow("1.1.1.1:28"))?.ruleText, "port=[27 28] => bypass(direct)");
});

Deno.test("`Router` reject switches to drop after 50 triggers in 30 s unless no_drop", () => {
  let now = 1_000_000;
  const r = router([
    rule({ port: [1] }, { action: "reject", method: "default" }),
    rule({ port: [2] }, { action: "reject", method: "default", no_drop: true }),
  ], { now: () => now });
  const reject = (port: number) => {
    const d = r.matchSync(flow(`1.1.1.1:${port}`));
    assert.ok(d?.action === "reject");
    return d;
  };
  for (let i = 0; i < 50; i++) {
    assert.equal(reject(1).method, "default", `trigger ${i + 1}`);
    now += 100;
  }
  const flooded = reject(1);
  assert.equal(flooded.method, "drop");
  assert.equal(flooded.flooded, true);
  // The other rule has its own counter and no_drop.
  for (let i = 0; i < 60; i++) assert.equal(reject(2).method, "default");
  // After 30 s without triggers the window is empty again.
  now += 30_001;
  assert.equal(reject(1).method, "default");
  // Triggers exactly 30 s apart still count (sing-box keeps t where now - t <= 30 s).
  let clock = 0;
  const r2 = router([rule({}, { action: "reject", method: "default" })], { now: () => clock });
  for (let i = 0; i < 50; i++) r2.matchSync(flow("1.1.1.1:1"));
  clock = 30_000;
  const d = r2.matchSync(flow("1.1.1.1:1"));
  assert.ok(d?.action === "reject" && d.method === "drop");
});

Deno.test("`Router.route()` sniffs, then routes by the sniffed domain", async () => {
  const r = router([
    rule({}, { action: "sniff", sniffer: [] }),
    rule({ domain_suffix: ["example.com"] }, routeTo("direct")),
    rule({ protocol: ["tls"] }, routeTo("block")),
  ]);
  const meta = flow("93.184.216.34:443");
  assert.equal(r.matchSync(meta), null);
  assert.equal(meta.ruleCursor, 0);
  const { h, calls } = hooks(
    (m) => {
      m.protocol = "tls";
      m.domain = "www.example.com";
    },
    undefined,
    meta,
  );
  const d = await r.route(meta, h);
  assert.deepEqual(routed(d), { outbound: "direct", ruleIndex: 1 });
  assert.deepEqual(calls.sniff, [[["tls", "http", "dns"], 300]]);
  // The destination stays the IP; the domain is for matching only.
  assert.deepEqual(meta.destination, { addr: ip("93.184.216.34"), port: 443 });

  const other = flow("1.1.1.1:443");
  const second = hooks((m) => (m.protocol = "tls"), undefined, other);
  assert.deepEqual(routed(await r.route(other, second.h)), { outbound: "block", ruleIndex: 2 });
});

Deno.test("`Router` passes packet sniffers for UDP and the rule's timeout", async () => {
  const r = router([
    rule({}, { action: "sniff", sniffer: ["quic", "dns", "tls"], timeout: 1000 }),
    rule({ protocol: ["quic"] }, { action: "reject", method: "default" }),
  ]);
  const meta = flow("1.1.1.1:443", { network: "udp" });
  const { h, calls } = hooks((m) => (m.protocol = "quic"), undefined, meta);
  const d = await r.route(meta, h);
  assert.equal(d.action, "reject");
  assert.deepEqual(calls.sniff, [[["quic", "dns"], 1000]]);
});

Deno.test("`Router` skips sniffing that cannot apply without calling the hook", async () => {
  const r = router([
    rule({}, { action: "sniff", sniffer: ["quic"] }),
    rule({}, { action: "sniff", sniffer: [] }),
  ]);
  const cases: [string, ConnMetadata][] = [
    ["server-first port", flow("1.1.1.1:25")],
    ["IMAPS", flow("1.1.1.1:993")],
    ["already sniffed", flow("1.1.1.1:443", { protocol: "http" })],
    ["ICMP", flow("1.1.1.1:0", { network: "icmp" })],
  ];
  for (const [name, meta] of cases) {
    const { h, calls } = hooks();
    assert.deepEqual(routed(r.matchSync(meta)), { outbound: "proxy", ruleIndex: -1 }, name);
    meta.ruleCursor = 0;
    await r.route(meta, h);
    assert.equal(calls.sniff.length, 0, name);
  }
  // A TCP flow skips the quic-only sniff (rule 0) but runs the default one (rule 1).
  const tcp = flow("1.1.1.1:443");
  assert.equal(r.matchSync(tcp), null);
  assert.equal(tcp.ruleCursor, 1);
});

Deno.test("`Router` runs only the first sniff when it found a protocol", async () => {
  const r = router([
    rule({}, { action: "sniff", sniffer: [] }),
    rule({}, { action: "sniff", sniffer: [] }),
  ]);
  const meta = flow("1.1.1.1:80");
  const { h, calls } = hooks((m) => (m.protocol = "http"), undefined, meta);
  await r.route(meta, h);
  assert.equal(calls.sniff.length, 1);
  const nothing = flow("1.1.1.1:80");
  const second = hooks(() => {}, undefined, nothing);
  await r.route(nothing, second.h);
  assert.equal(second.calls.sniff.length, 2, "a failed sniff lets the next sniff rule try");
});

Deno.test("`Router.route()` resumes after `matchSync()` without reapplying earlier rules", async () => {
  const r = router([
    rule({ port: [80] }, { action: "route-options", override_port: 8080 }),
    rule({ port: [8080] }, { action: "route-options", override_port: 9090 }),
    rule({}, { action: "sniff", sniffer: [] }),
    rule({ port: [80] }, routeTo("block")),
  ]);
  const meta = flow("8.8.8.8:80");
  assert.equal(r.matchSync(meta), null);
  assert.equal(meta.destination.port, 9090);
  const { h, calls } = hooks(() => {}, undefined, meta);
  const d = await r.route(meta, h);
  assert.deepEqual(routed(d), { outbound: "proxy", ruleIndex: -1 });
  assert.equal(calls.sniff.length, 1);
  assert.equal(meta.destination.port, 9090);
  assert.equal(meta.originalDestination?.port, 80);
});

Deno.test("`Router` resolves only domain destinations and matches the resolved addresses", async () => {
  const r = router([
    rule({ port: [443] }, { action: "route-options", override_address: "example.com" }),
    rule({}, { action: "resolve", strategy: "ipv4_only", server: "local" }),
    rule({ ip_cidr: prefixes("93.184.0.0/16") }, routeTo("direct")),
  ]);
  const ipFlow = flow("1.1.1.1:80");
  assert.deepEqual(routed(r.matchSync(ipFlow)), { outbound: "proxy", ruleIndex: -1 });

  const meta = flow("1.1.1.1:443");
  assert.equal(r.matchSync(meta), null);
  assert.equal(meta.ruleCursor, 1);
  assert.deepEqual(meta.destination, { addr: new Uint8Array(0), port: 443, fqdn: "example.com" });
  const { h, calls } = hooks(undefined, (m) => {
    m.destinationAddresses = [ip("93.184.216.34")];
  }, meta);
  assert.deepEqual(routed(await r.route(meta, h)), { outbound: "direct", ruleIndex: 2 });
  assert.deepEqual(calls.resolve, [{ server: "local", strategy: "ipv4_only" }]);
});

Deno.test("`Router.route()` fails the flow when a hook rejects", async () => {
  const r = router([rule({}, { action: "sniff", sniffer: [] })]);
  const h: RouteHooks = {
    sniff: () => Promise.reject(new Error("connection reset while sniffing")),
    resolve: () => Promise.resolve(),
  };
  await assert.rejects(r.route(flow("1.1.1.1:443"), h), /connection reset while sniffing/);
});

Deno.test("`Router` routes logical rules", () => {
  const r = router([
    logical("and", [rule({ network: ["udp"] }), rule({ port: [53] })], { action: "hijack-dns" }),
    logical("or", [rule({ port: [22] }), rule({ port: [3389] })], routeTo("direct")),
  ]);
  assert.equal(r.matchSync(flow("1.1.1.1:53", { network: "udp" }))?.action, "hijack-dns");
  assert.equal(routed(r.matchSync(flow("1.1.1.1:53"))).ruleIndex, -1);
  assert.equal(routed(r.matchSync(flow("1.1.1.1:3389"))).outbound, "direct");
});

Deno.test("`Router` routes the seed config: private, localhost and the proxy server direct, the rest to SOCKS", async () => {
  // The seed's route section decoded by hand. `"network": "tcp,udp"` is one list element that
  // matches neither network (sing-box does an exact lookup); final (the first outbound) covers it.
  const seedRules: Rule[] = [
    rule({ ip_is_private: true }, routeTo("direct")),
    rule({ domain: ["localhost"] }, routeTo("direct")),
    rule({ ip_cidr: prefixes("127.0.0.1/32") }, routeTo("direct")),
    rule({ ip_cidr: prefixes("3.123.45.82/32") }, routeTo("direct")),
    rule({ network: ["tcp,udp" as Network] }, routeTo("v2rayu-proxy")),
  ];
  const r = new Router({
    rules: seedRules,
    outbounds: [
      { type: "socks", tag: "v2rayu-proxy", server: "127.0.0.1", server_port: 1080 },
      { type: "direct", tag: "direct", bind_interface: "en0" },
    ],
  });
  const table: [string, Network, string, number][] = [
    ["192.168.1.1:80", "tcp", "direct", 0],
    ["10.0.0.5:22", "tcp", "direct", 0],
    ["172.16.3.4:53", "udp", "direct", 0],
    ["127.0.0.1:1080", "tcp", "direct", 0],
    ["[fe80::1]:5353", "udp", "direct", 0],
    ["224.0.0.251:5353", "udp", "direct", 0],
    ["3.123.45.82:443", "tcp", "direct", 3],
    ["3.123.45.83:443", "tcp", "v2rayu-proxy", -1],
    ["8.8.8.8:53", "udp", "v2rayu-proxy", -1],
    ["1.1.1.1:443", "tcp", "v2rayu-proxy", -1],
    ["100.64.1.1:443", "tcp", "v2rayu-proxy", -1],
    ["198.18.0.2:80", "tcp", "v2rayu-proxy", -1],
    ["[2606:4700::1111]:443", "tcp", "v2rayu-proxy", -1],
  ];
  for (const [dst, network, outbound, ruleIndex] of table) {
    const meta = flow(dst, { network });
    assert.deepEqual(routed(r.matchSync(meta)), { outbound, ruleIndex }, dst);
    const viaRoute = flow(dst, { network });
    assert.deepEqual(routed(await r.route(viaRoute, hooks().h)), { outbound, ruleIndex }, dst);
  }
  // Sniffing is off in the seed, so the localhost rule can only match a sniffed or named flow.
  const named = flow("9.9.9.9:80", { domain: "localhost" });
  assert.deepEqual(routed(r.matchSync(named)), { outbound: "direct", ruleIndex: 1 });
});

Deno.test("`Router.route()` with the real stream sniffers routes a TLS flow by its SNI", async () => {
  const { StreamSniffBuffer, applySniffResult } = await import("../../src/sniff/mod.ts");
  const { clientHello, records } = await import("../sniff/_tls_builder.ts");
  const r = router([
    rule({ network: ["tcp"] }, { action: "sniff", sniffer: [] }),
    rule({ protocol: ["tls"], domain_suffix: ["blocked.example"] }, {
      action: "reject",
      method: "default",
    }),
    rule({ domain_keyword: ["intranet"] }, routeTo("direct")),
  ]);
  const run = async (serverName: string) => {
    const meta = flow("203.0.113.7:443");
    const data = records(clientHello({ serverName, padding: 200 }), 100);
    assert.ok(data.length > 150, "the hello spans the three segments");
    const h: RouteHooks = {
      sniff(names) {
        // The client's bytes arrive in 3 segments; the sniffer decides on the last.
        const buf = new StreamSniffBuffer(names);
        const cuts = [0, 7, 150, data.length];
        for (let i = 1; i < cuts.length; i++) {
          const res = buf.push(data.subarray(cuts[i - 1], cuts[i]));
          if (res.status === "match") applySniffResult(meta, res);
          if (res.status !== "need-more") break;
        }
        return Promise.resolve();
      },
      resolve: () => Promise.resolve(),
    };
    return [await r.route(meta, h), meta] as const;
  };
  const [blocked, m1] = await run("app.blocked.example");
  assert.equal(blocked.action, "reject");
  assert.equal(m1.domain, "app.blocked.example");
  const [intranet] = await run("wiki.intranet.corp");
  assert.deepEqual(routed(intranet), { outbound: "direct", ruleIndex: 2 });
  const [other] = await run("www.example.net");
  assert.deepEqual(routed(other), { outbound: "proxy", ruleIndex: -1 });
});
