/**
 * The main thread's view of every connection of the instance: the live connections of all
 * workers (with the byte counters they last reported) and a ring of the most recent closed
 * ones, as the Clash API, `tunbox connections` and the demo read them.
 *
 * Workers are separate isolates, so the hub learns by messages: each worker posts a
 * {@linkcode ConnReport} once a second (new connections, counters that moved, connections that
 * ended) and at once when the hub asks ({@linkcode ConnectionHub.refresh}, which an API request
 * awaits, bounded by a short timeout, so the counters it shows are current). Closing a
 * connection is a message to the worker that owns it (the hub knows from the report that opened
 * it); that worker aborts it, and its report then carries the closed record.
 *
 * ```ts
 * const hub = new ConnectionHub();
 * const link = hub.attach({ name: "tun[tun-in] worker 0", post: (m) => pool.send(0, m) });
 * pool.onMessage = (_, msg) => hub.receive(link, msg);
 * await hub.refresh();
 * hub.snapshot().live;  // ConnRecord[]
 * hub.abort(42);        // resets connection 42 in whichever worker has it
 * ```
 *
 * @module
 */

import type { ConnRecord } from "./record.ts";
import type { ConnReport } from "./tracker.ts";

/** Closed connections kept (sing-box keeps 1000). */
export const CLOSED_LIMIT = 1000;
/** How long {@linkcode ConnectionHub.refresh} waits for workers at most. */
export const REFRESH_TIMEOUT_MS = 250;
/** A refresh newer than this is reused instead of asking again. */
const REFRESH_REUSE_MS = 100;

/** Messages the hub sends to a worker. */
export type HubToWorker =
  /** Report connections now, answering with `seq`. */
  | { type: "conn-report"; seq: number }
  /** Abort these live connections (null: all of them). */
  | { type: "conn-abort"; ids: number[] | null; reason: string };

/** A worker's connection report, as posted to the main thread. */
export interface ConnsMessage {
  type: "conns";
  report: ConnReport;
  /** The refresh it answers, if any. */
  seq?: number;
}

/** How the hub reaches one worker. */
export interface WorkerLink {
  /** For messages: `tun[tun-in] worker 0`, `listeners`. */
  readonly name: string;
  post(msg: HubToWorker): void;
}

interface Attached {
  link: WorkerLink;
  /** The highest refresh `seq` this worker answered. */
  answered: number;
}

/** A consistent copy of the hub's state. */
export interface HubSnapshot {
  /** Live connections, oldest first (copies). */
  live: ConnRecord[];
  /** Recently closed connections, oldest first (copies). */
  closed: ConnRecord[];
  /** Bytes of every connection since start (closed ones plus live counters). */
  uploadTotal: number;
  downloadTotal: number;
}

/** The live view and the closed ring (see the module description). */
export class ConnectionHub {
  readonly #live = new Map<number, { record: ConnRecord; owner: Attached }>();
  #closed: ConnRecord[] = [];
  readonly #workers = new Set<Attached>();
  #uploadClosed = 0;
  #downloadClosed = 0;
  #seq = 0;
  #refreshing: Promise<void> | null = null;
  #refreshedAt = -Infinity;
  #waiters: { seq: number; resolve: () => void }[] = [];
  /** Called after each report is taken in (the WebSocket streams and the CLI listen). */
  onChange: (() => void) | null = null;

  constructor(readonly closedLimit = CLOSED_LIMIT) {}

  /** Registers a worker; returns the handle its messages are received with. */
  attach(link: WorkerLink): WorkerLink {
    this.#workers.add({ link, answered: 0 });
    return link;
  }

  /**
   * Unregisters a worker that stopped: its connections that are still listed as live move to
   * the closed ring (their last counters, `error` "worker stopped").
   */
  detach(link: WorkerLink): void {
    const w = this.#find(link);
    if (!w) return;
    this.#workers.delete(w);
    const now = Date.now();
    for (const [id, entry] of this.#live) {
      if (entry.owner !== w) continue;
      this.#live.delete(id);
      this.#addClosed({ ...entry.record, end: now, error: "worker stopped" });
    }
    this.#wake();
  }

