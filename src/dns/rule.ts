/**
 * DNS rules (sing-box `route/rule/rule_dns.go`, 1.12/1.13 semantics), compiled with the route
 * matchers (`compileRuleMatch` from `src/route/`) plus the DNS-only items:
 *
 * - `query_type` (names such as `A`, `HTTPS`, or numbers) matches the question's type;
 * - domain items match the question's name; `ip_version` matches 4 for A and 6 for AAAA
 *   questions (other questions keep the flow's version); the request's inbound, network and
 *   source come from the hijacked flow; its destination is cleared, as sing-box does, so
 *   `port`/`ip_cidr`-by-destination never match the DNS server's address;
 * - address filter items (`ip_cidr`, `ip_is_private`, `ip_accept_any`) are evaluated on the
 *   response: a rule with them only applies to A/AAAA/HTTPS questions, matches first on its
 *   other items, and its route action's answer is accepted only when one of the answer's
 *   addresses matches (a failed or empty answer never does); otherwise matching goes on with
 *   the next rule. Inside logical rules these items never match (reported as a warning);
 * - `outbound` (deprecated) matches the outbound whose dial makes the lookup (`any`: every
 *   outbound); lookups for connections and tunbox's own have none (reported as a warning).
 *
 * @module
 */

import type {
  DnsDefaultRule,
  DnsRule,
  DnsRuleAction,
  DomainStrategy,
  Prefix,
} from "../config/types.ts";
import { verdict } from "../config/support.ts";
import { formatPrefix } from "../net/ip.ts";
import type { ConnMetadata } from "../route/metadata.ts";
import { isPrivateAddr } from "../net/ip_private.ts";
import { compileRuleMatch } from "../route/rule.ts";
import { IpSet } from "../route/ip_set.ts";
import { MatchState, type RuleSetLookup } from "../route/match_state.ts";
import { typeCode, typeName } from "../net/dns/packet.ts";
import { compilePredefined, type PredefinedAnswer } from "../net/dns/predefined.ts";

/** A compiled DNS rule action. */
export type CompiledDnsAction =
  | {
    kind: "route";
    server: string;
    strategy: DomainStrategy;
    disableCache: boolean;
    rewriteTtl: number | undefined;
    clientSubnet: Prefix | undefined;
    text: string;
  }
  | {
    kind: "route-options";
    disableCache: boolean;
    rewriteTtl: number | undefined;
    clientSubnet: Prefix | undefined;
    text: string;
  }
  | { kind: "reject"; method: "default" | "drop"; text: string }
  | { kind: "predefined"; answer: PredefinedAnswer; text: string };

/** A compiled top-level DNS rule. */
export interface CompiledDnsRule {
  /** Index in `dns.rules`. */
  readonly index: number;
  /** `condition => action`, for logs. */
  readonly text: string;
  readonly action: CompiledDnsAction;
  /**
   * True when the rule has address filter items, or includes a rule-set that now has an
   * `ip_cidr` rule (sing-box `WithAddressLimit`): it is checked on the response.
   */
  readonly addressLimited: boolean;
  /** Whether the rule applies to the request (before any response). */
  match(meta: ConnMetadata, qtype: number): boolean;
  /** For address-limited rules: whether the response's addresses satisfy the rule. */
  acceptResponse(meta: ConnMetadata, qtype: number, addrs: readonly Uint8Array[]): boolean;
}

interface Matcher {
  readonly conditionText: string;
  match(meta: ConnMetadata, qtype: number): boolean;
}

function describe(name: string, values: readonly string[]): string {
  if (values.length === 1) return `${name}=${values[0]}`;
  if (values.length > 3) return `${name}=[${values.slice(0, 3).join(" ")}...]`;
  return `${name}=[${values.join(" ")}]`;
}

function queryTypes(values: readonly (string | number)[], where: string): Set<number> {
  const set = new Set<number>();
  values.forEach((v, i) => {
    const code = typeof v === "number" ? v : typeCode(v);
    if (code === undefined) {
      throw new TypeError(`${where}.query_type[${i}]: unknown query type "${v}"`);
    }
    set.add(code);
  });
  return set;
}

