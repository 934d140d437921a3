/**
 * Downloading a remote rule-set: an HTTP/1.1 GET over a stream dialed through an outbound (the
 * set's `download_detour`, else the default outbound), so a download through a SOCKS proxy
 * works like any other connection. It runs on a worker's reactor.
 *
 * - Conditional: `If-None-Match` (the last ETag, as sing-box sends) and `If-Modified-Since` (the
 *   last `Last-Modified`); a `304` means "unchanged".
 * - Bounded: the whole download must finish within `timeoutMs`, bytes must keep arriving
 *   (`idleMs`), and the body may not exceed `maxBytes`; a server that hangs or sends too much
 *   fails the download with a message saying which.
 * - Bodies with `Content-Length`, `Transfer-Encoding: chunked`, or until the connection closes;
 *   up to 5 redirects. `https:` runs TLS (`src/tls/`) over the outbound's stream, verifying the
 *   certificate against the system's trust anchors as sing-box does.
 *
 * @module
 */

import type { Reactor } from "../io/reactor.ts";
import { type Stream, WOULD_BLOCK, writeAll } from "../io/stream.ts";
import { parseIp } from "../net/ip.ts";
import { parseStatusLine } from "../outbound/http.ts";
import type { Destination, Dialer } from "../outbound/mod.ts";
import { type TlsClientConfig, tlsConnect } from "../tls/client.ts";
import { formatSize, MAX_RULE_SET_BYTES } from "./size.ts";

/** What to download. */
export interface DownloadRequest {
  url: string;
  /** Sent as `If-None-Match`. */
  etag?: string;
  /** Sent as `If-Modified-Since`. */
  lastModified?: string;
  /** Whole download (all redirects included); default 60 s. */
  timeoutMs?: number;
  /** Longest wait for the next bytes; default 20 s. */
  idleMs?: number;
  /** Largest body accepted; default 16 MiB. */
  maxBytes?: number;
}

