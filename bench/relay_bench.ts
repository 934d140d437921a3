/**
 * Relay throughput on loopback: iperf3 client → tunbox relay (one reactor) → iperf3 server,
 * for the `splice` relay and the plain `read`/`write` (`copy`) relay, upload and download
 * (`-R`), 1 and 4 parallel streams, against iperf3 without a relay as the ceiling.
 *
 * Run: `deno run -A bench/relay_bench.ts [seconds=5]` prints a table of Gbps.
 * Under `deno bench -A bench/` each relay mode moves 512 MiB through one stream (3 runs).
 *
 * Needs iperf3 (Debian package `iperf3`).
 */

import { Reactor } from "../src/io/reactor.ts";
import { connectTcp, TcpListener } from "../src/io/socket.ts";
import { relay } from "../src/io/relay.ts";

const LOOPBACK = new Uint8Array([127, 0, 0, 1]);

interface Run {
  mode: "splice" | "copy" | "none";
  reverse: boolean;
  streams: number;
  /** Seconds, or bytes with `bytes`. */
  seconds?: number;
  bytes?: string;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Awaits a Deno-native promise while the reactor runs, keeping the reactor's turns short so
 * Deno's own I/O driver sees child exits promptly (an idle reactor blocks up to 50 ms a turn).
 */
async function busyWhile<T>(r: Reactor, p: Promise<T>): Promise<T> {
  let done = false;
  const tick = () => {
    if (!done) r.setTimeout(0, tick);
  };
  tick();
  try {
    return await p;
  } finally {
    done = true;
  }
}

/** Waits for iperf3's "Server listening" line. */
async function waitForListening(r: Reactor, stdout: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stdout.getReader();
  let text = "";
  while (!text.includes("Server listening")) {
    const { value, done } = await busyWhile(r, reader.read());
    if (done) throw new Error(`iperf3 server exited: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  // Keep draining so the server never blocks on a full pipe.
  stdout.pipeTo(new WritableStream()).catch(() => {});
}

/** Runs one iperf3 measurement; returns received bits per second. */
async function measure(r: Reactor, run: Run): Promise<number> {
  const serverPort = freePort();
  const server = new Deno.Command("iperf3", {
    args: ["-s", "--forceflush", "-p", String(serverPort), "-B", "127.0.0.1"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let front: TcpListener | null = null;
  try {
    await waitForListening(r, server.stdout);
    let port = serverPort;
    if (run.mode !== "none") {
      const mode = run.mode;
      front = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (a) => {
        connectTcp(r, { addr: LOOPBACK, port: serverPort }).then(
          (b) => relay(a, b, { mode }),
          () => a.close(),
        );
      });
      port = front.localAddr().port;
    }
    const args = ["-c", "127.0.0.1", "-p", String(port), "-J", "-P", String(run.streams)];
    if (run.bytes) args.push("-n", run.bytes);
    else args.push("-t", String(run.seconds ?? 5));
    if (run.reverse) args.push("-R");
    const out = await busyWhile(
      r,
      new Deno.Command("iperf3", { args, stdout: "piped", stderr: "piped" }).output(),
    );
    const report = JSON.parse(new TextDecoder().decode(out.stdout));
    if (report.error) throw new Error(`iperf3: ${report.error}`);
    return report.end.sum_received.bits_per_second as number;
  } finally {
    front?.close();
    try {
      server.kill("SIGTERM");
    } catch { /* already gone */ }
    await busyWhile(r, server.status);
  }
}

async function withReactor<T>(fn: (r: Reactor) => Promise<T>): Promise<T> {
  const r = new Reactor();
  const loop = r.run();
  try {
    return await fn(r);
  } finally {
    r.stop();
    await loop;
    r.close();
  }
}

if (import.meta.main) {
  const seconds = Number(Deno.args[0] ?? 5);
  const rows: string[] = [];
  await withReactor(async (r) => {
    for (const streams of [1, 4]) {
      for (const reverse of [false, true]) {
        const cells: string[] = [];
        for (const mode of ["none", "splice", "copy"] as const) {
          const bps = await measure(r, { mode, reverse, streams, seconds });
          cells.push((bps / 1e9).toFixed(2).padStart(8));
        }
        rows.push(
          `| ${String(streams).padStart(7)} | ${(reverse ? "download" : "upload").padEnd(9)} |${
            cells.join(" |")
          } |`,
        );
      }
    }
  });
  const out = [
    `relay throughput on loopback, Gbps (iperf3 ${seconds} s per cell, ${Deno.build.arch}, ${navigator.hardwareConcurrency} CPUs)`,
    "| streams | direction | no relay |   splice |     copy |",
    "|---------|-----------|----------|----------|----------|",
    ...rows,
  ];
  Deno.stdout.writeSync(new TextEncoder().encode(out.join("\n") + "\n"));
} else {
  for (const mode of ["splice", "copy"] as const) {
    Deno.bench({
      name: `${mode} relay, 512 MiB through iperf3 (1 stream)`,
      group: "relay",
      baseline: mode === "splice",
      n: 3,
      warmup: 1,
      async fn() {
        await withReactor((r) => measure(r, { mode, reverse: false, streams: 1, bytes: "512M" }));
      },
    });
  }
}
