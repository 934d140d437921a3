/**
 * `tunbox check`: load and check the configuration, print every problem, exit 2 on errors.
 *
 * @module
 */

import { type ConfigSource, loadConfig, type LoadResult } from "../config/load.ts";
import type { ValidateOptions } from "../config/validate.ts";
import { sortDiagnostics } from "../config/diagnostic.ts";
import { checkRuleSets } from "../ruleset/check.ts";
import { printDiagnostics } from "./output.ts";

/**
 * Loads the config and the rule-set files it names (inline and local sets, read as `run` reads
 * them), with every problem at its line. `run` starts only from a result without errors.
 * `validateOptions` is for tests that check as on another OS (`{ os: "darwin" }`).
 */
export async function loadAndCheck(
  sources: ConfigSource[],
  workingDirectory: string,
  validateOptions: ValidateOptions = {},
): Promise<LoadResult> {
  const result = await loadConfig(sources, validateOptions);
  if (!result.options) return result;
  const sets = await checkRuleSets(result.options, workingDirectory);
  if (sets.errors.length === 0 && sets.warnings.length === 0) return result;
  const out: LoadResult = {
    ...result,
    errors: sortDiagnostics([...result.errors, ...sets.errors], result.files),
    warnings: sortDiagnostics([...result.warnings, ...sets.warnings], result.files),
  };
  if (out.errors.length > 0) delete out.options;
  return out;
}

/** Runs `check`. Returns the exit status. */
export async function checkCommand(sources: ConfigSource[], color: boolean): Promise<number> {
  const result = await loadAndCheck(sources, Deno.cwd());
  printDiagnostics(result, color);
  return result.errors.length > 0 ? 2 : 0;
}
