/**
 * Log taps: listeners that see every log record the configured level lets through, as plain
 * entries (level and the line's text without time and level). The Clash API's `/logs` stream
 * reads them on the main thread; a worker with a tap forwards its entries to the main thread.
 * With no tap registered the sink returns at once, so logging costs nothing more.
 *
 * ```ts
 * const stop = addLogTap((e) => console.log(e.level, e.message));
 * stop();
 * ```
 *
 * @module
 */

import type { LogRecord, Sink } from "@logtape/logtape";
import { categoryTag, renderMessage } from "./format.ts";

/** One log record as the taps see it. Structured-clone safe. */
export interface LogEntry {
  level: LogRecord["level"];
  /** `category: message`, as the log line shows it after the level. */
  message: string;
  /** Epoch milliseconds. */
  time: number;
}

const taps = new Set<(entry: LogEntry) => void>();

/** Registers `fn` for every record from now on; returns the function that removes it. */
export function addLogTap(fn: (entry: LogEntry) => void): () => void {
  taps.add(fn);
  return () => taps.delete(fn);
}

/** How many taps are registered. */
export function logTapCount(): number {
  return taps.size;
}

/** The entry for a record: `category: message`, one line. */
export function logEntry(record: LogRecord): LogEntry {
  const tag = categoryTag(record.category);
  const message = renderMessage(record).replace(/\r?\n/g, "\\n");
  return {
    level: record.level,
    message: tag ? `${tag}: ${message}` : message,
    time: record.timestamp,
  };
}

/** The logtape sink that feeds the taps (installed by `configureLogging`). */
export const tapSink: Sink = (record) => {
  if (taps.size === 0) return;
  const entry = logEntry(record);
  for (const fn of taps) {
    try {
      fn(entry);
    } catch {
      // A failing tap must not break logging for the others.
    }
  }
};
