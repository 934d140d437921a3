/**
 * The TUN inbound on the main thread: opens the device and installs routes (through the
 * platform layer, `src/tun/setup.ts`), creates the system stack's listeners and shared NAT
 * memory, starts one packet worker per TUN queue (each runs a `src/tun/engine.ts`), passes
 * network changes on to them, and undoes everything on close. It lives with the workers it owns:
 * `worker/` depends on `tun/`, never the reverse.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { WorkerHandle, WorkerSet } from "./set.ts";
import type { Options, TunInboundOptions, TunStack } from "../config/types.ts";
import { listenTcpFd } from "../io/socket.ts";
import { fdClose, sockLocalAddr } from "../io/sys.ts";
import type { NetworkChange, Platform } from "../platform/mod.ts";
import { createNatMemory } from "../stack/nat_table.ts";
import { setupTun, type TunSetup } from "../tun/setup.ts";
import type { SharedDnsMemory } from "../dns/mod.ts";
import type { SharedStateMemory } from "../store/shared_state.ts";
import { type ReloadCounts, WorkerPool } from "./pool.ts";
import type { MainToWorker, TunWorkerInit, WorkerLogInit, WorkerStats } from "./protocol.ts";
import type { RuleSetPayload } from "../route/rule_set.ts";
import type { DownloadRequest, DownloadResult } from "../ruleset/download.ts";
import { type AddressSets, applyAddressSets } from "../ruleset/tun_routes.ts";

/** The rule-sets a tun inbound starts with. */
export interface TunRuleSets extends AddressSets {
  /** Every set loaded so far, for the workers. */
  readonly payloads: RuleSetPayload[];
}

const log = getLogger(["tunbox", "tun"]);

/** sing-box's default UDP (and system-stack NAT) timeout. */
export const DEFAULT_UDP_TIMEOUT_MS = 5 * 60_000;
/** sing-box's default stack when built with gVisor (official builds). */
export const DEFAULT_STACK: TunStack = "mixed";

/**
 * Number of packet workers: `TUNBOX_WORKERS` if set; else one on a machine with up to 2 cores
 * and the core count up to 4 above that (Linux multi-queue TUN); macOS utun has one queue, so one
 * worker. Each worker is an isolate of about 25 MiB: on 2 cores a second one measured no more
 * throughput with the default (mixed) stack and 25 MiB more RSS idle and at 1,000 connections
 * (`bench:e2e --quick --workers 1,2`, bench/results/2026-12-04_111744.md; docs/architecture.md).
 *
 * ```ts
 * workerCount("linux", 2); // 1
 * workerCount("linux", 8); // 4
 * ```
 */
export function workerCount(
  os: string = Deno.build.os,
  cores: number = navigator.hardwareConcurrency || 1,
): number {
  if (os !== "linux") return 1;
  const env = Number(Deno.env.get("TUNBOX_WORKERS") ?? "");
  if (Number.isInteger(env) && env > 0) return Math.min(env, 64);
  return cores <= 2 ? 1 : Math.min(cores, 4);
}

/** A running TUN inbound. */
export class TunInbound {
  #setup: TunSetup | undefined;
  #pool: WorkerPool | undefined;
  #listenFds: number[] = [];
  #handles: WorkerHandle[] = [];

  constructor(
    readonly options: TunInboundOptions,
    readonly config: Options,
    readonly platform: Platform,
    readonly logInit: WorkerLogInit,
    /** DNS tables shared with every other worker of the instance (listeners included). */
    readonly sharedDns: SharedDnsMemory,
    /** Clash mode and selector choices shared with every worker. */
    readonly sharedState?: SharedStateMemory,
    /** The instance's workers: connection reports, API requests, logs, shared ids. */
    readonly workers: WorkerSet | null = null,
    /** The rule-sets loaded so far (workers get them; `route_address_set` reads them). */
    readonly ruleSets?: TunRuleSets,
  ) {}

  get deviceName(): string | undefined {
    return this.#setup?.device.name;
  }

  get setup(): TunSetup | undefined {
    return this.#setup;
  }

