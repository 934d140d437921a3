/**
 * Dial fields (sing-box `shared/dial.md`), shared by direct/socks/http outbounds and typed DNS
 * servers, and the `domain_resolver` form used by dial fields and `route.default_domain_resolver`.
 *
 * @module
 */

import type { Ctx, Obj } from "./reader.ts";
import type { DialOptions, DomainResolverOptions, DomainStrategy } from "./types.ts";
import type { JsonNode } from "./jsonc.ts";

/** Domain strategy values; `as_is` is sing-box's spelling of the empty default. */
export const DOMAIN_STRATEGIES = [
  "",
  "prefer_ipv4",
  "prefer_ipv6",
  "ipv4_only",
  "ipv6_only",
] as const satisfies readonly DomainStrategy[];

/** Reads a domain strategy field. */
export function domainStrategy(o: Obj, key: string): DomainStrategy | undefined {
  return o.enumOf(key, DOMAIN_STRATEGIES, { as_is: "" });
}

/** Keys only sing-box's graphical clients use: accepted, warned about, ignored. */
const GUI_ONLY_DIAL_KEYS = [
  "network_strategy",
  "network_type",
  "fallback_network_type",
  "protect_path",
] as const;

/** `domain_resolver`: a DNS server tag, or `{server, strategy, ...}`. */
export function domainResolver(
  ctx: Ctx,
  node: JsonNode,
  path: string,
): DomainResolverOptions | undefined {
  if (node.kind === "string") {
    // sing-box reads "" as "no domain resolver".
    if (node.value === "") return undefined;
    ctx.ref("dns server", node.value, node, path);
    return { server: node.value };
  }
  const o = ctx.object(node, path);
  if (!o) return undefined;
  const hasServer = o.has("server");
  const out: DomainResolverOptions = { server: o.tagRef("server", "dns server") ?? "" };
  const strategy = domainStrategy(o, "strategy");
  if (strategy !== undefined) out.strategy = strategy;
  const disableCache = o.bool("disable_cache");
  if (disableCache !== undefined) out.disable_cache = disableCache;
  const ttl = o.int("rewrite_ttl", 0, 0xffffffff);
  if (ttl !== undefined) out.rewrite_ttl = ttl;
  const subnet = o.prefix("client_subnet", true);
  if (subnet !== undefined) out.client_subnet = subnet;
  o.done();
  if (!hasServer) {
    ctx.error(node, path, 'missing "server" (the tag of a DNS server)');
    return undefined;
  }
  if (out.server === "") {
    return undefined;
  }
  return out;
}

/** Reads every dial field of `o` into `out`. */
export function readDialFields(o: Obj, out: DialOptions): void {
  const set = <K extends keyof DialOptions>(k: K, v: DialOptions[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set("detour", o.tagRef("detour", "outbound"));
  set("bind_interface", o.optionalString("bind_interface"));
  set("inet4_bind_address", o.address("inet4_bind_address"));
  set("inet6_bind_address", o.address("inet6_bind_address"));
  if (out.inet4_bind_address && out.inet4_bind_address.length !== 4) {
    o.ctx.error(o.at("inet4_bind_address")!.node, o.p("inet4_bind_address"), "not an IPv4 address");
    delete out.inet4_bind_address;
  }
  if (out.inet6_bind_address && out.inet6_bind_address.length !== 16) {
    o.ctx.error(o.at("inet6_bind_address")!.node, o.p("inet6_bind_address"), "not an IPv6 address");
    delete out.inet6_bind_address;
  }
  set("bind_address_no_port", o.bool("bind_address_no_port"));
  set("routing_mark", o.mark("routing_mark"));
  set("reuse_addr", o.bool("reuse_addr"));
  set("netns", o.string("netns"));
  set("connect_timeout", o.duration("connect_timeout"));
  set("tcp_fast_open", o.bool("tcp_fast_open"));
  set("tcp_multi_path", o.bool("tcp_multi_path"));
  set("disable_tcp_keep_alive", o.bool("disable_tcp_keep_alive"));
  set("tcp_keep_alive", o.duration("tcp_keep_alive"));
  set("tcp_keep_alive_interval", o.duration("tcp_keep_alive_interval"));
  set("udp_fragment", o.bool("udp_fragment"));
  const resolver = o.at("domain_resolver");
  if (resolver) set("domain_resolver", domainResolver(o.ctx, resolver.node, resolver.path));
  set("fallback_delay", o.duration("fallback_delay"));
  const legacyStrategy = domainStrategy(o, "domain_strategy");
  if (legacyStrategy !== undefined && legacyStrategy !== "") {
    out.domain_strategy = legacyStrategy;
    o.ctx.warn(
      o.keyPos("domain_strategy"),
      o.p("domain_strategy"),
      'legacy domain strategy options are deprecated in sing-box 1.12.0 and removed in 1.14.0, use "domain_resolver": {"server": "<dns tag>", "strategy": "' +
        (legacyStrategy || "prefer_ipv4") +
        '"} instead; tunbox still honours it',
    );
  }
  for (const k of GUI_ONLY_DIAL_KEYS) o.feature(k, `dial.${k}`);
  for (const k of ["netns", "tcp_multi_path", "udp_fragment"] as const) o.feature(k, `dial.${k}`);
}

/** True when none of the dial fields is set (an "empty" direct outbound). */
export function dialFieldsEmpty(d: DialOptions): boolean {
  const keys: (keyof DialOptions)[] = [
    "detour",
    "bind_interface",
    "inet4_bind_address",
    "inet6_bind_address",
    "bind_address_no_port",
    "routing_mark",
    "reuse_addr",
    "netns",
    "connect_timeout",
    "tcp_fast_open",
    "tcp_multi_path",
    "disable_tcp_keep_alive",
    "tcp_keep_alive",
    "tcp_keep_alive_interval",
    "udp_fragment",
    "domain_resolver",
    "domain_strategy",
    "fallback_delay",
  ];
  return keys.every((k) => d[k] === undefined || d[k] === false || d[k] === 0 || d[k] === "");
}
