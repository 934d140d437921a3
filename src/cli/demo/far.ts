/**
 * `tunbox demo far` (internal): the far side of the demo, started by `tunbox demo` inside the
 * far namespace (`--netns`):
 *
 * - HTTP on port 80 of each `--http` address: `GET /file?size=N&seed=S` answers
 *   {@linkcode demoPayload} bytes with the client's address in `x-peer`; `GET /ip` answers the
 *   client's address; `GET /stream` sends bytes until the client hangs up (at most 30 s);
 * - DNS over UDP on `--dns addr:port`: answers every A query with `--answer`.
 *
 * Prints `ready` on stdout once everything listens; exits when stdin closes (so it never
 * outlives the demo) or on SIGTERM/SIGINT.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import dgram from "node:dgram";
import { parseArgs } from "node:util";
import { decodePacket, encodePacket, type Packet } from "../../net/dns/packet.ts";
import { demoPayload } from "./payload.ts";

/** DNS header flags: recursion desired / available. */
const RD = 0x0100;
const RA = 0x0080;
const STREAM_CHUNK = 256 * 1024;
const STREAM_MAX_MS = 30_000;

function splitHostPort(s: string): { hostname: string; port: number } {
  const i = s.lastIndexOf(":");
  return { hostname: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

/** The HTTP handler (exported for tests). */
export function farHttpHandler(req: Request, peer: string): Response {
  const url = new URL(req.url);
  switch (url.pathname) {
    case "/ip":
      return new Response(peer);
    case "/file": {
      const size = Math.min(Number(url.searchParams.get("size") ?? "1024"), 256 << 20);
      const seed = Number(url.searchParams.get("seed") ?? "1");
      if (!Number.isInteger(size) || size < 0) return new Response("bad size", { status: 400 });
      return new Response(demoPayload(size, seed), {
        headers: { "content-type": "application/octet-stream", "x-peer": peer },
      });
    }
    case "/stream": {
      const chunk = demoPayload(STREAM_CHUNK, 3);
      const until = Date.now() + STREAM_MAX_MS;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (Date.now() > until) controller.close();
          else controller.enqueue(chunk.slice());
        },
      }, { highWaterMark: 4 });
      return new Response(body, { headers: { "content-type": "application/octet-stream" } });
    }
  }
  return new Response("not found", { status: 404 });
}

/** Answers a DNS query: every A question gets `answer`; null for what is not DNS. */
export function farDnsAnswer(query: Uint8Array, answer: string): Uint8Array | null {
  let q: Packet;
  try {
    q = decodePacket(query);
  } catch {
    return null;
  }
  const questions = q.questions ?? [];
  const answers = questions
    .filter((x) => x.type === "A")
    .map((x) => ({ type: "A" as const, name: x.name, ttl: 60, data: answer }));
  return encodePacket({
    id: q.id ?? 0,
    type: "response",
    flags: RD | RA,
    questions,
    answers,
  });
}

/** Runs the far services until stdin closes or a signal arrives. Returns the exit status. */
export async function farCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      http: { type: "string", multiple: true, default: [] },
      dns: { type: "string" },
      answer: { type: "string", default: "203.0.113.10" },
    },
  });
  const servers: Deno.HttpServer[] = [];
  for (const addr of values.http ?? []) {
    const { hostname, port } = splitHostPort(addr);
    servers.push(Deno.serve(
      { hostname, port, onListen: () => {} },
      (req, info) => farHttpHandler(req, (info.remoteAddr as Deno.NetAddr).hostname),
    ));
  }
  let sock: dgram.Socket | undefined;
  if (values.dns) {
    const { hostname, port } = splitHostPort(values.dns);
    const s = sock = dgram.createSocket("udp4");
    s.on("message", (msg: Buffer, rinfo: { address: string; port: number }) => {
      const reply = farDnsAnswer(msg, values.answer!);
      if (reply) s.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.bind(port, hostname, () => resolve());
    });
  }
  console.log("ready");
  const done = Promise.withResolvers<void>();
  const stop = () => done.resolve();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  (async () => {
    try {
      for await (const _ of Deno.stdin.readable) { /* wait for EOF */ }
    } catch { /* closed */ }
    done.resolve();
  })();
  await done.promise;
  sock?.close();
  // Streams in flight end with the process; do not wait for them.
  await Promise.race([
    Promise.all(servers.map((s) => s.shutdown())),
    new Promise((r) => setTimeout(r, 500)),
  ]);
  return 0;
}
