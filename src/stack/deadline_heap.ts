/**
 * A binary min-heap of `(deadline, id, tag)` triples of numbers in typed arrays: no object per
 * entry, O(log n) push and pop, and its arrays shrink again when it empties (so a burst of
 * sessions does not keep its memory). For expiry checks that are re-validated when they come
 * due: an entry is only a reminder to look at `id` at `deadline`, and `tag` tells whether `id`
 * still means the same thing then (a generation number).
 *
 * ```ts
 * const h = new DeadlineHeap();
 * h.push(now + timeout, port, generation);
 * while (h.size > 0 && h.peekDeadline() <= now) {
 *   const port = h.peekId(), gen = h.peekTag();
 *   h.pop();
 *   // look at `port`; if it is still `gen` and not due yet, push it again
 * }
 * ```
 *
 * @module
 */

const MIN_CAPACITY = 64;

/** Min-heap of `(deadline, id, tag)` ordered by deadline. */
export class DeadlineHeap {
  #deadline = new Float64Array(MIN_CAPACITY);
  #id = new Int32Array(MIN_CAPACITY);
  #tag = new Int32Array(MIN_CAPACITY);
  #n = 0;

  /** Entries held. */
  get size(): number {
    return this.#n;
  }

  /** Bytes of memory the arrays take. */
  get memoryBytes(): number {
    return this.#deadline.length * 16;
  }

  /** The earliest deadline, or Infinity when empty. */
  peekDeadline(): number {
    return this.#n === 0 ? Infinity : this.#deadline[0]!;
  }

  /** The id of the earliest entry (undefined behaviour when empty). */
  peekId(): number {
    return this.#id[0]!;
  }

  /** The tag of the earliest entry. */
  peekTag(): number {
    return this.#tag[0]!;
  }

  /** Adds an entry. */
  push(deadline: number, id: number, tag: number): void {
    if (this.#n === this.#deadline.length) this.#resize(this.#n * 2);
    let i = this.#n++;
    const d = this.#deadline, ids = this.#id, tags = this.#tag;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (d[p]! <= deadline) break;
      d[i] = d[p]!;
      ids[i] = ids[p]!;
      tags[i] = tags[p]!;
      i = p;
    }
    d[i] = deadline;
    ids[i] = id;
    tags[i] = tag;
  }

  /** Removes the earliest entry. */
  pop(): void {
    const n = --this.#n;
    if (n <= 0) {
      this.#n = 0;
      if (this.#deadline.length > MIN_CAPACITY) this.#resize(MIN_CAPACITY);
      return;
    }
    const d = this.#deadline, ids = this.#id, tags = this.#tag;
    const ld = d[n]!, lid = ids[n]!, ltag = tags[n]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && d[c + 1]! < d[c]!) c++;
      if (d[c]! >= ld) break;
      d[i] = d[c]!;
      ids[i] = ids[c]!;
      tags[i] = tags[c]!;
      i = c;
    }
    d[i] = ld;
    ids[i] = lid;
    tags[i] = ltag;
    if (n < this.#deadline.length >> 2 && this.#deadline.length > MIN_CAPACITY) {
      this.#resize(this.#deadline.length >> 1);
    }
  }

  /** Removes everything. */
  clear(): void {
    this.#n = 0;
    if (this.#deadline.length > MIN_CAPACITY) this.#resize(MIN_CAPACITY);
  }

  #resize(capacity: number): void {
    const d = new Float64Array(capacity);
    const ids = new Int32Array(capacity);
    const tags = new Int32Array(capacity);
    d.set(this.#deadline.subarray(0, this.#n));
    ids.set(this.#id.subarray(0, this.#n));
    tags.set(this.#tag.subarray(0, this.#n));
    this.#deadline = d;
    this.#id = ids;
    this.#tag = tags;
  }
}
