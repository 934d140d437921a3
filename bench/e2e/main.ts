/**
 * `deno task bench:e2e`: the end-to-end benchmark suite. Builds a two-namespace topology,
 * measures every selected path (baselines and tunbox stacks) in one run, and writes
 * `bench/results/<date>.{json,md,svg}`. See `bench/README.md`.
 *
 * @module
 */

import { type BenchArgs, parseArgs, selectPaths, USAGE } from "./args.ts";
import {
  type ActivePath,
  measureCrr,
  measureIdleRss,
  measureLatency,
  measureLoadedRss,
  measureThroughput,
  RR_WARMUP,
  Services,
} from "./measure.ts";
import { maxNofile, run, tail } from "./netns.ts";
import { type RunningRedsocks, type RunningSocks, startRedsocks, startSocks } from "./proxies.ts";
import { processTree, readProcStat } from "./procfs.ts";
import { renderMarkdown, THROUGHPUT_SERIES } from "./render_md.ts";
import { renderSvg } from "./render_svg.ts";
import { NET, Topology } from "./topology.ts";
import { type RunningTunbox, startTunbox } from "./tunbox.ts";
import type { MachineInfo, PathResult, PathSpec, Report } from "./types.ts";
import { measureWrk, startNginx } from "./wrk.ts";

const repoRoot = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

function log(msg: string): void {
  console.log(`» ${msg}`);
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Fails early, naming the Debian packages, when a program the selected rows need is missing. */
async function requireTools(paths: PathSpec[]): Promise<void> {
  const need = new Map<string, string>([
    ["ip", "iproute2"],
    ["ss", "iproute2"],
    ["prlimit", "util-linux"],
    ["sysctl", "procps"],
    ["iperf3", "iperf3"],
  ]);
  if (paths.some((p) => p.socks === "danted")) need.set("danted", "dante-server");
  if (paths.some((p) => p.socks === "microsocks")) need.set("microsocks", "microsocks");
  if (paths.some((p) => p.metrics.includes("wrk"))) {
    need.set("wrk", "wrk");
    need.set("nginx", "nginx");
  }
  if (paths.some((p) => p.kind === "redsocks")) {
    need.set("redsocks", "redsocks");
    need.set("iptables", "iptables");
    need.set("iptables-save", "iptables");
  }
  const missing: string[] = [];
  for (const [bin, pkg] of need) {
    const r = await run(["sh", "-c", `command -v ${bin}`], { allowFail: true });
    if (r.code !== 0) missing.push(`${bin} (Debian package ${pkg})`);
  }
  if (missing.length > 0) {
    throw new Error(
      `Missing programs: ${missing.join(", ")}. Install with apt-get install ${
        [...new Set(missing.map((m) => m.replace(/.*package (\S+)\)/, "$1")))].join(" ")
      }`,
    );
  }
}

async function firstLine(argv: string[]): Promise<string> {
  const r = await run(argv, { allowFail: true });
  return (r.stdout || r.stderr).split("\n")[0]?.trim() ?? "";
}

async function loadAvg(): Promise<number[]> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).map(Number);
}

async function machineInfo(loadAvgAtStart: number[]): Promise<MachineInfo> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  const meminfo = await Deno.readTextFile("/proc/meminfo");
  return {
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    cores: navigator.hardwareConcurrency,
    memTotalKiB: Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0),
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    iperf3: await firstLine(["iperf3", "--version"]),
    danted: (await firstLine(["danted", "-v"])).replace(/\s+Copyright.*/, ""),
    redsocks: await firstLine(["dpkg-query", "-W", "-f", "redsocks ${Version}", "redsocks"]),
    gitCommit: await firstLine(["git", "-C", repoRoot, "describe", "--always", "--dirty"]),
    wrk: (await firstLine(["wrk", "--version"])).replace(/\s+Copyright.*/, ""),
    nginx: (await firstLine(["nginx", "-v"])).replace(/^nginx version:\s*/, ""),
    loadAvgAtStart,
    nofileLimit: maxNofile(),
  };
}

interface Ctx {
  args: BenchArgs;
  topo: Topology;
  services: Services;
  dir: string;
}

