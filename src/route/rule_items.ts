/**
 * The parts route rules, DNS rules and rule-set rules are built from (sing-box
 * `route/rule/rule_abstract.go` and `rule_item_*.go`): items, the default rule's item groups
 * and its evaluation, logical rules, and the list of fields tunbox cannot evaluate.
 *
 * A default rule's items fall into groups. Items in one group are OR-ed, groups are AND-ed:
 *
 * ```
 * (domain ‖ domain_suffix ‖ domain_keyword ‖ domain_regex)   destination address
 *   ‖ (ip_cidr ‖ ip_is_private)                              destination IP (same flag)
 *   && (port ‖ port_range)
 *   && (source_ip_cidr ‖ source_ip_is_private)
 *   && (source_port ‖ source_port_range)
 *   && every other item (inbound, network, rule_set, ...)
 * ```
 *
 * Group results are flags in a {@linkcode MatchState} shared with the rule-sets the rule
 * includes, so a set's rules merge into the rule (see `match_state.ts`). A rule without items
 * matches every flow (`invert` has no effect on it, as in sing-box).
 *
 * @module
 */

import { featureId, verdict } from "../config/support.ts";
import { isPrivateAddr } from "../net/ip_private.ts";
import type { IpSet } from "./ip_set.ts";
import type { ItemTrace, Matcher, MatchState, RuleItem, RuleSetRef } from "./match_state.ts";
import type { ConnMetadata } from "./metadata.ts";

/** Collects unsupported-field uses so each field is reported once. */
export class UnsupportedLog {
  readonly uses = new Map<string, string[]>();
  add(field: string, where: string): void {
    const list = this.uses.get(field);
    if (list) list.push(where);
    else this.uses.set(field, [where]);
  }
  flush(warnings: string[]): void {
    for (const [field, wheres] of this.uses) {
      // The words are the verdict's, which `check` reports at each item's position.
      const id = featureId("rule", field);
      const message = id ? verdict(id).message : `"${field}" never matches in tunbox`;
      warnings.push(`${wheres.join(", ")}: ${message}`);
    }
    this.uses.clear();
  }
}

/** Describes a list as sing-box does: one value bare, 2–3 in brackets, more cut after three. */
export function describeList(name: string, values: readonly string[], cut = true): string {
  if (values.length === 1) return `${name}=${values[0]}`;
  if (cut && values.length > 3) return `${name}=[${values.slice(0, 3).join(" ")}...]`;
  return `${name}=[${values.join(" ")}]`;
}

/** The name domain items match: the sniffed domain, else the FQDN destination, lowercased. */
export function domainOf(meta: ConnMetadata): string {
  if (meta.domain !== "") return meta.domain.toLowerCase();
  const fqdn = meta.destination.fqdn;
  return fqdn ? fqdn.toLowerCase() : "";
}

/** An item matching the flow's domain with `test` (false when the flow has no domain). */
export function domainItem(text: string, test: (name: string) => boolean): RuleItem {
  return {
    text,
    match: (m) => {
      const name = domainOf(m);
      return name !== "" && test(name);
    },
  };
}

/**
 * `ip_cidr` / `source_ip_cidr` (sing-box `IPCIDRItem`): the source address for source items or
 * inside a rule-set included with `rule_set_ip_cidr_match_source`; else the destination IP, or
 * any resolved address of a domain destination, or — with no address at all — the including DNS
 * rule's `rule_set_ip_cidr_accept_empty`.
 */
export function ipCidrItem(set: IpSet, isSource: boolean, text: string): RuleItem {
  return {
    text,
    match: (m, st) => {
      if (isSource || st.ipCidrMatchSource) return set.contains(m.source.addr);
      if (m.destination.addr.length !== 0) return set.contains(m.destination.addr);
      if (m.destinationAddresses.length > 0) {
        for (const a of m.destinationAddresses) if (set.contains(a)) return true;
        return false;
      }
      return st.ipCidrAcceptEmpty;
    },
  };
}

/** `ip_is_private` / `source_ip_is_private` (sing-box `IPIsPrivateItem`). */
export function ipIsPrivateItem(isSource: boolean): RuleItem {
  if (isSource) {
    return { text: "source_ip_is_private=true", match: (m) => isPrivateAddr(m.source.addr) };
  }
  return {
    text: "ip_is_private=true",
    match: (m) => {
      if (m.destination.addr.length !== 0) return isPrivateAddr(m.destination.addr);
      for (const a of m.destinationAddresses) if (isPrivateAddr(a)) return true;
      return false;
    },
  };
}

/** An item that never matches (a field tunbox cannot evaluate), reported through `log`. */
export function unsupportedItem(
  field: string,
  values: readonly unknown[],
  where: string,
  log: UnsupportedLog,
): RuleItem {
  log.add(field, where);
  return { text: describeList(field, values.map(String)), match: () => false };
}

/**
 * `rule_set` (sing-box `RuleSetItem`): sets the match-source / accept-empty flags for the
 * included sets, then matches when any of them does.
 */
