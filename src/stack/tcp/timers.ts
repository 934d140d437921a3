/**
 * An indexed binary min-heap of timer owners, keyed by deadline (ms). Each owner carries its heap
 * position, so moving a deadline is O(log n) and nothing is allocated per update. The TCP stack
 * keeps one entry per connection at its earliest deadline and lets later deadlines be discovered
 * lazily when the entry fires.
 *
 * @module
 */

/** Something with a deadline in a {@linkcode TimerHeap}. */
export interface TimerEntry {
  /** Position in the heap, -1 when absent. */
  heapIndex: number;
  /** The deadline it is filed under. */
  heapKey: number;
}

/** Min-heap of {@linkcode TimerEntry} by `heapKey`. */
export class TimerHeap<T extends TimerEntry> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  /** The earliest deadline, or Infinity. */
  peekKey(): number {
    return this.items.length === 0 ? Infinity : this.items[0]!.heapKey;
  }

  /** The entry with the earliest deadline. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** Files `item` under `key`, inserting it or moving it. */
  set(item: T, key: number): void {
    if (item.heapIndex < 0) {
      item.heapKey = key;
      item.heapIndex = this.items.length;
      this.items.push(item);
      this.up(item.heapIndex);
      return;
    }
    const old = item.heapKey;
    item.heapKey = key;
    if (key < old) this.up(item.heapIndex);
    else if (key > old) this.down(item.heapIndex);
  }

  /** Removes `item` if present. */
  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (i === this.items.length) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.down(i);
    this.up(last.heapIndex);
  }

  /** Removes and returns the earliest entry. */
  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  private up(i: number): void {
    const a = this.items;
    const x = a[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const y = a[p]!;
      if (y.heapKey <= x.heapKey) break;
      a[i] = y;
      y.heapIndex = i;
      i = p;
    }
    a[i] = x;
    x.heapIndex = i;
  }

  private down(i: number): void {
    const a = this.items;
    const n = a.length;
    const x = a[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && a[c + 1]!.heapKey < a[c]!.heapKey) c++;
      const y = a[c]!;
      if (y.heapKey >= x.heapKey) break;
      a[i] = y;
      y.heapIndex = i;
      i = c;
    }
    a[i] = x;
    x.heapIndex = i;
  }
}
