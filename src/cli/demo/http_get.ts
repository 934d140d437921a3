/**
 * A small HTTP/1.1 GET over `Deno.connect` for the demo client. Unlike `fetch`, it shows the
 * socket's local address (to find the connection in tunbox's records), always closes the
 * connection (`Connection: close`, so tunbox reports it at once), and can stop a download
 * after a deadline (the throughput run).
 *
 * @module
 */

/** What a GET returned. */
export interface HttpResult {
  status: number;
  headers: Map<string, string>;
  /** The body when the answer had a Content-Length and `keepBody` was set. */
  body?: Uint8Array<ArrayBuffer>;
  /** Body bytes received (for chunked answers: including chunk framing). */
  bodyBytes: number;
  /** The client socket's local port. */
  localPort: number;
  /** Seconds from the first body byte to the end (or the deadline). */
  bodySeconds: number;
}

/** Options for {@linkcode httpGet}. */
export interface HttpGetOptions {
  /** Keep the body in memory (otherwise bytes are only counted). */
  keepBody?: boolean;
  /** Stop reading (and close) this many ms after the headers arrived. */
  stopAfterMs?: number;
  /** Give up after this many ms in total (default 20 s). */
  timeoutMs?: number;
}

const HEADER_END = [13, 10, 13, 10];

function indexOfHeaderEnd(buf: Uint8Array, len: number): number {
  outer: for (let i = 0; i + 4 <= len; i++) {
    for (let j = 0; j < 4; j++) if (buf[i + j] !== HEADER_END[j]) continue outer;
    return i;
  }
  return -1;
}

/** `GET http://host:port/path` with `Connection: close`. Throws on connection errors. */
export async function httpGet(
  host: string,
  port: number,
  path: string,
  options: HttpGetOptions = {},
): Promise<HttpResult> {
  const conn = await Deno.connect({ hostname: host, port });
  const localPort = (conn.localAddr as Deno.NetAddr).port;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const timeout = setTimeout(close, options.timeoutMs ?? 20_000);
  let stopTimer: ReturnType<typeof setTimeout> | undefined;
  try {
    const request = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: tunbox-demo\r\n` +
      "Connection: close\r\n\r\n";
    await conn.write(new TextEncoder().encode(request));
    // Headers.
    let head = new Uint8Array(16 * 1024);
    let headLen = 0;
    let end = -1;
    while (end < 0) {
      if (headLen === head.length) throw new Error(`HTTP headers from ${host} too long`);
      const n = await conn.read(head.subarray(headLen)).catch((e) => {
        if (closed) return null;
        throw e;
      });
      if (n === null) throw new Error(`connection to ${host}:${port} closed before the headers`);
      headLen += n;
      end = indexOfHeaderEnd(head, headLen);
    }
    const lines = new TextDecoder().decode(head.subarray(0, end)).split("\r\n");
    const status = Number(lines[0]?.split(" ")[1] ?? "0");
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    const length = headers.has("content-length") ? Number(headers.get("content-length")) : -1;
    const start = performance.now();
    if (options.stopAfterMs !== undefined) stopTimer = setTimeout(close, options.stopAfterMs);
    const body = options.keepBody && length >= 0 ? new Uint8Array(length) : undefined;
    let got = 0;
    const initial = head.subarray(end + 4, headLen);
    if (body) body.set(initial.subarray(0, length));
    got += initial.length;
    head = new Uint8Array(0);
    const buf = new Uint8Array(256 * 1024);
    while (length < 0 || got < length) {
      const n = await conn.read(buf).catch((e) => {
        if (closed) return null;
        throw e;
      });
      if (n === null) break;
      if (body && got < length) body.set(buf.subarray(0, Math.min(n, length - got)), got);
      got += n;
    }
    const result: HttpResult = {
      status,
      headers,
      bodyBytes: got,
      localPort,
      bodySeconds: (performance.now() - start) / 1000,
    };
    if (body) {
      if (got < length) {
        throw new Error(`body from ${host} ended after ${got} of ${length} bytes`);
      }
      result.body = body;
    }
    return result;
  } finally {
    clearTimeout(timeout);
    clearTimeout(stopTimer);
    close();
  }
}
