/**
 * `experimental.cache_file`: the one persistent store of a tunbox instance, in an SQLite file
 * (`node:sqlite`, built into Deno and into `deno compile` binaries), with sing-box's semantics
 * (`experimental/cachefile`):
 *
 * | data | key | sing-box |
 * |---|---|---|
 * | Clash mode | `cache_id` | bucket `clash_mode`, key = cache id or `default` |
 * | selected outbound of a selector | `cache_id`, selector tag | bucket `selected` |
 * | group expand state (Clash dashboards) | `cache_id`, group tag | bucket `group_expand` |
 * | rule-set cache (content, update time, ETag, Last-Modified) | `cache_id`, rule-set tag | bucket `rule_set` |
 * | rejected DNS responses (`store_rdrc`) | `cache_id`, DNS server tag, name, type | bucket `rdrc2` |
 * | FakeIP mappings and allocation cursor (`store_fakeip`) | address | buckets `fakeip_*` (not per cache id) |
 *
 * `path` defaults to `cache.db` in the working directory; a relative path is taken from it.
 *
 * **Threads.** The file is opened by the main thread only. Measured on the 2-core VM: a write
 * takes 0.1–0.2 ms, but with three workers and the main thread writing at once (WAL,
 * `busy_timeout`), single writes stalled 30–60 ms waiting for SQLite's lock — far too long for a
 * packet worker's reactor. Workers therefore keep their state in shared memory (FakeIP tables,
 * the Clash mode, selector choices) that the main thread loads from this store at start and
 * saves back, and they never open the file.
 *
 * **Damage.** A file SQLite cannot read (corrupt pages, garbage) is moved aside to
 * `<path>.damaged` with a warning and a fresh store is created; a file that cannot be opened at
 * all (permissions, missing directory) gives a warning and an in-memory store, so nothing
 * persists but everything else works. sing-box's own cache file (bbolt) is recognised and left
 * untouched. Corruption found later, during a read or write, resets the store the same way.
 *
 * ```ts
 * const cache = CacheFile.open({ enabled: true, store_fakeip: true }, Deno.cwd());
 * cache.storeSelected("proxy", "hk-1");
 * cache.loadSelected("proxy"); // "hk-1"
 * cache.saveRuleSet("geosite-cn", {
 *   content: bytes,
 *   lastUpdated: Date.now(),
 *   etag: '"abc"',
 *   lastModified: "Tue, 01 Jul 2025 10:00:00 GMT",
 * });
 * cache.loadRuleSet("geosite-cn")?.etag; // '"abc"'
 * cache.close();
 * ```
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { getLogger } from "@logtape/logtape";
import type { CacheFileOptions } from "../config/types.ts";

const log = getLogger(["tunbox", "store"]);

/** Default `path` (sing-box's). */
export const DEFAULT_CACHE_PATH = "cache.db";
/** Default `rdrc_timeout` (sing-box: 7 days). */
export const DEFAULT_RDRC_TIMEOUT_MS = 7 * 24 * 3600 * 1000;
/** Schema version kept in `PRAGMA user_version`. */
export const SCHEMA_VERSION = 1;

/** A rule set's cached copy (sing-box `adapter.SavedBinary`, plus Last-Modified). */
export interface SavedRuleSet {
  /** The file as downloaded (source JSON or binary `.srs`). */
  content: Uint8Array;
  /** When it was last fetched or confirmed unchanged, epoch milliseconds. */
  lastUpdated: number;
  /** The `ETag` of the response it came from, for `If-None-Match`. */
  etag?: string;
  /** The `Last-Modified` of the response, for `If-Modified-Since`. */
  lastModified?: string;
}

/** FakeIP allocation state (sing-box `adapter.FakeIPMetadata`), addresses as text. */
export interface FakeIpMetadata {
  /** The ranges the state belongs to ("198.18.0.0/15"; "" when the family has none). */
  inet4Range: string;
  inet6Range: string;
  /** The address last given out, or the range's base + 1 before the first (text; "" = none). */
  inet4Current: string;
  inet6Current: string;
}

/** One persisted FakeIP mapping. */
export interface FakeIpEntry {
  /** 4 or 16 bytes. */
  address: Uint8Array;
  domain: string;
}

