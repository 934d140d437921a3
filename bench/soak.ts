/**
 * `deno task soak`: tunbox under a mixed load for a long time (default 10 minutes), reading its
 * memory and descriptors every 10 s. Opt-in (not part of `deno task test`); needs root.
 *
 * The load, all through tunbox's TUN in the bench topology (`bench/e2e/topology.ts`):
 * - long flows: 1,000 TCP connections to the hold service through danted, each sending a byte
 *   every 5 s;
 * - churn: 4 loops of connect, 1-byte echo, close, through danted;
 * - UDP: 200 sessions (routed `direct`) sending 32 bytes a second to a UDP echo service, the
 *   oldest replaced by a new one (new source port) every 100 ms.
 *
 * After the load it waits `--settle` seconds and reads RSS again. Writes
 * `bench/results/soak-<date>.{json,md,svg}` (a table and a chart of RSS and descriptors).
 *
 * ```sh
 * deno task soak                                # 600 s, stack mixed
 * deno task soak --duration 120 --settle 30 --stack gvisor
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type NsProcess, run, tail } from "./e2e/netns.ts";
import { readRssKiB } from "./e2e/procfs.ts";
import { startSocks } from "./e2e/proxies.ts";
import { niceMax, xmlEscape } from "./e2e/render_svg.ts";
import { NET, Topology } from "./e2e/topology.ts";
import { startTunbox, tunboxConfig } from "./e2e/tunbox.ts";
import type { Stack } from "./e2e/types.ts";

const repoRoot = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const UDP_ECHO_PORT = 7003;

/** One reading. */
export interface SoakSample {
  /** Seconds since the load started (negative: before; after the end: settling). */
  t: number;
  phase: "idle" | "load" | "settle";
  rssKiB: number;
  fds: number;
  threads: number;
}

/** The whole soak report. */
export interface SoakReport {
  date: string;
  stack: Stack;
  durationSeconds: number;
  settleSeconds: number;
  load: { flows: number; churnLoops: number; udpSessions: number };
  loadAvgAtStart: number[];
  gitCommit: string;
  samples: SoakSample[];
  /** Final lines of the load tools (their JSON results). */
  results: Record<string, string>;
}

function fdCount(pid: number): number {
  let n = 0;
  try {
    for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  } catch { /* gone */ }
  return n;
}

function threadCount(pid: number): number {
  try {
    return Number(/^Threads:\s+(\d+)/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1]);
  } catch {
    return 0;
  }
}

/** The markdown table of `report`. */
export function renderSoakMarkdown(r: SoakReport): string {
  const idle = r.samples.find((s) => s.phase === "idle");
  const load = r.samples.filter((s) => s.phase === "load");
  const last = r.samples[r.samples.length - 1];
  const peak = Math.max(...load.map((s) => s.rssKiB), 0);
  const mib = (k: number | undefined) => k === undefined ? "–" : (k / 1024).toFixed(1);
  const lines = [
    `# tunbox soak, ${r.date}`,
    "",
    `Stack ${r.stack}; ${r.durationSeconds} s of load: ${r.load.flows} long TCP flows (a byte ` +
    `every 5 s each), ${r.load.churnLoops} connect/echo/close loops, ${r.load.udpSessions} UDP ` +
    `sessions (one replaced every 100 ms); then ${r.settleSeconds} s idle. tunbox ${r.gitCommit}; ` +
    `load average at start ${r.loadAvgAtStart.join(" ")}.`,
    "",
    `RSS idle ${mib(idle?.rssKiB)} MiB, peak under load ${mib(peak)} MiB, ${r.settleSeconds} s ` +
    `after the load ${mib(last?.rssKiB)} MiB (${
      idle && last ? `${((last.rssKiB - idle.rssKiB) / 1024).toFixed(1)} MiB over idle` : "–"
    }); descriptors idle ${idle?.fds ?? "–"}, at the end ${last?.fds ?? "–"}.`,
    "",
    "| t (s) | phase | RSS MiB | descriptors | threads |",
    "| --- | --- | --- | --- | --- |",
    ...r.samples.map((s) => `| ${s.t} | ${s.phase} | ${mib(s.rssKiB)} | ${s.fds} | ${s.threads} |`),
    "",
  ];
  for (const [tool, line] of Object.entries(r.results)) lines.push(`- ${tool}: \`${line}\``);
  lines.push("");
  return lines.join("\n");
}

