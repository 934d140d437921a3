/**
 * A free list of equally sized byte buffers shared by the connections of one stack, so rings
 * released by idle connections are reused by busy ones instead of being reallocated (and zeroed)
 * on every burst. At most `maxFree` buffers per size, and `maxFreeBytes` bytes in all, are kept;
 * the rest go to the garbage collector, so the pool cannot hold the peak of a burst after it.
 *
 * @module
 */

/**
 * The size a connection's send or receive ring starts at (4 KiB); it doubles from there with the
 * bytes it must hold, up to the configured buffer size.
 */
export const INITIAL_RING_BYTES = 4096;

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
  private kept = 0;

  constructor(private readonly maxFree = 64, private readonly maxFreeBytes = 4 << 20) {}

  alloc(size: number): Uint8Array {
    this.inUse++;
    const buf = this.lists.get(size)?.pop();
    if (buf === undefined) return new Uint8Array(size);
    this.kept -= size;
    return buf;
  }

  free(buf: Uint8Array): void {
    this.inUse--;
    let list = this.lists.get(buf.length);
    if (list === undefined) this.lists.set(buf.length, list = []);
    if (list.length < this.maxFree && this.kept + buf.length <= this.maxFreeBytes) {
      list.push(buf);
      this.kept += buf.length;
    }
  }

  /** Bytes kept in free lists. */
  freeBytes(): number {
    return this.kept;
  }
}
