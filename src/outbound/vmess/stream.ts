/**
 * The VMess client stream (AEAD header): a {@linkcode FramedStream} that sends the sealed
 * request header with the application's first bytes, then body chunks, and reads the sealed
 * response header, then body chunks.
 *
 * Body chunks (security `aes-128-gcm` or `chacha20-poly1305`; option chunk stream + masking):
 * `len ‖ seal(count-nonce, data) ‖ padding`, where `len` is the sealed size plus padding, XORed
 * with two bytes of SHAKE128(body IV) (chunk masking); with `global_padding` the padding length
 * is the next two SHAKE bytes mod 64 (read before the mask); with `authenticated_length` the
 * length is itself sealed (key `KDF(request key, "auth_len")`). An empty sealed chunk ends a
 * direction. Security `none` sends the bytes as they are over TCP, and length-prefixed chunks
 * for UDP (one datagram per chunk).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { shake128 } from "@noble/hashes/sha3.js";
import { type Aead, createAead, openChunk, TAG_LENGTH } from "../../crypto/aead.ts";
import { FramedStream, ProtocolError } from "../../io/framed_stream.ts";
import type { Stream } from "../../io/stream.ts";
import type { Timer } from "../../io/timer_queue.ts";
import type { Destination } from "../types.ts";
import type { DatagramStream } from "../udp_per_destination.ts";
import { ANSWER_WARN_MS, AnswerWatch } from "../proxy_server.ts";
import {
  authId,
  chachaBodyKey,
  COMMAND_UDP,
  encodeRequestHeader,
  kdf,
  OPTION_AUTHENTICATED_LENGTH,
  OPTION_CHUNK_MASKING,
  OPTION_CHUNK_STREAM,
  OPTION_GLOBAL_PADDING,
  responseKeys,
  SECURITY_CHACHA20_POLY1305,
  SECURITY_NONE,
} from "./protocol.ts";

const log = getLogger(["tunbox", "outbound"]);

/** How long the request waits for the application's first bytes before leaving alone. */
export const HEADER_WAIT_MS = 100;
/** Data bytes per body chunk (sing-vmess's; its reader takes chunks up to 16 KiB). */
export const WRITE_CHUNK = 15000;
const MAX_PADDING = 64;

/** What one VMess connection carries. */
export interface VmessStreamOptions {
  /** The command key (MD5 of the user id and the VMess constant). */
  cmdKey: Uint8Array;
  /** `SECURITY_*`. */
  security: number;
  globalPadding: boolean;
  authenticatedLength: boolean;
  /** `COMMAND_TCP` or `COMMAND_UDP` (then each write is one datagram). */
  command: number;
  dest: Destination;
  /** `vmess outbound "proxy"`. */
  what: string;
  id: number;
  /** Unix seconds (tests pin it). */
  now?: () => number;
  /** Default {@linkcode ANSWER_WARN_MS}. */
  answerWarnMs?: number;
}

/** A chunk's plain length field for `authenticated_length` (sealed at once: one per thread). */
const LENGTH_FIELD = new Uint8Array(2);

/** What a payload chunk that fails authentication is called, on either opening path. */
const CHUNK_FORGED = "a chunk from the server failed authentication";

/** Two-byte reads from a SHAKE128 stream, batched. */
class ShakeStream {
  #xof;
  #buf = new Uint8Array(256);
  #off = 256;
  constructor(seed: Uint8Array) {
    this.#xof = shake128.create({}).update(seed);
  }
  next(): number {
    if (this.#off === this.#buf.length) {
      this.#xof.xofInto(this.#buf);
      this.#off = 0;
    }
    const v = (this.#buf[this.#off]! << 8) | this.#buf[this.#off + 1]!;
    this.#off += 2;
    return v;
  }
}

/**
 * @internal A body direction's ciphers and counters (exported for the tests that read real
 * clients' chunks).
 */
export class Body {
  readonly nonce = new Uint8Array(12);
  readonly lenNonce = new Uint8Array(12);
  count = 0;
  lenCount = 0;
  readonly padding: ShakeStream | null;
  readonly masking: ShakeStream | null;

  constructor(
    readonly aead: Aead | null,
    /** The length cipher (`authenticated_length`). */
    readonly lenAead: Aead | null,
    iv: Uint8Array,
    lenIv: Uint8Array,
    option: number,
  ) {
    this.nonce.set(iv.subarray(2, 12), 2);
    this.lenNonce.set(lenIv.subarray(2, 12), 2);
    this.padding = option & OPTION_GLOBAL_PADDING ? new ShakeStream(iv) : null;
    this.masking = option & OPTION_CHUNK_MASKING && !lenAead
      ? this.padding ?? new ShakeStream(iv)
      : null;
  }

