/**
 * The suite's Deno TCP client, run in the client namespace. Each subcommand prints one JSON
 * object per line on stdout (the last line is the result); errors go to stderr.
 *
 * - `rr --target H:P [--socks H:P] --count N --size B`: N sequential request/response round
 *   trips of B bytes over one connection; per-round-trip latency summary in µs.
 * - `crr --target H:P [--socks H:P] --duration MS --concurrency C`: connect, exchange 1 byte,
 *   close, repeated by C loops for MS milliseconds; connections per second.
 * - `hold --target H:P [--socks H:P] --steps 1000,10000 [--concurrency C] [--step-timeout MS]`:
 *   opens connections (each exchanges 1 byte, then stays open) up to each step's total, prints
 *   a line per step and waits for a line on stdin before the next step; closes all at the end.
 *   With `--trickle MS`, after the last step every connection writes one byte each MS
 *   (staggered) until the line on stdin: long flows that carry data.
 * - `bulk --target H:P [--socks H:P] --mode up|down --duration MS --streams N`: bulk transfer
 *   against the bulk service; Gbps as seen by the receiving side.
 * - `udp --target H:P --sessions N --interval MS --duration MS [--churn MS]`: N UDP sessions
 *   (a socket each) send 32 bytes every MS to an echo service; every `--churn` MS the oldest
 *   session is closed and a new one opened (a new source port); prints a line every 10 s and
 *   a result with datagrams sent and echoed.
 *
 * @module
 */

import { createSocket, type Socket } from "node:dgram";
import { summarize } from "../stats.ts";
import { readExact, socks5Connect, writeAll } from "./socket_io.ts";

function hostPort(s: string | undefined, flag: string): { hostname: string; port: number } {
  const m = s === undefined ? null : /^(.+):(\d+)$/.exec(s);
  if (!m) throw new TypeError(`${flag} must be HOST:PORT, got "${s}"`);
  return { hostname: m[1]!, port: Number(m[2]) };
}

const [command, ...rest] = Deno.args;
const opts = new Map<string, string>();
for (let i = 0; i + 1 < rest.length; i += 2) opts.set(rest[i]!, rest[i + 1]!);
const target = hostPort(opts.get("--target"), "--target");
const socks = opts.has("--socks") ? hostPort(opts.get("--socks"), "--socks") : undefined;
const num = (flag: string, dflt: number): number => {
  const v = opts.get(flag);
  return v === undefined ? dflt : Number(v);
};

/** Connects to the target, directly or through SOCKS5, with Nagle off. */
async function dial(): Promise<Deno.TcpConn> {
  const conn = socks
    ? await socks5Connect(socks, target)
    : await Deno.connect({ ...target, transport: "tcp" });
  conn.setNoDelay(true);
  return conn;
}

function emit(obj: unknown): void {
  console.log(JSON.stringify(obj));
}

function errText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

async function rr(): Promise<void> {
  const count = num("--count", 5000);
  const size = num("--size", 64);
  const warmup = num("--warmup", 200);
  const conn = await dial();
  const req = new Uint8Array(size).fill(0x61);
  const resp = new Uint8Array(size);
  const samples = new Float64Array(count);
  const t0 = performance.now();
  for (let i = -warmup; i < count; i++) {
    const s = performance.now();
    await writeAll(conn, req);
    await readExact(conn, size, resp);
    if (i >= 0) samples[i] = (performance.now() - s) * 1000;
  }
  const elapsed = (performance.now() - t0) / 1000;
  conn.close();
  const sum = summarize(samples);
  emit({ tool: "deno-rr", size, ...sum, tps: (count + warmup) / elapsed });
}

/** A connection attempt that did not finish in time. */
class AttemptTimeout extends Error {
  override name = "AttemptTimeout";
}

/**
 * Connects, sends one byte and reads one byte back, within `timeoutMs`; returns the open
 * connection. On timeout the attempt's connection is closed (now, or when it completes).
 */
