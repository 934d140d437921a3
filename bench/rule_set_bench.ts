/**
 * Rule-set matching at scale: a 100,000-domain set (half exact names, half suffixes, shaped like
 * geosite lists) and a 10,000-range IP set, as a binary `.srs` loads them.
 *
 * Targets (issue "Rule sets"): a 100,000-domain set costs < 20 MB and < 1 µs per lookup. The
 * memory figure is printed before the benchmarks run (the trie's arrays, and the process's
 * resident memory growth while building it); lookups are timed below against a `Set<string>` of the same names (exact
 * lookups only, so it is a floor, not an equivalent matcher) in the same run.
 *
 * Run: deno bench -A --v8-flags=--expose-gc bench/rule_set_bench.ts
 */

import { emptyHeadlessRule } from "../src/config/decode_rule_set.ts";
import { DomainSet } from "../src/route/domain_set.ts";
import { compileRuleSet } from "../src/route/headless.ts";
import { MatchState } from "../src/route/match_state.ts";
import { newConnMetadata } from "../src/route/metadata.ts";
import { readSrs, writeSrs } from "../src/ruleset/srs.ts";

let seed = 0x2545f491;
function rand(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}
const TLDS = ["com", "cn", "net", "org", "com.cn", "io", "co.uk", "de", "jp", "edu.cn"];
function label(): string {
  const n = 3 + (rand() % 10);
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(97 + (rand() % 26));
  return s;
}

const N = 100_000;
const domains: string[] = [];
const suffixes: string[] = [];
for (let i = 0; i < N; i++) {
  const name = `${rand() % 4 === 0 ? label() + "." : ""}${label()}.${TLDS[rand() % TLDS.length]}`;
  (i % 2 === 0 ? domains : suffixes).push(name);
}

const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const before = Deno.memoryUsage();
const t0 = performance.now();
const set = new DomainSet(domains, suffixes);
const buildMs = performance.now() - t0;
gc?.();
const after = Deno.memoryUsage();

const srs = writeSrs([{ ...emptyHeadlessRule(), domain: domains, domain_suffix: suffixes }], 2);
const t1 = performance.now();
const loaded = readSrs(srs);
const loadMs = performance.now() - t1;
const compiled = compileRuleSet(loaded.rules, "bench");

const mb = (b: number) => (b / 1048576).toFixed(1);
console.log(
  `100,000-domain set: trie arrays ${mb(set.trie.byteLength)} MB (${set.trie.nodeCount} nodes), ` +
    `heap + external growth ${
      mb(after.heapUsed + after.external - before.heapUsed - before.external)
    } MB, RSS growth ${mb(after.rss - before.rss)} MB (with build garbage)${
      gc ? "" : " (no --expose-gc)"
    }, ` +
    `built in ${buildMs.toFixed(0)} ms; .srs ${mb(srs.length)} MB, read in ${loadMs.toFixed(0)} ms`,
);

const baseline = new Set(domains);
const probes = Array.from({ length: 4096 }, (_, i) => {
  switch (i % 4) {
    case 0:
      return domains[rand() % domains.length]!; // exact hit
    case 1:
      return `www.cdn.${suffixes[rand() % suffixes.length]}`; // suffix hit, 4-5 labels
    case 2:
      return `${label()}.${label()}.${TLDS[rand() % TLDS.length]}`; // miss, shared TLD
    default:
      return `${label()}.example`; // miss at the first label
  }
});

let sink = 0;
let k = 0;
Deno.bench("Set<string>.has (exact only), 100k names", { group: "lookup", baseline: true }, () => {
  if (baseline.has(probes[k++ & 4095]!)) sink++;
});
Deno.bench("DomainSet.match, 100k domains + suffixes", { group: "lookup" }, () => {
  if (set.match(probes[k++ & 4095]!)) sink++;
});

const metas = probes.map((domain, i) => {
  const m = newConnMetadata({
    id: i,
    inbound: "tun-in",
    inboundType: "tun",
    network: "tcp",
    source: { addr: new Uint8Array([172, 19, 0, 1]), port: 40000 },
    destination: { addr: new Uint8Array([1, 2, 3, 4]), port: 443 },
  });
  m.domain = domain;
  return m;
});
const st = new MatchState();
const rule = compiled.rules[0]!;
Deno.bench(
  "rule-set rule from .srs (100k domains), full rule evaluation",
  { group: "lookup" },
  () => {
    st.reset();
    if (rule.match(metas[k++ & 4095]!, st)) sink++;
  },
);

Deno.bench("readSrs 100k-domain set", { group: "load", n: 10 }, () => {
  sink += readSrs(srs).rules.length;
});

globalThis.addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});
