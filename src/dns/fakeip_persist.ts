/**
 * FakeIP mappings across restarts (`experimental.cache_file.store_fakeip`), with sing-box's
 * semantics (`dns/transport/fakeip/store.go`): at start, when the saved ranges equal the
 * configured ones, every saved mapping and the allocation cursor come back, so an application
 * holding a fake address from before the restart still reaches its domain; when the ranges
 * changed, the saved mappings are dropped. The metadata (ranges and the address last given)
 * keeps sing-box's meaning.
 *
 * Runs on the main thread, over the shared tables the workers allocate in
 * (`shared_names.ts`): {@linkcode FakeIpPersistence.save} writes the slots whose sequence
 * changed since the last save, in one transaction; the caller runs it every second and at close.
 *
 * ```ts
 * const persist = new FakeIpPersistence(new SharedFakeIpStore(memory, v4, v6), cache, v4, v6);
 * persist.load();                    // before the workers start
 * setInterval(() => persist.save(), 1000);
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Prefix } from "../config/types.ts";
import { bigIntToIp, formatIp, formatPrefix, ipToBigInt, maskPrefix, parseIp } from "../net/ip.ts";
import type { CacheFile, FakeIpMetadata } from "../store/cache_file.ts";
import type { SharedFakeIpStore, SharedRing } from "./shared_names.ts";

const log = getLogger(["tunbox", "dns"]);

/** What a family looked like at the last save. */
interface Saved {
  ring: SharedRing;
  /** Slot sequence numbers last written to the file. */
  seqs: Int32Array;
  changeCount: number;
  allocations: number;
}

/** Loads and saves one instance's FakeIP tables (see the module description). */
export class FakeIpPersistence {
  readonly #cache: CacheFile;
  readonly #v4Range: string;
  readonly #v6Range: string;
  readonly #families: Saved[] = [];

  constructor(
    store: SharedFakeIpStore,
    cache: CacheFile,
    inet4Range?: Prefix,
    inet6Range?: Prefix,
  ) {
    this.#cache = cache;
    this.#v4Range = inet4Range ? formatPrefix(maskPrefix(inet4Range)) : "";
    this.#v6Range = inet6Range ? formatPrefix(maskPrefix(inet6Range)) : "";
    for (const v6 of [false, true]) {
      const ring = store.ring(v6);
      if (!ring) continue;
      this.#families.push({
        ring,
        seqs: new Int32Array(ring.slots),
        changeCount: ring.changeCount,
        allocations: ring.allocations,
      });
    }
  }

  /**
   * Restores the saved mappings into the (empty) shared tables; returns how many. Saved state
   * for other ranges is deleted, as sing-box resets its store then.
   */
  load(): number {
    const meta = this.#cache.fakeIpMetadata();
    if (!meta || meta.inet4Range !== this.#v4Range || meta.inet6Range !== this.#v6Range) {
      if (meta) {
        log.info(
          "FakeIP ranges changed ({old} → {new}): saved FakeIP mappings dropped",
          {
            old: [meta.inet4Range, meta.inet6Range].filter(Boolean).join(", "),
            new: [this.#v4Range, this.#v6Range].filter(Boolean).join(", "),
          },
        );
      }
      this.#cache.fakeIpReset();
      this.#cache.saveFakeIpMetadata(this.#metadata());
      return 0;
    }
    let restored = 0;
    const entries = this.#cache.fakeIpEntries();
    for (const f of this.#families) {
      const len = f.ring.prefix.addr.length;
      for (const e of entries) {
        if (e.address.length !== len) continue;
        const slot = f.ring.slotOf(e.address);
        if (slot < 0) continue;
        f.ring.assign(slot, e.domain);
        f.seqs[slot] = f.ring.seq(slot);
        restored++;
      }
      const current = parseIp(len === 4 ? meta.inet4Current : meta.inet6Current);
      f.ring.allocations = current ? cursorFromCurrent(f.ring, current) : 0;
      f.allocations = f.ring.allocations;
      f.changeCount = f.ring.changeCount;
    }
    log.info("restored {n} FakeIP mapping(s) from the cache file", { n: restored });
    return restored;
  }

  /**
   * Empties the file's FakeIP mappings after the shared tables were cleared (a flush): the
   * metadata records the reset cursor, and nothing written before counts as saved.
   */
  reset(): void {
    this.#cache.transaction("reset FakeIP mappings", () => {
      this.#cache.fakeIpReset();
      this.#cache.saveFakeIpMetadata(this.#metadata());
    });
    for (const f of this.#families) {
      f.seqs.fill(0);
      f.allocations = f.ring.allocations;
      f.changeCount = f.ring.changeCount;
    }
  }

  /** Writes what changed since the last save (nothing when no worker allocated). */
  save(): number {
    let written = 0;
    const dirty = this.#families.filter((f) =>
      f.ring.changeCount !== f.changeCount || f.ring.allocations !== f.allocations
    );
    if (dirty.length === 0) return 0;
    this.#cache.transaction("save FakeIP mappings", () => {
      for (const f of dirty) {
        const changeCount = f.ring.changeCount;
        f.allocations = f.ring.allocations;
        let busy = false;
        for (let slot = 0; slot < f.ring.slots; slot++) {
          const seq = f.ring.seq(slot);
          if (seq === f.seqs[slot]) continue;
          if ((seq & 1) !== 0) {
            busy = true; // a worker is writing it: look again next time
            continue;
          }
          const domain = f.ring.nameAt(slot);
          if (domain === undefined) continue;
          this.#cache.fakeIpStore(f.ring.addrOf(slot), domain);
          f.seqs[slot] = seq;
          written++;
        }
        f.changeCount = busy ? changeCount - 1 : changeCount;
      }
      this.#cache.saveFakeIpMetadata(this.#metadata());
    });
    if (written > 0) log.debug("saved {n} FakeIP mapping(s)", { n: written });
    return written;
  }

  #metadata(): FakeIpMetadata {
    const current = (v6: boolean): string => {
      const f = this.#families.find((x) => (x.ring.prefix.addr.length === 16) === v6);
      return f ? formatIp(currentAddress(f.ring)) : "";
    };
    return {
      inet4Range: this.#v4Range,
      inet6Range: this.#v6Range,
      inet4Current: current(false),
      inet6Current: current(true),
    };
  }
}

/** sing-box's cursor address: base + 1 before the first allocation, else the last one given. */
function currentAddress(ring: SharedRing): Uint8Array {
  const n = ring.allocations;
  if (n === 0) return bigIntToIp(ring.base + 1n, ring.prefix.addr.length === 16 ? 16 : 4);
  return ring.addrOf((n - 1) % ring.slots);
}

/** The allocation count that continues after `current` (the inverse of `currentAddress`). */
function cursorFromCurrent(ring: SharedRing, current: Uint8Array): number {
  if (ipToBigInt(current) === ring.base + 1n) return 0;
  const slot = ring.slotOf(current);
  return slot < 0 ? 0 : slot + 1;
}
