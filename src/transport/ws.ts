/**
 * The V2Ray WebSocket transport, client side (RFC 6455 as V2Ray, Xray and sing-box use it):
 * an HTTP/1.1 upgrade, then every byte in masked binary frames.
 *
 * - `path` and `headers` go into the request (`Host` from the headers when set, else the
 *   server's address; `User-Agent: Go-http-client/1.1` unless given, as sing-box).
 * - Early data (`max_early_data` > 0): the upgrade waits for the first bytes written, and up to
 *   `max_early_data` of them travel base64url-encoded in the path (appended) or in the header
 *   `early_data_header_name` (Xray: `Sec-WebSocket-Protocol`), saving a round trip.
 * - Received data, text and continuation frames are payload; a ping is answered with a pong;
 *   a close frame ends the stream. `close()` sends a close frame (1000) first.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import nodeCrypto from "node:crypto";
import { E, SysError } from "../../ffi/errno.ts";
import { FramedStream, ProtocolError } from "../io/framed_stream.ts";
import { readHeaderBlock, writeAll } from "../io/handshake_io.ts";
import type { Stream } from "../io/stream.ts";
import type { Timer } from "../io/timer_queue.ts";

/** What the WebSocket client sends. */
export interface WsOptions {
  /** Request path (a leading `/` is added when missing). */
  path?: string;
  headers?: Record<string, string[]>;
  /** The `Host` when the headers name none (`server:port`). */
  host: string;
  maxEarlyData?: number;
  earlyDataHeaderName?: string;
  /** Names the caller in messages. */
  what: string;
}

/** How long an early-data upgrade waits for the first bytes before going without. */
export const EARLY_DATA_WAIT_MS = 100;
const MAX_FRAME = 64 * 1024;
const te = new TextEncoder();
const td = new TextDecoder();

function requestPath(path: string | undefined): string {
  const p = path ?? "/";
  return p.startsWith("/") ? p : `/${p}`;
}

/** The upgrade request; `early` (base64url) goes into the path or the named header. */
export function upgradeRequest(o: WsOptions, key: string, early: string | null): Uint8Array {
  const headers = new Map<string, string[]>();
  for (const [k, v] of Object.entries(o.headers ?? {})) headers.set(k.toLowerCase(), v);
  const host = headers.get("host")?.[0] ?? o.host;
  let path = requestPath(o.path);
  const lines = [];
  if (early !== null && !o.earlyDataHeaderName) path += early;
  lines.push(`GET ${path} HTTP/1.1`, `Host: ${host}`);
  if (!headers.has("user-agent")) lines.push("User-Agent: Go-http-client/1.1");
  lines.push(
    "Connection: Upgrade",
    "Upgrade: websocket",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
  );
  for (const [k, values] of Object.entries(o.headers ?? {})) {
    if (k.toLowerCase() === "host") continue;
    for (const v of values) lines.push(`${k}: ${v}`);
  }
  if (early !== null && o.earlyDataHeaderName) lines.push(`${o.earlyDataHeaderName}: ${early}`);
  return te.encode(lines.join("\r\n") + "\r\n\r\n");
}

/** Checks the server's answer to the upgrade; throws naming the status otherwise. */
export function checkUpgradeResponse(head: string, key: string, what: string): void {
  const status = head.split("\r\n", 1)[0] ?? "";
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(status);
  if (!m) {
    throw new ProtocolError(
      `${what}: the server's answer is not HTTP: ${JSON.stringify(status.slice(0, 60))}`,
    );
  }
  if (m[1] !== "101") {
    throw new ProtocolError(
      `${what}: WebSocket upgrade refused: ${status.slice(9).trim()} (check "path" and "headers")`,
    );
  }
  const accept = /\r\nsec-websocket-accept:\s*([^\r]*)/i.exec(head)?.[1]?.trim();
  if (accept !== acceptFor(key)) {
    throw new ProtocolError(`${what}: the server's Sec-WebSocket-Accept does not match the key`);
  }
}

