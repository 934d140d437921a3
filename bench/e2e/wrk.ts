/**
 * Many-connection HTTP load: wrk (Debian) in the client namespace against nginx (Debian) in the
 * server namespace, with 1,000 keep-alive connections and with a new connection per request,
 * reading the proxy's RSS before, during and after the load.
 *
 * @module
 */

import { maxNofile, type Netns, type NsProcess, tail } from "./netns.ts";
import { machineBusySeconds, readRssKiB, treeCpuTimes } from "./procfs.ts";
import { tunPackets } from "./tunbox.ts";
import { NET } from "./topology.ts";
import type { Measured, WrkMode, WrkResult, WrkRun } from "./types.ts";

/** Port nginx listens on, on the service address. */
export const NGINX_PORT = 8080;

/** An nginx configuration serving a 3-byte 200 at `/` on `addr:port`, writing only under `dir`. */
export function nginxConfig(dir: string, addr: string, port: number): string {
  return `daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 262144;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 65536; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  server {
    listen ${addr}:${port} backlog=65535 reuseport;
    location / { return 200 "ok\\n"; }
  }
}
`;
}

/** Starts nginx in `ns` with {@linkcode nginxConfig}; resolves once it listens. */
export async function startNginx(ns: Netns, dir: string): Promise<NsProcess> {
  const conf = `${dir}/nginx.conf`;
  await Deno.writeTextFile(conf, nginxConfig(dir, NET.serviceAddr, NGINX_PORT));
  const proc = ns.spawn("nginx", ["nginx", "-e", `${dir}/nginx-error.log`, "-p", dir, "-c", conf]);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const out = await ns.exec(["ss", "-Htln", `sport = :${NGINX_PORT}`], { allowFail: true });
    if (out.stdout.trim() !== "") return proc;
    if (proc.exited) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const log = await Deno.readTextFile(`${dir}/nginx-error.log`).catch(() => "");
  throw new Error(`nginx did not start: ${tail(proc.stderr + "\n" + log)}`);
}

/** Microseconds in a wrk duration such as `312.45us`, `1.20ms`, `2.00s`, `1.5m`. */
export function wrkDurationUs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new SyntaxError(`not a wrk duration: "${text}"`);
  const scale = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 }[m[2] as "us"];
  return Number(m[1]) * scale;
}

/** What {@linkcode parseWrk} reads from `wrk --latency` output. */
export interface WrkOutput {
  requests: number;
  seconds: number;
  perSecond: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  errors: { connect: number; read: number; write: number; timeout: number; non2xx: number };
}

/**
 * Parses the text `wrk --latency` prints.
 *
 * @throws {SyntaxError} naming the missing part when the output has no summary.
 */
export function parseWrk(text: string): WrkOutput {
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(text);
  if (!done) throw new SyntaxError(`wrk printed no summary: ${tail(text)}`);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (!rps) throw new SyntaxError(`wrk printed no Requests/sec: ${tail(text)}`);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, "m").exec(text);
    if (!m) throw new SyntaxError(`wrk printed no ${p}% latency (run with --latency)`);
    return wrkDurationUs(m[1]!);
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(done[1]),
    seconds: wrkDurationUs(`${done[2]}${done[3]}`) / 1e6,
    perSecond: Number(rps[1]),
    p50Us: pct("50"),
    p90Us: pct("90"),
    p99Us: pct("99"),
    errors: {
      connect: Number(sock?.[1] ?? 0),
      read: Number(sock?.[2] ?? 0),
      write: Number(sock?.[3] ?? 0),
      timeout: Number(sock?.[4] ?? 0),
      non2xx: Number(non2xx?.[1] ?? 0),
    },
  };
}

/** The wrk command line for `mode` (`close` sends `Connection: close`: one request each). */
export function wrkArgv(
  mode: WrkMode,
  connections: number,
  seconds: number,
  threads = 2,
): string[] {
  const argv = [
    "wrk",
    "--latency",
    "-t",
    String(threads),
    "-c",
    String(connections),
    "-d",
    `${seconds}s`,
    "--timeout",
    "10s",
  ];
  if (mode === "close") argv.push("-H", "Connection: close");
  argv.push(`http://${NET.serviceAddr}:${NGINX_PORT}/`);
  return argv;
}

