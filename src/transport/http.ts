/**
 * The V2Ray HTTP transport, client side, over TLS: one HTTP/2 request per connection (method
 * `PUT` unless set, the configured path and headers, `:authority` one of `host` at random, or
 * `www.example.com` as V2Ray's server expects when none is set), the request body carrying the
 * bytes up and the response body (after a `200`) carrying them down, as V2Ray and sing-box
 * do. HTTP/2 is Node's (`node:http2`) over the TLS stream, through {@linkcode StreamDuplex}.
 *
 * Without TLS sing-box speaks HTTP/1.1 to its own server instead; tunbox does not (V2Ray's server
 * only speaks HTTP/2), and {@linkcode httpTransportNeedsTls} is the verdict's rule for that.
 *
 * ```ts
 * const tls = await tlsConnect(tcp, { ...config, alpn: ["h2"] }, { what, timeoutMs });
 * const stream = await httpConnect(tls, { host: ["cdn.test"], path: "/v", headers: {}, what });
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import http2 from "node:http2";
import type net from "node:net";
import { E, SysError } from "../../ffi/errno.ts";
import { CLOSE_FLUSH_MS, ProtocolError } from "../io/framed_stream.ts";
import type { Stream } from "../io/stream.ts";
import { NodeBackedStream } from "../tls/node_stream.ts";
import { StreamDuplex } from "../tls/stream_duplex.ts";

/** What the HTTP/2 client sends. */
export interface HttpTransportOptions {
  /** `:authority` candidates (one at random); `www.example.com` when empty, as V2Ray. */
  host: string[];
  /** Request path (a leading `/` is added when missing); `/` when unset. */
  path?: string;
  /** `PUT` when unset. */
  method?: string;
  headers?: Record<string, string[]>;
  /** Milliseconds to wait for the server's response headers. */
  timeoutMs: number;
  /** Names the caller in messages. */
  what: string;
}

/**
 * The stream's and the connection's receive window (one stream per connection). HTTP/2's
 * default, 64 KiB, makes the server stop every 64 KiB for a WINDOW_UPDATE: measured against
 * V2Ray 4.34 on loopback (`bench/outbound_cpu_bench.ts`), 4 MiB took the CPU per MB from 14-16
 * to 7-10 ms here and from 12-13 to 5-8 ms in the server. Go's HTTP/2 client (V2Ray's and
 * sing-box's) opens streams with 4 MiB too. Reading is still paused above the stream's
 * high-water mark, so a slow reader holds at most this much per connection.
 */
const RECEIVE_WINDOW = 4 * 1024 * 1024;

/** The `:authority` V2Ray's HTTP server accepts when its `host` list is empty. */
export const DEFAULT_HTTP_HOST = "www.example.com";

/** The pseudo and regular headers of the request. */
export function httpRequestHeaders(
  o: Pick<HttpTransportOptions, "host" | "path" | "method" | "headers">,
  pick: (n: number) => number = (n) => Math.floor(Math.random() * n),
): http2.OutgoingHttpHeaders {
  const path = o.path ?? "/";
  const headers: http2.OutgoingHttpHeaders = {
    ":method": o.method || "PUT",
    ":path": path.startsWith("/") ? path : `/${path}`,
    ":authority": o.host.length === 0 ? DEFAULT_HTTP_HOST : o.host[pick(o.host.length)]!,
    ":scheme": "https",
  };
  for (const [k, v] of Object.entries(o.headers ?? {})) {
    const name = k.toLowerCase();
    if (name === "host") continue;
    headers[name] = v.length === 1 ? v[0]! : v;
  }
  return headers;
}

/**
 * Opens the HTTP/2 request over `inner` (a TLS stream that negotiated `h2`) and resolves once
 * the server answered `200`; any other status, a reset or a timeout rejects naming it, and
 * `inner` is aborted.
 */
