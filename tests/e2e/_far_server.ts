/**
 * The "far" side of end-to-end tests, run inside its own namespace:
 *
 * - HTTP on port 80 of every address given with `--http`: `GET /file?size=N&seed=S` returns
 *   deterministic bytes (`_payload.ts`), paced to `rate=B` bytes per second when given (curl's
 *   own `--limit-rate` lets whole files through at once), `GET /ip` returns the client's source
 *   address,
 *   `GET /small` returns "ok";
 * - a recorder on `--tls addr:port`: notes each connection's source address (it does not
 *   speak TLS; clients fail the handshake, the test only checks who connected), readable at
 *   `GET /tls-log` on any HTTP address;
 * - DNS over UDP on `--dns addr:port`: answers every A query with `--dns-answer`;
 * - NTP on `--ntp addr:port`: answers client requests with this host's clock plus
 *   `--ntp-offset` milliseconds (RFC 5905 server mode, stratum 2).
 *
 * Prints "ready" on stdout when everything listens.
 */

import { parseArgs } from "node:util";
import dgram from "node:dgram";
import dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import { payload } from "./_payload.ts";

const { values } = parseArgs({
  options: {
    http: { type: "string", multiple: true, default: [] },
    tls: { type: "string", multiple: true, default: [] },
    dns: { type: "string" },
    "dns-answer": { type: "string", default: "203.0.113.10" },
    ntp: { type: "string" },
    "ntp-offset": { type: "string", default: "0" },
  },
});

const tlsLog: { local: string; from: string }[] = [];
const cache = new Map<string, Uint8Array<ArrayBuffer>>();

function split(hostPort: string): { hostname: string; port: number } {
  const i = hostPort.lastIndexOf(":");
  return { hostname: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
}

/** `body` in 16 KiB chunks, chunk i no earlier than i * 16 KiB / `rate` seconds from the start. */
function paced(body: Uint8Array<ArrayBuffer>, rate: number): ReadableStream<Uint8Array> {
  const CHUNK = 16 * 1024;
  const start = performance.now();
  let offset = 0;
  return new ReadableStream({
    async pull(controller) {
      if (offset >= body.length) return controller.close();
      const due = start + (offset / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      controller.enqueue(body.subarray(offset, offset + CHUNK));
      offset += CHUNK;
    },
  });
}

for (const addr of values.http ?? []) {
  const { hostname, port } = split(addr);
  Deno.serve({ hostname, port, onListen: () => {} }, (req, info) => {
    const url = new URL(req.url);
    const remote = (info.remoteAddr as Deno.NetAddr).hostname;
    switch (url.pathname) {
      case "/ip":
        return new Response(remote);
      case "/small":
        return new Response("ok");
      case "/tls-log":
        return Response.json(tlsLog);
      case "/file": {
        const size = Number(url.searchParams.get("size") ?? "1024");
        const seed = Number(url.searchParams.get("seed") ?? "1");
        const key = `${size}/${seed}`;
        let body = cache.get(key);
        if (!body) cache.set(key, body = payload(size, seed));
        const headers = { "content-type": "application/octet-stream" };
        const rate = Number(url.searchParams.get("rate") ?? "0");
        if (rate <= 0) return new Response(body, { headers });
        const length = { "content-length": `${body.length}` };
        return new Response(paced(body, rate), { headers: { ...headers, ...length } });
      }
    }
    return new Response("not found", { status: 404 });
  });
}

for (const addr of values.tls ?? []) {
  const { hostname, port } = split(addr);
  const listener = Deno.listen({ hostname, port });
  (async () => {
    for await (const conn of listener) {
      tlsLog.push({ local: addr, from: (conn.remoteAddr as Deno.NetAddr).hostname });
      (async () => {
        try {
          await conn.read(new Uint8Array(4096));
        } catch { /* the client may reset */ }
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })();
}

if (values.dns) {
  const { hostname, port } = split(values.dns);
  const answer = (msg: Uint8Array): Uint8Array => {
    const q = dnsPacket.decode(Buffer.from(msg));
    const question = q.questions?.[0];
    const answers = question && question.type === "A"
      ? [{ type: "A" as const, name: question.name, ttl: 60, data: values["dns-answer"]! }]
      : [];
    return dnsPacket.encode({
      id: q.id,
      type: "response",
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: q.questions ?? [],
      answers,
    });
  };
  const sock = dgram.createSocket("udp4");
  sock.on("message", (msg: Buffer, rinfo: { address: string; port: number }) => {
    try {
      sock.send(answer(msg), rinfo.port, rinfo.address);
    } catch { /* not DNS */ }
  });
  await new Promise<void>((resolve) => sock.bind(port, hostname, () => resolve()));
  // DNS over TCP on the same address (RFC 1035 §4.2.2: two-byte length prefix).
  const tcp = Deno.listen({ hostname, port });
  (async () => {
    for await (const conn of tcp) {
      (async () => {
        let buf = new Uint8Array(0);
        try {
          for await (const chunk of conn.readable) {
            const next = new Uint8Array(buf.length + chunk.length);
            next.set(buf);
            next.set(chunk, buf.length);
            buf = next;
            while (buf.length >= 2 && buf.length >= 2 + ((buf[0]! << 8) | buf[1]!)) {
              const len = (buf[0]! << 8) | buf[1]!;
              const reply = answer(buf.subarray(2, 2 + len));
              buf = buf.subarray(2 + len);
              const framed = new Uint8Array(2 + reply.length);
              framed.set([reply.length >> 8, reply.length & 0xff]);
              framed.set(reply, 2);
              const w = conn.writable.getWriter();
              await w.write(framed);
              w.releaseLock();
            }
          }
        } catch { /* closed */ }
      })();
    }
  })();
}

if (values.ntp) {
  const { hostname, port } = split(values.ntp);
  const offset = Number(values["ntp-offset"]);
  const stamp = (v: DataView, at: number, ms: number) => {
    const s = Math.floor(ms / 1000);
    v.setUint32(at, s + 2_208_988_800);
    v.setUint32(at + 4, Math.floor(((ms - s * 1000) / 1000) * 2 ** 32));
  };
  const sock = dgram.createSocket("udp4");
  sock.on("message", (msg: Buffer, rinfo: { address: string; port: number }) => {
    if (msg.length < 48 || (msg[0]! & 7) !== 3) return;
    const out = new Uint8Array(48);
    const v = new DataView(out.buffer);
    const now = Date.now() + offset;
    out[0] = (4 << 3) | 4;
    out[1] = 2;
    stamp(v, 16, now - 60_000);
    out.set(msg.subarray(40, 48), 24);
    stamp(v, 32, now);
    stamp(v, 40, now);
    sock.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(port, hostname, () => resolve()));
}

// Give Deno.serve a moment to bind before announcing readiness.
await new Promise((r) => setTimeout(r, 100));
console.log("ready");
