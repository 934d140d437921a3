/**
 * Rules of rule-sets ("headless rules", sing-box `route/rule/rule_headless.go`): the form they
 * take once loaded, and their compilation into matchers.
 *
 * A loaded rule is the source-format rule plus, optionally, prebuilt structures for its large
 * items ({@linkcode BinaryItems}): a binary rule-set carries its domain trie and IP ranges as
 * they are in the file, and a source set's lists are turned into the same structures once, on the
 * thread that loaded it. The structures are plain typed arrays (in `SharedArrayBuffer`s when
 * built for sharing), so a loaded set can be posted to every worker without copying them.
 *
 * Compilation follows sing-box: item order and descriptions as `NewDefaultHeadlessRule`,
 * `query_type` is accepted but not matched (sing-box never adds an item for it), process, Wi-Fi,
 * network type and interface address items never match in tunbox.
 *
 * @module
 */

import type { HeadlessDefaultRule, HeadlessLogicalRule, HeadlessRule } from "../config/types.ts";
import { Invalid, parsePortRange, parsePrefixText } from "../config/values.ts";
import type { IpRange, Prefix } from "../net/ip.ts";
import { prefixToRange } from "../net/ip.ts";
import { AdGuardMatcher } from "./adguard.ts";
import type { ByteTrieData } from "./byte_trie.ts";
import { DomainSet } from "./domain_set.ts";
import { IpSet, type IpSetData } from "./ip_set.ts";
import type { Matcher } from "./match_state.ts";
import { addDomainPatterns, addPorts, domainText } from "./rule.ts";
import { processRuleItems } from "./process.ts";
import {
  DefaultMatcher,
  describeList,
  domainItem,
  ipCidrItem,
  ItemGroups,
  LogicalMatcher,
  unsupportedItem,
  UnsupportedLog,
} from "./rule_items.ts";

/** Large items of a rule, prebuilt (from a binary file, or from lists on the loading thread). */
export interface BinaryItems {
  /** `domain` + `domain_suffix` as sing-box's trie. */
  domain?: ByteTrieData;
  /** Description of the lists the trie was built from; absent for a binary set. */
  domainText?: string;
  ip?: IpSetData;
  ipText?: string;
  sourceIp?: IpSetData;
  sourceIpText?: string;
  /** AdGuard filter patterns (binary sets made by `rule-set convert --type adguard`). */
  adguard?: ByteTrieData;
}

/** A loaded default rule. */
export interface RuleSetDefaultRule extends HeadlessDefaultRule {
  binary?: BinaryItems;
}

/** A loaded logical rule. */
export interface RuleSetLogicalRule extends Omit<HeadlessLogicalRule, "rules"> {
  rules: RuleSetRule[];
}

/** A rule of a loaded rule-set. */
export type RuleSetRule = RuleSetDefaultRule | RuleSetLogicalRule;

function parseCidrs(list: readonly string[], where: string): Prefix[] {
  return list.map((s, i) => {
    const p = parsePrefixText(s, true);
    if (p instanceof Invalid) {
      throw new TypeError(`${where}[${i}]: invalid prefix ${JSON.stringify(s)}: ${p.reason}`);
    }
    return p;
  });
}

function parseRanges(list: readonly string[], where: string): { start: number; end: number }[] {
  return list.map((s, i) => {
    const r = parsePortRange(s);
    if (r instanceof Invalid) {
      throw new TypeError(`${where}[${i}]: invalid range ${JSON.stringify(s)}: ${r.reason}`);
    }
    return r;
  });
}

/** The IP ranges of a list of CIDR strings (checked). */
export function cidrRanges(list: readonly string[], where: string): IpRange[] {
  return parseCidrs(list, where).map(prefixToRange);
}

/**
 * Replaces the large lists of source-format rules by prebuilt structures (domain trie, IP
 * ranges), keeping their descriptions, so a set is built once and shared by every worker.
 * `shared` puts the arrays in `SharedArrayBuffer`s. Returns new rule objects.
 */
