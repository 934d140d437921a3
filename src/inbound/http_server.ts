/**
 * The HTTP proxy server side of the `http` and `mixed` inbounds.
 *
 * - `CONNECT host:port` (RFC 9110 §9.3.6): on accept, `200 Connection established`; the rest of
 *   the connection is the tunnel.
 * - Absolute-form requests (`GET http://host/path HTTP/1.1`): the request head is rewritten to
 *   origin form without the proxy headers and with `Connection: close` (one upstream per client
 *   connection), and handed to the handler as `upstreamFirst`; the body and the response pass
 *   through the relay.
 * - With `users`, `Proxy-Authorization: Basic` is required (else `407`).
 * - Rejections answer `403` (blocked), `504` (timeout) or `502` (anything else).
 *
 * The request head is read with `peek` and consumed exactly, so a body or tunnel bytes the
 * client sent early stay in the socket.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Stream } from "../io/stream.ts";
import { formatSockAddr } from "../io/socket.ts";
import { parseIp } from "../net/ip.ts";
import { readHeaderBlock, withDeadline, writeAll } from "../io/handshake_io.ts";
import { type Destination, formatDestination, type OutboundErrorKind } from "../outbound/types.ts";
import { checkUser, type ServerContext } from "./server_context.ts";
import type { AcceptedClient, InboundConnection, InboundRequest } from "./types.ts";

const log = getLogger(["tunbox", "inbound"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A parsed request head. */
export interface HttpRequestHead {
  method: string;
  target: string;
  version: string;
  /** Header lines in order, name as sent. */
  headers: [string, string][];
}

/** Parses a request head (through the blank line); throws SyntaxError naming the problem. */
export function parseRequestHead(text: string): HttpRequestHead {
  const lines = text.split("\r\n");
  const first = lines[0] ?? "";
  const m = /^([A-Za-z]+) (\S+) (HTTP\/\d\.\d)$/.exec(first);
  if (!m) throw new SyntaxError(`bad request line ${JSON.stringify(first.slice(0, 80))}`);
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new SyntaxError(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  return { method: m[1]!.toUpperCase(), target: m[2]!, version: m[3]!, headers };
}

/** Parses `host:port` / `[v6]:port` (a CONNECT target or a Host header with `defaultPort`). */
export function parseAuthority(text: string, defaultPort?: number): Destination | null {
  let host: string, portText: string | undefined;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) return null;
    host = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest !== "" && !rest.startsWith(":")) return null;
    portText = rest === "" ? undefined : rest.slice(1);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon >= 0 && text.indexOf(":") !== colon) return null; // bare IPv6 without brackets
    host = colon >= 0 ? text.slice(0, colon) : text;
    portText = colon >= 0 ? text.slice(colon + 1) : undefined;
  }
  const port = portText === undefined
    ? defaultPort
    : /^\d{1,5}$/.test(portText)
    ? Number(portText)
    : NaN;
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535 || host === "") {
    return null;
  }
  const addr = parseIp(host);
  return addr ? { addr, port } : { domain: host.toLowerCase(), port };
}

