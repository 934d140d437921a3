/**
 * A base class for protocol layers that turn a byte stream into frames and back (shadowsocks,
 * VMess, WebSocket...): a {@linkcode JsStream} over an inner {@linkcode Stream}.
 *
 * A subclass implements two codecs:
 *
 * - `encode(data)`: turns bytes the consumer wrote into output pieces, queued in order with
 *   {@linkcode FramedStream.queueOut}. A piece may be a promise (an asynchronous cipher, WebCrypto):
 *   pieces are written to the inner stream strictly in queue order, each as soon as it and
 *   everything before it is ready. Small ready pieces are gathered into one inner write, so a
 *   length field and its payload leave in one system call.
 * - `decode(buf)`: consumes whole frames from the start of the received bytes (contiguous, at
 *   most {@linkcode FramedStream.inCapacity}) and returns how many bytes it used; 0 means "need
 *   more". Decoded payloads go to the consumer with {@linkcode FramedStream.queueIn} (again bytes or
 *   promises, delivered in order). Throwing fails the stream with that error.
 *
 * Backpressure: the consumer's writes block above `outLimit` bytes queued; reading the inner
 * stream stops while the consumer has `highWaterMark` bytes unread or too many decodes are in
 * flight. While a promise is pending the reactor is kept awake ({@linkcode Reactor.holdAwake}):
 * WebCrypto completes on Deno's event loop, which a sleeping `epoll_wait` would not serve.
 *
 * `shutdownWrite` runs `encodeEnd()` (a protocol's end marker) and half-closes the inner stream
 * once everything queued is written; `close` does the same and then closes it (reset after
 * {@linkcode CLOSE_FLUSH_MS}); `abort` resets it at once.
 *
 * @module
 */

import { E, SysError } from "../../ffi/errno.ts";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import { carveBytes } from "./carve.ts";
import { JsStream, type Stream, WOULD_BLOCK } from "./stream.ts";

/** How long a closed stream may take to flush its queue before the inner stream is reset. */
export const CLOSE_FLUSH_MS = 5_000;
/** Pieces at least this large are written straight from the piece, not through the stage. */
const DIRECT_WRITE = 16 * 1024;
const STAGE_SIZE = 64 * 1024;
/** Decodes in flight before reading the inner stream pauses. */
const MAX_PENDING_IN = 32;

/** The peer broke the protocol (a forged or malformed frame, an unexpected answer). */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** Bytes, or bytes to come (an asynchronous cipher). */
export type Piece = Uint8Array | Promise<Uint8Array>;

interface Slot {
  bytes: Uint8Array | null;
  /** Bytes of `bytes` already written (output) or delivered (input). */
  off: number;
  error: Error | null;
}

/** See the module documentation. */
export abstract class FramedStream extends JsStream {
  /** Output bytes queued (ready or pending) before writes block. */
  protected outLimit = 512 * 1024;
  #outQueue: Slot[] = [];
  #outHead = 0;
  #outBytes = 0;
  #stage = new Uint8Array(STAGE_SIZE);
  #stageOff = 0;
  #stageLen = 0;
  #writeEnding = false;
  #innerShut = false;
  #blocked = false;

  #in: Uint8Array;
  #inStart = 0;
  #inEnd = 0;
  #inEof = false;
  #eofDecoded = false;
  #inQueue: Slot[] = [];
  #inHead = 0;
  #pendingIn = 0;
  #paused = false;
  #failed = false;

  #pending = 0;
  #release: (() => void) | null = null;
  #draining = false;
  /** Inside `encode`/`decode`/`encodeEnd`, whose callers write the queue out afterwards. */
  #inCodec = 0;
  #flushTimer: { cancel(): void } | null = null;

  /**
   * @param inner the stream this layer reads and writes; owned from now on.
   * @param inCapacity the largest frame `decode` may need to see whole (plus slack).
   */
  constructor(readonly inner: Stream, readonly inCapacity: number) {
    super(inner.reactor);
    this.#in = new Uint8Array(inCapacity);
    inner.onReadable = () => this.#pumpIn();
    inner.onWritable = () => this.#pumpOut();
    inner.onHangup = () => this.#pumpIn();
  }

