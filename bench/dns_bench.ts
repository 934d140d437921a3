/**
 * Per-query latency of tunbox's DNS transports in one run: a hijacked `A` query through the TUN
 * answered by dnsdist over plain UDP, DNS over TLS and DNS over HTTPS (dnsdist answers all three
 * itself, with the same spoofed record, so only the transport differs). The cache is off, every
 * name is new, queries go one at a time, the three interleaved.
 *
 * ```sh
 * deno run -A bench/dns_bench.ts [--count 2000]   # root; builds and deletes its namespaces
 * ```
 *
 * Prints a Markdown table (p50, p90, p99 in µs and the ratio to UDP) and writes it with the raw
 * numbers to `bench/results/dns-<date>.{md,json}`. Uses the e2e test world
 * (`tests/e2e/_world.ts`): the far namespace holds dnsdist, tunbox runs in the host namespace.
 */

import { parseArgs } from "node:util";
import { makePki } from "../tests/_helpers/tls_certs.ts";
import { SeedWorld } from "../tests/e2e/_world.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "2000" },
    stack: { type: "string", default: "gvisor" },
  },
});
const DNSDIST = "203.0.113.54";
const ROOT = new URL("../", import.meta.url).pathname;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

const pki = await makePki();
const leaf = await pki.issue("dnsdist", ["dns.test"], [DNSDIST]);
const tls = { server_name: "dns.test", certificate_path: pki.caPath };
let w: SeedWorld | undefined;
try {
  w = await SeedWorld.start(
    values.stack as "gvisor",
    "danted",
    [{ protocol: "dns", action: "hijack-dns" }],
    (config) => {
      config.log = { level: "info", timestamp: true };
      config.dns = {
        servers: [
          { tag: "udp", type: "udp", server: DNSDIST, detour: "direct" },
          { tag: "dot", type: "tls", server: DNSDIST, detour: "direct", tls },
          { tag: "doh", type: "https", server: DNSDIST, detour: "direct", tls },
        ],
        rules: [
          { domain_suffix: ["udp.bench"], server: "udp" },
          { domain_suffix: ["dot.bench"], server: "dot" },
          { domain_suffix: ["doh.bench"], server: "doh" },
        ],
        final: "udp",
        disable_cache: true,
      };
    },
    { TUNBOX_WORKERS: "1" },
  );
  const world = w;
  await world.far.ip("addr", "add", `${DNSDIST}/32`, "dev", "lo");
  await Deno.writeTextFile(
    `${world.dir}/dnsdist.conf`,
    `setSecurityPollSuffix("")
setLocal("${DNSDIST}:53")
addTLSLocal("${DNSDIST}:853", "${leaf.certPath}", "${leaf.keyPath}", { provider = "openssl" })
addDOHLocal("${DNSDIST}:443", "${leaf.certPath}", "${leaf.keyPath}", "/dns-query")
setACL({"0.0.0.0/0"})
addAction(AllRule(), SpoofAction("198.51.100.54"))
`,
  );
  const dnsdist = world.spawnFar("dnsdist", [
    "dnsdist",
    "-C",
    `${world.dir}/dnsdist.conf`,
    "--supervised",
    "--disable-syslog",
  ]);
  await dnsdist.waitFor(/Listening on 203\.0\.113\.54:443 for DoH/);
  const load = Deno.loadavg();
  const r = await world.exec([
    Deno.execPath(),
    "run",
    "-A",
    `${ROOT}bench/dns_client.ts`,
    "--count",
    values.count!,
    ...["udp", "dot", "doh"].flatMap((s) => ["--suffix", `${s}.bench`]),
  ]);
  if (r.code !== 0) {
    throw new Error(`client failed: ${r.stderr}\n${world.tunbox!.stderr.slice(-2000)}`);
  }
  const times = JSON.parse(r.stdout) as Record<string, number[]>;
  const rows: Record<string, { p50: number; p90: number; p99: number }> = {};
  for (const [suffix, list] of Object.entries(times)) {
    const sorted = [...list].sort((a, b) => a - b);
    rows[suffix.split(".")[0]!] = {
      p50: quantile(sorted, 0.5),
      p90: quantile(sorted, 0.9),
      p99: quantile(sorted, 0.99),
    };
  }
  const udp = rows.udp!;
  const lines = [
    `DNS query latency through the TUN (${values.count} queries each, interleaved, cache off, ` +
    `1 worker, stack ${values.stack}; load average at start ${
      load.map((l) => l.toFixed(2)).join(" ")
    })`,
    "",
    "| transport | p50 µs | p90 µs | p99 µs | p50 / UDP | p99 / UDP |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...Object.entries(rows).map(([k, v]) =>
      `| ${k} | ${v.p50.toFixed(0)} | ${v.p90.toFixed(0)} | ${v.p99.toFixed(0)} | ${
        (v.p50 / udp.p50).toFixed(2)
      } | ${(v.p99 / udp.p99).toFixed(2)} |`
    ),
  ];
  console.log(lines.join("\n"));
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  await Deno.mkdir(`${ROOT}bench/results`, { recursive: true });
  await Deno.writeTextFile(`${ROOT}bench/results/dns-${stamp}.md`, lines.join("\n") + "\n");
  await Deno.writeTextFile(
    `${ROOT}bench/results/dns-${stamp}.json`,
    JSON.stringify({ count: Number(values.count), load, rows, times }, null, 1),
  );
} finally {
  await w?.close();
  await pki.remove();
}
