/**
 * The "far" side of end-to-end tests, run inside its own namespace:
 *
 * - HTTP on port 80 of every address given with `--http`: `GET /file?size=N&seed=S` returns
 *   deterministic bytes (`_payload.ts`), `GET /ip` returns the client's source address,
 *   `GET /small` returns "ok";
 * - a recorder on `--tls addr:port`: notes each connection's source address (it does not
 *   speak TLS; clients fail the handshake, the test only checks who connected), readable at
 *   `GET /tls-log` on any HTTP address;
 * - DNS over UDP on `--dns addr:port`: answers every A query with `--dns-answer`.
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
  },
});

const tlsLog: { local: string; from: string }[] = [];
const cache = new Map<string, Uint8Array<ArrayBuffer>>();

function split(hostPort: string): { hostname: string; port: number } {
  const i = hostPort.lastIndexOf(":");
  return { hostname: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
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
        return new Response(body, { headers: { "content-type": "application/octet-stream" } });
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
  const sock = dgram.createSocket("udp4");
  sock.on("message", (msg: Buffer, rinfo: { address: string; port: number }) => {
    try {
      const q = dnsPacket.decode(msg);
      const question = q.questions?.[0];
      const answers = question && question.type === "A"
        ? [{ type: "A" as const, name: question.name, ttl: 60, data: values["dns-answer"]! }]
        : [];
      const reply = dnsPacket.encode({
        id: q.id,
        type: "response",
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
        questions: q.questions ?? [],
        answers,
      });
      sock.send(reply, rinfo.port, rinfo.address);
    } catch { /* not DNS */ }
  });
  await new Promise<void>((resolve) => sock.bind(port, hostname, () => resolve()));
}

// Give Deno.serve a moment to bind before announcing readiness.
await new Promise((r) => setTimeout(r, 100));
console.log("ready");
