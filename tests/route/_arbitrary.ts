/**
 * fast-check generators for route rules of every kind and flow metadata, drawn from small pools
 * so that generated rules match generated flows often (property tests of the router and of
 * `tunbox explain`).
 */

import fc from "fast-check";
import type { Network, Rule, RuleAction, RuleMatch } from "../../src/config/types.ts";
import type { ConnMetadata } from "../../src/route/metadata.ts";
import { flow, logical, prefixes, rule } from "./_helpers.ts";

export const OUTBOUND_TAGS = ["proxy", "direct", "block"] as const;

const ADDRS = [
  "10.0.0.1",
  "192.168.1.5",
  "8.8.8.8",
  "1.1.1.1",
  "203.0.113.7",
  "127.0.0.1",
  "2001:db8::1",
  "fd00::1",
];
const PREFIXES = ["10.0.0.0/8", "8.8.8.0/24", "203.0.113.7/32", "2001:db8::/32", "0.0.0.0/0"];
const DOMAINS = ["example.com", "www.example.com", "google.com", "a.cn", "x.example.org"];
const PORTS = [25, 53, 80, 443, 8080];
const NETWORKS: Network[] = ["tcp", "udp", "icmp"];
const PROTOCOLS = ["tls", "http", "quic", "dns"];
const INBOUNDS = ["tun-in", "mixed-in"];

const some = <T>(pool: readonly T[]) =>
  fc.subarray([...pool], { minLength: 1, maxLength: Math.min(3, pool.length) });

/** Match fields of a default rule: every supported item kind, plus one that never matches. */
export const ruleMatch: fc.Arbitrary<Partial<RuleMatch>> = fc.record({
  inbound: some(INBOUNDS),
  ip_version: fc.constantFrom(4 as const, 6 as const),
  network: some(NETWORKS),
  protocol: some(PROTOCOLS),
  client: some(["chromium", "firefox"]),
  domain: some(DOMAINS),
  domain_suffix: some(["example.com", "cn", ".org"]),
  domain_keyword: some(["goo", "exam"]),
  domain_regex: some(["^www\\.", "\\.cn$"]),
  source_ip_cidr: some(PREFIXES).map((p) => prefixes(...p)),
  source_ip_is_private: fc.constant(true),
  ip_cidr: some(PREFIXES).map((p) => prefixes(...p)),
  ip_is_private: fc.constant(true),
  source_port: some([50000, 1234]),
  source_port_range: fc.constant([{ start: 40000, end: 60000 }]),
  port: some(PORTS),
  port_range: fc.constant([{ start: 1000, end: 9000 }]),
  process_name: fc.constant(["curl"]),
  invert: fc.boolean(),
}, { requiredKeys: [] });

/** Every action kind, final and not. */
export const ruleAction: fc.Arbitrary<RuleAction> = fc.oneof(
  fc.constantFrom(...OUTBOUND_TAGS).map((o): RuleAction => ({ action: "route", outbound: o })),
  fc.constantFrom("default", "drop", "reply").map((m): RuleAction => ({
    action: "reject",
    method: m as "default",
  })),
  fc.constant<RuleAction>({ action: "hijack-dns" }),
  fc.constant<RuleAction>({ action: "route-options", udp_timeout: 5000 }),
  fc.constant<RuleAction>({ action: "route-options", override_port: 8080 }),
  fc.constantFrom<RuleAction>(
    { action: "sniff", sniffer: [] },
    { action: "sniff", sniffer: ["tls"] },
    { action: "sniff", sniffer: ["quic"] },
  ),
  fc.constant<RuleAction>({ action: "resolve" }),
  fc.constantFrom<RuleAction>({ action: "bypass" }, { action: "bypass", outbound: "direct" }),
);

const leaf = ruleMatch.map((m) => rule(m));

/** A default or logical rule (logical rules nest one level of default or logical rules). */
export const anyRule: fc.Arbitrary<Rule> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(ruleMatch, ruleAction).map(([m, a]) => rule(m, a)) },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.constantFrom("and" as const, "or" as const),
      fc.array(
        fc.oneof(
          leaf,
          fc.tuple(
            fc.constantFrom("and" as const, "or" as const),
            fc.array(leaf, {
              minLength: 1,
              maxLength: 2,
            }),
            fc.boolean(),
          ).map(([mode, rules, inv]) => logical(mode, rules, undefined, inv)),
        ),
        { minLength: 1, maxLength: 3 },
      ),
      ruleAction,
      fc.boolean(),
    ).map(([mode, rules, action, invert]) => logical(mode, rules, action, invert)),
  },
);

/** What sniffing would find for a flow (applied by the sniff hook). */
export interface SniffOutcome {
  protocol: string;
  domain: string;
}

/** A flow and what sniffing it would find. */
export const flowCase: fc.Arbitrary<{ meta: () => ConnMetadata; sniff: SniffOutcome }> = fc
  .record({
    dst: fc.constantFrom(...ADDRS),
    port: fc.constantFrom(...PORTS),
    src: fc.constantFrom(...ADDRS),
    network: fc.constantFrom(...NETWORKS),
    inbound: fc.constantFrom(...INBOUNDS),
    domain: fc.constantFrom("", ...DOMAINS),
    protocol: fc.constantFrom("", ...PROTOCOLS),
    sniffProtocol: fc.constantFrom("", ...PROTOCOLS),
    sniffDomain: fc.constantFrom("", ...DOMAINS),
  })
  .map((c) => ({
    meta: () => {
      const host = (a: string) => a.includes(":") ? `[${a}]` : a;
      return flow(`${host(c.dst)}:${c.port}`, {
        src: `${host(c.src)}:50000`,
        network: c.network,
        inbound: c.inbound,
        ...(c.domain ? { domain: c.domain } : {}),
        ...(c.protocol ? { protocol: c.protocol } : {}),
      });
    },
    sniff: { protocol: c.sniffProtocol, domain: c.sniffDomain },
  }));
