/**
 * One running tunbox instance built from decoded options (sing-box's `Box`): starts the inbounds
 * and closes them in reverse order.
 *
 * Packet processing runs in workers (`src/tun/`); the main thread owns the platform state
 * (device, routes, rules) so that it is always removed on close, even when a worker fails.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { ApiBackend, ClashApi } from "./api/clash_api.ts";
import type { ConnectionHub } from "./conn/mod.ts";
import type { Options, TunInboundOptions } from "./config/types.ts";
import {
  createSharedDnsMemory,
  type SharedDnsMemory,
  SharedFakeIpStore,
  SharedRdrc,
} from "./dns/shared_names.ts";
import { FakeIpPersistence } from "./dns/fakeip_persist.ts";
import { RdrcPersistence } from "./dns/rdrc_persist.ts";
import { Reactor } from "./io/reactor.ts";
import { localProxies, proxyReadyTimeout, waitForLocalProxies } from "./outbound/proxy_ready.ts";
import { loadPlatform, type NetworkChange, type Platform } from "./platform/mod.ts";
import { type MemoryTrim, startMemoryTrim } from "./platform/memory_trim.ts";
import { setClashModeSource } from "./route/clash_mode.ts";
import { Router } from "./route/router.ts";
import { RuleSetRegistry } from "./route/rule_set.ts";
import { RuleSetManager, type RuleSetStatus } from "./ruleset/manager.ts";
import { applyAddressSets } from "./ruleset/tun_routes.ts";
import { CacheFile } from "./store/cache_file.ts";
import { SharedState } from "./store/shared_state.ts";
import { TunInbound } from "./worker/tun_inbound.ts";
import { WorkerPool } from "./worker/pool.ts";
import { type WorkerHandle, WorkerSet } from "./worker/set.ts";
import { describePlan, planTun } from "./tun/setup.ts";
import { checkAddressCollisions } from "./tun/collisions.ts";
import { planReload } from "./reload_plan.ts";

const log = getLogger(["tunbox", "box"]);

/** How often FakeIP allocations and DNS rejections are written to the cache file (and at close). */
export const STATE_SAVE_MS = 1000;

/** What {@linkcode Box.create} needs. */
export interface BoxInit {
  options: Options;
  /** The config files the options came from (for reload and messages). */
  configPaths: string[];
  workingDirectory: string;
  /** Describe what would be done without touching the system. */
  dryRun: boolean;
  /** ANSI colors in worker log lines (as the CLI's). */
  color?: boolean;
}

