/**
 * Rule compilation (sing-box `route/rule/rule_default.go`, `rule_abstract.go`, `rule_item_*.go`).
 *
 * A default rule's items fall into groups (see `rule_items.ts`): items in one group are OR-ed,
 * groups are AND-ed, and the rule-sets a rule includes with `rule_set` are merged into it.
 *
 * Item semantics follow sing-box:
 * - domain items match the lowercased `meta.domain`, else the FQDN destination; with neither
 *   they do not match (so on TUN flows they need a `sniff` first);
 * - `ip_cidr` and `ip_is_private` match the destination IP; for a domain destination (after
 *   `override_address` with a name) they match any of the `resolve`d `destinationAddresses`;
 * - `ip_version` matches the flow's IP version or the current destination's family;
 * - `rule_set` matches when a rule of any named set matches, sharing the group flags; with
 *   `rule_set_ip_cidr_match_source` the sets' `ip_cidr` items match the source address.
 *
 * Items that need data tunbox does not have (process, package, user, Wi-Fi, network type, clash
 * mode, geoip/geosite, ...) compile to an item that never matches, and are reported once per
 * field through the `warnings` of {@linkcode compileRules}.
 *
 * @module
 */

import type { LogicalRule, Prefix, Rule, RuleMatch } from "../config/types.ts";
import { formatPrefix } from "../net/ip.ts";
import { compileAction, type CompiledAction } from "./action.ts";
import { DomainKeywords, DomainSet } from "./domain_set.ts";
import { DomainRegexes } from "../config/go_regex.ts";
import { IpSet } from "./ip_set.ts";
import {
  type ItemTrace,
  type Matcher,
  MatchState,
  type RuleItem,
  type RuleSetLookup,
  type RuleSetRef,
} from "./match_state.ts";
import type { ConnMetadata } from "./metadata.ts";
import { PortSet } from "./port_set.ts";
import { clashModeItem } from "./clash_mode.ts";
import { processRuleItems } from "./process.ts";
import { LiveRuleSet } from "./live_rule_set.ts";
import {
  DefaultMatcher,
  describeList,
  domainItem,
  ipCidrItem,
  ipIsPrivateItem,
  ItemGroups,
  LogicalMatcher,
  ruleSetItem,
  unsupportedItem,
  UnsupportedLog,
} from "./rule_items.ts";

export type { ItemTrace, RuleItem };

/** A compiled rule (default or logical): a matcher plus its action. */
export interface CompiledRule {
  /** Condition description (`ip_is_private=true`), "" for a rule without conditions. */
  readonly conditionText: string;
  /** `conditionText => actionText`, the form sing-box logs. */
  readonly text: string;
  readonly action: CompiledAction;
  /** Index in `route.rules`. */
  readonly index: number;
  /**
   * Evaluates the rule with fresh match flags (sing-box resets them before each rule); with
   * `trace`, the items evaluated are appended to it.
   */
  match(meta: ConnMetadata, trace?: ItemTrace[]): boolean;
}

/** Result of {@linkcode compileRules}. */
export interface CompiledRules {
  rules: CompiledRule[];
  /** Human-readable problems that did not stop compilation (unsupported fields, sniffers). */
  warnings: string[];
}

/** What rules can refer to while compiling. */
export interface CompileOptions {
  /**
   * The rule-sets `rule_set` names; a name it does not know is an error. Without it, every
   * named set is one that never loads (it matches nothing).
   */
  ruleSets?: RuleSetLookup;
}

/** Flags of the evaluation in progress; evaluation is synchronous, so one per thread is enough. */
const SHARED_STATE = new MatchState();

/**
 * Compiles `route.rules`. Throws `TypeError`/`SyntaxError` naming the rule
 * (`route.rules[3].domain_regex[0]: ...`) for invalid values; returns warnings for conditions
 * tunbox cannot evaluate.
 */