export function prebuildRules(
  rules: readonly RuleSetRule[],
  where: string,
  shared: boolean,
): RuleSetRule[] {
  return rules.map((r, i): RuleSetRule => {
    const at = `${where}[${i}]`;
    if (r.type === "logical") {
      return { ...r, rules: prebuildRules(r.rules, `${at}.rules`, shared) };
    }
    const out: RuleSetDefaultRule = { ...r, binary: { ...r.binary } };
    const b = out.binary!;
    if (r.domain.length > 0 || r.domain_suffix.length > 0) {
      b.domain = new DomainSet(r.domain, r.domain_suffix, false, shared).trie.data;
      b.domainText = domainText(r.domain, r.domain_suffix);
      out.domain = [];
      out.domain_suffix = [];
    }
    if (r.ip_cidr.length > 0) {
      b.ip = IpSet.fromRanges(cidrRanges(r.ip_cidr, `${at}.ip_cidr`), shared).data;
      b.ipText = describeList("ip_cidr", r.ip_cidr);
      out.ip_cidr = [];
    }
    if (r.source_ip_cidr.length > 0) {
      b.sourceIp = IpSet.fromRanges(cidrRanges(r.source_ip_cidr, `${at}.source_ip_cidr`), shared)
        .data;
      b.sourceIpText = describeList("source_ip_cidr", r.source_ip_cidr);
      out.source_ip_cidr = [];
    }
    return out;
  });
}

/** The compiled rules of one rule-set and what sing-box records about them. */
export interface CompiledRuleSet {
  rules: Matcher[];
  /** sing-box `ContainsIPCIDRRule`: some rule has a destination `ip_cidr`. */
  containsIpCidr: boolean;
  /** Problems that did not stop compilation (fields tunbox cannot evaluate). */
  warnings: string[];
}

/**
 * Compiles a loaded rule-set. `where` names it in errors and warnings (`rule-set "geoip-cn"`).
 * Throws `TypeError`/`SyntaxError` naming the rule for invalid values.
 */
export function compileRuleSet(rules: readonly RuleSetRule[], where: string): CompiledRuleSet {
  const unsupported = new UnsupportedLog();
  const compiled = rules.map((r, i) => compileRule(r, `${where}.rules[${i}]`, unsupported));
  const warnings: string[] = [];
  unsupported.flush(warnings);
  return { rules: compiled, containsIpCidr: hasIpCidr(rules), warnings };
}

function hasIpCidr(rules: readonly RuleSetRule[]): boolean {
  for (const r of rules) {
    if (r.type === "logical") {
      if (hasIpCidr(r.rules)) return true;
    } else if (r.ip_cidr.length > 0 || r.binary?.ip !== undefined) return true;
  }
  return false;
}

/**
 * The destination IP ranges of a set's rules, logical rules included (sing-box
 * `ExtractIPSet`, for the tun inbound's `route_address_set`).
 */
export function extractIpRanges(rules: readonly RuleSetRule[], where = "rules"): IpRange[] {
  const out: IpRange[] = [];
  rules.forEach((r, i) => {
    if (r.type === "logical") {
      out.push(...extractIpRanges(r.rules, `${where}[${i}].rules`));
      return;
    }
    if (r.binary?.ip) out.push(...new IpSet(r.binary.ip).ranges());
    if (r.ip_cidr.length > 0) out.push(...cidrRanges(r.ip_cidr, `${where}[${i}].ip_cidr`));
  });
  return out;
}

function compileRule(rule: RuleSetRule, where: string, unsupported: UnsupportedLog): Matcher {
  if (rule.type === "logical") {
    if (rule.mode !== "and" && rule.mode !== "or") {
      throw new TypeError(`${where}: unknown logical mode "${rule.mode as string}"`);
    }
    if (rule.rules.length === 0) throw new TypeError(`${where}: missing conditions`);
    const subs = rule.rules.map((r, i) => compileRule(r, `${where}.rules[${i}]`, unsupported));
    return new LogicalMatcher(rule.mode, subs, rule.invert === true);
  }
  return compileDefault(rule, where, unsupported);
}

