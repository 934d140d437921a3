/**
 * The send buffer of one TCP connection: a ring holding bytes from SND.UNA (sent, unacknowledged)
 * through the last byte the application wrote (unsent). Segments are copied out of it at an
 * offset from SND.UNA, so retransmission needs no separate queue. The ring is allocated on first
 * write.
 *
 * @module
 */

import { HEAP_ALLOCATOR, type RingAllocator } from "./buffer_pool.ts";
/** Ring buffer of outgoing bytes. Capacity is a power of two. */
export class SendBuffer {
  readonly capacity: number;
  private readonly mask: number;
  private ring: Uint8Array | null = null;
  /** Ring index of the byte at SND.UNA. */
  private head = 0;
  /** Bytes held (sent-unacknowledged plus unsent). */
  len = 0;

  constructor(capacity: number, private readonly allocator: RingAllocator = HEAP_ALLOCATOR) {
    if (capacity < 1 || (capacity & (capacity - 1)) !== 0 || capacity > 0x40000000) {
      throw new RangeError(`Send buffer capacity ${capacity} is not a power of two up to 2^30`);
    }
    this.capacity = capacity;
    this.mask = capacity - 1;
  }

  /** Bytes of ring memory held (0 when none is allocated). */
  get ringBytes(): number {
    return this.ring === null ? 0 : this.ring.length;
  }

  /** Free space in bytes. */
  get free(): number {
    return this.capacity - this.len;
  }

  private ensure(): Uint8Array {
    return this.ring ??= this.allocator.alloc(this.capacity);
  }

  /**
   * The largest contiguous free region (a view into the ring) for the application to fill; follow
   * with {@linkcode SendBuffer.commit}. Empty when the buffer is full.
   */
  writable(): Uint8Array {
    if (this.len === this.capacity) return new Uint8Array(0);
    const ring = this.ensure();
    const tail = (this.head + this.len) & this.mask;
    const end = tail >= this.head || this.len === 0 ? this.capacity : this.head;
    return ring.subarray(tail, Math.min(end, tail + this.free));
  }

  /** Marks `n` bytes written into the region from {@linkcode SendBuffer.writable}. */
  commit(n: number): void {
    this.len += n;
  }

  /** Copies as much of `src` as fits; returns the count copied. */
  write(src: Uint8Array): number {
    const n = Math.min(src.length, this.free);
    if (n === 0) return 0;
    const ring = this.ensure();
    const tail = (this.head + this.len) & this.mask;
    const first = Math.min(n, this.capacity - tail);
    ring.set(src.subarray(0, first), tail);
    if (first < n) ring.set(src.subarray(first, n), 0);
    this.len += n;
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
    const first = Math.min(n, this.capacity - i);
    dst.set(ring.subarray(i, i + first), dstOff);
    if (first < n) dst.set(ring.subarray(0, n - first), dstOff + first);
  }

  /** Frees the ring when empty. */
  releaseIfEmpty(): void {
    if (this.len === 0 && this.ring !== null) {
      this.allocator.free(this.ring);
      this.ring = null;
      this.head = 0;
    }
  }

  /** Drops everything and frees the ring. */
  reset(): void {
    this.len = 0;
    this.head = 0;
    if (this.ring !== null) this.allocator.free(this.ring);
    this.ring = null;
  }
}