export function compileRules(rules: readonly Rule[], options: CompileOptions = {}): CompiledRules {
  const warnings: string[] = [];
  const unsupported = new UnsupportedLog();
  const compiled = rules.map((rule, index) => {
    const where = rule.source?.path ?? `route.rules[${index}]`;
    const matcher = compileMatcher(rule, where, unsupported, options);
    const action = compileAction(rule.action, where, warnings);
    const text = matcher.conditionText === ""
      ? action.text
      : `${matcher.conditionText} => ${action.text}`;
    const st = SHARED_STATE;
    const out: CompiledRule = {
      conditionText: matcher.conditionText,
      text,
      action,
      index,
      match: (meta, trace) => {
        st.reset();
        return matcher.match(meta, st, trace);
      },
    };
    return out;
  });
  unsupported.flush(warnings);
  return { rules: compiled, warnings };
}

/** The condition of one default rule, without an action. */
export interface RuleMatcher {
  /** sing-box's description of the condition, "" when the rule has no condition. */
  readonly conditionText: string;
  /**
   * Evaluates the condition. Without `state`, with fresh flags; DNS rules pass their own (with
   * `ignoreDestinationIpCidr` before the response). With `trace`, the items evaluated are
   * appended to it.
   */
  match(meta: ConnMetadata, state?: MatchState, trace?: ItemTrace[]): boolean;
  /**
   * sing-box `ContainsDestinationIPCIDRRule` of the `rule_set` item: an included set has a
   * destination `ip_cidr` rule now (and the rule does not match it against the source).
   */
  readonly ruleSetHasIpCidr: boolean;
}

/**
 * Compiles the conditions of one default rule without its action (DNS rules reuse the route
 * matchers this way). Throws like {@linkcode compileRules}; fields tunbox cannot evaluate never
 * match and are reported in `warnings`. `acceptEmpty` is the DNS rule's
 * `rule_set_ip_cidr_accept_empty`.
 */
export function compileRuleMatch(
  match: RuleMatch,
  where: string,
  warnings: string[],
  options: CompileOptions = {},
  acceptEmpty = false,
): RuleMatcher {
  const unsupported = new UnsupportedLog();
  const built = buildDefault(match, where, unsupported, options, acceptEmpty);
  unsupported.flush(warnings);
  const sets = built.sets;
  const matchSource = match.rule_set_ip_cidr_match_source === true;
  return {
    conditionText: built.matcher.conditionText,
    match: (meta, state, trace) => {
      const st = state ?? SHARED_STATE;
      if (!state) st.reset();
      return built.matcher.match(meta, st, trace);
    },
    get ruleSetHasIpCidr() {
      return !matchSource && sets.some((s) => s.containsIpCidr);
    },
  };
}

function compileMatcher(
  rule: Rule,
  where: string,
  unsupported: UnsupportedLog,
  options: CompileOptions,
): Matcher {
  return rule.type === "logical"
    ? compileLogical(rule, where, unsupported, options)
    : buildDefault(rule, where, unsupported, options, false).matcher;
}

function compileLogical(
  rule: LogicalRule,
  where: string,
  unsupported: UnsupportedLog,
  options: CompileOptions,
): Matcher {
  if (rule.mode !== "and" && rule.mode !== "or") {
    throw new TypeError(`${where}: unknown logical mode "${rule.mode as string}"`);
  }
  const subs = rule.rules.map((r, i) =>
    compileMatcher(r, `${where}.rules[${i}]`, unsupported, options)
  );
  return new LogicalMatcher(rule.mode, subs, rule.invert === true);
}

/** Resolves `rule_set` tags; throws for a tag no rule-set has. */
function lookupSets(tags: readonly string[], where: string, options: CompileOptions): RuleSetRef[] {
  return tags.map((tag, i) => {
    const set = options.ruleSets?.get(tag);
    if (!set) throw new TypeError(`${where}.rule_set[${i}]: rule-set "${tag}" not found`);
    return set;
  });
}

