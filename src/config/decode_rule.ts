/**
 * Route rules, DNS rules and headless (rule-set) rules: match fields, logical rules, and rule
 * actions including the legacy `outbound`/`server` shorthand (no `action` means `route`).
 *
 * Rules nested in a logical rule and headless rules have no action of their own; they carry
 * {@linkcode NO_ACTION} (`route-options` with nothing set, a no-op) so they fit the `Rule` types.
 *
 * @module
 */

import type { JsonNode } from "./jsonc.ts";
import { type Ctx, isZero, type Obj } from "./reader.ts";
import { domainStrategy } from "./decode_dial.ts";
import { verdict } from "./support.ts";
import { compileGoRegex } from "./go_regex.ts";
import { typeCode } from "../net/dns/packet.ts";
import { compilePredefined } from "../net/dns/predefined.ts";
import type {
  DnsDefaultRule,
  DnsRule,
  DnsRuleAction,
  DnsRuleMatch,
  Network,
  RouteOptionsFields,
  Rule,
  RuleAction,
  RuleMatch,
  SourceRef,
} from "./types.ts";

/** The action carried by nested and headless rules (they have none of their own). */
export const NO_ACTION: RuleAction & DnsRuleAction = { action: "route-options" };

/** Protocols the `sniff` action knows (`sniffer` values and `protocol` match values). */
export const SNIFFERS = [
  "http",
  "tls",
  "quic",
  "stun",
  "dns",
  "bittorrent",
  "dtls",
  "ssh",
  "rdp",
  "ntp",
] as const;

/** DNS response codes accepted by the `predefined` action (sing-box's names). */
export const RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"] as const;

type RuleKind = "route" | "dns" | "headless";

/** Makes a {@linkcode SourceRef} for an object reader. */
export function sourceOf(o: Obj): SourceRef {
  return { file: o.pos.file, line: o.pos.line, column: o.pos.column, path: o.path };
}

/** A `RuleMatch` with every list empty and no flag set (the shape every decoded rule starts from). */
export function emptyMatch(): RuleMatch {
  return {
    inbound: [],
    network: [],
    auth_user: [],
    protocol: [],
    client: [],
    domain: [],
    domain_suffix: [],
    domain_keyword: [],
    domain_regex: [],
    geosite: [],
    source_geoip: [],
    geoip: [],
    source_ip_cidr: [],
    ip_cidr: [],
    source_port: [],
    source_port_range: [],
    port: [],
    port_range: [],
    process_name: [],
    process_path: [],
    process_path_regex: [],
    package_name: [],
    package_name_regex: [],
    user: [],
    user_id: [],
    network_type: [],
    wifi_ssid: [],
    wifi_bssid: [],
    interface_address: {},
    network_interface_address: {},
    default_interface_address: [],
    preferred_by: [],
    source_mac_address: [],
    source_hostname: [],
    rule_set: [],
  };
}

function regexList(o: Obj, key: string): string[] {
  return o.listable(key, (n, p) => {
    const s = o.ctx.string(n, p);
    if (s === undefined) return undefined;
    try {
      // The runtime's own translation of Go's RE2 syntax (src/route/domain_regex.ts), so what
      // check accepts compiles at run time.
      compileGoRegex(s);
    } catch (e) {
      o.ctx.error(n, p, (e as Error).message.replace("domain_regex", key));
      return undefined;
    }
    return s;
  });
}

/** A listable of strings where an empty item is an error (the route compiler refuses it). */
function nonEmptyItems(o: Obj, key: string): string[] {
  return o.listable(key, (n, p) => {
    const v = o.ctx.string(n, p);
    if (v === "") {
      o.ctx.error(n, p, "empty item is not allowed");
      return undefined;
    }
    return v;
  });
}

/**
 * `network` (route, DNS and rule-set rules alike): "tcp", "udp", "icmp"; `"tcp,udp"` is split with a warning. `""` is kept with a
 * warning: sing-box reads it as a one-item list (route/rule/rule_item_network.go) that no
 * connection matches, since a connection's network is never empty.
 */
