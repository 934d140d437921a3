/**
 * The receive buffer of one TCP connection: a ring of received bytes not yet consumed by the
 * application, plus out-of-order data placed at its offset with the ranges tracked in a
 * {@linkcode RangeSet} (RFC 9293 §3.10.7.4 "seventh, process the segment text").
 *
 * Offsets are relative to RCV.NXT, the end of the in-order data. The ring is allocated on first
 * use, so a connection whose application always consumes data directly from the packet (the
 * zero-copy path) never allocates one. It starts at {@linkcode INITIAL_RING_BYTES} (or the
 * capacity, if smaller) and doubles, to the power of two that holds the bytes kept, only when data
 * must be stored beyond it; it is freed when empty. So a connection's memory follows the data it
 * holds, not the window it offers: the window is computed from `capacity`, the ring's ceiling.
 *
 * @module
 */

import { HEAP_ALLOCATOR, INITIAL_RING_BYTES, type RingAllocator } from "./buffer_pool.ts";
import { RangeSet } from "../range_set.ts";

const EMPTY = new Uint8Array(0);

/** Ring buffer with out-of-order placement. Capacity is a power of two. */
export class RecvBuffer {
  /** Capacity in bytes (a power of two): the most the ring grows to. */
  readonly capacity: number;
  /** `ring.length - 1` (0 while no ring is allocated). */
  private mask = 0;
  private ring: Uint8Array | null = null;
  /** Ring index of the first unconsumed in-order byte. */
  private head = 0;
  /** In-order bytes buffered, not yet consumed. */
  len = 0;
  /** Out-of-order ranges, offsets from the end of the in-order data. */
  readonly ooo: RangeSet;

  constructor(
    capacity: number,
    maxRanges: number,
    private readonly allocator: RingAllocator = HEAP_ALLOCATOR,
  ) {
    if (capacity < 1 || (capacity & (capacity - 1)) !== 0 || capacity > 0x40000000) {
      throw new RangeError(`Receive buffer capacity ${capacity} is not a power of two up to 2^30`);
    }
    this.capacity = capacity;
    this.ooo = new RangeSet(maxRanges);
  }

  /** Space from RCV.NXT to the end of the ring: the most the receive window may offer. */
  get free(): number {
    return this.capacity - this.len;
  }

  /** Bytes of ring memory held (0 when none is allocated). */
  get ringBytes(): number {
    return this.ring === null ? 0 : this.ring.length;
  }

  /** Bytes held out of order. */
  oooBytes(): number {
    return this.ooo.totalLen();
  }

  /** A ring holding at least `need` bytes from the head, grown (and straightened) if smaller. */
  private ensure(need: number): Uint8Array {
    const ring = this.ring;
    return ring !== null && need <= ring.length ? ring : this.grow(need);
  }

  private grow(need: number): Uint8Array {
    const old = this.ring;
    let size = old === null ? Math.min(INITIAL_RING_BYTES, this.capacity) : old.length * 2;
    while (size < need) size *= 2;
    const next = this.allocator.alloc(size);
    if (old !== null) {
      // Everything kept lies within [head, head + len + end of the last out-of-order range).
      const ooo = this.ooo;
      const kept = this.len + (ooo.count > 0 ? ooo.endAt(ooo.count - 1) : 0);
      const first = Math.min(kept, old.length - this.head);
      next.set(old.subarray(this.head, this.head + first), 0);
      if (first < kept) next.set(old.subarray(0, kept - first), first);
      this.allocator.free(old);
    }
    this.head = 0;
    this.mask = size - 1;
    this.ring = next;
    return next;
  }

  /** Copies `n` bytes to `rel` bytes after the head. */
  private copyIn(rel: number, src: Uint8Array, off: number, n: number): void {
    const ring = this.ensure(rel + n);
    const i = (this.head + rel) & this.mask;
    const first = Math.min(n, ring.length - i);
    ring.set(src.subarray(off, off + first), i);
    if (first < n) ring.set(src.subarray(off + first, off + n), 0);
  }

  /**
   * The zero-copy path: the application consumed `consumed` in-order bytes straight from the
   * packet (the buffer must hold no in-order data), and the `n` bytes at `src[off..]` that follow
   * them are stored. Returns the out-of-order bytes that became in order.
   */
  acceptAfterDirect(consumed: number, src: Uint8Array, off: number, n: number): number {
    this.head = (this.head + consumed) & this.mask;
    if (n > 0) {
      this.copyIn(0, src, off, n);
      this.len = n;
    }
    return this.advance(consumed + n);
  }

  /** Stores `n` in-order bytes; returns the out-of-order bytes that became in order. */
  append(src: Uint8Array, off: number, n: number): number {
    if (n > this.free) throw new RangeError(`Cannot buffer ${n} bytes in ${this.free} free`);
    this.copyIn(this.len, src, off, n);
    this.len += n;
    return this.advance(n);
  }

  private advance(n: number): number {
    const ooo = this.ooo;
    ooo.shift(n);
    if (ooo.count > 0 && ooo.startAt(0) === 0) {
      const e = ooo.endAt(0);
      this.len += e;
      ooo.shift(e);
      return e;
    }
    return 0;
  }

  /**
   * Stores `n` bytes that start `rel` (> 0) bytes after RCV.NXT. Returns false, storing nothing,
   * when they would not fit or would need more ranges than allowed.
   */
  insert(rel: number, src: Uint8Array, off: number, n: number): boolean {
    if (rel + n > this.free) return false;
    if (!this.ooo.add(rel, rel + n)) return false;
    this.copyIn(this.len + rel, src, off, n);
    return true;
  }

  /** Drops `n` consumed in-order bytes. */
  consume(n: number): void {
    this.head = (this.head + n) & this.mask;
    this.len -= n;
  }

  /** The contiguous in-order bytes starting at the head (shorter than `len` when wrapped). */
  readable(): Uint8Array {
    const ring = this.ring;
    if (ring === null) return EMPTY;
    return ring.subarray(this.head, Math.min(this.head + this.len, ring.length));
  }

  /** Frees the ring when nothing is held, so idle connections keep no memory. */
  releaseIfEmpty(): void {
    if (this.len === 0 && this.ooo.count === 0 && this.ring !== null) {
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
    this.ooo.clear();
    if (this.ring !== null) this.allocator.free(this.ring);
    this.ring = null;
    this.mask = 0;
  }
}
