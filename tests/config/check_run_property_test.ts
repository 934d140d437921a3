/**
 * `check` equals `run`: any config `check` accepts starts under `run --dry-run`. Configs are
 * generated from the parts users write (outbounds of every kind, typed and legacy DNS servers,
 * DNS and route rules with odd values, TUN options, the Clash API), including values that are
 * wrong; whenever the decoder reports no error, everything `run --dry-run` builds must build:
 * the outbounds, the DNS module, the router (`Box.create` in a dry run builds them once with
 * `buildFlowParts`, what each worker builds), each TUN inbound's plan and the Clash API's listen
 * address.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { Box } from "../../src/box.ts";
import { parseController } from "../../src/api/clash_api.ts";
import { decodeConfigText } from "../../src/config/decode.ts";
import type { ConfigDiagnostic } from "../../src/config/diagnostic.ts";
import { createDns } from "../../src/dns/mod.ts";
import { Reactor } from "../../src/io/reactor.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import { Router } from "../../src/route/router.ts";
import type { Options, TunInboundOptions } from "../../src/config/types.ts";
import { loadPlatform } from "../../src/platform/mod.ts";
import { planTun } from "../../src/tun/setup.ts";
import { planDarwinRoutes } from "../../src/platform/darwin/route_plan.ts";

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

/** Mostly one of `good`, sometimes one of `bad` (so that enough configs pass `check`). */
function mostly<T>(good: readonly T[], bad: readonly T[]): fc.Arbitrary<T> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...good), weight: 12 },
    { arbitrary: fc.constantFrom(...bad), weight: 1 },
  );
}

/** Tags for generated entries; references mostly name the base entries (see below). */
const defTag = fc.constantFrom("sel", "auto", "block", "extra", "proxy", "direct");
const tag = mostly(["proxy", "direct"], ["sel", "auto", "missing", ""]);
const defDnsTag = fc.constantFrom("fake", "hosts", "resolver", "extra", "local", "remote");
const dnsTag = mostly(["remote", "local"], ["fake", "resolver", "nope", ""]);
const host = mostly(["127.0.0.1", "1.1.1.1", "::1", "dns.google", "proxy.example.com"], [
  "",
  "300.1.1.1",
]);
const port = mostly([53, 1080, 443, 65535, 8080], [0, -1, 70000]);

/** Drops undefined fields (JSON.stringify does too, but this keeps objects readable in reports). */
function clean<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const dial = fc.record({
  detour: opt(tag),
  bind_interface: opt(fc.constantFrom("eth0", "en0", "", "a-very-long-interface-name")),
  domain_resolver: opt(fc.oneof(dnsTag, fc.record({ server: dnsTag }))),
  routing_mark: opt(fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constant("0x2023"))),
});

const outbound = fc.oneof(
  fc.tuple(defTag, dial).map(([t, d]) => clean({ type: "direct", tag: t, ...d })),
  fc.record({
    tag: defTag,
    server: host,
    server_port: port,
    version: opt(fc.constantFrom("4", "4a", "5", "")),
    network: opt(fc.constantFrom("tcp", "udp", "")),
    username: opt(fc.constantFrom("u", "x".repeat(300))),
    password: opt(fc.constantFrom("p", "")),
    udp_over_tcp: opt(fc.oneof(fc.boolean(), fc.record({ enabled: fc.boolean() }))),
    detour: opt(tag),
  }).map((o) => clean({ type: "socks", ...o })),
  fc.record({
    tag: defTag,
    server: host,
    server_port: port,
    tls: opt(fc.record({ enabled: fc.boolean(), server_name: opt(fc.constant("a.example")) })),
    headers: opt(fc.dictionary(
      mostly(["Host", "X-A", "Bad Header"], ["Line\nBreak", ""]),
      mostly(["v", ""], ["a\r\nb"]),
    )),
    path: opt(fc.constantFrom("/", "")),
  }).map((o) => clean({ type: "http", ...o })),
  fc.record({
    tag: defTag,
    outbounds: fc.array(tag, { minLength: 1, maxLength: 3 }),
    default: opt(tag),
  }).map((o) => clean({ type: "selector", ...o })),
  fc.record({
    tag: defTag,
    outbounds: fc.array(tag, { minLength: 1, maxLength: 3 }),
    url: opt(mostly(["https://www.gstatic.com/generate_204", "http://[::1]:80/x", ""], [
      "ftp://x",
      "not a url",
    ])),
    interval: opt(mostly(["3m", "1s", ""], ["0s"])),
  }).map((o) => clean({ type: "urltest", ...o })),
  fc.record({ type: fc.constantFrom("block", "dns"), tag: defTag }),
);

