/**
 * The byte-stream contract every connection side speaks, and a base class for streams made in
 * JavaScript (TLS, proxy protocols, transports) rather than by the kernel.
 *
 * A {@linkcode Stream} is level-triggered and non-blocking, exactly like a reactor
 * {@linkcode TcpSocket} (which is the fast, kernel-backed implementation):
 *
 * - `read(buf)` returns the bytes copied (> 0), 0 at end of stream, or `WOULD_BLOCK`;
 *   it throws on a failure (a reset, a protocol error);
 * - `write(buf)` returns the bytes accepted (≥ 0) or `WOULD_BLOCK`;
 * - `wantRead(true)` asks for `onReadable` calls while the stream is readable (or has an EOF or
 *   an error to report); `wantWrite(true)` asks for `onWritable` calls while it can take bytes;
 * - `readable()`/`writable()` are the promise forms, for short handshakes;
 * - `shutdownWrite()` half-closes (FIN), `close()` ends both ways gracefully, `abort()` ends
 *   them with a reset so the failure propagates.
 *
 * Layers compose: a TLS stream reads and writes an inner stream, a protocol stream (vmess,
 * trojan...) reads and writes a TLS or socket stream. The relay, the TUN stacks and the
 * handshake helpers only see this interface, so any outbound may return any stream.
 *
 * ```ts
 * import { readExact, writeAll } from "./stream.ts";
 * // a handshake on whatever stream an outbound returned:
 * await writeAll(stream, new Uint8Array([5, 1, 0]), "socks greeting");
 * const reply = new Uint8Array(2);
 * await readExact(stream, reply, "socks greeting reply");
 * ```
 *
 * @module
 */

import { E, SysError } from "../../ffi/errno.ts";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import type { Reactor } from "./reactor.ts";
import type { Timer } from "./timer_queue.ts";
import { WOULD_BLOCK } from "./sys.ts";

export { WOULD_BLOCK };

/** A non-blocking, level-triggered byte stream driven by a {@linkcode Reactor}. */
export interface Stream {
  readonly reactor: Reactor;
  /** The kernel socket when this stream is one (enables splice and socket options), else null. */
  readonly fd: number | null;
  readonly closed: boolean;
  /** Called while readable (or EOF/error pending) and `wantRead(true)`, unless a promise waits. */
  onReadable: (() => void) | null;
  /** Called while writable and `wantWrite(true)`, unless a promise waits. */
  onWritable: (() => void) | null;
  /**
   * Called on a hang-up or error that nobody consumed (no waiter, neither `wantRead` nor
   * `wantWrite`). {@linkcode hangupError} tells a clean hang-up from a failure.
   */
  onHangup: (() => void) | null;
  wantRead(on: boolean): void;
  wantWrite(on: boolean): void;
  /** Bytes read (> 0), 0 at EOF, or WOULD_BLOCK; throws on failure. */
  read(buf: Uint8Array): number;
  /** Like `read` without consuming (for sniffing and exact header reads). */
  peek(buf: Uint8Array): number;
  /**
   * Optional zero-copy `read` (streams that hold received bytes in memory): a view of the next
   * bytes held, not consumed; or 0 at EOF, or WOULD_BLOCK; throws like `read`. The view stays
   * valid until the next call on the stream; {@linkcode Stream.consume} takes bytes off it.
   *
   * ```ts
   * const v = src.readView!();
   * if (typeof v !== "number") src.consume!(dst.write(v)); // (WOULD_BLOCK checked first)
   * ```
   */
  readView?(): Uint8Array | number;
  /** With {@linkcode Stream.readView}: the first `n` bytes of the last view were used. */
  consume?(n: number): void;
  /** Bytes accepted (≥ 0) or WOULD_BLOCK; throws on failure. */
  write(buf: Uint8Array): number;
  /** Resolves when readable (or EOF/error pending); rejects when closed. */
  readable(): Promise<void>;
  /** Resolves when writable; rejects when closed. */
  writable(): Promise<void>;
  /** The failure behind a hang-up, or null when the peer closed cleanly. */
  hangupError(): Error | null;
  /** Local address of the socket underneath, when there is one (SOCKS replies name it). */
  localAddr(): SockAddr | null;
  /** Peer address of the socket underneath, when there is one. */
  peerAddr(): SockAddr | null;
  /** Sends EOF after everything written (half-close). */
  shutdownWrite(): void;
  /** Ends the stream both ways (FIN). Wakes pending promises. Idempotent. */
  close(): void;
  /** Ends the stream with a reset, so the peer sees a failure. Idempotent. */
  abort(): void;
}

