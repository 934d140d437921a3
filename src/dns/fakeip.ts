/**
 * FakeIP address allocation, with sing-box's semantics (`dns/transport/fakeip/store.go`,
 * `memory.go`):
 *
 * - per family a cursor that starts at the range's base address + 1;
 * - a domain already mapped gets its address again (domain → address is looked up first);
 * - a new domain gets cursor + 1; when that is the range's last (broadcast) address or falls
 *   outside the range, it wraps to base + 2. The allocation is a ring, not an LRU: after a wrap,
 *   addresses are reused in order whatever their use;
 * - reusing an address deletes the previous domain's entry, so that domain gets a new address
 *   next time.
 *
 * This store is per process. A running instance shares its FakeIP tables between workers
 * (`shared_names.ts`), and with `experimental.cache_file.store_fakeip` they survive a restart
 * (`fakeip_persist.ts`); without it, connections to a fake address given out before the restart
 * are rejected as "missing fakeip record", as in sing-box without a cache file.
 *
 * @module
 */

import { fakeIpRangeProblem } from "../config/values.ts";
import {
  bigIntToIp,
  formatIp,
  ipToBigInt,
  maskPrefix,
  type Prefix,
  prefixContains,
} from "../net/ip.ts";

/** TTL of FakeIP answers (sing-box `C.DefaultDNSTTL`). */
export const FAKEIP_TTL = 600;

class Ring {
  readonly base: bigint;
  readonly last: bigint;
  cursor: bigint;
  readonly domains = new Map<string, Uint8Array>();

  constructor(readonly prefix: Prefix) {
    const len = prefix.addr.length;
    this.base = ipToBigInt(prefix.addr);
    const hostBits = BigInt(len * 8 - prefix.bits);
    this.last = this.base + (1n << hostBits) - 1n;
    this.cursor = this.base + 1n;
  }

  contains(v: bigint): boolean {
    return v >= this.base && v <= this.last;
  }
}

/** Allocates fake addresses for domains and maps them back. */
export class FakeIpStore {
  readonly #v4: Ring | null;
  readonly #v6: Ring | null;
  /** Fake address (formatted) → domain. */
  readonly #byAddr = new Map<string, string>();

  /**
   * `inet4Range`/`inet6Range` as in the `fakeip` server options (host bits are cleared). A range
   * needs at least 4 addresses (base, the first cursor, one usable address, broadcast).
   */
  constructor(inet4Range?: Prefix, inet6Range?: Prefix) {
    this.#v4 = inet4Range ? FakeIpStore.#ring(inet4Range, 4) : null;
    this.#v6 = inet6Range ? FakeIpStore.#ring(inet6Range, 16) : null;
  }

  static #ring(p: Prefix, len: 4 | 16): Ring {
    if (p.addr.length !== len) {
      throw new TypeError(
        `FakeIP range ${formatIp(p.addr)}/${p.bits} is not an IPv${len === 4 ? 4 : 6} prefix`,
      );
    }
    const problem = fakeIpRangeProblem(p); // the check `check` makes (src/config/values.ts)
    if (problem) throw new RangeError(`FakeIP range ${formatIp(p.addr)}/${p.bits} ${problem}`);
    return new Ring(maskPrefix(p));
  }

  /** True when `addr` lies inside one of the ranges. */
  contains(addr: Uint8Array): boolean {
    if (addr.length === 4) return this.#v4 !== null && prefixContains(this.#v4.prefix, addr);
    if (addr.length === 16) return this.#v6 !== null && prefixContains(this.#v6.prefix, addr);
    return false;
  }

  /** Whether a range exists for the family. */
  hasFamily(v6: boolean): boolean {
    return (v6 ? this.#v6 : this.#v4) !== null;
  }

  /**
   * The fake address of `domain` for the family (IPv6 when `v6`), allocating one when the
   * domain has none. Throws when the family has no range (sing-box: "missing IPv4 fakeip
   * address range").
   */
  create(domain: string, v6: boolean): Uint8Array {
    const ring = v6 ? this.#v6 : this.#v4;
    if (!ring) throw new TypeError(`missing IPv${v6 ? 6 : 4} fakeip address range`);
    const existing = ring.domains.get(domain);
    if (existing) return existing;
    let next = ring.cursor + 1n;
    if (next === ring.last || !ring.contains(next)) next = ring.base + 2n;
    ring.cursor = next;
    const addr = bigIntToIp(next, v6 ? 16 : 4);
    const key = formatIp(addr);
    const old = this.#byAddr.get(key);
    if (old !== undefined) ring.domains.delete(old);
    this.#byAddr.set(key, domain);
    ring.domains.set(domain, addr);
    return addr.slice();
  }

  /** The domain a fake address was given to, or undefined. */
  lookup(addr: Uint8Array): string | undefined {
    if (!this.contains(addr)) return undefined;
    return this.#byAddr.get(formatIp(addr));
  }

  /** The address a domain holds for a family, without allocating. */
  addressOf(domain: string, v6: boolean): Uint8Array | undefined {
    return (v6 ? this.#v6 : this.#v4)?.domains.get(domain)?.slice();
  }

  /** Number of live mappings. */
  get size(): number {
    return this.#byAddr.size;
  }
}

/**
 * The log line for a connection to a fake address without a mapping (sing-box: "missing
 * fakeip record"); the inbound rejects such connections.
 */
export function missingFakeIpRecord(addr: Uint8Array): string {
  return `missing fakeip record for ${
    formatIp(addr)
  }: the address was given out before a restart or reused since (FakeIP mappings survive a restart with experimental.cache_file.store_fakeip)`;
}
