/**
 * `rule-set merge`: several rule-set source files into one, as sing-box merges them (inputs in
 * path order, merged like config files, so the `rules` lists add up; the result's version is the
 * highest input version).
 *
 * @module
 */

import { Diagnostics } from "../config/diagnostic.ts";
import { decodeRuleSetSource, type RuleSetSource } from "../config/decode_rule_set.ts";
import { parseJsonc } from "../config/jsonc.ts";
import { mergeInto } from "../config/merge.ts";
import { Ctx } from "../config/reader.ts";
import { RuleSetLoadError } from "./load.ts";

/** Merges source files (`text` of each, `path` for messages and order). Throws with every problem. */
export function mergeRuleSetSources(
  inputs: readonly { path: string; text: string }[],
): RuleSetSource {
  const sorted = [...inputs].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const diag = new Diagnostics();
  let version = 0;
  let merged = undefined as ReturnType<typeof parseJsonc>;
  for (const input of sorted) {
    const root = parseJsonc(input.text, input.path, diag);
    if (!root) continue;
    // Each file must be a rule-set by itself (sing-box decodes each before merging).
    const one = decodeRuleSetSource(new Ctx(diag), root);
    if (one) version = Math.max(version, one.version);
    merged = merged ? mergeInto(merged, root, diag) : root;
  }
  const set = merged && diag.errors.length === 0
    ? decodeRuleSetSource(new Ctx(diag), merged)
    : undefined;
  if (!set || diag.errors.length > 0) {
    throw new RuleSetLoadError(diag.errors.map((e) => e.format()).join("\n") || "nothing to merge");
  }
  return { version, rules: set.rules };
}
