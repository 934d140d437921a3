/**
 * Rule compilation (sing-box `route/rule/rule_default.go`, `rule_abstract.go`, `rule_item_*.go`).
 *
 * A default rule's items fall into groups. Items in one group are OR-ed, groups are AND-ed:
 *
 * ```
 * (domain ‖ domain_suffix ‖ domain_keyword ‖ domain_regex ‖ ip_cidr ‖ ip_is_private)
 *   && (port ‖ port_range)
 *   && (source_ip_cidr ‖ source_ip_is_private)
 *   && (source_port ‖ source_port_range)
 *   && every other item (inbound, ip_version, network, protocol, client, ...)
 * ```
 *
 * A group without items is not checked; a rule without any item matches every flow (and
 * `invert` has no effect on it, as in sing-box). `invert` negates the result otherwise.
 *
 * Item semantics follow sing-box:
 * - domain items match the lowercased `meta.domain`, else the FQDN destination; with neither
 *   they do not match (so on TUN flows they need a `sniff` first);
 * - `ip_cidr` and `ip_is_private` match the destination IP; for a domain destination (after
 *   `override_address` with a name) they match any of the `resolve`d `destinationAddresses`;
 * - `ip_version` matches the flow's IP version or the current destination's family.
 *
 * Items that need data tunbox does not have (process, package, user, Wi-Fi, network type, clash
 * mode, rule sets, geoip/geosite, ...) compile to an item that never matches, and are reported
 * once per field through the `warnings` of {@linkcode compileRules}.
 *
 * @module
 */

import type { LogicalRule, Prefix, Rule, RuleMatch } from "../config/types.ts";
import { formatPrefix } from "../net/ip.ts";
import { featureId, verdict } from "../config/support.ts";
import { compileAction, type CompiledAction } from "./action.ts";
import { DomainKeywords, DomainSet } from "./domain_set.ts";
import { DomainRegexes } from "./domain_regex.ts";
import { IpSet } from "./ip_set.ts";
import { isPrivateAddr } from "../net/ip_private.ts";
import type { ConnMetadata } from "./metadata.ts";
import { PortSet } from "./port_set.ts";
import { clashModeItem } from "./clash_mode.ts";

/**
 * One condition evaluated while matching, recorded when a trace list is passed to `match`
 * (`tunbox explain`). Items are recorded in evaluation order; evaluation stops at the first
 * item that decides the rule, so later items are absent.
 */
export interface ItemTrace {
  /** The item's description (`port=443`), or a sub-rule's condition inside a logical rule. */
  text: string;
  matched: boolean;
  /** A logical rule's sub-rule: the items evaluated inside it. */
  items?: ItemTrace[];
}

/** One condition of a default rule. */
export interface RuleItem {
  /** sing-box's description, e.g. `ip_cidr=[10.0.0.0/8 fc00::/7]`. */
  readonly text: string;
  match(meta: ConnMetadata): boolean;
}

/** A compiled rule (default or logical): a matcher plus its action. */
export interface CompiledRule {
  /** Condition description (`ip_is_private=true`), "" for a rule without conditions. */
  readonly conditionText: string;
  /** `conditionText => actionText`, the form sing-box logs. */
  readonly text: string;
  readonly action: CompiledAction;
  /** Index in `route.rules`. */
  readonly index: number;
  /** Whether the rule matches; with `trace`, the items evaluated are appended to it. */
  match(meta: ConnMetadata, trace?: ItemTrace[]): boolean;
}

/** A matcher without an action (sub-rules of logical rules). */
interface Matcher {
  readonly conditionText: string;
  match(meta: ConnMetadata, trace?: ItemTrace[]): boolean;
}

/** Result of {@linkcode compileRules}. */
export interface CompiledRules {
  rules: CompiledRule[];
  /** Human-readable problems that did not stop compilation (unsupported fields, sniffers). */
  warnings: string[];
}

/** Collects unsupported-field uses so each field is reported once. */
class UnsupportedLog {
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
  }
}

/**
 * Compiles `route.rules`. Throws `TypeError`/`SyntaxError` naming the rule
 * (`route.rules[3].domain_regex[0]: ...`) for invalid values; returns warnings for conditions
 * tunbox cannot evaluate.
 */
