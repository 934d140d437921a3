/**
 * The measurements, run against one active path.
 *
 * @module
 */

import { parseIperf3Json } from "./iperf3.ts";
import { maxNofile, type Netns, type NsProcess, tail } from "./netns.ts";
import { readRssKiB, treeCpuSeconds, treeMemory } from "./procfs.ts";
import { NET, type Topology } from "./topology.ts";
import { tunPackets } from "./tunbox.ts";
import type { CrrResult, LatencyResult, Measured, RssPoint, ThroughputRun } from "./types.ts";

/** The running services in the server namespace. */
export class Services {
  #iperf: NsProcess | undefined;

  /** @param ns the server namespace. @param repoRoot for the Deno tool path. */
  constructor(readonly ns: Netns, readonly repoRoot: string) {}

  /** Starts iperf3 and the Deno echo/hold/bulk server; resolves once both listen. */
  async start(): Promise<void> {
    const srv = this.ns.spawn("tcp services", [
      "deno",
      "run",
      "-A",
      "bench/e2e/tools/server.ts",
      "--host",
      NET.serviceAddr,
      "--echo",
      String(NET.echoPort),
      "--hold",
      String(NET.holdPort),
      "--bulk",
      String(NET.bulkPort),
    ], { cwd: this.repoRoot });
    const lines = await srv.waitLines(1, 30_000);
    if (lines[0] !== "ready") {
      throw new Error(`Deno TCP services did not start: ${tail(srv.stderr + srv.stdout)}`);
    }
    await this.restartIperf();
  }

  /** (Re)starts `iperf3 -s` (a failed test can leave it busy). */
  async restartIperf(): Promise<void> {
    if (this.#iperf) await this.#iperf.stop(2000);
    this.#iperf = this.ns.spawn("iperf3 server", [
      "iperf3",
      "-s",
      "-B",
      NET.serviceAddr,
      "-p",
      String(NET.iperfPort),
    ]);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const out = await this.ns.exec(["ss", "-Htln", `sport = :${NET.iperfPort}`], {
        allowFail: true,
      });
      if (out.stdout.trim() !== "") return;
      if (this.#iperf.exited) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`iperf3 server did not start: ${tail(this.#iperf.stderr)}`);
  }
}