/** Sec-WebSocket-Accept for `key` (RFC 6455 §4.2.2). */
export function acceptFor(key: string): string {
  return nodeCrypto.createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
    .digest("base64");
}

function newKey(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
}

/** Masks `src` into `dst` (same length) with the 4-byte `mask` (RFC 6455 §5.3). */
export function maskInto(dst: Uint8Array, src: Uint8Array, mask: Uint8Array): void {
  const n = src.length;
  let i = 0;
  if (n >= 16 && dst.byteOffset % 4 === 0 && src.byteOffset % 4 === 0) {
    const m32 = new Uint32Array(mask.buffer.slice(mask.byteOffset, mask.byteOffset + 4))[0]!;
    const words = n >>> 2;
    const d = new Uint32Array(dst.buffer, dst.byteOffset, words);
    const s = new Uint32Array(src.buffer, src.byteOffset, words);
    for (let w = 0; w < words; w++) d[w] = s[w]! ^ m32;
    i = words << 2;
  }
  for (; i < n; i++) dst[i] = src[i]! ^ mask[i & 3]!;
}

/** One masked client frame. */
export function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const lenBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  // Header padded so the payload starts 4-aligned (fast masking).
  const head = 2 + lenBytes + 4;
  const pad = (4 - (head % 4)) % 4;
  const buf = new Uint8Array(pad + head + n);
  const out = buf.subarray(pad);
  out[0] = 0x80 | opcode;
  if (lenBytes === 0) out[1] = 0x80 | n;
  else if (lenBytes === 2) {
    out[1] = 0x80 | 126;
    out[2] = n >> 8;
    out[3] = n & 0xff;
  } else {
    out[1] = 0x80 | 127;
    new DataView(out.buffer, out.byteOffset).setBigUint64(2, BigInt(n));
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  out.set(mask, 2 + lenBytes);
  maskInto(out.subarray(head), payload, mask);
  return out;
}

const enum Rx {
  Http,
  Header,
  Payload,
  Control,
}

/** A WebSocket connection carrying a byte stream. */
export class WsStream extends FramedStream {
  readonly #o: WsOptions;
  #key: string;
  #requested: boolean;
  #upgraded: boolean;
  #pending: Uint8Array[] = [];
  #timer: Timer | null = null;
  #rx: Rx;
  #remaining = 0;
  #opcode = 0;
  #control: number[] = [];
  #closeSent = false;

