/**
 * A free list of equally sized byte buffers shared by the connections of one stack, so rings
 * released by idle connections are reused by busy ones instead of being reallocated (and zeroed)
 * on every burst. At most `maxFree` buffers per size are kept.
 *
 * @module
 */

/** Allocates and recycles ring buffers. */
export interface RingAllocator {
  alloc(size: number): Uint8Array;
  free(buf: Uint8Array): void;
}

/** Plain allocation without recycling. */
export const HEAP_ALLOCATOR: RingAllocator = {
  alloc: (size) => new Uint8Array(size),
  free: () => {},
};

/** A {@linkcode RingAllocator} with a bounded free list per buffer size. */
export class BufferPool implements RingAllocator {
  private readonly lists = new Map<number, Uint8Array[]>();
  /** Buffers handed out and not yet returned. */
  inUse = 0;

  constructor(private readonly maxFree = 64) {}

  alloc(size: number): Uint8Array {
    this.inUse++;
    return this.lists.get(size)?.pop() ?? new Uint8Array(size);
  }

  free(buf: Uint8Array): void {
    this.inUse--;
    let list = this.lists.get(buf.length);
    if (list === undefined) this.lists.set(buf.length, list = []);
    if (list.length < this.maxFree) list.push(buf);
  }

  /** Bytes kept in free lists. */
  freeBytes(): number {
    let n = 0;
    for (const [size, list] of this.lists) n += size * list.length;
    return n;
  }
}
