/**
 * The markdown report: rows = paths, columns = metrics, with ratios against the direct path
 * of the same run and against the hev-socks5-tunnel reference figures.
 *
 * @module
 */

import { AIMS, HEV_DANTED, REFERENCES } from "./reference.ts";
import type {
  Measured,
  PathResult,
  Report,
  RssPoint,
  ThroughputRun,
  WrkMode,
  WrkRun,
} from "./types.ts";

/** The four throughput cells of a row, in column order. */
export const THROUGHPUT_SERIES = [
  { key: "up1", direction: "upload", streams: 1, title: "up ×1", legend: "upload, 1 stream" },
  {
    key: "down1",
    direction: "download",
    streams: 1,
    title: "down ×1",
    legend: "download, 1 stream",
  },
  { key: "up4", direction: "upload", streams: 4, title: "up ×4", legend: "upload, 4 streams" },
  {
    key: "down4",
    direction: "download",
    streams: 4,
    title: "down ×4",
    legend: "download, 4 streams",
  },
] as const;

/** The successful throughput run of `row` in `direction` with `streams`, if any. */
export function findRun(
  row: PathResult,
  direction: "upload" | "download",
  streams: number,
): ThroughputRun | undefined {
  for (const m of row.throughput) {
    if (m.ok && m.value.direction === direction && m.value.streams === streams) return m.value;
  }
  return undefined;
}

function failedRun(row: PathResult, index: number): string | undefined {
  // Throughput runs are stored in THROUGHPUT_SERIES order when measured.
  const m = row.throughput[index];
  return m && !m.ok ? m.error : undefined;
}

const fmt = (v: number | undefined, digits = 2): string =>
  v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);

const fmtInt = (v: number | undefined): string =>
  v === undefined || !Number.isFinite(v) ? "–" : Math.round(v).toLocaleString("en-US");

const ratio = (v: number | undefined, base: number | undefined): string =>
  v === undefined || base === undefined || base === 0 ? "–" : `${(v / base).toFixed(2)}×`;

/** Escapes text for a markdown table cell (pipes, newlines). */
export function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\s*\n\s*/g, " ").trim();
}

