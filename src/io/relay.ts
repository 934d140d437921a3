/**
 * The stream ↔ stream relay: copies both directions between two {@linkcode Stream}s (usually
 * reactor TCP sockets; TLS or proxy-protocol streams alike) until both have finished, with
 * backpressure, half-close, reset propagation, byte counters and an optional idle timeout.
 *
 * Each direction is a small state machine driven by level-triggered readiness:
 *
 * - `copy` mode (the default): `read` into one scratch buffer shared by every relay of the
 *   thread, then `write` to the destination at once; only bytes the destination does not take
 *   are copied and kept. When the destination would block, reading the source stops (the data
 *   stays in the kernel's receive buffer, so TCP flow control pushes back on the sender) until
 *   the destination is writable again. Two descriptors per connection, no per-connection buffer.
 *   A source that holds its bytes in memory (a proxy protocol's decrypted stream: it offers
 *   {@linkcode Stream.readView}) is written from there when its pieces are large (at least
 *   {@linkcode VIEW_MIN}), without the scratch copy; what the destination does not take stays in
 *   the source (whose own limit then pauses it). Small pieces are gathered through the scratch
 *   buffer as before, so they cost one write, not one each.
 * - `splice` mode (Linux, on request, when both streams are kernel sockets): source → pipe →
 *   destination with `splice(2)`, so payload
 *   never enters JS, at the cost of a pipe (two more descriptors) per direction. On the 2-core
 *   development VM it was slower than `copy` for a single stream through the system stack
 *   (6.8 vs 7.4 Gbit/s via danted), so it is not the default. Without descriptors for the pipes
 *   (EMFILE) a relay falls back to `copy`.
 *
 * EOF on a source becomes `shutdown(SHUT_WR)` on the destination once everything read has been
 * written (half-close); the relay ends when both directions have. A read or write error (a
 * reset) on either socket ends the relay at once: the other socket is closed with a reset
 * (`SO_LINGER` 0) so the failure propagates. Bytes already read during sniffing or a handshake
 * can be passed as `initialToB`/`initialToA`: they are written before anything else.
 *
 * @module
 */

import { E, SysError } from "../../ffi/errno.ts";
import { type Stream, WOULD_BLOCK } from "./stream.ts";
import { fdClose, HAS_SPLICE, pipeCreate, spliceFd } from "./sys.ts";
import type { Timer } from "./timer_queue.ts";

/** How a relay ended. */
export type RelayEnd = "done" | "error" | "idle" | "closed";

/** Counters and outcome of a relay, passed to `onClose`. */
export interface RelayStats {
  /** Bytes written to `b` (read from `a`, plus `initialToB`). */
  up: number;
  /** Bytes written to `a` (read from `b`, plus `initialToA`). */
  down: number;
  /** `done`: both sides finished; `error`: a socket failed; `idle`: timeout; `closed`: close(). */
  end: RelayEnd;
  /** The failure, for `end === "error"`. */
  error?: Error;
  /** From start to end, on the reactor clock. */
  durationMs: number;
}

export interface RelayOptions {
  /** Close both sides after this long without a byte moving in either direction (0: never). */
  idleTimeoutMs?: number;
  /** Bytes already read from `a`, written to `b` first. */
  initialToB?: Uint8Array | null;
  /** Bytes already read from `b`, written to `a` first. */
  initialToA?: Uint8Array | null;
  /** `copy` (default) or `splice` (Linux only; `copy` elsewhere). */
  mode?: "splice" | "copy";
  /** Called once when the relay ends; both sockets are closed by then. */
  onClose?: (stats: RelayStats) => void;
}

/** Bytes asked of one splice call (the kernel caps it at the pipe's capacity, 64 KiB). */
const SPLICE_LEN = 1 << 20;
/** Reads per readiness event before yielding to other sockets. */
const ROUNDS = 16;
const COPY_BUFFER = 256 * 1024;
/**
 * A source's piece at least this large is written from the source's own memory; smaller ones are
 * gathered (a TLS record is at most 16 KiB; a receive block of decrypted chunks is 64 KiB).
 */
const VIEW_MIN = 32 * 1024;
/** The copy mode's read buffer, shared by every relay on this thread (see `Direction.pull`). */
const scratch = new Uint8Array(COPY_BUFFER);

class Direction {
  bytes = 0;
  eof = false;
  done = false;
  pending: Uint8Array | null;
  pipeR = -1;
  pipeW = -1;
  inPipe = 0;
  /** The source's bytes are written from its own memory ({@linkcode Stream.readView}). */
  readonly views: boolean;

