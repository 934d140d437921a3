/**
 * A binary-heap timer queue driven by an explicit clock, for the reactor loop.
 *
 * Timers are cancelled lazily (a cancelled entry stays in the heap until it reaches the top),
 * so `cancel` is O(1) and the steady state allocates one small object per timer.
 *
 * @module
 */

/** A scheduled callback; `cancel()` is idempotent. */
export interface Timer {
  readonly deadline: number;
  cancel(): void;
}

class Entry implements Timer {
  cancelled = false;
  constructor(
    readonly deadline: number,
    readonly seq: number,
    readonly callback: () => void,
  ) {}
  cancel(): void {
    this.cancelled = true;
  }
}

/** Min-heap of timers ordered by deadline, then by insertion. */
export class TimerQueue {
  #heap: Entry[] = [];
  #seq = 0;

  /** Number of entries held (cancelled ones included until they are popped). */
  get size(): number {
    return this.#heap.length;
  }

  /** Schedules `callback` to run when `runDue(now)` sees `now >= deadline`. */
  schedule(deadline: number, callback: () => void): Timer {
    const entry = new Entry(deadline, this.#seq++, callback);
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(entry, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
    return entry;
  }

  /** The earliest live deadline, or `Infinity`. */
  nextDeadline(): number {
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]!.cancelled) this.#pop();
    return heap.length > 0 ? heap[0]!.deadline : Infinity;
  }

  /** Runs every timer due at `now`; returns how many ran. Callbacks may schedule more. */
  runDue(now: number): number {
    let ran = 0;
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]!.deadline <= now) {
      const entry = this.#pop();
      if (entry.cancelled) continue;
      entry.cancelled = true;
      ran++;
      entry.callback();
    }
    return ran;
  }

  #pop(): Entry {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      const n = heap.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && less(heap[r]!, heap[l]!) ? r : l;
        if (!less(heap[c]!, last)) break;
        heap[i] = heap[c]!;
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }
}

function less(a: Entry, b: Entry): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}