  nextNonce(): Uint8Array {
    this.nonce[0] = this.count >> 8;
    this.nonce[1] = this.count & 0xff;
    this.count = (this.count + 1) & 0xffff;
    return this.nonce;
  }

  nextLenNonce(): Uint8Array {
    this.lenNonce[0] = this.lenCount >> 8;
    this.lenNonce[1] = this.lenCount & 0xff;
    this.lenCount = (this.lenCount + 1) & 0xffff;
    return this.lenNonce;
  }
}

const enum Rx {
  Keying,
  HeaderLength,
  Header,
  Length,
  Chunk,
  Raw,
}

function random(n: number): Uint8Array {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return b;
}

function bodyAlgorithm(security: number) {
  return security === SECURITY_CHACHA20_POLY1305 ? "chacha20-poly1305" as const : "aes-128-gcm";
}

/** @internal The body cipher of a security (null for `none`). */
export async function bodyCipher(security: number, key: Uint8Array): Promise<Aead | null> {
  if (security === SECURITY_NONE) return null;
  return await createAead(
    bodyAlgorithm(security),
    security === SECURITY_CHACHA20_POLY1305 ? chachaBodyKey(key) : key,
  );
}

/**
 * An established VMess connection: a TCP stream, or UDP datagrams to one destination (each
 * write one datagram; replies go to {@linkcode VmessStream.onDatagram}).
 */
export class VmessStream extends FramedStream implements DatagramStream {
  onDatagram: ((payload: Uint8Array) => void) | null = null;
  readonly #o: VmessStreamOptions;
  readonly #option: number;
  readonly #request: Uint8Array;
  readonly #responseCheck: number;
  readonly #tx: Body;
  #rx: Body | null = null;
  readonly #rxKeys: { key: Uint8Array; iv: Uint8Array };
  readonly #reqKey: Uint8Array;
  readonly #reqIv: Uint8Array;
  #headerSent = false;
  #headerTimer: Timer | null = null;
  #rxState = Rx.HeaderLength;
  #rxLength = 0;
  #rxPadding = 0;
  #rxEnded = false;
  #answered = false;
  #logged = false;
  readonly #watch: AnswerWatch;
  #headerAeadLen: Aead;
  #headerAead: Aead;

