/**
 * `tunbox cleanup`: remove what a crashed run left behind (TUN devices, routes, rules), by
 * calling `cleanup(options)` from `src/tun/setup.ts` when this build has it.
 *
 * @module
 */

import type { Options } from "../config/types.ts";

/** The module that implements cleanup on this platform (loaded lazily; may be absent). */
const SETUP_MODULE = new URL("../tun/setup.ts", import.meta.url).href;

interface SetupModule {
  cleanup(options: Options): Promise<string[]>;
}

/**
 * Runs `cleanup` with decoded options. Returns the exit status. `moduleUrl` names the module
 * with `cleanup(options)` (tests pass their own).
 */
export async function cleanupCommand(
  options: Options,
  moduleUrl: string = SETUP_MODULE,
): Promise<number> {
  let mod: SetupModule;
  try {
    mod = await import(moduleUrl) as SetupModule;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (/Module not found|Cannot find module|No such file/i.test(msg)) {
      console.error("cleanup is not available on this platform");
      return 1;
    }
    console.error(`load cleanup module failed: ${msg}`);
    return 1;
  }
  if (typeof mod.cleanup !== "function") {
    console.error("cleanup is not available on this platform");
    return 1;
  }
  try {
    const removed = await mod.cleanup(options);
    if (removed.length === 0) console.log("nothing to clean up");
    for (const line of removed) console.log(`removed ${line}`);
    return 0;
  } catch (e) {
    console.error(`cleanup failed: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
