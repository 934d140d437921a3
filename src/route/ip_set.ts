/**
 * An immutable set of IP addresses built from prefixes (`ip_cidr`, `source_ip_cidr`), as
 * netipx's `IPSet` in sing-box: prefixes are masked, merged into sorted disjoint ranges once at
 * build time, and looked up by binary search.
 *
 * - IPv4 ranges are two `Uint32Array`s (first, last).
 * - IPv6 ranges are one `Uint32Array` with 8 words per range (first as 4 big-endian words, then
 *   last), compared word by word. This avoids bigint on the lookup path.
 *
 * IPv4-mapped IPv6 addresses are IPv6 here (netipx does the same); unmap before looking up.
 *
 * @module
 */

import {
  type IpRange,
  mergeRanges,
  type Prefix,
  prefixToRange,
  rangeToPrefixes,
} from "../net/ip.ts";

/** The arrays of an {@linkcode IpSet}; structured-clone safe (shared inside a SharedArrayBuffer). */
export interface IpSetData {
  v4First: Uint32Array;
  v4Last: Uint32Array;
  /** 8 words per range: first (4 big-endian words), then last. */
  v6: Uint32Array;
}

function words(length: number, shared: boolean): Uint32Array {
  if (!shared) return new Uint32Array(length);
  return new Uint32Array(new SharedArrayBuffer(Math.max(1, length) * 4)).subarray(0, length);
}

/** A CIDR set with O(log n) lookups. */
export class IpSet {
  readonly #v4First: Uint32Array;
  readonly #v4Last: Uint32Array;
  readonly #v6: Uint32Array;
  readonly #v6Count: number;

  /**
   * Builds the set from prefixes (overlapping and adjacent ones are merged), or wraps the
   * arrays another set's {@linkcode data} gave (for example, posted by another thread).
   */
  constructor(prefixes: readonly Prefix[] | IpSetData) {
    if (Array.isArray(prefixes)) {
      const built = IpSet.fromRanges(prefixes.map(prefixToRange)).data;
      this.#v4First = built.v4First;
      this.#v4Last = built.v4Last;
      this.#v6 = built.v6;
    } else {
      const data = prefixes as IpSetData;
      if (data.v4First.length !== data.v4Last.length || data.v6.length % 8 !== 0) {
        throw new RangeError("Invalid IP set arrays");
      }
      this.#v4First = data.v4First;
      this.#v4Last = data.v4Last;
      this.#v6 = data.v6;
    }
    this.#v6Count = this.#v6.length / 8;
  }

  /**
   * Builds the set from inclusive ranges (any order, overlaps allowed). With `shared` the arrays
   * live in `SharedArrayBuffer`s, so posting {@linkcode data} to a worker shares them.
   */
  static fromRanges(ranges: readonly IpRange[], shared = false): IpSet {
    const merged = mergeRanges(ranges);
    const v4 = merged.filter((r) => r.family === 4);
    const v6 = merged.filter((r) => r.family === 6);
    const v4First = words(v4.length, shared);
    const v4Last = words(v4.length, shared);
    v4.forEach((r, i) => {
      v4First[i] = Number(r.first);
      v4Last[i] = Number(r.last);
    });
    const v6Words = words(v6.length * 8, shared);
    v6.forEach((r, i) => {
      for (let w = 0; w < 4; w++) {
        const shift = BigInt(96 - 32 * w);
        v6Words[i * 8 + w] = Number((r.first >> shift) & 0xffffffffn);
        v6Words[i * 8 + 4 + w] = Number((r.last >> shift) & 0xffffffffn);
      }
    });
    return new IpSet({ v4First, v4Last, v6: v6Words });
  }

  /** The arrays, to post to another thread. */
  get data(): IpSetData {
    return { v4First: this.#v4First, v4Last: this.#v4Last, v6: this.#v6 };
  }

  /** Number of disjoint ranges (IPv4 + IPv6) after merging. */
  get rangeCount(): number {
    return this.#v4First.length + this.#v6Count;
  }

  /** The merged ranges, IPv4 first, each family in ascending order (netipx's `IPSet` order). */
  ranges(): IpRange[] {
    const out: IpRange[] = [];
    for (let i = 0; i < this.#v4First.length; i++) {
      out.push({ family: 4, first: BigInt(this.#v4First[i]!), last: BigInt(this.#v4Last[i]!) });
    }
    const v = this.#v6;
    const big = (o: number) =>
      (BigInt(v[o]!) << 96n) | (BigInt(v[o + 1]!) << 64n) | (BigInt(v[o + 2]!) << 32n) |
      BigInt(v[o + 3]!);
    for (let i = 0; i < this.#v6Count; i++) {
      out.push({ family: 6, first: big(i * 8), last: big(i * 8 + 4) });
    }
    return out;
  }

  /** The set as the fewest prefixes (netipx `IPSet.Prefixes`). */
  prefixes(): Prefix[] {
    return this.ranges().flatMap(rangeToPrefixes);
  }

  /** True when the 4- or 16-byte address is in the set. Other lengths are never members. */
  contains(addr: Uint8Array): boolean {
    if (addr.length === 4) {
      return this.#containsV4(
        ((addr[0]! << 24) | (addr[1]! << 16) | (addr[2]! << 8) | addr[3]!) >>> 0,
      );
    }
    if (addr.length === 16) return this.#containsV6(addr);
    return false;
  }

  #containsV4(x: number): boolean {
    const first = this.#v4First;
    // Find the last range whose first address is <= x.
    let lo = 0, hi = first.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (first[mid]! <= x) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && x <= this.#v4Last[found]!;
  }

  #containsV6(a: Uint8Array): boolean {
    if (this.#v6Count === 0) return false;
    const w0 = ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
    const w1 = ((a[4]! << 24) | (a[5]! << 16) | (a[6]! << 8) | a[7]!) >>> 0;
    const w2 = ((a[8]! << 24) | (a[9]! << 16) | (a[10]! << 8) | a[11]!) >>> 0;
    const w3 = ((a[12]! << 24) | (a[13]! << 16) | (a[14]! << 8) | a[15]!) >>> 0;
    const v = this.#v6;
    let lo = 0, hi = this.#v6Count - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compare4(v, mid * 8, w0, w1, w2, w3) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && compare4(v, found * 8 + 4, w0, w1, w2, w3) >= 0;
  }
}

/** Compares the 4 words at `v[o..o+4]` with (w0..w3): negative, zero or positive. */
function compare4(
  v: Uint32Array,
  o: number,
  w0: number,
  w1: number,
  w2: number,
  w3: number,
): number {
  return (v[o]! - w0) || (v[o + 1]! - w1) || (v[o + 2]! - w2) || (v[o + 3]! - w3);
}