/** Thrown when a stream was closed (by a timeout or `close()`) while a handshake waited. */
export class StreamClosedError extends Error {
  override name = "StreamClosedError";
}

function closedError(what: string): StreamClosedError {
  return new StreamClosedError(`${what}: the stream was closed`);
}

/** Reads at least one byte; 0 at EOF. Fails at once if the stream is closed while waiting. */
export async function readSome(stream: Stream, buf: Uint8Array, what: string): Promise<number> {
  for (;;) {
    if (stream.closed) throw closedError(what);
    const n = stream.read(buf);
    if (n !== WOULD_BLOCK) return n;
    await stream.readable();
  }
}

/** Fills `buf` exactly; throws when the peer closes first (naming how much arrived). */
export async function readExact(stream: Stream, buf: Uint8Array, what: string): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const n = await readSome(stream, off === 0 ? buf : buf.subarray(off), what);
    if (n === 0) {
      throw new SysError(
        `${what}: connection closed after ${off} of ${buf.length} bytes`,
        E.ECONNRESET,
      );
    }
    off += n;
  }
}

/** Writes all of `buf`, waiting for writability as needed. */
export async function writeAll(stream: Stream, buf: Uint8Array, what: string): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    if (stream.closed) throw closedError(what);
    const n = stream.write(off === 0 ? buf : buf.subarray(off));
    if (n === WOULD_BLOCK) {
      await stream.writable();
      continue;
    }
    off += n;
  }
}

/** Peeks at pending bytes, waiting until at least one is there; 0 at EOF. */
export async function peekSome(stream: Stream, buf: Uint8Array, what: string): Promise<number> {
  for (;;) {
    if (stream.closed) throw closedError(what);
    const n = stream.peek(buf);
    if (n !== WOULD_BLOCK) return n;
    await stream.readable();
  }
}

type Waiter = { resolve: () => void; reject: (e: Error) => void } | null;

/** Size of a receive block ({@linkcode JsStream.pushSpace}). */
export const RECEIVE_BLOCK = 64 * 1024;
/** Free receive blocks kept per thread for the next stream that needs one (at most 2 MiB). */
const POOL_MAX = 32;
const blockPool: Uint8Array[] = [];

function takeBlock(): Uint8Array {
  return blockPool.pop() ?? new Uint8Array(RECEIVE_BLOCK);
}

function releaseBlock(block: Uint8Array): void {
  if (blockPool.length < POOL_MAX) blockPool.push(block);
}

/** @internal Free receive blocks on this thread (tests). */
export function receiveBlocksPooled(): number {
  return blockPool.length;
}

/**
 * Base class for streams implemented in JavaScript. A subclass produces incoming bytes with
 * {@linkcode push}, {@linkcode pushEof} and {@linkcode fail}, and consumes outgoing bytes in
 * {@linkcode sendBytes} (returning how many it took, or WOULD_BLOCK, then calling
 * {@linkcode sendReady} when it can take more). The base class keeps the received bytes, applies
 * backpressure (`pauseSource`/`resumeSource` around a high-water mark) and calls `onReadable`/
 * `onWritable` from the reactor loop (a zero-delay reactor timer), never from inside `push` or
 * `write`, so callers are never re-entered.
 *
 * A producer that makes its bytes in place (a decrypting protocol) asks for room with
 * {@linkcode pushSpace} and delivers it with {@linkcode pushCommit}: the room is carved from
 * 64 KiB receive blocks that go back to a per-thread pool once read (a block whose bytes are
 * all read is reused in place), so a stream of small decrypted chunks allocates nothing, and
 * consecutive chunks of a block are read as one piece.
 *
 * ```ts
 * class Loopback extends JsStream {
 *   protected sendBytes(buf: Uint8Array): number { this.push(buf.slice()); return buf.length; }
 *   protected sendEof(): void { this.pushEof(); }
 *   protected destroy(): void {}
 * }
 * ```
 */