function header(head: HttpRequestHead, name: string): string | undefined {
  const lower = name.toLowerCase();
  return head.headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

function response(status: number, reason: string, extra = ""): Uint8Array {
  return encoder.encode(
    `HTTP/1.1 ${status} ${reason}\r\n${extra}Content-Length: 0\r\nConnection: close\r\n\r\n`,
  );
}

function statusFor(kind: OutboundErrorKind): [number, string] {
  if (kind === "blocked") return [403, "Forbidden"];
  if (kind === "timeout") return [504, "Gateway Timeout"];
  return [502, "Bad Gateway"];
}

/** Checks `Proxy-Authorization: Basic` against the users; returns the user name or null. */
function authenticate(head: HttpRequestHead, ctx: ServerContext): string | null {
  if (ctx.users.length === 0) return "";
  const value = header(head, "Proxy-Authorization") ?? "";
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(value);
  if (!m) return null;
  let decoded: string;
  try {
    decoded = decoder.decode(Uint8Array.from(atob(m[1]!), (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  const name = decoded.slice(0, colon);
  return checkUser(ctx.users, name, decoded.slice(colon + 1)) ? name : null;
}

const HOP_BY_HOP = new Set([
  "proxy-authorization",
  "proxy-connection",
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "te",
  "trailer",
  "upgrade",
]);

/** Rewrites an absolute-form request head to origin form for the upstream server. */
export function rewriteForOrigin(head: HttpRequestHead, url: URL): Uint8Array {
  let out = `${head.method} ${url.pathname}${url.search} ${head.version}\r\n`;
  let hasHost = false;
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === "host") hasHost = true;
    out += `${name}: ${value}\r\n`;
  }
  if (!hasHost) out = out.replace("\r\n", `\r\nHost: ${url.host}\r\n`);
  out += "Connection: close\r\n\r\n";
  return encoder.encode(out);
}

/** Serves one HTTP proxy connection. Resolves once the request was handed over or refused. */
export async function serveHttp(sock: Stream, ctx: ServerContext): Promise<void> {
  const source = sock.peerAddr() ?? { addr: new Uint8Array(4), port: 0 };
  const id = ctx.nextId();
  const untrack = ctx.track(sock);
  const refuse = (bytes: Uint8Array, why: string) => {
    log.debug("[{id}] inbound/{type}[{tag}]: {why}", {
      id,
      type: ctx.inboundType,
      tag: ctx.tag,
      why,
    });
    untrack();
    writeAll(sock, bytes, "send HTTP error").catch(() => {}).finally(() => sock.close());
  };
  let head: HttpRequestHead;
  try {
    const bytes = await withDeadline(
      ctx.reactor,
      sock,
      ctx.handshakeTimeoutMs,
      `HTTP request from ${formatSockAddr(source)}`,
      () => readHeaderBlock(sock, "read HTTP request head", 65536),
    );
    head = parseRequestHead(decoder.decode(bytes));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof SyntaxError || error instanceof RangeError) {
      refuse(response(400, "Bad Request"), message);
    } else {
      log.debug("[{id}] inbound/{type}[{tag}]: {message}", {
        id,
        type: ctx.inboundType,
        tag: ctx.tag,
        message,
      });
      untrack();
      sock.close();
    }
    return;
  }
  const user = authenticate(head, ctx);
  if (user === null) {
    refuse(
      response(
        407,
        "Proxy Authentication Required",
        'Proxy-Authenticate: Basic realm="tunbox"\r\n',
      ),
      "proxy authentication failed",
    );
    return;
  }
  let dest: Destination | null;
  let upstreamFirst: Uint8Array | null = null;
  let protocol: InboundRequest["protocol"];
  if (head.method === "CONNECT") {
    dest = parseAuthority(head.target);
    protocol = "http-connect";
  } else {
    protocol = "http";
    let url: URL | null = null;
    try {
      url = new URL(head.target);
    } catch { /* origin-form: not a proxy request */ }
    if (!url || url.protocol !== "http:") {
      refuse(response(400, "Bad Request"), `not a proxy request: ${head.method} ${head.target}`);
      return;
    }
    dest = parseAuthority(url.host, 80);
    upstreamFirst = rewriteForOrigin(head, url);
  }
  if (!dest) {
    refuse(response(400, "Bad Request"), `bad target ${JSON.stringify(head.target)}`);
    return;
  }
  const request: InboundRequest = {
    id,
    inbound: ctx.tag,
    inboundType: ctx.inboundType,
    network: "tcp",
    source,
    destination: dest,
    user,
    protocol,
  };
  log.info("[{id}] inbound/{type}[{tag}]: {protocol} from {source} to {dest}", {
    id,
    type: ctx.inboundType,
    tag: ctx.tag,
    protocol,
    source: formatSockAddr(source),
    dest: formatDestination(dest),
  });
  let settled = false;
  const conn: InboundConnection = {
    request,
    accept: async (): Promise<AcceptedClient> => {
      if (settled) throw new Error("accept/reject called twice");
      settled = true;
      untrack();
      if (protocol === "http-connect") {
        try {
          await writeAll(
            sock,
            encoder.encode("HTTP/1.1 200 Connection established\r\n\r\n"),
            "send CONNECT reply",
          );
        } catch (error) {
          sock.close();
          throw error;
        }
      }
      return { client: sock, upstreamFirst };
    },
    reject: (kind: OutboundErrorKind, reason?: unknown) => {
      if (settled) return;
      settled = true;
      const [status, text] = statusFor(kind);
      refuse(
        response(status, text),
        `rejected (${kind}): ${reason instanceof Error ? reason.message : reason ?? ""}`,
      );
    },
  };
  ctx.handler.onConnection(conn);
}
