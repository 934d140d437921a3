/**
 * The Deno permissions tunbox runs with, in one place: the compiled binaries
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

/** Deno permission flags for running tunbox, in the order they are written on command lines. */
export const RUN_PERMISSIONS: readonly string[] = [
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--allow-run",
];

/** V8 flags tunbox runs with (`--v8-flags=` joined by commas); chosen by measurement. */
export const TUNBOX_V8_FLAGS: readonly string[] = [];
