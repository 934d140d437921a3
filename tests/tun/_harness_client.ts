/**
 * Test helper: starts `_tun_harness.ts` inside a namespace and talks to it (ready line,
 * signals by PID, exit status and output).
 */

import type { Netns } from "../_helpers/netns.ts";
import type { TunJson } from "./_tun_options.ts";

const HARNESS = new URL("./_tun_harness.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** What the harness printed and how it ended. */
export interface HarnessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A running harness process. */
export class Harness {
  #stdout = "";
  #stderr = "";
  #done: Promise<HarnessResult>;

  constructor(readonly process: Deno.ChildProcess) {
    const collect = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) add(chunk);
    };
    const outDone = collect(process.stdout, (s) => (this.#stdout += s));
    const errDone = collect(process.stderr, (s) => (this.#stderr += s));
    this.#done = (async () => {
      const status = await process.status;
      await Promise.all([outDone, errDone]);
      return { code: status.code, stdout: this.#stdout, stderr: this.#stderr };
    })();
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Resolves with the parsed ready line, or rejects with the harness's error output. */
  async ready(timeoutMs = 30_000): Promise<{ name: string; index: number; fds: number }> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    this.#done.then(() => (exited = true));
    while (Date.now() < deadline) {
      const m = /^ready (.*)$/m.exec(this.#stdout);
      if (m) return JSON.parse(m[1]!);
      if (exited) {
        throw new Error(`Harness exited before ready:\n${this.#stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    this.kill("SIGKILL");
    throw new Error(`Harness not ready within ${timeoutMs} ms:\n${this.#stderr}`);
  }

  /** Sends a signal to the harness process (by its PID). */
  kill(signal: Deno.Signal): void {
    try {
      this.process.kill(signal);
    } catch {
      // Already exited.
    }
  }

  /** Waits for the process to exit. */
  done(): Promise<HarnessResult> {
    return this.#done;
  }
}

/**
 * Starts the harness in `ns` with a tun inbound config. `prefix` runs it through another
 * command first (e.g. `["setpriv", "--bounding-set=-net_admin"]`).
 */
export function startHarness(
  ns: Netns,
  config: TunJson,
  options: { prefix?: string[]; queues?: number; cleanup?: boolean } = {},
): Harness {
  const cmd = [
    ...(options.prefix ?? []),
    Deno.execPath(),
    "run",
    "-A",
    "--config",
    CONFIG,
    HARNESS,
    ...(options.cleanup ? ["--cleanup"] : []),
    JSON.stringify(config),
    ...(options.queues ? ["--queues", String(options.queues)] : []),
  ];
  return new Harness(ns.spawn(cmd));
}

/** Runs the harness to completion (for configs expected to fail, or cleanup mode). */
export function runHarness(
  ns: Netns,
  config: TunJson,
  options: { prefix?: string[]; cleanup?: boolean } = {},
): Promise<HarnessResult> {
  return startHarness(ns, config, options).done();
}
