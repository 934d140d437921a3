/**
 * What a reactor worker runs. The main thread sends `init`; the worker builds its reactor and
 * services (outbounds, DNS, router) from the config, then its role:
 *
 * - `tun`: a packet engine on one TUN queue (`engine.ts`);
 * - `listeners`: the `socks`/`http`/`mixed` listener inbounds, routed by the same rules.
 *
 * It answers `ready` with its wake fd and runs the reactor until `stop`.
 *
 * The worker's composition root (as `box.ts` is the main thread's). It runs in a Deno Worker
 * (`entry.ts` hands it the worker's scope) or, when an instance needs only one worker, in the
 * main isolate (`pool.ts` hands it one end of a `MessageChannel`): one isolate fewer, 23 MiB
 * less resident memory idle (docs/architecture.md, "Memory"). Either way `protocol.ts` is what the
 * two sides say. Its state is this module's, so one process serves at most one worker in
 * process ({@linkcode serveWorker}).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { ConnectionPath, ConnIds } from "../conn/mod.ts";
import type { SharedDnsMemory } from "../dns/mod.ts";
import type { SharedStateMemory } from "../store/shared_state.ts";
import type { Options } from "../config/types.ts";
import { Reactor } from "../io/reactor.ts";
import { addLogTap, configureLogging, type LogEntry } from "../log/mod.ts";
import type { WorkerCall } from "../api/worker_call.ts";
import { loadPlatform } from "../platform/mod.ts";
import type { NetworkChange, NetworkInterface } from "../platform/types.ts";
import { BoundSockets } from "../outbound/bound_sockets.ts";
import { idleGc } from "./idle_gc.ts";
import { RuleSetRegistry } from "../route/rule_set.ts";
import { createRuleSetRegistry, fetchForMain, updateRuleSet } from "../ruleset/worker_side.ts";
import type { TunEngine } from "../tun/engine.ts";
import { buildFlowParts, type FlowParts, type PartsBase as FlowPartsBase } from "./flow_parts.ts";
import {
  type MainToWorker,
  type WorkerInit,
  type WorkerStats,
  type WorkerToMain,
  zeroStats,
} from "./protocol.ts";

const log = getLogger(["tunbox", "worker"]);
/** How often connection reports go to the main thread. */
const REPORT_MS = 1000;

/** What one worker runs; everything is closed in reverse order on stop. */
interface Services {
  reactor: Reactor;
  /** Sockets dialed from this host, for network changes. */
  sockets: BoundSockets;
  /** The current parts (`path.services` is `parts.flow`). */
  parts: FlowParts;
  /** Parts replaced by a reload, closed once no connection that started with them is live. */
  retired: { parts: FlowParts; live: Set<number> }[];
  /** Where every flow of this worker goes. */
  path: ConnectionPath;
  closers: (() => void)[];
}

/**
 * How the worker talks to the main thread: a Deno Worker's scope, or one end of a
 * `MessageChannel` in the main isolate.
 */
export interface WorkerPort {
  postMessage(message: unknown, transfer: Transferable[]): void;
  close(): void;
  onmessage: ((e: MessageEvent) => void) | null;
}

let port: WorkerPort | undefined;
/** Running in the main isolate: it shares the thread, the logging and the global handlers. */
let inProcess = false;

let services: Services | undefined;
/** The rule-sets of this worker, kept across reloads, swapped in place by `rule-set` messages. */
let ruleSets = new RuleSetRegistry();
let engine: TunEngine | undefined;
let defaultInterface: NetworkInterface | null = null;

function post(msg: WorkerToMain, transfer: Transferable[] = []): void {
  port?.postMessage(msg, transfer);
}

/** What this worker builds its parts from besides the options (kept across reloads). */
type PartsBase = Omit<FlowPartsBase, "ruleSets" | "defaultInterface"> & {
  sockets: BoundSockets;
};

/** Builds the flow services from the config with this worker's rule-sets and interface. */
function buildParts(options: Options, base: PartsBase): Promise<FlowParts> {
  return buildFlowParts(options, { ...base, ruleSets, defaultInterface: () => defaultInterface });
}

let partsBase: PartsBase | undefined;