export function compileRules(rules: readonly Rule[]): CompiledRules {
  const warnings: string[] = [];
  const unsupported = new UnsupportedLog();
  const compiled = rules.map((rule, index) => {
    const where = rule.source?.path ?? `route.rules[${index}]`;
    const matcher = compileMatcher(rule, where, unsupported);
    const action = compileAction(rule.action, where, warnings);
    const text = matcher.conditionText === ""
      ? action.text
      : `${matcher.conditionText} => ${action.text}`;
    const out: CompiledRule = {
      conditionText: matcher.conditionText,
      text,
      action,
      index,
      match: (meta, trace) => matcher.match(meta, trace),
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
  /** Whether the condition holds; with `trace`, the items evaluated are appended to it. */
  match(meta: ConnMetadata, trace?: ItemTrace[]): boolean;
}

/**
 * Compiles the conditions of one default rule without its action (DNS rules reuse the route
 * matchers this way). Throws like {@linkcode compileRules}; fields tunbox cannot evaluate never
 * match and are reported in `warnings`.
 */
export function compileRuleMatch(match: RuleMatch, where: string, warnings: string[]): RuleMatcher {
  const unsupported = new UnsupportedLog();
  const matcher = compileDefault(match, where, unsupported);
  unsupported.flush(warnings);
  return matcher;
}

function compileMatcher(rule: Rule, where: string, unsupported: UnsupportedLog): Matcher {
  return rule.type === "logical"
    ? compileLogical(rule, where, unsupported)
    : compileDefault(rule, where, unsupported);
}

function compileLogical(rule: LogicalRule, where: string, unsupported: UnsupportedLog): Matcher {
  if (rule.mode !== "and" && rule.mode !== "or") {
    throw new TypeError(`${where}: unknown logical mode "${rule.mode as string}"`);
  }
  const subs = rule.rules.map((r, i) => compileMatcher(r, `${where}.rules[${i}]`, unsupported));
  const invert = rule.invert === true;
  const op = rule.mode === "and" ? " && " : " || ";
  const joined = subs.map((s) => s.conditionText).join(op);
  const conditionText = invert ? `!(${joined})` : joined;
  const subMatch = (s: Matcher, meta: ConnMetadata, trace: ItemTrace[] | undefined) => {
    if (!trace) return s.match(meta);
    const items: ItemTrace[] = [];
    const matched = s.match(meta, items);
    trace.push({ text: s.conditionText, matched, items });
    return matched;
  };
  if (rule.mode === "and") {
    return {
      conditionText,
      match(meta, trace) {
        for (const s of subs) if (!subMatch(s, meta, trace)) return invert;
        return !invert;
      },
    };
  }
  return {
    conditionText,
    match(meta, trace) {
      for (const s of subs) if (subMatch(s, meta, trace)) return !invert;
      return invert;
    },
  };
}

/** Describes a list as sing-box does: one value bare, 2–3 in brackets, more cut after three. */
function describeList(name: string, values: readonly string[], cut = true): string {
  if (values.length === 1) return `${name}=${values[0]}`;
  if (cut && values.length > 3) return `${name}=[${values.slice(0, 3).join(" ")}...]`;
  return `${name}=[${values.join(" ")}]`;
}

function domainOf(meta: ConnMetadata): string {
  if (meta.domain !== "") return meta.domain.toLowerCase();
  const fqdn = meta.destination.fqdn;
  return fqdn ? fqdn.toLowerCase() : "";
}

function compileDefault(rule: RuleMatch, where: string, unsupported: UnsupportedLog): Matcher {
  const r: RuleMatch = rule;
  const items: RuleItem[] = [];
  const destAddr: RuleItem[] = [];
  const destPort: RuleItem[] = [];
  const srcAddr: RuleItem[] = [];
  const srcPort: RuleItem[] = [];
  /** Description order: sing-box's `allItems` order. */
  const all: RuleItem[] = [];
  const add = (group: RuleItem[], item: RuleItem) => {
    group.push(item);
    all.push(item);
  };

  if (r.inbound.length > 0) {
    const set = new Set(r.inbound);
    add(items, {
      text: describeList("inbound", r.inbound, false),
      match: (m) => set.has(m.inbound),
    });
  }
  if (r.ip_version !== undefined) {
    const v = r.ip_version;
    if (v !== 4 && v !== 6) throw new TypeError(`${where}: invalid ip_version ${v as number}`);
    add(items, {
      text: `ip_version=${v}`,
      match: (m) =>
        m.ipVersion === v ||
        (m.destination.addr.length !== 0 && (m.destination.addr.length === 16 ? 6 : 4) === v),
    });
  }
  if (r.network.length > 0) {
    const set = new Set<string>(r.network);
    add(items, {
      text: describeList("network", r.network, false),
      match: (m) => set.has(m.network),
    });
  }
  if (r.auth_user.length > 0) {
    unsupportedItem(all, items, "auth_user", r.auth_user, where, unsupported);
  }
  if (r.protocol.length > 0) {
    const set = new Set(r.protocol);
    add(items, {
      text: describeList("protocol", r.protocol, false),
      match: (m) => set.has(m.protocol),
    });
  }
  if (r.client.length > 0) {
    const set = new Set(r.client);
    add(items, {
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
    const parts: string[] = [];
    if (r.domain.length > 0) parts.push(describeList("domain", r.domain));
    if (r.domain_suffix.length > 0) parts.push(describeList("domain_suffix", r.domain_suffix));
    add(destAddr, {
      text: parts.join(" "),
      match: (m) => {
        const name = domainOf(m);
        return name !== "" && set.match(name);
      },
    });
  }
  if (r.domain_keyword.length > 0) {
    const kw = new DomainKeywords(r.domain_keyword);
    add(destAddr, {
      text: describeList("domain_keyword", r.domain_keyword),
      match: (m) => {
        const name = domainOf(m);
        return name !== "" && kw.match(name);
      },
    });
  }
  if (r.domain_regex.length > 0) {
    let re: DomainRegexes;
    try {
      re = new DomainRegexes(r.domain_regex);
    } catch (e) {
      throw new SyntaxError(`${where}.domain_regex: ${(e as Error).message}`, { cause: e });
    }
    add(destAddr, {
      text: describeList("domain_regex", r.domain_regex),
      match: (m) => {
        const name = domainOf(m);
        return name !== "" && re.match(name);
      },
    });
  }
  if (r.geosite.length > 0) unsupportedItem(all, items, "geosite", r.geosite, where, unsupported);
  if (r.source_geoip.length > 0) {
    unsupportedItem(all, items, "source_geoip", r.source_geoip, where, unsupported);
  }
  if (r.geoip.length > 0) unsupportedItem(all, items, "geoip", r.geoip, where, unsupported);
  if (r.source_ip_cidr.length > 0) {
    const set = new IpSet(r.source_ip_cidr);
    add(srcAddr, {
      text: describeList("source_ip_cidr", r.source_ip_cidr.map(formatPrefix)),
      match: (m) => set.contains(m.source.addr),
    });
  }
  if (r.source_ip_is_private === true) {
    add(srcAddr, {
      text: "source_ip_is_private=true",
      match: (m) => isPrivateAddr(m.source.addr),
    });
  }
  if (r.ip_cidr.length > 0) {
    const set = new IpSet(r.ip_cidr);
    add(destAddr, {
      text: describeList("ip_cidr", r.ip_cidr.map(formatPrefix)),
      match: (m) => {
        if (m.destination.addr.length !== 0) return set.contains(m.destination.addr);
        for (const a of m.destinationAddresses) if (set.contains(a)) return true;
        return false;
      },
    });
  }
  if (r.ip_is_private === true) {
    add(destAddr, {
      text: "ip_is_private=true",
      match: (m) => {
        if (m.destination.addr.length !== 0) return isPrivateAddr(m.destination.addr);
        for (const a of m.destinationAddresses) if (isPrivateAddr(a)) return true;
        return false;
      },
    });
  }
  if (r.source_port.length > 0 || r.source_port_range.length > 0) {
    const set = new PortSet(r.source_port, r.source_port_range);
    const match = (m: ConnMetadata) => set.has(m.source.port);
    if (r.source_port.length > 0) {
      add(srcPort, { text: describeList("source_port", r.source_port.map(String), false), match });
    }
    if (r.source_port_range.length > 0) {
      add(srcPort, {
        text: describeList("source_port_range", r.source_port_range.map(formatRange), false),
        match,
      });
    }
  }
  if (r.port.length > 0 || r.port_range.length > 0) {
    const set = new PortSet(r.port, r.port_range);
    const match = (m: ConnMetadata) => set.has(m.destination.port);
    if (r.port.length > 0) {
      add(destPort, { text: describeList("port", r.port.map(String), false), match });
    }
    if (r.port_range.length > 0) {
      add(destPort, {
        text: describeList("port_range", r.port_range.map(formatRange), false),
        match,
      });
    }
  }
  const lists: [keyof RuleMatch & string, unknown[]][] = [
    ["process_name", r.process_name],
    ["process_path", r.process_path],
    ["process_path_regex", r.process_path_regex],
    ["package_name", r.package_name],
    ["user", r.user],
    ["user_id", r.user_id],
  ];
  for (const [field, values] of lists) {
    if (values.length > 0) unsupportedItem(all, items, field, values, where, unsupported);
  }
  if (r.clash_mode !== undefined && r.clash_mode !== "") add(items, clashModeItem(r.clash_mode));
  if (r.network_type.length > 0) {
    unsupportedItem(all, items, "network_type", r.network_type, where, unsupported);
  }
  if (r.network_is_expensive === true) {
    unsupportedItem(all, items, "network_is_expensive", [true], where, unsupported);
  }
  if (r.network_is_constrained === true) {
    unsupportedItem(all, items, "network_is_constrained", [true], where, unsupported);
  }
  if (r.wifi_ssid.length > 0) {
    unsupportedItem(all, items, "wifi_ssid", r.wifi_ssid, where, unsupported);
  }
  if (r.wifi_bssid.length > 0) {
    unsupportedItem(all, items, "wifi_bssid", r.wifi_bssid, where, unsupported);
  }
  for (const field of ["interface_address", "network_interface_address"] as const) {
    const keys = Object.keys(r[field] ?? {});
    if (keys.length > 0) unsupportedItem(all, items, field, keys, where, unsupported);
  }
  if (r.default_interface_address.length > 0) {
    unsupportedItem(
      all,
      items,
      "default_interface_address",
      r.default_interface_address.map((p: Prefix) => formatPrefix(p)),
      where,
      unsupported,
    );
  }
  const tail: [keyof RuleMatch & string, string[]][] = [
    ["source_mac_address", r.source_mac_address],
    ["source_hostname", r.source_hostname],
    ["preferred_by", r.preferred_by],
    ["rule_set", r.rule_set],
  ];
  for (const [field, values] of tail) {
    if (values.length > 0) unsupportedItem(all, items, field, values, where, unsupported);
  }

  const invert = rule.invert === true;
  const joined = all.map((i) => i.text).join(" ");
  const conditionText = invert ? `!(${joined})` : joined;
  if (all.length === 0) return { conditionText: "", match: () => true };

  // Cheap exact-match items first, then ports, then address groups.
  const check = (m: ConnMetadata, t?: ItemTrace[]): boolean => {
    for (const it of items) if (!itemMatch(it, m, t)) return false;
    if (destPort.length > 0 && !anyMatch(destPort, m, t)) return false;
    if (srcPort.length > 0 && !anyMatch(srcPort, m, t)) return false;
    if (srcAddr.length > 0 && !anyMatch(srcAddr, m, t)) return false;
    if (destAddr.length > 0 && !anyMatch(destAddr, m, t)) return false;
    return true;
  };
  return {
    conditionText,
    match: invert ? (m, t) => !check(m, t) : check,
  };
}

function itemMatch(it: RuleItem, m: ConnMetadata, trace: ItemTrace[] | undefined): boolean {
  const matched = it.match(m);
  if (trace) trace.push({ text: it.text, matched });
  return matched;
}

function anyMatch(group: readonly RuleItem[], m: ConnMetadata, t?: ItemTrace[]): boolean {
  for (const it of group) if (itemMatch(it, m, t)) return true;
  return false;
}

function formatRange(r: { start: number; end: number }): string {
  return `${r.start}:${r.end}`;
}

function unsupportedItem(
  all: RuleItem[],
  items: RuleItem[],
  field: string,
  values: readonly unknown[],
  where: string,
  log: UnsupportedLog,
): void {
  log.add(field, where);
  const item: RuleItem = {
    text: describeList(field, values.map(String)),
    match: () => false,
  };
  all.push(item);
  items.push(item);
}