export function networkList(o: Obj): (Network | "")[] {
  return o.listable("network", (n, p): (Network | "")[] | undefined => {
    const s = o.ctx.string(n, p);
    if (s === undefined) return undefined;
    if (s === "") {
      o.ctx.warn(
        n,
        p,
        '"" matches no connection (a connection\'s network is "tcp", "udp" or "icmp"), in sing-box ' +
          "as in tunbox: this item never matches; leave the key out to match every network",
      );
      return [""];
    }
    if (s.includes(",")) {
      const parts = s.split(",").map((x) => x.trim()).filter((x) => x !== "");
      o.ctx.warn(
        n,
        p,
        `${
          JSON.stringify(s)
        } is one value to sing-box, which then matches no connection; tunbox reads it as ${
          JSON.stringify(parts)
        }, write it as that list`,
      );
      const out: Network[] = [];
      for (const part of parts) {
        const v = o.ctx.enumOf(
          { ...n, value: part } as JsonNode,
          p,
          ["tcp", "udp", "icmp"] as const,
        );
        if (v) out.push(v);
      }
      return out;
    }
    const v = o.ctx.enumOf(n, p, ["tcp", "udp", "icmp"] as const);
    return v ? [v] : undefined;
  }).flat();
}

/**
 * `geoip`/`geosite`/`source_geoip`: read (for their types) and reported by their verdict, with
 * the command that converts this rule's codes and the rule-sets to use instead.
 */
function removedGeo(o: Obj, key: "geoip" | "geosite" | "source_geoip"): string[] {
  const values = o.strings(key);
  o.known(key);
  const p = o.find(key);
  if (!p || isZero(p.value)) return values;
  const v = verdict(`rule.${key}`, o.ctx.os);
  if (v.level === "supported") return values;
  const codes = [...new Set(values.map((c) => c.toLowerCase()).filter((c) => c !== ""))];
  o.ctx.error(p.keyPos, o.p(key), v.message + geoConversion(key, codes));
  return values;
}

/** `; here: <command> ... write "rule_set": [...] instead` for the codes of one geo item. */
export function geoConversion(key: "geoip" | "geosite" | "source_geoip", all: string[]): string {
  // geoip's "private" is a match field of its own.
  const priv = key !== "geosite" && all.includes("private")
    ? `; for "private" write "${key === "geoip" ? "" : "source_"}ip_is_private": true`
    : "";
  const codes = priv ? all.filter((c) => c !== "private") : all;
  if (codes.length === 0) return priv;
  const kind = key === "geosite" ? "geosite" : "geoip";
  const tags = codes.map((c) => `${kind}-${c}`);
  const cmd = `tunbox rule-set convert -t ${kind} --category ${
    codes.length === 1 ? codes[0] : "<code>"
  } ${kind}.db`;
  const set = (t: string) => `{"type": "local", "tag": "${t}", "path": "${t}.srs"}`;
  const use = `"rule_set": ${
    tags.length === 1
      ? JSON.stringify(tags[0])
      : `[${tags.map((t) => JSON.stringify(t)).join(", ")}]`
  }${key === "source_geoip" ? ' with "rule_set_ip_cidr_match_source": true' : ""}`;
  return priv +
    (codes.length === 1
      ? `; here: \`${cmd}\` writes ${tags[0]}.srs; add ${set(tags[0]!)} to route.rule_set and ` +
        `write ${use}`
      : `; here: run \`${cmd}\` for each of ${codes.join(", ")} (it writes ${kind}-<code>.srs), ` +
        `add each as ${set(`${kind}-<code>`)} to route.rule_set and write ${use}`);
}

/**
 * Match fields whose verdict is not "supported" everywhere: each is reported at its key, in the
 * words the runtime uses when it compiles the rule (`src/route/rule.ts`).
 */
const VERDICT_FIELDS = [
  "auth_user",
  "process_name",
  "process_path",
  "process_path_regex",
  "package_name",
  "package_name_regex",
  "user",
  "user_id",
  "clash_mode",
  "network_type",
  "network_is_expensive",
  "network_is_constrained",
  "wifi_ssid",
  "wifi_bssid",
  "interface_address",
  "network_interface_address",
  "default_interface_address",
  "preferred_by",
  "source_mac_address",
  "source_hostname",
  "rule_set",
] as const;

