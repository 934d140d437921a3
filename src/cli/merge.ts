/**
 * `tunbox merge <output>`: merge the sources as sing-box does, check the result, write JSON.
 *
 * @module
 */

import { type ConfigSource, loadConfig } from "../config/load.ts";
import { toPlain } from "../config/jsonc.ts";
import { printDiagnostics } from "./output.ts";

/** Runs `merge`. Returns the exit status. */
export async function mergeCommand(
  sources: ConfigSource[],
  output: string,
  color: boolean,
): Promise<number> {
  const result = await loadConfig(sources);
  printDiagnostics(result, color);
  if (result.errors.length > 0 || !result.merged) return 2;
  const text = JSON.stringify(toPlain(result.merged), null, 2) + "\n";
  try {
    let same = false;
    try {
      same = (await Deno.readTextFile(output)) === text;
    } catch {
      // Missing or unreadable: write it.
    }
    if (!same) await Deno.writeTextFile(output, text);
  } catch (e) {
    console.error(
      `write merged config to ${JSON.stringify(output)} failed: ${(e as Error).message}`,
    );
    return 1;
  }
  return 0;
}