/** Outbounds: a direct and a SOCKS one as most configs have, then generated ones. */
const outbounds = fc.tuple(
  fc.uniqueArray(
    fc.oneof(
      { arbitrary: outbound, weight: 12 },
      {
        arbitrary: fc.record({ type: fc.constantFrom("vmess", "wireguard"), tag: defTag }),
        weight: 1,
      },
      // Protocols tunbox leaves out (a warning unless something, maybe the default, uses them).
      {
        arbitrary: fc.record({
          type: fc.constantFrom("hysteria2", "tuic", "anytls"),
          tag: defTag,
          server: fc.constant("1.2.3.4"),
          server_port: fc.constant(443),
        }),
        weight: 2,
      },
    ),
    { maxLength: 4, selector: (o) => (o as { tag: string }).tag },
  ),
  mostly([true], [false]),
).map(([extra, base]) => {
  const list = extra.filter((o) => !["direct", "proxy"].includes((o as { tag: string }).tag));
  return base
    ? [
      { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: 1080 },
      { type: "direct", tag: "direct" },
      ...list,
    ]
    : extra;
});

const dnsServer = fc.oneof(
  fc.record({
    type: mostly(["udp", "tcp"], ["tls", "https", "quic", "h3"]),
    tag: defDnsTag,
    server: host,
    server_port: opt(port),
    detour: opt(tag),
    domain_resolver: opt(dnsTag),
  }).map((o) => clean(o)),
  fc.record({ type: fc.constant("local"), tag: defDnsTag, detour: opt(tag) }).map((o) => clean(o)),
  fc.record({
    type: fc.constant("fakeip"),
    tag: defDnsTag,
    inet4_range: opt(fc.constantFrom("198.18.0.0/15", "10.0.0.0/31", "10.0.0.1/32", "fc00::/18")),
    inet6_range: opt(fc.constantFrom("fc00::/18", "fc00::/127", "fc00::/128")),
  }).map((o) => clean(o)),
  fc.record({
    type: fc.constant("hosts"),
    tag: defDnsTag,
    predefined: opt(fc.dictionary(
      fc.constantFrom("a.test", "b.test", ""),
      fc.constantFrom("1.2.3.4", "::1", "nope"),
    )),
  }).map((o) => clean(o)),
  fc.record({
    tag: defDnsTag,
    address: mostly(
      ["8.8.8.8", "udp://1.1.1.1", "tcp://1.1.1.1:53", "local", "fakeip", "rcode://refused"],
      [
        "tls://dns.google",
        "https://1.1.1.1/dns-query",
        "rcode://bogus",
        "dhcp://auto",
        "dns.google",
        "",
      ],
    ),
    address_resolver: opt(dnsTag),
    detour: opt(tag),
    strategy: opt(fc.constantFrom("ipv4_only", "")),
  }).map((o) => clean(o)),
);

const dnsAction = fc.oneof(
  fc.record({ server: dnsTag, disable_cache: opt(fc.boolean()) }).map((o) => clean(o)),
  fc.constant({ action: "reject" }),
  fc.record({
    action: fc.constant("predefined"),
    rcode: opt(mostly(["NOERROR", "NXDOMAIN"], ["nope"])),
    answer: opt(fc.array(
      mostly(
        ["a.test. IN A 1.2.3.4", "a.test. 60 IN AAAA ::1", "a.test. IN TXT hi"],
        ["garbage", "a.test. IN MX 10 mx.test.", "a.test. IN A 999.1.1.1"],
      ),
      { maxLength: 2 },
    )),
  }).map((o) => clean(o)),
);

const dnsRule = fc.tuple(
  fc.record({
    query_type: opt(fc.array(
      fc.oneof(mostly(["A", "AAAA", "HTTPS"], ["BOGUS", ""]), fc.integer({ min: 0, max: 70000 })),
      { maxLength: 2 },
    )),
    domain_suffix: opt(fc.array(mostly(["example.com"], [""]), { maxLength: 2 })),
  }),
  dnsAction,
).map(([m, a]) => clean({ ...clean(m), ...a }));

const routeMatch = fc.record({
  domain: opt(fc.array(mostly(["example.com", "localhost"], [""]), { maxLength: 2 })),
  domain_suffix: opt(fc.array(mostly([".example.com", "cn"], [""]), { maxLength: 2 })),
  domain_regex: opt(fc.array(
    mostly(["^a\\.b$", "(?i)x", "\\Ax\\z", "(?P<n>a)"], [
      "(?U)a",
      "a(?i)b",
      "(?m)\\Ax",
      "[",
      "\\pL",
    ]),
    { maxLength: 2 },
  )),
  ip_cidr: opt(fc.array(fc.constantFrom("10.0.0.0/8", "::/0", "1.2.3.4"), { maxLength: 2 })),
  port: opt(fc.integer({ min: 0, max: 65535 })),
  network: opt(fc.constantFrom("tcp", "udp", "tcp,udp")),
  protocol: opt(fc.constantFrom("dns", "tls")),
  process_name: opt(fc.constant(["curl"])),
});

