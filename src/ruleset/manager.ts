/**
 * The rule-sets of a running instance (`route.rule_set`), kept on the main thread and posted to
 * every worker (sing-box `route/rule/rule_set_local.go`, `rule_set_remote.go`):
 *
 * - **inline** sets are loaded once; **local** sets are read at start and read again when the
 *   file changes (watched through its directory, so editors that replace the file are seen); a
 *   bad inline or local set stops the start, as in sing-box; a bad edit later is logged and the
 *   previous rules stay;
 * - **remote** sets come from the cache (`experimental.cache_file`) at start, so they work
 *   before the network does; they are downloaded through `download_detour` (else the default
 *   outbound) once the workers run — never before the TUN starts — when there is no cached copy
 *   or it is older than `update_interval` (default 1 day), then every `update_interval`, with
 *   `If-None-Match`/`If-Modified-Since`. A failed download (refused, timed out, too large, not a
 *   rule-set) keeps the last good rules, logs why, and is retried sooner (10 s, 30 s, 1 min,
 *   5 min, 15 min, 30 min; never later than the interval). A remote set with nothing cached
 *   matches nothing until its first download succeeds.
 *
 * Every change is handed to the listeners of {@linkcode RuleSetManager.onUpdate} as a
 * {@linkcode RuleSetPayload} (the prebuilt structures are shared memory, so posting it to a
 * worker copies only the small parts).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { dirname, resolve } from "node:path";
import type { RuleSetOptions } from "../config/types.ts";
import type { IpRange } from "../net/ip.ts";
import { extractIpRanges } from "../route/headless.ts";
import type { RuleSetPayload } from "../route/rule_set.ts";
import type { SavedRuleSet } from "../store/cache_file.ts";
import type { DownloadRequest, DownloadResult } from "./download.ts";
import {
  fileErrorText,
  type LoadedRuleSet,
  loadRules,
  parseRuleSet,
  readLocalRuleSet,
} from "./load.ts";

const log = getLogger(["tunbox", "rule-set"]);

/** sing-box's default `update_interval`. */
export const DEFAULT_UPDATE_INTERVAL_MS = 24 * 3600 * 1000;
/** Waits before retrying a failed download, by failures so far. */
export const RETRY_DELAYS_MS = [10_000, 30_000, 60_000, 300_000, 900_000, 1_800_000];

/** The part of the store rule-sets use (`src/store/cache_file.ts` `CacheFile`). */
export interface RuleSetCache {
  loadRuleSet(tag: string): SavedRuleSet | undefined;
  saveRuleSet(tag: string, saved: SavedRuleSet): void;
}

/** Downloads through an outbound (`detour`: its tag; absent: the default outbound). */
export type RuleSetFetch = (
  request: DownloadRequest & { detour?: string },
) => Promise<DownloadResult>;

/** Construction options. */
export interface RuleSetManagerOptions {
  sets: readonly RuleSetOptions[];
  /** Relative `path`s are taken from here. */
  workingDirectory: string;
  cache?: RuleSetCache | undefined;
  /** Epoch milliseconds (tests); default `Date.now`. */
  now?: () => number;
  /** Watch local files for changes (default true). */
  watch?: boolean;
  /** Put prebuilt structures in shared memory (default true). */
  shared?: boolean;
}

/** Where a set's current rules came from. */
export type RuleSetOrigin = "inline" | "file" | "cache" | "download";

/** A set's state, for logs, the API and tests. */
export interface RuleSetStatus {
  tag: string;
  type: RuleSetOptions["type"];
  loaded: boolean;
  origin?: RuleSetOrigin;
  /** Top-level rules. */
  rules: number;
  /** When the rules were last confirmed current (remote) or read (local), epoch ms. */
  updatedAt?: number;
  /** The last failure, until something succeeds. */
  error?: string;
}

interface SetState {
  options: RuleSetOptions;
  payload?: RuleSetPayload;
  origin?: RuleSetOrigin;
  updatedAt?: number;
  error?: string;
  // remote
  etag?: string;
  lastModified?: string;
  failures: number;
  timer?: ReturnType<typeof setTimeout>;
  inFlight?: Promise<void>;
  // local
  path?: string;
  reloadTimer?: ReturnType<typeof setTimeout>;
}

