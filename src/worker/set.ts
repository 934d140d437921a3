/**
 * Every worker of a running instance as the main thread sees it (TUN packet workers and the
 * listener worker alike): one handle per worker, through which
 *
 * - the {@linkcode ConnectionHub} receives connection reports and sends refreshes and aborts;
 * - the Clash API sends requests (latency tests, DNS queries, group state) and gets answers;
 * - log records are forwarded while the API's `/logs` has listeners ({@linkcode LogFeed}).
 *
 * ```ts
 * const workers = new WorkerSet();
 * const handle = workers.attach("inbound/tun[tun-in] worker 0", (msg) => pool.send(0, msg));
 * pool.onMessage = (_, msg) => workers.receive(handle, msg);
 * await workers.call({ kind: "groups" });
 * ```
 *
 * @module
 */

import { LogFeed } from "../api/logs.ts";
import { type WorkerCall, WorkerCallFailed } from "../api/worker_call.ts";
import { ConnectionHub, createConnIdMemory } from "../conn/mod.ts";
import type { RuleSetPayload } from "../route/rule_set.ts";
import type { MainToWorker, WorkerToMain } from "./protocol.ts";

/** How long a request to a worker may take before it fails (latency tests set their own). */
export const CALL_TIMEOUT_MS = 10_000;

/** One worker, as the main thread reaches it. */
export interface WorkerHandle {
  readonly name: string;
  post(msg: MainToWorker): void;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** The workers of one instance (see the module description). */
export class WorkerSet {
  /** The connection id counter every worker shares. */
  readonly ids: SharedArrayBuffer = createConnIdMemory();
  readonly hub: ConnectionHub = new ConnectionHub();
  readonly logs: LogFeed = new LogFeed((on) => this.#setLogTap(on));
  readonly #handles: WorkerHandle[] = [];
  readonly #pending = new Map<number, Pending>();
  readonly #ruleSetAcks = new Map<number, { left: number; done: () => void }>();
  #seq = 0;
  #logTap = false;

  /** Registers a worker (before it starts, so nothing it reports is missed). */
  attach(name: string, post: (msg: MainToWorker) => void): WorkerHandle {
    const handle: WorkerHandle = { name, post };
    this.#handles.push(handle);
    this.hub.attach(handle);
    if (this.#logTap) post({ type: "log-tap", on: true });
    return handle;
  }

  /** Unregisters a worker that stopped. */
  detach(handle: WorkerHandle): void {
    const i = this.#handles.indexOf(handle);
    if (i >= 0) this.#handles.splice(i, 1);
    this.hub.detach(handle);
  }

  /** Workers registered now. */
  get size(): number {
    return this.#handles.length;
  }

  /** Takes in a message from `handle`'s worker. */
  receive(handle: WorkerHandle, msg: WorkerToMain): void {
    switch (msg.type) {
      case "conns":
        this.hub.receive(handle, msg);
        return;
      case "logs":
        this.logs.push(...msg.entries);
        return;
      case "rule-set-applied": {
        const ack = this.#ruleSetAcks.get(msg.seq);
        if (ack && --ack.left === 0) ack.done();
        return;
      }
      case "rpc-result": {
        const p = this.#pending.get(msg.seq);
        if (!p) return;
        this.#pending.delete(msg.seq);
        clearTimeout(p.timer);
        if (msg.ok) p.resolve(msg.value);
        else p.reject(new WorkerCallFailed(msg.error, msg.timeout === true));
        return;
      }
    }
  }

  /**
   * Sends a loaded or changed rule-set to every worker and resolves once each has it in use,
   * so that what the main thread logs next ("updated ...") is true for every connection that
   * starts after it. A worker that does not answer within `timeoutMs` (busy or stopping) is
   * not waited for longer.
   *
   * ```ts
   * await workers.applyRuleSet({ tag: "geosite-cn", rules });
   * ```
   */
  applyRuleSet(payload: RuleSetPayload, timeoutMs = CALL_TIMEOUT_MS): Promise<void> {
    const handles = [...this.#handles];
    if (handles.length === 0) return Promise.resolve();
    const seq = ++this.#seq;
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const acks = this.#ruleSetAcks;
      function done(): void {
        clearTimeout(timer);
        acks.delete(seq);
        resolve();
      }
      acks.set(seq, { left: handles.length, done });
      for (const h of handles) h.post({ type: "rule-set", payload, seq });
    });
  }

  /** Sends `msg` to every worker. */
  broadcast(msg: MainToWorker): void {
    for (const h of this.#handles) h.post(msg);
  }

  /**
   * Runs `call` in one worker (the first registered: a TUN worker when there is one) and
   * resolves with its answer. Fails when there is no worker or it does not answer in time.
   */
  call(call: WorkerCall, timeoutMs = CALL_TIMEOUT_MS): Promise<unknown> {
    const handle = this.#handles[0];
    if (!handle) return Promise.reject(new WorkerCallFailed("no worker is running"));
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(new WorkerCallFailed(`${handle.name} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(seq, { resolve, reject, timer });
      handle.post({ type: "rpc", seq, call });
    });
  }

  #setLogTap(on: boolean): void {
    this.#logTap = on;
    this.broadcast({ type: "log-tap", on });
  }

  /** Fails pending requests and stops log forwarding (the instance is closing). */
  close(): void {
    for (const [seq, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new WorkerCallFailed("the instance is closing"));
      this.#pending.delete(seq);
    }
    this.logs.close();
  }
}
