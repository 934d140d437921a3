/**
 * A Node `Duplex` over a tunbox {@linkcode Stream}, so Node's TLS (`node:tls`, rustls inside
 * Deno) can run over any stream: a reactor socket or a stream through another outbound.
 *
 * Reads follow Node's flow control: the stream is read while the Duplex wants data
 * (`_read`), and reading stops when `push` reports a full buffer. Writes copy into the stream
 * and wait for writability when it would block; `final` half-closes. Destroying the Duplex
 * without an error closes the stream like closing a socket: a write the stream has not taken
 * yet is still sent first (within {@linkcode LINGER_MS}); with an error the stream is aborted.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import { type Stream, WOULD_BLOCK } from "../io/stream.ts";
import type { Timer } from "../io/timer_queue.ts";

const READ_SIZE = 64 * 1024;

/**
 * How long a gracefully destroyed Duplex keeps its stream open to finish a write the stream
 * could not take yet; then the stream is closed anyway.
 */
export const LINGER_MS = 5_000;

/** A Node Duplex reading and writing `stream`. Closing the Duplex closes the stream. */
export class StreamDuplex extends Duplex {
  #pendingWrite: { buf: Uint8Array; cb: (error?: Error | null) => void } | null = null;
  #readBuf = new Uint8Array(READ_SIZE);
  #ended = false;
  #held = false;
  #wanted = false;
  #lingering: Timer | null = null;
  /** Called when a write starts or stops waiting for the stream to become writable. */
  onTransportWait: ((waiting: boolean) => void) | null = null;

  constructor(readonly stream: Stream) {
    super({ allowHalfOpen: true, decodeStrings: true });
    stream.onReadable = () => this.#pull();
    stream.onWritable = () => this.#flush();
    stream.onHangup = () => this.#pull();
  }

  override _read(): void {
    this.#wanted = true;
    if (this.#ended || this.#held || this.stream.closed) return;
    this.stream.wantRead(true);
  }

  /**
   * Stops (or resumes) reading the stream whatever Node asks: the consumer of what the layer
   * above produces is full.
   */
  holdReading(held: boolean): void {
    this.#held = held;
    if (this.#ended || this.stream.closed) return;
    this.stream.wantRead(!held && this.#wanted);
  }

  #pull(): void {
    for (;;) {
      if (this.#held) {
        this.stream.wantRead(false);
        return;
      }
      let n: number;
      try {
        n = this.stream.read(this.#readBuf);
      } catch (error) {
        this.stream.wantRead(false);
        this.destroy(error as Error);
        return;
      }
      if (n === WOULD_BLOCK) return;
      if (n === 0) {
        this.#ended = true;
        this.stream.wantRead(false);
        this.push(null);
        return;
      }
      const more = this.push(Buffer.from(this.#readBuf.slice(0, n).buffer));
      if (!more) {
        this.#wanted = false;
        this.stream.wantRead(false);
        return;
      }
    }
  }

  override _write(
    chunk: Uint8Array,
    _encoding: string,
    cb: (error?: Error | null) => void,
  ): void {
    this.#pendingWrite = { buf: chunk, cb };
    this.#flush();
  }

  #flush(): void {
    const p = this.#pendingWrite;
    if (!p) {
      this.stream.wantWrite(false);
      return;
    }
    try {
      while (p.buf.length > 0) {
        const n = this.stream.write(p.buf);
        if (n === WOULD_BLOCK) {
          this.stream.wantWrite(true);
          this.onTransportWait?.(true);
          return;
        }
        p.buf = p.buf.subarray(n);
      }
    } catch (error) {
      this.#pendingWrite = null;
      this.stream.wantWrite(false);
      if (this.#lingering) this.#endLinger(true);
      else p.cb(error as Error);
      return;
    }
    this.#pendingWrite = null;
    this.stream.wantWrite(false);
    this.onTransportWait?.(false);
    if (this.#lingering) this.#endLinger(false);
    else p.cb();
  }

  /** True while a write waits for the stream to take bytes. */
  get waitingForTransport(): boolean {
    return this.#pendingWrite !== null;
  }

  override _final(cb: (error?: Error | null) => void): void {
    try {
      if (!this.stream.closed) this.stream.shutdownWrite();
      cb();
    } catch (error) {
      cb(error as Error);
    }
  }

  override _destroy(error: Error | null, cb: (error?: Error | null) => void): void {
    const stream = this.stream;
    stream.onReadable = stream.onHangup = null;
    if (!error && this.#pendingWrite !== null && !stream.closed) {
      // Node's TLS reports its writes and its shutdown done while the last record still waits
      // here for the stream to take it, and auto-destroys its socket once both directions
      // ended: closing the stream now would cut what the peer was sent short (and the peer
      // would read a clean EOF). Like a closed socket's send buffer, it is sent first.
      stream.wantRead(false);
      this.#lingering = stream.reactor.setTimeout(LINGER_MS, () => this.#endLinger(false));
    } else {
      stream.onWritable = null;
      this.#pendingWrite = null;
      if (error) stream.abort();
      else stream.close();
    }
    cb(error);
  }

  /** Ends a linger: the pending write went out (or failed, or took too long). */
  #endLinger(reset: boolean): void {
    this.#lingering?.cancel();
    this.#lingering = null;
    this.#pendingWrite = null;
    this.stream.onWritable = null;
    if (reset) this.stream.abort();
    else this.stream.close();
  }

  /**
   * Closes the Duplex and its stream: gracefully without `error` (a pending write is still sent),
   * else a reset now, also when an earlier graceful destroy still sends its last write (an
   * `abort()` of the layer above).
   */
  closeStream(error?: Error): void {
    if (error && this.#lingering) this.#endLinger(true);
    else this.destroy(error);
  }
}