function buildDefault(
  r: RuleMatch,
  where: string,
  unsupported: UnsupportedLog,
  options: CompileOptions,
  acceptEmpty: boolean,
): { matcher: DefaultMatcher; sets: RuleSetRef[] } {
  const g = new ItemGroups();
  const never = (field: string, values: readonly unknown[]) =>
    g.add(g.items, unsupportedItem(field, values, where, unsupported));

  if (r.inbound.length > 0) {
    const set = new Set(r.inbound);
    g.add(g.items, {
      text: describeList("inbound", r.inbound, false),
      match: (m) => set.has(m.inbound),
    });
  }
  if (r.ip_version !== undefined) {
    const v = r.ip_version;
    if (v !== 4 && v !== 6) throw new TypeError(`${where}: invalid ip_version ${v as number}`);
    g.add(g.items, {
      text: `ip_version=${v}`,
      match: (m) =>
        m.ipVersion === v ||
        (m.destination.addr.length !== 0 && (m.destination.addr.length === 16 ? 6 : 4) === v),
    });
  }
  if (r.network.length > 0) {
    const set = new Set<string>(r.network);
    g.add(g.items, {
      text: describeList("network", r.network, false),
      match: (m) => set.has(m.network),
    });
  }
  if (r.auth_user.length > 0) never("auth_user", r.auth_user);
  if (r.protocol.length > 0) {
    const set = new Set(r.protocol);
    g.add(g.items, {
      text: describeList("protocol", r.protocol, false),
      match: (m) => set.has(m.protocol),
    });
  }
  if (r.client.length > 0) {
    const set = new Set(r.client);
    g.add(g.items, {
      text: describeList("client", r.client, false),
      match: (m) => set.has(m.client),
    });
  }
  if (r.domain.length > 0 || r.domain_suffix.length > 0) {
    r.domain.forEach((d, i) => {
      if (d === "") throw new TypeError(`${where}.domain[${i}]: empty item is not allowed`);
    });
    r.domain_suffix.forEach((d, i) => {
      if (d === "") throw new TypeError(`${where}.domain_suffix[${i}]: empty item is not allowed`);
    });
    const set = new DomainSet(r.domain, r.domain_suffix);
    g.add(
      g.destinationAddress,
      domainItem(domainText(r.domain, r.domain_suffix), (n) => set.match(n)),
    );
  }
  addDomainPatterns(g, r.domain_keyword, r.domain_regex, where);
  if (r.geosite.length > 0) never("geosite", r.geosite);
  if (r.source_geoip.length > 0) never("source_geoip", r.source_geoip);
  if (r.geoip.length > 0) never("geoip", r.geoip);
  if (r.source_ip_cidr.length > 0) {
    const set = new IpSet(r.source_ip_cidr);
    const text = describeList("source_ip_cidr", r.source_ip_cidr.map(formatPrefix));
    g.add(g.sourceAddress, ipCidrItem(set, true, text));
  }
  if (r.source_ip_is_private === true) g.add(g.sourceAddress, ipIsPrivateItem(true));
  if (r.ip_cidr.length > 0) {
    const set = new IpSet(r.ip_cidr);
    const text = describeList("ip_cidr", r.ip_cidr.map(formatPrefix));
    g.add(g.destinationIpCidr, ipCidrItem(set, false, text));
  }
  if (r.ip_is_private === true) g.add(g.destinationIpCidr, ipIsPrivateItem(false));
  addPorts(g, g.sourcePort, "source_port", r.source_port, r.source_port_range, true);
  addPorts(g, g.destinationPort, "port", r.port, r.port_range, false);
  for (const p of processRuleItems(r, where)) {
    if (p.item) g.add(g.items, p.item);
    else never(p.field, p.values);
  }
  const lists: [keyof RuleMatch & string, unknown[]][] = [
    ["package_name", r.package_name],
    ["package_name_regex", r.package_name_regex],
  ];
  for (const [field, values] of lists) if (values.length > 0) never(field, values);
  if (r.clash_mode !== undefined && r.clash_mode !== "") {
    g.add(g.items, clashModeItem(r.clash_mode));
  }
  if (r.network_type.length > 0) never("network_type", r.network_type);
  if (r.network_is_expensive === true) never("network_is_expensive", [true]);
  if (r.network_is_constrained === true) never("network_is_constrained", [true]);
  if (r.wifi_ssid.length > 0) never("wifi_ssid", r.wifi_ssid);
  if (r.wifi_bssid.length > 0) never("wifi_bssid", r.wifi_bssid);
  for (const field of ["interface_address", "network_interface_address"] as const) {
    const keys = Object.keys(r[field] ?? {});
    if (keys.length > 0) never(field, keys);
  }
  if (r.default_interface_address.length > 0) {
    never(
      "default_interface_address",
      r.default_interface_address.map((p: Prefix) => formatPrefix(p)),
    );
  }
  const tail: [keyof RuleMatch & string, string[]][] = [
    ["source_mac_address", r.source_mac_address],
    ["source_hostname", r.source_hostname],
    ["preferred_by", r.preferred_by],
  ];
  for (const [field, values] of tail) if (values.length > 0) never(field, values);
  let sets: RuleSetRef[] = [];
  if (r.rule_set.length > 0) {
    sets = options.ruleSets
      ? lookupSets(r.rule_set, where, options)
      : r.rule_set.map((tag) => new LiveRuleSet(tag));
    g.add(g.items, ruleSetItem(sets, r.rule_set_ip_cidr_match_source === true, acceptEmpty));
  }
  return { matcher: new DefaultMatcher(g, r.invert === true), sets };
}

