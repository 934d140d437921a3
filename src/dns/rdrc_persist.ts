/**
 * Rejected DNS responses across restarts (`experimental.cache_file.store_rdrc`, sing-box's
 * `rdrc2` bucket): unexpired entries are loaded into the shared table before the workers start,
 * and the entries workers add are saved by the main thread ({@linkcode RdrcPersistence.save},
 * every second and at close), each with its own expiry.
 *
 * ```ts
 * const persist = new RdrcPersistence(new SharedRdrc(memory.rdrc!, cache.rdrcTimeoutMs), cache);
 * persist.load();
 * setInterval(() => persist.save(), 1000);
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { CacheFile } from "../store/cache_file.ts";
import type { SharedRdrc } from "./shared_names.ts";

const log = getLogger(["tunbox", "dns"]);

/** Loads and saves one instance's rejected-response table. */
export class RdrcPersistence {
  readonly #seqs: Int32Array;
  #changeCount: number;

  constructor(readonly table: SharedRdrc, readonly cache: CacheFile) {
    this.#seqs = new Int32Array(table.slots);
    this.#changeCount = table.changeCount;
  }

  /** Restores the unexpired saved entries (`now` epoch ms); returns how many. */
  load(now = Date.now()): number {
    const entries = this.cache.rdrcEntries(now);
    for (const e of entries) this.table.saveUntil(e, e.expiresAt);
    for (let slot = 0; slot < this.table.slots; slot++) this.#seqs[slot] = this.table.seq(slot);
    this.#changeCount = this.table.changeCount;
    if (entries.length > 0) {
      log.info("restored {n} rejected DNS response(s) from the cache file", { n: entries.length });
    }
    return entries.length;
  }

  /** Writes the entries added since the last save; returns how many. */
  save(): number {
    const changeCount = this.table.changeCount;
    if (changeCount === this.#changeCount) return 0;
    let written = 0;
    let busy = false;
    this.cache.transaction("save rejected DNS responses", () => {
      for (let slot = 0; slot < this.table.slots; slot++) {
        const seq = this.table.seq(slot);
        if (seq === this.#seqs[slot]) continue;
        if ((seq & 1) !== 0) {
          busy = true;
          continue;
        }
        const e = this.table.entryAt(slot);
        if (e) {
          this.cache.saveRdrcUntil(e.transport, e.name, e.qtype, e.expiresAt);
          written++;
        }
        this.#seqs[slot] = seq;
      }
    });
    this.#changeCount = busy ? changeCount - 1 : changeCount;
    return written;
  }
}