/**
 * Keys of sing-box's raw rule structs (`RawDefaultRule`, `RawDefaultDNSRule`): decoded in a
 * first pass and removed by exact name before the action is decoded strictly, so sing-box
 * accepts them only as spelled (no case folding).
 */
const MATCH_KEYS = [
  "type",
  "action",
  "inbound",
  "ip_version",
  "network",
  "auth_user",
  "protocol",
  "client",
  "domain",
  "domain_suffix",
  "domain_keyword",
  "domain_regex",
  "geosite",
  "source_geoip",
  "geoip",
  "source_ip_cidr",
  "source_ip_is_private",
  "ip_cidr",
  "ip_is_private",
  "source_port",
  "source_port_range",
  "port",
  "port_range",
  "process_name",
  "process_path",
  "process_path_regex",
  "package_name",
  "package_name_regex",
  "user",
  "user_id",
  "clash_mode",
  "network_type",
  "network_is_expensive",
  "network_is_constrained",
  "wifi_ssid",
  "wifi_bssid",
  "interface_address",
  "network_interface_address",
  "default_interface_address",
  "preferred_by",
  "source_mac_address",
  "source_hostname",
  "rule_set",
  "rule_set_ip_cidr_match_source",
  "rule_set_ipcidr_match_source",
  "invert",
  "mode",
  "rules",
] as const;

/** sing-box 1.14's response matching in DNS rules (after an `evaluate` action). */
const RESPONSE_ITEMS = ["response_rcode", "response_answer", "response_ns", "response_extra"];
const RESPONSE_KEYS = ["match_response", ...RESPONSE_ITEMS];

/** The DNS rule's own match keys (`RawDefaultDNSRule`), exact as {@linkcode MATCH_KEYS}. */
const DNS_MATCH_KEYS = [
  "query_type",
  "outbound",
  "ip_accept_any",
  "rule_set_ip_cidr_accept_empty",
  ...RESPONSE_KEYS,
];

/** {@linkcode MATCH_KEYS} as one shared set (a rule object uses it as its exact keys). */
const ROUTE_STRICT: ReadonlySet<string> = new Set(MATCH_KEYS);
const DNS_STRICT: ReadonlySet<string> = new Set([...MATCH_KEYS, ...DNS_MATCH_KEYS]);

