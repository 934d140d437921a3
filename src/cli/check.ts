/**
 * `tunbox check`: load and check the configuration, print every problem, exit 2 on errors.
 *
 * @module
 */

import { type ConfigSource, loadConfig } from "../config/load.ts";
import { printDiagnostics } from "./output.ts";

/** Runs `check`. Returns the exit status. */
export async function checkCommand(sources: ConfigSource[], color: boolean): Promise<number> {
  const result = await loadConfig(sources);
  printDiagnostics(result, color);
  return result.errors.length > 0 ? 2 : 0;
}