async function exchangeOnce(timeoutMs: number): Promise<Deno.TcpConn> {
  let timedOut = false;
  let conn: Deno.TcpConn | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const buf = new Uint8Array(1);
  const attempt = (async () => {
    const c = await dial();
    conn = c;
    if (timedOut) {
      c.close();
      throw new AttemptTimeout("closed after the timeout");
    }
    try {
      await writeAll(c, buf);
      await readExact(c, 1, buf);
    } catch (e) {
      try {
        c.close();
      } catch { /* closed */ }
      throw e;
    }
    return c;
  })();
  attempt.catch(() => {});
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      try {
        conn?.close();
      } catch { /* closed */ }
      reject(new AttemptTimeout(`connect and 1-byte echo did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function crr(): Promise<void> {
  const duration = num("--duration", 3000);
  const concurrency = num("--concurrency", 1);
  const attemptTimeout = num("--attempt-timeout", 5000);
  let ok = 0;
  let failures = 0;
  let timeouts = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const end = t0 + duration;
  const loop = async () => {
    while (performance.now() < end && failures < 1000) {
      try {
        const conn = await exchangeOnce(attemptTimeout);
        conn.close();
        ok++;
      } catch (e) {
        failures++;
        if (e instanceof AttemptTimeout) timeouts++;
        firstError ??= errText(e);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - t0) / 1000;
  emit({
    tool: "deno-crr",
    concurrency,
    connections: ok,
    failures,
    timeouts,
    seconds,
    perSecond: ok / seconds,
    ...(firstError === undefined ? {} : { firstError }),
  });
}

async function readLine(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  // Any chunk (or EOF) on stdin means "go on".
  await reader.read();
}

async function hold(): Promise<void> {
  const steps = (opts.get("--steps") ?? "1000").split(",").map(Number);
  const concurrency = num("--concurrency", 64);
  const stepTimeout = num("--step-timeout", 120_000);
  const attemptTimeout = num("--attempt-timeout", 10_000);
  const conns: Deno.TcpConn[] = [];
  const stdin = Deno.stdin.readable.getReader();
  let stopped = false;
  for (const total of steps) {
    let failures = 0;
    let consecutive = 0;
    let firstError: string | undefined;
    const t0 = performance.now();
    let pending = 0;
    const loop = async () => {
      while (
        !stopped && conns.length + pending < total && consecutive < 50 &&
        performance.now() - t0 < stepTimeout
      ) {
        pending++;
        try {
          conns.push(await exchangeOnce(attemptTimeout));
          consecutive = 0;
        } catch (e) {
          failures++;
          consecutive++;
          firstError ??= errText(e);
        } finally {
          pending--;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    const reached = conns.length >= total;
    const timedOut = !reached && performance.now() - t0 >= stepTimeout;
    if (!reached) stopped = true;
    emit({
      tool: "deno-hold",
      target: total,
      opened: conns.length,
      failures,
      timedOut,
      seconds: (performance.now() - t0) / 1000,
      ...(firstError === undefined ? {} : { firstError }),
    });
    const trickle = num("--trickle", 0);
    let timer: ReturnType<typeof setInterval> | undefined;
    if (trickle > 0 && !stopped && total === steps[steps.length - 1]) {
      // One byte per connection per `trickle` ms, spread over the interval in 10 slices.
      const one = new Uint8Array([0x74]);
      let next = 0;
      timer = setInterval(() => {
        const slice = Math.ceil(conns.length / 10);
        for (let i = 0; i < slice && conns.length > 0; i++) {
          const c = conns[next++ % conns.length]!;
          c.write(one).catch(() => {});
        }
      }, Math.max(1, Math.floor(trickle / 10)));
    }
    await readLine(stdin);
    if (timer !== undefined) clearInterval(timer);
    if (stopped) break;
  }
  for (const c of conns) {
    try {
      c.close();
    } catch { /* closed */ }
  }
  emit({ tool: "deno-hold", closed: conns.length });
}

async function bulkUp(duration: number): Promise<{ bytes: number; seconds: number }> {
  const conn = await dial();
  const t0 = performance.now();
  await writeAll(conn, Uint8Array.of(0x55));
  const chunk = new Uint8Array(256 * 1024).fill(0x62);
  const end = t0 + duration;
  while (performance.now() < end) await writeAll(conn, chunk);
  await conn.closeWrite();
  const count = await readExact(conn, 8);
  const seconds = (performance.now() - t0) / 1000;
  conn.close();
  return { bytes: Number(new DataView(count.buffer).getBigUint64(0)), seconds };
}

async function bulkDown(duration: number): Promise<{ bytes: number; seconds: number }> {
  const conn = await dial();
  const t0 = performance.now();
  const req = new Uint8Array(5);
  req[0] = 0x44;
  new DataView(req.buffer).setUint32(1, duration);
  await writeAll(conn, req);
  const buf = new Uint8Array(256 * 1024);
  let bytes = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    bytes += n;
  }
  const seconds = (performance.now() - t0) / 1000;
  conn.close();
  return { bytes, seconds };
}

async function bulk(): Promise<void> {
  const mode = opts.get("--mode") ?? "up";
  const duration = num("--duration", 3000);
  const streams = num("--streams", 1);
  const runs = await Promise.all(
    Array.from({ length: streams }, () => mode === "up" ? bulkUp(duration) : bulkDown(duration)),
  );
  const bytes = runs.reduce((a, r) => a + r.bytes, 0);
  const seconds = Math.max(...runs.map((r) => r.seconds));
  emit({ tool: "deno-bulk", mode, streams, bytes, seconds, gbps: (bytes * 8) / seconds / 1e9 });
}

async function udp(): Promise<void> {
  const sessions = num("--sessions", 100);
  const interval = num("--interval", 1000);
  const duration = num("--duration", 10_000);
  const churn = num("--churn", 0);
  let sent = 0;
  let echoed = 0;
  let opened = 0;
  const payload = new Uint8Array(32).fill(0x75);
  const open = async (): Promise<Socket> => {
    const s = createSocket("udp4");
    s.on("message", () => echoed++);
    s.on("error", () => {});
    await new Promise<void>((ok) => s.bind(0, ok));
    opened++;
    return s;
  };
  const live: Socket[] = [];
  for (let i = 0; i < sessions; i++) live.push(await open());
  const t0 = performance.now();
  let slot = 0;
  const tick = setInterval(() => {
    // Each session sends once per interval, spread over 10 slices.
    const slice = Math.ceil(live.length / 10);
    for (let i = 0; i < slice; i++) {
      const s = live[slot++ % live.length];
      if (!s) break;
      s.send(payload, target.port, target.hostname);
      sent++;
    }
  }, Math.max(1, Math.floor(interval / 10)));
  const churner = churn > 0
    ? setInterval(async () => {
      live.shift()?.close();
      live.push(await open());
    }, churn)
    : undefined;
  const report = setInterval(() => emit({ tool: "deno-udp", sent, echoed, opened }), 10_000);
  await new Promise((r) => setTimeout(r, duration));
  clearInterval(tick);
  clearInterval(report);
  if (churner !== undefined) clearInterval(churner);
  await new Promise((r) => setTimeout(r, 500));
  for (const s of live) s.close();
  emit({
    tool: "deno-udp",
    sessions,
    opened,
    sent,
    echoed,
    seconds: (performance.now() - t0) / 1000,
  });
}

try {
  switch (command) {
    case "rr":
      await rr();
      break;
    case "crr":
      await crr();
      break;
    case "hold":
      await hold();
      break;
    case "bulk":
      await bulk();
      break;
    case "udp":
      await udp();
      break;
    default:
      throw new TypeError(`Unknown subcommand "${command}" (rr, crr, hold, bulk, udp)`);
  }
} catch (e) {
  console.error(errText(e));
  Deno.exit(1);
}
