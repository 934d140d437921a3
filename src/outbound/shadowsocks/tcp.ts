/**
 * The shadowsocks TCP client stream: AEAD (SIP004), 2022 (SIP022) and `none`, as a
 * {@linkcode FramedStream} over the connection to the server.
 *
 * Wire format of one direction (AEAD and 2022): `salt`, then chunks `seal(len) seal(payload)`
 * with a little-endian counter nonce starting at 0, lengths up to 0x3FFF (AEAD) or 0xFFFF (2022).
 *
 * - AEAD request: the target address (SOCKS5 form) heads the first chunk's payload.
 * - 2022 request: `salt [identity headers] seal(type=0 ‖ timestamp ‖ len) seal(address ‖
 *   padding length ‖ padding ‖ initial payload)`; 2022 response: `salt seal(type=1 ‖ timestamp
 *   ‖ request salt ‖ len) seal(first payload)` then chunks. The timestamp must be within 30 s
 *   and the request salt must be ours.
 * - `none`: the address, then plain bytes.
 *
 * The request header leaves with the first bytes the application writes (one packet, as
 * sing-box's early connections do), or alone after {@linkcode HEADER_WAIT_MS} when the
 * application waits for the server to speak first.
 *
 * @module
 */

import nodeCrypto from "node:crypto";
import { getLogger } from "@logtape/logtape";
import { type Aead, createAead, incrementLe, openChunk, TAG_LENGTH } from "../../crypto/aead.ts";
import { FramedStream, ProtocolError } from "../../io/framed_stream.ts";
import type { Stream } from "../../io/stream.ts";
import type { Timer } from "../../io/timer_queue.ts";
import { encodeSocksAddr, socksAddrLength } from "../socks_wire.ts";
import type { Destination } from "../types.ts";
import { ANSWER_WARN_MS, AnswerWatch } from "../proxy_server.ts";
import {
  aeadSubkey,
  identitySubkey,
  pskHash,
  sessionSubkey,
  type ShadowsocksKeys,
} from "./method.ts";

/** A chunk's plain length field (sealed at once, so one per thread). */
const LENGTH_FIELD = new Uint8Array(2);
const log = getLogger(["tunbox", "outbound"]);

/** How long the request header waits for the application's first bytes. */
export const HEADER_WAIT_MS = 100;

const AEAD_MAX_CHUNK = 0x3fff;
const SS2022_MAX_CHUNK = 0xffff;
const MAX_PADDING = 900;
/** SIP022: timestamps further than this from our clock are rejected. */
const MAX_CLOCK_SKEW_S = 30;
const CHUNK_FORGED = "a chunk from the server failed authentication";

/** Per-connection parameters. */
export interface ShadowsocksStreamOptions {
  keys: ShadowsocksKeys;
  dest: Destination;
  /** Names the outbound in messages: `shadowsocks outbound "ss"`. */
  what: string;
  /** The connection id for log lines. */
  id: number;
  /** Unix time in seconds (tests pin it). */
  now?: () => number;
  /** Default {@linkcode ANSWER_WARN_MS}. */
  answerWarnMs?: number;
}

function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return b;
}

function writeU64(b: Uint8Array, off: number, v: number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(off, BigInt(v));
}

