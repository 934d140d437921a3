/**
 * Recognises a config that is one piece of a sing-box config, as the sing-box documentation
 * prints them (an inbound, an outbound, a DNS server, a rule): instead of an "unknown field"
 * per key, one error says where the piece belongs.
 *
 * @module
 */

import type { JsonNode, JsonObject } from "./jsonc.ts";

/** Where a fragment belongs, for the message. */
interface Place {
  what: string;
  where: string;
}

const TOP_LEVEL = new Set([
  "$schema",
  "log",
  "dns",
  "ntp",
  "certificate",
  "certificate_providers",
  "endpoints",
  "inbounds",
  "outbounds",
  "route",
  "services",
  "http_clients",
  "experimental",
]);

const INBOUND_ONLY_TYPES = new Set(["tun", "mixed", "tproxy", "redirect"]);
const OUTBOUND_ONLY_TYPES = new Set([
  "selector",
  "urltest",
  "block",
  "dns",
  "wireguard",
  "tor",
  "ssh",
]);
const DNS_ONLY_TYPES = new Set([
  "udp",
  "tcp",
  "tls",
  "https",
  "quic",
  "h3",
  "dhcp",
  "fakeip",
  "hosts",
]);
/** sing-box outbound types (1.8 to 1.14), for a piece with a type and no listening fields. */
const OUTBOUND_TYPES = new Set([
  "direct",
  "block",
  "socks",
  "http",
  "shadowsocks",
  "vmess",
  "trojan",
  "naive",
  "hysteria",
  "shadowtls",
  "tuic",
  "hysteria2",
  "vless",
  "anytls",
  "tor",
  "ssh",
  "selector",
  "urltest",
  "wireguard",
  "shadowsocksr",
]);
/** Keys of sections (no "type"): a root with only these is that section. */
const SECTIONS: { what: string; where: string; keys: Set<string>; needs: string[] }[] = [
  {
    what: "the dns section",
    where: '"dns": { … }',
    needs: ["servers"],
    keys: new Set([
      "servers",
      "rules",
      "final",
      "reverse_mapping",
      "fakeip",
      "strategy",
      "disable_cache",
      "disable_expire",
      "independent_cache",
      "cache_capacity",
      "client_subnet",
      "optimistic",
    ]),
  },
  {
    what: "the route section",
    where: '"route": { … }',
    needs: ["rules", "rule_set", "final", "auto_detect_interface"],
    keys: new Set([
      "geoip",
      "geosite",
      "rules",
      "rule_set",
      "final",
      "find_process",
      "auto_detect_interface",
      "override_android_vpn",
      "default_interface",
      "default_mark",
      "default_domain_resolver",
      "default_network_strategy",
      "default_network_type",
      "default_fallback_network_type",
      "default_fallback_delay",
      "default_http_client",
    ]),
  },
  {
    what: "the log section",
    where: '"log": { … }',
    needs: ["level", "timestamp", "output"],
    keys: new Set(["disabled", "level", "output", "timestamp"]),
  },
  {
    what: "the experimental section",
    where: '"experimental": { … }',
    needs: ["cache_file", "clash_api", "v2ray_api"],
    keys: new Set(["cache_file", "clash_api", "v2ray_api", "debug"]),
  },
];
const INBOUND_KEYS = ["listen", "listen_port", "users", "auto_route", "address", "interface_name"];
const OUTBOUND_KEYS = ["server_port", "outbounds", "detour", "bind_interface", "password", "uuid"];
const RULE_KEYS = [
  "domain",
  "domain_suffix",
  "domain_keyword",
  "domain_regex",
  "ip_cidr",
  "ip_is_private",
  "port",
  "protocol",
  "rule_set",
  "inbound",
  "network",
  "query_type",
];

function keysOf(o: JsonObject): Set<string> {
  return new Set(o.props.map((p) => p.key));
}

function stringAt(o: JsonObject, key: string): string | undefined {
  const v = o.props.find((p) => p.key === key)?.value;
  return v?.kind === "string" ? v.value : undefined;
}

/** True when the first rule of `o.rules` names a DNS "server" (a DNS section without servers). */
function dnsRules(o: JsonObject): boolean {
  const rules = o.props.find((p) => p.key === "rules")?.value;
  const first = rules?.kind === "array" ? rules.items[0] : undefined;
  return first?.kind === "object" && first.props.some((p) => p.key === "server");
}

/** What one object is, when it is clearly a piece rather than a whole config. */
function placeOf(o: JsonObject): Place | undefined {
  const keys = keysOf(o);
  if ([...keys].some((k) => TOP_LEVEL.has(k))) return undefined;
  const type = stringAt(o, "type");
  const has = (list: string[]) => list.some((k) => keys.has(k));
  if (type !== undefined) {
    if (INBOUND_ONLY_TYPES.has(type) || (has(INBOUND_KEYS) && !has(OUTBOUND_KEYS))) {
      return { what: "one inbound", where: '"inbounds": [ … ]' };
    }
    if (DNS_ONLY_TYPES.has(type) && !keys.has("server_port")) {
      return { what: "one DNS server", where: '"dns": {"servers": [ … ]}' };
    }
    if (OUTBOUND_ONLY_TYPES.has(type) || has(OUTBOUND_KEYS) || keys.has("server")) {
      return { what: "one outbound", where: '"outbounds": [ … ]' };
    }
    if (type === "logical" && keys.has("rules")) {
      return { what: "one rule", where: '"route": {"rules": [ … ]}' };
    }
    if (type === "local" || type === "remote" || type === "inline") {
      return { what: "one rule-set", where: '"route": {"rule_set": [ … ]}' };
    }
    if (OUTBOUND_TYPES.has(type) && !has(INBOUND_KEYS)) {
      return { what: "one outbound", where: '"outbounds": [ … ]' };
    }
    return undefined;
  }
  for (const section of SECTIONS) {
    if (!section.needs.some((k) => keys.has(k)) || ![...keys].every((k) => section.keys.has(k))) {
      continue;
    }
    // DNS rules name a "server", route rules an "outbound": a route-like piece may be DNS's.
    if (section.what === "the route section" && !keys.has("rule_set") && dnsRules(o)) {
      return SECTIONS[0];
    }
    return section;
  }
  if (keys.has("address") && keys.has("tag") && !keys.has("listen_port")) {
    return { what: "one DNS server", where: '"dns": {"servers": [ … ]}' };
  }
  if (has(RULE_KEYS) && (keys.has("outbound") || keys.has("action"))) {
    return { what: "one route rule", where: '"route": {"rules": [ … ]}' };
  }
  if (has(RULE_KEYS) && keys.has("server")) {
    return { what: "one DNS rule", where: '"dns": {"rules": [ … ]}' };
  }
  return undefined;
}

/**
 * The message for a root that is a piece of a config (an object, or a list of such objects), or
 * undefined when it is not one.
 */
export function fragmentMessage(root: JsonNode): string | undefined {
  if (root.kind === "object") {
    const place = placeOf(root);
    return place && `this looks like ${place.what}: put it in ${place.where}`;
  }
  if (root.kind === "array" && root.items.length > 0) {
    const places = root.items.map((n) => (n.kind === "object" ? placeOf(n) : undefined));
    const first = places[0];
    if (first?.what.startsWith("one ") && places.every((p) => p?.where === first.where)) {
      const what = first.what.replace(/^one /, "a list of ").replace(
        /(rule|server|bound|set)$/,
        "$1s",
      );
      return `this looks like ${what}: put it in ${first.where.replace("[ … ]", "[ … ]")}`;
    }
  }
  return undefined;
}
