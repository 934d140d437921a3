/**
 * The send buffer of one TCP connection: a ring holding bytes from SND.UNA (sent, unacknowledged)
 * through the last byte the application wrote (unsent). Segments are copied out of it at an
 * offset from SND.UNA, so retransmission needs no separate queue.
 *
 * The ring's size follows use, not the capacity: it is allocated on first write at a target size
 * that starts at {@linkcode INITIAL_RING_BYTES} (or the capacity, if smaller); the target doubles,
 * up to the capacity, whenever the application fills all of the region it was offered (it had
 * more to send) or a write needs more room; the ring is freed once everything is acknowledged, and
 * then the target falls to twice the most bytes held since the ring was allocated. `free`, the
 * application's back-pressure, always follows `capacity`.
 *
 * @module
 */

import { HEAP_ALLOCATOR, INITIAL_RING_BYTES, type RingAllocator } from "./buffer_pool.ts";

/** Ring buffer of outgoing bytes. Capacity is a power of two. */
export class SendBuffer {
  /** Capacity in bytes (a power of two): the most the ring grows to. */
  readonly capacity: number;
  /** `ring.length - 1` (0 while no ring is allocated). */
  private mask = 0;
  private ring: Uint8Array | null = null;
  /** Ring index of the byte at SND.UNA. */
  private head = 0;
  /** Bytes held (sent-unacknowledged plus unsent). */
  len = 0;
  /** The size the ring is grown to when next allocated or offered for writing. */
  private target: number;
  /** Length of the region the last {@linkcode SendBuffer.writable} returned. */
  private offered = 0;
  /** Most bytes held since the ring was allocated. */
  private highWater = 0;

  constructor(capacity: number, private readonly allocator: RingAllocator = HEAP_ALLOCATOR) {
    if (capacity < 1 || (capacity & (capacity - 1)) !== 0 || capacity > 0x40000000) {
      throw new RangeError(`Send buffer capacity ${capacity} is not a power of two up to 2^30`);
    }
    this.capacity = capacity;
    this.target = Math.min(INITIAL_RING_BYTES, capacity);
  }

  /** Bytes of ring memory held (0 when none is allocated). */
  get ringBytes(): number {
    return this.ring === null ? 0 : this.ring.length;
  }

  /** Free space in bytes. */
  get free(): number {
    return this.capacity - this.len;
  }

  /** A ring holding at least `need` bytes, grown (and straightened) if smaller. */
  private ensure(need: number): Uint8Array {
    const ring = this.ring;
    return ring !== null && need <= ring.length ? ring : this.grow(need);
  }

  private grow(need: number): Uint8Array {
    const old = this.ring;
    let size = old === null ? this.target : old.length * 2;
    while (size < need) size *= 2;
    if (size > this.target) this.target = size;
    const next = this.allocator.alloc(size);
    if (old !== null) {
      const first = Math.min(this.len, old.length - this.head);
      next.set(old.subarray(this.head, this.head + first), 0);
      if (first < this.len) next.set(old.subarray(0, this.len - first), first);
      this.allocator.free(old);
    }
    this.head = 0;
    this.mask = size - 1;
    this.ring = next;
    return next;
  }

  /**
   * The largest contiguous free region (a view into the ring) for the application to fill; follow
   * with {@linkcode SendBuffer.commit}. Empty when the buffer is full.
   */
  writable(): Uint8Array {
    if (this.len === this.capacity) return new Uint8Array(0);
    const ring = this.ensure(Math.max(this.len + 1, this.target));
    const tail = (this.head + this.len) & this.mask;
    const end = tail >= this.head || this.len === 0 ? ring.length : this.head;
    this.offered = end - tail;
    return ring.subarray(tail, end);
  }

  /** Marks `n` bytes written into the region from {@linkcode SendBuffer.writable}. */
  commit(n: number): void {
    this.len += n;
    if (this.len > this.highWater) this.highWater = this.len;
    // All of the offer was taken: the application has more, so offer twice the ring next time.
    if (n === this.offered && this.ring !== null && this.ring.length < this.capacity) {
      this.target = Math.max(this.target, this.ring.length * 2);
    }
    this.offered = 0;
  }

  /** Copies as much of `src` as fits; returns the count copied. */
  write(src: Uint8Array): number {
    const n = Math.min(src.length, this.free);
    if (n === 0) return 0;
    const ring = this.ensure(this.len + n);
    const tail = (this.head + this.len) & this.mask;
    const first = Math.min(n, ring.length - tail);
    ring.set(src.subarray(0, first), tail);
    if (first < n) ring.set(src.subarray(first, n), 0);
    this.len += n;
    if (this.len > this.highWater) this.highWater = this.len;
    return n;
  }

  /** Drops `n` acknowledged bytes from the front. */
  ack(n: number): void {
    this.head = (this.head + n) & this.mask;
    this.len -= n;
    if (this.len === 0) this.head = 0;
  }

  /** Copies `n` bytes starting `offset` bytes after SND.UNA into `dst[dstOff..]`. */
  copyOut(offset: number, dst: Uint8Array, dstOff: number, n: number): void {
    if (n === 0) return;
    const ring = this.ring!;
    const i = (this.head + offset) & this.mask;
    const first = Math.min(n, ring.length - i);
    dst.set(ring.subarray(i, i + first), dstOff);
    if (first < n) dst.set(ring.subarray(0, n - first), dstOff + first);
  }

  /**
   * Frees the ring when empty, and lowers the target to the power of two at least twice the most
   * bytes held since it was allocated (never below the initial size, never above the target).
   */
  releaseIfEmpty(): void {
    if (this.len === 0 && this.ring !== null) {
      let t = Math.min(INITIAL_RING_BYTES, this.capacity);
      while (t < this.highWater * 2 && t < this.target) t *= 2;
      this.target = t;
      this.highWater = 0;
      this.offered = 0;
      this.allocator.free(this.ring);
      this.ring = null;
      this.head = 0;
      this.mask = 0;
    }
  }

  /** Drops everything and frees the ring. */
  reset(): void {
    this.len = 0;
    this.head = 0;
    if (this.ring !== null) this.allocator.free(this.ring);
    this.ring = null;
    this.mask = 0;
  }
}