/** Reads the match fields of a default rule. */
function readMatch(o: Obj, kind: RuleKind): RuleMatch {
  const m = emptyMatch();
  const ctx = o.ctx;

  if (kind !== "headless") {
    m.inbound = o.tagRefs("inbound", "inbound");
    m.auth_user = o.strings("auth_user");
    const mode = o.string("clash_mode");
    if (mode !== undefined) m.clash_mode = mode;
  }
  const ipVersion = o.at("ip_version");
  if (ipVersion) {
    const v = ctx.int(ipVersion.node, ipVersion.path, 4, 6);
    if (v === 4 || v === 6) m.ip_version = v;
    else if (v !== undefined) ctx.error(ipVersion.node, ipVersion.path, "must be 4 or 6");
  }
  m.network = networkList(o);
  m.protocol = o.strings("protocol");
  m.client = o.strings("client");
  m.domain = nonEmptyItems(o, "domain");
  m.domain_suffix = nonEmptyItems(o, "domain_suffix");
  m.domain_keyword = o.strings("domain_keyword");
  m.domain_regex = regexList(o, "domain_regex");
  m.geosite = removedGeo(o, "geosite");
  m.source_geoip = removedGeo(o, "source_geoip");
  m.geoip = removedGeo(o, "geoip");
  m.source_ip_cidr = o.prefixes("source_ip_cidr", true);
  const sip = o.bool("source_ip_is_private");
  if (sip !== undefined) m.source_ip_is_private = sip;
  m.ip_cidr = o.prefixes("ip_cidr", true);
  const ipp = o.bool("ip_is_private");
  if (ipp !== undefined) m.ip_is_private = ipp;
  m.source_port = o.ints("source_port", 0, 65535);
  m.source_port_range = o.portRanges("source_port_range");
  m.port = o.ints("port", 0, 65535);
  m.port_range = o.portRanges("port_range");
  m.process_name = o.strings("process_name");
  m.process_path = o.strings("process_path");
  m.process_path_regex = regexList(o, "process_path_regex");
  m.package_name = o.strings("package_name");
  m.package_name_regex = regexList(o, "package_name_regex");
  m.user = o.strings("user");
  m.user_id = o.ints("user_id", 0, 0xffffffff);
  m.network_type = o.strings("network_type");
  const exp = o.bool("network_is_expensive");
  if (exp !== undefined) m.network_is_expensive = exp;
  const con = o.bool("network_is_constrained");
  if (con !== undefined) m.network_is_constrained = con;
  m.wifi_ssid = o.strings("wifi_ssid");
  m.wifi_bssid = o.strings("wifi_bssid");
  m.interface_address = o.map(
    "interface_address",
    (n, p) => ctx.listable(n, p, (x, q) => ctx.prefix(x, q, true)),
  );
  m.network_interface_address = o.map(
    "network_interface_address",
    (n, p) => ctx.listable(n, p, (x, q) => ctx.prefix(x, q, true)),
  );
  m.default_interface_address = o.prefixes("default_interface_address", true);
  m.preferred_by = o.tagRefs("preferred_by", "outbound");
  m.source_mac_address = o.strings("source_mac_address");
  m.source_hostname = o.strings("source_hostname");
  if (kind !== "headless") {
    m.rule_set = o.tagRefs("rule_set", "rule-set");
    const ms = o.bool("rule_set_ip_cidr_match_source");
    if (ms !== undefined) m.rule_set_ip_cidr_match_source = ms;
    const legacy = o.bool("rule_set_ipcidr_match_source");
    if (legacy !== undefined) {
      m.rule_set_ip_cidr_match_source = legacy;
      ctx.warn(
        o.keyPos("rule_set_ipcidr_match_source"),
        o.p("rule_set_ipcidr_match_source"),
        '"rule_set_ipcidr_match_source" was renamed in sing-box 1.10.0 and removed in 1.11.0, use "rule_set_ip_cidr_match_source" instead; tunbox upgrades it',
      );
    }
  }
  const invert = o.bool("invert");
  if (invert !== undefined) m.invert = invert;
  for (const key of VERDICT_FIELDS) o.feature(key, `rule.${key}`);
  return m;
}

