/**
 * The connections of one worker (sing-box's traffic manager, per isolate): every routed flow is
 * a {@linkcode TrackedConn} here while it is live, and its record moves to a report when it
 * ends. The worker posts a {@linkcode ConnReport} to the main thread once a second (and when
 * asked), where the {@linkcode ConnectionHub} keeps the live view and the closed ring.
 *
 * Nothing here runs per packet: counters stay where the relays keep them and are read through
 * {@linkcode ConnControl} only when a report is made.
 *
 * ```ts
 * const tracker = new ConnTracker();
 * const conn = tracker.open(record);
 * conn.control = relayControl;      // up/down getters and abort()
 * tracker.report();                 // { opened: [record], updates: [], closed: [] }
 * tracker.abort(record.id, "closed from the Clash API");
 * ```
 *
 * @module
 */

import type { ConnRecord } from "./record.ts";

/** How the tracker reads a running connection's counters and ends it. */
export interface ConnControl {
  /** Bytes from the client to the destination so far. */
  readonly up: number;
  /** Bytes from the destination to the client so far. */
  readonly down: number;
  /** Ends the connection at once with a reset (TCP) or by closing the session (UDP). */
  abort(reason: Error): void;
}

/** What a worker reports to the main thread; structured-clone safe. */
export interface ConnReport {
  /** Connections that became live since the last report. */
  opened: ConnRecord[];
  /** `[id, upload, download]` triples, flat, for live connections whose counters moved. */
  updates: number[];
  /** Connections that ended since the last report (final counters, `end`, `error`). */
  closed: ConnRecord[];
}

/** Closed records kept for the next report at most (the main thread reads them every second). */
const MAX_PENDING_CLOSED = 2000;

/** One live connection. */
export class TrackedConn {
  /** Set by the connection path once bytes can move. */
  control: ConnControl | null = null;
  /** Why the connection was aborted before it had a control (checked after each await). */
  aborted: Error | null = null;
  /** Counters last reported. */
  reportedUp = 0;
  reportedDown = 0;
  ended = false;

  constructor(readonly record: ConnRecord) {}

  get up(): number {
    return this.control?.up ?? this.record.upload;
  }

  get down(): number {
    return this.control?.down ?? this.record.download;
  }

  /** Ends the connection (now, or as soon as the path sees `aborted`). */
  abort(reason: Error): void {
    if (this.ended) return;
    if (this.control) this.control.abort(reason);
    else this.aborted ??= reason;
  }
}

/** The live connections of one worker and the events not yet reported. */
export class ConnTracker {
  readonly #live = new Map<number, TrackedConn>();
  #opened: ConnRecord[] = [];
  #closed: ConnRecord[] = [];
  /** Bytes of connections that ended, since start. */
  uploadClosed = 0;
  downloadClosed = 0;
  /** Connections tracked since start. */
  total = 0;

  /** Live connections now. */
  get size(): number {
    return this.#live.size;
  }

  /** The live connection `id`, if any. */
  get(id: number): TrackedConn | undefined {
    return this.#live.get(id);
  }

  /** Live connections (for tests and the worker's own diagnostics). */
  live(): IterableIterator<TrackedConn> {
    return this.#live.values();
  }

  /** Starts tracking a routed connection. */
  open(record: ConnRecord): TrackedConn {
    const conn = new TrackedConn(record);
    this.#live.set(record.id, conn);
    this.#opened.push(record);
    this.total++;
    return conn;
  }

  /**
   * Ends a tracked connection: final counters (from `final`, else its control), end time and
   * error. Idempotent.
   */
  finish(conn: TrackedConn, error?: string, final?: { up: number; down: number }): void {
    if (conn.ended) return;
    conn.ended = true;
    const rec = conn.record;
    rec.upload = final?.up ?? conn.up;
    rec.download = final?.down ?? conn.down;
    rec.end = Date.now();
    if (error !== undefined && error !== "") rec.error = error;
    conn.control = null;
    this.#live.delete(rec.id);
    this.#pushClosed(rec);
  }

  /** Records a flow refused before it was tracked (no decision, or refused at the SYN). */
  refused(record: ConnRecord, error?: string): void {
    record.end = Date.now();
    if (error !== undefined && error !== "") record.error = error;
    this.total++;
    this.#pushClosed(record);
  }

  #pushClosed(rec: ConnRecord): void {
    this.uploadClosed += rec.upload;
    this.downloadClosed += rec.download;
    this.#closed.push(rec);
    if (this.#closed.length > MAX_PENDING_CLOSED) {
      this.#closed.splice(0, this.#closed.length - MAX_PENDING_CLOSED);
    }
  }

  /** Aborts live connection `id`; false when it is not live here. */
  abort(id: number, reason: string): boolean {
    const conn = this.#live.get(id);
    if (!conn) return false;
    conn.abort(new Error(reason));
    return true;
  }

  /** Aborts every live connection; returns how many. */
  abortAll(reason: string): number {
    const all = [...this.#live.values()];
    for (const c of all) c.abort(new Error(reason));
    return all.length;
  }

  /** Bytes moved by live connections now (read from their controls). */
  liveBytes(): { up: number; down: number } {
    let up = 0, down = 0;
    for (const c of this.#live.values()) {
      up += c.up;
      down += c.down;
    }
    return { up, down };
  }

  /**
   * The events since the last report, or null when nothing changed. Counters of live connections
   * are read here (not per packet).
   */
  report(): ConnReport | null {
    const updates: number[] = [];
    for (const c of this.#live.values()) {
      const up = c.up, down = c.down;
      if (up === c.reportedUp && down === c.reportedDown) continue;
      c.reportedUp = up;
      c.reportedDown = down;
      updates.push(c.record.id, up, down);
    }
    if (this.#opened.length === 0 && this.#closed.length === 0 && updates.length === 0) {
      return null;
    }
    const report = { opened: this.#opened, updates, closed: this.#closed };
    this.#opened = [];
    this.#closed = [];
    return report;
  }
}