/** What came back. `body` is empty for `304`. */
export interface DownloadResult {
  status: number;
  /** The URL that answered (after redirects). */
  url: string;
  etag?: string;
  lastModified?: string;
  body: Uint8Array;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_IDLE_MS = 20_000;
const MAX_HEADER_BYTES = 64 * 1024;
const MAX_REDIRECTS = 5;
/** sing-box's `C.TCPTimeout`, its rule-set downloads' TLS handshake timeout. */
const TLS_HANDSHAKE_MS = 15_000;

/** A download that failed; the message names the URL and what went wrong. */
export class DownloadError extends Error {
  override name = "DownloadError";
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 1000)} s`;
}

/** Reads from a stream with the deadline and idle timer of one download. */
class Reader {
  #pending: Uint8Array = new Uint8Array(0);
  #buf = new Uint8Array(64 * 1024);
  #eof = false;

  constructor(
    readonly stream: Stream,
    readonly guard: Guard,
  ) {}

  /** Next bytes (at least one) or null at EOF. */
  async next(): Promise<Uint8Array | null> {
    if (this.#pending.length > 0) {
      const out = this.#pending;
      this.#pending = new Uint8Array(0);
      return out;
    }
    if (this.#eof) return null;
    for (;;) {
      this.guard.check();
      const n = this.stream.read(this.#buf);
      if (n === 0) {
        this.#eof = true;
        return null;
      }
      if (n !== WOULD_BLOCK) {
        this.guard.progress();
        return this.#buf.slice(0, n);
      }
      await Promise.race([this.stream.readable(), this.guard.expired]);
    }
  }

  unread(b: Uint8Array): void {
    if (b.length > 0) this.#pending = b;
  }
}

/** Deadline and idle timeout of one download, on the reactor's clock. */
class Guard {
  readonly expired: Promise<never>;
  readonly #reactor: Reactor;
  readonly #url: string;
  readonly #start: number;
  readonly #deadline: number;
  readonly #idleMs: number;
  readonly #onExpire: () => void;
  #timer: { cancel(): void } | null = null;
  #reason: string | null = null;
  #lastProgress: number;
  #fail: (e: Error) => void = () => {};

  constructor(
    reactor: Reactor,
    url: string,
    deadline: number,
    idleMs: number,
    onExpire: () => void,
  ) {
    this.#reactor = reactor;
    this.#url = url;
    this.#start = reactor.now();
    this.#deadline = deadline;
    this.#idleMs = idleMs;
    this.#onExpire = onExpire;
    this.#lastProgress = this.#start;
    this.expired = new Promise<never>((_, reject) => {
      this.#fail = reject;
    });
    this.expired.catch(() => {});
    this.#arm();
  }

  #arm(): void {
    this.#timer?.cancel();
    const at = Math.min(this.#deadline, this.#lastProgress + this.#idleMs);
    this.#timer = this.#reactor.setTimeout(Math.max(0, at - this.#reactor.now()), () => {
      const t = this.#reactor.now();
      if (t >= this.#deadline) {
        this.#expire(
          `did not finish within ${formatMs(this.#deadline - this.#start)}`,
        );
      } else if (t - this.#lastProgress >= this.#idleMs) {
        this.#expire(`no data for ${formatMs(this.#idleMs)}`);
      } else this.#arm();
    });
  }

  #expire(reason: string): void {
    this.#reason = reason;
    this.#onExpire();
    this.#fail(new DownloadError(`download ${this.#url}: ${reason}`));
  }

  /** Bytes arrived: the idle timer starts over. */
  progress(): void {
    this.#lastProgress = this.#reactor.now();
  }

  /** Throws once the download has timed out. */
  check(): void {
    if (this.#reason) throw new DownloadError(`download ${this.#url}: ${this.#reason}`);
  }

  cancel(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

interface Head {
  status: number;
  reason: string;
  headers: Map<string, string>;
}

async function readHead(r: Reader, url: string): Promise<Head> {
  let buf = new Uint8Array(0);
  for (;;) {
    const chunk = await r.next();
    if (chunk === null) {
      throw new DownloadError(
        buf.length === 0
          ? `download ${url}: the server closed the connection without answering`
          : `download ${url}: the answer ended inside its headers`,
      );
    }
    const joined = new Uint8Array(buf.length + chunk.length);
    joined.set(buf);
    joined.set(chunk, buf.length);
    buf = joined;
    const end = indexOfCrlfCrlf(buf);
    if (end >= 0) {
      r.unread(buf.slice(end + 4));
      const lines = new TextDecoder("latin1").decode(buf.subarray(0, end)).split("\r\n");
      const status = parseStatusLine(lines[0] ?? "");
      if (!status) {
        throw new DownloadError(
          `download ${url}: not an HTTP answer: ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`,
        );
      }
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        if (colon <= 0) continue;
        const key = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers.set(key, headers.has(key) ? `${headers.get(key)}, ${value}` : value);
      }
      return { status: status.status, reason: status.reason, headers };
    }
    if (buf.length > MAX_HEADER_BYTES) {
      throw new DownloadError(`download ${url}: headers longer than ${MAX_HEADER_BYTES} bytes`);
    }
  }
}

function tooLarge(url: string, max: number, size?: number): DownloadError {
  return new DownloadError(
    `download ${url}: the rule-set is ${
      size !== undefined ? formatSize(size) : "larger than that"
    }, over the ${formatSize(max)} limit`,
  );
}

async function readBody(r: Reader, head: Head, url: string, max: number): Promise<Uint8Array> {
  const te = head.headers.get("transfer-encoding")?.toLowerCase() ?? "";
  if (te.includes("chunked")) return await readChunked(r, url, max);
  const cl = head.headers.get("content-length");
  if (cl !== undefined) {
    if (!/^[0-9]+$/.test(cl)) {
      throw new DownloadError(`download ${url}: bad Content-Length "${cl}"`);
    }
    const length = Number(cl);
    if (length > max) throw tooLarge(url, max, length);
    const parts: Uint8Array[] = [];
    let got = 0;
    while (got < length) {
      const chunk = await r.next();
      if (chunk === null) {
        throw new DownloadError(
          `download ${url}: connection closed after ${got} of ${length} bytes`,
        );
      }
      const take = chunk.subarray(0, Math.min(chunk.length, length - got));
      parts.push(take);
      got += take.length;
    }
    return concat(parts, got);
  }
  const parts: Uint8Array[] = [];
  let got = 0;
  for (;;) {
    const chunk = await r.next();
    if (chunk === null) break;
    got += chunk.length;
    if (got > max) throw tooLarge(url, max);
    parts.push(chunk);
  }
  return concat(parts, got);
}

async function readChunked(r: Reader, url: string, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let got = 0;
  let buf = new Uint8Array(0);
  const fill = async (need: number) => {
    while (buf.length < need) {
      const chunk = await r.next();
      if (chunk === null) throw new DownloadError(`download ${url}: chunked body ended early`);
      const joined = new Uint8Array(buf.length + chunk.length);
      joined.set(buf);
      joined.set(chunk, buf.length);
      buf = joined;
    }
  };
  const line = async (): Promise<string> => {
    for (;;) {
      const i = buf.findIndex((b, j) => b === 13 && buf[j + 1] === 10);
      if (i >= 0) {
        const text = new TextDecoder("latin1").decode(buf.subarray(0, i));
        buf = buf.slice(i + 2);
        return text;
      }
      if (buf.length > 4096) throw new DownloadError(`download ${url}: bad chunk header`);
      await fill(buf.length + 1);
    }
  };
  for (;;) {
    const sizeText = (await line()).split(";")[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) {
      throw new DownloadError(`download ${url}: bad chunk size "${sizeText.slice(0, 20)}"`);
    }
    const size = parseInt(sizeText, 16);
    if (size === 0) {
      while ((await line()) !== "") { /* trailers */ }
      return concat(parts, got);
    }
    if (got + size > max) throw tooLarge(url, max);
    await fill(size + 2);
    parts.push(buf.slice(0, size));
    got += size;
    buf = buf.slice(size + 2);
  }
}

function destinationOf(url: URL): Destination {
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  const addr = parseIp(host);
  return addr ? { addr, port } : { domain: host, port };
}

/**
 * Downloads `request.url` through `dialer`. Resolves for any HTTP status (the caller decides
 * what 304 or 404 means); rejects with {@linkcode DownloadError} for everything else (refused,
 * timed out, too large, not HTTP, a certificate that does not verify). `id` numbers the
 * connection in the outbound's logs; `tls.ca` replaces the trust anchors (tests).
 */
export async function download(
  dialer: Pick<Dialer, "dialTcp">,
  reactor: Reactor,
  request: DownloadRequest,
  id = 0,
  tls: { ca?: string[] } = {},
): Promise<DownloadResult> {
  const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = reactor.now() + timeoutMs;
  const max = request.maxBytes ?? MAX_RULE_SET_BYTES;
  let url = request.url;
  for (let hop = 0;; hop++) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new DownloadError(`download ${url}: not a valid URL`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new DownloadError(`download ${url}: only http and https URLs can be downloaded`);
    }
    let stream: Stream | null = null;
    const guard = new Guard(
      reactor,
      url,
      deadline,
      request.idleMs ?? DEFAULT_IDLE_MS,
      () => stream?.abort(),
    );
    try {
      const dial = dialer.dialTcp(destinationOf(parsed), { id });
      stream = await Promise.race([dial, guard.expired]).catch((e) => {
        dial.then((s) => s.abort(), () => {});
        throw e instanceof DownloadError ? e : new DownloadError(
          `download ${url}: connect failed: ${e instanceof Error ? e.message : String(e)}`,
          { cause: e },
        );
      });
      if (parsed.protocol === "https:") {
        const inner = stream;
        const host = parsed.hostname.replace(/^\[|\]$/g, "");
        const config: TlsClientConfig = { serverName: host, alpn: ["http/1.1"] };
        if (tls.ca) config.ca = tls.ca;
        const remaining = Math.max(1, deadline - reactor.now());
        stream = await tlsConnect(inner, config, {
          what: `download ${url}`,
          timeoutMs: Math.min(remaining, TLS_HANDSHAKE_MS),
        }).catch((e) => {
          throw new DownloadError((e as Error).message, { cause: e });
        });
      }
      const lines = [
        `GET ${parsed.pathname}${parsed.search} HTTP/1.1`,
        `Host: ${parsed.host}`,
        "User-Agent: tunbox",
        "Accept: */*",
        "Accept-Encoding: identity",
        "Connection: close",
      ];
      if (request.etag) lines.push(`If-None-Match: ${request.etag}`);
      if (request.lastModified) lines.push(`If-Modified-Since: ${request.lastModified}`);
      const head = new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
      await Promise.race([writeAll(stream, head, `download ${url}`), guard.expired]);
      const reader = new Reader(stream, guard);
      const h = await readHead(reader, url);
      if (h.status >= 300 && h.status < 400 && h.status !== 304 && h.headers.has("location")) {
        if (hop >= MAX_REDIRECTS) {
          throw new DownloadError(`download ${request.url}: too many redirects`);
        }
        url = new URL(h.headers.get("location")!, url).href;
        continue;
      }
      const body = h.status === 304 ? new Uint8Array(0) : await readBody(reader, h, url, max);
      const out: DownloadResult = { status: h.status, url, body };
      const etag = h.headers.get("etag");
      if (etag) out.etag = etag;
      const lm = h.headers.get("last-modified");
      if (lm) out.lastModified = lm;
      return out;
    } catch (e) {
      if (e instanceof DownloadError) throw e;
      throw new DownloadError(
        `download ${url}: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    } finally {
      guard.cancel();
      stream?.close();
    }
  }
}