/** sing-box's description of a domain item: `domain=... domain_suffix=...`. */
export function domainText(domains: readonly string[], suffixes: readonly string[]): string {
  const parts: string[] = [];
  if (domains.length > 0) parts.push(describeList("domain", domains));
  if (suffixes.length > 0) parts.push(describeList("domain_suffix", suffixes));
  return parts.join(" ");
}

/** `domain_keyword` and `domain_regex` as destination-address items of `g` (route and headless rules). */
export function addDomainPatterns(
  g: ItemGroups,
  keywords: readonly string[],
  regexes: readonly string[],
  where: string,
): void {
  if (keywords.length > 0) {
    const kw = new DomainKeywords(keywords);
    g.add(
      g.destinationAddress,
      domainItem(describeList("domain_keyword", keywords), (n) => kw.match(n)),
    );
  }
  if (regexes.length > 0) {
    let re: DomainRegexes;
    try {
      re = new DomainRegexes(regexes);
    } catch (e) {
      throw new SyntaxError(`${where}.domain_regex: ${(e as Error).message}`, { cause: e });
    }
    g.add(
      g.destinationAddress,
      domainItem(describeList("domain_regex", regexes), (n) => re.match(n)),
    );
  }
}

/** `port`/`port_range` (or the source ones) as items of `group`, sharing one port set. */
export function addPorts(
  g: ItemGroups,
  group: RuleItem[],
  name: "port" | "source_port",
  ports: readonly number[],
  ranges: readonly { start: number; end: number }[],
  isSource: boolean,
): void {
  if (ports.length === 0 && ranges.length === 0) return;
  const set = new PortSet(ports, ranges);
  const match = isSource
    ? (m: ConnMetadata) => set.has(m.source.port)
    : (m: ConnMetadata) => set.has(m.destination.port);
  if (ports.length > 0) {
    g.add(group, { text: describeList(name, ports.map(String), false), match });
  }
  if (ranges.length > 0) {
    g.add(group, {
      text: describeList(`${name}_range`, ranges.map((r) => `${r.start}:${r.end}`), false),
      match,
    });
  }
}