function compileDefault(
  r: RuleSetDefaultRule,
  where: string,
  unsupported: UnsupportedLog,
): DefaultMatcher {
  const g = new ItemGroups();
  const b = r.binary ?? {};
  const never = (field: string, values: readonly unknown[]) =>
    g.add(g.items, unsupportedItem(field, values, where, unsupported));
  if (r.network.length > 0) {
    const set = new Set<string>(r.network);
    g.add(g.items, {
      text: describeList("network", r.network, false),
      match: (m) => set.has(m.network),
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
  } else if (b.domain) {
    const set = new DomainSet(b.domain);
    g.add(
      g.destinationAddress,
      domainItem(b.domainText ?? "domain/domain_suffix=<binary>", (n) => set.match(n)),
    );
  }
  addDomainPatterns(g, r.domain_keyword, r.domain_regex, where);
  if (r.source_ip_cidr.length > 0) {
    const set = IpSet.fromRanges(cidrRanges(r.source_ip_cidr, `${where}.source_ip_cidr`));
    g.add(
      g.sourceAddress,
      ipCidrItem(set, true, describeList("source_ip_cidr", r.source_ip_cidr)),
    );
  } else if (b.sourceIp) {
    const text = b.sourceIpText ?? "source_ip_cidr=<binary>";
    g.add(g.sourceAddress, ipCidrItem(new IpSet(b.sourceIp), true, text));
  }
  if (r.ip_cidr.length > 0) {
    const set = IpSet.fromRanges(cidrRanges(r.ip_cidr, `${where}.ip_cidr`));
    g.add(g.destinationIpCidr, ipCidrItem(set, false, describeList("ip_cidr", r.ip_cidr)));
  } else if (b.ip) {
    const text = b.ipText ?? "ip_cidr=<binary>";
    g.add(g.destinationIpCidr, ipCidrItem(new IpSet(b.ip), false, text));
  }
  addPorts(
    g,
    g.sourcePort,
    "source_port",
    r.source_port,
    parseRanges(r.source_port_range, `${where}.source_port_range`),
    true,
  );
  addPorts(
    g,
    g.destinationPort,
    "port",
    r.port,
    parseRanges(r.port_range, `${where}.port_range`),
    false,
  );
  for (const p of processRuleItems(r, where)) {
    if (p.item) g.add(g.items, p.item);
    else never(p.field, p.values);
  }
  const lists: [string, readonly unknown[]][] = [
    ["package_name", r.package_name],
    ["package_name_regex", r.package_name_regex],
    ["network_type", r.network_type],
  ];
  for (const [field, values] of lists) if (values.length > 0) never(field, values);
  if (r.network_is_expensive === true) never("network_is_expensive", [true]);
  if (r.network_is_constrained === true) never("network_is_constrained", [true]);
  if (r.wifi_ssid.length > 0) never("wifi_ssid", r.wifi_ssid);
  if (r.wifi_bssid.length > 0) never("wifi_bssid", r.wifi_bssid);
  if (r.network_interface_address.length > 0) {
    never("network_interface_address", r.network_interface_address.map(([k]) => k));
  }
  if (r.default_interface_address.length > 0) {
    never("default_interface_address", r.default_interface_address);
  }
  if (b.adguard) {
    const m = new AdGuardMatcher(b.adguard);
    g.add(g.destinationAddress, domainItem("!adguard_domain_rules=<binary>", (n) => m.match(n)));
  }
  if (g.all.length === 0 && r.query_type.length === 0) {
    throw new TypeError(`${where}: missing conditions`);
  }
  return new DefaultMatcher(g, r.invert === true);
}

/** Every rule of a set, logical rules' sub-rules included, depth first. */
export function* allRules(rules: readonly (HeadlessRule | RuleSetRule)[]): Generator<RuleSetRule> {
  for (const r of rules) {
    yield r as RuleSetRule;
    if (r.type === "logical") yield* allRules(r.rules);
  }
}