function routeOptionsFields(o: Obj, out: RouteOptionsFields): void {
  const set = <K extends keyof RouteOptionsFields>(k: K, v: RouteOptionsFields[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set("override_address", o.string("override_address"));
  set("override_port", o.port("override_port"));
  set("network_strategy", o.string("network_strategy"));
  set("fallback_delay", o.duration("fallback_delay", 1));
  set("udp_disable_domain_unmapping", o.bool("udp_disable_domain_unmapping"));
  set("udp_connect", o.bool("udp_connect"));
  set("udp_timeout", o.duration("udp_timeout", 1000));
  set("tls_fragment", o.bool("tls_fragment"));
  set("tls_fragment_fallback_delay", o.duration("tls_fragment_fallback_delay"));
  set("tls_record_fragment", o.bool("tls_record_fragment"));
  for (
    const k of ["network_strategy", "udp_connect", "tls_fragment", "tls_record_fragment"] as const
  ) o.feature(k, `action.route_options.${k}`);
}

const ROUTE_ACTIONS = [
  "route",
  "route-options",
  "reject",
  "hijack-dns",
  "bypass",
  "sniff",
  "resolve",
] as const;

/** Reads a route rule's action fields (`action` absent means `route`). */
function readRouteAction(o: Obj): RuleAction | undefined {
  const ctx = o.ctx;
  const name = o.has("action") ? o.enumOf("action", ROUTE_ACTIONS) ?? emptyAction(o) : "route";
  if (name === undefined) return undefined;
  switch (name) {
    case "route": {
      const outbound = o.tagRef("outbound", "outbound", true);
      const a: RuleAction = { action: "route", outbound: outbound ?? "" };
      routeOptionsFields(o, a);
      if (outbound === undefined) {
        if (!o.has("outbound")) {
          ctx.error(
            o.node,
            o.path,
            o.has("action")
              ? 'missing "outbound" for action "route"'
              : 'missing "action" (or the legacy "outbound" shorthand)',
          );
        }
        return undefined;
      }
      return a;
    }
    case "route-options": {
      const a: RuleAction = { action: "route-options" };
      routeOptionsFields(o, a);
      if (Object.keys(a).length === 1) {
        ctx.error(o.keyPos("action"), o.p("action"), "empty route-options action");
      }
      return a;
    }
    case "reject": {
      const method = o.enumOf("method", ["default", "drop", "reply"] as const) ?? "default";
      const a: RuleAction = { action: "reject", method };
      const noDrop = o.bool("no_drop");
      if (noDrop !== undefined) a.no_drop = noDrop;
      if (method === "drop" && noDrop) {
        ctx.error(
          o.keyPos("no_drop"),
          o.p("no_drop"),
          '"no_drop" is not available with method "drop"',
        );
      }
      return a;
    }
    case "hijack-dns":
      return { action: "hijack-dns" };
    case "bypass": {
      const a: RuleAction = { action: "bypass" };
      const outbound = o.tagRef("outbound", "outbound");
      if (outbound !== undefined) a.outbound = outbound;
      return a;
    }
    case "sniff": {
      const sniffer = o.listable("sniffer", (n, p) => {
        const name = ctx.enumOf(n, p, SNIFFERS);
        if (name !== undefined) ctx.support(`sniff.${name}`, n, p);
        return name;
      });
      const a: RuleAction = { action: "sniff", sniffer };
      const timeout = o.duration("timeout");
      if (timeout !== undefined) a.timeout = timeout;
      return a;
    }
    case "resolve": {
      const a: RuleAction = { action: "resolve" };
      const server = o.tagRef("server", "dns server");
      if (server !== undefined) a.server = server;
      const strategy = domainStrategy(o, "strategy");
      if (strategy !== undefined) a.strategy = strategy;
      const dc = o.bool("disable_cache");
      if (dc !== undefined) a.disable_cache = dc;
      const ttl = o.int("rewrite_ttl", 0, 0xffffffff);
      if (ttl !== undefined) a.rewrite_ttl = ttl;
      const cs = o.prefix("client_subnet", true);
      if (cs !== undefined) a.client_subnet = cs;
      return a;
    }
  }
}

const DNS_ACTIONS = [
  "route",
  "route-options",
  "reject",
  "predefined",
  "evaluate",
  "respond",
] as const;

/**
 * sing-box 1.14's response matching: `match_response` and the `response_*` items are reported
 * by their verdict (one error per rule: the `response_*` items only when `match_response` is
 * absent, since they belong to it).
 */
function responseMatch(o: Obj): void {
  o.known(...RESPONSE_KEYS);
  if (o.feature("match_response", "dns.rule.match_response")) return;
  const p = o.find("match_response");
  if (p && !isZero(p.value)) return;
  for (const key of RESPONSE_ITEMS) o.feature(key, "dns.rule.match_response");
}

/** `"action": ""` is the default action, `route` (undefined when the value was invalid). */
function emptyAction(o: Obj): "route" | undefined {
  const at = o.at("action");
  return at?.node.kind === "string" && at.node.value === "" ? "route" : undefined;
}

/** Reads a DNS rule's action fields (`action` absent means `route`). */
function readDnsAction(o: Obj): DnsRuleAction | undefined {
  const ctx = o.ctx;
  const name = o.has("action") ? o.enumOf("action", DNS_ACTIONS) ?? emptyAction(o) : "route";
  if (name === undefined) return undefined;
  if (name === "evaluate" || name === "respond") {
    // The verdict is the one error: the action's own fields are not also reported as unknown.
    o.feature("action", `dns.action.${name}`);
    o.known(...o.node.props.map((p) => p.key).filter((k) => !DNS_STRICT.has(k)));
    return undefined;
  }
  const common = (
    a: {
      disable_cache?: boolean;
      rewrite_ttl?: number;
      client_subnet?: import("../net/ip.ts").Prefix;
    },
  ) => {
    const dc = o.bool("disable_cache");
    if (dc !== undefined) a.disable_cache = dc;
    const ttl = o.int("rewrite_ttl", 0, 0xffffffff);
    if (ttl !== undefined) a.rewrite_ttl = ttl;
    const cs = o.prefix("client_subnet", true);
    if (cs !== undefined) a.client_subnet = cs;
  };
  switch (name) {
    case "route": {
      const server = o.tagRef("server", "dns server", true);
      const a: DnsRuleAction = { action: "route", server: server ?? "" };
      const strategy = domainStrategy(o, "strategy");
      if (strategy !== undefined) a.strategy = strategy;
      common(a);
      if (server === undefined) {
        if (!o.has("server")) {
          ctx.error(
            o.node,
            o.path,
            o.has("action")
              ? 'missing "server" for action "route"'
              : 'missing "action" (or the "server" shorthand)',
          );
        }
        return undefined;
      }
      return a;
    }
    case "route-options": {
      const a: DnsRuleAction = { action: "route-options" };
      common(a);
      if (Object.keys(a).length === 1) {
        ctx.error(o.keyPos("action"), o.p("action"), "empty DNS route-options action");
      }
      return a;
    }
    case "reject": {
      const method = o.enumOf("method", ["default", "drop"] as const) ?? "default";
      const a: DnsRuleAction = { action: "reject", method };
      const noDrop = o.bool("no_drop");
      if (noDrop !== undefined) a.no_drop = noDrop;
      if (method === "drop" && noDrop) {
        ctx.error(
          o.keyPos("no_drop"),
          o.p("no_drop"),
          '"no_drop" is not available with method "drop"',
        );
      }
      return a;
    }
    case "predefined": {
      const rcode = o.enumOf("rcode", RCODES) ?? "NOERROR";
      return {
        action: "predefined",
        rcode,
        answer: records(o, "answer"),
        ns: records(o, "ns"),
        extra: records(o, "extra"),
      };
    }
  }
}

/** `query_type`: names (`A`, `HTTPS`, `TYPE65`) or numbers, as the DNS module reads them. */
function queryTypes(o: Obj): (string | number)[] {
  const ctx = o.ctx;
  return o.listable("query_type", (n, p) => {
    if (n.kind === "number") return ctx.int(n, p, 0, 65535);
    const s = ctx.string(n, p);
    if (s !== undefined && typeCode(s) === undefined) {
      ctx.error(n, p, `unknown query type ${JSON.stringify(s)}`);
      return undefined;
    }
    return s;
  });
}

/** Records of a `predefined` action, each compiled as the DNS module will (zone-file syntax). */
function records(o: Obj, key: "answer" | "ns" | "extra"): string[] {
  const ctx = o.ctx;
  return o.listable(key, (n, p) => {
    const text = ctx.string(n, p);
    if (text === undefined) return undefined;
    try {
      compilePredefined(
        { rcode: "NOERROR", answer: [], ns: [], extra: [], [key]: [text] },
        "",
      );
    } catch (e) {
      ctx.error(n, p, (e as Error).message.replace(/^\.\w+\[0\]: /, ""));
      return undefined;
    }
    return text;
  });
}

/** Marks the action keys as "not allowed here" for nested/headless rules. */
function rejectActionKeys(o: Obj, where: string, keys: readonly string[]): void {
  for (const k of keys) {
    const p = o.find(k);
    if (p) {
      o.known(k);
      o.ctx.error(p.keyPos, o.p(k), `"${k}" is not allowed in ${where}`);
    }
  }
}

const ROUTE_ACTION_KEYS = ["action", "outbound"];
const DNS_ACTION_KEYS = ["action", "server"];

/**
 * Decodes a route rule (`nested` for rules inside a logical rule, whose action is the parent's).
 * Returns undefined when the rule cannot be used (the problem is reported).
 */
export function decodeRouteRule(
  ctx: Ctx,
  node: JsonNode,
  path: string,
  nested = false,
): Rule | undefined {
  const o = ctx.object(node, path);
  if (!o) return undefined;
  o.strict(ROUTE_STRICT);
  const typed = o.enumOf("type", ["", "default", "logical"] as const);
  // An unknown type is the one error: the rule's keys are not also reported as unknown.
  if (typed === undefined && o.has("type")) return undefined;
  const type = typed ?? "default";
  let action: RuleAction | undefined = NO_ACTION;
  if (type === "logical") {
    const mode = o.enumOf("mode", ["and", "or"] as const);
    if (!o.has("mode")) {
      ctx.error(o.node, o.path, 'missing "mode" ("and" or "or") for a logical rule');
    }
    const rules = o.items("rules").map((r) => decodeRouteRule(ctx, r.node, r.path, true))
      .filter((r): r is Rule => r !== undefined);
    if (!o.has("rules")) ctx.error(o.node, o.path, 'missing "rules" for a logical rule');
    const invert = o.bool("invert");
    if (nested) rejectActionKeys(o, "a rule inside a logical rule", ROUTE_ACTION_KEYS);
    else action = readRouteAction(o);
    o.done(" in a logical rule");
    if (!mode || !action) return undefined;
    const rule: Rule = { type: "logical", mode, rules, action, source: sourceOf(o) };
    if (invert !== undefined) rule.invert = invert;
    ctx.where.set(rule, o);
    return rule;
  }
  const match = readMatch(o, "route");
  if (nested) rejectActionKeys(o, "a rule inside a logical rule", ROUTE_ACTION_KEYS);
  else action = readRouteAction(o);
  o.done();
  if (!action) return undefined;
  const rule: Rule = { type: "default", ...match, action, source: sourceOf(o) };
  ctx.where.set(rule, o);
  return rule;
}

/** Decodes a DNS rule. */
export function decodeDnsRule(
  ctx: Ctx,
  node: JsonNode,
  path: string,
  nested = false,
): DnsRule | undefined {
  const o = ctx.object(node, path);
  if (!o) return undefined;
  o.strict(DNS_STRICT);
  const typed = o.enumOf("type", ["", "default", "logical"] as const);
  // An unknown type is the one error: the rule's keys are not also reported as unknown.
  if (typed === undefined && o.has("type")) return undefined;
  const type = typed ?? "default";
  let action: DnsRuleAction | undefined = NO_ACTION;
  if (type === "logical") {
    const mode = o.enumOf("mode", ["and", "or"] as const);
    if (!o.has("mode")) {
      ctx.error(o.node, o.path, 'missing "mode" ("and" or "or") for a logical rule');
    }
    const rules = o.items("rules").map((r) => decodeDnsRule(ctx, r.node, r.path, true))
      .filter((r): r is DnsRule => r !== undefined);
    const invert = o.bool("invert");
    responseMatch(o);
    if (nested) rejectActionKeys(o, "a rule inside a logical rule", DNS_ACTION_KEYS);
    else action = readDnsAction(o);
    o.done(" in a logical rule");
    if (!mode || !action) return undefined;
    const rule: DnsRule = { type: "logical", mode, rules, action, source: sourceOf(o) };
    if (invert !== undefined) rule.invert = invert;
    ctx.where.set(rule, o);
    return rule;
  }
  const match = readMatch(o, "dns");
  const dnsMatch: DnsRuleMatch = {
    ...match,
    query_type: queryTypes(o),
    // "any" is sing-box's wildcard here, not a tag.
    outbound: o.listable("outbound", (n, p) => {
      const s = ctx.string(n, p);
      if (s !== undefined && s !== "any") ctx.ref("outbound", s, n, p);
      return s;
    }),
  };
  const any = o.bool("ip_accept_any");
  if (any !== undefined) dnsMatch.ip_accept_any = any;
  const acceptEmpty = o.bool("rule_set_ip_cidr_accept_empty");
  if (acceptEmpty !== undefined) dnsMatch.rule_set_ip_cidr_accept_empty = acceptEmpty;
  o.feature("outbound", "dns.rule.outbound");
  responseMatch(o);
  if (nested) {
    const key = ["ip_cidr", "ip_is_private", "ip_accept_any"].find((k) => {
      const p = o.find(k);
      return p !== undefined && !isZero(p.value);
    });
    if (key !== undefined) o.feature(key, "dns.rule.nested_address_filter");
  }
  if (nested) rejectActionKeys(o, "a rule inside a logical rule", DNS_ACTION_KEYS);
  else action = readDnsAction(o);
  o.done();
  if (!action) return undefined;
  const rule: DnsDefaultRule = { type: "default", ...dnsMatch, action, source: sourceOf(o) };
  ctx.where.set(rule, o);
  return rule;
}