async function measurePath(ctx: Ctx, spec: PathSpec): Promise<PathResult> {
  const result: PathResult = {
    spec,
    status: "ok",
    throughput: [],
    crr: [],
    rss: [],
    violations: [],
    tools: {},
  };
  const { topo, services, args } = ctx;
  const active: ActivePath = { topo, services, repoRoot, tun: false };
  let socks: RunningSocks | undefined;
  let redsocks: RunningRedsocks | undefined;
  let tunbox: RunningTunbox | undefined;
  /** Set when the proxy died mid-row: the remaining measurements are skipped. */
  const proxyGone = (): string | undefined => {
    const p = tunbox?.proc ?? redsocks?.proc;
    if (p?.exited) {
      return `${p.label} exited during the run (status ${p.exited.code}): ${tail(p.stderr)}`;
    }
    if (socks?.proc.exited) {
      return `${socks.kind} exited during the run: ${tail(socks.proc.stderr)}`;
    }
    return undefined;
  };
  try {
    try {
      if (spec.socks) {
        socks = await startSocks(topo.client, spec.socks, ctx.dir);
        active.socksPid = socks.proc.pid;
      }
      if (spec.kind === "socks-direct" && socks) {
        active.clientSocks = { hostname: "127.0.0.1", port: socks.port };
      }
      if (spec.kind === "redsocks") {
        redsocks = await startRedsocks(topo.client, NET.socksPort, ctx.dir);
        active.proxyPid = redsocks.proc.pid;
      }
      if (spec.kind === "tunbox") {
        tunbox = await startTunbox(topo.client, {
          stack: spec.stack!,
          mtu: spec.mtu!,
          socksPort: NET.socksPort,
          repoRoot,
          dir: ctx.dir,
          probeAddr: NET.serviceAddr,
          ...(spec.v8Flags === undefined ? {} : { v8Flags: spec.v8Flags }),
          ...(spec.workers === undefined ? {} : { workers: spec.workers }),
        });
        active.proxyPid = tunbox.proc.pid;
        active.tun = true;
      }
    } catch (e) {
      result.status = "failed";
      result.error = errText(e);
      log(`${spec.label}: ${result.error}`);
      return result;
    }
    const m = spec.metrics;
    if (m.includes("rss")) {
      await new Promise((r) => setTimeout(r, 1000));
      result.rss.push(measureIdleRss(active));
      result.tools.rss = "deno-hold (bench/e2e/tools/client.ts hold)";
    }
    if (m.includes("throughput")) {
      result.tools.throughput = spec.throughputTool === "iperf3"
        ? "iperf3 -J"
        : "deno-bulk (bench/e2e/tools/client.ts bulk)";
      for (const s of THROUGHPUT_SERIES) {
        const gone = proxyGone();
        if (gone) {
          result.throughput.push({ ok: false, error: gone });
          continue;
        }
        log(`${spec.label}: ${s.legend} (${spec.throughputTool}, ${args.durationSeconds} s)`);
        const r = await measureThroughput(
          active,
          spec.throughputTool,
          s.direction,
          s.streams,
          args.durationSeconds,
        );
        result.throughput.push(r);
        if (r.ok) {
          log(`  ${r.value.gbps.toFixed(2)} Gbit/s`);
          if (active.tun && !(r.value.tunPacketsPerSecond! > 0)) {
            result.violations.push(
              `${s.title}: no packets crossed ${"tunbox0"}; the traffic bypassed tunbox`,
            );
          }
        } else log(`  failed: ${r.error}`);
      }
    }
    if (m.includes("latency")) {
      result.tools.latency = "deno-rr (bench/e2e/tools/client.ts rr)";
      const gone = proxyGone();
      log(`${spec.label}: request/response latency`);
      result.latency = gone
        ? { ok: false, error: gone }
        : await measureLatency(active, args.rrCount);
      if (result.latency.ok) {
        log(
          `  p50 ${result.latency.value.p50Us.toFixed(0)} µs, p99 ${
            result.latency.value.p99Us.toFixed(0)
          } µs`,
        );
      } else log(`  failed: ${result.latency.error}`);
    }
    if (m.includes("crr")) {
      result.tools.crr = "deno-crr (bench/e2e/tools/client.ts crr)";
      for (const concurrency of [1, 8]) {
        const gone = proxyGone();
        log(`${spec.label}: new connections/s, ${concurrency} loop(s)`);
        const r = gone
          ? { ok: false as const, error: gone }
          : await measureCrr(active, concurrency, Math.min(args.durationSeconds, 5));
        result.crr.push(r);
        log(
          r.ok
            ? `  ${r.value.perSecond.toFixed(0)}/s (${r.value.failures} failed)`
            : `  failed: ${r.error}`,
        );
      }
    }
    if (m.includes("rss")) {
      const gone = proxyGone();
      log(`${spec.label}: RSS with ${args.conns.join(", ")} open connections`);
      if (gone) result.rss.push({ target: args.conns[0] ?? 0, opened: 0, error: gone });
      else {
        const points = await measureLoadedRss(
          active,
          args.conns,
          args.quick ? 60_000 : 180_000,
          args.settleSeconds,
        );
        const said = tail((tunbox?.proc ?? redsocks?.proc)?.stderr ?? "", 3, 300);
        for (const p of points) if (p.error && said) p.error += `; proxy stderr: ${said}`;
        result.rss.push(...points);
        for (const p of points) {
          log(
            `  ${p.opened}/${p.target}: proxy RSS ${p.proxyRssKiB ?? "–"} KiB, SOCKS PSS ${
              p.socksPssKiB ?? "–"
            } KiB in ${p.socksProcesses ?? "–"} processes${
              p.settledSeconds !== undefined ? `, ${p.settledSeconds} s after closing` : ""
            }${p.error ? ` (${p.error})` : ""}`,
          );
        }
      }
    }
    if (m.includes("wrk")) {
      result.tools.wrk = "wrk --latency against nginx (Debian)";
      const gone = proxyGone();
      if (gone) result.wrk = { runs: [{ ok: false, error: gone }], settleSeconds: 0 };
      else {
        result.wrk = await measureWrk(topo.client, active.proxyPid, {
          keepAliveConns: args.wrkConns[0],
          closeConns: args.wrkConns[1],
          seconds: args.durationSeconds,
          settleSeconds: args.settleSeconds,
          log: (line) => log(`${spec.label}: ${line.trimStart()}`),
        });
      }
    }
    const gone = proxyGone();
    if (gone) result.violations.push(gone);
  } finally {
    if (tunbox) {
      const problems = await tunbox.stop();
      for (const p of problems) {
        console.error(`\n!!!!!!!! VIOLATION (${spec.label}) !!!!!!!!\n${p}\n`);
        result.violations.push(p);
      }
    }
    if (redsocks) result.violations.push(...await redsocks.stop());
    if (socks) {
      // danted forks; children it leaves behind would keep the port. End them by PID.
      const tree = processTree(socks.proc.pid);
      await socks.proc.stop(5000);
      for (const pid of tree.slice(1)) {
        if (readProcStat(pid)?.comm !== socks.kind) continue;
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* already gone */ }
      }
    }
  }
  return result;
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}_${p(d.getHours())}${
    p(d.getMinutes())
  }${p(d.getSeconds())}`;
}

async function main(): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseArgs(Deno.args);
  } catch (e) {
    console.error(errText(e));
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (Deno.uid() !== 0) {
    console.error("bench:e2e creates network namespaces and must run as root");
    return 2;
  }
  const paths = selectPaths(args);
  await requireTools(paths);
  const started = new Date();
  const load0 = await loadAvg();
  // Recorded before the run: others may commit to the checkout while it goes on.
  const machine = await machineInfo(load0);
  if ((load0[0] ?? 0) > 0.5) {
    log(
      `warning: load average ${
        load0.join(" ")
      } at start: other work on this machine will skew the numbers`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "tb-bench-" });
  let topo: Topology | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    cleaning ??= (async () => {
      await topo?.destroy();
      if (Deno.env.get("BENCH_KEEP_TMP")) console.error(`kept configs and logs in ${dir}`);
      else await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
  const onSignal = () => {
    console.error("\ninterrupted: stopping processes and deleting namespaces");
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const results: PathResult[] = [];
  try {
    topo = await Topology.create();
    log(`namespaces ${topo.client.name} (client) and ${topo.server.name} (server)`);
    const services = new Services(topo.server, repoRoot);
    await services.start();
    if (paths.some((p) => p.metrics.includes("wrk"))) await startNginx(topo.server, dir);
    for (const spec of paths) results.push(await measurePath({ args, topo, services, dir }, spec));
  } finally {
    await cleanup();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  const report: Report = {
    date: started.toISOString(),
    options: {
      quick: args.quick,
      durationSeconds: args.durationSeconds,
      stacks: args.stacks,
      mtus: args.mtus,
      only: args.only,
      conns: args.conns,
      rrCount: args.rrCount,
      rrWarmup: RR_WARMUP,
      settleSeconds: args.settleSeconds,
      wrkConns: args.wrkConns,
    },
    machine,
    paths: results,
  };
  const outDir = args.outDir.startsWith("/") ? args.outDir : `${repoRoot}/${args.outDir}`;
  await Deno.mkdir(outDir, { recursive: true });
  const base = `${outDir}/${stamp(started)}`;
  const md = renderMarkdown(report);
  await Deno.writeTextFile(`${base}.json`, JSON.stringify(report, null, 2) + "\n");
  await Deno.writeTextFile(`${base}.md`, md);
  await Deno.writeTextFile(`${base}.svg`, renderSvg(report));
  // Keep the results in the repository's format (`deno task check` runs `deno fmt --check`).
  await run([Deno.execPath(), "fmt", "--quiet", `${base}.md`, `${base}.json`, `${base}.svg`], {
    allowFail: true,
    cwd: repoRoot,
  });
  console.log("\n" + await Deno.readTextFile(`${base}.md`).catch(() => md));
  console.log(`Wrote ${base}.json, ${base}.md, ${base}.svg`);
  const violations = results.flatMap((r) => r.violations.map((v) => `${r.spec.label}: ${v}`));
  if (violations.length > 0) {
    console.error(
      `\n!!!!!!!! ${violations.length} VIOLATION(S) !!!!!!!!\n${violations.join("\n")}`,
    );
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
