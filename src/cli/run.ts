/**
 * `tunbox run`: load the configuration, start a {@linkcode Box}, and serve signals the way
 * sing-box does:
 *
 * - SIGINT/SIGTERM: close the box and exit 0; a second signal while closing forces exit 1; a
 *   close that takes longer than {@linkcode FATAL_STOP_TIMEOUT_MS} is fatal (exit 1);
 * - SIGHUP: reload the configuration from the same sources; on errors log them and keep the
 *   running box. When the inbounds are unchanged the box applies the rest in place (router,
 *   outbounds, DNS; connections continue: {@linkcode Box.reload}); otherwise close the old box,
 *   then create and start the new one.
 *
 * @module
 */

import { raiseOpenFilesLimit } from "../io/sys.ts";
import { getLogger } from "@logtape/logtape";
import { Box } from "../box.ts";
import type { ConfigDiagnostic } from "../config/diagnostic.ts";
import type { ConfigSource } from "../config/load.ts";
import { loadAndCheck } from "./check.ts";
import type { Options } from "../config/types.ts";
import { configureLogging } from "../log/mod.ts";
import { printDiagnostics } from "./output.ts";
import { summarize } from "./summary.ts";

/** How long a close may take before the process gives up (sing-box `FatalStopTimeout`). */
export const FATAL_STOP_TIMEOUT_MS = 10_000;

const log = getLogger(["tunbox", "cli"]);
const configLog = getLogger(["tunbox", "config"]);

/** What `run` needs from the command line. */
export interface RunInit {
  sources: ConfigSource[];
  color: boolean;
  dryRun: boolean;
}

type StopSignal = "SIGINT" | "SIGTERM" | "SIGHUP";

/** Queues the signals `run` handles; `next()` waits for one. */
class SignalQueue {
  readonly #queue: StopSignal[] = [];
  #wake: (() => void) | undefined;
  /** Called instead of queueing while set (used to force exit during a close). */
  onSignal: ((s: StopSignal) => void) | undefined;
  readonly #handlers: [StopSignal, () => void][] = [];

  constructor() {
    const signals: StopSignal[] = Deno.build.os === "windows"
      ? ["SIGINT"]
      : ["SIGINT", "SIGTERM", "SIGHUP"];
    for (const s of signals) {
      const h = () => {
        if (this.onSignal) return this.onSignal(s);
        this.#queue.push(s);
        this.#wake?.();
      };
      Deno.addSignalListener(s, h);
      this.#handlers.push([s, h]);
    }
  }

  async next(): Promise<StopSignal> {
    while (this.#queue.length === 0) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
    return this.#queue.shift()!;
  }

  close(): void {
    for (const [s, h] of this.#handlers) Deno.removeSignalListener(s, h);
  }
}

function logDiagnostics(list: ConfigDiagnostic[], level: "warn" | "error", prefix = ""): void {
  for (const d of list) {
    if (level === "warn") {
      configLog.warn("{prefix}{diagnostic}", { prefix, diagnostic: d.format() });
    } else configLog.error("{prefix}{diagnostic}", { prefix, diagnostic: d.format() });
  }
}

/** Closes `box`, exiting the process if it takes longer than the fatal timeout. */
async function closeWithDeadline(box: Box): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), FATAL_STOP_TIMEOUT_MS);
  });
  try {
    const r = await Promise.race([box.close().then(() => "closed" as const), deadline]);
    if (r === "timeout") {
      log.fatal("tunbox did not close within {seconds} s", {
        seconds: FATAL_STOP_TIMEOUT_MS / 1000,
      });
      return false;
    }
    return true;
  } catch (e) {
    log.error("tunbox did not close properly: {error}", { error: e });
    return true;
  } finally {
    clearTimeout(timer);
  }
}