function compileAction(a: DnsRuleAction, where: string): CompiledDnsAction {
  const opts = (x: { disable_cache?: boolean; rewrite_ttl?: number; client_subnet?: Prefix }) => {
    const parts: string[] = [];
    if (x.disable_cache) parts.push("disable_cache");
    if (x.rewrite_ttl !== undefined) parts.push(`rewrite_ttl=${x.rewrite_ttl}`);
    if (x.client_subnet) parts.push(`client_subnet=${formatPrefix(x.client_subnet)}`);
    return parts;
  };
  switch (a.action) {
    case "route": {
      const parts = [a.server, ...(a.strategy ? [`strategy=${a.strategy}`] : []), ...opts(a)];
      return {
        kind: "route",
        server: a.server,
        strategy: a.strategy ?? "",
        disableCache: a.disable_cache === true,
        rewriteTtl: a.rewrite_ttl,
        clientSubnet: a.client_subnet,
        text: `route(${parts.join(",")})`,
      };
    }
    case "route-options":
      return {
        kind: "route-options",
        disableCache: a.disable_cache === true,
        rewriteTtl: a.rewrite_ttl,
        clientSubnet: a.client_subnet,
        text: `route-options(${opts(a).join(",")})`,
      };
    case "reject":
      return {
        kind: "reject",
        method: a.method,
        text: a.method === "default" ? "reject" : `reject(${a.method})`,
      };
    case "predefined": {
      const answer = compilePredefined(a, where);
      return { kind: "predefined", answer, text: answer.text };
    }
  }
}

/** Flags for matching a request: rule-sets' destination `ip_cidr` items wait for the response. */
const REQUEST_STATE = new MatchState();
/** Flags for matching a response. */
const RESPONSE_STATE = new MatchState();

/** The route-matcher part of a default DNS rule (address filter items left out). */
function compileDefault(
  rule: DnsDefaultRule,
  where: string,
  warnings: string[],
  nested: boolean,
  ruleSets: RuleSetLookup | undefined,
): Matcher & {
  addressFilter: ((addrs: readonly Uint8Array[]) => boolean) | null;
  addressText: string;
  /** sing-box `MatchAddressLimit` of the route part: rule-sets' `ip_cidr` against `addrs`. */
  matchResponse(meta: ConnMetadata, qtype: number, addrs: Uint8Array[]): boolean;
  /** The included rule-sets now have a destination `ip_cidr` rule. */
  readonly ruleSetHasIpCidr: boolean;
} {
  const { ip_cidr, ip_is_private, invert: _invert, ...rest } = rule;
  const route = compileRuleMatch(
    { ...rest, ip_cidr: [] },
    where,
    warnings,
    ruleSets ? { ruleSets } : {},
    rule.rule_set_ip_cidr_accept_empty === true,
  );
  const qtypes = rule.query_type.length > 0 ? queryTypes(rule.query_type, where) : null;
  if (rule.outbound.length > 0) {
    warnings.push(`${where}: ${verdict("dns.rule.outbound").message}`);
  }
  const addressParts: string[] = [];
  if (ip_cidr.length > 0) addressParts.push(describe("ip_cidr", ip_cidr.map(formatPrefix)));
  if (ip_is_private === true) addressParts.push("ip_is_private=true");
  if (rule.ip_accept_any === true) addressParts.push("ip_accept_any=true");
  let addressFilter: ((addrs: readonly Uint8Array[]) => boolean) | null = null;
  if (addressParts.length > 0) {
    if (nested) {
      warnings.push(`${where}: ${verdict("dns.rule.nested_address_filter").message}`);
      addressFilter = () => false;
    } else {
      const set = ip_cidr.length > 0 ? new IpSet(ip_cidr) : null;
      const priv = ip_is_private === true;
      const any = rule.ip_accept_any === true;
      addressFilter = (addrs) => {
        for (const a of addrs) {
          if (any) return true;
          if (set && set.contains(a)) return true;
          if (priv && isPrivateAddr(a)) return true;
        }
        return false;
      };
    }
  }
  const parts: string[] = [];
  if (qtypes) parts.push(describe("query_type", [...qtypes].map(typeName)));
  if (route.conditionText !== "") parts.push(route.conditionText);
  if (rule.outbound.length > 0) parts.push(describe("outbound", rule.outbound));
  // Legacy `outbound` (sing-box rule_item_outbound.go): the tag of the outbound whose dial asks;
  // "any" matches every lookup an outbound makes.
  const outbounds = rule.outbound.length > 0 ? new Set(rule.outbound) : null;
  const anyOutbound = outbounds?.has("any") === true;
  const never = (meta: ConnMetadata): boolean =>
    outbounds !== null &&
    !(anyOutbound && meta.outbound !== "") && !outbounds.has(meta.outbound);
  return {
    conditionText: [...parts, ...addressParts].join(" "),
    addressText: addressParts.join(" "),
    addressFilter,
    match(meta, qtype) {
      if (never(meta)) return false;
      if (qtypes && !qtypes.has(qtype)) return false;
      const st = REQUEST_STATE;
      st.reset();
      st.ignoreDestinationIpCidr = true;
      return route.match(meta, st);
    },
    matchResponse(meta, qtype, addrs) {
      if (never(meta)) return false;
      if (qtypes && !qtypes.has(qtype)) return false;
      const st = RESPONSE_STATE;
      st.reset();
      return route.match({ ...meta, destinationAddresses: addrs }, st);
    },
    get ruleSetHasIpCidr() {
      return route.ruleSetHasIpCidr;
    },
  };
}

