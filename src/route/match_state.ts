/**
 * What one rule evaluation shares between a rule and the rule-sets it includes: sing-box's rule
 * cache in `InboundContext` (`SourceAddressMatch`, `DestinationAddressMatch`, ...). A rule-set's
 * rules are "merged" into the rule that references it (sing-box docs: "included rule-sets can be
 * considered merged rather than as a single rule sub-item"): when the outer rule's domain item
 * matched, a rule inside the set finds `destinationAddressMatch` already set and does not need its
 * own address items to match, and the other way round.
 *
 * @module
 */

import type { ConnMetadata } from "./metadata.ts";

/** Flags of one evaluation. The router resets them before each top-level rule. */
export class MatchState {
  sourceAddressMatch = false;
  sourcePortMatch = false;
  destinationAddressMatch = false;
  destinationPortMatch = false;
  didMatch = false;
  /** Set by a `rule_set` item: `ip_cidr` items in the set match the source address. */
  ipCidrMatchSource = false;
  /** Set by a DNS rule's `rule_set` item: `ip_cidr` items match when there is no address. */
  ipCidrAcceptEmpty = false;
  /** DNS rules before the response: destination `ip_cidr` items are not evaluated. */
  ignoreDestinationIpCidr = false;

  /** sing-box `ResetRuleCache` (keeps `ignoreDestinationIpCidr`). */
  reset(): void {
    this.sourceAddressMatch = false;
    this.sourcePortMatch = false;
    this.destinationAddressMatch = false;
    this.destinationPortMatch = false;
    this.didMatch = false;
    this.ipCidrMatchSource = false;
    this.ipCidrAcceptEmpty = false;
  }
}

/**
 * One condition evaluated while matching, recorded when a trace list is passed to `match`
 * (`tunbox explain`). Items are recorded in evaluation order; evaluation stops at the first
 * item that decides the rule, so later items are absent.
 */
export interface ItemTrace {
  /** The item's description (`port=443`), or a sub-rule's condition inside a logical rule. */
  text: string;
  matched: boolean;
  /** A logical rule's sub-rule, or a rule-set's rules: the items evaluated inside it. */
  items?: ItemTrace[];
}

/** One condition of a default rule. */
export interface RuleItem {
  /** sing-box's description, e.g. `ip_cidr=[10.0.0.0/8 fc00::/7]`. */
  readonly text: string;
  /** Whether it holds; a `rule_set` item appends its rules' evaluation to `trace`. */
  match(meta: ConnMetadata, state: MatchState, trace?: ItemTrace[]): boolean;
}

/** A condition without an action: a default or logical rule, or a rule-set's rule. */
export interface Matcher {
  /** sing-box's description of the condition, "" when the rule has no condition. */
  readonly conditionText: string;
  /** Whether it holds; with `trace`, the items evaluated are appended to it. */
  match(meta: ConnMetadata, state: MatchState, trace?: ItemTrace[]): boolean;
}

/** A rule-set as rules see it (`src/route/rule_set.ts` keeps the live ones). */
export interface RuleSetRef {
  readonly tag: string;
  /**
   * True when any of its rules matches (rules share `state` with the including rule); with
   * `trace`, each rule tried is appended with its items.
   */
  match(meta: ConnMetadata, state: MatchState, trace?: ItemTrace[]): boolean;
  /** sing-box `ContainsIPCIDRRule`: a rule has a destination `ip_cidr` (now, after updates). */
  readonly containsIpCidr: boolean;
}

/** Finds rule-sets by tag when rules are compiled. */
export interface RuleSetLookup {
  get(tag: string): RuleSetRef | undefined;
}
