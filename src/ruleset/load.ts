/**
 * Turning a rule-set file's bytes into loaded rules: size limit, format (binary `.srs` or JSON
 * source), decoding, a trial compilation (so a set that cannot be used is refused here, with its
 * name, and never reaches the router), and prebuilding large lists into shared structures.
 *
 * @module
 */

import { firstInvalidUtf8 } from "../config/load.ts";
import { compileRuleSet, prebuildRules, type RuleSetRule } from "../route/headless.ts";
import { formatSize, MAX_RULE_SET_BYTES } from "./size.ts";
import { parseRuleSetSource } from "./source.ts";
import { isSrs, readSrs } from "./srs.ts";

/** A rule-set file that cannot be used; the message names the set and the problem. */
export class RuleSetLoadError extends Error {
  override name = "RuleSetLoadError";
}

/** A parsed rule-set, ready to post to workers. */
export interface LoadedRuleSet {
  version: number;
  rules: RuleSetRule[];
  /** Fields tunbox cannot evaluate (they never match). */
  warnings: string[];
}

/**
 * Parses a rule-set file. `name` is how messages refer to it (`rule-set "geoip-cn"`). With
 * `shared`, the prebuilt structures live in `SharedArrayBuffer`s (one copy for every worker).
 * Throws {@linkcode RuleSetLoadError}.
 */
export function parseRuleSet(
  bytes: Uint8Array,
  format: "source" | "binary",
  name: string,
  shared = false,
): LoadedRuleSet {
  if (bytes.length > MAX_RULE_SET_BYTES) throw tooLarge(name, bytes.length);
  let version: number;
  let rules: RuleSetRule[];
  if (format === "binary") {
    try {
      ({ version, rules } = readSrs(bytes, shared));
    } catch (e) {
      const hint = !isSrs(bytes) && looksLikeJson(bytes)
        ? ' (it looks like a source rule-set: set "format": "source")'
        : "";
      throw new RuleSetLoadError(`${name}: ${(e as Error).message}${hint}`, { cause: e });
    }
  } else {
    if (isSrs(bytes)) {
      throw new RuleSetLoadError(
        `${name}: this is a binary rule-set (.srs), not a source one: set "format": "binary"`,
      );
    }
    const bad = firstInvalidUtf8(bytes);
    if (bad >= 0) {
      throw new RuleSetLoadError(`${name}: not valid UTF-8 (byte ${bad}); is it a binary file?`);
    }
    const parsed = parseRuleSetSource(new TextDecoder().decode(bytes), name);
    if (!parsed.set) {
      const shown = parsed.errors.slice(0, 5).map((e) => e.format());
      const more = parsed.errors.length > 5 ? `; and ${parsed.errors.length - 5} more` : "";
      throw new RuleSetLoadError(`${shown.join("; ")}${more}`);
    }
    version = parsed.set.version;
    rules = parsed.set.rules;
  }
  return { version, ...loadRules(rules, name, shared) };
}

/**
 * Prebuilds decoded rules (an inline set, or a file's) and compiles them once to find what
 * cannot be used. Throws {@linkcode RuleSetLoadError}.
 */
export function loadRules(
  rules: readonly RuleSetRule[],
  name: string,
  shared = false,
): { rules: RuleSetRule[]; warnings: string[] } {
  try {
    const built = prebuildRules(rules, "rules", shared);
    return { rules: built, warnings: compileRuleSet(built, name).warnings };
  } catch (e) {
    throw new RuleSetLoadError((e as Error).message, { cause: e });
  }
}

/** The error for a rule-set file over {@linkcode MAX_RULE_SET_BYTES}. */
export function tooLarge(name: string, size: number): RuleSetLoadError {
  return new RuleSetLoadError(
    `${name}: the file is ${formatSize(size)}, over the ${
      formatSize(MAX_RULE_SET_BYTES)
    } limit for rule-sets`,
  );
}

function looksLikeJson(bytes: Uint8Array): boolean {
  for (const b of bytes) {
    if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
    return b === 0x7b || b === 0x2f; // "{" or a comment
  }
  return false;
}

/** How a file error reads in messages. */
export function fileErrorText(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  return e instanceof Error ? e.message : String(e);
}

/**
 * Reads and parses a local rule-set file (`path` absolute). `name` labels messages. Throws
 * {@linkcode RuleSetLoadError}.
 */
export async function readLocalRuleSet(
  path: string,
  format: "source" | "binary",
  name: string,
  shared = false,
): Promise<LoadedRuleSet> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (info.size > MAX_RULE_SET_BYTES) throw tooLarge(name, info.size);
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof RuleSetLoadError) throw e;
    throw new RuleSetLoadError(`${name}: cannot read the file: ${fileErrorText(e)}`, { cause: e });
  }
  return parseRuleSet(bytes, format, name, shared);
}