/** One persisted rejected DNS response (the address filter refused it). */
export interface RdrcEntry {
  transport: string;
  name: string;
  qtype: number;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** SQLite result codes that mean "this file is damaged" (SQLITE_CORRUPT, SQLITE_NOTADB). */
const DAMAGE_CODES = new Set([11, 26]);

function isDamage(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { errcode?: number }).errcode;
  if (code !== undefined && DAMAGE_CODES.has(code & 0xff)) return true;
  return /file is not a database|database disk image is malformed/i.test(error.message);
}

/** bbolt's meta page magic (little-endian at offset 16): sing-box's own cache file. */
const BBOLT_MAGIC = 0xed0cdaed;
const SQLITE_HEADER = "SQLite format 3\0";

/** What the first bytes of an existing file say it is. */
function sniffFile(path: string): "missing" | "empty" | "sqlite" | "bbolt" | "other" {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "missing";
    return "other";
  }
  try {
    const head = new Uint8Array(32);
    let n = 0;
    while (n < head.length) {
      const r = file.readSync(head.subarray(n));
      if (r === null || r === 0) break;
      n += r;
    }
    if (n === 0) return "empty";
    if (new TextDecoder().decode(head.subarray(0, 16)) === SQLITE_HEADER) return "sqlite";
    if (n >= 20 && new DataView(head.buffer).getUint32(16, true) === BBOLT_MAGIC) return "bbolt";
    return "other";
  } finally {
    file.close();
  }
}