/** Builds the reactor, outbounds, DNS module, router and connection path from the config. */
async function buildServices(
  options: Options,
  shared: SharedDnsMemory,
  stateMemory: SharedStateMemory | undefined,
  connIds: SharedArrayBuffer | undefined,
): Promise<Services> {
  const base: PartsBase = partsBase = {
    reactor: new Reactor(1024, { sharedThread: inProcess }),
    sockets: new BoundSockets(),
    platform: await loadPlatform(),
    shared,
    stateMemory,
  };
  const parts = await buildParts(options, base);
  const path = new ConnectionPath({
    reactor: base.reactor,
    services: parts.flow,
    ids: new ConnIds(connIds),
  });
  const s: Services = {
    reactor: base.reactor,
    sockets: base.sockets,
    parts,
    retired: [],
    path,
    closers: [],
  };
  s.closers.push(() => {
    for (const r of s.retired.splice(0)) r.parts.close();
    s.parts.close();
  });
  return s;
}

/**
 * Reload with unchanged inbounds: builds new flow services from `options` and swaps them in,
 * so new connections use the new router, outbounds and DNS while running ones keep what they
 * started with; connections through an outbound that is gone are ended. Returns how many live
 * connections were kept and how many were ended.
 */
async function reload(
  options: Options,
  removed: readonly string[],
): Promise<{ kept: number; closed: number }> {
  const s = services;
  const base = partsBase;
  if (!s || !base) throw new Error("the worker is not running");
  const next = await buildParts(options, base);
  const old = s.parts;
  s.parts = next;
  s.path.services = next.flow;
  const gone = new Set(removed);
  let closed = 0;
  const live = new Set<number>();
  for (const c of [...s.path.tracker.live()]) {
    const rec = c.record;
    if (gone.has(rec.outbound) || rec.chain.some((t) => gone.has(t))) {
      c.abort(new Error(`outbound "${rec.outbound}" was removed by a reload`));
      closed++;
    } else live.add(rec.id);
  }
  s.retired.push({ parts: old, live });
  sweepRetired();
  return { kept: live.size, closed };
}

/** Closes replaced parts whose connections have all ended. */
function sweepRetired(): void {
  const s = services;
  if (!s || s.retired.length === 0) return;
  s.retired = s.retired.filter((r) => {
    for (const id of r.live) if (!s.path.tracker.get(id)) r.live.delete(id);
    if (r.live.size > 0) return true;
    try {
      r.parts.close();
    } catch (error) {
      log.error("closing replaced services: {error}", { error: String(error) });
    }
    return false;
  });
}

/** Posts this worker's connection report (when something changed, or always for a `seq`). */
function postReport(seq?: number): void {
  const s = services;
  if (!s) return;
  const report = s.path.tracker.report();
  if (report === null && seq === undefined) return;
  post({
    type: "conns",
    report: report ?? { opened: [], updates: [], closed: [] },
    ...(seq !== undefined ? { seq } : {}),
  });
}

const EMPTY_STATS: WorkerStats = zeroStats();

/** This worker's logging settings besides the options (for a reload's new `log`). */
let workerLog: Parameters<typeof configureLogging>[1] | undefined;

async function start(init: WorkerInit): Promise<void> {
  workerLog = {
    color: init.log.color,
    workerName: init.role === "tun" ? `worker-${init.index}` : "listeners",
    baseTime: init.log.baseTime,
  };
  // In process, the main thread's logging (same options) already goes where this would.
  if (!inProcess) await configureLogging(init.log.options, workerLog);
  defaultInterface = init.defaultInterface;
  ruleSets = createRuleSetRegistry(init.options, init.ruleSets);
  const s = services = await buildServices(
    init.options,
    init.sharedDns,
    init.state,
    init.connIds,
  );
  const r = s.reactor;
  if (logTapWanted) setLogTap(true);
  // After a burst the worker goes quiet with its dead connections still in the heap (idle_gc.ts).
  const idle = idleGc();
  const report = () => {
    postReport();
    sweepRetired();
    idle?.tick();
    r.setTimeout(REPORT_MS, report);
  };
  r.setTimeout(REPORT_MS, report);
  // A worker imports the engine or the listeners its role runs, not both (each isolate's module
  // graph is resident memory: docs/architecture.md, "Memory").
  if (init.role === "tun") {
    const { TunEngine } = await import("../tun/engine.ts");
    const e = engine = new TunEngine(init, r, s.path, init.natListenFds ?? []);
    s.closers.unshift(() => e.close());
  } else {
    const [{ ListenerInbound }, { DirectInbound }, { TproxyInbound }, { RedirectInbound }] =
      await Promise.all([
        import("../inbound/listener.ts"),
        import("../inbound/direct.ts"),
        import("../inbound/tproxy.ts"),
        import("../inbound/redirect.ts"),
      ]);
    const { createRouterHandler } = await import("../inbound/router_handler.ts");
    const handler = createRouterHandler(s.path);
    for (const opts of init.options.inbounds) {
      if (opts.type === "tun") continue;
      const settings = {
        nextId: () => s.path.nextId(),
        ...(partsBase?.platform ? { platform: partsBase.platform } : {}),
      };
      const listener = opts.type === "direct"
        ? new DirectInbound(r, opts, handler, settings)
        : opts.type === "tproxy"
        ? new TproxyInbound(r, opts, handler, settings)
        : opts.type === "redirect"
        ? new RedirectInbound(r, opts, handler, settings)
        : new ListenerInbound(r, opts, handler, settings);
      log.info("inbound/{type}[{tag}]: listening", { type: opts.type, tag: opts.tag });
      s.closers.unshift(() => listener.close());
    }
    s.closers.unshift(() => handler.close());
  }
  post({ type: "ready", wakeFd: r.wakeFd });
  await r.run();
}

