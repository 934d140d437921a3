/**
 * Two in-memory {@linkcode JsStream}s connected back to back: what one writes the other reads.
 * Each direction holds at most `capacity` bytes in flight, so writers see WOULD_BLOCK and
 * backpressure like on a socket. For tests of anything that speaks {@linkcode Stream}: the relay,
 * handshakes, TLS and protocol layers, fake connection sides.
 *
 * ```ts
 * const [a, b] = streamPair(reactor);
 * await writeAll(a, bytes, "test");
 * await readExact(b, out, "test");
 * ```
 *
 * @module
 */

import type { Reactor } from "../../src/io/reactor.ts";
import { JsStream, WOULD_BLOCK } from "../../src/io/stream.ts";
import { E, SysError } from "../../ffi/errno.ts";

/** One end of a {@linkcode streamPair}. */
export class PairStream extends JsStream {
  peer: PairStream | null = null;
  /** How many times the base class asked this end's source (the peer's writer) to pause. */
  pauses = 0;
  #inFlight = 0;

  constructor(reactor: Reactor, readonly capacity: number) {
    super(reactor);
    this.highWaterMark = capacity;
  }

  protected sendBytes(buf: Uint8Array): number {
    const peer = this.peer;
    if (peer === null || peer.closed) throw new SysError("pair stream write", E.EPIPE);
    const room = this.capacity - peer.bufferedAmount;
    if (room <= 0) return WOULD_BLOCK;
    const n = Math.min(room, buf.length);
    peer.receive(buf.slice(0, n));
    this.#inFlight += n;
    return n;
  }

  protected sendEof(): void {
    this.peer?.receiveEof();
  }

  protected destroy(reset: boolean): void {
    const peer = this.peer;
    this.peer = null;
    if (peer === null) return;
    if (reset) peer.receiveError(new SysError("pair stream peer reset", E.ECONNRESET));
    else peer.receiveEof();
  }

  protected override pauseSource(): void {
    this.pauses++;
  }

  protected override resumeSource(): void {
    this.peer?.sendReady();
  }

  /** @internal */ receive(data: Uint8Array): void {
    this.push(data);
  }
  /** @internal */ receiveEof(): void {
    this.pushEof();
  }
  /** @internal */ receiveError(error: Error): void {
    this.fail(error);
  }

  /** Test hook: fail this end as a broken transport would. */
  breakWith(error: Error): void {
    this.fail(error);
  }

  override sendReady(): void {
    super.sendReady();
  }
}

/** Two connected in-memory streams on `reactor`, each direction holding at most `capacity`. */
export function streamPair(reactor: Reactor, capacity = 64 * 1024): [PairStream, PairStream] {
  const a = new PairStream(reactor, capacity);
  const b = new PairStream(reactor, capacity);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
