/**
 * Connection ids unique across every worker of an instance: one 64-bit counter in a
 * `SharedArrayBuffer` made by the main thread and incremented atomically by whichever worker
 * accepts a flow (one atomic add per connection, never per packet). The id is the `[id]` of log
 * lines and the `id` of the Clash API, so the main thread can find which worker owns it.
 *
 * ```ts
 * const memory = createConnIdMemory();      // main thread, passed in each worker's init
 * const ids = new ConnIds(memory);          // in a worker
 * ids.next(); // 1, then 2, ... whichever worker asks
 * ```
 *
 * @module
 */

/** Memory for {@linkcode ConnIds} shared by all workers. */
export function createConnIdMemory(): SharedArrayBuffer {
  return new SharedArrayBuffer(8);
}

/** Hands out connection ids (shared when given memory, else private to this instance). */
export class ConnIds {
  readonly #cell: BigInt64Array;

  constructor(memory: SharedArrayBuffer = new SharedArrayBuffer(8)) {
    this.#cell = new BigInt64Array(memory, 0, 1);
  }

  /** The next id (1, 2, ...). */
  next(): number {
    return Number(Atomics.add(this.#cell, 0, 1n)) + 1;
  }
}