/** A tunbox instance: create, start, close (in reverse order of start). */
export class Box {
  #init: BoxInit;
  #tuns: TunInbound[] = [];
  #listeners: WorkerPool | null = null;
  #stopWatch: (() => void) | null = null;
  #api: ClashApi | null = null;
  #cache: CacheFile | null = null;
  #ruleSets: RuleSetManager | null = null;
  #state: SharedState | null = null;
  /** What saves worker state (FakeIP, rejected DNS responses) into the cache file. */
  #persist: { savers: { save(): number }[]; timer: ReturnType<typeof setInterval> } | null = null;
  #started = false;
  /** Every worker of the instance (connection reports, API requests, log forwarding). */
  readonly workers: WorkerSet = new WorkerSet();
  #listenerHandle: WorkerHandle | null = null;
  #sharedDns: SharedDnsMemory | null = null;
  #fakeIp: FakeIpPersistence | null = null;
  #router: { options: Options; router: Router } | null = null;
  /** What started inbounds share, kept for a reload's listener restart. */
  #running: {
    platform: Platform;
    logInit: { options: Options["log"]; color: boolean; baseTime: number };
    sharedDns: SharedDnsMemory;
  } | null = null;

  private constructor(init: BoxInit) {
    this.#init = init;
  }

  /**
   * An instance for decoded options (`decodeConfig`: what it accepts builds, as
   * `tests/config/check_run_property_test.ts` proves). Nothing is built or opened here: each
   * worker builds its outbounds, DNS module and router once (`src/worker/flow_parts.ts`). A dry
   * run, which starts no worker, builds them once here so that it fails where `run` would.
   */
  static async create(init: BoxInit): Promise<Box> {
    if (init.dryRun) await Box.#buildOnce(init.options);
    return new Box(init);
  }

  /**
   * Builds `options`' flow parts once on this thread and closes them: their errors throw. A
   * reload does this first, so a config that cannot build changes no worker (the workers reload
   * one by one). The flow parts' modules (every outbound, DNS transport, TLS) are imported here
   * and not at start: the main thread of a running box never loads them otherwise.
   */
  static async #buildOnce(options: Options): Promise<void> {
    const { buildFlowParts } = await import("./worker/flow_parts.ts");
    const reactor = new Reactor(8);
    try {
      (await buildFlowParts(options, { reactor, ruleSets: new RuleSetRegistry() })).close();
    } finally {
      reactor.close();
    }
  }

  /** Every connection of every worker: the live view and the closed ring. */
  get connections(): ConnectionHub {
    return this.workers.hub;
  }

  /** The TUN inbounds of the config. */
  get #tunOptions(): TunInboundOptions[] {
    return this.#init.options.inbounds.filter((i): i is TunInboundOptions => i.type === "tun");
  }

  /** What `start` would do: device, addresses, routes and rules per TUN inbound (dry run). */
  async describe(): Promise<string[]> {
    const platform = await loadPlatform();
    const lines: string[] = [];
    const tuns = this.#tunOptions;
    // route_address_set reads inline and local sets (remote ones need the cache or a download).
    let sets: RuleSetManager | null = null;
    if (tuns.some((t) => t.route_address_set.length + t.route_exclude_address_set.length > 0)) {
      sets = new RuleSetManager({
        sets: this.#init.options.route.rule_set,
        workingDirectory: this.#init.workingDirectory,
        watch: false,
        shared: false,
      });
      await sets.start();
    }
    for (const raw of tuns) {
      const t = sets ? applyAddressSets(raw, sets) : raw;
      const planned = planTun(t, platform);
      lines.push(`inbound/tun[${t.tag}]:`);
      for (const l of describePlan(planned.device, planned.plan)) lines.push(`  ${l}`);
      try {
        checkAddressCollisions(t, platform.networkSnapshot(t.interface_name || undefined));
      } catch (e) {
        lines.push(`  error: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (lines.length === 0) lines.push("no tun inbounds: nothing to set up");
    return lines;
  }

  /** Gives memory freed after bursts back to the kernel (`src/platform/memory_trim.ts`). */
  #memoryTrim: MemoryTrim | null = null;

  /** Starts the TUN inbounds (nothing in a dry run). */
  async start(): Promise<void> {
    this.#started = true;
    if (this.#init.dryRun) return;
    const { options } = this.#init;
    const tuns = this.#tunOptions;
    const hasListeners = options.inbounds.some((i) => i.type !== "tun");
    if (tuns.length === 0 && !hasListeners) {
      log.info("no inbounds configured; nothing to do");
      return;
    }
    this.#openState();
    if (options.ntp?.enabled) {
      // The NTP clock every worker reads travels with the shared state (imported only when used).
      const { SharedClock } = await import("./ntp/mod.ts");
      this.#state!.memory.clock = SharedClock.memory();
    }
    // Inline and local rule-sets must load (as in sing-box); remote ones come from the cache.
    const ruleSets = await this.#startRuleSets(options);
    const clash = options.experimental.clash_api;
    if (clash?.external_controller) this.#api = await this.#startApi(clash);
    const platform = await loadPlatform();
    warnMissingInterfaces(options, platform);
    this.#memoryTrim = startMemoryTrim();
    const logInit = {
      options: options.log,
      color: this.#init.color ?? false,
      baseTime: performance.timeOrigin,
    };
    const sharedDns = this.#sharedDns = createSharedDnsMemory(options);
    this.#restoreDnsState(sharedDns);
    this.#running = { platform, logInit, sharedDns };
    if (tuns.length > 0) {
      // Routes go in only when the local proxies they lead to answer (bounded wait).
      const local = platform.networkSnapshot().interfaces.flatMap((i) =>
        i.addresses.map((a) => a.addr)
      );
      await waitForLocalProxies(localProxies(options.outbounds, local), proxyReadyTimeout(options));
    }
    for (const t of tuns) {
      const inbound = new TunInbound(
        t,
        options,
        platform,
        logInit,
        sharedDns,
        this.#state?.memory,
        this.workers,
        // The current manager's ranges: a reload may replace the manager (#startRuleSets).
        { payloads: ruleSets.payloads, ranges: (tag) => this.#ruleSets?.ranges(tag) },
      );
      this.#tuns.push(inbound);
      await inbound.start();
    }
    if (hasListeners) await this.#startListeners(options);
    this.#startRuleSetUpdates(ruleSets);
    this.#stopWatch = platform.watchNetwork(
      (change) => this.#networkChanged(change),
      this.#tuns[0]?.deviceName,
    );
  }

  /** Starts the worker that serves the listener inbounds (socks, http, mixed, direct, tproxy). */
  async #startListeners(options: Options): Promise<void> {
    const running = this.#running!;
    const pool = this.#listeners = new WorkerPool();
    const handle = this.#listenerHandle = this.workers.attach(
      "listeners",
      (msg) => pool.send(0, msg),
    );
    pool.onMessage = (_, msg) => this.workers.receive(handle, msg);
    await pool.start(new URL("./worker/entry.ts", import.meta.url), [{
      role: "listeners",
      index: 0,
      options,
      sharedDns: running.sharedDns,
      ...(this.#state ? { state: this.#state.memory } : {}),
      connIds: this.workers.ids,
      ruleSets: this.#ruleSets?.payloads ?? [],
      log: { ...running.logInit, options: options.log },
      defaultInterface: running.platform.defaultInterface(),
    }]);
    log.debug("listener inbounds: started in {where}", {
      where: pool.inProcess ? "the main isolate" : "a Deno Worker",
    });
  }

  /** Loads the rule-sets of `options` and posts every later change to all workers. */
  async #startRuleSets(options: Options): Promise<RuleSetManager> {
    const manager = new RuleSetManager({
      sets: options.route.rule_set,
      workingDirectory: this.#init.workingDirectory,
      cache: this.#cache ?? undefined,
    });
    await manager.start();
    manager.onUpdate((payload) => {
      for (const t of this.#tuns) t.ruleSetChanged(payload.tag);
      return this.workers.applyRuleSet(payload);
    });
    const old = this.#ruleSets;
    this.#ruleSets = manager;
    old?.close();
    return manager;
  }

  /** Remote rule-sets download through the workers' outbounds, never before the TUN is up. */
  #startRuleSetUpdates(manager: RuleSetManager): void {
    manager.startUpdates((request) => {
      const { detour, ...rest } = request;
      const t = this.#tuns[0];
      if (t) return t.fetch(rest, detour);
      if (this.#listeners) return this.#listeners.fetch(rest, detour);
      return Promise.reject(new Error("no worker is running to download with"));
    });
  }

  /** The rule-sets' state (loaded, where from, last error), for logs and the API. */
  ruleSetStatus(): RuleSetStatus[] {
    return this.#ruleSets?.status() ?? [];
  }

  async #stopListeners(): Promise<void> {
    const listeners = this.#listeners;
    this.#listeners = null;
    await listeners?.stop();
    if (this.#listenerHandle) this.workers.detach(this.#listenerHandle);
    this.#listenerHandle = null;
  }

  /**
   * Applies `next` without restarting what it does not change (SIGHUP, the service's reload):
   * TUN devices, routes and rules stay, and so do the connections through them; every worker
   * swaps in a router, outbounds and DNS built from `next` (new connections use them, running
   * ones keep the outbound they dialed unless it was removed); listener inbounds restart only
   * when their sections changed; the Clash API restarts when its section changed. Logs what
   * changed and what was kept.
   *
   * Returns false, having changed nothing, when the plan needs a full restart (a TUN section or
   * the workers' shared state changed): the caller then closes this box and starts a new one.
   * Throws, having changed nothing, when `next`'s outbounds, DNS or rules cannot be built.
   */
  async reload(next: Options): Promise<boolean> {
    const plan = planReload(this.#init.options, next);
    if (plan.restart !== null || this.#init.dryRun || !this.#started || !this.#running) {
      if (plan.restart !== null) log.info("reload: {reason}: restarting", { reason: plan.restart });
      return false;
    }
    await Box.#buildOnce(next);
    // Rule-sets first (a broken local set fails the reload before anything changed), posted to
    // every worker before the new rules that name them.
    let sets: RuleSetManager | null = null;
    if (canonicalSets(next) !== canonicalSets(this.#init.options)) {
      sets = await this.#startRuleSets(next);
      for (const payload of sets.payloads) {
        for (const t of this.#tuns) t.broadcast({ type: "rule-set", payload });
        this.#listeners?.broadcast({ type: "rule-set", payload });
      }
      for (const t of this.#tuns) t.ruleSetChanged();
    }
    const msg = {
      type: "reload" as const,
      options: next,
      removedOutbounds: plan.removedOutbounds,
      ...(plan.relog ? { log: next.log } : {}),
    };
    const counts = { kept: 0, closed: 0 };
    const add = (r: { kept: number; closed: number }) => {
      counts.kept += r.kept;
      counts.closed += r.closed;
    };
    for (const t of this.#tuns) add(await t.reload(msg));
    if (plan.restartListeners) {
      await this.#stopListeners();
      if (next.inbounds.some((i) => i.type !== "tun")) await this.#startListeners(next);
    } else if (this.#listeners) add(await this.#listeners.reload(msg));
    if (plan.restartApi) {
      await this.#api?.close();
      this.#api = null;
      const clash = next.experimental.clash_api;
      if (clash?.external_controller) this.#api = await this.#startApi(clash);
    }
    this.#init = { ...this.#init, options: next };
    if (sets) this.#startRuleSetUpdates(sets);
    if (plan.changed.length === 0) log.info("reload: nothing changed");
    else {
      log.info("reload: {changed} changed; kept {kept}", {
        changed: plan.changed.join(", "),
        kept: plan.kept.join(", ") || "nothing",
      });
    }
    log.info(
      "reload: {kept} live connection(s) continue; {closed} ended because their outbound was removed",
      counts,
    );
    return true;
  }

  /**
   * Opens `experimental.cache_file` (when enabled) and makes the shared Clash mode and selector
   * choices, restored from it.
   */
  #openState(): void {
    const { options } = this.#init;
    const cacheOptions = options.experimental.cache_file;
    const cache = cacheOptions?.enabled
      ? this.#cache = CacheFile.open(cacheOptions, this.#init.workingDirectory)
      : null;
    if (cache) log.info("cache file: {path}", { path: cache.path });
    this.#state = SharedState.create(
      options,
      cache ? { mode: cache.loadMode(), selected: cache.allSelected() } : {},
      cache
        ? {
          onMode: (mode) => cache.storeMode(mode),
          onSelect: (group, member) => cache.storeSelected(group, member),
        }
        : {},
    );
    const state = this.#state;
    // This thread's router (the API's /rules/explain) sees the mode too.
    setClashModeSource(() => state.mode);
    if (state.modes.length > 0) {
      log.info("clash mode: {mode} (modes: {modes})", {
        mode: state.mode,
        modes: state.modes.join(", "),
      });
    }
    for (const s of state.memory.selectors) {
      log.debug("selector[{tag}]: {selected}", { tag: s.tag, selected: state.selected(s.tag) });
    }
  }

  /**
   * `cache_file.store_fakeip` and `store_rdrc`: fills the shared FakeIP and rejected-response
   * tables from the cache file before any worker starts, then saves what the workers add every
   * {@linkcode STATE_SAVE_MS} and at close.
   */
  #restoreDnsState(memory: SharedDnsMemory): void {
    const cache = this.#cache;
    if (!cache) return;
    const savers: { save(): number }[] = [];
    const fake = this.#init.options.dns.servers.find((s) => s.type === "fakeip");
    if (cache.storeFakeIp && fake && (memory.fakeip4 || memory.fakeip6)) {
      const store = new SharedFakeIpStore(memory, fake.inet4_range, fake.inet6_range);
      const persist = new FakeIpPersistence(store, cache, fake.inet4_range, fake.inet6_range);
      persist.load();
      savers.push(persist);
      this.#fakeIp = persist;
    }
    if (cache.storeRdrc && memory.rdrc) {
      const persist = new RdrcPersistence(new SharedRdrc(memory.rdrc, cache.rdrcTimeoutMs), cache);
      persist.load();
      savers.push(persist);
    }
    if (savers.length === 0) return;
    const timer = setInterval(() => savers.forEach((s) => s.save()), STATE_SAVE_MS);
    this.#persist = { savers, timer };
  }

  /** The current Clash mode ("" without `experimental.clash_api`). */
  get clashMode(): string {
    return this.#state?.mode ?? "";
  }

  /** The Clash mode list (sing-box's `mode-list`). */
  get clashModes(): readonly string[] {
    return this.#state?.modes ?? [];
  }

  /**
   * Switches the Clash mode for every worker (the Clash API's `PATCH /configs`): matched exactly,
   * else case-insensitively; persisted in the cache file; cached DNS answers are dropped, as
   * sing-box does. Returns the mode in force, or undefined when `mode` is not in the list.
   */
  setClashMode(mode: string): string | undefined {
    const state = this.#state;
    if (!state) return undefined;
    const before = state.mode;
    const now = state.setMode(mode);
    if (now !== undefined && now !== before) {
      for (const t of this.#tuns) t.broadcast({ type: "clear-dns-cache" });
      this.#listeners?.broadcast({ type: "clear-dns-cache" });
      log.info("updated mode: {mode}", { mode: now });
    }
    return now;
  }

  /**
   * The member selector `group` uses, or undefined when `group` is not a selector (or the box
   * has not started).
   */
  selectedOutbound(group: string): string | undefined {
    return this.#state?.selected(group);
  }

  /**
   * Selects `member` of selector `group` in every worker and persists it in the cache file
   * (the Clash API's `PUT /proxies/{name}`). False when either is unknown.
   */
  selectOutbound(group: string, member: string): boolean {
    return this.#state?.select(group, member) ?? false;
  }

  /**
   * Forgets every FakeIP mapping (the Clash API's `POST /cache/fakeip/flush`): the tables every
   * worker shares, and the cache file's copy when `store_fakeip` keeps one.
   */
  flushFakeIp(): void {
    const fake = this.#init.options.dns.servers.find((s) => s.type === "fakeip");
    const memory = this.#sharedDns;
    if (!fake || !memory || (!memory.fakeip4 && !memory.fakeip6)) return;
    new SharedFakeIpStore(memory, fake.inet4_range, fake.inet6_range).clear();
    this.#fakeIp?.reset();
    // Cached answers may hold fake addresses that no longer stand for anything.
    this.workers.broadcast({ type: "clear-dns-cache" });
    log.info("FakeIP mappings flushed");
  }

  /** What the Clash API reads and changes. */
  /** Starts the Clash API, importing it only when the config has one. */
  async #startApi(
    clash: NonNullable<Options["experimental"]["clash_api"]>,
  ): Promise<ClashApi> {
    const { ClashApi } = await import("./api/clash_api.ts");
    return ClashApi.start(clash, this.#apiBackend());
  }

  #apiBackend(): ApiBackend {
    // The getters read the options in force (a reload replaces them).
    // deno-lint-ignore no-this-alias
    const box = this;
    return {
      get options() {
        return box.#init.options;
      },
      workingDirectory: this.#init.workingDirectory,
      connections: this.workers.hub,
      logs: this.workers.logs,
      get router() {
        return box.#mainRouter();
      },
      mode: () => this.clashMode,
      modes: () => this.clashModes,
      setMode: (mode) => this.setClashMode(mode),
      selected: (group) => this.selectedOutbound(group),
      select: (group, member) => this.selectOutbound(group, member),
      workerCall: (call) =>
        this.workers.call(
          call,
          call.kind === "delay" || call.kind === "group-delay" ? call.timeoutMs + 2000 : undefined,
        ),
      flushDns: () => this.workers.broadcast({ type: "clear-dns-cache" }),
      flushFakeIp: () => this.flushFakeIp(),
    };
  }

  /**
   * A router on this thread for the options in force: the API's `/rules` and `/rules/explain`
   * (the workers route the flows).
   */
  #mainRouter(): Router {
    const options = this.#init.options;
    if (this.#router?.options !== options) {
      this.#router = {
        options,
        router: new Router({
          rules: options.route.rules,
          outbounds: options.outbounds,
          ...(options.route.final !== undefined ? { final: options.route.final } : {}),
        }),
      };
    }
    return this.#router.router;
  }

  /**
   * A network change (new default interface, interface down, address gone): logged, and passed
   * to every worker, which re-binds new direct dials and closes sockets that cannot work anymore.
   */
  #networkChanged(change: NetworkChange): void {
    log.info("network changed: {changes}", { changes: change.descriptions.join("; ") });
    for (const t of this.#tuns) t.networkChanged(change);
    this.#listeners?.broadcast({ type: "network", change });
  }

  /** Stops the instance and releases what it holds, in reverse order. */
  async close(): Promise<void> {
    this.#memoryTrim?.stop();
    this.#memoryTrim = null;
    this.#ruleSets?.close();
    this.#ruleSets = null;
    const api = this.#api;
    this.#api = null;
    await api?.close();
    this.#stopWatch?.();
    this.#stopWatch = null;
    await this.#stopListeners();
    const tuns = this.#tuns.reverse();
    this.#tuns = [];
    for (const t of tuns) {
      try {
        await t.close();
      } catch (error) {
        log.error("close inbound/tun[{tag}]: {error}", { tag: t.options.tag, error });
      }
    }
    const persist = this.#persist;
    this.#persist = null;
    if (persist) {
      clearInterval(persist.timer);
      for (const s of persist.savers) s.save();
    }
    this.workers.close();
    this.#fakeIp = null;
    this.#state = null;
    this.#cache?.close();
    this.#cache = null;
    if (this.#started && !this.#init.dryRun) log.info("closed");
    this.#started = false;
  }
}

/**
 * Warns at start about `bind_interface`/`default_interface` names this machine does not have
 * (the seed config's `en0` on Linux): every dial through them would fail.
 */
function warnMissingInterfaces(options: Options, platform: Platform): void {
  const names = new Map<string, string>();
  for (const o of options.outbounds) {
    if ("bind_interface" in o && o.bind_interface) {
      names.set(o.bind_interface, `outbound "${o.tag}"`);
    }
  }
  if (options.route.default_interface) {
    names.set(options.route.default_interface, "route.default_interface");
  }
  for (const [name, where] of names) {
    let index = 0;
    try {
      index = platform.interfaceIndex(name);
    } catch {
      index = 0;
    }
    if (index === 0) {
      log.warn(
        "{where} binds to interface {name}, which does not exist on this machine: its connections will fail (set route.auto_detect_interface instead?)",
        { where, name },
      );
    }
  }
}

/** `route.rule_set` without source positions, to tell whether a reload changed it. */
function canonicalSets(options: Options): string {
  return JSON.stringify(options.route.rule_set, (k, v) => (k === "source" ? undefined : v));
}