function joinPath(dir: string, path: string): string {
  if (path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path) || path === ":memory:") return path;
  return `${dir.replace(/[\\/]+$/, "")}/${path}`;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS mode (
  cache_id TEXT PRIMARY KEY,
  mode TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS selected (
  cache_id TEXT NOT NULL,
  grp TEXT NOT NULL,
  selected TEXT NOT NULL,
  PRIMARY KEY (cache_id, grp)
);
CREATE TABLE IF NOT EXISTS group_expand (
  cache_id TEXT NOT NULL,
  grp TEXT NOT NULL,
  expand INTEGER NOT NULL,
  PRIMARY KEY (cache_id, grp)
);
CREATE TABLE IF NOT EXISTS rule_set (
  cache_id TEXT NOT NULL,
  tag TEXT NOT NULL,
  content BLOB NOT NULL,
  last_updated INTEGER NOT NULL,
  etag TEXT,
  last_modified TEXT,
  PRIMARY KEY (cache_id, tag)
);
CREATE TABLE IF NOT EXISTS rdrc (
  cache_id TEXT NOT NULL,
  transport TEXT NOT NULL,
  name TEXT NOT NULL,
  qtype INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (cache_id, transport, name, qtype)
);
CREATE TABLE IF NOT EXISTS fakeip (
  address BLOB PRIMARY KEY,
  family INTEGER NOT NULL,
  domain TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fakeip_domain ON fakeip (family, domain);
CREATE TABLE IF NOT EXISTS fakeip_metadata (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  inet4_range TEXT NOT NULL,
  inet6_range TEXT NOT NULL,
  inet4_current TEXT NOT NULL,
  inet6_current TEXT NOT NULL
);
`;

type Statements = ReturnType<typeof prepare>;

function prepare(db: DatabaseSync) {
  const s = (sql: string): StatementSync => db.prepare(sql);
  return {
    loadMode: s("SELECT mode FROM mode WHERE cache_id = ?"),
    storeMode: s("INSERT OR REPLACE INTO mode (cache_id, mode) VALUES (?, ?)"),
    loadSelected: s("SELECT selected FROM selected WHERE cache_id = ? AND grp = ?"),
    allSelected: s("SELECT grp, selected FROM selected WHERE cache_id = ?"),
    storeSelected: s("INSERT OR REPLACE INTO selected (cache_id, grp, selected) VALUES (?, ?, ?)"),
    loadExpand: s("SELECT expand FROM group_expand WHERE cache_id = ? AND grp = ?"),
    storeExpand: s("INSERT OR REPLACE INTO group_expand (cache_id, grp, expand) VALUES (?, ?, ?)"),
    loadRuleSet: s(
      "SELECT content, last_updated, etag, last_modified FROM rule_set WHERE cache_id = ? AND tag = ?",
    ),
    saveRuleSet: s(
      "INSERT OR REPLACE INTO rule_set (cache_id, tag, content, last_updated, etag, last_modified) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    loadRdrc: s(
      "SELECT expires_at FROM rdrc WHERE cache_id = ? AND transport = ? AND name = ? AND qtype = ?",
    ),
    saveRdrc: s(
      "INSERT OR REPLACE INTO rdrc (cache_id, transport, name, qtype, expires_at) VALUES (?, ?, ?, ?, ?)",
    ),
    deleteRdrc: s(
      "DELETE FROM rdrc WHERE cache_id = ? AND transport = ? AND name = ? AND qtype = ?",
    ),
    rdrcEntries: s(
      "SELECT transport, name, qtype, expires_at FROM rdrc WHERE cache_id = ? AND expires_at > ?",
    ),
    purgeRdrc: s("DELETE FROM rdrc WHERE expires_at <= ?"),
    fakeIpMetadata: s(
      "SELECT inet4_range, inet6_range, inet4_current, inet6_current FROM fakeip_metadata WHERE id = 1",
    ),
    saveFakeIpMetadata: s(
      "INSERT OR REPLACE INTO fakeip_metadata (id, inet4_range, inet6_range, inet4_current, inet6_current) VALUES (1, ?, ?, ?, ?)",
    ),
    fakeIpEntries: s("SELECT address, domain FROM fakeip"),
    fakeIpByAddress: s("SELECT domain FROM fakeip WHERE address = ?"),
    fakeIpByDomain: s("SELECT address FROM fakeip WHERE family = ? AND domain = ?"),
    fakeIpDeleteDomain: s("DELETE FROM fakeip WHERE family = ? AND domain = ? AND address != ?"),
    fakeIpStore: s("INSERT OR REPLACE INTO fakeip (address, family, domain) VALUES (?, ?, ?)"),
    fakeIpDelete: s("DELETE FROM fakeip WHERE address = ?"),
    fakeIpReset: s("DELETE FROM fakeip"),
    fakeIpResetMetadata: s("DELETE FROM fakeip_metadata"),
  };
}

/**
 * The open store. Every method is synchronous (SQLite on the calling thread) and never throws
 * for a damaged file: it warns, starts a fresh store and answers "nothing stored". Use it from
 * the main thread only (see the module description).
 */
export class CacheFile {
  /** The file (absolute or as configured), or ":memory:" when it could not be opened. */
  readonly path: string;
  /** `store_fakeip`. */
  readonly storeFakeIp: boolean;
  /** `store_rdrc`. */
  readonly storeRdrc: boolean;
  /** `rdrc_timeout` in milliseconds (default 7 days; 0 when `store_rdrc` is off). */
  readonly rdrcTimeoutMs: number;
  /** `cache_id` ("" = sing-box's default bucket). */
  readonly cacheId: string;
  #db: DatabaseSync;
  #st: Statements;
  #closed = false;
  /** True when state lives in memory only this run (file unusable). */
  #memoryOnly = false;

  private constructor(path: string, options: CacheFileOptions) {
    this.path = path;
    this.cacheId = options.cache_id ?? "";
    this.storeFakeIp = options.store_fakeip === true;
    this.storeRdrc = options.store_rdrc === true;
    this.rdrcTimeoutMs = this.storeRdrc
      ? (options.rdrc_timeout && options.rdrc_timeout > 0
        ? options.rdrc_timeout
        : DEFAULT_RDRC_TIMEOUT_MS)
      : 0;
    const { db, memoryOnly } = CacheFile.#openDb(path);
    this.#db = db;
    this.#memoryOnly = memoryOnly;
    this.#st = prepare(db);
  }

  /**
   * Opens (or creates) the store for `options` (`path` relative to `workingDirectory`). Never
   * throws for a file it cannot use: see the module description.
   */
  static open(options: CacheFileOptions, workingDirectory: string): CacheFile {
    const path = joinPath(workingDirectory, options.path || DEFAULT_CACHE_PATH);
    return new CacheFile(path, options);
  }

  /** True when the file could not be used and state is kept in memory for this run only. */
  get memoryOnly(): boolean {
    return this.#memoryOnly;
  }

  static #openDb(path: string): { db: DatabaseSync; memoryOnly: boolean } {
    if (path === ":memory:") {
      return { db: CacheFile.#init(new DatabaseSync(":memory:")), memoryOnly: true };
    }
    const kind = sniffFile(path);
    if (kind === "bbolt") {
      log.warn(
        "cache file {path} is a sing-box cache file (bbolt format), which tunbox cannot read; it is left untouched and state is kept in memory this run: set experimental.cache_file.path to a file of tunbox's own",
        { path },
      );
      return { db: CacheFile.#init(new DatabaseSync(":memory:")), memoryOnly: true };
    }
    if (kind === "other") {
      CacheFile.#moveAside(path, "it is not an SQLite database");
    }
    try {
      return { db: CacheFile.#init(new DatabaseSync(path)), memoryOnly: false };
    } catch (first) {
      let error = first;
      if (isDamage(first) || first instanceof DamagedStore) {
        CacheFile.#moveAside(path, (first as Error).message);
        try {
          return { db: CacheFile.#init(new DatabaseSync(path)), memoryOnly: false };
        } catch (again) {
          error = again;
        }
      }
      log.warn(
        "open cache file {path} failed: {error}; state is kept in memory this run and will not survive a restart",
        { path, error: (error as Error).message },
      );
      return { db: CacheFile.#init(new DatabaseSync(":memory:")), memoryOnly: true };
    }
  }

  /** Renames a damaged file to `<path>.damaged` (replacing an older one) with a warning. */
  static #moveAside(path: string, why: string): void {
    const aside = `${path}.damaged`;
    log.warn(
      "cache file {path} is damaged ({why}): moved to {aside}, starting with an empty cache",
      { path, why, aside },
    );
    for (const suffix of ["-wal", "-shm"]) {
      try {
        Deno.removeSync(path + suffix);
      } catch { /* absent */ }
    }
    try {
      Deno.renameSync(path, aside);
    } catch {
      try {
        Deno.removeSync(path);
      } catch { /* the open that follows reports what is wrong */ }
    }
  }

  /** Pragmas, integrity check and schema; throws DamagedStore or SQLite's error. */
  static #init(db: DatabaseSync): DatabaseSync {
    try {
      db.exec("PRAGMA busy_timeout = 2000");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      const check = db.prepare("PRAGMA quick_check").all() as { quick_check: string }[];
      if (check.length !== 1 || check[0]?.quick_check !== "ok") {
        const lines = check.flatMap((c) => String(c.quick_check).split("\n"))
          .filter((l) => l !== "" && !l.startsWith("***"));
        throw new DamagedStore(`integrity check: ${lines.slice(0, 2).join("; ")}`);
      }
      const version = (db.prepare("PRAGMA user_version").get() as { user_version: number })
        .user_version;
      if (version > SCHEMA_VERSION) {
        throw new DamagedStore(
          `schema version ${version} is newer than this tunbox's ${SCHEMA_VERSION}`,
        );
      }
      db.exec("BEGIN");
      db.exec(SCHEMA);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      db.exec("COMMIT");
      return db;
    } catch (error) {
      try {
        db.close();
      } catch { /* already failed */ }
      throw error;
    }
  }

  /** Runs `fn`; on damage resets the store (warning) and returns `fallback`. */
  #guard<T>(action: string, fallback: T, fn: (st: Statements) => T): T {
    if (this.#closed) return fallback;
    try {
      return fn(this.#st);
    } catch (error) {
      if (isDamage(error)) {
        this.#reset(`${action}: ${(error as Error).message}`);
      } else {
        log.warn("cache file {path}: {action} failed: {error}", {
          path: this.path,
          action,
          error: (error as Error).message,
        });
      }
      return fallback;
    }
  }

  #reset(why: string): void {
    try {
      this.#db.close();
    } catch { /* already broken */ }
    if (this.#memoryOnly) {
      this.#db = CacheFile.#init(new DatabaseSync(":memory:"));
    } else {
      CacheFile.#moveAside(this.path, why);
      const { db, memoryOnly } = CacheFile.#openDb(this.path);
      this.#db = db;
      this.#memoryOnly = memoryOnly;
    }
    this.#st = prepare(this.#db);
  }

  /** Runs `fn` in one transaction (many writes at the cost of one). */
  transaction(action: string, fn: () => void): void {
    this.#guard(action, undefined, () => {
      this.#db.exec("BEGIN");
      try {
        fn();
        this.#db.exec("COMMIT");
      } catch (error) {
        try {
          this.#db.exec("ROLLBACK");
        } catch { /* the transaction is gone */ }
        throw error;
      }
    });
  }

  // --- Clash mode (one per cache id, as sing-box's `clash_mode` bucket) ----------------------

  /** The stored Clash mode, or undefined. */
  loadMode(): string | undefined {
    return this.#guard("load mode", undefined, (st) => {
      const row = st.loadMode.get(this.cacheId) as { mode: string } | undefined;
      return row?.mode || undefined;
    });
  }

  storeMode(mode: string): void {
    this.#guard("store mode", undefined, (st) => void st.storeMode.run(this.cacheId, mode));
  }

  // --- Selectors and groups -------------------------------------------------------------------

  /** The stored selection of selector `group`, or undefined. */
  loadSelected(group: string): string | undefined {
    return this.#guard("load selected", undefined, (st) => {
      const row = st.loadSelected.get(this.cacheId, group) as { selected: string } | undefined;
      return row?.selected || undefined;
    });
  }

  /** Every stored selection (selector tag → member tag). */
  allSelected(): Map<string, string> {
    return this.#guard("load selected", new Map<string, string>(), (st) => {
      const rows = st.allSelected.all(this.cacheId) as { grp: string; selected: string }[];
      return new Map(rows.map((r) => [r.grp, r.selected]));
    });
  }

  storeSelected(group: string, selected: string): void {
    this.#guard(
      "store selected",
      undefined,
      (st) => void st.storeSelected.run(this.cacheId, group, selected),
    );
  }

  /** Whether a dashboard showed `group` expanded, or undefined when never stored. */
  loadGroupExpand(group: string): boolean | undefined {
    return this.#guard("load group expand", undefined, (st) => {
      const row = st.loadExpand.get(this.cacheId, group) as { expand: number } | undefined;
      return row === undefined ? undefined : row.expand === 1;
    });
  }

  storeGroupExpand(group: string, expand: boolean): void {
    this.#guard(
      "store group expand",
      undefined,
      (st) => void st.storeExpand.run(this.cacheId, group, expand ? 1 : 0),
    );
  }

  // --- Rule sets ------------------------------------------------------------------------------

  /** The cached copy of rule set `tag`, or undefined. */
  loadRuleSet(tag: string): SavedRuleSet | undefined {
    return this.#guard("load rule set", undefined, (st) => {
      const row = st.loadRuleSet.get(this.cacheId, tag) as {
        content: Uint8Array;
        last_updated: number;
        etag: string | null;
        last_modified: string | null;
      } | undefined;
      if (!row) return undefined;
      const saved: SavedRuleSet = {
        content: new Uint8Array(row.content),
        lastUpdated: Number(row.last_updated),
      };
      if (row.etag) saved.etag = row.etag;
      if (row.last_modified) saved.lastModified = row.last_modified;
      return saved;
    });
  }

  saveRuleSet(tag: string, saved: SavedRuleSet): void {
    this.#guard("save rule set", undefined, (st) =>
      void st.saveRuleSet.run(
        this.cacheId,
        tag,
        saved.content,
        Math.floor(saved.lastUpdated),
        saved.etag ?? null,
        saved.lastModified ?? null,
      ));
  }

  // --- Rejected DNS responses (store_rdrc) ----------------------------------------------------

  /** Whether `transport` rejected `name`/`qtype` and that has not expired (`now` epoch ms). */
  loadRdrc(transport: string, name: string, qtype: number, now = Date.now()): boolean {
    if (!this.storeRdrc) return false;
    return this.#guard("load rejected DNS response", false, (st) => {
      const row = st.loadRdrc.get(this.cacheId, transport, name, qtype) as
        | { expires_at: number }
        | undefined;
      if (!row) return false;
      if (Number(row.expires_at) > now) return true;
      st.deleteRdrc.run(this.cacheId, transport, name, qtype);
      return false;
    });
  }

  /** Records that `transport`'s answer for `name`/`qtype` was rejected (until now + timeout). */
  saveRdrc(transport: string, name: string, qtype: number, now = Date.now()): void {
    if (!this.storeRdrc) return;
    this.saveRdrcUntil(transport, name, qtype, now + this.rdrcTimeoutMs);
  }

  /** Records a rejection with an explicit expiry (epoch ms). */
  saveRdrcUntil(transport: string, name: string, qtype: number, expiresAt: number): void {
    if (!this.storeRdrc) return;
    this.#guard("save rejected DNS response", undefined, (st) =>
      void st.saveRdrc.run(
        this.cacheId,
        transport,
        name,
        qtype,
        Math.floor(expiresAt),
      ));
  }

  /** Every unexpired rejection (expired ones are deleted). */
  rdrcEntries(now = Date.now()): RdrcEntry[] {
    if (!this.storeRdrc) return [];
    return this.#guard("load rejected DNS responses", [] as RdrcEntry[], (st) => {
      st.purgeRdrc.run(now);
      const rows = st.rdrcEntries.all(this.cacheId, now) as {
        transport: string;
        name: string;
        qtype: number;
        expires_at: number;
      }[];
      return rows.map((r) => ({
        transport: r.transport,
        name: r.name,
        qtype: Number(r.qtype),
        expiresAt: Number(r.expires_at),
      }));
    });
  }

  // --- FakeIP (store_fakeip) ------------------------------------------------------------------

  /** The saved allocation state, or undefined. */
  fakeIpMetadata(): FakeIpMetadata | undefined {
    return this.#guard("load FakeIP metadata", undefined, (st) => {
      const row = st.fakeIpMetadata.get() as {
        inet4_range: string;
        inet6_range: string;
        inet4_current: string;
        inet6_current: string;
      } | undefined;
      if (!row) return undefined;
      return {
        inet4Range: row.inet4_range,
        inet6Range: row.inet6_range,
        inet4Current: row.inet4_current,
        inet6Current: row.inet6_current,
      };
    });
  }

  saveFakeIpMetadata(m: FakeIpMetadata): void {
    this.#guard("save FakeIP metadata", undefined, (st) =>
      void st.saveFakeIpMetadata.run(
        m.inet4Range,
        m.inet6Range,
        m.inet4Current,
        m.inet6Current,
      ));
  }

  /** Every saved mapping. */
  fakeIpEntries(): FakeIpEntry[] {
    return this.#guard("load FakeIP mappings", [] as FakeIpEntry[], (st) => {
      const rows = st.fakeIpEntries.all() as { address: Uint8Array; domain: string }[];
      return rows
        .filter((r) => r.address.length === 4 || r.address.length === 16)
        .map((r) => ({ address: new Uint8Array(r.address), domain: r.domain }));
    });
  }

  /** The domain saved for `address`, or undefined. */
  fakeIpLoad(address: Uint8Array): string | undefined {
    return this.#guard("load FakeIP mapping", undefined, (st) => {
      const row = st.fakeIpByAddress.get(address) as { domain: string } | undefined;
      return row?.domain;
    });
  }

  /** The address saved for `domain` in a family, or undefined. */
  fakeIpLoadDomain(domain: string, v6: boolean): Uint8Array | undefined {
    return this.#guard("load FakeIP mapping", undefined, (st) => {
      const row = st.fakeIpByDomain.get(v6 ? 6 : 4, domain) as
        | { address: Uint8Array }
        | undefined;
      return row ? new Uint8Array(row.address) : undefined;
    });
  }

  /**
   * Saves `address → domain`, replacing what the address held before and any other address
   * the domain held in that family (sing-box keeps one address per domain and family).
   */
  fakeIpStore(address: Uint8Array, domain: string): void {
    this.#guard("save FakeIP mapping", undefined, (st) => {
      const family = address.length === 16 ? 6 : 4;
      st.fakeIpDeleteDomain.run(family, domain, address);
      st.fakeIpStore.run(address, family, domain);
    });
  }

  /** Forgets the mapping of `address`. */
  fakeIpDelete(address: Uint8Array): void {
    this.#guard("delete FakeIP mapping", undefined, (st) => void st.fakeIpDelete.run(address));
  }

  /** Forgets every mapping and the allocation state (the ranges changed). */
  fakeIpReset(): void {
    this.#guard("reset FakeIP mappings", undefined, (st) => {
      st.fakeIpReset.run();
      st.fakeIpResetMetadata.run();
    });
  }

  /** Closes the file (later calls answer "nothing stored"). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#db.close();
    } catch (error) {
      log.warn("close cache file {path}: {error}", {
        path: this.path,
        error: (error as Error).message,
      });
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The file is readable but its content cannot be trusted (failed check, newer schema). */
class DamagedStore extends Error {
  override name = "DamagedStore";
}