export abstract class JsStream implements Stream {
  onReadable: (() => void) | null = null;
  onWritable: (() => void) | null = null;
  onHangup: (() => void) | null = null;
  readonly fd: number | null = null;
  /** Bytes held before `pauseSource` is called. */
  protected highWaterMark = 256 * 1024;
  #chunks: Uint8Array[] = [];
  #head = 0;
  #queued = 0;
  #eof = false;
  #error: Error | null = null;
  #closed = false;
  #writeEnded = false;
  #sendBlocked = false;
  #paused = false;
  #wantRead = false;
  #wantWrite = false;
  #readWaiter: Waiter = null;
  #writeWaiter: Waiter = null;
  #notify: Timer | null = null;
  /**
   * Receive blocks holding unread bytes, oldest first; the last is the one being filled (from
   * `#fill`). `#live[i]`: unread chunks in `#blocks[i]`.
   */
  #blocks: Uint8Array[] = [];
  #live: number[] = [];
  #fill = 0;

  constructor(readonly reactor: Reactor) {}

  // ---- subclass side ----

  /** Takes bytes to send; returns how many were taken or WOULD_BLOCK. May throw on failure. */
  protected abstract sendBytes(buf: Uint8Array): number;
  /** The consumer half-closed: send EOF after what was taken. */
  protected abstract sendEof(): void;
  /** Releases the transport; `reset` when the stream was aborted or failed. */
  protected abstract destroy(reset: boolean): void;
  /** Too many received bytes are held: stop producing until `resumeSource`. */
  protected pauseSource(): void {}
  /** The consumer caught up below the high-water mark. */
  protected resumeSource(): void {}

