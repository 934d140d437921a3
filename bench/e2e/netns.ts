/**
 * Network namespaces and the processes the suite starts inside them.
 *
 * Every process is started through `ip netns exec` (which `exec`s, so the child's PID is the
 * program's own PID) and recorded, so cleanup can end exactly the processes this run started.
 *
 * @module
 */

const decoder = new TextDecoder();

/** Output of a finished command. */
export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** A command that exited with a non-zero status. */
export class CommandError extends Error {
  override name = "CommandError";
  /** @param output what the command printed. */
  constructor(message: string, readonly output: CommandOutput) {
    super(message);
  }
}

/** Last `maxLines` non-empty lines of `text`, joined with " | " (for one-line reports). */
export function tail(text: string, maxLines = 8, maxChars = 600): string {
  // deno-lint-ignore no-control-regex
  const plain = text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "");
  const lines = plain.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
  const joined = lines.slice(-maxLines).join(" | ");
  return joined.length > maxChars ? "…" + joined.slice(-maxChars) : joined;
}

/**
 * Runs `argv` to completion and returns its output; throws {@linkcode CommandError} naming the
 * command on a non-zero exit unless `allowFail`.
 */
export async function run(
  argv: readonly string[],
  opts: { allowFail?: boolean; stdin?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<CommandOutput> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new TypeError("Cannot run an empty command");
  const child = new Deno.Command(cmd, {
    args,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (opts.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, opts.timeoutMs);
  }
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  if (timer !== undefined) clearTimeout(timer);
  const result = {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
  if (out.code !== 0 && !opts.allowFail) {
    throw new CommandError(
      `Command "${argv.join(" ")}" failed with status ${out.code}: ${
        tail(result.stderr || result.stdout)
      }`,
      result,
    );
  }
  return result;
}

/** A long-running process started in a namespace; its stdout/stderr are collected in memory. */
export class NsProcess {
  readonly pid: number;
  #child: Deno.ChildProcess;
  #stdout = "";
  #stderr = "";
  #lineWaiters: Array<() => void> = [];
  #stdinWriter: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** Resolves with the exit status when the process ends. */
  readonly status: Promise<Deno.CommandStatus>;
  #exited: Deno.CommandStatus | undefined;

  /** @param label a short name for messages. */
  constructor(readonly label: string, child: Deno.ChildProcess, pipeStdin: boolean) {
    this.#child = child;
    this.pid = child.pid;
    if (pipeStdin) this.#stdinWriter = child.stdin.getWriter();
    const drain = async (stream: ReadableStream<Uint8Array>, err: boolean) => {
      const d = new TextDecoder();
      for await (const chunk of stream) {
        const s = d.decode(chunk, { stream: true });
        if (err) this.#stderr = (this.#stderr + s).slice(-65536);
        else this.#stdout += s;
        if (!err) { for (const w of this.#lineWaiters.splice(0)) w(); }
      }
    };
    const a = drain(child.stdout, false);
    const b = drain(child.stderr, true);
    // Resolve on exit plus the output drained, but do not wait for the drain forever: a
    // forking server's children can keep the pipes open after the main process is gone.
    const drained = Promise.all([a, b]);
    const settle = child.status.then((s) =>
      Promise.race([drained, new Promise((r) => setTimeout(r, 500))]).then(() => s)
    );
    this.status = settle.then((s) => {
      this.#exited = s;
      for (const w of this.#lineWaiters.splice(0)) w();
      return s;
    });
  }

  /** Everything the process printed on stdout so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** The last 64 KiB the process printed on stderr. */
  get stderr(): string {
    return this.#stderr;
  }

  /** The exit status, once the process has ended. */
  get exited(): Deno.CommandStatus | undefined {
    return this.#exited;
  }

  /** Writes a line to the process's stdin (only when started with `stdin: true`). */
  async writeLine(line: string): Promise<void> {
    if (!this.#stdinWriter) throw new TypeError(`${this.label}: stdin is not piped`);
    await this.#stdinWriter.write(new TextEncoder().encode(line + "\n"));
  }

  /**
   * Waits until stdout holds at least `n` complete lines, the process exits, or `timeoutMs`
   * passes; returns the complete lines so far.
   */
  async waitLines(n: number, timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const lines = () => this.#stdout.split("\n").slice(0, -1);
    while (lines().length < n && this.#exited === undefined && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#lineWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return lines();
  }

  /** Sends `signal` to the process (by PID); ignores a process that is already gone. */
  signal(signal: Deno.Signal): void {
    if (this.#exited !== undefined) return;
    try {
      this.#child.kill(signal);
    } catch { /* already gone */ }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. */
  async stop(graceMs = 10_000): Promise<Deno.CommandStatus> {
    if (this.#stdinWriter) {
      try {
        await this.#stdinWriter.close();
      } catch { /* closed */ }
    }
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    try {
      return await this.status;
    } finally {
      clearTimeout(timer);
    }
  }
}

let hardNofile: number | undefined;

/**
 * The open-files hard limit this process may give its children (raising it further needs
 * CAP_SYS_RESOURCE, which containers often lack).
 */
export function maxNofile(): number {
  if (hardNofile !== undefined) return hardNofile;
  const out = new Deno.Command("sh", {
    args: ["-c", "ulimit -Hn"],
    stdout: "piped",
    stderr: "null",
  })
    .outputSync();
  const text = new TextDecoder().decode(out.stdout).trim();
  hardNofile = text === "unlimited" ? 1048576 : Number(text) || 1024;
  return hardNofile;
}

/** One named network namespace owned by this run. */
export class Netns {
  #procs = new Set<NsProcess>();

  /** @param name the namespace name (`tb-<purpose>-<random>`). */
  constructor(readonly name: string) {}

  /** Creates the namespace and brings `lo` up. */
  async create(): Promise<void> {
    await run(["ip", "netns", "add", this.name]);
    await run(["ip", "-n", this.name, "link", "set", "lo", "up"]);
  }

  /** Runs a command inside the namespace to completion. */
  exec(
    argv: readonly string[],
    opts: { allowFail?: boolean; stdin?: string; timeoutMs?: number; cwd?: string } = {},
  ): Promise<CommandOutput> {
    return run(["ip", "netns", "exec", this.name, ...argv], opts);
  }

  /**
   * Starts a long-running command inside the namespace with the open-files limit raised to
   * `nofile` or the hard limit, whichever is lower (through `prlimit`, which `exec`s, so the
   * PID is the program's).
   */
  spawn(
    label: string,
    argv: readonly string[],
    opts: { stdin?: boolean; cwd?: string; nofile?: number } = {},
  ): NsProcess {
    const nofile = Math.min(opts.nofile ?? 262144, maxNofile());
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", this.name, "prlimit", `--nofile=${nofile}:${nofile}`, "--", ...argv],
      stdin: opts.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    }).spawn();
    const p = new NsProcess(label, child, opts.stdin ?? false);
    this.#procs.add(p);
    p.status.finally(() => this.#procs.delete(p));
    return p;
  }

  /** Stops every process this run started here, then any process still in the namespace. */
  async stopAll(graceMs = 3000): Promise<void> {
    await Promise.all([...this.#procs].map((p) => p.stop(graceMs)));
    // Anything left (children that outlived their parent) was started by this run, inside a
    // namespace this run created: end it by PID.
    const left = await run(["ip", "netns", "pids", this.name], { allowFail: true });
    for (const pid of left.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* gone */ }
    }
  }

  /** Stops everything and deletes the namespace (its veth ends go with it). */
  async destroy(): Promise<void> {
    await this.stopAll();
    await run(["ip", "netns", "del", this.name], { allowFail: true });
  }
}
