/**
 * A DNS-over-HTTPS server for tests, run as its own process (`deno run -A _doh_server.ts`):
 * `--port`, `--cert`, `--key`, `--h1` (HTTP/1.1 only; default: HTTP/2 with HTTP/1.1 fallback),
 * `--close` (close the connection after every answer), `--status N` (answer with status
 * N), `--garbage` (200 with a body that is not DNS), `--silent` (never answer). Answers A questions for `*.test` with 192.0.2.<length of the first label>, others
 * NXDOMAIN. Prints one JSON line per request: connection number (by client port), protocol,
 * method, path, and the DNS message id it saw.
 */

import dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import http2 from "node:http2";
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    h1: { type: "boolean", default: false },
    close: { type: "boolean", default: false },
    status: { type: "string", default: "200" },
    garbage: { type: "boolean", default: false },
    silent: { type: "boolean", default: false },
  },
});
const cert = Deno.readTextFileSync(values.cert!);
const key = Deno.readTextFileSync(values.key!);
let connections = 0;
const ids = new Map<number, number>();

function answer(query: Buffer): Buffer {
  const q = dnsPacket.decode(query);
  const question = q.questions![0]!;
  const label = question.name.split(".")[0] ?? "";
  const known = question.name.endsWith(".test") && question.type === "A";
  return dnsPacket.encode({
    type: "response",
    id: q.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (known ? 0 : 3),
    questions: q.questions,
    answers: known
      ? [{ type: "A", name: question.name, ttl: 60, data: `192.0.2.${label.length}` }]
      : [],
  });
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const url = new URL(req.url ?? "/", "https://x");
    let query: Buffer | null = null;
    if (req.method === "POST") query = Buffer.concat(chunks);
    else if (url.searchParams.get("dns")) {
      query = Buffer.from(url.searchParams.get("dns")!, "base64url");
    }
    // One connection per client port.
    const port = req.socket?.remotePort ?? -1;
    if (!ids.has(port)) ids.set(port, ++connections);
    let id = -1;
    try {
      if (query) id = dnsPacket.decode(query).id;
    } catch { /* bad query */ }
    console.log(JSON.stringify({
      conn: ids.get(port),
      http: req.httpVersion,
      method: req.method,
      path: url.pathname,
      id,
      type: req.headers["content-type"] ?? null,
      host: req.headers.host ?? req.headers[":authority"] ?? null,
      custom: req.headers["x-test"] ?? null,
    }));
    if (values.silent) return; // never answers
    const status = Number(values.status);
    if (!query || status !== 200) {
      res.writeHead(query ? status : 400, { "content-type": "text/plain" });
      res.end("no");
      return;
    }
    const body = values.garbage ? Buffer.from("garbage, not a DNS message") : answer(query);
    const headers: Record<string, string> = {
      "content-type": "application/dns-message",
      "content-length": String(body.length),
    };
    res.writeHead(200, headers);
    // Deno's server drops a Connection header: close the socket after the answer instead.
    if (values.close) res.on("finish", () => req.socket.destroy());
    res.end(body);
  });
}

const server = values.h1
  ? https.createServer({ cert, key }, handle)
  : http2.createSecureServer({ cert, key, allowHTTP1: true }, handle as never);
server.listen(Number(values.port), "127.0.0.1");