  /** Delivers received bytes; the stream keeps `data` (do not reuse it). */
  protected push(data: Uint8Array): void {
    if (this.#closed || this.#eof || this.#error || data.length === 0) return;
    this.#growTail();
    this.#chunks.push(data);
    this.#queued += data.length;
    this.#afterPush();
  }

  /**
   * Room for `n` received bytes, to be written in place and delivered with
   * {@linkcode pushCommit} (before any other `push`). Valid until then; not delivered if the
   * producer gives up (a failed decryption).
   */
  protected pushSpace(n: number): Uint8Array {
    if (n > RECEIVE_BLOCK) return new Uint8Array(n);
    const last = this.#blocks.length - 1;
    if (last < 0 || RECEIVE_BLOCK - this.#fill < n) {
      // The block being filled is full: keep it while it has unread bytes, else recycle it.
      if (last >= 0 && this.#live[last] === 0) {
        releaseBlock(this.#blocks.pop()!);
        this.#live.pop();
      }
      this.#blocks.push(takeBlock());
      this.#live.push(0);
      this.#fill = 0;
    }
    const block = this.#blocks[this.#blocks.length - 1]!;
    return new Uint8Array(block.buffer, this.#fill, n);
  }

  /** Delivers `space` (what {@linkcode pushSpace} returned, or its first bytes). */
  protected pushCommit(space: Uint8Array): void {
    const last = this.#blocks.length - 1;
    const current = last >= 0 ? this.#blocks[last]!.buffer : null;
    if (space.buffer !== current && space.buffer.byteLength !== RECEIVE_BLOCK) {
      this.push(space); // a large piece of its own
      return;
    }
    if (space.buffer !== current || space.byteOffset !== this.#fill) {
      // Not the room last handed out (a misuse): never keep a view of a recycled block.
      this.push(space.slice());
      return;
    }
    if (this.#closed || this.#eof || this.#error || space.length === 0) return;
    this.#fill += space.length;
    const block = this.#blocks[last]!;
    // Adjacent to the newest unread chunk of the same block: it grows (one piece to read; the
    // longer view is made when read, not per chunk).
    const chunks = this.#chunks;
    const tail = chunks.length > 0 ? chunks[chunks.length - 1]! : null;
    if (
      tail !== null && tail.buffer === block.buffer &&
      tail.byteOffset + tail.length + this.#tailGrow === space.byteOffset
    ) {
      this.#tailGrow += space.length;
      this.#queued += space.length;
      this.#afterPush();
      return;
    }
    this.#growTail();
    this.#live[last]!++;
    chunks.push(space);
    this.#queued += space.length;
    this.#afterPush();
  }

  /** Bytes that belong to the last chunk beyond its view (see `pushCommit`). */
  #tailGrow = 0;

  /** Makes the last chunk's view cover the bytes it grew by. */
  #growTail(): void {
    if (this.#tailGrow === 0) return;
    const chunks = this.#chunks, tail = chunks[chunks.length - 1]!;
    chunks[chunks.length - 1] = new Uint8Array(
      tail.buffer,
      tail.byteOffset,
      tail.length + this.#tailGrow,
    );
    this.#tailGrow = 0;
  }

  #afterPush(): void {
    if (!this.#paused && this.#queued >= this.highWaterMark) {
      this.#paused = true;
      this.pauseSource();
    }
    this.#schedule();
  }

  /** A chunk was read whole: a receive block with nothing left unread is recycled. */
  #chunkRead(c: Uint8Array): void {
    if (this.#blocks.length === 0 || c.buffer !== this.#blocks[0]!.buffer) return;
    if (--this.#live[0]! > 0) return;
    if (this.#blocks.length === 1) {
      this.#fill = 0; // the block being filled: start it over
      return;
    }
    releaseBlock(this.#blocks.shift()!);
    this.#live.shift();
  }

  /** The peer finished sending. */
  protected pushEof(): void {
    if (this.#closed || this.#eof) return;
    this.#eof = true;
    this.#schedule();
  }

  /** The stream failed: pending and later reads and writes throw `error`. */
  protected fail(error: Error): void {
    if (this.#closed || this.#error) return;
    this.#error = error;
    this.#schedule();
  }

  /** `sendBytes` can take bytes again after returning WOULD_BLOCK. */
  protected sendReady(): void {
    if (!this.#sendBlocked) return;
    this.#sendBlocked = false;
    this.#schedule();
  }

  /** Bytes received and not yet read. */
  get bufferedAmount(): number {
    return this.#queued;
  }

  // ---- consumer side ----

  get closed(): boolean {
    return this.#closed;
  }

  wantRead(on: boolean): void {
    this.#wantRead = on;
    if (on) this.#schedule();
  }

  wantWrite(on: boolean): void {
    this.#wantWrite = on;
    if (on) this.#schedule();
  }

  read(buf: Uint8Array): number {
    const n = this.#copy(buf, true);
    if (n > 0) this.#afterRead();
    return n;
  }

  /** Resumes the source once the consumer has read below half the high-water mark. */
  #afterRead(): void {
    if (this.#paused && this.#queued < this.highWaterMark / 2) {
      this.#paused = false;
      this.resumeSource();
    }
  }

  /** See {@linkcode Stream.readView}: the oldest held piece (consecutive receive room is one). */
  readView(): Uint8Array | number {
    if (this.#closed) throw new SysError("read from a closed stream", E.EBADF);
    if (this.#queued === 0) {
      if (this.#error) throw this.#error;
      return this.#eof ? 0 : WOULD_BLOCK;
    }
    this.#growTail();
    const c = this.#chunks[0]!;
    return this.#head === 0 ? c : c.subarray(this.#head);
  }

  /** See {@linkcode Stream.consume}. */
  consume(n: number): void {
    if (n <= 0) return;
    if (n > this.#queued) {
      throw new RangeError(`consume: ${n} bytes asked, ${this.#queued} held`);
    }
    this.#growTail(); // a view of the tail chunk is its current extent, bytes grown since too
    const chunks = this.#chunks;
    let i = 0, head = this.#head, left = n;
    while (left > 0) {
      const take = Math.min(chunks[i]!.length - head, left);
      left -= take;
      head += take;
      if (head === chunks[i]!.length) {
        i++;
        head = 0;
      }
    }
    this.#dropRead(i, head, n);
    this.#afterRead();
  }

  /** The first `i` chunks and `head` bytes of the next were read (`n` bytes in all). */
  #dropRead(i: number, head: number, n: number): void {
    if (this.#blocks.length > 0) {
      for (let j = 0; j < i; j++) this.#chunkRead(this.#chunks[j]!);
    }
    this.#chunks.splice(0, i);
    this.#head = head;
    this.#queued -= n;
  }

  peek(buf: Uint8Array): number {
    return this.#copy(buf, false);
  }

  #copy(buf: Uint8Array, consume: boolean): number {
    if (this.#closed) throw new SysError("read from a closed stream", E.EBADF);
    if (this.#queued === 0) {
      if (this.#error) throw this.#error;
      return this.#eof ? 0 : WOULD_BLOCK;
    }
    this.#growTail();
    let n = 0, i = 0, head = this.#head;
    while (n < buf.length && i < this.#chunks.length) {
      const c = this.#chunks[i]!;
      const take = Math.min(c.length - head, buf.length - n);
      buf.set(c.subarray(head, head + take), n);
      n += take;
      head += take;
      if (head === c.length) {
        i++;
        head = 0;
      }
    }
    if (consume) this.#dropRead(i, head, n);
    return n;
  }

  write(buf: Uint8Array): number {
    if (this.#closed) throw new SysError("write to a closed stream", E.EBADF);
    if (this.#error) throw this.#error;
    if (this.#writeEnded) throw new SysError("write after shutdown", E.EPIPE);
    if (this.#sendBlocked) return WOULD_BLOCK;
    const n = this.sendBytes(buf);
    if (n === WOULD_BLOCK) this.#sendBlocked = true;
    return n;
  }

  readable(): Promise<void> {
    if (this.#closed) return Promise.reject(new StreamClosedError("The stream is closed"));
    return new Promise((resolve, reject) => {
      this.#readWaiter = { resolve, reject };
      this.#schedule();
    });
  }

  writable(): Promise<void> {
    if (this.#closed) return Promise.reject(new StreamClosedError("The stream is closed"));
    return new Promise((resolve, reject) => {
      this.#writeWaiter = { resolve, reject };
      this.#schedule();
    });
  }

  hangupError(): Error | null {
    return this.#error;
  }

  localAddr(): SockAddr | null {
    return null;
  }

  peerAddr(): SockAddr | null {
    return null;
  }

  shutdownWrite(): void {
    if (this.#closed || this.#writeEnded) return;
    this.#writeEnded = true;
    this.sendEof();
  }

  close(): void {
    this.#end(false);
  }

  abort(): void {
    this.#end(true);
  }

  #end(reset: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#notify?.cancel();
    this.#notify = null;
    this.#chunks = [];
    this.#queued = 0;
    this.#tailGrow = 0;
    for (const block of this.#blocks) releaseBlock(block);
    this.#blocks = [];
    this.#live = [];
    try {
      this.destroy(reset || this.#error !== null);
    } finally {
      // Pending handshakes fail instead of hanging.
      const r = this.#readWaiter, w = this.#writeWaiter;
      this.#readWaiter = this.#writeWaiter = null;
      r?.resolve();
      w?.resolve();
    }
  }

  #readReady(): boolean {
    return this.#queued > 0 || this.#eof || this.#error !== null;
  }

  #writeReady(): boolean {
    return !this.#sendBlocked || this.#error !== null;
  }

  /** Arranges a notification pass on the reactor loop (coalesced). */
  #schedule(): void {
    if (this.#notify !== null || this.#closed) return;
    this.#notify = this.reactor.setTimeout(0, () => {
      this.#notify = null;
      this.#deliver();
    });
  }

  #deliver(): void {
    if (this.#closed) return;
    const readReady = this.#readReady();
    if (readReady) {
      const w = this.#readWaiter;
      if (w) {
        this.#readWaiter = null;
        w.resolve();
      } else if (this.#wantRead && this.onReadable) this.onReadable();
    }
    if (this.#closed) return;
    if (this.#writeReady()) {
      const w = this.#writeWaiter;
      if (w) {
        this.#writeWaiter = null;
        w.resolve();
      } else if (this.#wantWrite && this.onWritable) this.onWritable();
    }
    if (this.#closed) return;
    const hungUp = this.#error !== null || (this.#eof && this.#queued === 0);
    if (
      hungUp && !this.#readWaiter && !this.#writeWaiter && !this.#wantRead && !this.#wantWrite
    ) {
      this.onHangup?.();
      return;
    }
    // Level-triggered: keep notifying while the condition holds and someone listens. A listener
    // that does not consume is called again on the next loop round, not in a tight loop.
    if (
      (this.#wantRead && this.onReadable && this.#readReady()) ||
      (this.#wantWrite && this.onWritable && this.#writeReady())
    ) {
      this.#schedule();
    }
  }
}
