/**
 * source → compile → decompile equals the normalized source, for generated sets and for a
 * hand-written one that uses every rule-set field.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { HeadlessDefaultRule, HeadlessRule } from "../../src/config/types.ts";
import { emptyHeadlessRule } from "../../src/config/decode_rule_set.ts";
import {
  formatIp,
  mergeRanges,
  parsePrefix,
  prefixToRange,
  rangeToPrefixes,
} from "../../src/net/ip.ts";
import { formatRuleSetSource, parseRuleSetSource } from "../../src/ruleset/source.ts";
import { readSrs, recoverLists, writeSrs } from "../../src/ruleset/srs.ts";

const utf8 = new TextEncoder();
function byteOrder(a: string, b: string): number {
  const x = utf8.encode(a), y = utf8.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** What a decompiled rule looks like: domains sorted and deduplicated, CIDRs merged. */
function normalize(r: HeadlessRule, version: number): HeadlessRule {
  if (r.type === "logical") {
    const { source: _s, ...rest } = r;
    return { ...rest, rules: r.rules.map((x) => normalize(x, version)) };
  }
  const { source: _s, ...rest } = r;
  const out: HeadlessDefaultRule = { ...rest };
  const exact = new Set(r.domain);
  const suffix = new Set<string>();
  for (const s of r.domain_suffix) suffix.add(s);
  // Version 1 stores a dot-less suffix "x" as the exact name and ".x", so a written ".x" merges.
  if (version === 1) {
    for (const s of [...suffix]) {
      if (!s.startsWith(".")) suffix.delete("." + s);
    }
  }
  // A literal ".x" together with the exact name "x" reads back as the suffix "x".
  for (const s of [...suffix]) {
    if (s.startsWith(".") && exact.has(s.slice(1))) {
      suffix.delete(s);
      suffix.add(s.slice(1));
      exact.delete(s.slice(1));
    }
  }
  for (const s of suffix) if (!s.startsWith(".")) exact.delete(s);
  out.domain = [...exact].sort(byteOrder);
  out.domain_suffix = [...suffix].sort(byteOrder);
  const cidrs = (list: string[]) => {
    const ranges = mergeRanges(
      list.map((s) =>
        prefixToRange(parsePrefix(s.includes("/") ? s : `${s}/${s.includes(":") ? 128 : 32}`)!)
      ),
    );
    return ranges.flatMap(rangeToPrefixes).map((p) => `${formatIp(p.addr)}/${p.bits}`);
  };
  out.ip_cidr = cidrs(r.ip_cidr);
  out.source_ip_cidr = cidrs(r.source_ip_cidr);
  return out;
}

function roundTrip(version: number, rules: HeadlessRule[]): string {
  const bin = writeSrs(rules, version);
  const back = readSrs(bin);
  assert.equal(back.version, version);
  return formatRuleSetSource({ version, rules: recoverLists(back.rules) });
}

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?$/);
const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));
const suffix = fc.oneof(name, name.map((n) => "." + n));
const v4 = fc.tuple(
  fc.nat(255),
  fc.nat(255),
  fc.nat(255),
  fc.nat(255),
  fc.integer({ min: 0, max: 32 }),
)
  .map(([a, b, c, d, bits]) =>
    bits === 32 && a % 2 ? `${a}.${b}.${c}.${d}` : `${a}.${b}.${c}.${d}/${bits}`
  );
const v6 = fc.tuple(
  fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }),
  fc.integer({ min: 0, max: 128 }),
)
  .map(([w, bits]) => `${w.map((x) => x.toString(16)).join(":")}/${bits}`);
const cidr = fc.oneof(v4, v6);
const port = fc.nat(65535);
const range = fc.tuple(port, port).map(([a, b]) => `${Math.min(a, b)}:${Math.max(a, b)}`);
const list = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { maxLength: 6 });

const defaultRule: fc.Arbitrary<HeadlessDefaultRule> = fc.record({
  query_type: list(
    fc.oneof(fc.constantFrom("A", "AAAA", "HTTPS", "MX"), fc.integer({ min: 1000, max: 65535 })),
  ),
  network: list(fc.constantFrom("tcp", "udp", "icmp")),
  domain: list(name),
  domain_suffix: list(suffix),
  domain_keyword: list(label),
  domain_regex: list(label.map((l) => `^${l}\\.`)),
  source_ip_cidr: list(cidr),
  ip_cidr: list(cidr),
  source_port: list(port),
  source_port_range: list(range),
  port: list(port),
  port_range: list(range),
  process_name: list(label),
  package_name: list(label),
  invert: fc.boolean(),
}).map((r) => {
  const out: HeadlessDefaultRule = { ...emptyHeadlessRule(), ...r, invert: r.invert };
  if (!r.invert) delete out.invert;
  if (r.query_type.length > 0) {
    out.query_type = r.query_type.map((q) =>
      typeof q === "number" && [1, 28, 65, 15].includes(q) ? 1000 : q
    );
  }
  if (isEmpty(out)) out.domain = ["example.com"];
  return out;
});