const routeAction = fc.oneof(
  fc.record({ outbound: tag, override_address: opt(mostly(["1.2.3.4", "example.com"], [""])) })
    .map((o) => clean(o)),
  fc.record({ action: fc.constant("reject"), method: opt(fc.constantFrom("default", "drop")) })
    .map((o) => clean(o)),
  fc.constant({ action: "hijack-dns" }),
  fc.record({
    action: fc.constant("sniff"),
    sniffer: opt(fc.array(fc.constantFrom("tls", "http", "quic", "dns", "ssh", "bittorrent"), {
      maxLength: 2,
    })),
  }).map((o) => clean(o)),
  fc.record({ action: fc.constant("resolve"), server: opt(dnsTag) }).map((o) => clean(o)),
  fc.record({ action: fc.constant("bypass"), outbound: opt(tag) }).map((o) => clean(o)),
);

const routeRule = fc.tuple(routeMatch, routeAction).map(([m, a]) => clean({ ...m, ...a }));

const tun = fc.record({
  type: fc.constant("tun"),
  tag: fc.constantFrom("tun-in", ""),
  interface_name: opt(fc.constantFrom("tun0", "utun8", "", "bad name", "way-too-long-name-x")),
  address: fc.array(
    mostly(["172.19.0.1/30", "fdfe:dcba:9876::1/126"], ["172.19.0.1/32", "10.0.0.1/31"]),
    { minLength: 1, maxLength: 2 },
  ),
  mtu: opt(fc.constantFrom(1500, 9000, 65535, 0, 100, 576, 1279, 70000)),
  stack: opt(fc.constantFrom("system", "gvisor", "mixed", "")),
  auto_route: opt(fc.boolean()),
  strict_route: opt(fc.boolean()),
  iproute2_table_index: opt(fc.constantFrom(2022, 254, 0, 1, 0xffffffff)),
  iproute2_rule_index: opt(fc.constantFrom(9000, 0, 1, 32765, 40000)),
  include_interface: opt(fc.array(fc.constantFrom("eth0", "bad name", ""), { maxLength: 2 })),
  exclude_uid: opt(fc.array(fc.constantFrom(0, 1000, 0xffffffff), { maxLength: 2 })),
  route_address: opt(
    fc.array(fc.constantFrom("0.0.0.0/1", "::/1", "10.0.0.0/8"), { maxLength: 2 }),
  ),
  route_exclude_address: opt(
    fc.array(fc.constantFrom("192.168.0.0/16", "fc00::/7"), { maxLength: 2 }),
  ),
}).map((o) => clean(o));

const listener = fc.record({
  type: fc.constantFrom("mixed", "socks", "http"),
  tag: fc.constantFrom("mixed-in", ""),
  listen: opt(fc.constantFrom("127.0.0.1", "::", "0.0.0.0")),
  listen_port: opt(port),
});

export const configArb = fc.record({
  dns: fc.option(
    fc.record({
      servers: fc.tuple(
        fc.uniqueArray(dnsServer, { maxLength: 3, selector: (o) => (o as { tag: string }).tag }),
        mostly([true], [false]),
      ).map(([extra, base]) =>
        base
          ? [
            { type: "local", tag: "local" },
            { type: "udp", tag: "remote", server: "1.1.1.1", detour: "proxy" },
            ...extra.filter((x) => !["local", "remote"].includes((x as { tag: string }).tag)),
          ]
          : extra
      ),
      rules: fc.array(dnsRule, { maxLength: 3 }),
      final: opt(dnsTag),
      reverse_mapping: opt(fc.boolean()),
    }).map((o) => clean(o)),
    { nil: undefined, freq: 8 },
  ),
  inbounds: opt(fc.array(fc.oneof(tun, listener), { maxLength: 2 })),
  outbounds,
  route: opt(
    fc.record({
      rules: fc.array(routeRule, { maxLength: 4 }),
      final: opt(tag),
      auto_detect_interface: opt(fc.boolean()),
      default_domain_resolver: opt(dnsTag),
    }).map((o) => clean(o)),
  ),
  experimental: opt(fc.record({
    clash_api: fc.record({
      external_controller: mostly(["127.0.0.1:9090", ":9090", "[::1]:9090", ""], [
        "9090",
        "x:99999",
      ]),
    }),
  })),
}).map((o) => clean(o));

/**
 * Every warning the runtime computes about the config (route compiler, sniff action, DNS rules,
 * DNS module) as `paths: message`; `check` must have reported the same message at each path.
 */
