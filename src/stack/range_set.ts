/**
 * A small sorted set of disjoint half-open ranges `[start, end)` of non-negative offsets, with a
 * fixed capacity and no allocation after construction. It is the hole tracker behind out-of-order
 * reassembly (offsets from RCV.NXT) and the SACK scoreboard (offsets from SND.UNA), as smoltcp's
 * `Assembler` is.
 *
 * @module
 */

/** Disjoint, non-adjacent ranges kept in ascending order. */
export class RangeSet {
  /** `[start0, end0, start1, end1, ...]`, `count` pairs in use. */
  private readonly r: Float64Array;
  private n = 0;

  /** Creates a set holding at most `capacity` disjoint ranges. */
  constructor(readonly capacity: number) {
    this.r = new Float64Array(capacity * 2);
  }

  /** Number of disjoint ranges. */
  get count(): number {
    return this.n;
  }

  /** Start of range `i` (ascending order). */
  startAt(i: number): number {
    return this.r[2 * i]!;
  }

  /** End of range `i` (exclusive). */
  endAt(i: number): number {
    return this.r[2 * i + 1]!;
  }

  /** Removes every range. */
  clear(): void {
    this.n = 0;
  }

  /** Total length of all ranges. */
  totalLen(): number {
    let t = 0;
    for (let i = 0; i < this.n; i++) t += this.r[2 * i + 1]! - this.r[2 * i]!;
    return t;
  }

  /** End of the last range, or 0 when empty. */
  highestEnd(): number {
    return this.n === 0 ? 0 : this.r[2 * this.n - 1]!;
  }

  /** True when `x` lies in some range. */
  contains(x: number): boolean {
    for (let i = 0; i < this.n; i++) {
      if (x < this.r[2 * i]!) return false;
      if (x < this.r[2 * i + 1]!) return true;
    }
    return false;
  }

  /** Total length of range parts at or above `x`. */
  lenAbove(x: number): number {
    let t = 0;
    for (let i = this.n - 1; i >= 0; i--) {
      const s = this.r[2 * i]!, e = this.r[2 * i + 1]!;
      if (e <= x) break;
      t += e - Math.max(s, x);
    }
    return t;
  }

  /**
   * Adds `[start, end)`, merging with overlapping or adjacent ranges. Returns false (and changes
   * nothing) when the result would need more than `capacity` ranges.
   */
  add(start: number, end: number): boolean {
    if (end <= start) return true;
    const r = this.r;
    // First range whose end reaches `start` (can merge or lies after).
    let i = 0;
    while (i < this.n && r[2 * i + 1]! < start) i++;
    // Ranges i..j-1 touch [start, end).
    let j = i;
    while (j < this.n && r[2 * j]! <= end) j++;
    if (i === j) {
      if (this.n === this.capacity) return false;
      for (let k = this.n; k > i; k--) {
        r[2 * k] = r[2 * k - 2]!;
        r[2 * k + 1] = r[2 * k - 1]!;
      }
      r[2 * i] = start;
      r[2 * i + 1] = end;
      this.n++;
      return true;
    }
    const s = Math.min(start, r[2 * i]!);
    const e = Math.max(end, r[2 * (j - 1) + 1]!);
    r[2 * i] = s;
    r[2 * i + 1] = e;
    const removed = j - i - 1;
    if (removed > 0) {
      for (let k = i + 1; k + removed < this.n; k++) {
        r[2 * k] = r[2 * (k + removed)]!;
        r[2 * k + 1] = r[2 * (k + removed) + 1]!;
      }
      this.n -= removed;
    }
    return true;
  }

  /**
   * Moves the origin forward by `d`: every offset drops by `d`; ranges that end at or below the
   * new origin are removed and a range straddling it is clipped to start at 0.
   */
  shift(d: number): void {
    if (d === 0 || this.n === 0) return;
    const r = this.r;
    let drop = 0;
    while (drop < this.n && r[2 * drop + 1]! <= d) drop++;
    let w = 0;
    for (let k = drop; k < this.n; k++, w++) {
      r[2 * w] = Math.max(0, r[2 * k]! - d);
      r[2 * w + 1] = r[2 * k + 1]! - d;
    }
    this.n = w;
  }

  /**
   * The first gap at or after `from` that lies below `limit`: writes `[start, end)` into `out` and
   * returns true, or returns false when there is none.
   */
  gapFrom(from: number, limit: number, out: { start: number; end: number }): boolean {
    let x = from;
    for (let i = 0; i < this.n; i++) {
      const s = this.r[2 * i]!, e = this.r[2 * i + 1]!;
      if (x < s) {
        if (x >= limit) return false;
        out.start = x;
        out.end = Math.min(s, limit);
        return true;
      }
      if (x < e) x = e;
    }
    if (x >= limit) return false;
    out.start = x;
    out.end = limit;
    return true;
  }
}
