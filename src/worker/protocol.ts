/**
 * Messages between the main thread and reactor workers. Everything here is structured-clone
 * safe (plain data, `Uint8Array`, `SharedArrayBuffer`).
 *
 * @module
 */

import type { LogOptions, Options } from "../config/types.ts";
import type { NetworkChange, NetworkInterface } from "../platform/mod.ts";
import type { SharedDnsMemory } from "../dns/mod.ts";
import type { SharedStateMemory } from "../store/shared_state.ts";
import type { RuleSetPayload } from "../route/rule_set.ts";
import type { DownloadRequest, DownloadResult } from "../ruleset/download.ts";
import type { ConnsMessage, HubToWorker } from "../conn/mod.ts";
import type { WorkerCall } from "../api/worker_call.ts";
import type { LogEntry } from "../log/mod.ts";
import type { TunEngineInit, WorkerStats } from "../tun/engine_init.ts";

/** Logging setup a worker repeats on its own thread. */
export interface WorkerLogInit {
  options: LogOptions;
  color: boolean;
  /** Epoch ms the main thread's `INFO[0012]` counter starts from, so worker lines agree. */
  baseTime: number;
}

/** What every worker starts with, whatever its role. */
export interface WorkerInitCommon {
  index: number;
  /** The whole decoded config: each worker builds its own router, outbounds and DNS. */
  options: Options;
  /** FakeIP and reverse-mapping tables shared by every worker of the instance. */
  sharedDns: SharedDnsMemory;
  /** Clash mode and selector choices shared by every worker (absent in tests). */
  state?: SharedStateMemory;
  /** The connection id counter shared by every worker (`src/conn/ids.ts`). */
  connIds?: SharedArrayBuffer;
  /** The rule-sets loaded so far (later ones arrive as `rule-set` messages). */
  ruleSets?: RuleSetPayload[];
  log: WorkerLogInit;
  defaultInterface: NetworkInterface | null;
}

/** A packet worker serving one TUN queue (what its engine needs, `src/tun/engine_init.ts`). */
export interface TunWorkerInit extends WorkerInitCommon, TunEngineInit {
  role: "tun";
}

/** A worker hosting the listener inbounds (`socks`, `http`, `mixed`). */
export interface ListenerWorkerInit extends WorkerInitCommon {
  role: "listeners";
}

export type WorkerInit = TunWorkerInit | ListenerWorkerInit;

export { type WorkerStats, zeroStats } from "../tun/engine_init.ts";

export type MainToWorker =
  | { type: "init"; init: WorkerInit }
  | { type: "stop" }
  /** The network changed: new default interface, lost interfaces and addresses. */
  | { type: "network"; change: NetworkChange }
  /** Forget cached DNS answers (the Clash mode changed). */
  | { type: "clear-dns-cache" }
  /**
   * A reload with unchanged inbounds: build new router, outbounds and DNS from `options` and
   * swap them in; end connections through `removedOutbounds`; apply `log` when it changed.
   */
  | { type: "reload"; options: Options; removedOutbounds: string[]; log?: LogOptions }
  | { type: "stats" }
  /** A rule-set was loaded or changed: swap it in (and answer `rule-set-applied` with `seq`). */
  | { type: "rule-set"; payload: RuleSetPayload; seq?: number }
  /** Download a remote rule-set through outbound `detour` (default: the default outbound). */
  | { type: "fetch"; id: number; request: DownloadRequest; detour?: string }
  /** Connection reports and aborts (`src/conn/hub.ts`). */
  | HubToWorker
  /** Forward log records to the main thread (the Clash API's `/logs` has listeners) or stop. */
  | { type: "log-tap"; on: boolean }
  /** A request of the Clash API, answered with `rpc-result` (`src/api/worker_calls.ts`). */
  | { type: "rpc"; seq: number; call: WorkerCall };

export type WorkerToMain =
  | { type: "ready"; wakeFd: number }
  | { type: "failed"; message: string }
  | { type: "stopped"; stats: WorkerStats }
  | { type: "stats"; stats: WorkerStats }
  /** The reload is done: live connections kept, and ended (their outbound was removed). */
  | { type: "reloaded"; kept: number; closed: number }
  | { type: "reload-failed"; message: string }
  /** The answer to `fetch`: the result, or why it failed. */
  | { type: "fetched"; id: number; result?: DownloadResult; error?: string }
  /** The worker's connection report (`src/conn/tracker.ts`). */
  | ConnsMessage
  /** Log records while the tap is on. */
  | { type: "logs"; entries: LogEntry[] }
  | { type: "rpc-result"; seq: number; ok: true; value: unknown }
  | { type: "rpc-result"; seq: number; ok: false; error: string; timeout?: boolean }
  /** The rule-set sent with `seq` is in use by this worker's router and DNS. */
  | { type: "rule-set-applied"; seq: number };
