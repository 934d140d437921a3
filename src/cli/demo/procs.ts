/**
 * Child processes of the demo: started in a namespace with tunbox's hidden `--netns`
 * option, their output collected (so a full pipe never blocks them), ended by PID.
 *
 * From source, a child is `deno run -A --config <deno.json> <main.ts> --parent <pid>
 * --netns <path> ...`; in a compiled binary (`Deno.build.standalone`), the binary itself:
 * `tunbox --parent <pid> --netns <path> ...`. `--parent` makes the kernel end the child
 * when the demo dies, even by SIGKILL, so no child (and no namespace) outlives it.
 *
 * @module
 */

const MAIN = new URL("../../../main.ts", import.meta.url);
const CONFIG = new URL("../../../deno.json", import.meta.url);

/** The command line that runs tunbox with `args` (from source or as a compiled binary). */
export function tunboxCommand(args: readonly string[]): string[] {
  if (Deno.build.standalone) return [Deno.execPath(), ...args];
  if (MAIN.protocol !== "file:") {
    throw new Error(`tunbox demo runs from a local checkout or a compiled binary, not ${MAIN}`);
  }
  return [
    Deno.execPath(),
    "run",
    "-A",
    "--config",
    decodeURIComponent(CONFIG.pathname),
    decodeURIComponent(MAIN.pathname),
    ...args,
  ];
}

/** A running child with its output. */
export class DemoProcess {
  stdout = "";
  stderr = "";
  readonly status: Promise<Deno.CommandStatus>;
  #exited = false;
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;

  /**
   * Starts `tunbox --netns <netnsPath> <args>`. `stdin` is written and then kept open: the
   * demo's helpers exit when it closes, so they never outlive the demo.
   */
  constructor(readonly name: string, netnsPath: string, args: string[], stdin?: string) {
    const cmd = tunboxCommand(["--parent", String(Deno.pid), "--netns", netnsPath, ...args]);
    this.#child = new Deno.Command(cmd[0]!, {
      args: cmd.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const collect = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) this[into] += decoder.decode(chunk, { stream: true });
    };
    collect(this.#child.stdout, "stdout").catch(() => {});
    collect(this.#child.stderr, "stderr").catch(() => {});
    this.status = this.#child.status.then((s) => {
      this.#exited = true;
      return s;
    });
    this.#stdin = this.#child.stdin.getWriter();
    if (stdin !== undefined) {
      // `-c stdin` reads to EOF: write the config and close.
      const w = this.#stdin;
      w.write(new TextEncoder().encode(stdin)).then(() => w.close()).catch(() => {});
      this.#stdin = undefined;
    }
  }

  get pid(): number {
    return this.#child.pid;
  }

  get running(): boolean {
    return !this.#exited;
  }

  /** Waits until `pattern` shows in its output; throws (with the output's tail) on exit/timeout. */
  async waitFor(pattern: RegExp, timeoutMs: number, abort?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (pattern.test(this.stdout) || pattern.test(this.stderr)) return;
      if (!this.running) break;
      if (abort?.aborted) throw new Error("interrupted");
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `${this.name} ${this.running ? `did not get ready within ${timeoutMs / 1000} s` : "exited"}` +
        `${this.tail()}`,
    );
  }

  /** The last lines of its output, indented, for error messages. */
  tail(lines = 12): string {
    const text = (this.stderr + this.stdout).trimEnd().split("\n").slice(-lines);
    return text.length && text[0] !== "" ? "\n" + text.map((l) => `    ${l}`).join("\n") : "";
  }

  /**
   * Ends it: closes its stdin and sends `signal` (by PID), then SIGKILL after `timeoutMs`.
   * Returns its exit status.
   */
  async stop(signal: Deno.Signal = "SIGTERM", timeoutMs = 12_000): Promise<Deno.CommandStatus> {
    this.#stdin?.close().catch(() => {});
    if (this.running) {
      try {
        this.#child.kill(signal);
      } catch { /* already gone */ }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), timeoutMs));
    const r = await Promise.race([this.status, late]);
    clearTimeout(timer);
    if (r !== "late") return r;
    try {
      this.#child.kill("SIGKILL");
    } catch { /* gone */ }
    return await this.status;
  }
}
