/**
 * `tunbox check` on a config with 5,000 route rules (plus DNS rules, a rule-set, outbounds): the
 * whole load as `check` runs it, from text to diagnostics (JSONC parse with positions, strict
 * decoding, verdicts, cross-checks, lint). The target is under 300 ms on the development VM.
 *
 * Run: deno bench -A bench/config_check_bench.ts
 */

import { loadConfig } from "../src/config/load.ts";

/** Deterministic pseudo-random numbers (xorshift32). */
let seed = 0x2545f491;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

const OUTBOUNDS = ["proxy", "direct", "select", "auto"];

/** One route rule of the kinds users write, in the JSONC style of hand-kept configs. */
function rule(i: number): string {
  const out = OUTBOUNDS[rand() % OUTBOUNDS.length];
  const v = rand();
  switch (i % 6) {
    case 0:
      return `{ "domain_suffix": ["site${i}.example.com", ".cdn${i}.example.net"], "outbound": "${out}" }`;
    case 1:
      return `{ "ip_cidr": ["${v >>> 24}.${(v >>> 16) & 255}.0.0/16", "2001:db8:${
        (v & 0xffff).toString(16)
      }::/48"], "outbound": "${out}" }`;
    case 2:
      return `{ "domain_keyword": ["kw${i}"], "network": "tcp", "port": [80, 443], "outbound": "${out}" }`;
    case 3:
      return `{ "domain": ["host${i}.example.org"], "action": "reject" }`;
    case 4:
      return `{ "port_range": ["${1000 + (i % 50000)}:${
        2000 + (i % 50000)
      }"], "network": ["udp"], "outbound": "${out}" }`;
    default:
      return `{ "type": "logical", "mode": "and", "rules": [{ "domain_suffix": "a${i}.example" }, { "port": 443 }], "outbound": "${out}" }`;
  }
}

export function bigConfig(rules: number): string {
  const lines = [
    "{",
    '  "log": { "level": "warn" },',
    '  "dns": {',
    '    "servers": [',
    '      { "type": "fakeip", "tag": "fake", "inet4_range": "198.18.0.0/15" },',
    '      { "type": "tcp", "tag": "remote", "server": "1.1.1.1", "detour": "proxy" },',
    '      { "type": "local", "tag": "local" }',
    "    ],",
    '    "rules": [',
    ...Array.from(
      { length: 200 },
      (_, i) => `      { "domain_suffix": ["d${i}.example"], "server": "local" },`,
    ),
    '      { "query_type": ["A", "AAAA"], "server": "fake" }',
    "    ],",
    '    "final": "remote"',
    "  },",
    '  "inbounds": [{ "type": "tun", "tag": "tun-in", "address": ["172.19.0.1/30", "fdfe:dcba:9876::1/126"], "auto_route": true, "strict_route": true }],',
    '  "outbounds": [',
    '    { "type": "selector", "tag": "select", "outbounds": ["auto", "proxy", "direct"] },',
    '    { "type": "urltest", "tag": "auto", "outbounds": ["proxy", "backup"] },',
    '    { "type": "socks", "tag": "proxy", "server": "127.0.0.1", "server_port": 1080 },',
    '    { "type": "http", "tag": "backup", "server": "127.0.0.1", "server_port": 8080 },',
    '    { "type": "direct", "tag": "direct" }',
    "  ],",
    '  "route": {',
    '    "rule_set": [{ "tag": "lan", "rules": [{ "ip_cidr": ["192.168.0.0/16", "10.0.0.0/8"] }] }],',
    '    "rules": [',
    '      { "action": "sniff" },',
    '      { "protocol": "dns", "action": "hijack-dns" },',
    '      { "rule_set": "lan", "outbound": "direct" },',
    ...Array.from(
      { length: rules },
      (_, i) => `      ${rule(i)},${i % 6 === 4 ? ` // game ${i}` : ""}`,
    ),
    '      { "ip_is_private": true, "outbound": "direct" }',
    "    ],",
    '    "final": "proxy",',
    '    "auto_detect_interface": true',
    "  }",
    "}",
  ];
  return lines.join("\n");
}

const text = bigConfig(5000);
const source = [{ type: "text" as const, name: "big.jsonc", text }];

// A config check that fails is no benchmark: the config must be one check accepts.
const first = await loadConfig(source, { os: "linux" });
if (first.errors.length > 0) {
  throw new Error(
    `the bench config has errors:\n${first.errors.map((e) => e.format()).join("\n")}`,
  );
}

Deno.bench({
  name: `check: ${(text.length / 1024).toFixed(0)} KiB config, 5,000 route rules, 200 DNS rules`,
  baseline: true,
  async fn() {
    const r = await loadConfig(source, { os: "linux" });
    if (r.errors.length > 0) throw new Error("unexpected errors");
  },
});

Deno.bench({
  name: "parse only (JSONC with positions), same text",
  async fn() {
    const { parseJsonc } = await import("../src/config/jsonc.ts");
    const { Diagnostics } = await import("../src/config/diagnostic.ts");
    parseJsonc(text, "big.jsonc", new Diagnostics());
  },
});
