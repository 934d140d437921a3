/**
 * The log stream behind `GET /logs`: the main thread's own records (through a log tap) and the
 * workers' (forwarded while someone listens), fanned out to subscribers with a level filter,
 * as Clash's `{type, payload}` entries. Forwarding from workers is switched on with the first
 * subscriber and off with the last, so workers post nothing while no one watches.
 *
 * ```ts
 * const feed = new LogFeed((on) => box.forwardWorkerLogs(on));
 * const stop = feed.subscribe("info", (e) => ws.send(JSON.stringify(e)));
 * ```
 *
 * @module
 */

import { addLogTap, type LogEntry } from "../log/mod.ts";

/** Clash's log types, most verbose first. */
export type ClashLogType = "debug" | "info" | "warning" | "error";

/** One `/logs` entry. */
export interface ClashLog {
  type: ClashLogType;
  payload: string;
}

const RANK: Record<ClashLogType | "silent", number> = {
  debug: 0,
  info: 1,
  warning: 2,
  error: 3,
  silent: 4,
};

/** The Clash type of a log record's level. */
export function clashLogType(level: LogEntry["level"]): ClashLogType {
  switch (level) {
    case "trace":
    case "debug":
      return "debug";
    case "info":
      return "info";
    case "warning":
      return "warning";
    default:
      return "error";
  }
}

/**
 * Parses `?level=` (sing-box accepts its own names and Clash's): the lowest type shown, or
 * undefined when the name is unknown. Empty means `info`.
 */
export function parseLogLevel(text: string): ClashLogType | "silent" | undefined {
  switch (text.toLowerCase()) {
    case "":
    case "info":
      return "info";
    case "trace":
    case "debug":
      return "debug";
    case "warn":
    case "warning":
      return "warning";
    case "error":
    case "fatal":
    case "panic":
      return "error";
    case "silent":
      return "silent";
    default:
      return undefined;
  }
}

interface Subscriber {
  min: number;
  fn: (entry: ClashLog) => void;
}

/** The fan-out (see the module description). */
export class LogFeed {
  readonly #subs = new Set<Subscriber>();
  #untap: (() => void) | null = null;

  /** `forward(on)` switches the workers' forwarding. */
  constructor(readonly forward: (on: boolean) => void = () => {}) {}

  /** Subscribers now. */
  get size(): number {
    return this.#subs.size;
  }

  /** Delivers `fn` every entry at or above `level`; returns the unsubscribe function. */
  subscribe(level: ClashLogType | "silent", fn: (entry: ClashLog) => void): () => void {
    const sub = { min: RANK[level], fn };
    this.#subs.add(sub);
    if (this.#subs.size === 1) {
      this.#untap = addLogTap((e) => this.push(e));
      this.forward(true);
    }
    return () => {
      if (!this.#subs.delete(sub) || this.#subs.size > 0) return;
      this.#untap?.();
      this.#untap = null;
      this.forward(false);
    };
  }

  /** Takes in records (the main thread's tap, or a worker's forwarded batch). */
  push(...entries: LogEntry[]): void {
    for (const e of entries) {
      const type = clashLogType(e.level);
      const rank = RANK[type];
      const out: ClashLog = { type, payload: e.message };
      for (const s of this.#subs) {
        if (rank < s.min) continue;
        try {
          s.fn(out);
        } catch {
          // A subscriber whose socket went away is removed by its own close handler.
        }
      }
    }
  }

  /** Drops every subscriber (the API is closing). */
  close(): void {
    if (this.#subs.size === 0) return;
    this.#subs.clear();
    this.#untap?.();
    this.#untap = null;
    this.forward(false);
  }
}