export function httpConnect(inner: Stream, o: HttpTransportOptions): Promise<HttpStream> {
  const duplex = new StreamDuplex(inner);
  const session = http2.connect("https://" + DEFAULT_HTTP_HOST, {
    createConnection: () => duplex as unknown as net.Socket,
    settings: { initialWindowSize: RECEIVE_WINDOW },
  });
  session.once("connect", () => session.setLocalWindowSize(RECEIVE_WINDOW));
  const req = session.request(httpRequestHeaders(o), { endStream: false });
  return new Promise<HttpStream>((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | null) => {
      if (settled) return;
      settled = true;
      timer.cancel();
      req.off("response", onResponse);
      req.off("error", onError);
      req.off("close", onClose);
      session.off("error", onError);
      if (error) {
        session.on("error", () => {});
        req.on("error", () => {});
        duplex.destroy(new SysError("HTTP/2 request failed", E.ECONNRESET));
        session.destroy();
        reject(error);
      } else {
        resolve(new HttpStream(inner, session, req, duplex));
      }
    };
    const onResponse = (headers: http2.IncomingHttpHeaders) => {
      const status = Number(headers[":status"]);
      if (status === 200) return settle(null);
      settle(new ProtocolError(`${o.what}: the HTTP transport's request was answered ${status}`));
    };
    const onError = (error: Error) =>
      settle(new ProtocolError(`${o.what}: HTTP/2 request failed: ${error.message}`));
    const onClose = () =>
      settle(new ProtocolError(`${o.what}: HTTP/2 stream closed before a response`));
    const timer = inner.reactor.setTimeout(o.timeoutMs, () => {
      settle(
        new ProtocolError(`${o.what}: no HTTP/2 response within ${o.timeoutMs} ms`),
      );
    });
    req.once("response", onResponse);
    req.once("error", onError);
    req.once("close", onClose);
    session.once("error", onError);
  });
}

/**
 * One HTTP/2 request as a {@linkcode Stream}: writes go into the request body, the response
 * body is read; `shutdownWrite` ends the request body (END_STREAM); `close` ends it and closes
 * the session, `abort` resets the stream (RST_STREAM) and the connection.
 */
export class HttpStream extends NodeBackedStream {
  #session: http2.ClientHttp2Session;
  #req: http2.ClientHttp2Stream;

  /** @internal Made by {@linkcode httpConnect}. */
  constructor(
    inner: Stream,
    session: http2.ClientHttp2Session,
    req: http2.ClientHttp2Stream,
    duplex: StreamDuplex,
  ) {
    super(inner, req, duplex);
    this.#session = session;
    this.#req = req;
    // A Readable's chunks belong to the reader (Node keeps them in its own buffer list while
    // paused, so they are never reused): kept as they are, not copied.
    req.on("data", (chunk: Buffer) => {
      this.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    req.on("end", () => this.pushEof());
    req.on("error", (error: Error) => this.fail(error));
    session.on("error", (error: Error) => this.fail(error));
    req.on("close", () => {
      this.awake(false);
      if (req.rstCode !== undefined && req.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
        this.fail(new SysError(`HTTP/2 stream reset (code ${req.rstCode})`, E.ECONNRESET));
      } else this.pushEof();
    });
  }

  protected sendBytes(buf: Uint8Array): number {
    return this.writeCopy(buf, this.#req.destroyed || this.#req.writableEnded, "HTTP/2 write");
  }

  protected sendEof(): void {
    this.#req.end();
  }

  protected override pauseSource(): void {
    this.#req.pause();
  }

  protected override resumeSource(): void {
    this.#req.resume();
  }

  protected destroy(reset: boolean): void {
    this.awake(false);
    const req = this.#req, session = this.#session;
    req.removeAllListeners("data");
    req.on("error", () => {});
    session.on("error", () => {});
    if (reset || req.destroyed) {
      this.duplex.closeStream(
        reset ? new SysError("HTTP stream aborted", E.ECONNRESET) : undefined,
      );
      req.close(http2.constants.NGHTTP2_CANCEL);
      session.destroy();
      return;
    }
    if (!req.writableEnded) req.end();
    // The session closes once the stream is done (the TLS stream below closes with it); a
    // server that never ends its response gets the connection closed anyway.
    const release = () => {
      timer.cancel();
      session.destroy();
      this.duplex.destroy();
    };
    const timer = this.reactor.setTimeout(CLOSE_FLUSH_MS, release);
    session.close(release);
  }
}
