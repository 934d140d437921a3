/**
 * The rule-set part of `check` (and of `run` before it starts): every inline set and every local
 * set file tunbox can read is loaded with the same code the running instance uses, and what
 * cannot be used is reported at the line that names the set (`path` for a local set). Remote
 * sets are downloaded at run time and are not fetched here.
 *
 * @module
 */

import { resolve } from "node:path";
import { ConfigDiagnostic } from "../config/diagnostic.ts";
import type { Options, RuleSetOptions } from "../config/types.ts";
import { loadRules, readLocalRuleSet } from "./load.ts";

/** Problems found in the config's rule-sets, at the lines that name them. */
export interface RuleSetCheck {
  errors: ConfigDiagnostic[];
  warnings: ConfigDiagnostic[];
}

function at(set: RuleSetOptions, message: string, severity: "error" | "warning") {
  const s = set.source;
  const pos = s ? { file: s.file, line: s.line, column: s.column } : {
    file: "(config)",
    line: 0,
    column: 0,
  };
  return new ConfigDiagnostic(pos, s?.path ?? `route.rule_set`, message, severity);
}

/** Loads the inline and local rule-sets of `options` (paths relative to `workingDirectory`). */
export async function checkRuleSets(
  options: Options,
  workingDirectory: string,
): Promise<RuleSetCheck> {
  const out: RuleSetCheck = { errors: [], warnings: [] };
  for (const set of options.route.rule_set) {
    const name = `rule-set "${set.tag}"`;
    try {
      if (set.type === "inline") {
        // Its fields were checked (and their verdicts reported) when the config was decoded.
        loadRules(set.rules, name);
      } else if (set.type === "local") {
        const path = resolve(workingDirectory, set.path ?? "");
        const loaded = await readLocalRuleSet(path, set.format ?? "source", `${name} (${path})`);
        for (const w of loaded.warnings) out.warnings.push(at(set, w, "warning"));
      }
    } catch (e) {
      out.errors.push(at(set, (e as Error).message, "error"));
    }
  }
  return out;
}
