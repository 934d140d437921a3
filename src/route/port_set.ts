/**
 * A set of ports (`port` ∪ `port_range`, or the source variants) as a 65,536-bit bitmap:
 * one array read per lookup.
 *
 * @module
 */

import type { PortRange } from "../config/types.ts";

/** Port membership in O(1). */
export class PortSet {
  readonly #bits = new Uint8Array(8192);

  /** Builds the set from single ports and inclusive ranges (values outside 0..65535 throw). */
  constructor(ports: readonly number[], ranges: readonly PortRange[]) {
    for (const p of ports) this.#add(p, p);
    for (const r of ranges) this.#add(r.start, r.end);
  }

  #add(start: number, end: number): void {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > 65535) {
      throw new RangeError(`Cannot add port range ${start}:${end}: ports are 0..65535`);
    }
    for (let p = start; p <= end; p++) this.#bits[p >>> 3]! |= 1 << (p & 7);
  }

  /** True when `port` is in the set. */
  has(port: number): boolean {
    return ((this.#bits[(port >>> 3) & 8191]! >>> (port & 7)) & 1) === 1;
  }
}
