/**
 * A Node `Duplex` over a tunbox {@linkcode Stream}, so Node's TLS (`node:tls`, rustls inside
 * Deno) can run over any stream: a reactor socket or a stream through another outbound.
 *
 * Reads follow Node's flow control: the stream is read while the Duplex wants data
 * (`_read`), and reading stops when `push` reports a full buffer. Writes copy into the stream
 * and wait for writability when it would block; `final` half-closes.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import { type Stream, WOULD_BLOCK } from "../io/stream.ts";

const READ_SIZE = 64 * 1024;

/** A Node Duplex reading and writing `stream`. Closing the Duplex closes the stream. */
export class StreamDuplex extends Duplex {
  #pendingWrite: { buf: Uint8Array; cb: (error?: Error | null) => void } | null = null;
  #readBuf = new Uint8Array(READ_SIZE);
  #ended = false;
  #held = false;
  #wanted = false;
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
      p.cb(error as Error);
      return;
    }
    this.#pendingWrite = null;
    this.stream.wantWrite(false);
    this.onTransportWait?.(false);
    p.cb();
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
    this.stream.onReadable = this.stream.onWritable = this.stream.onHangup = null;
    if (error) this.stream.abort();
    else this.stream.close();
    cb(error);
  }
}