async function startBox(
  options: Options,
  init: RunInit,
  configPaths: string[],
): Promise<Box | undefined> {
  const started = performance.now();
  let box: Box | undefined;
  try {
    box = await Box.create({
      options,
      configPaths,
      workingDirectory: Deno.cwd(),
      dryRun: init.dryRun,
      color: init.color,
    });
    await box.start();
  } catch (e) {
    log.fatal("start service: {error}", { error: e });
    if (box) await closeWithDeadline(box);
    return undefined;
  }
  if (!init.dryRun) {
    log.info("tunbox started ({seconds} s)", {
      seconds: ((performance.now() - started) / 1000).toFixed(2),
    });
  }
  return box;
}

/**
 * The one sentence `run` prints on an OS tunbox cannot run on (the Windows binary builds, but
 * its TUN, sockets and reactor need Linux or macOS); undefined where it can run.
 */
export function unsupportedOsMessage(os: string = Deno.build.os): string | undefined {
  if (os === "linux" || os === "darwin") return undefined;
  return `tunbox does not support ${os}: TUN mode needs Linux or macOS`;
}

/** Runs `run`. Returns the exit status. */
export async function runCommand(init: RunInit): Promise<number> {
  const unsupported = unsupportedOsMessage();
  if (unsupported) {
    console.error(unsupported);
    return 1;
  }
  const first = await loadAndCheck(init.sources, Deno.cwd());
  if (first.errors.length > 0 || !first.options) {
    printDiagnostics(first, init.color);
    return 2;
  }
  await configureLogging(first.options.log, { color: init.color });
  logDiagnostics(first.warnings, "warn");

  if (init.dryRun) {
    console.log("dry run: nothing on this system is changed");
    for (const line of summarize(first.options, first.files)) console.log(line);
    const box = await startBox(first.options, init, first.files);
    if (!box) return 1;
    try {
      for (const line of await box.describe()) console.log(line);
    } catch (e) {
      log.error("describe what would be set up: {error}", { error: e });
    }
    return (await closeWithDeadline(box)) ? 0 : 1;
  }

  const limit = raiseOpenFilesLimit();
  if (limit && limit.to > limit.from) {
    log.debug("raised the open-files limit from {from} to {to}", limit);
  }
  const signals = new SignalQueue();
  try {
    let box = await startBox(first.options, init, first.files);
    if (!box) return 1;
    for (;;) {
      const signal = await signals.next();
      if (signal === "SIGHUP") {
        log.info("reloading configuration (SIGHUP)");
        const next = await loadAndCheck(init.sources, Deno.cwd());
        if (next.errors.length > 0 || !next.options) {
          logDiagnostics(next.errors, "error", "reload service: ");
          log.error("reload failed; the running configuration is kept");
          continue;
        }
        // In place when the inbounds are unchanged: connections keep running.
        let inPlace = false;
        try {
          inPlace = await box.reload(next.options);
        } catch (e) {
          log.error("reload service: {error}", { error: e });
          log.error("reload failed; the running configuration is kept");
          continue;
        }
        if (inPlace) {
          await configureLogging(next.options.log, { color: init.color });
          logDiagnostics(next.warnings, "warn");
          continue;
        }
        signals.onSignal = (s) => {
          log.fatal("{signal} during reload: forced exit", { signal: s });
          Deno.exit(1);
        };
        const closed = await closeWithDeadline(box);
        signals.onSignal = undefined;
        if (!closed) return 1;
        await configureLogging(next.options.log, { color: init.color });
        logDiagnostics(next.warnings, "warn");
        const fresh = await startBox(next.options, init, next.files);
        if (!fresh) return 1;
        box = fresh;
        continue;
      }
      log.info("stopping ({signal})", { signal });
      signals.onSignal = (s) => {
        log.fatal("{signal} while stopping: forced exit", { signal: s });
        Deno.exit(1);
      };
      const ok = await closeWithDeadline(box);
      if (ok) log.info("stopped");
      return ok ? 0 : 1;
    }
  } finally {
    signals.close();
  }
}
