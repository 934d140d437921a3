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
 * - `--allow-env`: `NO_COLOR`, `TUNBOX_WORKERS`, `TUNBOX_IMPAIR`;
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
 * Deno flags for running tunbox, in the order they are written on command lines: the
 * permissions, then `--v8-flags=` with {@linkcode TUNBOX_V8_FLAGS}.
 */
export const RUN_PERMISSIONS: readonly string[] = [
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--allow-run",
  `--v8-flags=${TUNBOX_V8_FLAGS.join(",")}`,
];
