/**
 * Rule-sets as the router and DNS rules see them: one {@linkcode LiveRuleSet} per tag, whose
 * rules are swapped in place when the set is (re)loaded, so rules compiled once keep working
 * with the newest contents. A set that has not loaded yet (a remote set whose first download is
 * still running) has no rules and matches nothing.
 *
 * @module
 */

import { compileRuleSet, type RuleSetRule } from "./headless.ts";
import { LiveRuleSet } from "./live_rule_set.ts";
import type { RuleSetLookup } from "./match_state.ts";

export { LiveRuleSet };

/** A loaded rule-set as posted between threads (structured-clone safe). */
export interface RuleSetPayload {
  tag: string;
  rules: RuleSetRule[];
}

/** The rule-sets of one thread, by tag. */
export class RuleSetRegistry implements RuleSetLookup {
  readonly #sets = new Map<string, LiveRuleSet>();

  /** Declares the tags (sets start empty). */
  constructor(tags: Iterable<string> = []) {
    for (const t of tags) this.#sets.set(t, new LiveRuleSet(t));
  }

  /** Declares more tags (a reload may name new sets); known ones keep their rules. */
  define(tags: Iterable<string>): void {
    for (const t of tags) if (!this.#sets.has(t)) this.#sets.set(t, new LiveRuleSet(t));
  }

  get(tag: string): LiveRuleSet | undefined {
    return this.#sets.get(tag);
  }

  /** The tags, in declaration order. */
  get tags(): string[] {
    return [...this.#sets.keys()];
  }

  /**
   * Compiles a loaded set and swaps it in. Throws when the set's rules cannot be compiled (the
   * previous rules stay). Fields that never match are in the returned warnings (the thread that
   * loaded the set logs them once).
   */
  update(payload: RuleSetPayload): { set: LiveRuleSet; warnings: string[] } {
    let set = this.#sets.get(payload.tag);
    if (!set) {
      set = new LiveRuleSet(payload.tag);
      this.#sets.set(payload.tag, set);
    }
    const compiled = compileRuleSet(payload.rules, `rule-set "${payload.tag}"`);
    set.set(compiled.rules, compiled.containsIpCidr);
    return { set, warnings: compiled.warnings };
  }
}