  #find(link: WorkerLink): Attached | undefined {
    for (const w of this.#workers) if (w.link === link) return w;
    return undefined;
  }

  /** Takes in a worker message; returns false when it is not a connection report. */
  receive(
    link: WorkerLink,
    msg: { readonly type: string; report?: ConnReport; seq?: number },
  ): boolean {
    if (msg.type !== "conns" || msg.report === undefined) return false;
    const w = this.#find(link);
    if (!w) return true;
    const { report, seq } = msg;
    for (const rec of report.opened) this.#live.set(rec.id, { record: rec, owner: w });
    const u = report.updates;
    for (let i = 0; i + 2 < u.length; i += 3) {
      const entry = this.#live.get(u[i]!);
      if (!entry) continue;
      entry.record.upload = u[i + 1]!;
      entry.record.download = u[i + 2]!;
    }
    for (const rec of report.closed) {
      this.#live.delete(rec.id);
      this.#addClosed(rec);
    }
    if (seq !== undefined && seq > w.answered) w.answered = seq;
    this.#wake();
    this.onChange?.();
    return true;
  }

  #addClosed(rec: ConnRecord): void {
    this.#uploadClosed += rec.upload;
    this.#downloadClosed += rec.download;
    this.#closed.push(rec);
    if (this.#closed.length > this.closedLimit * 2) {
      this.#closed = this.#closed.slice(-this.closedLimit);
    }
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const done = (seq: number) => [...this.#workers].every((w) => w.answered >= seq);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!done(waiter.seq)) return true;
      waiter.resolve();
      return false;
    });
  }

  /**
   * Asks every worker for a report now and resolves when all answered, or after `timeoutMs`
   * (a busy worker is shown with its previous counters). Concurrent callers share one round.
   */
  refresh(timeoutMs = REFRESH_TIMEOUT_MS): Promise<void> {
    if (this.#refreshing) return this.#refreshing;
    if (performance.now() - this.#refreshedAt < REFRESH_REUSE_MS) return Promise.resolve();
    if (this.#workers.size === 0) return Promise.resolve();
    const seq = ++this.#seq;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiters.push({ seq, resolve });
    for (const w of this.#workers) w.link.post({ type: "conn-report", seq });
    const timer = setTimeout(resolve, timeoutMs);
    this.#refreshing = promise.finally(() => {
      clearTimeout(timer);
      this.#waiters = this.#waiters.filter((x) => x.seq !== seq);
      this.#refreshing = null;
      this.#refreshedAt = performance.now();
    });
    return this.#refreshing;
  }

  /** Live connections now. */
  get liveCount(): number {
    return this.#live.size;
  }

  /** A copy of the live view and the closed ring with totals. */
  snapshot(): HubSnapshot {
    let up = this.#uploadClosed, down = this.#downloadClosed;
    const live: ConnRecord[] = [];
    for (const { record } of this.#live.values()) {
      up += record.upload;
      down += record.download;
      live.push({ ...record });
    }
    const closed = this.#closed.slice(-this.closedLimit).map((r) => ({ ...r }));
    return { live, closed, uploadTotal: up, downloadTotal: down };
  }

  /** The live connection `id`, if any (a copy). */
  get(id: number): ConnRecord | undefined {
    const e = this.#live.get(id);
    return e ? { ...e.record } : undefined;
  }

  /**
   * Asks the worker that owns live connection `id` to abort it (the client sees a reset).
   * False when no live connection has that id.
   */
  abort(id: number, reason = "closed from the API"): boolean {
    const entry = this.#live.get(id);
    if (!entry) return false;
    entry.owner.link.post({ type: "conn-abort", ids: [id], reason });
    return true;
  }

  /** Asks every worker to abort all its connections; returns how many were live. */
  abortAll(reason = "closed from the API"): number {
    for (const w of this.#workers) w.link.post({ type: "conn-abort", ids: null, reason });
    return this.#live.size;
  }
}
