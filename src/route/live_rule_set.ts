/**
 * One rule-set as rules hold it: its current compiled rules, swapped in place when the set is
 * (re)loaded (see `rule_set.ts`). A set that never loaded has no rules and matches nothing.
 *
 * @module
 */

import type { ItemTrace, Matcher, MatchState, RuleSetRef } from "./match_state.ts";
import type { ConnMetadata } from "./metadata.ts";

/** The current rules of one rule-set. */
export class LiveRuleSet implements RuleSetRef {
  readonly tag: string;
  #rules: Matcher[] = [];
  #containsIpCidr = false;
  #loaded = false;

  constructor(tag: string) {
    this.tag = tag;
  }

  /** True once rules were set (even an empty list). */
  get loaded(): boolean {
    return this.#loaded;
  }

  get containsIpCidr(): boolean {
    return this.#containsIpCidr;
  }

  /** Number of top-level rules. */
  get size(): number {
    return this.#rules.length;
  }

  /** Replaces the rules (the compiled set of {@linkcode compileRuleSet}). */
  set(rules: Matcher[], containsIpCidr: boolean): void {
    this.#rules = rules;
    this.#containsIpCidr = containsIpCidr;
    this.#loaded = true;
  }

  match(meta: ConnMetadata, state: MatchState, trace?: ItemTrace[]): boolean {
    if (trace) {
      for (const r of this.#rules) {
        const items: ItemTrace[] = [];
        const matched = r.match(meta, state, items);
        trace.push({ text: r.conditionText, matched, items });
        if (matched) return true;
      }
      return false;
    }
    for (const r of this.#rules) if (r.match(meta, state)) return true;
    return false;
  }
}
