/**
 * A binary-heap timer queue driven by an explicit clock, for the reactor loop.
 *
 * Timers are cancelled lazily (a cancelled entry stays in the heap until it reaches the top),
 * so `cancel` is O(1) and the steady state allocates one small object per timer. When cancelled
 * entries outnumber live ones (many timeouts armed and cancelled, as handshakes do under
 * connection churn), the heap is rebuilt without them, so its memory follows the live timers;
 * the rebuild is O(n) and amortized over the cancellations that caused it.
 *
 * @module
 */

/** A scheduled callback; `cancel()` is idempotent. */
export interface Timer {
  readonly deadline: number;
  cancel(): void;
}

/** Cancelled entries tolerated before a rebuild is considered. */
const COMPACT_MIN = 1024;

class Entry implements Timer {
  /** Cancelled, or already run. */
  done = false;
  constructor(
    readonly deadline: number,
    readonly seq: number,
    readonly callback: () => void,
    readonly queue: TimerQueue,
  ) {}
  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.queue.noteCancelled();
  }
}

/** Min-heap of timers ordered by deadline, then by insertion. */
export class TimerQueue {
  #heap: Entry[] = [];
  #seq = 0;
  /** Cancelled entries still in the heap. */
  #dead = 0;

  /** Number of entries held (cancelled ones included until they are popped). */
  get size(): number {
    return this.#heap.length;
  }

  /** Number of live (not cancelled) timers. */
  get live(): number {
    return this.#heap.length - this.#dead;
  }

  /** Schedules `callback` to run when `runDue(now)` sees `now >= deadline`. */
  schedule(deadline: number, callback: () => void): Timer {
    const entry = new Entry(deadline, this.#seq++, callback, this);
    const heap = this.#heap;
    heap.push(entry);
    this.#up(heap.length - 1, entry);
    return entry;
  }

  /** @internal An entry was cancelled (called by `Timer.cancel`). */
  noteCancelled(): void {
    this.#dead++;
    if (this.#dead >= COMPACT_MIN && this.#dead * 2 > this.#heap.length) this.#compact();
  }

  /** The earliest live deadline, or `Infinity`. */
  nextDeadline(): number {
    while (this.#heap.length > 0 && this.#heap[0]!.done) {
      this.#pop();
      this.#dead--;
    }
    return this.#heap.length > 0 ? this.#heap[0]!.deadline : Infinity;
  }

  /** Runs every timer due at `now`; returns how many ran. Callbacks may schedule more. */
  runDue(now: number): number {
    let ran = 0;
    // `this.#heap` is read each time: a callback's cancellations may rebuild it.
    while (this.#heap.length > 0 && this.#heap[0]!.deadline <= now) {
      const entry = this.#pop();
      if (entry.done) {
        this.#dead--;
        continue;
      }
      entry.done = true;
      ran++;
      entry.callback();
    }
    return ran;
  }

  /** Drops cancelled entries and restores the heap order (Floyd's O(n) heapify). */
  #compact(): void {
    const live = this.#heap.filter((e) => !e.done);
    this.#heap = live;
    this.#dead = 0;
    for (let i = (live.length >> 1) - 1; i >= 0; i--) this.#down(i, live[i]!);
  }

  #up(i: number, entry: Entry): void {
    const heap = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(entry, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  #down(i: number, entry: Entry): void {
    const heap = this.#heap;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && less(heap[r]!, heap[l]!) ? r : l;
      if (!less(heap[c]!, entry)) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = entry;
  }

  #pop(): Entry {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) this.#down(0, last);
    return top;
  }
}

function less(a: Entry, b: Entry): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
}