/** What the measurements need to know about the path under test. */
export interface ActivePath {
  topo: Topology;
  services: Services;
  repoRoot: string;
  /** Set when the tools must speak SOCKS5 themselves (socks-direct rows). */
  clientSocks?: { hostname: string; port: number };
  /** The proxy process measured for CPU and RSS (tunbox or redsocks). */
  proxyPid?: number;
  /** The SOCKS server's main PID (its process tree is counted). */
  socksPid?: number;
  /** True when traffic crosses tunbox's TUN device. */
  tun: boolean;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function lastJson(text: string): Record<string, unknown> {
  const lines = text.trim().split("\n").filter((l) => l.startsWith("{"));
  const last = lines[lines.length - 1];
  if (last === undefined) throw new SyntaxError("the tool printed no result");
  return JSON.parse(last) as Record<string, unknown>;
}

/** Runs the Deno client tool in the client namespace and returns its last JSON line. */
async function runClient(
  p: ActivePath,
  argv: string[],
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const socks = p.clientSocks ? ["--socks", `${p.clientSocks.hostname}:${p.clientSocks.port}`] : [];
  const out = await p.topo.client.exec(
    [
      "prlimit",
      `--nofile=${maxNofile()}:${maxNofile()}`,
      "--",
      "deno",
      "run",
      "-A",
      "bench/e2e/tools/client.ts",
      ...argv,
      ...socks,
    ],
    { allowFail: true, timeoutMs, cwd: p.repoRoot },
  );
  if (out.code !== 0) {
    throw new Error(
      `client ${argv[0]} failed (status ${out.code}): ${tail(out.stderr || out.stdout)}`,
    );
  }
  return lastJson(out.stdout);
}

function cpuOf(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : treeCpuSeconds(pid);
}

/** One throughput test with `tool`, measuring the proxy's and SOCKS server's CPU around it. */
export async function measureThroughput(
  p: ActivePath,
  tool: "iperf3" | "deno-bulk",
  direction: "upload" | "download",
  streams: number,
  durationSeconds: number,
): Promise<Measured<ThroughputRun>> {
  const proxy0 = cpuOf(p.proxyPid);
  const socks0 = cpuOf(p.socksPid);
  const pkts0 = p.tun ? await tunPackets(p.topo.client) : undefined;
  let run: ThroughputRun;
  try {
    if (tool === "iperf3") {
      const args = [
        "iperf3",
        "-c",
        NET.serviceAddr,
        "-p",
        String(NET.iperfPort),
        "-t",
        String(durationSeconds),
        "-J",
      ];
      if (streams > 1) args.push("-P", String(streams));
      if (direction === "download") args.push("-R");
      const out = await p.topo.client.exec(args, {
        allowFail: true,
        timeoutMs: durationSeconds * 1000 + 30_000,
      });
      let r;
      try {
        r = parseIperf3Json(out.stdout);
      } catch (e) {
        await p.services.restartIperf();
        throw new Error(`${errText(e)} ${tail(out.stderr)}`);
      }
      run = {
        direction,
        streams: r.streams,
        tool,
        gbps: r.gbps,
        bytes: r.bytes,
        seconds: r.seconds,
        intervalsGbps: r.intervalsGbps,
      };
      if (r.retransmits !== undefined) run.retransmits = r.retransmits;
    } else {
      const j = await runClient(p, [
        "bulk",
        "--target",
        `${NET.serviceAddr}:${NET.bulkPort}`,
        "--mode",
        direction === "upload" ? "up" : "down",
        "--duration",
        String(durationSeconds * 1000),
        "--streams",
        String(streams),
      ], durationSeconds * 1000 + 60_000);
      run = {
        direction,
        streams,
        tool,
        gbps: Number(j.gbps),
        bytes: Number(j.bytes),
        seconds: Number(j.seconds),
      };
    }
  } catch (e) {
    return { ok: false, error: errText(e) };
  }
  const gb = run.bytes / 1e9;
  const proxy1 = cpuOf(p.proxyPid);
  const socks1 = cpuOf(p.socksPid);
  if (proxy0 !== undefined && proxy1 !== undefined) {
    run.proxyCpuSeconds = proxy1 - proxy0;
    if (gb > 0) run.proxyCpuSecondsPerGB = run.proxyCpuSeconds / gb;
  }
  if (socks0 !== undefined && socks1 !== undefined) {
    run.socksCpuSeconds = socks1 - socks0;
    if (gb > 0) run.socksCpuSecondsPerGB = run.socksCpuSeconds / gb;
  }
  if (pkts0 !== undefined) {
    const pkts1 = await tunPackets(p.topo.client);
    if (pkts1 !== undefined) run.tunPacketsPerSecond = (pkts1 - pkts0) / run.seconds;
  }
  return { ok: true, value: run };
}

/**
 * Round trips made before the measured ones, on every path. A freshly started tunbox optimizes its
 * per-packet path (V8's optimizing compiler) during its first thousand or so round trips: with 200
 * warm-up round trips, half of a `--quick` sample (2,000) fell in that phase, and 44 of the 89
 * round trips slower than 3× p50 in one 5,000-sample gvisor run came in its first 500 (p99/p50 5.7,
 * 2.5 once the first 2,000 were left out; redsocks 2.3 in the same run). A proxy serves its
 * steady state; 2,000 round trips (about 0.5 s) reach it.
 */
export const RR_WARMUP = 2000;

/** Request/response latency: `count` sequential round trips of 64 bytes over one connection. */
export async function measureLatency(
  p: ActivePath,
  count: number,
): Promise<Measured<LatencyResult>> {
  try {
    const j = await runClient(p, [
      "rr",
      "--target",
      `${NET.serviceAddr}:${NET.echoPort}`,
      "--count",
      String(count),
      "--warmup",
      String(RR_WARMUP),
      "--size",
      "64",
    ], 120_000);
    return {
      ok: true,
      value: {
        tool: String(j.tool),
        size: Number(j.size),
        count: Number(j.count),
        minUs: Number(j.min),
        meanUs: Number(j.mean),
        p50Us: Number(j.p50),
        p90Us: Number(j.p90),
        p99Us: Number(j.p99),
        maxUs: Number(j.max),
        tps: Number(j.tps),
      },
    };
  } catch (e) {
    return { ok: false, error: errText(e) };
  }
}

/** New connections per second with `concurrency` loops for `seconds`. */
export async function measureCrr(
  p: ActivePath,
  concurrency: number,
  seconds: number,
): Promise<Measured<CrrResult>> {
  try {
    const j = await runClient(p, [
      "crr",
      "--target",
      `${NET.serviceAddr}:${NET.echoPort}`,
      "--duration",
      String(seconds * 1000),
      "--concurrency",
      String(concurrency),
    ], seconds * 1000 + 120_000);
    const r: CrrResult = {
      tool: String(j.tool),
      concurrency: Number(j.concurrency),
      connections: Number(j.connections),
      failures: Number(j.failures),
      seconds: Number(j.seconds),
      perSecond: Number(j.perSecond),
    };
    if (typeof j.firstError === "string") r.firstError = j.firstError;
    if (typeof j.timeouts === "number") r.timeouts = j.timeouts;
    return { ok: true, value: r };
  } catch (e) {
    return { ok: false, error: errText(e) };
  }
}

function rssPoint(p: ActivePath, target: number, opened: number): RssPoint {
  const point: RssPoint = { target, opened };
  if (p.proxyPid !== undefined) {
    const rss = readRssKiB(p.proxyPid);
    if (rss !== undefined) point.proxyRssKiB = rss;
  }
  if (p.socksPid !== undefined) {
    const mem = treeMemory(p.socksPid);
    point.socksPssKiB = mem.pssKiB;
    point.socksRssKiB = mem.rssKiB;
    point.socksProcesses = mem.processes;
  }
  return point;
}

/** RSS of the proxy and the SOCKS server with no connections open. */
export function measureIdleRss(p: ActivePath): RssPoint {
  return rssPoint(p, 0, 0);
}

/**
 * Opens connections through the path to the hold service, reading RSS at each of `steps`
 * open connections; reports how far it got when a step cannot be reached. Then closes them all
 * and, when `settleSeconds` is given, reads RSS once more that long after (target 0).
 */
export async function measureLoadedRss(
  p: ActivePath,
  steps: number[],
  stepTimeoutMs: number,
  settleSeconds?: number,
): Promise<RssPoint[]> {
  const socks = p.clientSocks ? ["--socks", `${p.clientSocks.hostname}:${p.clientSocks.port}`] : [];
  const holder = p.topo.client.spawn("hold client", [
    "deno",
    "run",
    "-A",
    "bench/e2e/tools/client.ts",
    "hold",
    "--target",
    `${NET.serviceAddr}:${NET.holdPort}`,
    "--steps",
    steps.join(","),
    "--concurrency",
    "64",
    "--step-timeout",
    String(stepTimeoutMs),
    ...socks,
  ], { stdin: true, cwd: p.repoRoot, nofile: 262144 });
  const points: RssPoint[] = [];
  try {
    for (let i = 0; i < steps.length; i++) {
      const target = steps[i]!;
      const lines = (await holder.waitLines(i + 1, stepTimeoutMs + 30_000)).filter((l) =>
        l.startsWith("{")
      );
      const line = lines[i];
      if (line === undefined) {
        points.push({
          target,
          opened: 0,
          error: `hold client gave no result: ${tail(holder.stderr)}`,
        });
        break;
      }
      const j = JSON.parse(line) as {
        opened: number;
        failures: number;
        timedOut?: boolean;
        seconds: number;
        firstError?: string;
      };
      // Let the proxy settle (lazy buffers, worker hand-offs) before reading memory.
      await new Promise((r) => setTimeout(r, 500));
      const point = rssPoint(p, target, j.opened);
      if (j.opened < target) {
        point.error = `opened ${j.opened} of ${target}` +
          (j.timedOut ? ` when the step's ${Math.round(j.seconds)} s ran out` : "") +
          (j.firstError ? `; first error: ${j.firstError}` : "") + ` (${j.failures} failures)`;
      }
      points.push(point);
      if (j.opened < target) break;
      await holder.writeLine("next");
    }
  } finally {
    await holder.stop(10_000);
  }
  if (settleSeconds !== undefined && points.length > 0) {
    await new Promise((r) => setTimeout(r, settleSeconds * 1000));
    points.push({ ...rssPoint(p, 0, 0), settledSeconds: settleSeconds });
  }
  return points;
}
