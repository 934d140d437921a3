/**
 * DNS over HTTPS (RFC 8484) through an outbound: POST (default) or GET
 * (`?dns=<base64url>`) of `application/dns-message` to `https://<host><path>`, over a TLS
 * connection made with tunbox's TLS client through the server's dialer or `detour`.
 *
 * - ALPN offers `h2` and `http/1.1` (unless `tls.alpn` says otherwise). With HTTP/2
 *   (`node:http2` over the TLS stream) every query is a stream of one connection, which is kept
 *   until the server sends GOAWAY, closes it or it is idle for {@linkcode HTTPS_IDLE_MS}.
 * - With HTTP/1.1, connections are kept alive and reused one request at a time; up to
 *   {@linkcode H1_MAX_CONNECTIONS} carry concurrent queries.
 * - The message id is 0 on the wire (RFC 8484 §4.1, cache friendly); the answer must carry the
 *   question asked and gets the caller's id back.
 * - A query on a reused connection that closes before answering is retried once on a new
 *   connection (servers close idle connections). Anything but `200` fails the query with the
 *   status in the message.
 *
 * @module
 */

import http2 from "node:http2";
import { Buffer } from "node:buffer";
import { getLogger } from "@logtape/logtape";
import { E, SysError } from "../../ffi/errno.ts";
import type { Reactor } from "../io/reactor.ts";
import { type Stream, WOULD_BLOCK } from "../io/stream.ts";
import type { Timer } from "../io/timer_queue.ts";
import type { Dialer } from "../outbound/mod.ts";
import { type TlsClientConfig, tlsConnect } from "../tls/client.ts";
import { StreamDuplex } from "../tls/stream_duplex.ts";
import { dnsTimeout, type DnsTransport, type ServerAddress } from "./transport.ts";
import {
  FLAG_QR,
  type MessageLayout,
  parseMessage,
  sameQuestions,
  setMessageId,
} from "../net/dns/wire.ts";

const log = getLogger(["tunbox", "dns"]);

/** The media type of DNS messages over HTTP (RFC 8484 §6). */
export const DNS_MESSAGE = "application/dns-message";
/** Idle time after which a kept connection is closed. */
export const HTTPS_IDLE_MS = 30_000;
/** HTTP/1.1 connections used at once for concurrent queries. */
export const H1_MAX_CONNECTIONS = 4;
/** The largest answer accepted (a DNS message cannot be longer). */
const MAX_BODY = 65535;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What an `https` server is asked, besides where it is. */
export interface HttpsRequestOptions {
  /** `host[:port]` for `:authority`/`Host` (the `Host` header of `headers` wins). */
  authority: string;
  /** The request path, `/dns-query` by default. */
  path: string;
  method: "POST" | "GET";
  /** Extra request headers (`Host` excluded), in order. */
  headers: [string, string][];
}

/** The connection closed (or went away) before the answer arrived: worth one retry. */
class ConnectionLost extends Error {
  override name = "ConnectionLost";
}

interface HttpResponse {
  status: number;
  reason: string;
  body: Uint8Array;
}

/** One kept connection, HTTP/2 or HTTP/1.1. */
interface Conn {
  readonly h2: boolean;
  closed: boolean;
  /** Whether a request was already sent on it. */
  used: boolean;
  /** Requests reserved or in flight (the request decrements it when it settles). */
  active: number;
  request(body: Uint8Array | null, path: string, timeoutMs: number): Promise<HttpResponse>;
  close(): void;
}

/** Counts a request on `c` before it is sent (so concurrent callers see it busy). */
function reserve(c: Conn): Conn {
  c.active++;
  return c;
}

/** base64url without padding (RFC 4648 §5), as RFC 8484 §4.1 asks for GET. */
export function base64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64").replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** An `https` DNS server. */
export class HttpsTransport implements DnsTransport {
  readonly type = "https";
  #h2: Conn | null = null;
  #h1: Conn[] = [];
  /** Connections being opened. */
  #opening = new Set<Promise<Conn>>();
  #closed = false;
  /** Connections opened so far (tests and diagnostics). */
  connections = 0;

  constructor(
    readonly tag: string,
    readonly reactor: Reactor,
    readonly dialer: Pick<Dialer, "dialTcp">,
    readonly server: ServerAddress,
    readonly tls: TlsClientConfig,
    readonly request: HttpsRequestOptions,
  ) {}

