/**
 * tunbox: a TUN-mode transparent proxy configured with sing-box's config format.
 *
 * ```sh
 * deno run -A main.ts run -c config.json
 * ```
 *
 * @module
 */

import { main } from "./src/cli/main.ts";

if (import.meta.main) {
  let status: number;
  try {
    status = await main(Deno.args);
  } catch (e) {
    // Nothing a user feeds in should end here; say so plainly if something does.
    console.error(
      `tunbox: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`,
    );
    status = 1;
  }
  Deno.exit(status);
}