  constructor(
    readonly relay: Relay,
    readonly src: Stream,
    readonly dst: Stream,
    initial: Uint8Array | null | undefined,
    readonly splice: boolean,
  ) {
    this.pending = initial && initial.length > 0 ? initial : null;
    this.views = !splice && src.readView !== undefined && src.consume !== undefined;
    if (splice) [this.pipeR, this.pipeW] = pipeCreate();
  }

  start(): void {
    if (this.drain()) this.src.wantRead(true);
    else this.dst.wantWrite(true);
  }

  /** Writes pending bytes and the pipe's content to dst; true when nothing is left. */
  drain(): boolean {
    while (this.pending !== null) {
      const n = this.dst.write(this.pending);
      if (n === WOULD_BLOCK) {
        this.keepPending();
        return false;
      }
      this.moved(n);
      this.pending = n === this.pending.length ? null : this.pending.subarray(n);
    }
    while (this.inPipe > 0) {
      const n = spliceFd(this.pipeR, this.dst.fd!, this.inPipe);
      if (n === WOULD_BLOCK) return false;
      this.inPipe -= n;
      this.moved(n);
    }
    return true;
  }

  /** Pending bytes still in the shared scratch buffer must survive the next read into it. */
  keepPending(): void {
    const p = this.pending;
    if (p !== null && p.buffer === scratch.buffer) this.pending = p.slice();
  }

  moved(n: number): void {
    this.bytes += n;
    this.relay.lastActivity = this.relay.reactorNow();
  }

  /** The source is readable (or has EOF/an error to report). */
  pull(): void {
    for (let i = 0; i < ROUNDS; i++) {
      if (this.views) {
        const step = this.#writeView();
        if (step === "done") return;
        if (step === "next") continue;
        // "copy": read below (small pieces gathered, or WOULD_BLOCK/EOF reported).
      }
      let n: number;
      if (this.splice) {
        n = spliceFd(this.src.fd!, this.pipeW, SPLICE_LEN);
        if (n > 0) this.inPipe += n;
      } else {
        // One scratch buffer per thread: drain() writes it out at once, and only bytes the
        // destination does not take are copied into `pending`.
        n = this.src.read(scratch);
        if (n > 0) this.pending = scratch.subarray(0, n);
      }
      if (n === WOULD_BLOCK) return;
      if (n === 0) {
        this.eof = true;
        this.src.wantRead(false);
        this.finish();
        return;
      }
      if (!this.drain()) {
        this.src.wantRead(false);
        this.dst.wantWrite(true);
        return;
      }
      // A short read from a kernel socket emptied its receive queue: the next read would
      // only say EAGAIN, a system call per message. Readiness is level-triggered, so bytes
      // that arrive meanwhile are reported by the next epoll round.
      if (n < scratch.length && !this.splice && this.src.fd !== null) return;
    }
  }

  /**
   * One write straight from the source's next piece ({@linkcode Stream.readView}): "next" when
   * it went whole, "done" when dst took less (reading stops until dst is writable), "copy" when
   * there is no piece or it is small (the copy read gathers small pieces into one write).
   */
  #writeView(): "next" | "done" | "copy" {
    const v = this.src.readView!();
    if (typeof v === "number" || v.length < VIEW_MIN) return "copy";
    const n = this.dst.write(v);
    if (n > 0) {
      this.src.consume!(n);
      this.moved(n);
    }
    if (n === WOULD_BLOCK || n < v.length) {
      // The rest stays in the source until dst is writable again.
      this.src.wantRead(false);
      this.dst.wantWrite(true);
      return "done";
    }
    return "next";
  }

  /** The destination is writable again. */
  push(): void {
    if (!this.drain()) return;
    this.dst.wantWrite(false);
    if (this.eof) {
      this.finish();
      return;
    }
    this.src.wantRead(true);
    this.pull();
  }

  /** After EOF with nothing left to write: half-close dst. */
  finish(): void {
    if (this.done || this.pending !== null || this.inPipe > 0) return;
    this.done = true;
    this.dst.shutdownWrite();
    this.relay.directionDone();
  }

  close(): void {
    if (this.pipeR >= 0) {
      fdClose(this.pipeR);
      fdClose(this.pipeW);
      this.pipeR = this.pipeW = -1;
    }
  }
}

/** A running relay between `a` and `b`. */
export class Relay {
  lastActivity: number;
  readonly #ab: Direction;
  readonly #ba: Direction;
  readonly #start: number;
  readonly #idleMs: number;
  readonly #onClose: ((stats: RelayStats) => void) | undefined;
  #timer: Timer | null = null;
  #ended: RelayStats | null = null;