  /**
   * Starts reading the inner stream. Subclasses call it at the end of their constructor, once
   * their decode state exists.
   */
  protected startReading(): void {
    this.inner.wantRead(true);
    // Bytes may already sit in the inner stream (read past a handshake).
    this.reactor.setTimeout(0, () => this.#pumpIn());
  }

  // ---- subclass side ----

  /**
   * Set by a decoder that returned 0 while it waits for something asynchronous (a key being
   * imported); the end of the inner stream is then judged after {@linkcode redecode}.
   */
  protected waitingAsync = false;

  /** Turns `data` (valid only during the call) into output pieces with {@linkcode queueOut}. */
  protected abstract encode(data: Uint8Array): void;
  /** Consumes whole frames from `buf`; returns the bytes used (0: need more). */
  protected abstract decode(buf: Uint8Array): number;
  /** Called before the inner stream is half-closed: queue a protocol end marker if any. */
  protected encodeEnd(): void {}
  /** The inner stream ended; `rest` is what `decode` left. Default: leftovers are an error. */
  protected decodeEnd(rest: Uint8Array): void {
    if (rest.length > 0) {
      throw new SysError(
        `the peer closed the connection in the middle of a frame (${rest.length} bytes left)`,
        E.ECONNRESET,
      );
    }
  }
  /**
   * Turns a failure of the inner stream or of a decode into the error the consumer sees
   * (subclasses add context: which server, what it likely means). Default: unchanged.
   */
  protected describeFailure(error: Error): Error {
    return error;
  }

  /**
   * Queues one output piece (written after every piece queued before it). Pieces queued outside
   * `encode`/`decode` (a request sent from a timer while the server speaks first) are written
   * from the reactor loop, together with whatever else is queued by then.
   */
  protected queueOut(piece: Piece): void {
    if (piece instanceof Uint8Array && piece.buffer === this.#stage.buffer) {
      const room = this.#outRoom;
      this.#outRoom = null;
      if (
        room !== null && piece.byteOffset === room.byteOffset && piece.length <= room.length &&
        piece.byteOffset === this.#stageLen && this.#outHead === this.#outQueue.length
      ) {
        // Filled in place at the stage's end, with nothing queued before it: it is staged.
        this.#stageLen += piece.length;
        this.#outBytes += piece.length;
        this.#flushSoon();
        return;
      }
      piece = piece.slice(); // not the room handed out last (the stage moved on): a copy
    }
    const slot: Slot = { bytes: null, off: 0, error: null };
    this.#outQueue.push(slot);
    this.#flushSoon();
    if (piece instanceof Uint8Array) {
      slot.bytes = piece;
      this.#outBytes += piece.length;
      return;
    }
    this.#outBytes += STAGE_SIZE / 4; // an estimate until the size is known
    this.#track(piece, slot, () => {
      this.#outBytes += (slot.bytes?.length ?? 0) - STAGE_SIZE / 4;
      this.#pumpOut();
    });
  }

  /** Outside the codec callbacks (whose callers write out afterwards): write from the loop. */
  #flushSoon(): void {
    if (this.#inCodec === 0 && !this.#flushTimer) {
      this.#flushTimer = this.reactor.setTimeout(0, () => {
        this.#flushTimer = null;
        if (!this.closed || this.#draining) this.#pumpOut();
      });
    }
  }

  /** The room {@linkcode outSpace} handed out last (staged in place by `queueOut`). */
  #outRoom: Uint8Array | null = null;

  /**
   * Room for an output piece of `n` bytes that `encode` fills in place and then passes to
   * {@linkcode queueOut} (a seal's output, with its length field): the free end of the stage
   * the inner stream is written from, when nothing is queued before it, so no allocation and no
   * copy per piece; a full stage is written out first. Otherwise memory of its own.
   *
   * ```ts
   * const room = this.outSpace(2 + data.length + TAG_LENGTH);
   * aead.sealInto(nonce, data, room.subarray(2));
   * this.queueOut(room);
   * ```
   */
  protected outSpace(n: number): Uint8Array {
    if (this.#outHead === this.#outQueue.length && n <= STAGE_SIZE) {
      if (STAGE_SIZE - this.#stageLen < n && this.#stageOff < this.#stageLen && !this.#innerShut) {
        try {
          if (!this.#writeStage()) this.inner.wantWrite(true);
        } catch (error) {
          this.#fail(error instanceof Error ? error : new Error(String(error)));
        }
      }
      if (this.#outHead === this.#outQueue.length && STAGE_SIZE - this.#stageLen >= n) {
        return this.#outRoom = this.#stage.subarray(this.#stageLen, this.#stageLen + n);
      }
    }
    this.#outRoom = null;
    return new Uint8Array(n);
  }

  /** The room {@linkcode inSpace} handed out last (delivered in place by `queueIn`). */
  #space: Uint8Array | null = null;

  /**
   * Room for a decoded piece of `n` bytes that `decode` fills in place and then passes to
   * {@linkcode queueIn} (a decryption's output): taken from the stream's receive blocks when
   * nothing is queued before it, so no allocation per piece. For `openChunk(..., inSpace)`.
   */
  protected readonly inSpace = (n: number): Uint8Array => {
    if (this.#inHead !== this.#inQueue.length) return carveBytes(n);
    return this.#space = this.pushSpace(n);
  };

  /** Delivers one decoded piece to the consumer (after every piece delivered before it). */
  protected queueIn(piece: Piece): void {
    if (piece instanceof Uint8Array) {
      const space = this.#space;
      if (space !== null) {
        this.#space = null;
        if (piece.buffer === space.buffer && piece.byteOffset === space.byteOffset) {
          this.pushCommit(piece);
          return;
        }
      }
      if (this.#inHead === this.#inQueue.length) {
        if (piece.length > 0) this.push(piece);
        return;
      }
      this.#inQueue.push({ bytes: piece, off: 0, error: null });
      return;
    }
    const slot: Slot = { bytes: null, off: 0, error: null };
    this.#inQueue.push(slot);
    this.#pendingIn++;
    this.#track(piece, slot, () => {
      this.#pendingIn--;
      this.#deliverIn();
      this.#pumpIn();
    });
  }

  #track(piece: Promise<Uint8Array>, slot: Slot, then: () => void): void {
    if (this.#pending++ === 0) this.#release = this.reactor.holdAwake();
    piece.then(
      (bytes) => {
        slot.bytes = bytes;
      },
      (error) => {
        slot.error = error instanceof Error ? error : new Error(String(error));
      },
    ).finally(() => {
      if (--this.#pending === 0) {
        this.#release?.();
        this.#release = null;
      }
      if (!this.closed || this.#draining) then();
    });
  }

  // ---- input ----

  #deliverIn(): void {
    const q = this.#inQueue;
    while (this.#inHead < q.length) {
      const slot = q[this.#inHead]!;
      if (slot.error) {
        this.#fail(slot.error);
        return;
      }
      if (!slot.bytes) return;
      if (slot.bytes.length > 0) this.push(slot.bytes);
      this.#inHead++;
    }
    q.length = 0;
    this.#inHead = 0;
    if (this.#eofDecoded && this.#pendingIn === 0) this.pushEof();
  }

  #fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = true;
    this.inner.wantRead(false);
    this.fail(this.describeFailure(error));
  }

  #pumpIn(): void {
    if (this.closed || this.#failed || this.#inEof) return;
    for (let round = 0; round < 16; round++) {
      if (this.#paused || this.#pendingIn >= MAX_PENDING_IN || this.waitingAsync) {
        this.inner.wantRead(false);
        return;
      }
      if (this.#inEnd === this.#in.length) {
        if (this.#inStart === 0) {
          this.#fail(
            new ProtocolError(
              `a frame larger than ${this.#in.length} bytes arrived (not this protocol?)`,
            ),
          );
          return;
        }
        this.#in.copyWithin(0, this.#inStart, this.#inEnd);
        this.#inEnd -= this.#inStart;
        this.#inStart = 0;
      }
      let n: number;
      try {
        n = this.inner.read(this.#in.subarray(this.#inEnd));
      } catch (error) {
        this.#fail(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (n === WOULD_BLOCK) {
        this.inner.wantRead(true);
        return;
      }
      if (n === 0) {
        this.#inEof = true;
        this.inner.wantRead(false);
        this.#finishEof();
        return;
      }
      this.#inEnd += n;
      if (!this.#decodeBuffered()) return;
    }
    // More may be waiting: the inner stream stays level-triggered.
    this.inner.wantRead(true);
  }

  /** The inner stream ended: let the decoder judge what is left (unless it awaits a key). */
  #finishEof(): void {
    if (this.#eofDecoded || this.waitingAsync) return;
    this.#eofDecoded = true;
    try {
      this.decodeEnd(this.#in.subarray(this.#inStart, this.#inEnd));
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.#deliverIn();
  }

  /**
   * The protocol's own end marker arrived: the consumer sees end of stream after the pieces
   * already queued, and nothing more is read from the inner stream.
   */
  protected endOfInput(): void {
    if (this.#inEof) return;
    this.#inEof = true;
    this.#eofDecoded = true;
    this.inner.wantRead(false);
    this.#deliverIn();
  }

  /** Runs `decode` over the bytes held; false when the stream failed. */
  #decodeBuffered(): boolean {
    try {
      while (this.#inStart < this.#inEnd && !this.closed && !this.#failed && !this.#eofDecoded) {
        this.#inCodec++;
        let used: number;
        try {
          used = this.decode(this.#in.subarray(this.#inStart, this.#inEnd));
        } finally {
          this.#inCodec--;
        }
        if (used === 0) break;
        this.#inStart += used;
      }
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
      return false;
    }
    if (this.#inStart === this.#inEnd) this.#inStart = this.#inEnd = 0;
    this.#deliverIn();
    // A decoder may answer (a pong, data held until a handshake completed).
    if (this.#outHead < this.#outQueue.length) this.#pumpOut();
    return !this.#failed;
  }

  /**
   * Runs `decode` again over the bytes already received (after the decoder, which returned 0
   * while it waited for something asynchronous such as a key, became ready), then reads on.
   */
  protected redecode(): void {
    if (this.closed || this.#failed) return;
    if (!this.#decodeBuffered()) return;
    if (this.#inEof) this.#finishEof();
    else this.#pumpIn();
  }

  protected override pauseSource(): void {
    this.#paused = true;
    this.inner.wantRead(false);
  }

  protected override resumeSource(): void {
    this.#paused = false;
    this.#pumpIn();
  }

  // ---- output ----

  protected sendBytes(buf: Uint8Array): number {
    if (this.#outBytes >= this.outLimit) {
      this.#blocked = true;
      return WOULD_BLOCK;
    }
    this.#inCodec++;
    try {
      this.encode(buf);
    } finally {
      this.#inCodec--;
    }
    this.#pumpOut();
    return buf.length;
  }

  protected sendEof(): void {
    if (this.#writeEnding) return;
    this.#writeEnding = true;
    this.#inCodec++;
    try {
      this.encodeEnd();
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#inCodec--;
    }
    this.#pumpOut();
  }

  /** Writes the staged bytes to the inner stream; true when all went (throws like `write`). */
  #writeStage(): boolean {
    const n = this.inner.write(this.#stage.subarray(this.#stageOff, this.#stageLen));
    if (n === WOULD_BLOCK) return false;
    this.#stageOff += n;
    this.#outBytes -= n;
    if (this.#stageOff < this.#stageLen) return false;
    this.#stageOff = this.#stageLen = 0;
    return true;
  }

  #pumpOut(): void {
    if (this.#innerShut) return;
    const inner = this.inner;
    const q = this.#outQueue;
    try {
      for (;;) {
        // Fill the stage with ready pieces (large ones go straight out when the stage is empty).
        while (this.#outHead < q.length) {
          const slot = q[this.#outHead]!;
          if (slot.error) throw slot.error;
          const b = slot.bytes;
          if (!b) break;
          const left = b.length - slot.off;
          if (this.#stageLen === 0 && left >= DIRECT_WRITE) {
            const n = inner.write(slot.off === 0 ? b : b.subarray(slot.off));
            if (n === WOULD_BLOCK) {
              inner.wantWrite(true);
              return;
            }
            slot.off += n;
            this.#outBytes -= n;
            if (slot.off < b.length) {
              inner.wantWrite(true);
              return;
            }
            this.#outHead++;
            continue;
          }
          const room = STAGE_SIZE - this.#stageLen;
          if (room === 0) break;
          const take = Math.min(room, left);
          this.#stage.set(b.subarray(slot.off, slot.off + take), this.#stageLen);
          this.#stageLen += take;
          slot.off += take;
          if (slot.off === b.length) this.#outHead++;
          else break;
        }
        if (this.#stageOff === this.#stageLen) break;
        if (!this.#writeStage()) {
          inner.wantWrite(true);
          return;
        }
      }
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
      if (this.#draining) this.inner.abort();
      return;
    }
    if (this.#outHead === q.length) {
      q.length = 0;
      this.#outHead = 0;
      inner.wantWrite(false);
      if (this.#writeEnding) {
        this.#innerShut = true;
        if (this.#draining) {
          this.#finishDrain();
          return;
        }
        inner.shutdownWrite();
      }
    }
    if (this.#blocked && this.#outBytes < this.outLimit / 2) {
      this.#blocked = false;
      this.sendReady();
    }
  }

  // ---- lifetime ----

  override localAddr(): SockAddr | null {
    return this.inner.localAddr();
  }

  override peerAddr(): SockAddr | null {
    return this.inner.peerAddr();
  }

  protected destroy(reset: boolean): void {
    const inner = this.inner;
    inner.onReadable = null;
    inner.wantRead(false);
    if (reset || this.#failed) {
      inner.onWritable = null;
      inner.abort();
      return;
    }
    // Graceful: write what is queued (and the end marker), then close.
    this.#draining = true;
    inner.onHangup = null;
    if (!this.#writeEnding) {
      this.#writeEnding = true;
      this.#inCodec++;
      try {
        this.encodeEnd();
      } catch {
        /* closing anyway */
      } finally {
        this.#inCodec--;
      }
    }
    const timer = this.reactor.setTimeout(CLOSE_FLUSH_MS, () => {
      this.#innerShut = true;
      inner.abort();
    });
    this.#drainTimer = timer;
    this.#pumpOut();
  }

  #drainTimer: { cancel(): void } | null = null;

  #finishDrain(): void {
    this.#drainTimer?.cancel();
    this.#drainTimer = null;
    this.inner.onWritable = null;
    this.inner.close();
  }
}