/** The rule-sets of one instance (see the module documentation). */
export class RuleSetManager {
  readonly #options: RuleSetManagerOptions;
  readonly #sets = new Map<string, SetState>();
  readonly #listeners = new Set<(p: RuleSetPayload) => unknown>();
  readonly #now: () => number;
  #fetch: RuleSetFetch | null = null;
  #watchers: Deno.FsWatcher[] = [];
  #closed = false;

  constructor(options: RuleSetManagerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    for (const o of options.sets) this.#sets.set(o.tag, { options: o, failures: 0 });
  }

  /**
   * Loads inline and local sets (throws {@linkcode RuleSetLoadError} for one that cannot be
   * used) and remote sets from the cache, and starts watching local files.
   */
  async start(): Promise<void> {
    for (const s of this.#sets.values()) {
      const o = s.options;
      if (o.type === "inline") {
        this.#publish(s, this.#parseInline(o), "inline");
      } else if (o.type === "local") {
        s.path = resolve(this.#options.workingDirectory, o.path ?? "");
        this.#publish(s, await this.#readLocal(s), "file");
      } else {
        this.#loadCached(s);
      }
    }
    if (this.#options.watch !== false) this.#watchLocal();
  }

  /**
   * Loads what a tool (`explain`) can without a network: inline and local sets, and remote ones
   * from `cache`. Returns the loaded sets and a note for each one left out.
   */
  static async loadOnce(
    sets: readonly RuleSetOptions[],
    workingDirectory: string,
    cache?: RuleSetCache,
  ): Promise<{ payloads: RuleSetPayload[]; notes: string[] }> {
    const m = new RuleSetManager({ sets, workingDirectory, cache, watch: false, shared: false });
    try {
      await m.start();
    } finally {
      m.close();
    }
    const notes = m.status().filter((s) => !s.loaded).map((s) =>
      `rule-set "${s.tag}" (${s.type}) is not loaded here (no cached copy): it matches nothing in this explanation`
    );
    return { payloads: m.payloads, notes };
  }

  /**
   * Starts downloading remote sets through `fetch` (call once the workers that run the
   * outbounds are up). Sets without a fresh cached copy are fetched now.
   */
  startUpdates(fetch: RuleSetFetch): void {
    this.#fetch = fetch;
    for (const s of this.#sets.values()) {
      if (s.options.type !== "remote") continue;
      const age = s.updatedAt === undefined ? Infinity : this.#now() - s.updatedAt;
      this.#schedule(s, s.payload && age < this.#interval(s) ? this.#interval(s) - age : 0);
    }
  }

  /**
   * Calls `listener` with every set loaded or changed from now on; returns an unsubscribe. A
   * listener may return a promise (the workers taking the set in): the change is logged once
   * every listener's promise settled.
   */
  onUpdate(listener: (p: RuleSetPayload) => unknown): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The loaded sets (to start workers with). */
  get payloads(): RuleSetPayload[] {
    return [...this.#sets.values()].flatMap((s) => (s.payload ? [s.payload] : []));
  }

  /** The rules of `tag`, when loaded. */
  payload(tag: string): RuleSetPayload | undefined {
    return this.#sets.get(tag)?.payload;
  }

  /**
   * The destination IP ranges of a set's rules (a tun's `route_address_set`); undefined when
   * the set is not loaded.
   */
  ranges(tag: string): IpRange[] | undefined {
    const p = this.#sets.get(tag)?.payload;
    return p ? extractIpRanges(p.rules) : undefined;
  }

  /** Every set's state. */
  status(): RuleSetStatus[] {
    return [...this.#sets.values()].map((s) => {
      const out: RuleSetStatus = {
        tag: s.options.tag,
        type: s.options.type,
        loaded: s.payload !== undefined,
        rules: s.payload?.rules.length ?? 0,
      };
      if (s.origin) out.origin = s.origin;
      if (s.updatedAt !== undefined) out.updatedAt = s.updatedAt;
      if (s.error) out.error = s.error;
      return out;
    });
  }

  /** Downloads a remote set now (whatever its schedule); resolves when done or failed. */
  update(tag: string): Promise<void> {
    const s = this.#sets.get(tag);
    if (!s || s.options.type !== "remote") {
      return Promise.reject(new TypeError(`rule-set "${tag}" is not a remote rule-set`));
    }
    return this.#download(s);
  }

  /** Stops timers and file watches. */
  close(): void {
    this.#closed = true;
    for (const s of this.#sets.values()) {
      if (s.timer !== undefined) clearTimeout(s.timer);
      if (s.reloadTimer !== undefined) clearTimeout(s.reloadTimer);
    }
    for (const w of this.#watchers) {
      try {
        w.close();
      } catch {
        // already closed
      }
    }
    this.#watchers = [];
  }

  // -------------------------------------------------------------------------------------------

  #name(s: SetState): string {
    return `rule-set "${s.options.tag}"`;
  }

  #interval(s: SetState): number {
    const v = s.options.update_interval;
    return v !== undefined && v > 0 ? v : DEFAULT_UPDATE_INTERVAL_MS;
  }

