/**
 * Bytes of their own without an allocation each: small requests are carved from a shared 64 KiB
 * block (one per thread), a fresh block when it is used up. Nothing carved is ever handed out
 * again, so the caller may keep the bytes as long as it likes; what it keeps pins its block (at
 * most 64 KiB) until dropped. For the packet and chunk paths, where a `Uint8Array` of its own per
 * segment or chunk (an `ArrayBuffer` each) cost more than the bytes.
 *
 * ```ts
 * const copy = carveBytes(view.length);
 * copy.set(view);            // kept by a stream's read queue
 * ```
 *
 * @module
 */

const BLOCK = 64 * 1024;
let block = new Uint8Array(0);
let off = 0;

/** `n` zeroed or written-once bytes of the caller's own (see the module documentation). */
export function carveBytes(n: number): Uint8Array {
  if (n > BLOCK / 4) return new Uint8Array(n);
  if (off + n > block.length) {
    block = new Uint8Array(BLOCK);
    off = 0;
  }
  const out = new Uint8Array(block.buffer, off, n); // cheaper than subarray()
  off += n;
  return out;
}