/** How often forwarded log records are posted (and at most how many per message). */
const LOG_FLUSH_MS = 100;
const LOG_BATCH = 500;
interface LogTap {
  stop: () => void;
  entries: LogEntry[];
  timer: { cancel(): void } | null;
}
let logTap: LogTap | null = null;

/** Whether the main thread wants log records (it may ask before the services exist). */
let logTapWanted = false;

/** Starts or stops forwarding log records to the main thread (for the Clash API's `/logs`). */
function setLogTap(on: boolean): void {
  // In process, the main thread's own tap already sees this worker's records.
  if (inProcess) return;
  logTapWanted = on;
  const r = services?.reactor;
  if (!on || !r) {
    logTap?.stop();
    logTap?.timer?.cancel();
    logTap = null;
    return;
  }
  if (logTap) return;
  const tap: LogTap = { stop: () => {}, entries: [], timer: null };
  const flush = () => {
    tap.timer = null;
    if (tap.entries.length > 0) post({ type: "logs", entries: tap.entries.splice(0) });
  };
  tap.stop = addLogTap((entry) => {
    if (tap.entries.length >= LOG_BATCH) return; // the main thread is not keeping up: drop
    tap.entries.push(entry);
    tap.timer ??= r.setTimeout(LOG_FLUSH_MS, flush);
  });
  logTap = tap;
}

/** Answers a Clash API request. */
function rpc(seq: number, call: WorkerCall): void {
  const s = services;
  if (!s) {
    post({ type: "rpc-result", seq, ok: false, error: "the worker is not running" });
    return;
  }
  // The current parts: a reload replaces them.
  const { outbounds, dns, certificate } = s.parts;
  // Imported on the first call: URL tests need TLS, which a worker otherwise may never load.
  void import("../api/worker_calls.ts").then(async ({ runWorkerCall, DelayTimeoutError }) => {
    try {
      const value = await runWorkerCall(call, {
        reactor: s.reactor,
        outbounds,
        dns,
        ...(certificate ? { certificate } : {}),
      });
      post({ type: "rpc-result", seq, ok: true, value });
    } catch (error) {
      post({
        type: "rpc-result",
        seq,
        ok: false,
        error: error instanceof Error ? error.message : String(error),
        ...(error instanceof DelayTimeoutError ? { timeout: true } : {}),
      });
    }
  });
}

/**
 * A network change: new dials bind to the new default interface (auto_detect_interface reads
 * `defaultInterface`), and sockets on a lost interface or address are ended now.
 */
function networkChanged(change: NetworkChange): void {
  defaultInterface = change.defaultInterface;
  const s = services;
  if (!s) return;
  const ended = s.sockets.networkChanged(change);
  if (ended.tcp + ended.udp > 0) {
    log.info(
      "network changed ({changes}): ended {tcp} TCP and {udp} UDP socket(s) that used what is gone",
      { changes: change.descriptions.join("; "), tcp: ended.tcp, udp: ended.udp },
    );
  }
}

function stop(): void {
  setLogTap(false);
  const s = services;
  if (!s) {
    port?.close();
    return;
  }
  for (const close of s.closers) {
    try {
      close();
    } catch (error) {
      log.error("closing: {error}", { error: String(error) });
    }
  }
  s.reactor.stop();
}