async function runtimeWarnings(options: Options): Promise<string[]> {
  const router = new Router({
    rules: options.route.rules,
    outbounds: options.outbounds,
    ...(options.route.final !== undefined ? { final: options.route.final } : {}),
  });
  const out = [...router.warnings];
  const reactor = new Reactor(8);
  try {
    const outbounds = createOutbounds(
      options.outbounds,
      { reactor },
      options.route,
      builtinOutbounds(),
    );
    const dns = createDns(options, {
      reactor,
      outbounds,
      defaultOutbound: options.route.final || options.outbounds[0]?.tag || "",
      ctx: { reactor },
    });
    out.push(...dns.warnings);
    dns.close();
    for (const o of outbounds.values()) o.close();
  } finally {
    reactor.close();
  }
  return await Promise.resolve(out);
}

/** True when `check` reported `message` at (or inside) `path`. */
function reported(warnings: readonly ConfigDiagnostic[], path: string, message: string): boolean {
  return warnings.some((w) =>
    w.message === message && (w.path === path || w.path.startsWith(`${path}.`) ||
      w.path.startsWith(`${path}[`))
  );
}

/** The JSON path of a runtime warning's subject (`DNS server "x"` → that server's path). */
function subjectPath(options: Options, subject: string): string {
  const m = /^DNS server "(.*)"$/.exec(subject);
  if (!m) return subject;
  const i = options.dns.servers.findIndex((s) => s.tag === m[1]);
  return options.dns.servers[i]?.source?.path ?? subject;
}

/** What `run --dry-run` builds; throws where run would stop. */
async function dryRun(options: Options): Promise<void> {
  const box = await Box.create({
    options,
    configPaths: ["gen.json"],
    workingDirectory: Deno.cwd(),
    dryRun: true,
  });
  await box.close();
  const platform = await loadPlatform();
  for (const t of options.inbounds) {
    if (t.type === "tun") planTun(t as TunInboundOptions, platform);
  }
  const controller = options.experimental.clash_api?.external_controller;
  if (controller) parseController(controller);
}

Deno.test("a generated config that `check` accepts always starts under `run --dry-run`", async () => {
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(configArb, async (c) => {
      const text = JSON.stringify(c, null, 2);
      const r = decodeConfigText(text, "gen.json", { os: Deno.build.os });
      if (!r.options) return;
      accepted++;
      for (const w of await runtimeWarnings(r.options)) {
        const sep = w.indexOf(": ");
        const [subjects, message] = [w.slice(0, sep), w.slice(sep + 2)];
        for (const subject of subjects.split(", ")) {
          const path = subjectPath(r.options, subject);
          assert.ok(
            reported(r.warnings, path, message),
            `run warns "${w}" but check did not say "${message}" at ${path}:\n${
              r.warnings.map((d) => d.format()).join("\n")
            }\n${text}`,
          );
        }
      }
      // The TUN route planners' warnings (printed by `run --dry-run`) are check's too.
      const platform = await loadPlatform();
      for (const t of r.options.inbounds) {
        if (t.type !== "tun") continue;
        let warnings: string[] = [];
        try {
          warnings = planTun(t as TunInboundOptions, platform).plan.warnings;
        } catch {
          continue; // a refusal: dryRun() below reports it
        }
        for (const message of warnings) {
          assert.ok(
            r.warnings.some((w) => w.message === message && w.path.startsWith("inbounds[")),
            `the route planner warns "${message}" but check did not:\n${text}`,
          );
        }
      }
      try {
        await dryRun(r.options);
      } catch (e) {
        throw new Error(
          `check accepted a config that run refuses: ${
            e instanceof Error ? e.message : String(e)
          }\n${text}`,
        );
      }
    }),
    { numRuns: 1500 },
  );
  console.log(`${accepted} of 1500 generated configs passed check and were built`);
  // The generator must reach the interesting case often enough to mean something.
  assert.ok(accepted > 100, `only ${accepted} generated configs passed check`);
});

Deno.test("on macOS, every warning of the route planner is one `check` reported at the tun inbound", () => {
  fc.assert(
    fc.property(configArb, (c) => {
      const text = JSON.stringify(c, null, 2);
      const r = decodeConfigText(text, "gen.json", { os: "darwin" });
      if (!r.options) return;
      for (const t of r.options.inbounds) {
        if (t.type !== "tun") continue;
        for (const message of planDarwinRoutes(t as TunInboundOptions, "utun8").warnings) {
          assert.ok(
            r.warnings.some((w) => w.message === message && w.path.startsWith("inbounds[")),
            `the macOS route planner warns "${message}" but check did not:\n${text}`,
          );
        }
      }
    }),
    { numRuns: 1500 },
  );
});