function compileMatcher(
  rule: DnsRule,
  where: string,
  warnings: string[],
  nested: boolean,
  ruleSets: RuleSetLookup | undefined,
): Matcher {
  if (rule.type === "logical") {
    const subs = rule.rules.map((r, i) =>
      compileMatcher(r, `${where}.rules[${i}]`, warnings, true, ruleSets)
    );
    const invert = rule.invert === true;
    const and = rule.mode === "and";
    const joined = subs.map((s) => s.conditionText).join(and ? " && " : " || ");
    return {
      conditionText: invert ? `!(${joined})` : joined,
      match(meta, qtype) {
        const r = and
          ? subs.every((s) => s.match(meta, qtype))
          : subs.some((s) => s.match(meta, qtype));
        return r !== invert;
      },
    };
  }
  const d = compileDefault(rule, where, warnings, nested, ruleSets);
  const invert = rule.invert === true;
  if (d.conditionText === "") return { conditionText: "", match: () => true };
  const filter = d.addressFilter;
  return {
    conditionText: invert ? `!(${d.conditionText})` : d.conditionText,
    match: (meta, qtype) => {
      const pre = d.match(meta, qtype) && (filter === null || filter([]));
      return pre !== invert;
    },
  };
}

/**
 * Compiles `dns.rules`. Throws TypeError naming the rule for invalid values; problems that do
 * not stop compilation are appended to `warnings`. `ruleSets` resolves `rule_set` items.
 */
export function compileDnsRules(
  rules: readonly DnsRule[],
  warnings: string[],
  ruleSets?: RuleSetLookup,
): CompiledDnsRule[] {
  return rules.map((rule, index) => {
    const where = rule.source?.path ?? `dns.rules[${index}]`;
    const action = compileAction(rule.action, where);
    if (rule.type === "logical") {
      const m = compileMatcher(rule, where, warnings, false, ruleSets);
      return {
        index,
        text: m.conditionText === "" ? action.text : `${m.conditionText} => ${action.text}`,
        action,
        addressLimited: false,
        match: (meta, qtype) => m.match(meta, qtype),
        acceptResponse: () => true,
      };
    }
    const d = compileDefault(rule, where, warnings, false, ruleSets);
    const invert = rule.invert === true;
    const filter = d.addressFilter;
    const text = d.conditionText === ""
      ? action.text
      : `${invert ? `!(${d.conditionText})` : d.conditionText} => ${action.text}`;
    if (d.conditionText === "") {
      return {
        index,
        text,
        action,
        addressLimited: false,
        match: () => true,
        acceptResponse: () => true,
      };
    }
    return {
      index,
      text,
      action,
      // Rule-sets can gain or lose ip_cidr rules when they are updated: decided per query.
      get addressLimited() {
        return filter !== null || d.ruleSetHasIpCidr;
      },
      // Inverted: the response decides (the rule holds unless the request and response match).
      match: (meta, qtype) => {
        if (filter === null && !d.ruleSetHasIpCidr) return d.match(meta, qtype) !== invert;
        return invert || d.match(meta, qtype);
      },
      acceptResponse: (meta, qtype, addrs) => {
        const hit = d.matchResponse(meta, qtype, [...addrs]) && (filter === null || filter(addrs));
        return hit !== invert;
      },
    };
  });
}
