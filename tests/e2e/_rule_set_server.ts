/**
 * A rule-set server for end-to-end tests, run in the far namespace: serves the files of `--dir`
 * on `--listen addr:port` with an ETag (and answers `If-None-Match` with 304), records each
 * request (`GET /log`: path, the client's address, If-None-Match, status), and on every
 * `--ip addr:port` answers `GET /ip` with the client's address. Prints "ready" when it listens.
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    listen: { type: "string" },
    dir: { type: "string" },
    ip: { type: "string", multiple: true, default: [] },
  },
});

const log: { path: string; from: string; ifNoneMatch: string | null; status: number }[] = [];

function split(hostPort: string): { hostname: string; port: number } {
  const i = hostPort.lastIndexOf(":");
  return { hostname: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
}

async function etagOf(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return `"${Array.from(d.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("")}"`;
}

Deno.serve({ ...split(values.listen!), onListen: () => {} }, async (req, info) => {
  const url = new URL(req.url);
  const from = (info.remoteAddr as Deno.NetAddr).hostname;
  if (url.pathname === "/log") return Response.json(log);
  const ifNoneMatch = req.headers.get("if-none-match");
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await Deno.readFile(`${values.dir}${url.pathname}`);
  } catch {
    log.push({ path: url.pathname, from, ifNoneMatch, status: 404 });
    return new Response("not found", { status: 404 });
  }
  const etag = await etagOf(bytes);
  const status = ifNoneMatch === etag ? 304 : 200;
  log.push({ path: url.pathname, from, ifNoneMatch, status });
  if (status === 304) return new Response(null, { status, headers: { etag } });
  return new Response(bytes, { headers: { etag, "content-type": "application/octet-stream" } });
});

for (const addr of values.ip ?? []) {
  Deno.serve({ ...split(addr), onListen: () => {} }, (_req, info) => {
    return new Response((info.remoteAddr as Deno.NetAddr).hostname);
  });
}

console.log("ready");
