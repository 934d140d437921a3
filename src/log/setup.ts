/**
 * Logging setup from the config's `log` section, on the main thread and inside Deno Workers.
 *
 * Modules log through logtape: `getLogger(["tunbox", "<module>"])`. Lines are written
 * synchronously (`writeSync` to stderr or to the `output` file opened for append), because a
 * packet worker blocks in `epoll_wait` and an asynchronous write would wait until it wakes.
 *
 * On hot paths, check the level before building a message: `if (isEnabled("debug")) ...` is one
 * comparison (logtape's own `logger.isEnabledFor("debug")` also works but walks the category
 * tree).
 *
 * @module
 */

import {
  configure,
  type LogLevel as LogtapeLevel,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";
import type { LogLevel, LogOptions } from "../config/types.ts";
import { formatLine, type LineFormat } from "./format.ts";
import { tapSink } from "./tap.ts";

/** Options that do not come from the config file. */
export interface LoggingSetup {
  /** ANSI colors (the CLI passes false for `--disable-color`, non-terminals and `NO_COLOR`). */
  color: boolean;
  /** Shown in every line of a worker, e.g. `worker-1`. */
  workerName?: string;
  /** Epoch milliseconds the `INFO[0012]` counter starts from (defaults to process start). */
  baseTime?: number;
}

const LEVEL_MAP: Record<LogLevel, LogtapeLevel> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warn: "warning",
  error: "error",
  fatal: "fatal",
  panic: "fatal",
};

const RANK: Record<LogtapeLevel, number> = {
  trace: 0,
  debug: 1,
  info: 2,
  warning: 3,
  error: 4,
  fatal: 5,
};

/** Records below this rank are dropped; `Infinity` when logging is disabled. */
let threshold = RANK.info;

/** The logtape level for a sing-box level name (`panic` is `fatal`). */
export function toLogtapeLevel(level: LogLevel): LogtapeLevel {
  return LEVEL_MAP[level];
}

/**
 * True when a record of `level` would be written. A single comparison, for hot paths; accepts
 * sing-box (`warn`, `panic`) and logtape (`warning`) names.
 */
export function isEnabled(level: LogLevel | LogtapeLevel): boolean {
  const l = level in LEVEL_MAP ? LEVEL_MAP[level as LogLevel] : level as LogtapeLevel;
  return RANK[l] >= threshold;
}

/** Writes all of `bytes` to `fd`-like writer synchronously. */
function writeAllSync(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
}

/** A synchronous sink writing formatted lines to stderr or an append-only file. */
export function lineSink(
  format: LineFormat,
  target: { writeSync(p: Uint8Array): number; close?(): void },
): Sink & Disposable {
  const encoder = new TextEncoder();
  const sink = ((record: LogRecord) => {
    try {
      writeAllSync(target, encoder.encode(formatLine(record, format)));
    } catch {
      // Nowhere left to report a failing log write; drop the line.
    }
  }) as Sink & Disposable;
  sink[Symbol.dispose] = () => {
    try {
      target.close?.();
    } catch {
      // Already closed.
    }
  };
  return sink;
}

/**
 * Configures logtape from the `log` section: `disabled`, `level` (default `info`), `output` (a
 * file path, appended to, relative to the working directory) and `timestamp`. Safe to call again
 * (on reload): the previous sinks are closed first.
 */
export async function configureLogging(options: LogOptions, setup: LoggingSetup): Promise<void> {
  const level = toLogtapeLevel(options.level ?? "info");
  const toFile = options.output !== undefined && options.output !== "" &&
    options.output !== "stderr" && options.output !== "stdout";
  const format: LineFormat = {
    color: setup.color && !toFile,
    timestamp: options.timestamp === true,
    relative: !toFile,
    baseTime: setup.baseTime ?? performance.timeOrigin,
  };
  if (setup.workerName !== undefined) format.workerName = setup.workerName;
  // Only a file we opened gets a close(); stderr/stdout stay open across reconfigurations.
  let target: { writeSync(p: Uint8Array): number; close?(): void } = {
    writeSync: (p) => Deno.stderr.writeSync(p),
  };
  if (options.output === "stdout") target = { writeSync: (p) => Deno.stdout.writeSync(p) };
  if (toFile && !options.disabled) {
    const file = Deno.openSync(options.output!, { write: true, append: true, create: true });
    target = { writeSync: (p) => file.writeSync(p), close: () => file.close() };
  }
  const disabled = options.disabled === true;
  threshold = disabled ? Infinity : RANK[level];
  await configure({
    reset: true,
    sinks: { out: lineSink(format, target), tap: tapSink },
    loggers: [
      {
        category: ["tunbox"],
        sinks: disabled ? [] : ["out", "tap"],
        lowestLevel: disabled ? null : level,
      },
      { category: ["logtape", "meta"], sinks: disabled ? [] : ["out"], lowestLevel: "warning" },
    ],
  });
}

/** Removes the logging configuration and closes the output file. */
export async function resetLogging(): Promise<void> {
  threshold = RANK.info;
  await reset();
}