/** Options of one wrk measurement on a path. */
export interface WrkOptions {
  /** Connections for the keep-alive run. */
  keepAliveConns: number;
  /** Connections (loops) for the connection-per-request run. */
  closeConns: number;
  seconds: number;
  /** Seconds to wait after the load before the last RSS reading. */
  settleSeconds: number;
  /** Called with progress lines. */
  log: (line: string) => void;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function oneRun(
  client: Netns,
  proxyPid: number | undefined,
  mode: WrkMode,
  connections: number,
  seconds: number,
): Promise<Measured<WrkRun>> {
  const cpu0 = proxyPid === undefined ? undefined : treeCpuTimes(proxyPid);
  const machine0 = machineBusySeconds();
  const tun0 = await tunPackets(client);
  let peak: number | undefined;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const rss = proxyPid === undefined ? undefined : readRssKiB(proxyPid);
      if (rss !== undefined) peak = Math.max(peak ?? 0, rss);
      await sleep(250);
    }
  })();
  const nofile = Math.min(262144, maxNofile());
  const out = await client.exec(
    ["prlimit", `--nofile=${nofile}:${nofile}`, "--", ...wrkArgv(mode, connections, seconds)],
    { allowFail: true, timeoutMs: seconds * 1000 + 60_000 },
  );
  const machine1 = machineBusySeconds();
  sampling = false;
  await sampler;
  const tun1 = tun0 === undefined ? undefined : await tunPackets(client);
  if (out.code !== 0) {
    return { ok: false, error: `wrk exited with ${out.code}: ${tail(out.stderr || out.stdout)}` };
  }
  try {
    const w = parseWrk(out.stdout);
    const run: WrkRun = { mode, connections, ...w };
    if (peak !== undefined) run.proxyPeakRssKiB = peak;
    if (cpu0 !== undefined && proxyPid !== undefined) {
      const cpu1 = treeCpuTimes(proxyPid);
      run.proxyCpuSeconds = cpu1.total - cpu0.total;
      if (w.requests > 0) {
        run.proxyCpuUsPerRequest = run.proxyCpuSeconds / w.requests * 1e6;
        run.proxySystemCpuUsPerRequest = (cpu1.system - cpu0.system) / w.requests * 1e6;
      }
    }
    if (w.requests > 0) run.machineCpuUsPerRequest = (machine1 - machine0) / w.requests * 1e6;
    if (tun0 !== undefined && tun1 !== undefined && w.requests > 0) {
      run.tunPacketsPerRequest = (tun1 - tun0) / w.requests;
    }
    return { ok: true, value: run };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Idle RSS, a keep-alive run, a connection-per-request run, then RSS `settleSeconds` after the
 * load stopped. Without a proxy (the direct row) only the wrk figures are taken.
 */
export async function measureWrk(
  client: Netns,
  proxyPid: number | undefined,
  opts: WrkOptions,
): Promise<WrkResult> {
  const result: WrkResult = { runs: [], settleSeconds: opts.settleSeconds };
  if (proxyPid !== undefined) {
    // As the rss test does: a reading right after the TUN came up can precede the packet worker's
    // module loads (72.7 MiB against 102 a few seconds later, gvisor, 1 worker).
    await new Promise((r) => setTimeout(r, 1000));
    const idle = readRssKiB(proxyPid);
    if (idle !== undefined) result.idleRssKiB = idle;
  }
  const plan: [WrkMode, number][] = [["keepalive", opts.keepAliveConns], [
    "close",
    opts.closeConns,
  ]];
  for (const [mode, conns] of plan) {
    opts.log(`wrk ${mode}, ${conns} connections, ${opts.seconds} s`);
    const r = await oneRun(client, proxyPid, mode, conns, opts.seconds);
    result.runs.push(r);
    opts.log(
      r.ok
        ? `  ${r.value.perSecond.toFixed(0)} req/s, p50 ${r.value.p50Us.toFixed(0)} µs, p99 ${
          r.value.p99Us.toFixed(0)
        } µs, peak RSS ${r.value.proxyPeakRssKiB ?? "–"} KiB, proxy CPU ${
          r.value.proxyCpuUsPerRequest?.toFixed(1) ?? "–"
        } µs/req (kernel ${r.value.proxySystemCpuUsPerRequest?.toFixed(1) ?? "–"}), TUN ${
          r.value.tunPacketsPerRequest?.toFixed(2) ?? "–"
        } pkt/req`
        : `  failed: ${r.error}`,
    );
  }
  if (proxyPid !== undefined) {
    const t0 = Date.now();
    result.settled = [];
    // RSS every 10 s while the proxy settles, the last reading at settleSeconds.
    for (let s = 10; s < opts.settleSeconds; s += 10) {
      await sleep(t0 + s * 1000 - Date.now());
      const rss = readRssKiB(proxyPid);
      if (rss !== undefined) result.settled.push([s, rss]);
    }
    await sleep(t0 + opts.settleSeconds * 1000 - Date.now());
    const after = readRssKiB(proxyPid);
    if (after !== undefined) {
      result.afterRssKiB = after;
      result.settled.push([opts.settleSeconds, after]);
    }
    opts.log(`  RSS ${opts.settleSeconds} s after the load: ${after ?? "–"} KiB`);
  }
  return result;
}
