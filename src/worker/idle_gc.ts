/**
 * A full garbage collection once a worker goes quiet after its heap grew. V8 collects the old
 * generation when allocation asks for it; a worker that turns idle after a burst allocates almost
 * nothing, so the burst's dead connections (and the ArrayBuffers behind their rings) can stay in
 * the heap for tens of seconds: on the system stack, 30 s after 10,000 held connections closed the
 * worker's heap still had 45 MiB used against 16 idle, until a collection came by itself.
 * {@linkcode IdleGc.tick}, called once a second, collects when the heap has grown by `growthBytes`
 * since the last collection and has not grown by more than `quietBytes` a tick for `quietTicks`
 * ticks in a row (little is being allocated: nothing waits on the pause). The glibc trimmer
 * (`src/platform/memory_trim.ts`) then gives the freed buffers' memory back to the kernel.
 *
 * Needs V8's `gc` function (`--expose-gc`, in `TUNBOX_V8_FLAGS`); without it
 * {@linkcode idleGc} returns undefined.
 *
 * @module
 */

/** Thresholds of {@linkcode IdleGc}. */
export interface IdleGcOptions {
  /** Heap growth since the last collection that makes one worth it (default 8 MiB). */
  growthBytes?: number;
  /** Most growth in one tick that still counts as quiet (default 1 MiB). */
  quietBytes?: number;
  /** Quiet ticks in a row before collecting (default 5). */
  quietTicks?: number;
}

/** Decides when to collect (see the module doc); the heap reading and the collector are given. */
export class IdleGc {
  readonly #gc: () => void;
  readonly #heapUsed: () => number;
  readonly #growth: number;
  readonly #quietBytes: number;
  readonly #quietTicks: number;
  #base: number;
  #last: number;
  #quiet = 0;

  constructor(gc: () => void, heapUsed: () => number, opts: IdleGcOptions = {}) {
    this.#gc = gc;
    this.#heapUsed = heapUsed;
    this.#growth = opts.growthBytes ?? 8 * 1024 * 1024;
    this.#quietBytes = opts.quietBytes ?? 1024 * 1024;
    this.#quietTicks = opts.quietTicks ?? 5;
    this.#base = this.#last = heapUsed();
  }

  /** One reading; returns true when it collected. */
  tick(): boolean {
    const used = this.#heapUsed();
    this.#quiet = used - this.#last <= this.#quietBytes ? this.#quiet + 1 : 0;
    this.#last = used;
    // A collection V8 made itself lowers the heap: that is the new base.
    if (used < this.#base) this.#base = used;
    if (this.#quiet < this.#quietTicks || used - this.#base < this.#growth) return false;
    this.#gc();
    this.#base = this.#last = this.#heapUsed();
    this.#quiet = 0;
    return true;
  }
}

/**
 * An {@linkcode IdleGc} over this isolate's heap and the ArrayBuffer memory it holds, or
 * undefined when V8's `gc` is not exposed.
 *
 * @example
 * ```ts
 * const idle = idleGc();
 * setInterval(() => idle?.tick(), 1000);
 * ```
 */
export function idleGc(opts: IdleGcOptions = {}): IdleGc | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== "function") return undefined;
  // The heap and the ArrayBuffers it holds (`external`): a dead connection's rings are mostly
  // the latter, and a collection V8 made itself may have left them for the next one.
  return new IdleGc(() => gc(), () => {
    const m = Deno.memoryUsage();
    return m.heapUsed + m.external;
  }, opts);
}