  async start(): Promise<void> {
    const stack = this.options.stack ?? DEFAULT_STACK;
    // A WireGuard peer knows one endpoint per key: two workers each with their own device
    // would take the session from each other. One worker carries everything then.
    const queues = this.config.outbounds.some((o) => o.type === "wireguard") ? 1 : workerCount();
    const options = this.ruleSets ? applyAddressSets(this.options, this.ruleSets) : this.options;
    const setup = this.#setup = setupTun(options, this.platform, queues);
    try {
      const device = setup.device;
      let natListenPorts: { v4: number; v6: number } | undefined;
      let natTable: SharedArrayBuffer | undefined;
      if (stack === "system" || stack === "mixed") {
        natListenPorts = { v4: 0, v6: 0 };
        for (const family of [4, 6] as const) {
          const prefix = this.options.address.find((p) =>
            p.addr.length === (family === 4 ? 4 : 16)
          );
          if (!prefix) continue;
          const fd = listenTcpFd({ addr: prefix.addr, port: 0 });
          this.#listenFds.push(fd);
          natListenPorts[family === 4 ? "v4" : "v6"] = sockLocalAddr(fd).port;
        }
        natTable = createNatMemory();
      }
      const defaultInterface = this.platform.defaultInterface(device.name);
      const inits: TunWorkerInit[] = device.fds.map((fd, index) => ({
        role: "tun",
        index,
        count: device.fds.length,
        fd,
        queueFds: [...device.fds],
        tun: {
          name: device.name,
          index: device.index,
          mtu: device.mtu,
          packetOffset: device.packetOffset,
          offload: device.offload,
          addresses: this.options.address,
        },
        inboundTag: this.options.tag,
        stack,
        udpTimeoutMs: this.options.udp_timeout ?? DEFAULT_UDP_TIMEOUT_MS,
        options: this.config,
        sharedDns: this.sharedDns,
        ...(this.sharedState ? { state: this.sharedState } : {}),
        ...(this.workers ? { connIds: this.workers.ids } : {}),
        ...(this.ruleSets ? { ruleSets: this.ruleSets.payloads } : {}),
        log: this.logInit,
        defaultInterface,
        ...(natTable ? { natTable } : {}),
        ...(natListenPorts ? { natListenPorts, natListenFds: this.#listenFds } : {}),
      }));
      const pool = this.#pool = new WorkerPool();
      const workers = this.workers;
      if (workers) {
        this.#handles = inits.map((_, i) =>
          workers.attach(
            `inbound/tun[${this.options.tag}] worker ${i}`,
            (msg) => pool.send(i, msg),
          )
        );
        pool.onMessage = (index, msg) => {
          const handle = this.#handles[index];
          if (handle) workers.receive(handle, msg);
        };
      }
      await pool.start(new URL("./entry.ts", import.meta.url), inits);
      log.info(
        "inbound/tun[{tag}]: started on {name} with stack {stack} and {n} worker(s){where}{offload}",
        {
          tag: this.options.tag,
          name: device.name,
          stack,
          n: device.fds.length,
          where: pool.inProcess ? " in the main isolate" : "",
          offload: device.offload ? "; TCP segmentation offload on" : "",
        },
      );
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** Latest per-worker counters. */
  stats(): (WorkerStats | undefined)[] {
    return this.#pool?.stats() ?? [];
  }

  /**
   * A rule-set changed (downloaded, reloaded, or replaced by a config reload): when this tun
   * names it in `route_address_set` / `route_exclude_address_set` (or `tag` is undefined: any
   * set may have changed), its routes are re-planned and changed in place, as sing-tun's
   * `UpdateRouteAddressSet` does. A failure is logged; the routes stay as they were.
   */
  ruleSetChanged(tag?: string): void {
    const o = this.options;
    const named = [...o.route_address_set, ...o.route_exclude_address_set];
    const setup = this.#setup;
    if (!setup || !this.ruleSets || named.length === 0) return;
    if (tag !== undefined && !named.includes(tag)) return;
    try {
      const change = setup.updateRoutes(applyAddressSets(o, this.ruleSets));
      if (change.added + change.removed === 0) return;
      log.info(
        "inbound/tun[{tag}]: rule-set {set} changed: {added} route(s) added, {removed} removed",
        {
          tag: o.tag,
          set: tag ?? named.join(", "),
          ...change,
        },
      );
    } catch (e) {
      log.error("inbound/tun[{tag}]: rule-set {set} changed, but its routes were not: {error}", {
        tag: o.tag,
        set: tag ?? named.join(", "),
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }

  /** Tells every worker about a network change (they re-bind and close dead sockets). */
  networkChanged(change: NetworkChange): void {
    this.broadcast({ type: "network", change });
  }

  /**
   * Swaps the workers' router, outbounds and DNS for the new config's, keeping the device, its
   * routes and the connections through it (see `reload` in `src/worker/entry.ts`).
   */
  reload(msg: Extract<MainToWorker, { type: "reload" }>): Promise<ReloadCounts> {
    const pool = this.#pool;
    if (!pool) return Promise.reject(new Error(`inbound/tun[${this.options.tag}] is not running`));
    return pool.reload(msg);
  }

  /** Sends a message to every worker. */
  broadcast(msg: MainToWorker): void {
    this.#pool?.broadcast(msg);
  }

  /** Downloads through this tun's first worker (see {@linkcode WorkerPool.fetch}). */
  fetch(request: DownloadRequest, detour?: string): Promise<DownloadResult> {
    if (!this.#pool) return Promise.reject(new Error("the tun inbound is not running"));
    return this.#pool.fetch(request, detour);
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) await pool.stop();
    for (const handle of this.#handles) this.workers?.detach(handle);
    this.#handles = [];
    for (const fd of this.#listenFds) fdClose(fd);
    this.#listenFds = [];
    const setup = this.#setup;
    this.#setup = undefined;
    setup?.close();
  }
}