  /** @internal Made by {@linkcode vmessConnect}. */
  constructor(
    inner: Stream,
    o: VmessStreamOptions,
    parts: {
      option: number;
      request: Uint8Array;
      responseCheck: number;
      tx: Body;
      reqKey: Uint8Array;
      reqIv: Uint8Array;
      headerAeadLen: Aead;
      headerAead: Aead;
    },
  ) {
    super(inner, 128 * 1024);
    this.#o = o;
    this.#option = parts.option;
    this.#request = parts.request;
    this.#responseCheck = parts.responseCheck;
    this.#tx = parts.tx;
    this.#reqKey = parts.reqKey;
    this.#reqIv = parts.reqIv;
    this.#rxKeys = responseKeys(parts.reqKey, parts.reqIv);
    this.#headerAeadLen = parts.headerAeadLen;
    this.#headerAead = parts.headerAead;
    this.#watch = new AnswerWatch(this.reactor, o.answerWarnMs ?? ANSWER_WARN_MS, (s) => {
      if (this.closed) return;
      this.#logOnce(
        `no answer from the server ${s} s after the request: wrong uuid, or this clock is ` +
          "more than 2 minutes away from the server's? (V2Ray stays silent on an unknown user)",
        "warning",
      );
    });
    this.#headerTimer = this.reactor.setTimeout(HEADER_WAIT_MS, () => {
      this.#headerTimer = null;
      if (!this.#headerSent && !this.closed) this.#sendHeader();
    });
    this.startReading();
  }

  get #chunked(): boolean {
    return (this.#option & OPTION_CHUNK_STREAM) !== 0;
  }

  #sendHeader(): void {
    this.#headerSent = true;
    this.#watch.start();
    this.#headerTimer?.cancel();
    this.#headerTimer = null;
    this.queueOut(this.#request);
  }

  /** One body chunk carrying `plain` (empty: the end marker). */
  #chunk(plain: Uint8Array): void {
    const b = this.#tx;
    const padLen = b.padding ? b.padding.next() % MAX_PADDING : 0;
    const sealedLen = plain.length + (b.aead ? TAG_LENGTH : 0);
    const head = b.lenAead ? 2 + TAG_LENGTH : 2;
    if (b.aead !== null && b.aead.bulkAsync) {
      // WebCrypto: the sealed body is a promise, queued after its length field.
      const length = new Uint8Array(head);
      this.#lengthField(length, sealedLen + padLen);
      this.queueOut(length);
      this.queueOut(b.aead.seal(b.nextNonce(), plain));
      if (padLen > 0) this.queueOut(random(padLen));
      return;
    }
    // A synchronous cipher: the whole chunk is made in the output stage.
    const room = this.outSpace(head + sealedLen + padLen);
    this.#lengthField(room, sealedLen + padLen);
    if (b.aead) b.aead.sealInto(b.nextNonce(), plain, room.subarray(head));
    else room.set(plain, head);
    if (padLen > 0) crypto.getRandomValues(room.subarray(head + sealedLen));
    this.queueOut(room);
  }

  /** Writes a chunk's length field (`size`: sealed body plus padding) at the start of `out`. */
  #lengthField(out: Uint8Array, size: number): void {
    const b = this.#tx;
    if (b.lenAead) {
      const v = size - TAG_LENGTH;
      LENGTH_FIELD[0] = v >> 8;
      LENGTH_FIELD[1] = v & 0xff;
      b.lenAead.sealInto(b.nextLenNonce(), LENGTH_FIELD, out);
      return;
    }
    const v = b.masking ? size ^ b.masking.next() : size;
    out[0] = (v >> 8) & 0xff;
    out[1] = v & 0xff;
  }

  protected encode(data: Uint8Array): void {
    if (!this.#headerSent) this.#sendHeader();
    if (!this.#chunked) {
      this.queueOut(data.slice());
      return;
    }
    if (this.#o.command === COMMAND_UDP) {
      // One datagram per chunk.
      if (data.length > 0xffff - TAG_LENGTH - MAX_PADDING) return;
      this.#chunk(data);
      return;
    }
    for (let off = 0; off < data.length; off += WRITE_CHUNK) {
      this.#chunk(data.subarray(off, Math.min(data.length, off + WRITE_CHUNK)));
    }
  }

  protected override encodeEnd(): void {
    if (!this.#headerSent) this.#sendHeader();
    // V2Ray ends a direction with an empty chunk; without chunks, EOF says it.
    if (this.#chunked && this.#tx.aead) this.#chunk(new Uint8Array(0));
  }

  #now(): number {
    return this.#o.now ? this.#o.now() : Math.floor(Date.now() / 1000);
  }

  // ---- responses ----

  protected decode(buf: Uint8Array): number {
    if (this.#rxState !== Rx.Length && this.#rxState !== Rx.Chunk) return this.#decodeStep(buf);
    // Body chunks (V2Ray's carry about 2 KB each): every whole one `buf` holds, in one call and
    // without a view of the rest per step.
    let off = 0;
    while (!this.#rxEnded) {
      let n: number;
      if (this.#rxState === Rx.Chunk) {
        n = this.#rxLength + this.#rxPadding;
        if (buf.length - off < n) break;
        this.#openBody(buf.subarray(off, off + this.#rxLength));
      } else if (this.#rxState === Rx.Length && !this.#rx!.lenAead) {
        if (buf.length - off < 2) break;
        this.#plainLength((buf[off]! << 8) | buf[off + 1]!);
        n = 2;
      } else {
        n = this.#decodeStep(off === 0 ? buf : buf.subarray(off));
        if (n === 0) break;
      }
      off += n;
    }
    return off;
  }

  /** One step of the response: a header part, a length or a chunk; the bytes used (0: more). */
  #decodeStep(buf: Uint8Array): number {
    switch (this.#rxState) {
      case Rx.Keying:
        return 0;
      case Rx.HeaderLength: {
        const n = 2 + TAG_LENGTH;
        if (buf.length < n) return 0;
        const len = this.#openHeader(this.#headerAeadLen, "AEAD Resp Header Len IV", buf, n);
        this.#rxLength = (len[0]! << 8) | len[1]!;
        this.#rxState = Rx.Header;
        return n;
      }
      case Rx.Header: {
        const n = this.#rxLength + TAG_LENGTH;
        if (buf.length < n) return 0;
        const head = this.#openHeader(this.#headerAead, "AEAD Resp Header IV", buf, n);
        if (head.length < 4 || head[0] !== this.#responseCheck) {
          throw new ProtocolError("the server's answer does not match the request");
        }
        this.#answered = true;
        this.#watch.answer();
        this.#rxState = Rx.Keying;
        this.waitingAsync = true;
        const { key, iv } = this.#rxKeys;
        const lenKey = this.#lengthKey();
        Promise.all([
          bodyCipher(this.#o.security, key),
          lenKey ? lengthCipher(this.#o.security, lenKey) : Promise.resolve(null),
        ]).then(([aead, lenAead]) => {
          this.#rx = new Body(aead, lenAead, iv, this.#reqIv, this.#option);
          this.waitingAsync = false;
          this.#rxState = this.#chunked ? Rx.Length : Rx.Raw;
          this.redecode();
        });
        return n;
      }
      case Rx.Raw:
        this.queueIn(buf.slice());
        return buf.length;
      case Rx.Length: {
        const b = this.#rx!;
        if (b.lenAead) {
          const n = 2 + TAG_LENGTH;
          if (buf.length < n) return 0;
          let len: Uint8Array;
          try {
            len = b.lenAead.openSync(b.nextLenNonce(), buf.subarray(0, n));
          } catch {
            throw new ProtocolError("a chunk length from the server failed authentication");
          }
          const padLen = b.padding ? b.padding.next() % MAX_PADDING : 0;
          const total = ((len[0]! << 8) | len[1]!) + TAG_LENGTH;
          this.#setChunk(total, padLen);
          return n;
        }
        if (buf.length < 2) return 0;
        this.#plainLength((buf[0]! << 8) | buf[1]!);
        return 2;
      }
      case Rx.Chunk: {
        const n = this.#rxLength + this.#rxPadding;
        if (buf.length < n) return 0;
        this.#openBody(buf.subarray(0, this.#rxLength));
        return n;
      }
    }
  }

  /** A (masked) plain chunk length arrived. */
  #plainLength(v: number): void {
    const b = this.#rx!;
    const padLen = b.padding ? b.padding.next() % MAX_PADDING : 0;
    if (b.masking) v ^= b.masking.next();
    this.#setChunk(v, padLen);
  }

  /** A whole chunk (without its padding) arrived. */
  #openBody(sealed: Uint8Array): void {
    const b = this.#rx!;
    this.#rxState = Rx.Length;
    if (!b.aead) {
      if (sealed.length === 0) this.#endInput();
      else this.#deliver(sealed.slice());
      return;
    }
    if (sealed.length === TAG_LENGTH) {
      // The empty chunk: end of the server's direction.
      b.nextNonce();
      this.#endInput();
      return;
    }
    if (this.#o.command === COMMAND_UDP) {
      // Datagrams are small: open synchronously and hand each over whole.
      let plain: Uint8Array;
      try {
        plain = b.aead.openSync(b.nextNonce(), sealed);
      } catch {
        throw new ProtocolError("a datagram from the server failed authentication");
      }
      this.#deliver(plain);
      return;
    }
    let out: Uint8Array | Promise<Uint8Array>;
    try {
      out = openChunk(b.aead, b.nextNonce(), sealed, this.inSpace); // throws when synchronous
    } catch {
      throw new ProtocolError(CHUNK_FORGED);
    }
    this.queueIn(
      out instanceof Uint8Array ? out : out.catch(() => {
        throw new ProtocolError(CHUNK_FORGED);
      }),
    );
  }

  /** The server's direction ended (its end marker): nothing after it is decoded. */
  #endInput(): void {
    this.#rxEnded = true;
    this.endOfInput();
  }

  #deliver(bytes: Uint8Array): void {
    if (this.#o.command === COMMAND_UDP) this.onDatagram?.(bytes);
    else this.queueIn(bytes);
  }

  #setChunk(total: number, padLen: number): void {
    const data = total - padLen;
    const min = this.#rx!.aead ? TAG_LENGTH : 0;
    if (data < min) {
      throw new ProtocolError(
        `the server sent a chunk of ${total} bytes with ${padLen} of padding`,
      );
    }
    if (data === 0) {
      // Security none: an empty chunk ends the direction.
      this.#endInput();
      return;
    }
    this.#rxLength = data;
    this.#rxPadding = padLen;
    this.#rxState = Rx.Chunk;
  }

  #lengthKey(): Uint8Array | null {
    if (!(this.#option & OPTION_AUTHENTICATED_LENGTH)) return null;
    return kdf(this.#reqKey, "auth_len").subarray(0, 16);
  }

  #openHeader(aead: Aead, what: string, buf: Uint8Array, n: number): Uint8Array {
    try {
      return aead.openSync(this.#responseNonce(what), buf.subarray(0, n));
    } catch {
      throw new ProtocolError(
        "the server's answer failed authentication (not a VMess server, or another user)",
      );
    }
  }

  #responseNonce(what: string): Uint8Array {
    return kdf(this.#rxKeys.iv, what).subarray(0, 12);
  }

  protected override decodeEnd(rest: Uint8Array): void {
    if (!this.#answered && this.#headerSent) {
      this.#logOnce(
        "the server closed the connection without answering: wrong uuid, or this clock is " +
          "more than 2 minutes away from the server's",
        "error",
      );
      throw new ProtocolError(
        `${this.#o.what}: the server closed the connection without answering`,
      );
    }
    if (rest.length > 0 || this.#rxState === Rx.Chunk) {
      throw new ProtocolError(
        `the server closed the connection in the middle of a chunk (${rest.length} bytes left)`,
      );
    }
  }

  protected override describeFailure(error: Error): Error {
    if (error.message.startsWith(this.#o.what)) return error;
    this.#logOnce(error.message, "error");
    return new ProtocolError(`${this.#o.what}: ${error.message}`, { cause: error });
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

/** @internal The chunk length cipher (`authenticated_length`). */
export async function lengthCipher(security: number, key: Uint8Array): Promise<Aead> {
  return await createAead(
    bodyAlgorithm(security),
    security === SECURITY_CHACHA20_POLY1305 ? chachaBodyKey(key) : key,
  );
}

/** Builds the request and the ciphers, and returns the stream (the request leaves with data). */
export async function vmessConnect(inner: Stream, o: VmessStreamOptions): Promise<VmessStream> {
  const reqKey = random(16);
  const reqIv = random(16);
  const responseCheck = random(1)[0]!;
  let option = 0;
  if (o.security === SECURITY_NONE) {
    if (o.command === COMMAND_UDP) option = OPTION_CHUNK_STREAM;
  } else {
    option = OPTION_CHUNK_STREAM | OPTION_CHUNK_MASKING;
    if (o.globalPadding) option |= OPTION_GLOBAL_PADDING;
    if (o.authenticatedLength) option |= OPTION_AUTHENTICATED_LENGTH;
  }
  const header = encodeRequestHeader({
    bodyIv: reqIv,
    bodyKey: reqKey,
    responseCheck,
    option,
    security: o.security,
    command: o.command,
    dest: o.dest,
    padding: random(Math.floor(Math.random() * 16)),
  });
  const now = o.now ? o.now() : Math.floor(Date.now() / 1000);
  const id = authId(o.cmdKey, now, random(4));
  const connNonce = random(8);
  const headerKey = (salt: string) => kdf(o.cmdKey, salt, id, connNonce);
  const lenAead = await createAead(
    "aes-128-gcm",
    headerKey("VMess Header AEAD Key_Length").subarray(0, 16),
  );
  const hdrAead = await createAead(
    "aes-128-gcm",
    headerKey("VMess Header AEAD Key").subarray(0, 16),
  );
  const sealedLen = lenAead.sealSync(
    headerKey("VMess Header AEAD Nonce_Length").subarray(0, 12),
    new Uint8Array([header.length >> 8, header.length & 0xff]),
    id,
  );
  const sealedHeader = hdrAead.sealSync(
    headerKey("VMess Header AEAD Nonce").subarray(0, 12),
    header,
    id,
  );
  const request = new Uint8Array(16 + sealedLen.length + 8 + sealedHeader.length);
  request.set(id, 0);
  request.set(sealedLen, 16);
  request.set(connNonce, 16 + sealedLen.length);
  request.set(sealedHeader, 24 + sealedLen.length);

  const lenKey = option & OPTION_AUTHENTICATED_LENGTH
    ? kdf(reqKey, "auth_len").subarray(0, 16)
    : null;
  const [aead, lenTx] = await Promise.all([
    bodyCipher(o.security, reqKey),
    lenKey ? lengthCipher(o.security, lenKey) : Promise.resolve(null),
  ]);
  const tx = new Body(aead, lenTx, reqIv, reqIv, option);
  const { key: respKey } = responseKeys(reqKey, reqIv);
  const headerAeadLen = await createAead(
    "aes-128-gcm",
    kdf(respKey, "AEAD Resp Header Len Key").subarray(0, 16),
  );
  const headerAead = await createAead(
    "aes-128-gcm",
    kdf(respKey, "AEAD Resp Header Key").subarray(0, 16),
  );
  return new VmessStream(inner, o, {
    option,
    request,
    responseCheck,
    tx,
    reqKey,
    reqIv,
    headerAeadLen,
    headerAead,
  });
}