function table(head: string[], rows: string[][]): string {
  if (rows.length === 0) return "(no rows measured)";
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

function statusCell(row: PathResult, brief = false): string {
  if (row.status === "failed") {
    return brief ? "failed (see the throughput table)" : cell(row.error ?? "failed");
  }
  return "ok";
}

function measuredCell<T>(m: Measured<T> | undefined, pick: (v: T) => string): string {
  if (m === undefined) return "–";
  return m.ok ? pick(m.value) : "✗";
}

function rssCell(
  points: RssPoint[],
  target: number,
  which: "proxyRssKiB" | "socksPssKiB",
  settled = false,
): string {
  const p = points.find((x) => x.target === target && (x.settledSeconds !== undefined) === settled);
  if (!p) return "–";
  const kib = p[which];
  let text = kib === undefined ? "–" : (kib / 1024).toFixed(1);
  if (which === "socksPssKiB" && p.socksProcesses !== undefined) {
    text += ` (${p.socksProcesses} proc)`;
  }
  return p.opened < target ? `${text}; ${fmtInt(p.opened)} open` : text;
}

/** The direct row used as the base for ratios of `row` (same measuring tool). */
function directFor(report: Report, row: PathResult): PathResult | undefined {
  return report.paths.find((r) =>
    r.spec.kind === "direct" && r.spec.throughputTool === row.spec.throughputTool &&
    r.status === "ok"
  );
}

function wrkRun(row: PathResult | undefined, mode: WrkMode): WrkRun | undefined {
  for (const r of row?.wrk?.runs ?? []) if (r.ok && r.value.mode === mode) return r.value;
  return undefined;
}

function wrkErrors(r: WrkRun): number {
  const e = r.errors;
  return e.connect + e.read + e.write + e.timeout + e.non2xx;
}

/** "51.0 (36.2)": the proxy's CPU µs per request and, in brackets, its kernel part. */
function cpuPerRequest(r: WrkRun | undefined): string {
  const total = fmt(r?.proxyCpuUsPerRequest, 1);
  const sys = r?.proxySystemCpuUsPerRequest;
  return sys === undefined ? total : `${total} (${sys.toFixed(1)})`;
}

const mib = (kib: number | undefined): string => kib === undefined ? "–" : (kib / 1024).toFixed(1);

/** The wrk/nginx section: req/s with ratios to redsocks and direct, p50/p99, RSS around the load. */
function wrkSection(report: Report): string[] {
  const rows = report.paths.filter((r) => r.spec.metrics.includes("wrk"));
  if (rows.length === 0) return [];
  const direct = report.paths.find((r) => r.spec.id === "direct");
  const redsocks = report.paths.find((r) => r.spec.id === "redsocks");
  const [ka, cl] = report.options.wrkConns ?? [1000, 100];
  const settle = report.options.settleSeconds ?? 0;
  const out: string[] = [];
  out.push(
    `## HTTP through many connections: wrk → nginx (${fmtInt(ka)} keep-alive connections; ${
      fmtInt(cl)
    } loops of a connection per request)`,
  );
  out.push("");
  const head = [
    "path",
    "keep-alive req/s",
    "vs redsocks",
    "vs direct",
    "p50 µs",
    "p99 µs",
    "p99/p50",
    "conn-per-req req/s",
    "vs redsocks",
    "vs direct",
    "p50 µs",
    "p99 µs",
    "proxy CPU µs/req, kernel part (keep-alive, per-conn)",
    "machine CPU µs/req (keep-alive)",
    "TUN packets/req (keep-alive, per-conn)",
    "RSS idle MiB",
    "RSS peak keep-alive",
    "RSS peak conn-per-req",
    `RSS ${settle} s after`,
    "after − idle",
  ];
  const body: string[][] = [];
  for (const row of rows) {
    const k = wrkRun(row, "keepalive");
    const c = wrkRun(row, "close");
    const failed = (mode: WrkMode) =>
      row.wrk?.runs.some((r) => !r.ok) && !wrkRun(row, mode) ? "✗" : "–";
    const w = row.wrk;
    const grew = w?.afterRssKiB !== undefined && w.idleRssKiB !== undefined
      ? `${((w.afterRssKiB - w.idleRssKiB) / 1024).toFixed(1)}`
      : "–";
    body.push([
      cell(row.spec.label),
      k ? fmtInt(k.perSecond) + (wrkErrors(k) ? " (errors)" : "") : failed("keepalive"),
      ratio(k?.perSecond, wrkRun(redsocks, "keepalive")?.perSecond),
      ratio(k?.perSecond, wrkRun(direct, "keepalive")?.perSecond),
      fmt(k?.p50Us, 0),
      fmt(k?.p99Us, 0),
      k ? `${(k.p99Us / k.p50Us).toFixed(1)}×` : "–",
      c ? fmtInt(c.perSecond) + (wrkErrors(c) ? " (errors)" : "") : failed("close"),
      ratio(c?.perSecond, wrkRun(redsocks, "close")?.perSecond),
      ratio(c?.perSecond, wrkRun(direct, "close")?.perSecond),
      fmt(c?.p50Us, 0),
      fmt(c?.p99Us, 0),
      `${cpuPerRequest(k)}, ${cpuPerRequest(c)}`,
      fmt(k?.machineCpuUsPerRequest, 1),
      `${fmt(k?.tunPacketsPerRequest, 2)}, ${fmt(c?.tunPacketsPerRequest, 2)}`,
      mib(w?.idleRssKiB),
      mib(k?.proxyPeakRssKiB),
      mib(c?.proxyPeakRssKiB),
      mib(w?.afterRssKiB),
      grew,
    ]);
  }
  out.push(table(head, body));
  out.push("");
  out.push(
    `${report.machine.wrk ?? "wrk"} with 2 threads and \`--latency\` against nginx ${
      report.machine.nginx ?? ""
    } (2 workers, a 3-byte 200) in the server namespace; connection-per-request sends ` +
      "`Connection: close`. RSS is the proxy's VmRSS (tunbox or redsocks; danted not counted), " +
      "peaks sampled every 250 ms during each run.",
  );
  const rk = wrkRun(redsocks, "keepalive");
  const m = rk?.machineCpuUsPerRequest, pr = rk?.proxyCpuUsPerRequest;
  if (m !== undefined && pr !== undefined && m > pr) {
    out.push("");
    out.push(
      `Machine CPU per request is everything on the machine (wrk, nginx, danted, the proxy, the ` +
        `kernel). On the redsocks path ${m.toFixed(1)} µs of it per request, ${pr.toFixed(1)} ` +
        `µs in redsocks' process: with the cores busy, a proxy that cost no CPU at all would ` +
        `reach about ${(m / (m - pr)).toFixed(2)}× redsocks' keep-alive rate (the rest of the ` +
        "path stays).",
    );
  }
  out.push("");
  return out;
}

/** Renders the whole report as markdown. */
export function renderMarkdown(report: Report): string {
  const out: string[] = [];
  const m = report.machine;
  out.push(`# tunbox end-to-end benchmark, ${report.date}`);
  out.push("");
  out.push(
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${
      (m.memTotalKiB / 1048576).toFixed(1)
    } GiB; kernel ${m.kernel}; ` +
      `Deno ${m.deno}; ${m.iperf3}; ${m.danted}; ${m.redsocks}; tunbox ${m.gitCommit}. ` +
      `Throughput tests ${report.options.durationSeconds} s each${
        report.options.quick ? " (--quick)" : ""
      }; ` +
      `${report.options.rrCount} round trips of 64 B${
        report.options.rrWarmup ? ` after ${report.options.rrWarmup} warm-up ones` : ""
      }. Load average at start ${m.loadAvgAtStart.join(" ")}` +
      ` (every process shares the ${m.cores} cores); open-files limit ${m.nofileLimit}.`,
  );
  out.push("");

  // Throughput.
  const dir = report.paths.find((r) => r.spec.id === "direct");
  out.push("## Throughput (Gbit/s, receiver side)");
  out.push("");
  const tHead = [
    "path",
    "tool",
    ...THROUGHPUT_SERIES.map((s) => s.title),
    "up vs direct",
    "down vs direct",
    "up vs hev",
    "down vs hev",
    "proxy CPU s/GB (up, down)",
    "SOCKS CPU s/GB (up, down)",
    "TUN pkt/s (up)",
    "status",
  ];
  const tRows: string[][] = [];
  for (const row of report.paths) {
    if (!row.spec.metrics.includes("throughput")) continue;
    const base = directFor(report, row);
    const cells = THROUGHPUT_SERIES.map((s, i) => {
      const run = findRun(row, s.direction, s.streams);
      if (run) return fmt(run.gbps);
      return failedRun(row, i) !== undefined ? "✗" : "–";
    });
    const up = findRun(row, "upload", 1);
    const down = findRun(row, "download", 1);
    const isDirect = row.spec.kind === "direct";
    tRows.push([
      cell(row.spec.label),
      row.spec.throughputTool,
      ...cells,
      isDirect ? "1.00×" : ratio(up?.gbps, base ? findRun(base, "upload", 1)?.gbps : undefined),
      isDirect ? "1.00×" : ratio(down?.gbps, base ? findRun(base, "download", 1)?.gbps : undefined),
      isDirect ? "–" : ratio(up?.gbps, HEV_DANTED.uploadGbps),
      isDirect ? "–" : ratio(down?.gbps, HEV_DANTED.downloadGbps),
      `${fmt(up?.proxyCpuSecondsPerGB)}, ${fmt(down?.proxyCpuSecondsPerGB)}`,
      `${fmt(up?.socksCpuSecondsPerGB)}, ${fmt(down?.socksCpuSecondsPerGB)}`,
      fmtInt(up?.tunPacketsPerSecond),
      statusCell(row),
    ]);
  }
  out.push(table(tHead, tRows));
  out.push("");

  // Latency and connections.
  out.push("## Request/response latency (64 B, one connection) and new connections per second");
  out.push("");
  const directLat = dir?.latency?.ok ? dir.latency.value : undefined;
  const lHead = [
    "path",
    "p50 µs",
    "p99 µs",
    "added p50 vs direct µs",
    "round trips/s",
    "conn/s (1 loop)",
    "conn/s (8 loops)",
    "status",
  ];
  const lRows: string[][] = [];
  for (const row of report.paths) {
    if (!row.spec.metrics.includes("latency") && !row.spec.metrics.includes("crr")) continue;
    const lat = row.latency;
    const crr1 = row.crr.find((c) => !c.ok || c.value.concurrency === 1);
    const crr8 = row.crr.find((c) => !c.ok || c.value.concurrency > 1);
    lRows.push([
      cell(row.spec.label),
      measuredCell(lat, (v) => fmt(v.p50Us, 0)),
      measuredCell(lat, (v) => fmt(v.p99Us, 0)),
      row.spec.id === "direct"
        ? "0"
        : measuredCell(lat, (v) => directLat ? `+${fmt(v.p50Us - directLat.p50Us, 0)}` : "–"),
      measuredCell(lat, (v) => fmtInt(v.tps)),
      measuredCell(
        crr1,
        (v) => fmtInt(v.perSecond) + (v.failures ? ` (${v.failures} failed)` : ""),
      ),
      measuredCell(
        crr8,
        (v) => fmtInt(v.perSecond) + (v.failures ? ` (${v.failures} failed)` : ""),
      ),
      statusCell(row, row.spec.metrics.includes("throughput")),
    ]);
  }
  out.push(table(lHead, lRows));
  out.push("");

  // Memory.
  const conns = report.options.conns;
  out.push("## Memory (MiB) idle and with open connections: proxy VmRSS, SOCKS server summed PSS");
  out.push("");
  const mHead = [
    "path",
    "proxy idle",
    ...conns.map((c) => `proxy ${fmtInt(c)} conns`),
    `proxy ${report.options.settleSeconds ?? "–"} s after closing`,
    "SOCKS PSS idle",
    ...conns.map((c) => `SOCKS PSS ${fmtInt(c)} conns`),
    "status",
  ];
  const mRows: string[][] = [];
  for (const row of report.paths) {
    if (!row.spec.metrics.includes("rss")) continue;
    mRows.push([
      cell(row.spec.label),
      rssCell(row.rss, 0, "proxyRssKiB"),
      ...conns.map((c) => rssCell(row.rss, c, "proxyRssKiB")),
      rssCell(row.rss, 0, "proxyRssKiB", true),
      rssCell(row.rss, 0, "socksPssKiB"),
      ...conns.map((c) => rssCell(row.rss, c, "socksPssKiB")),
      statusCell(row, row.spec.metrics.includes("throughput")),
    ]);
  }
  out.push(table(mHead, mRows));
  out.push("");

  out.push(...wrkSection(report));

  // Problems.
  const problems: string[] = [];
  for (const row of report.paths) {
    if (row.status === "failed") problems.push(`- **${row.spec.label}**: ${row.error}`);
    row.throughput.forEach((t, i) => {
      if (!t.ok) {
        problems.push(
          `- ${row.spec.label}, throughput ${THROUGHPUT_SERIES[i]?.title ?? i}: ${t.error}`,
        );
      }
    });
    if (row.latency && !row.latency.ok) {
      problems.push(`- ${row.spec.label}, latency: ${row.latency.error}`);
    }
    for (const c of row.crr) {
      if (!c.ok) problems.push(`- ${row.spec.label}, connections/s: ${c.error}`);
    }
    for (const c of row.crr) {
      if (c.ok && c.value.firstError) {
        problems.push(
          `- ${row.spec.label}, connections/s (${c.value.concurrency} loops): ${c.value.failures} failed, first: ${c.value.firstError}`,
        );
      }
    }
    for (const p of row.rss) {
      if (p.error) {
        problems.push(`- ${row.spec.label}, RSS at ${p.target} connections: ${p.error}`);
      }
    }
    row.wrk?.runs.forEach((r, i) => {
      if (!r.ok) {
        problems.push(`- ${row.spec.label}, wrk ${i === 0 ? "keep-alive" : "close"}: ${r.error}`);
      } else if (wrkErrors(r.value) > 0) {
        const e = r.value.errors;
        problems.push(
          `- ${row.spec.label}, wrk ${r.value.mode}: socket errors connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}; non-2xx ${e.non2xx}`,
        );
      }
    });
    for (const v of row.violations) problems.push(`- **VIOLATION** ${row.spec.label}: ${v}`);
  }
  if (problems.length > 0) {
    out.push("## Failures and violations");
    out.push("");
    out.push(problems.map((p) => p.replace(/\s*\n\s*/g, " ")).join("\n"));
    out.push("");
  }

  // Tools and references.
  out.push("## Tools and reference figures");
  out.push("");
  out.push(
    "Throughput rows marked `iperf3` use iperf3 3.x JSON output; `deno-bulk` rows use the suite's " +
      "Deno bulk sender/receiver (`bench/e2e/tools/client.ts bulk`), because iperf3 cannot speak SOCKS; " +
      "compare those with the `direct, Deno bulk tool` row. Latency, connections/s and open connections " +
      "always use the Deno client (`rr`, `crr`, `hold`), speaking SOCKS5 itself on socks-direct rows. " +
      '"vs hev" divides by hev-socks5-tunnel → danted measured on a machine of this kind ' +
      `(${HEV_DANTED.uploadGbps} up, ${HEV_DANTED.downloadGbps} down Gbit/s). ` +
      `Aims: system stack ≥ ${AIMS.systemUploadGbps} Gbit/s upload, userspace stack ≥ ${AIMS.userspaceGbps}, ` +
      `added latency ≤ ${AIMS.addedLatencyUs} µs.`,
  );
  out.push("");
  out.push(table(
    ["reference (research notes §4)", "up", "down", "up ×4", "rr p50 µs", "RSS MiB"],
    REFERENCES.map((r) => [
      r.label,
      fmt(r.uploadGbps),
      fmt(r.downloadGbps),
      fmt(r.upload4Gbps),
      fmt(r.rrP50Us, 0),
      fmt(r.rssMiB, 1),
    ]),
  ));
  out.push("");
  return out.join("\n");
}