  /** Swaps the set in and tells the listeners; resolves when every listener is done with it. */
  #publish(s: SetState, loaded: LoadedRuleSet, origin: RuleSetOrigin): Promise<void> {
    s.payload = { tag: s.options.tag, rules: loaded.rules };
    s.origin = origin;
    s.updatedAt = this.#now();
    delete s.error;
    for (const w of loaded.warnings) log.warn("{warning}", { warning: w });
    const failed = (e: unknown) =>
      log.error("rule-set update listener failed: {error}", { error: String(e) });
    const pending: Promise<void>[] = [];
    for (const l of this.#listeners) {
      try {
        const r = l(s.payload);
        if (r instanceof Promise) pending.push(r.catch(failed));
      } catch (e) {
        failed(e);
      }
    }
    return Promise.all(pending).then(() => {});
  }

  #parseInline(o: RuleSetOptions): LoadedRuleSet {
    const name = `rule-set "${o.tag}"`;
    return { version: 0, ...loadRules(o.rules, name, this.#options.shared !== false) };
  }

  #readLocal(s: SetState): Promise<LoadedRuleSet> {
    return readLocalRuleSet(
      s.path!,
      s.options.format ?? "source",
      `${this.#name(s)} (${s.path})`,
      this.#options.shared !== false,
    );
  }

  #loadCached(s: SetState): void {
    const cached = this.#options.cache?.loadRuleSet(s.options.tag);
    if (!cached) return;
    try {
      const loaded = parseRuleSet(
        cached.content,
        s.options.format ?? "source",
        `${this.#name(s)} (cached copy)`,
        this.#options.shared !== false,
      );
      this.#publish(s, loaded, "cache");
      s.updatedAt = cached.lastUpdated;
      if (cached.etag) s.etag = cached.etag;
      if (cached.lastModified) s.lastModified = cached.lastModified;
      log.info("loaded {name} from the cache (updated {when})", {
        name: this.#name(s),
        when: new Date(cached.lastUpdated).toISOString(),
      });
    } catch (e) {
      log.warn("{error}; it will be downloaded again", { error: (e as Error).message });
    }
  }

  #watchLocal(): void {
    const byDir = new Map<string, SetState[]>();
    for (const s of this.#sets.values()) {
      if (s.options.type !== "local" || !s.path) continue;
      const dir = dirname(s.path);
      byDir.set(dir, [...(byDir.get(dir) ?? []), s]);
    }
    for (const [dir, sets] of byDir) {
      let watcher: Deno.FsWatcher;
      try {
        watcher = Deno.watchFs(dir, { recursive: false });
      } catch (e) {
        log.warn("cannot watch {dir} for rule-set changes: {error}", {
          dir,
          error: fileErrorText(e),
        });
        continue;
      }
      this.#watchers.push(watcher);
      (async () => {
        try {
          for await (const event of watcher) {
            for (const s of sets) {
              if (event.paths.some((p) => resolve(p) === s.path)) this.#reloadSoon(s);
            }
          }
        } catch (e) {
          if (!this.#closed) {
            log.warn("watching {dir} stopped: {error}", { dir, error: fileErrorText(e) });
          }
        }
      })();
    }
  }

  /** Editors write in several steps: read the file once things settled. */
  #reloadSoon(s: SetState): void {
    if (this.#closed) return;
    if (s.reloadTimer !== undefined) clearTimeout(s.reloadTimer);
    const timer = s.reloadTimer = setTimeout(() => {
      delete s.reloadTimer;
      this.#readLocal(s).then(
        (loaded) => {
          if (this.#closed) return;
          return this.#publish(s, loaded, "file").then(() =>
            log.info("reloaded {name} ({n} rules)", {
              name: this.#name(s),
              n: loaded.rules.length,
            })
          );
        },
        (e) => {
          s.error = (e as Error).message;
          log.error("reload {name} failed, keeping the previous rules: {error}", {
            name: this.#name(s),
            error: s.error,
          });
        },
      );
    }, 200);
    Deno.unrefTimer(timer);
  }

  #schedule(s: SetState, delayMs: number): void {
    if (this.#closed || !this.#fetch) return;
    if (s.timer !== undefined) clearTimeout(s.timer);
    const timer = s.timer = setTimeout(() => {
      delete s.timer;
      void this.#download(s);
    }, Math.max(0, Math.min(delayMs, 2 ** 31 - 1)));
    Deno.unrefTimer(timer);
  }

  #download(s: SetState): Promise<void> {
    if (s.inFlight) return s.inFlight;
    const run = this.#downloadOnce(s).finally(() => {
      delete s.inFlight;
    });
    s.inFlight = run;
    return run;
  }

  async #downloadOnce(s: SetState): Promise<void> {
    const fetch = this.#fetch;
    const o = s.options;
    if (!fetch || !o.url) return;
    const request: DownloadRequest & { detour?: string } = { url: o.url };
    if (o.download_detour) request.detour = o.download_detour;
    if (s.payload) {
      if (s.etag) request.etag = s.etag;
      if (s.lastModified) request.lastModified = s.lastModified;
    }
    log.debug("updating {name} from {url}", { name: this.#name(s), url: o.url });
    try {
      const res = await fetch(request);
      if (this.#closed) return;
      if (res.status === 304 && s.payload) {
        s.updatedAt = this.#now();
        this.#save(s, undefined);
        log.info("update {name}: not modified", { name: this.#name(s) });
      } else if (res.status === 200) {
        const loaded = parseRuleSet(
          res.body,
          o.format ?? "source",
          `${this.#name(s)} (${res.url})`,
          this.#options.shared !== false,
        );
        if (res.etag) s.etag = res.etag;
        else delete s.etag;
        if (res.lastModified) s.lastModified = res.lastModified;
        else delete s.lastModified;
        const applied = this.#publish(s, loaded, "download");
        this.#save(s, res.body);
        await applied;
        log.info("updated {name} ({n} rules)", { name: this.#name(s), n: loaded.rules.length });
      } else {
        throw new Error(`download ${res.url}: unexpected status ${res.status}`);
      }
      s.failures = 0;
      delete s.error;
      this.#schedule(s, this.#interval(s));
    } catch (e) {
      if (this.#closed) return;
      s.failures++;
      s.error = (e as Error).message;
      const retry = Math.min(
        RETRY_DELAYS_MS[Math.min(s.failures, RETRY_DELAYS_MS.length) - 1]!,
        this.#interval(s),
      );
      const keeping = s.payload
        ? `keeping the rules from ${new Date(s.updatedAt ?? 0).toISOString()} (${s.origin})`
        : "it matches nothing until a download succeeds";
      log.error("update {name} failed: {error}; {keeping}; retrying in {retry} s", {
        name: this.#name(s),
        error: s.error,
        keeping,
        retry: Math.round(retry / 1000),
      });
      this.#schedule(s, retry);
    }
  }

  #save(s: SetState, content: Uint8Array | undefined): void {
    const cache = this.#options.cache;
    if (!cache) return;
    try {
      const body = content ?? cache.loadRuleSet(s.options.tag)?.content;
      if (!body) return;
      const saved: SavedRuleSet = { content: body, lastUpdated: s.updatedAt ?? this.#now() };
      if (s.etag) saved.etag = s.etag;
      if (s.lastModified) saved.lastModified = s.lastModified;
      cache.saveRuleSet(s.options.tag, saved);
    } catch (e) {
      log.error("save {name} to the cache failed: {error}", {
        name: this.#name(s),
        error: fileErrorText(e),
      });
    }
  }
}
