/**
 * tunbox: a TUN-mode transparent proxy configured with sing-box's config format.
 *
 * ```sh
 * deno run -A main.ts run -c config.json
 * ```
 *
 * @module
 */

import { enterNetns, exitWithParent } from "./src/platform/linux/netns.ts";
import { main } from "./src/cli/main.ts";

/**
 * Hidden options, first on the line, for processes the demo starts:
 *
 * - `--netns <path>` moves the main thread into that network namespace before anything else
 *   runs, so the sockets, devices, routes and Workers made afterwards are all in it (see
 *   `src/platform/linux/netns.ts` for why, and for the threads that stay outside);
 * - `--parent <pid>` ends this process (SIGTERM) when that parent dies, even by SIGKILL.
 *
 * Returns the remaining arguments, or an exit status.
 */
function takeHiddenOptions(args: readonly string[]): string[] | number {
  let rest = [...args];
  for (;;) {
    const [flag, value] = rest;
    if (flag !== "--netns" && flag !== "--parent") return rest;
    rest = rest.slice(2);
    if (!value) {
      const what = flag === "--netns" ? "a path (e.g. /proc/<pid>/ns/net)" : "a process id";
      console.error(`tunbox: ${flag} needs ${what}`);
      return 2;
    }
    if (Deno.build.os !== "linux") {
      console.error(`tunbox: ${flag} works on Linux only`);
      return 2;
    }
    try {
      if (flag === "--netns") enterNetns(value);
      else if (!exitWithParent(Number(value))) return 1;
    } catch (e) {
      console.error(`tunbox: ${e instanceof Error ? e.message : String(e)}`);
      return 1;
    }
  }
}

if (import.meta.main) {
  const args = takeHiddenOptions(Deno.args);
  if (typeof args === "number") Deno.exit(args);
  let status: number;
  try {
    status = await main(args);
  } catch (e) {
    // Nothing a user feeds in should end here; say so plainly if something does.
    console.error(
      `tunbox: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`,
    );
    status = 1;
  }
  Deno.exit(status);
}