function isEmpty(r: HeadlessDefaultRule): boolean {
  return Object.entries(r).every(([k, v]) =>
    k === "type" || k === "invert" || (Array.isArray(v) && v.length === 0)
  );
}

const rule: fc.Arbitrary<HeadlessRule> = fc.oneof(
  { weight: 4, arbitrary: defaultRule },
  {
    weight: 1,
    arbitrary: fc.record({
      mode: fc.constantFrom("and" as const, "or" as const),
      rules: fc.array(defaultRule, { minLength: 1, maxLength: 3 }),
      invert: fc.boolean(),
    }).map((r): HeadlessRule => ({
      type: "logical",
      mode: r.mode,
      rules: r.rules,
      ...(r.invert ? { invert: true } : {}),
    })),
  },
);

Deno.test("round trip: generated source sets survive compile and decompile (versions 1 and 2)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(1, 2),
      fc.array(rule, { minLength: 1, maxLength: 5 }),
      (version, rules) => {
        const expected = formatRuleSetSource({
          version,
          rules: rules.map((r) => normalize(r, version)),
        });
        assert.equal(roundTrip(version, rules), expected);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("round trip: version 1 merges a literal suffix into the dot-less one", () => {
  const rules: HeadlessRule[] = [{ ...emptyHeadlessRule(), domain_suffix: ["x.com", ".x.com"] }];
  assert.match(roundTrip(1, rules), /"domain_suffix": "x.com"\n/);
  assert.match(roundTrip(2, rules), /"domain_suffix": \[\n\s+".x.com",\n\s+"x.com"\n/);
});

Deno.test("round trip: a hand-written set with every rule-set field", () => {
  const text = `{
    "version": 4,
    "rules": [
      {
        "query_type": ["A", "AAAA", 32768],
        "network": ["tcp", "udp"],
        "domain": ["test.com", "b.example"],
        "domain_suffix": [".cn", "example.org"],
        "domain_keyword": "test",
        "domain_regex": ["^stun\\\\..+", "<&>"],
        "source_ip_cidr": ["10.0.0.0/24", "192.168.0.1"],
        "ip_cidr": ["10.0.0.0/24", "10.0.1.0/24", "2001:db8::/32", "::ffff:1.2.3.0/120"],
        "source_port": 12345,
        "source_port_range": ["1000:2000", ":3000", "4000:"],
        "port": [80, 443],
        "port_range": "1000:2000",
        "process_name": "curl",
        "process_path": "/usr/bin/curl",
        "process_path_regex": "^/usr/bin/.+",
        "package_name": "com.termux",
        "network_type": ["wifi", "cellular"],
        "network_is_expensive": true,
        "network_is_constrained": true,
        "wifi_ssid": "My WIFI",
        "wifi_bssid": "00:00:00:00:00:00",
        "network_interface_address": { "wifi": ["2000::/3", "10.0.0.1"], "ethernet": "192.168.0.0/16" },
        "default_interface_address": "2000::/3",
        "invert": true
      },
      {
        "type": "logical",
        "mode": "and",
        "rules": [{ "domain": "a.com" }, { "port": 443, "invert": true }],
        "invert": true
      }
    ]
  }`;
  const { set, errors } = parseRuleSetSource(text, "all.json");
  assert.deepEqual(errors.map((e) => e.format()), []);
  const expected = `{
  "version": 4,
  "rules": [
    {
      "query_type": [
        "A",
        "AAAA",
        32768
      ],
      "network": [
        "tcp",
        "udp"
      ],
      "domain": [
        "b.example",
        "test.com"
      ],
      "domain_suffix": [
        ".cn",
        "example.org"
      ],
      "domain_keyword": "test",
      "domain_regex": [
        "^stun\\\\..+",
        "\\u003c\\u0026\\u003e"
      ],
      "source_ip_cidr": [
        "10.0.0.0/24",
        "192.168.0.1/32"
      ],
      "ip_cidr": [
        "10.0.0.0/23",
        "::ffff:1.2.3.0/120",
        "2001:db8::/32"
      ],
      "source_port": 12345,
      "source_port_range": [
        "1000:2000",
        ":3000",
        "4000:"
      ],
      "port": [
        80,
        443
      ],
      "port_range": "1000:2000",
      "process_name": "curl",
      "process_path": "/usr/bin/curl",
      "process_path_regex": "^/usr/bin/.+",
      "package_name": "com.termux",
      "network_type": [
        "wifi",
        "cellular"
      ],
      "network_is_expensive": true,
      "network_is_constrained": true,
      "wifi_ssid": "My WIFI",
      "wifi_bssid": "00:00:00:00:00:00",
      "network_interface_address": {
        "wifi": [
          "2000::/3",
          "10.0.0.1/32"
        ],
        "ethernet": "192.168.0.0/16"
      },
      "default_interface_address": "2000::/3",
      "invert": true
    },
    {
      "type": "logical",
      "mode": "and",
      "rules": [
        {
          "domain": "a.com"
        },
        {
          "port": 443,
          "invert": true
        }
      ],
      "invert": true
    }
  ]
}
`;
  assert.equal(roundTrip(4, set!.rules), expected);
});
