/**
 * tunbox: a TUN-mode transparent proxy configured with sing-box's config format.
 *
 * ```sh
 * deno run -A main.ts run -c config.json
 * ```
 *
 * @module
 */

import { enterNetns } from "./src/platform/linux/netns.ts";
import { main } from "./src/cli/main.ts";

/**
 * The hidden `--netns <path>` option (first on the line): moves the main thread into that
 * network namespace before anything else runs, so the sockets, devices, routes and Workers
 * made afterwards are all in it (see `src/platform/linux/netns.ts` for why, and for the
 * threads that stay outside). The demo starts its processes this way. Returns the other args.
 */
function takeNetnsOption(args: readonly string[]): string[] | number {
  let path: string | undefined;
  let rest = [...args];
  if (args[0] === "--netns") [path, rest] = [args[1], args.slice(2)];
  else if (args[0]?.startsWith("--netns=")) [path, rest] = [args[0].slice(8), args.slice(1)];
  else return rest;
  if (!path) {
    console.error("tunbox: --netns needs a path (e.g. /proc/<pid>/ns/net)");
    return 2;
  }
  if (Deno.build.os !== "linux") {
    console.error("tunbox: --netns works on Linux only");
    return 2;
  }
  try {
    enterNetns(path);
  } catch (e) {
    console.error(`tunbox: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  return rest;
}

if (import.meta.main) {
  const args = takeNetnsOption(Deno.args);
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