  /**
   * @param upgraded true when the upgrade already happened ({@linkcode wsConnect}); false for
   *   early data (the request leaves with the first bytes).
   */
  constructor(inner: Stream, o: WsOptions, upgraded: boolean, key = newKey()) {
    super(inner, 64 * 1024);
    this.#o = o;
    this.#key = key;
    this.#upgraded = upgraded;
    this.#requested = upgraded;
    this.#rx = upgraded ? Rx.Header : Rx.Http;
    if (!upgraded) {
      this.#timer = this.reactor.setTimeout(EARLY_DATA_WAIT_MS, () => {
        this.#timer = null;
        if (!this.#requested && !this.closed) this.#request(new Uint8Array(0));
      });
    }
    this.startReading();
  }

  #request(first: Uint8Array): void {
    this.#requested = true;
    this.#timer?.cancel();
    this.#timer = null;
    const max = this.#o.maxEarlyData ?? 0;
    const early = first.subarray(0, Math.min(max, first.length));
    const encoded = early.length > 0 ? Buffer.from(early).toString("base64url") : null;
    this.queueOut(upgradeRequest(this.#o, this.#key, encoded));
    if (first.length > early.length) this.#pending.push(first.slice(early.length));
  }

  protected encode(data: Uint8Array): void {
    if (!this.#requested) {
      this.#request(data);
      return;
    }
    if (!this.#upgraded) {
      this.#pending.push(data.slice());
      return;
    }
    for (let off = 0; off < data.length; off += MAX_FRAME) {
      this.queueOut(clientFrame(2, data.subarray(off, Math.min(data.length, off + MAX_FRAME))));
    }
  }

  protected decode(buf: Uint8Array): number {
    switch (this.#rx) {
      case Rx.Http: {
        const text = td.decode(buf.subarray(0, Math.min(buf.length, 16384)));
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) {
          if (buf.length >= 16384) {
            throw new ProtocolError(`${this.#o.what}: upgrade answer too long`);
          }
          return 0;
        }
        checkUpgradeResponse(text.slice(0, end + 2), this.#key, this.#o.what);
        this.#upgraded = true;
        this.#rx = Rx.Header;
        const pending = this.#pending;
        this.#pending = [];
        for (const p of pending) this.encode(p);
        return te.encode(text.slice(0, end + 4)).length;
      }
      case Rx.Header: {
        if (buf.length < 2) return 0;
        const b0 = buf[0]!, b1 = buf[1]!;
        if (b1 & 0x80) throw new ProtocolError(`${this.#o.what}: the server sent a masked frame`);
        let len = b1 & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return 0;
          len = (buf[2]! << 8) | buf[3]!;
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return 0;
          const big = new DataView(buf.buffer, buf.byteOffset).getBigUint64(2);
          if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
            throw new ProtocolError(`${this.#o.what}: frame length ${big} is too large`);
          }
          len = Number(big);
          off = 10;
        }
        const opcode = b0 & 0x0f;
        this.#opcode = opcode;
        this.#remaining = len;
        if (opcode >= 8) {
          if (len > 125) throw new ProtocolError(`${this.#o.what}: control frame of ${len} bytes`);
          this.#control = [];
          this.#rx = Rx.Control;
        } else if (opcode <= 2) {
          this.#rx = Rx.Payload;
        } else {
          throw new ProtocolError(`${this.#o.what}: unknown frame opcode ${opcode}`);
        }
        if (len === 0) this.#frameDone();
        return off;
      }
      case Rx.Payload: {
        const n = Math.min(buf.length, this.#remaining);
        this.queueIn(buf.slice(0, n));
        this.#remaining -= n;
        if (this.#remaining === 0) this.#rx = Rx.Header;
        return n;
      }
      case Rx.Control: {
        const n = Math.min(buf.length, this.#remaining);
        for (let i = 0; i < n; i++) this.#control.push(buf[i]!);
        this.#remaining -= n;
        if (this.#remaining === 0) this.#frameDone();
        return n;
      }
    }
  }

  #frameDone(): void {
    const op = this.#opcode;
    this.#rx = Rx.Header;
    if (op === 9) this.queueOut(clientFrame(10, new Uint8Array(this.#control)));
    else if (op === 8) {
      if (!this.#closeSent) {
        this.#closeSent = true;
        this.queueOut(clientFrame(8, new Uint8Array(this.#control.slice(0, 2))));
      }
      this.endOfInput();
    }
  }

  protected override decodeEnd(rest: Uint8Array): void {
    if (this.#rx === Rx.Http) {
      throw new SysError(
        `${this.#o.what}: the server closed the connection before upgrading`,
        E.ECONNRESET,
      );
    }
    super.decodeEnd(rest);
  }

  protected override destroy(reset: boolean): void {
    this.#timer?.cancel();
    this.#timer = null;
    if (!reset && this.#upgraded && !this.#closeSent) {
      this.#closeSent = true;
      this.queueOut(clientFrame(8, new Uint8Array([0x03, 0xe8])));
    }
    super.destroy(reset);
  }
}

/**
 * Opens a WebSocket over `inner`. Without early data the upgrade completes before this
 * resolves (a refusal fails the dial, naming the status); with it the request leaves with the
 * first bytes written.
 */
export async function wsConnect(inner: Stream, o: WsOptions): Promise<WsStream> {
  if ((o.maxEarlyData ?? 0) > 0) return new WsStream(inner, o, false);
  const key = newKey();
  await writeAll(inner, upgradeRequest(o, key, null), `${o.what}: send WebSocket upgrade`);
  const head = td.decode(await readHeaderBlock(inner, `${o.what}: read WebSocket upgrade answer`));
  checkUpgradeResponse(head, key, o.what);
  return new WsStream(inner, o, true, key);
}
