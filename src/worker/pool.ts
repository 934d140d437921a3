/**
 * Main-thread side of the reactor workers (a TUN inbound's packet workers, the listener
 * worker): starts Deno Workers that run `entry.ts` (or, for a pool of one, serves `runtime.ts`
 * in this isolate: {@linkcode InProcessWorker}), sends them messages (waking their `epoll_wait`
 * through an eventfd), and stops them in order.
 *
 * A worker blocks in `epoll_wait` for up to 50 ms when idle, so `postMessage` alone could wait
 * that long to be seen; every message is followed by a signal on the worker's wake eventfd,
 * which it reported in its `ready` message (an in-process worker's busy loop takes its next
 * full event-loop turn on that signal too).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { signalWaker } from "../io/sys.ts";
import type { DownloadRequest, DownloadResult } from "../ruleset/download.ts";
import type { MainToWorker, WorkerInit, WorkerStats, WorkerToMain } from "./protocol.ts";

const log = getLogger(["tunbox", "tun"]);

/** What a worker's reload did: live connections kept, and ended (their outbound was removed). */
export interface ReloadCounts {
  kept: number;
  closed: number;
}

/** What the pool needs of a worker: a Deno `Worker`, or {@linkcode InProcessWorker}. */
interface WorkerLike {
  postMessage(message: unknown): void;
  onmessage: ((e: MessageEvent) => void) | null;
  onerror: ((e: ErrorEvent) => void) | null;
  terminate(): void;
}

/**
 * A worker that runs in this isolate (`runtime.ts` served on one end of a `MessageChannel`):
 * the same messages as a Deno Worker, one isolate fewer (23 MiB less RSS idle, measured). Its reactor shares the
 * main thread and never blocks it (`Reactor`'s `sharedThread`).
 */
class InProcessWorker implements WorkerLike {
  onmessage: ((e: MessageEvent) => void) | null = null;
  onerror: ((e: ErrorEvent) => void) | null = null;
  #port: MessagePort;

  constructor(serve: (port: MessagePort) => void) {
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    port1.onmessage = (e) => this.onmessage?.(e);
    serve(port2);
  }

  postMessage(message: unknown): void {
    this.#port.postMessage(message);
  }

  /** Closes the channel (both ends); the worker has posted `stopped` or `failed` by then. */
  terminate(): void {
    this.#port.close();
  }
}

/** Whether an in-process worker runs now: one per process (its state is `runtime.ts`'s). */
let inProcessTaken = false;

/**
 * Whether a pool of `count` workers may run its worker in this isolate: only a pool of one,
 * only one such pool per process, and not with `TUNBOX_IN_PROCESS=0` (every worker a Deno
 * Worker, as before; for comparisons).
 */
function mayRunInProcess(count: number): boolean {
  return count === 1 && !inProcessTaken && Deno.env.get("TUNBOX_IN_PROCESS") !== "0";
}

/** One running worker. */
class PooledWorker {
  readonly worker: WorkerLike;
  wakeFd = -1;
  stats: WorkerStats | undefined;
  #ready: PromiseWithResolvers<void> = Promise.withResolvers();
  #stopped: PromiseWithResolvers<void> = Promise.withResolvers();
  #exited = false;
  #reload: PromiseWithResolvers<ReloadCounts> | undefined;