function readU64(b: Uint8Array, off: number): number {
  return Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const enum Rx {
  Salt,
  Keying,
  Fixed,
  First,
  Length,
  Payload,
  Plain,
}

/** An established shadowsocks connection to one destination. */
export class ShadowsocksStream extends FramedStream {
  readonly #o: ShadowsocksStreamOptions;
  readonly #kind: "aead" | "2022" | "none";
  readonly #keyLength: number;
  readonly #tx: Aead | null;
  readonly #txNonce = new Uint8Array(12);
  readonly #requestSalt: Uint8Array;
  readonly #maxChunk: number;
  #headerSent = false;
  #headerTimer: Timer | null = null;
  readonly #watch: AnswerWatch;
  #rx: Aead | null = null;
  readonly #rxNonce = new Uint8Array(12);
  #rxState: Rx;
  #rxLength = 0;
  /** True once the server's first bytes authenticated (or arrived, for `none`). */
  #answered = false;
  #logged = false;

  /** @internal Made by {@linkcode shadowsocksConnect}. */
  constructor(inner: Stream, o: ShadowsocksStreamOptions, tx: Aead | null, salt: Uint8Array) {
    const kind = o.keys.method.kind;
    const maxChunk = kind === "2022" ? SS2022_MAX_CHUNK : AEAD_MAX_CHUNK;
    super(inner, 2 * (maxChunk + 2 * TAG_LENGTH + 2) + 1024);
    this.#o = o;
    this.#kind = kind;
    this.#keyLength = o.keys.method.keyLength;
    this.#tx = tx;
    this.#requestSalt = salt;
    this.#maxChunk = maxChunk;
    this.#rxState = kind === "none" ? Rx.Plain : Rx.Salt;
    this.#watch = new AnswerWatch(this.reactor, o.answerWarnMs ?? ANSWER_WARN_MS, (s) => {
      if (this.closed) return;
      this.#logOnce(
        `no answer from the server ${s} s after the request: wrong password or method? ` +
          "(shadowsocks servers stay silent on a wrong key)",
        "warning",
      );
    });
    this.#headerTimer = this.reactor.setTimeout(HEADER_WAIT_MS, () => {
      this.#headerTimer = null;
      if (!this.#headerSent && !this.closed) this.#sendHeader(new Uint8Array(0));
    });
    this.startReading();
  }

  // ---- requests ----

  #seal(plain: Uint8Array): void {
    this.queueOut(this.#tx!.seal(this.#txNonce, plain));
    incrementLe(this.#txNonce);
  }

  #sealSync(plain: Uint8Array): void {
    this.queueOut(this.#tx!.sealSync(this.#txNonce, plain));
    incrementLe(this.#txNonce);
  }

  /** Sends the request header with (a first part of) `data`; returns the bytes of it used. */
  #sendHeader(data: Uint8Array): number {
    this.#headerSent = true;
    this.#headerTimer?.cancel();
    this.#headerTimer = null;
    this.#watch.start();
    const dest = this.#o.dest;
    const addrLen = socksAddrLength(dest);
    if (this.#kind === "none") {
      const head = new Uint8Array(addrLen + data.length);
      encodeSocksAddr(dest, head, 0);
      head.set(data, addrLen);
      this.queueOut(head);
      return data.length;
    }
    this.queueOut(this.#requestSalt);
    if (this.#kind === "aead") {
      const used = Math.min(data.length, AEAD_MAX_CHUNK - addrLen);
      const first = new Uint8Array(addrLen + used);
      encodeSocksAddr(dest, first, 0);
      first.set(data.subarray(0, used), addrLen);
      this.#chunk(first);
      return used;
    }
    // 2022: identity headers, fixed-length header, variable-length header.
    const keys = this.#o.keys.keys;
    for (let i = 0; i + 1 < keys.length; i++) {
      this.queueOut(
        aesEcbEncryptBlock(identitySubkey(keys[i]!, this.#requestSalt), pskHash(keys[i + 1]!)),
      );
    }
    const room = SS2022_MAX_CHUNK - addrLen - 2;
    const used = Math.min(data.length, room - MAX_PADDING);
    const padding = used < MAX_PADDING ? 1 + Math.floor(Math.random() * MAX_PADDING) : 0;
    const varLen = addrLen + 2 + padding + used;
    const fixed = new Uint8Array(11);
    fixed[0] = 0; // client request
    writeU64(fixed, 1, this.#now());
    fixed[9] = varLen >> 8;
    fixed[10] = varLen & 0xff;
    this.#sealSync(fixed);
    const variable = new Uint8Array(varLen);
    let off = encodeSocksAddr(dest, variable, 0);
    variable[off++] = padding >> 8;
    variable[off++] = padding & 0xff;
    off += padding; // zero padding
    variable.set(data.subarray(0, used), off);
    this.#seal(variable);
    return used;
  }

  /** One length chunk and one payload chunk. */
  #chunk(payload: Uint8Array): void {
    const tx = this.#tx!;
    const len = LENGTH_FIELD;
    len[0] = payload.length >> 8;
    len[1] = payload.length & 0xff;
    if (tx.bulkAsync) {
      this.#sealSync(len);
      this.#seal(payload);
      return;
    }
    // Both sealed in place, straight into the output stage.
    const room = this.outSpace(2 + TAG_LENGTH + payload.length + TAG_LENGTH);
    tx.sealInto(this.#txNonce, len, room);
    incrementLe(this.#txNonce);
    tx.sealInto(this.#txNonce, payload, room.subarray(2 + TAG_LENGTH));
    incrementLe(this.#txNonce);
    this.queueOut(room);
  }

  protected encode(data: Uint8Array): void {
    let off = 0;
    if (!this.#headerSent) off = this.#sendHeader(data);
    if (this.#kind === "none") {
      if (off < data.length) this.queueOut(data.slice(off));
      return;
    }
    while (off < data.length) {
      const n = Math.min(this.#maxChunk, data.length - off);
      this.#chunk(data.subarray(off, off + n));
      off += n;
    }
  }

  protected override encodeEnd(): void {
    // Shadowsocks has no end marker, but the server must learn the destination.
    if (!this.#headerSent) this.#sendHeader(new Uint8Array(0));
  }

  #now(): number {
    return this.#o.now ? this.#o.now() : Math.floor(Date.now() / 1000);
  }

  // ---- responses ----

  protected decode(buf: Uint8Array): number {
    switch (this.#rxState) {
      case Rx.Plain:
        this.#answer();
        this.queueIn(buf.slice());
        return buf.length;
      case Rx.Salt: {
        const n = this.#keyLength;
        if (buf.length < n) return 0;
        const salt = buf.slice(0, n);
        const keys = this.#o.keys.keys;
        const key = this.#kind === "aead"
          ? aeadSubkey(keys[0]!, salt)
          : sessionSubkey(keys[keys.length - 1]!, salt);
        this.#rxState = Rx.Keying;
        this.waitingAsync = true;
        createAead(this.#o.keys.method.aead!, key).then((rx) => {
          this.#rx = rx;
          this.waitingAsync = false;
          this.#rxState = this.#kind === "aead" ? Rx.Length : Rx.Fixed;
          this.redecode();
        });
        return n;
      }
      case Rx.Keying:
        return 0;
      case Rx.Fixed: {
        const n = 1 + 8 + this.#keyLength + 2 + TAG_LENGTH;
        if (buf.length < n) return 0;
        const head = this.#openFirst(buf.subarray(0, n));
        if (head[0] !== 1) {
          throw new ProtocolError(`the server's answer has header type ${head[0]}, expected 1`);
        }
        const skew = Math.abs(this.#now() - readU64(head, 1));
        if (skew > MAX_CLOCK_SKEW_S) {
          throw new ProtocolError(
            `the server's clock is ${skew} s away from ours (at most ${MAX_CLOCK_SKEW_S} s allowed)`,
          );
        }
        if (!sameBytes(head.subarray(9, 9 + this.#keyLength), this.#requestSalt)) {
          throw new ProtocolError("the server's answer names another request (replayed?)");
        }
        this.#rxLength = (head[9 + this.#keyLength]! << 8) | head[10 + this.#keyLength]!;
        this.#rxState = Rx.First;
        return n;
      }
      case Rx.First: {
        const n = this.#rxLength + TAG_LENGTH;
        if (buf.length < n) return 0;
        this.#open(buf.subarray(0, n));
        this.#rxState = Rx.Length;
        return n;
      }
      case Rx.Length: {
        const n = 2 + TAG_LENGTH;
        if (buf.length < n) return 0;
        const len = this.#openFirst(buf.subarray(0, n));
        const length = (len[0]! << 8) | len[1]!;
        if (length === 0 || length > this.#maxChunk) {
          throw new ProtocolError(`the server sent a chunk length of ${length}`);
        }
        this.#rxLength = length;
        this.#rxState = Rx.Payload;
        return n;
      }
      case Rx.Payload: {
        const n = this.#rxLength + TAG_LENGTH;
        if (buf.length < n) return 0;
        this.#open(buf.subarray(0, n));
        this.#rxState = Rx.Length;
        return n;
      }
    }
  }

  /** Opens a small chunk synchronously; the first one tells a wrong key. */
  #openFirst(sealed: Uint8Array): Uint8Array {
    let plain: Uint8Array;
    try {
      plain = this.#rx!.openSync(this.#rxNonce, sealed);
    } catch {
      throw new ProtocolError(
        this.#answered
          ? "a chunk from the server failed authentication (the stream was corrupted)"
          : "the server's answer failed authentication: wrong password or method",
      );
    }
    incrementLe(this.#rxNonce);
    this.#answer();
    return plain;
  }

  #open(sealed: Uint8Array): void {
    let out: Uint8Array | Promise<Uint8Array>;
    try {
      out = openChunk(this.#rx!, this.#rxNonce, sealed, this.inSpace); // throws if the cipher is synchronous
    } catch {
      throw new ProtocolError(CHUNK_FORGED);
    }
    incrementLe(this.#rxNonce);
    this.queueIn(
      out instanceof Uint8Array ? out : out.catch(() => {
        throw new ProtocolError(CHUNK_FORGED);
      }),
    );
  }

  #answer(): void {
    this.#answered = true;
    this.#watch.answer();
  }

  protected override decodeEnd(rest: Uint8Array): void {
    if (!this.#answered && this.#headerSent) {
      // Servers close without a word on a wrong key; so they do when the destination closed
      // at once. Not an error for the application (sing-box reads it as EOF), but say it once.
      this.#logOnce(
        "the server closed the connection without answering (wrong password or method, or " +
          "the destination closed at once)",
        "warning",
      );
    }
    if (rest.length > 0 || this.#rxState === Rx.First || this.#rxState === Rx.Payload) {
      throw new ProtocolError(
        `the server closed the connection in the middle of a chunk (${rest.length} bytes left)`,
      );
    }
  }

  protected override describeFailure(error: Error): Error {
    const wrapped = new ProtocolError(`${this.#o.what}: ${error.message}`, { cause: error });
    this.#logOnce(error.message, "error");
    return wrapped;
  }

  #logOnce(message: string, level: "warning" | "error"): void {
    if (this.#logged) return;
    this.#logged = true;
    log[level]("[{id}] {what}: {message}", { id: this.#o.id, what: this.#o.what, message });
  }

  protected override destroy(reset: boolean): void {
    this.#headerTimer?.cancel();
    this.#headerTimer = null;
    this.#watch.cancel();
    super.destroy(reset);
  }
}

/** AES-ECB of one 16-byte block (SIP022 identity headers), with `node:crypto`. */
export function aesEcbEncryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array {
  const c = nodeCrypto.createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
  c.setAutoPadding(false);
  return new Uint8Array(c.update(block));
}

/** Decrypts one AES-ECB block (SIP022 UDP separate headers). */
export function aesEcbDecryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array {
  const d = nodeCrypto.createDecipheriv(`aes-${key.length * 8}-ecb`, key, null);
  d.setAutoPadding(false);
  return new Uint8Array(d.update(block));
}

/**
 * Starts a shadowsocks connection over `inner` (connected to the server). Resolves at once
 * with the stream (the request leaves with the first bytes written); the server's verdict on
 * the key shows when it answers.
 */
export async function shadowsocksConnect(
  inner: Stream,
  options: ShadowsocksStreamOptions,
): Promise<ShadowsocksStream> {
  const method = options.keys.method;
  if (method.kind === "none") return new ShadowsocksStream(inner, options, null, new Uint8Array());
  const salt = randomBytes(method.keyLength);
  const keys = options.keys.keys;
  const key = method.kind === "aead"
    ? aeadSubkey(keys[0]!, salt)
    : sessionSubkey(keys[keys.length - 1]!, salt);
  const tx = await createAead(method.aead!, key);
  return new ShadowsocksStream(inner, options, tx, salt);
}
