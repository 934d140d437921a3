/**
 * The Deno permissions and V8 flags tunbox runs with, in one place: the compiled binaries
 * (`scripts/compile.ts`), the service's `ExecStart` when running from source, and the `run`
 * task in `deno.json` all use this list (a test checks the task matches).
 *
 * What needs each one:
 * - `--allow-ffi`: libc/libSystem through `Deno.dlopen` (TUN device, netlink, sockets, epoll);
 * - `--allow-read`: configuration files, `/proc`, `/etc/hosts`, `/etc/resolv.conf`;
 * - `--allow-write`: `format -w`, `merge`, log files, the service's unit and config files;
 * - `--allow-net`: DNS lookups and sockets made through Deno's own APIs;
 * - `--allow-env`: `NO_COLOR`, `TUNBOX_WORKERS`, `TUNBOX_IN_PROCESS`, `TUNBOX_IMPAIR`,
 *   `TUNBOX_TUN_OFFLOAD`;
 * - `--allow-sys`: `Deno.uid()` (the service's root check) and the OS facts Deno reads;
 * - `--allow-run`: `systemctl`/`launchctl` (service) and `dscacheutil` (macOS DNS flush).
 *
 * @module
 */

/**
 * V8 flags tunbox runs with, chosen by measurement (`docs/architecture.md`, "Memory"):
 * `--max-semi-space-size=2` caps each isolate's young-generation semi-space at 2 MiB (V8's
 * 64-bit default grows to 16 MiB per isolate, kept after a burst); `--expose-gc` gives a packet
 * worker the `gc` function it calls once it goes quiet after a burst (`src/worker/idle_gc.ts`).
 */
export const TUNBOX_V8_FLAGS: readonly string[] = ["--max-semi-space-size=2", "--expose-gc"];

/**
 * Deno runtime flags tunbox runs with, chosen by measurement (`docs/architecture.md`, "Memory"):
 * `--no-code-cache` keeps V8's code cache (an SQLite file Deno maps into the process) out of
 * resident memory: idle RSS 76.8/77.3 → 74.3/73.8 MiB (`bench/memory_breakdown.ts --workers 1`),
 * for about 30 ms more start-up (the modules are compiled instead of read from the cache).
 */
export const TUNBOX_DENO_FLAGS: readonly string[] = ["--no-code-cache"];

/**
 * Deno flags for running tunbox, in the order they are written on command lines: the
 * permissions, {@linkcode TUNBOX_DENO_FLAGS}, then `--v8-flags=` with
 * {@linkcode TUNBOX_V8_FLAGS}.
 */
export const RUN_PERMISSIONS: readonly string[] = [
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--allow-run",
  ...TUNBOX_DENO_FLAGS,
  `--v8-flags=${TUNBOX_V8_FLAGS.join(",")}`,
];