export function ruleSetItem(
  sets: readonly RuleSetRef[],
  matchSource: boolean,
  acceptEmpty: boolean,
): RuleItem {
  const tags = sets.map((s) => s.tag);
  return {
    text: describeList("rule_set", tags, false),
    match: (m, st, trace) => {
      st.ipCidrMatchSource = matchSource;
      st.ipCidrAcceptEmpty = acceptEmpty;
      for (const s of sets) {
        if (!trace) {
          if (s.match(m, st)) return true;
          continue;
        }
        const items: ItemTrace[] = [];
        const matched = s.match(m, st, items);
        trace.push({ text: `rule-set ${s.tag}`, matched, items });
        if (matched) return true;
      }
      return false;
    },
  };
}

/** The item groups of a default rule, filled in sing-box's description order. */
export class ItemGroups {
  readonly items: RuleItem[] = [];
  readonly sourceAddress: RuleItem[] = [];
  readonly sourcePort: RuleItem[] = [];
  readonly destinationAddress: RuleItem[] = [];
  readonly destinationIpCidr: RuleItem[] = [];
  readonly destinationPort: RuleItem[] = [];
  /** Every item in description order. */
  readonly all: RuleItem[] = [];

  add(group: RuleItem[], item: RuleItem): void {
    group.push(item);
    this.all.push(item);
  }
}

/** A default rule (sing-box `abstractDefaultRule.Match`). */
export class DefaultMatcher implements Matcher {
  readonly conditionText: string;
  readonly #g: ItemGroups;
  readonly #invert: boolean;

  constructor(groups: ItemGroups, invert: boolean) {
    this.#g = groups;
    this.#invert = invert;
    const joined = groups.all.map((i) => i.text).join(" ");
    this.conditionText = groups.all.length === 0 ? "" : invert ? `!(${joined})` : joined;
  }

  /** The rule's items (for tests and descriptions). */
  get groups(): ItemGroups {
    return this.#g;
  }

  match(m: ConnMetadata, st: MatchState, t?: ItemTrace[]): boolean {
    const g = this.#g;
    if (g.all.length === 0) return true;
    const invert = this.#invert;
    if (g.sourceAddress.length > 0 && !st.sourceAddressMatch) {
      st.didMatch = true;
      if (anyMatch(g.sourceAddress, m, st, t)) st.sourceAddressMatch = true;
    }
    if (g.sourcePort.length > 0 && !st.sourcePortMatch) {
      st.didMatch = true;
      if (anyMatch(g.sourcePort, m, st, t)) st.sourcePortMatch = true;
    }
    if (g.destinationAddress.length > 0 && !st.destinationAddressMatch) {
      st.didMatch = true;
      if (anyMatch(g.destinationAddress, m, st, t)) st.destinationAddressMatch = true;
    }
    const ipCidr = !st.ignoreDestinationIpCidr && g.destinationIpCidr.length > 0;
    if (ipCidr && !st.destinationAddressMatch) {
      st.didMatch = true;
      if (anyMatch(g.destinationIpCidr, m, st, t)) st.destinationAddressMatch = true;
    }
    if (g.destinationPort.length > 0 && !st.destinationPortMatch) {
      st.didMatch = true;
      if (anyMatch(g.destinationPort, m, st, t)) st.destinationPortMatch = true;
    }
    for (const it of g.items) {
      st.didMatch = true;
      if (!itemMatch(it, m, st, t)) return invert;
    }
    if (g.sourceAddress.length > 0 && !st.sourceAddressMatch) return invert;
    if (g.sourcePort.length > 0 && !st.sourcePortMatch) return invert;
    if ((ipCidr || g.destinationAddress.length > 0) && !st.destinationAddressMatch) return invert;
    if (g.destinationPort.length > 0 && !st.destinationPortMatch) return invert;
    if (!st.didMatch) return true;
    return !invert;
  }
}

function itemMatch(it: RuleItem, m: ConnMetadata, st: MatchState, t?: ItemTrace[]): boolean {
  if (!t) return it.match(m, st);
  const items: ItemTrace[] = [];
  const matched = it.match(m, st, items);
  t.push(items.length > 0 ? { text: it.text, matched, items } : { text: it.text, matched });
  return matched;
}

function anyMatch(
  group: readonly RuleItem[],
  m: ConnMetadata,
  st: MatchState,
  t?: ItemTrace[],
): boolean {
  for (const it of group) if (itemMatch(it, m, st, t)) return true;
  return false;
}

/** A logical rule (sing-box `abstractLogicalRule.Match`): each sub-rule starts with fresh flags. */
export class LogicalMatcher implements Matcher {
  readonly conditionText: string;
  readonly #subs: readonly Matcher[];
  readonly #and: boolean;
  readonly #invert: boolean;

  constructor(mode: "and" | "or", subs: readonly Matcher[], invert: boolean) {
    this.#subs = subs;
    this.#and = mode === "and";
    this.#invert = invert;
    const joined = subs.map((s) => s.conditionText).join(this.#and ? " && " : " || ");
    this.conditionText = invert ? `!(${joined})` : joined;
  }

  match(m: ConnMetadata, st: MatchState, t?: ItemTrace[]): boolean {
    const sub = (s: Matcher): boolean => {
      st.reset();
      if (!t) return s.match(m, st);
      const items: ItemTrace[] = [];
      const matched = s.match(m, st, items);
      t.push({ text: s.conditionText, matched, items });
      return matched;
    };
    if (this.#and) {
      for (const s of this.#subs) if (!sub(s)) return this.#invert;
      return !this.#invert;
    }
    for (const s of this.#subs) if (sub(s)) return !this.#invert;
    return this.#invert;
  }
}