/** A line chart of RSS (MiB, left axis) and descriptors (right axis) over time. */
export function renderSoakSvg(r: SoakReport): string {
  const w = 760, h = 320, left = 60, right = 60, top = 40, bottom = 40;
  const pw = w - left - right, ph = h - top - bottom;
  const ts = r.samples.map((s) => s.t);
  const t0 = Math.min(...ts, 0), t1 = Math.max(...ts, 1);
  const rssMax = niceMax(Math.max(...r.samples.map((s) => s.rssKiB / 1024), 1));
  const fdMax = niceMax(Math.max(...r.samples.map((s) => s.fds), 1));
  const x = (t: number) => left + (t - t0) / (t1 - t0) * pw;
  const yR = (v: number) => top + ph - v / rssMax * ph;
  const yF = (v: number) => top + ph - v / fdMax * ph;
  const path = (pts: [number, number][]) =>
    pts.map(([a, b], i) => `${i ? "L" : "M"}${a.toFixed(1)},${b.toFixed(1)}`).join(" ");
  const rss = path(r.samples.map((s) => [x(s.t), yR(s.rssKiB / 1024)]));
  const fds = path(r.samples.map((s) => [x(s.t), yF(s.fds)]));
  const loadEnd = x(r.durationSeconds);
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="13">${
      xmlEscape(`tunbox ${r.stack} soak: RSS (MiB, blue) and descriptors (orange)`)
    }</text>`,
    `<rect x="${x(0).toFixed(1)}" y="${top}" width="${
      (loadEnd - x(0)).toFixed(1)
    }" height="${ph}" fill="#f3f3f3"/>`,
    ...ticks.map((f) =>
      `<line x1="${left}" x2="${left + pw}" y1="${top + ph - f * ph}" y2="${
        top + ph - f * ph
      }" stroke="#ddd"/>` +
      `<text x="${left - 6}" y="${top + ph - f * ph + 4}" text-anchor="end">${
        (f * rssMax).toFixed(0)
      }</text>` +
      `<text x="${left + pw + 6}" y="${top + ph - f * ph + 4}">${(f * fdMax).toFixed(0)}</text>`
    ),
    ...ticks.map((f) =>
      `<text x="${left + f * pw}" y="${h - bottom + 16}" text-anchor="middle">${
        (t0 + f * (t1 - t0)).toFixed(0)
      } s</text>`
    ),
    `<path class="rss" d="${rss}" fill="none" stroke="#1f6fb2" stroke-width="2"/>`,
    `<path class="fds" d="${fds}" fill="none" stroke="#e07b22" stroke-width="2"/>`,
    `</svg>`,
    "",
  ].join("\n");
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}_${p(d.getHours())}${
    p(d.getMinutes())
  }${p(d.getSeconds())}`;
}

function lastLine(p: NsProcess): string {
  return p.stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop() ??
    `(no result) ${tail(p.stderr, 2, 200)}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      duration: { type: "string", default: "600" },
      settle: { type: "string", default: "60" },
      interval: { type: "string", default: "10" },
      stack: { type: "string", default: "mixed" },
      flows: { type: "string", default: "1000" },
      udp: { type: "string", default: "200" },
      churn: { type: "string", default: "4" },
      out: { type: "string", default: "bench/results" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "Usage: deno task soak [--duration 600] [--settle 60] [--interval 10] [--stack mixed]\n" +
        "       [--flows 1000] [--udp 200] [--churn 4] [--out bench/results]",
    );
    return 0;
  }
  if (Deno.uid() !== 0) {
    console.error("soak creates network namespaces and must run as root");
    return 2;
  }
  const stack = values.stack as Stack;
  if (!["system", "gvisor", "mixed"].includes(stack)) {
    console.error(`--stack: unknown value "${stack}" (expected system, gvisor, mixed)`);
    return 2;
  }
  const duration = Number(values.duration);
  const settle = Number(values.settle);
  const every = Number(values.interval);
  const flows = Number(values.flows);
  const udpSessions = Number(values.udp);
  const churnLoops = Number(values.churn);
  const started = new Date();
  const loadAvgAtStart = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).map(
    Number,
  );
  const gitCommit =
    (await run(["git", "-C", repoRoot, "describe", "--always", "--dirty"], { allowFail: true }))
      .stdout.trim();
  const dir = await Deno.makeTempDir({ prefix: "tb-soak-" });
  let topo: Topology | undefined;
  const cleanup = async () => {
    await topo?.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const onSignal = () => {
    console.error("\ninterrupted: stopping processes and deleting namespaces");
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const samples: SoakSample[] = [];
  const results: Record<string, string> = {};
  try {
    topo = await Topology.create();
    const client = topo.client;
    const srv = topo.server.spawn("services", [
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
      "--udp-echo",
      String(UDP_ECHO_PORT),
    ], { cwd: repoRoot });
    if ((await srv.waitLines(1, 30_000))[0] !== "ready") {
      throw new Error(`services did not start: ${tail(srv.stderr)}`);
    }
    await startSocks(client, "danted", dir);
    // UDP goes direct (the SOCKS server is for TCP); TCP through danted.
    const base = tunboxConfig({ stack, mtu: 65535, socksPort: NET.socksPort }) as {
      outbounds: unknown[];
      route: Record<string, unknown>;
    };
    base.outbounds.push({ type: "direct", tag: "direct" });
    base.route.rules = [{ network: "udp", outbound: "direct" }];
    // Direct sockets must leave by veth-c, not loop back into the TUN.
    base.route.auto_detect_interface = true;
    const tunbox = await startTunbox(client, {
      stack,
      mtu: 65535,
      socksPort: NET.socksPort,
      repoRoot,
      dir,
      probeAddr: NET.serviceAddr,
      config: base,
    });
    const pid = tunbox.proc.pid;
    const sample = (t: number, phase: SoakSample["phase"]) => {
      const s: SoakSample = {
        t,
        phase,
        rssKiB: readRssKiB(pid) ?? 0,
        fds: fdCount(pid),
        threads: threadCount(pid),
      };
      samples.push(s);
      console.log(
        `» t=${t} s ${phase}: RSS ${
          (s.rssKiB / 1024).toFixed(1)
        } MiB, ${s.fds} descriptors, ${s.threads} threads`,
      );
    };
    await new Promise((r) => setTimeout(r, 2000));
    sample(0, "idle");
    const tool = (label: string, args: string[], stdin = false) =>
      client.spawn(label, ["deno", "run", "-A", "bench/e2e/tools/client.ts", ...args], {
        cwd: repoRoot,
        stdin,
      });
    const target = (port: number) => ["--target", `${NET.serviceAddr}:${port}`];
    const hold = tool("hold", [
      "hold",
      ...target(NET.holdPort),
      "--steps",
      String(flows),
      "--trickle",
      "5000",
      "--step-timeout",
      String(Math.max(60_000, duration * 1000)),
    ], true);
    const crr = tool("churn", [
      "crr",
      ...target(NET.echoPort),
      "--duration",
      String(duration * 1000),
      "--concurrency",
      String(churnLoops),
    ]);
    const udp = tool("udp", [
      "udp",
      ...target(UDP_ECHO_PORT),
      "--sessions",
      String(udpSessions),
      "--interval",
      "1000",
      "--churn",
      "100",
      "--duration",
      String(duration * 1000),
    ]);
    const t0 = Date.now();
    const at = async (s: number) =>
      await new Promise((r) => setTimeout(r, t0 + s * 1000 - Date.now()));
    for (let s = every; s <= duration; s += every) {
      await at(s);
      if (tunbox.proc.exited) throw new Error(`tunbox exited: ${tail(tunbox.proc.stderr)}`);
      sample(s, "load");
    }
    await hold.writeLine("stop");
    await Promise.all(
      [hold.status, crr.status, udp.status].map((p) =>
        Promise.race([p, new Promise((r) => setTimeout(r, 30_000))])
      ),
    );
    results.hold = lastLine(hold);
    results.churn = lastLine(crr);
    results.udp = lastLine(udp);
    for (const p of [hold, crr, udp]) await p.stop(5000);
    const t1 = Date.now();
    for (let s = every; s <= settle; s += every) {
      await new Promise((r) => setTimeout(r, t1 + s * 1000 - Date.now()));
      sample(duration + s, "settle");
    }
    if (settle % every !== 0 || settle < every) {
      await new Promise((r) => setTimeout(r, t1 + settle * 1000 - Date.now()));
      sample(duration + settle, "settle");
    }
    const problems = await tunbox.stop();
    for (const p of problems) console.error(`VIOLATION: ${p}`);
  } finally {
    await cleanup();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  const report: SoakReport = {
    date: started.toISOString(),
    stack,
    durationSeconds: duration,
    settleSeconds: settle,
    load: { flows, churnLoops, udpSessions },
    loadAvgAtStart,
    gitCommit,
    samples,
    results,
  };
  const outDir = values.out.startsWith("/") ? values.out : `${repoRoot}/${values.out}`;
  await Deno.mkdir(outDir, { recursive: true });
  const base = `${outDir}/soak-${stamp(started)}`;
  await Deno.writeTextFile(`${base}.json`, JSON.stringify(report, null, 2) + "\n");
  await Deno.writeTextFile(`${base}.md`, renderSoakMarkdown(report));
  await Deno.writeTextFile(`${base}.svg`, renderSoakSvg(report));
  await run([Deno.execPath(), "fmt", "--quiet", `${base}.md`, `${base}.json`, `${base}.svg`], {
    allowFail: true,
    cwd: repoRoot,
  });
  console.log("\n" + await Deno.readTextFile(`${base}.md`));
  console.log(`Wrote ${base}.json, ${base}.md, ${base}.svg`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
