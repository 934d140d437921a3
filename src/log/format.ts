/**
 * Log line formatting in sing-box's style:
 *
 * - with `timestamp`: `-0700 2006-01-02 15:04:05 INFO tun: message`
 * - without, on a terminal or pipe: `INFO[0012] tun: message` (seconds since start)
 * - without, to a file: `INFO tun: message`
 *
 * The category `["tunbox", "tun"]` is shown as `tun`; deeper categories join with `/`.
 *
 * @module
 */

import type { LogRecord } from "@logtape/logtape";

/** How lines look. */
export interface LineFormat {
  /** ANSI color for the level name. */
  color: boolean;
  /** Local wall-clock time at the start of each line. */
  timestamp: boolean;
  /** When `timestamp` is off: show seconds since `baseTime` as `INFO[0012]`. */
  relative: boolean;
  /** Epoch milliseconds that `relative` counts from. */
  baseTime: number;
  /** Shown before the category, e.g. `worker-1`. */
  workerName?: string;
}

const LEVEL_NAMES: Record<LogRecord["level"], string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARN",
  error: "ERROR",
  fatal: "FATAL",
};

const LEVEL_COLORS: Record<LogRecord["level"], number> = {
  trace: 37,
  debug: 37,
  info: 36,
  warning: 33,
  error: 31,
  fatal: 31,
};

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** Formats a time as Go's `-0700 2006-01-02 15:04:05` in local time. */
export function formatLocalTime(date: Date): string {
  const off = -date.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const abs = Math.abs(off);
  return `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)} ${date.getFullYear()}-${
    pad(date.getMonth() + 1)
  }-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${
    pad(date.getSeconds())
  }`;
}

/** Renders one interpolated value of a message. */
export function renderValue(v: unknown): string {
  if (typeof v === "string") return v;
  if (v instanceof Error) {
    let s = v.message || v.name;
    let cause = v.cause;
    for (let depth = 0; cause !== undefined && depth < 5; depth++) {
      s += `: ${cause instanceof Error ? cause.message : String(cause)}`;
      cause = cause instanceof Error ? cause.cause : undefined;
    }
    return s;
  }
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint" || v == null) {
    return String(v);
  }
  try {
    return Deno.inspect(v, { colors: false, depth: 4, compact: true, breakLength: Infinity });
  } catch {
    return String(v);
  }
}

/** The message of a record with its values filled in. */
export function renderMessage(record: LogRecord): string {
  const parts = record.message;
  let out = "";
  for (let i = 0; i < parts.length; i++) {
    out += i % 2 === 0 ? String(parts[i]) : renderValue(parts[i]);
  }
  return out;
}

/** The short tag for a category (`["tunbox","route","rule"]` → `route/rule`). */
export function categoryTag(category: readonly string[]): string {
  const rest = category[0] === "tunbox" ? category.slice(1) : category;
  return rest.join("/");
}

/** Formats a record as one line (with a trailing newline). */
export function formatLine(record: LogRecord, f: LineFormat): string {
  const name = LEVEL_NAMES[record.level];
  const level = f.color ? `\x1b[${LEVEL_COLORS[record.level]}m${name}\x1b[0m` : name;
  let tag = categoryTag(record.category);
  if (f.workerName) tag = tag ? `${f.workerName}/${tag}` : f.workerName;
  // Keep each record on one line, so a message cannot forge another record.
  const message = renderMessage(record).replace(/\r?\n/g, "\\n");
  const body = tag ? `${tag}: ${message}` : message;
  if (f.timestamp) return `${formatLocalTime(new Date(record.timestamp))} ${level} ${body}\n`;
  if (f.relative) {
    const secs = Math.max(0, Math.floor((record.timestamp - f.baseTime) / 1000));
    return `${level}[${pad(secs, 4)}] ${body}\n`;
  }
  return `${level} ${body}\n`;
}
