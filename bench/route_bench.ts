/**
 * Router matcher throughput: 10,000 CIDRs and 10,000 domain suffixes.
 *
 * Run: deno bench -A bench/route_bench.ts
 */

import { emptyMatch } from "../src/config/decode_rule.ts";
import type { DefaultRule, Prefix, RuleAction, RuleMatch } from "../src/config/types.ts";
import { DomainSet } from "../src/route/domain_set.ts";
import { IpSet } from "../src/route/ip_set.ts";
import { type ConnMetadata, newConnMetadata } from "../src/route/metadata.ts";
import { Router } from "../src/route/router.ts";

/** Deterministic pseudo-random numbers (xorshift32). */
let seed = 0x9e3779b9;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

const N = 10_000;
const v4Prefixes: Prefix[] = Array.from({ length: N }, () => {
  const v = rand();
  return {
    addr: new Uint8Array([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]),
    bits: 16 + (rand() % 17),
  };
});
const v6Prefixes: Prefix[] = Array.from({ length: N }, () => {
  const a = new Uint8Array(16);
  a[0] = 0x20;
  for (let i = 1; i < 8; i++) a[i] = rand() & 0xff;
  return { addr: a, bits: 32 + (rand() % 33) };
});
const suffixes = Array.from({ length: N }, (_, i) => `site${i}-${rand().toString(36)}.example`);

const v4Set = new IpSet(v4Prefixes);
const v6Set = new IpSet(v6Prefixes);
const domainSet = new DomainSet([], suffixes);

const v4Probes = Array.from({ length: 1024 }, (_, i) => {
  if (i % 2 === 0) return v4Prefixes[rand() % N]!.addr; // hit (prefix start)
  const v = rand();
  return new Uint8Array([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
});
const v6Probes = Array.from({ length: 1024 }, (_, i) => {
  if (i % 2 === 0) return v6Prefixes[rand() % N]!.addr;
  const a = new Uint8Array(16);
  for (let j = 0; j < 16; j++) a[j] = rand() & 0xff;
  return a;
});
const names = Array.from(
  { length: 1024 },
  (_, i) =>
    i % 2 === 0
      ? `cdn.img.${suffixes[rand() % N]}`
      : `www.${rand().toString(36)}.${rand().toString(36)}.com`,
);

let sink = 0;
let k = 0;

Deno.bench("IpSet.contains IPv4, 10k prefixes", { group: "cidr" }, () => {
  if (v4Set.contains(v4Probes[k++ & 1023]!)) sink++;
});
Deno.bench("IpSet.contains IPv6, 10k prefixes", { group: "cidr" }, () => {
  if (v6Set.contains(v6Probes[k++ & 1023]!)) sink++;
});
Deno.bench("DomainSet.match, 10k suffixes, 4-5 labels", { group: "domain" }, () => {
  if (domainSet.match(names[k++ & 1023]!)) sink++;
});

// A router shaped like a real config: private → direct, 10k suffixes → direct,
// 10k CIDRs → direct, a port rule, final → proxy.
function rule(m: Partial<RuleMatch>, action: RuleAction): DefaultRule {
  return { type: "default", ...emptyMatch(), ...m, action };
}
const router = new Router({
  rules: [
    rule({ ip_is_private: true }, { action: "route", outbound: "direct" }),
    rule({ domain_suffix: suffixes }, { action: "route", outbound: "direct" }),
    rule({ ip_cidr: [...v4Prefixes, ...v6Prefixes] }, { action: "route", outbound: "direct" }),
    rule({ port: [22, 3389], network: ["tcp"] }, { action: "reject", method: "default" }),
  ],
  outbounds: [
    { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: 1080 },
    { type: "direct", tag: "direct" },
  ],
});
const metas: ConnMetadata[] = Array.from({ length: 1024 }, (_, i) => {
  const m = newConnMetadata({
    id: i,
    inbound: "tun-in",
    inboundType: "tun",
    network: "tcp",
    source: { addr: new Uint8Array([172, 19, 0, 1]), port: 40000 + i },
    destination: { addr: v4Probes[i]!, port: 443 },
  });
  if (i % 4 === 1) m.domain = names[i]!;
  return m;
});

Deno.bench("Router.matchSync, 4 rules (10k suffixes, 10k CIDRs)", { group: "router" }, () => {
  const m = metas[k++ & 1023]!;
  m.ruleCursor = 0;
  const d = router.matchSync(m);
  if (d !== null && d.action === "route") sink++;
});
const tunSource = new Uint8Array([172, 19, 0, 1]);
Deno.bench("newConnMetadata + Router.matchSync", { group: "router" }, () => {
  const i = k++ & 1023;
  const m = newConnMetadata({
    id: i,
    inbound: "tun-in",
    inboundType: "tun",
    network: "tcp",
    source: { addr: tunSource, port: 40000 },
    destination: { addr: v4Probes[i]!, port: 443 },
  });
  if (router.matchSync(m)?.action === "route") sink++;
});

Deno.bench("build IpSet from 10k IPv4 prefixes", { group: "build", n: 20 }, () => {
  sink += new IpSet(v4Prefixes).rangeCount;
});
Deno.bench("build DomainSet from 10k suffixes", { group: "build", n: 20 }, () => {
  sink += new DomainSet([], suffixes).size;
});

globalThis.addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});