  constructor(
    readonly index: number,
    worker: WorkerLike,
    onMessage: (index: number, msg: WorkerToMain) => void,
  ) {
    this.worker = worker;
    this.worker.onmessage = (e: MessageEvent<WorkerToMain>) => {
      const msg = e.data;
      switch (msg.type) {
        case "ready":
          this.wakeFd = msg.wakeFd;
          this.#ready.resolve();
          break;
        case "failed":
          this.#ready.reject(new Error(msg.message));
          this.#stopped.resolve();
          break;
        case "stopped":
          this.stats = msg.stats;
          this.#stopped.resolve();
          break;
        case "stats":
          this.stats = msg.stats;
          break;
        case "reloaded":
          this.#reload?.resolve({ kept: msg.kept, closed: msg.closed });
          this.#reload = undefined;
          break;
        case "reload-failed":
          this.#reload?.reject(new Error(msg.message));
          this.#reload = undefined;
          break;
      }
      onMessage(this.index, msg);
    };
    this.worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      const message = `worker ${index} crashed: ${e.message}`;
      log.error(message);
      this.#ready.reject(new Error(message));
      this.#stopped.resolve();
    };
  }

  /** Sends a reload and waits for the worker's answer. */
  reload(msg: Extract<MainToWorker, { type: "reload" }>): Promise<ReloadCounts> {
    this.#reload?.reject(new Error("superseded by another reload"));
    const r = this.#reload = Promise.withResolvers<ReloadCounts>();
    this.send(msg);
    return r.promise;
  }

  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  get stopped(): Promise<void> {
    return this.#stopped.promise;
  }

  send(msg: MainToWorker): void {
    if (this.#exited) return;
    this.worker.postMessage(msg);
    if (this.wakeFd >= 0) signalWaker(this.wakeFd);
  }

  terminate(): void {
    if (this.#exited) return;
    this.#exited = true;
    this.worker.terminate();
  }
}

/** A fixed set of reactor workers sharing one entry module. */
export class WorkerPool {
  #workers: PooledWorker[] = [];
  /** Messages from workers (stats, connection events) are forwarded here. */
  onMessage: ((index: number, msg: WorkerToMain) => void) | null = null;
  #fetches = new Map<number, PromiseWithResolvers<DownloadResult>>();
  #nextFetch = 1;

  /** Whether this pool's worker runs in this isolate (see {@linkcode start}). */
  inProcess = false;

  /**
   * Starts one worker per init message and waits until all report ready (or one fails). A pool
   * of one runs its worker in this isolate when no other does (`runtime.ts`), unless
   * `TUNBOX_IN_PROCESS=0`; otherwise each worker is a Deno Worker running `entry`.
   */
  async start(entry: URL, inits: WorkerInit[]): Promise<void> {
    let serve: ((port: MessagePort) => void) | undefined;
    if (mayRunInProcess(inits.length)) {
      inProcessTaken = this.inProcess = true;
      const { serveWorker } = await import("./runtime.ts");
      serve = (port) => serveWorker(port, globalThis, true);
    }
    for (let i = 0; i < inits.length; i++) {
      const worker: WorkerLike = serve
        ? new InProcessWorker(serve)
        : new Worker(entry, { type: "module", name: `tunbox-worker-${i}` });
      const w = new PooledWorker(i, worker, (index, msg) => {
        if (msg.type === "fetched") this.#fetched(msg);
        else this.onMessage?.(index, msg);
      });
      this.#workers.push(w);
      w.worker.postMessage({ type: "init", init: inits[i]! } satisfies MainToWorker);
    }
    try {
      await Promise.all(this.#workers.map((w) => w.ready));
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Sends a message to worker `index` (ignored when there is none). */
  send(index: number, msg: MainToWorker): void {
    this.#workers[index]?.send(msg);
  }

  /** Sends a message to every worker. */
  /**
   * Downloads through the first worker's outbounds (a remote rule-set): `detour` names the
   * outbound, else the default one. Rejects with the worker's message when the download failed,
   * or after `timeoutMs` when no answer came.
   */
  fetch(request: DownloadRequest, detour?: string, timeoutMs = 120_000): Promise<DownloadResult> {
    const worker = this.#workers[0];
    if (!worker) return Promise.reject(new Error("no worker is running to download with"));
    const id = this.#nextFetch++;
    const pending = Promise.withResolvers<DownloadResult>();
    this.#fetches.set(id, pending);
    const timer = setTimeout(() => {
      if (this.#fetches.delete(id)) {
        pending.reject(new Error(`download ${request.url}: no answer from the worker`));
      }
    }, timeoutMs);
    Deno.unrefTimer(timer);
    pending.promise.finally(() => clearTimeout(timer)).catch(() => {});
    worker.send({ type: "fetch", id, request, ...(detour ? { detour } : {}) });
    return pending.promise;
  }

  #fetched(msg: { id: number; result?: DownloadResult; error?: string }): void {
    const pending = this.#fetches.get(msg.id);
    if (!pending) return;
    this.#fetches.delete(msg.id);
    if (msg.result) pending.resolve(msg.result);
    else pending.reject(new Error(msg.error ?? "download failed"));
  }

  broadcast(msg: MainToWorker): void {
    for (const w of this.#workers) w.send(msg);
  }

  /**
   * Swaps every worker's router, outbounds and DNS for ones built from `msg.options` (see the
   * worker's `reload`); resolves with the summed counts, rejects with the first failure or after
   * `timeoutMs`.
   */
  async reload(
    msg: Extract<MainToWorker, { type: "reload" }>,
    timeoutMs = 10_000,
  ): Promise<ReloadCounts> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`workers did not reload within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
    });
    try {
      const all = await Promise.race([
        Promise.all(this.#workers.map((w) => w.reload(msg))),
        timeout,
      ]);
      return all.reduce((a, b) => ({ kept: a.kept + b.kept, closed: a.closed + b.closed }), {
        kept: 0,
        closed: 0,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Latest stats reported by each worker. */
  stats(): (WorkerStats | undefined)[] {
    return this.#workers.map((w) => w.stats);
  }

  /** Asks every worker to stop, waits up to `timeoutMs`, then terminates them. */
  async stop(timeoutMs = 5000): Promise<void> {
    const workers = this.#workers;
    this.#workers = [];
    for (const p of this.#fetches.values()) p.reject(new Error("the workers stopped"));
    this.#fetches.clear();
    for (const w of workers) w.send({ type: "stop" });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const result = await Promise.race([Promise.all(workers.map((w) => w.stopped)), timeout]);
    clearTimeout(timer);
    if (result === "timeout") {
      log.warn("workers did not stop within {ms} ms; terminating", { ms: timeoutMs });
    }
    for (const w of workers) w.terminate();
    if (this.inProcess) {
      this.inProcess = false;
      // A worker that did not stop in time still holds the module: no other may run there.
      if (result !== "timeout") inProcessTaken = false;
    }
  }
}