/** Logs a failure inside one flow instead of letting it end the worker and every other flow. */
function onUnhandledRejection(e: PromiseRejectionEvent): void {
  e.preventDefault();
  log.error("unhandled error in a flow: {error}", { error: String(e.reason) });
}

function onUncaughtError(e: ErrorEvent): void {
  e.preventDefault();
  log.error("uncaught error: {error}", { error: e.message });
}

let scopeServed: EventTarget | undefined;

/** After `stopped` or `failed`: the port is closed and the module can serve a new worker. */
function release(): void {
  port?.close();
  port = undefined;
  scopeServed?.removeEventListener("unhandledrejection", onUnhandledRejection as EventListener);
  scopeServed?.removeEventListener("error", onUncaughtError as EventListener);
  scopeServed = undefined;
  services = undefined;
  partsBase = undefined;
  engine = undefined;
  ruleSets = new RuleSetRegistry();
  defaultInterface = null;
  workerLog = undefined;
  logTapWanted = false;
}

/**
 * Serves the worker protocol on `p` until the worker stops. In a Deno Worker, `scope` is the
 * worker's global scope; in process (`runsInProcess`), the main isolate's, where a failure
 * inside one flow is then logged instead of ending the process, as in a worker. One worker at
 * a time per isolate: the state is this module's.
 *
 * ```ts
 * const { port1, port2 } = new MessageChannel();
 * serveWorker(port2, globalThis, true);
 * port1.postMessage({ type: "init", init }); // then as with a Deno Worker
 * ```
 */
export function serveWorker(p: WorkerPort, scope: EventTarget, runsInProcess: boolean): void {
  if (port) throw new Error("this isolate already runs a worker");
  port = p;
  inProcess = runsInProcess;
  scopeServed = scope;
  scope.addEventListener("unhandledrejection", onUnhandledRejection as EventListener);
  scope.addEventListener("error", onUncaughtError as EventListener);
  p.onmessage = (e: MessageEvent<MainToWorker>) => handle(e.data);
}

/** Whether this isolate runs a worker now (at most one at a time). */
export function servingWorker(): boolean {
  return port !== undefined;
}

function handle(msg: MainToWorker): void {
  switch (msg.type) {
    case "init":
      start(msg.init).then(() => {
        postReport();
        const stats = engine?.snapshot() ?? EMPTY_STATS;
        services?.reactor.close();
        post({ type: "stopped", stats });
        release();
      }, (error) => {
        const message = error instanceof Error ? error.message : String(error);
        log.error("worker failed to start: {message}", { message });
        services?.reactor.close();
        post({ type: "failed", message });
        release();
      });
      return;
    case "stop":
      stop();
      return;
    case "network":
      networkChanged(msg.change);
      return;
    case "clear-dns-cache":
      services?.parts.dns.clearCache();
      return;
    case "reload": {
      // Async only while the new config's outbound modules are imported (`buildFlowParts`).
      reload(msg.options, msg.removedOutbounds).then((r) => {
        if (msg.log && workerLog && !inProcess) {
          configureLogging(msg.log, workerLog).catch((error) =>
            log.error("reload logging: {error}", { error: String(error) })
          );
        }
        post({ type: "reloaded", ...r });
      }, (error) => {
        const message = error instanceof Error ? error.message : String(error);
        log.error("reload failed: {message}", { message });
        post({ type: "reload-failed", message });
      });
      return;
    }
    case "stats":
      post({ type: "stats", stats: engine?.snapshot() ?? EMPTY_STATS });
      return;
    case "rule-set":
      updateRuleSet(ruleSets, msg.payload);
      if (msg.seq !== undefined) post({ type: "rule-set-applied", seq: msg.seq });
      return;
    case "fetch": {
      const parts = services?.parts;
      if (!parts) {
        post({ type: "fetched", id: msg.id, error: "the worker is not running" });
        return;
      }
      fetchForMain(parts.outbounds, parts.defaultOutbound, services!.reactor, msg).then((a) => {
        const body = a.result?.body;
        post(a, body ? [body.buffer as ArrayBuffer] : []);
      });
      return;
    }
    case "conn-report":
      postReport(msg.seq);
      return;
    case "log-tap":
      setLogTap(msg.on);
      return;
    case "rpc":
      rpc(msg.seq, msg.call);
      return;
    case "conn-abort": {
      const tracker = services?.path.tracker;
      if (!tracker) return;
      if (msg.ids === null) tracker.abortAll(msg.reason);
      else for (const id of msg.ids) tracker.abort(id, msg.reason);
      return;
    }
  }
}