  get name(): string {
    return this.server.name;
  }

  /** `https://host/path`, for messages. */
  get url(): string {
    return `https://${this.request.authority}${this.request.path}`;
  }

  /**
   * A connection to send on now, reserved for one request (`active` counts it): the HTTP/2
   * one, an idle HTTP/1.1 one, a new one while fewer than {@linkcode H1_MAX_CONNECTIONS} exist,
   * else the least busy HTTP/1.1 one (the request queues behind its current ones).
   */
  async #pick(deadline: number): Promise<Conn> {
    for (;;) {
      if (this.#closed) throw new ConnectionLost(`${this.name}: transport closed`);
      if (this.#h2 && !this.#h2.closed) return reserve(this.#h2);
      const idle = this.#h1.find((c) => !c.closed && c.active === 0);
      if (idle) return reserve(idle);
      // The first connection tells whether the server speaks HTTP/2: wait for it.
      const unknown = this.#h1.length === 0;
      if (
        this.#opening.size > 0 &&
        (unknown || this.#h1.length + this.#opening.size >= H1_MAX_CONNECTIONS)
      ) {
        if (this.#h1.length > 0) return reserve(this.#leastBusy());
        await Promise.race(this.#opening).catch(() => {});
        if (this.#opening.size === 0 && this.#h1.length === 0 && !this.#h2) {
          // It failed: make our own attempt (and fail with its reason).
          return reserve(await this.#open(deadline));
        }
        continue;
      }
      if (this.#h1.length < H1_MAX_CONNECTIONS) return reserve(await this.#open(deadline));
      return reserve(this.#leastBusy());
    }
  }

  #leastBusy(): Conn {
    return this.#h1.reduce((a, b) => (b.active < a.active ? b : a));
  }

  #open(deadline: number): Promise<Conn> {
    const p = this.#connect(deadline);
    this.#opening.add(p);
    p.finally(() => this.#opening.delete(p)).catch(() => {});
    return p;
  }

  async #connect(deadline: number): Promise<Conn> {
    const dest = await this.server.destination();
    const sock = await this.dialer.dialTcp(dest, { id: 0 });
    this.connections++;
    const remaining = Math.max(1, Math.ceil(deadline - this.reactor.now()));
    const stream = await tlsConnect(sock, this.tls, {
      what: `${this.name}: connect to ${this.server.text}`,
      timeoutMs: remaining,
    });
    if (this.#closed) {
      stream.close();
      throw new ConnectionLost(`${this.name}: transport closed`);
    }
    const forget = (c: Conn) => {
      if (this.#h2 === c) this.#h2 = null;
      this.#h1 = this.#h1.filter((x) => x !== c);
    };
    let conn: Conn;
    if (stream.alpnProtocol === "h2") {
      conn = new H2Conn(this, stream, forget);
      this.#h2 = conn;
    } else {
      conn = new H1Conn(this, stream, forget);
      this.#h1.push(conn);
    }
    log.debug("{name}: connected to {server} ({protocol})", {
      name: this.name,
      server: this.server.text,
      protocol: conn.h2 ? "HTTP/2" : "HTTP/1.1",
    });
    return conn;
  }

  async exchange(query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const layout = parseMessage(query);
    const wire = query.slice();
    setMessageId(wire, 0);
    const what = `${this.name}: exchange with ${this.url}`;
    const deadline = this.reactor.now() + timeoutMs;
    const post = this.request.method === "POST";
    const path = post
      ? this.request.path
      : `${this.request.path}${this.request.path.includes("?") ? "&" : "?"}dns=${base64Url(wire)}`;
    let last: unknown = null;
    for (let attempt = 0; attempt < 2; attempt++) {
      const remaining = Math.ceil(deadline - this.reactor.now());
      if (remaining <= 0 || this.#closed) break;
      const picking = this.#pick(deadline);
      let conn: Conn;
      try {
        conn = await this.#withDeadline(picking, remaining, what);
      } catch (error) {
        // Too late: give back the reservation when the connection arrives after all.
        picking.then((c) => c.active--, () => {});
        throw error;
      }
      const reused = conn.used;
      let response: HttpResponse;
      try {
        response = await conn.request(
          post ? wire : null,
          path,
          Math.max(1, Math.ceil(deadline - this.reactor.now())),
        );
      } catch (error) {
        last = error;
        if (error instanceof ConnectionLost && reused) continue;
        throw error instanceof SysError && error.code === "ETIMEDOUT"
          ? dnsTimeout(what, timeoutMs)
          : error;
      }
      return this.#answer(response, layout, what);
    }
    throw last ?? dnsTimeout(what, timeoutMs);
  }

  #answer(response: HttpResponse, layout: MessageLayout, what: string): Uint8Array {
    if (response.status !== 200) {
      throw new TypeError(`${what}: HTTP ${response.status} ${response.reason}`.trimEnd());
    }
    let answer: MessageLayout;
    try {
      answer = parseMessage(response.body);
    } catch (error) {
      throw new TypeError(`${what}: the body is not a DNS message: ${(error as Error).message}`);
    }
    if ((answer.flags & FLAG_QR) === 0 || !sameQuestions(answer, layout)) {
      throw new TypeError(`${what}: the answer is not for the question asked`);
    }
    const out = response.body.slice();
    setMessageId(out, layout.id);
    return out;
  }

  #withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = this.reactor.setTimeout(ms, () => reject(dnsTimeout(`${what}: connect`, ms)));
      p.then((v) => {
        t.cancel();
        resolve(v);
      }, (e) => {
        t.cancel();
        reject(e);
      });
    });
  }

  /** @internal Request headers for a query (`content-type` only with a body). */
  headersFor(withBody: boolean): [string, string][] {
    const h: [string, string][] = [["accept", DNS_MESSAGE]];
    if (withBody) h.push(["content-type", DNS_MESSAGE]);
    return [...h, ...this.request.headers];
  }

  close(): void {
    this.#closed = true;
    this.#h2?.close();
    for (const c of this.#h1) c.close();
    this.#h2 = null;
    this.#h1 = [];
  }
}

/** Closes a connection after it has been idle for {@linkcode HTTPS_IDLE_MS}. */
function idleCloser(reactor: Reactor, conn: Conn): { touch(): void; cancel(): void } {
  let timer: Timer | null = null;
  const arm = () => {
    timer?.cancel();
    timer = reactor.setTimeout(HTTPS_IDLE_MS, () => {
      if (conn.active === 0) conn.close();
      else arm();
    });
  };
  arm();
  return { touch: arm, cancel: () => timer?.cancel() };
}

/** The error of a request that ran out of time. */
function timeoutError(): SysError {
  return new SysError("DNS over HTTPS request", E.ETIMEDOUT);
}

/** HTTP/2: one session, one stream per query. */
class H2Conn implements Conn {
  readonly h2 = true;
  closed = false;
  used = false;
  active = 0;
  #session: http2.ClientHttp2Session;
  #idle: { touch(): void; cancel(): void };
  #reason = "closed by the server";

  constructor(
    readonly owner: HttpsTransport,
    readonly stream: Stream,
    readonly forget: (c: Conn) => void,
  ) {
    this.#session = http2.connect(`https://${owner.request.authority}`, {
      createConnection: () => new StreamDuplex(stream),
    } as http2.ClientSessionOptions);
    this.#session.on("error", (error: Error) => {
      this.#reason = `failed: ${error.message}`;
      this.close();
    });
    this.#session.on("goaway", () => {
      this.#reason = "sent GOAWAY";
      // Streams already accepted finish; new queries go to a new connection.
      this.forget(this);
    });
    this.#session.on("close", () => this.close());
    this.#idle = idleCloser(owner.reactor, this);
  }

  request(body: Uint8Array | null, path: string, timeoutMs: number): Promise<HttpResponse> {
    if (this.closed) {
      this.active--;
      return Promise.reject(new ConnectionLost(this.#lost()));
    }
    this.used = true;
    this.#idle.touch();
    const headers: http2.OutgoingHttpHeaders = {
      ":method": body ? "POST" : "GET",
      ":path": path,
    };
    for (const [k, v] of this.owner.headersFor(body !== null)) headers[k] = v;
    if (body) headers["content-length"] = String(body.length);
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      let timer: Timer | null = null;
      const done = (error: Error | null, response?: HttpResponse) => {
        if (settled) return;
        settled = true;
        timer?.cancel();
        this.active--;
        this.#idle.touch();
        if (error) reject(error);
        else resolve(response!);
      };
      let req: http2.ClientHttp2Stream;
      try {
        req = this.#session.request(headers, { endStream: body === null });
      } catch (error) {
        this.close();
        done(new ConnectionLost(`${this.#lost()}: ${(error as Error).message}`));
        return;
      }
      timer = this.owner.reactor.setTimeout(timeoutMs, () => {
        req.close(http2.constants.NGHTTP2_CANCEL);
        done(timeoutError());
      });
      let status = 0;
      const chunks: Uint8Array[] = [];
      let size = 0;
      req.on("response", (h) => {
        status = Number(h[":status"] ?? 0);
      });
      req.on("data", (chunk: Uint8Array) => {
        size += chunk.length;
        if (size > MAX_BODY) {
          req.close(http2.constants.NGHTTP2_CANCEL);
          done(new RangeError(`answer body over ${MAX_BODY} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      req.on("end", () => {
        done(null, { status, reason: "", body: concat(chunks, size) });
      });
      req.on(
        "error",
        (error: Error) => done(new ConnectionLost(`${this.#lost()}: ${error.message}`)),
      );
      req.on("close", () => {
        if (!settled) {
          done(
            status === 0
              ? new ConnectionLost(`${this.#lost()} before answering`)
              : new TypeError(`stream reset by the server (code ${req.rstCode})`),
          );
        }
      });
      if (body) req.end(body);
    });
  }

  #lost(): string {
    return `${this.owner.name}: HTTP/2 connection to ${this.owner.server.text} ${this.#reason}`;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#idle.cancel();
    this.forget(this);
    if (!this.#session.destroyed) this.#session.destroy();
    this.stream.close();
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** HTTP/1.1 with keep-alive: one request at a time on a connection (queued, not pipelined). */
class H1Conn implements Conn {
  readonly h2 = false;
  closed = false;
  used = false;
  active = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #reader: ByteReader;
  #idle: { touch(): void; cancel(): void };

  constructor(
    readonly owner: HttpsTransport,
    readonly stream: Stream,
    readonly forget: (c: Conn) => void,
  ) {
    this.#reader = new ByteReader(stream);
    this.#idle = idleCloser(owner.reactor, this);
  }

  request(body: Uint8Array | null, path: string, timeoutMs: number): Promise<HttpResponse> {
    this.used = true;
    this.#idle.touch();
    const run = async (): Promise<HttpResponse> => {
      if (this.closed) throw new ConnectionLost(this.#lost("was closed"));
      const timer = this.owner.reactor.setTimeout(timeoutMs, () => {
        // An HTTP/1.1 request cannot be cancelled: the connection goes.
        this.#reader.fail(timeoutError());
        this.close();
      });
      try {
        return await this.#exchange(body, path);
      } finally {
        timer.cancel();
      }
    };
    const p = this.#queue.then(run, run).finally(() => {
      this.active--;
      this.#idle.touch();
    });
    this.#queue = p.catch(() => {});
    return p;
  }

  async #exchange(body: Uint8Array | null, path: string): Promise<HttpResponse> {
    let head = `${body ? "POST" : "GET"} ${path} HTTP/1.1\r\n`;
    const custom = this.owner.request.headers;
    if (!custom.some(([k]) => k.toLowerCase() === "host")) {
      head += `Host: ${this.owner.request.authority}\r\n`;
    }
    for (const [k, v] of this.owner.headersFor(body !== null)) head += `${k}: ${v}\r\n`;
    if (body) head += `Content-Length: ${body.length}\r\n`;
    head += "\r\n";
    const headBytes = encoder.encode(head);
    const out = body ? concat([headBytes, body], headBytes.length + body.length) : headBytes;
    try {
      await writeAllStream(this.stream, out);
    } catch (error) {
      this.close();
      throw new ConnectionLost(this.#lost(`failed: ${(error as Error).message}`));
    }
    let statusLine: string;
    try {
      statusLine = await this.#reader.line();
    } catch (error) {
      this.close();
      if (error instanceof SysError && error.code === "ETIMEDOUT") throw error;
      throw new ConnectionLost(this.#lost(`closed before answering (${(error as Error).message})`));
    }
    try {
      const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(statusLine);
      if (!m) throw new TypeError(`not an HTTP/1.x status line: ${JSON.stringify(statusLine)}`);
      const http10 = m[1] === "0";
      const status = Number(m[2]);
      const reason = m[3] ?? "";
      const headers = new Map<string, string>();
      for (;;) {
        const line = await this.#reader.line();
        if (line === "") break;
        const colon = line.indexOf(":");
        if (colon <= 0) throw new TypeError(`bad header line ${JSON.stringify(line)}`);
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      let payload: Uint8Array;
      const te = headers.get("transfer-encoding")?.toLowerCase();
      const cl = headers.get("content-length");
      if (te && te !== "identity") {
        if (!te.endsWith("chunked")) throw new TypeError(`unsupported transfer-encoding ${te}`);
        payload = await this.#chunked();
      } else if (cl !== undefined) {
        const n = Number(cl);
        if (!Number.isInteger(n) || n < 0) throw new TypeError(`bad content-length ${cl}`);
        if (n > MAX_BODY) throw new RangeError(`answer body of ${n} bytes is too long`);
        payload = await this.#reader.exact(n);
      } else {
        payload = await this.#reader.rest(MAX_BODY);
        this.close();
      }
      const connection = headers.get("connection")?.toLowerCase() ?? "";
      if (http10 || connection.split(",").some((t) => t.trim() === "close")) this.close();
      return { status, reason, body: payload };
    } catch (error) {
      this.close();
      throw error;
    }
  }

  async #chunked(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const line = await this.#reader.line();
      const n = parseInt(line.split(";")[0]!.trim(), 16);
      if (!Number.isFinite(n) || n < 0) {
        throw new TypeError(`bad chunk size ${JSON.stringify(line)}`);
      }
      if (n === 0) {
        while ((await this.#reader.line()) !== "") { /* trailers */ }
        return concat(parts, size);
      }
      size += n;
      if (size > MAX_BODY) throw new RangeError(`answer body over ${MAX_BODY} bytes`);
      parts.push(await this.#reader.exact(n));
      if ((await this.#reader.line()) !== "") throw new TypeError("chunk not followed by CRLF");
    }
  }

  #lost(how: string): string {
    return `${this.owner.name}: HTTP/1.1 connection to ${this.owner.server.text} ${how}`;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#idle.cancel();
    this.forget(this);
    this.#reader.fail(new ConnectionLost(this.#lost("was closed")));
    this.stream.close();
  }
}

async function writeAllStream(stream: Stream, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    if (stream.closed) throw new SysError("write to a closed stream", E.EPIPE);
    const n = stream.write(off === 0 ? buf : buf.subarray(off));
    if (n === WOULD_BLOCK) {
      await stream.writable();
      continue;
    }
    off += n;
  }
}

/** Buffered reads of lines and exact lengths from a stream the reader owns. */
class ByteReader {
  #buf: Uint8Array = new Uint8Array(0);
  #chunk = new Uint8Array(16384);
  #failure: Error | null = null;

  constructor(readonly stream: Stream) {}

  /** Makes pending and later reads fail with `error` (a timeout, a close). */
  fail(error: Error): void {
    this.#failure ??= error;
  }

  async #more(): Promise<boolean> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      if (this.stream.closed) throw new ConnectionLost("the connection was closed");
      const n = this.stream.read(this.#chunk);
      if (n === WOULD_BLOCK) {
        await this.stream.readable().catch(() => {});
        continue;
      }
      if (n === 0) return false;
      this.#buf = concat([this.#buf, this.#chunk.subarray(0, n)], this.#buf.length + n);
      return true;
    }
  }

  /** The next line without its CRLF (at most 8 KiB). */
  async line(): Promise<string> {
    for (;;) {
      const i = this.#buf.indexOf(10);
      if (i >= 0) {
        const end = i > 0 && this.#buf[i - 1] === 13 ? i - 1 : i;
        const text = decoder.decode(this.#buf.subarray(0, end));
        this.#buf = this.#buf.slice(i + 1);
        return text;
      }
      if (this.#buf.length > 8192) throw new RangeError("HTTP line longer than 8 KiB");
      if (!(await this.#more())) {
        throw new ConnectionLost(`connection closed after ${this.#buf.length} bytes of a line`);
      }
    }
  }

  /** Exactly `n` bytes. */
  async exact(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n) {
      if (!(await this.#more())) {
        throw new ConnectionLost(`connection closed after ${this.#buf.length} of ${n} bytes`);
      }
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  /** Everything until EOF (at most `max` bytes). */
  async rest(max: number): Promise<Uint8Array> {
    while (await this.#more()) {
      if (this.#buf.length > max) throw new RangeError(`answer body over ${max} bytes`);
    }
    const out = this.#buf;
    this.#buf = new Uint8Array(0);
    return out;
  }
}