  constructor(readonly a: Stream, readonly b: Stream, options: RelayOptions = {}) {
    const splice = options.mode === "splice" && HAS_SPLICE && a.fd !== null && b.fd !== null;
    this.#start = this.lastActivity = a.reactor.now();
    this.#idleMs = options.idleTimeoutMs ?? 0;
    this.#onClose = options.onClose;
    let ab: Direction, ba: Direction;
    try {
      [ab, ba] = Relay.#directions(this, options, splice);
    } catch (error) {
      // Out of file descriptors for the splice pipes: copy through userspace instead.
      if (
        !splice || !(error instanceof SysError) ||
        !(error.code === "EMFILE" || error.code === "ENFILE")
      ) {
        throw error;
      }
      [ab, ba] = Relay.#directions(this, options, false);
    }
    this.#ab = ab;
    this.#ba = ba;
    a.onReadable = () => this.#guard(() => ab.pull());
    b.onWritable = () => this.#guard(() => ab.push());
    b.onReadable = () => this.#guard(() => ba.pull());
    a.onWritable = () => this.#guard(() => ba.push());
    a.onHangup = () => this.#hangup(a);
    b.onHangup = () => this.#hangup(b);
    if (this.#idleMs > 0) this.#armIdle(this.#idleMs);
    this.#guard(() => {
      ab.start();
      ba.start();
    });
  }

  static #directions(relay: Relay, options: RelayOptions, splice: boolean): [Direction, Direction] {
    const ab = new Direction(relay, relay.a, relay.b, options.initialToB, splice);
    try {
      return [ab, new Direction(relay, relay.b, relay.a, options.initialToA, splice)];
    } catch (error) {
      ab.close();
      throw error;
    }
  }

  reactorNow(): number {
    return this.a.reactor.now();
  }

  /** Bytes written to `b` so far. */
  get up(): number {
    return this.#ab.bytes;
  }

  /** Bytes written to `a` so far. */
  get down(): number {
    return this.#ba.bytes;
  }

  get ended(): boolean {
    return this.#ended !== null;
  }

  #guard(step: () => void): void {
    if (this.#ended) return;
    try {
      step();
    } catch (error) {
      this.#end("error", error instanceof Error ? error : new Error(String(error)));
    }
  }

  #hangup(sock: Stream): void {
    if (this.#ended) return;
    const error = sock.closed ? null : sock.hangupError();
    // No error: the peer closed both ways (a clean hang-up). Its EOF is read when this side is
    // read again (it is paused for backpressure now); the socket parks until then.
    if (error === null && !sock.closed) return;
    const which = sock === this.a ? "a" : "b";
    this.#end(
      "error",
      error ?? new SysError(`relay: stream ${which} was closed`, E.ECONNRESET),
    );
  }

  #armIdle(ms: number): void {
    this.#timer = this.a.reactor.setTimeout(ms, () => {
      if (this.#ended) return;
      const idle = this.reactorNow() - this.lastActivity;
      if (idle >= this.#idleMs) this.#end("idle");
      else this.#armIdle(this.#idleMs - idle);
    });
  }

  /** Called by a direction that has finished (EOF written through). */
  directionDone(): void {
    if (this.#ab.done && this.#ba.done) this.#end("done");
  }

  /** Stops the relay and closes both sockets (FIN, not reset). */
  close(): void {
    this.#end("closed");
  }

  /** Stops the relay and resets both sockets, so both peers see the failure (`end` "error"). */
  abort(reason: Error = new Error("relay aborted")): void {
    this.#end("error", reason);
  }

  #end(end: RelayEnd, error?: Error): void {
    if (this.#ended) return;
    const stats: RelayStats = {
      up: this.#ab.bytes,
      down: this.#ba.bytes,
      end,
      durationMs: this.reactorNow() - this.#start,
    };
    if (error) stats.error = error;
    this.#ended = stats;
    this.#timer?.cancel();
    for (const s of [this.a, this.b]) {
      s.onReadable = s.onWritable = s.onHangup = null;
    }
    if (end === "error" || end === "idle") {
      this.a.abort();
      this.b.abort();
    } else {
      this.a.close();
      this.b.close();
    }
    this.#ab.close();
    this.#ba.close();
    this.#onClose?.(stats);
  }
}

/** Starts relaying between `a` (usually the client) and `b` (usually the upstream). */
export function relay(a: Stream, b: Stream, options: RelayOptions = {}): Relay {
  return new Relay(a, b, options);
}
