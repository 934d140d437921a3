/**
 * Inbounds: `tun` (every field of sing-box's TUN inbound, legacy address fields merged with a
 * warning) and the `mixed`, `socks` and `http` listeners.
 *
 * @module
 */

import type { Ctx, Obj } from "./reader.ts";
import { domainStrategy } from "./decode_dial.ts";
import { defineTag, entryType } from "./entry.ts";
import { readInboundTls } from "./decode_tls.ts";
import { UID_END } from "./tun_limits.ts";
import type {
  DirectInboundOptions,
  InboundOptions,
  InboundUser,
  ListenerInboundOptions,
  ListenFields,
  PortRange,
  RedirectInboundOptions,
  TproxyInboundOptions,
  TunInboundOptions,
  UdpNatOptions,
} from "./types.ts";
import type { JsonNode } from "./jsonc.ts";

/** Inbound types tunbox decodes (whether each is supported is `support.ts`'s verdict). */
export const INBOUND_TYPES = [
  "tun",
  "mixed",
  "socks",
  "http",
  "direct",
  "tproxy",
  "redirect",
] as const;

const UDP_NAT_BEHAVIOURS = [
  "endpoint_independent",
  "address_dependent",
  "address_and_port_dependent",
] as const;

/**
 * sing-box 1.14's UDP NAT fields (besides `udp_timeout`). tunbox's UDP sessions are
 * endpoint-independent in mapping and filtering, so other behaviours get their verdict.
 */
function udpNatFields(o: Obj, out: UdpNatOptions): void {
  for (const key of ["udp_mapping", "udp_filtering"] as const) {
    const v = o.enumOf(key, UDP_NAT_BEHAVIOURS);
    if (v === undefined) continue;
    out[key] = v;
    if (v !== "endpoint_independent") o.feature(key, `udp_nat.${key}`);
  }
  const max = o.int("udp_nat_max", 0, 0xffffffff);
  if (max !== undefined) out.udp_nat_max = max;
  o.feature("udp_nat_max", "udp_nat.udp_nat_max");
}

/** Reads the legacy inbound fields shared by every inbound (deprecated in sing-box 1.11). */
function legacyInboundFields(o: Obj, out: TunInboundOptions | ListenFields): void {
  const sniff = o.bool("sniff");
  if (sniff !== undefined) out.sniff = sniff;
  const sod = o.bool("sniff_override_destination");
  if (sod !== undefined) out.sniff_override_destination = sod;
  const st = o.duration("sniff_timeout");
  if (st !== undefined) out.sniff_timeout = st;
  const ds = domainStrategy(o, "domain_strategy");
  if (ds !== undefined) out.domain_strategy = ds;
}

/** `include_uid` numbers plus `include_uid_range` strings, as ranges (uid -1 means none). */
function uidRanges(o: Obj, key: string): PortRange[] {
  const single = o.ints(key, 0, UID_END).map((v) => ({ start: v, end: v }));
  const ranges = o.listable(`${key}_range`, (n, p) => o.ctx.portRange(n, p, UID_END));
  return [...single, ...ranges];
}

function legacyPrefixes(
  o: Obj,
  key: string,
  family: 4 | 6,
  replacement: string,
): import("./types.ts").Prefix[] {
  const list = o.prefixes(key, false);
  if (!o.has(key)) return list;
  o.ctx.warn(
    o.keyPos(key),
    o.p(key),
    `legacy tun address fields are deprecated in sing-box 1.10.0 and removed in 1.12.0, use "${replacement}" instead; tunbox merges "${key}" into "${replacement}"`,
  );
  const items = o.at(key)!;
  const nodes = items.node.kind === "array" ? items.node.items : [items.node];
  return list.filter((p, i) => {
    if (p.addr.length === (family === 4 ? 4 : 16)) return true;
    const n = nodes[i];
    if (n) {
      o.ctx.error(
        n,
        items.node.kind === "array" ? `${o.p(key)}[${i}]` : o.p(key),
        `not an IPv${family} prefix`,
      );
    }
    return false;
  });
}

function decodeTun(o: Obj, tag: string): TunInboundOptions {
  const ctx = o.ctx;
  const out: TunInboundOptions = {
    type: "tun",
    tag,
    address: [],
    route_address: [],
    route_exclude_address: [],
    route_address_set: [],
    route_exclude_address_set: [],
    include_interface: [],
    exclude_interface: [],
    include_uid: [],
    exclude_uid: [],
    include_android_user: [],
    include_package: [],
    exclude_package: [],
    include_mac_address: [],
    exclude_mac_address: [],
  };
  const set = <K extends keyof TunInboundOptions>(k: K, v: TunInboundOptions[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set("interface_name", o.string("interface_name"));
  const mtu = o.int("mtu", 0, 0xffffffff);
  if (mtu) set("mtu", mtu); // 0 is sing-box's "default"
  out.address = [
    ...o.prefixes("address", false),
    ...legacyPrefixes(o, "inet4_address", 4, "address"),
    ...legacyPrefixes(o, "inet6_address", 6, "address"),
  ];
  set("auto_route", o.bool("auto_route"));
  set("iproute2_table_index", o.int("iproute2_table_index", 0, 0xffffffff));
  set("iproute2_rule_index", o.int("iproute2_rule_index", 0, 0xffffffff));
  set("auto_redirect", o.bool("auto_redirect"));
  set("auto_redirect_input_mark", o.mark("auto_redirect_input_mark"));
  set("auto_redirect_output_mark", o.mark("auto_redirect_output_mark"));
  set("auto_redirect_reset_mark", o.mark("auto_redirect_reset_mark"));
  set("auto_redirect_nfqueue", o.int("auto_redirect_nfqueue", 0, 0xffff));
  set(
    "auto_redirect_iproute2_fallback_rule_index",
    o.int("auto_redirect_iproute2_fallback_rule_index", 0, 0xffffffff),
  );
  set("netns", o.optionalString("netns"));
  o.feature("netns", "tun.netns");
  udpNatFields(o, out);
  set("exclude_mptcp", o.bool("exclude_mptcp"));
  const loopback = o.addresses("loopback_address");
  if (o.has("loopback_address")) out.loopback_address = loopback;
  set("strict_route", o.bool("strict_route"));
  out.route_address = [
    ...o.prefixes("route_address", false),
    ...legacyPrefixes(o, "inet4_route_address", 4, "route_address"),
    ...legacyPrefixes(o, "inet6_route_address", 6, "route_address"),
  ];
  out.route_exclude_address = [
    ...o.prefixes("route_exclude_address", false),
    ...legacyPrefixes(o, "inet4_route_exclude_address", 4, "route_exclude_address"),
    ...legacyPrefixes(o, "inet6_route_exclude_address", 6, "route_exclude_address"),
  ];
  out.route_address_set = o.tagRefs("route_address_set", "rule-set");
  out.route_exclude_address_set = o.tagRefs("route_exclude_address_set", "rule-set");
  out.include_interface = o.strings("include_interface");
  out.exclude_interface = o.strings("exclude_interface");
  out.include_uid = uidRanges(o, "include_uid");
  out.exclude_uid = uidRanges(o, "exclude_uid");
  out.include_android_user = o.ints("include_android_user", 0, 0x7fffffff);
  out.include_package = o.strings("include_package");
  out.exclude_package = o.strings("exclude_package");
  out.include_mac_address = o.strings("include_mac_address");
  out.exclude_mac_address = o.strings("exclude_mac_address");
  const ein = o.bool("endpoint_independent_nat");
  if (ein !== undefined) {
    out.endpoint_independent_nat = ein;
    ctx.warn(
      o.keyPos("endpoint_independent_nat"),
      o.p("endpoint_independent_nat"),
      '"endpoint_independent_nat" was removed in sing-box 1.13.0 and is ignored',
    );
  }
  set("udp_timeout", o.duration("udp_timeout", 1000));
  set("proxy_ready_timeout", o.duration("proxy_ready_timeout", 1000));
  const stackAt = o.at("stack");
  if (stackAt && stackAt.node.kind === "string" && stackAt.node.value === "lwip") {
    o.known("stack");
    ctx.error(
      stackAt.node,
      stackAt.path,
      'stack "lwip" was removed in sing-box 1.8.0; use "system", "gvisor" or "mixed"',
    );
  } else {
    set("stack", o.enumOf("stack", ["system", "gvisor", "mixed"] as const));
  }
  set("dns_mode", o.enumOf("dns_mode", ["disabled", "native", "hijack"] as const));
  const dnsAddr = o.addresses("dns_address");
  if (o.has("dns_address")) out.dns_address = dnsAddr;
  const platform = o.object("platform");
  if (platform) {
    out.platform = {};
    const hp = platform.object("http_proxy");
    if (hp) {
      const proxy: NonNullable<NonNullable<TunInboundOptions["platform"]>["http_proxy"]> = {
        bypass_domain: hp.strings("bypass_domain"),
        match_domain: hp.strings("match_domain"),
      };
      const en = hp.bool("enabled");
      if (en !== undefined) proxy.enabled = en;
      const server = hp.string("server");
      if (server !== undefined) proxy.server = server;
      const port = hp.port("server_port");
      if (port !== undefined) proxy.server_port = port;
      hp.done();
      out.platform.http_proxy = proxy;
    }
    platform.done();
  }
  legacyInboundFields(o, out);
  set("udp_disable_domain_unmapping", o.bool("udp_disable_domain_unmapping"));
  const gso = o.bool("gso");
  if (gso !== undefined) {
    out.gso = gso;
    ctx.warn(
      o.keyPos("gso"),
      o.p("gso"),
      "the GSO option in tun is deprecated in sing-box 1.11.0 and removed in 1.12.0; tunbox ignores it (on Linux it turns on checksum and segmentation offload itself)",
    );
  }
  // auto_redirect without auto_route is sing-box's own error (validate.ts), not this verdict.
  if (out.auto_route) o.feature("auto_redirect", "tun.auto_redirect");
  // Verdicts on the fields tunbox decodes but does not act on (support.ts says why).
  for (
    const key of [
      "route_address_set",
      "route_exclude_address_set",
      "platform",
      "include_android_user",
      "include_package",
      "exclude_package",
      "include_mac_address",
      "exclude_mac_address",
      "loopback_address",
    ] as const
  ) o.feature(key, `tun.${key}`);
  if (out.dns_mode !== undefined && out.dns_mode !== "disabled") {
    o.feature("dns_mode", "tun.dns_mode");
  }
  o.done(' in a "tun" inbound');
  return out;
}

function decodeUser(ctx: Ctx, node: JsonNode, path: string): InboundUser | undefined {
  const u = ctx.object(node, path);
  if (!u) return undefined;
  const username = u.string("username") ?? "";
  const password = u.string("password") ?? "";
  u.done(" in a user");
  return { username, password };
}

/** The listen fields every listening inbound has (into `out`). */
function listenFields(o: Obj, out: ListenFields): void {
  const set = <K extends keyof ListenFields>(k: K, v: ListenFields[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set("listen_port", o.port("listen_port"));
  set("tcp_fast_open", o.bool("tcp_fast_open"));
  set("tcp_multi_path", o.bool("tcp_multi_path"));
  set("udp_fragment", o.bool("udp_fragment"));
  set("udp_timeout", o.duration("udp_timeout", 1000));
  udpNatFields(o, out);
  set("detour", o.tagRef("detour", "inbound"));
  set("bind_interface", o.string("bind_interface"));
  set("routing_mark", o.mark("routing_mark"));
  set("reuse_addr", o.bool("reuse_addr"));
  set("netns", o.string("netns"));
  set("disable_tcp_keep_alive", o.bool("disable_tcp_keep_alive"));
  set("tcp_keep_alive", o.duration("tcp_keep_alive"));
  set("tcp_keep_alive_interval", o.duration("tcp_keep_alive_interval"));
  legacyInboundFields(o, out);
  set("udp_disable_domain_unmapping", o.bool("udp_disable_domain_unmapping"));
  for (
    const key of [
      "tcp_fast_open",
      "tcp_multi_path",
      "udp_fragment",
      "detour",
      "bind_interface",
      "routing_mark",
      "reuse_addr",
      "netns",
      "disable_tcp_keep_alive",
      "tcp_keep_alive",
      "tcp_keep_alive_interval",
    ] as const
  ) o.feature(key, `listen.${key}`);
}

/** `network` of a direct/tproxy inbound: "tcp", "udp" or both (a list; empty = both). */
function listenNetworks(o: Obj): ("tcp" | "udp")[] {
  return o.listable("network", (n, p) => {
    const s = o.ctx.string(n, p);
    if (s === undefined) return undefined;
    if (s !== "tcp" && s !== "udp") {
      o.ctx.error(n, p, `unknown network ${JSON.stringify(s)} (one of "tcp", "udp")`);
      return undefined;
    }
    return s;
  });
}

/** `direct`, `tproxy` and `redirect` inbounds. */
function decodeForwarder(
  o: Obj,
  type: "direct" | "tproxy" | "redirect",
  tag: string,
): DirectInboundOptions | TproxyInboundOptions | RedirectInboundOptions {
  const listen = o.address("listen") ?? new Uint8Array([127, 0, 0, 1]);
  if (type === "redirect") {
    const out: RedirectInboundOptions = { type, tag, listen };
    listenFields(o, out);
    o.done(' in a "redirect" inbound');
    return out;
  }
  const network = listenNetworks(o);
  if (type === "tproxy") {
    const out: TproxyInboundOptions = { type, tag, listen, network };
    listenFields(o, out);
    o.done(' in a "tproxy" inbound');
    return out;
  }
  const out: DirectInboundOptions = { type, tag, listen, network };
  listenFields(o, out);
  const address = o.string("override_address");
  if (address !== undefined && address !== "") out.override_address = address;
  const port = o.port("override_port");
  if (port !== undefined && port !== 0) out.override_port = port;
  o.done(' in a "direct" inbound');
  return out;
}

function decodeListener(
  o: Obj,
  type: "mixed" | "socks" | "http",
  tag: string,
): ListenerInboundOptions {
  const listen = o.address("listen");
  const out: ListenerInboundOptions = {
    type,
    tag,
    listen: listen ?? new Uint8Array([127, 0, 0, 1]),
    users: o.items("users").map((u) => decodeUser(o.ctx, u.node, u.path))
      .filter((u): u is InboundUser => u !== undefined),
  };
  listenFields(o, out);
  if (type !== "socks") {
    const ssp = o.bool("set_system_proxy");
    if (ssp !== undefined) out.set_system_proxy = ssp;
    o.feature("set_system_proxy", "listen.set_system_proxy");
    const tls = readInboundTls(o);
    if (tls) out.tls = tls;
    if (tls?.enabled) o.feature("tls", "listen.tls");
    else o.known("tls");
  }
  const pp = o.find("proxy_protocol");
  if (pp) {
    o.known("proxy_protocol", "proxy_protocol_accept_no_header");
    o.ctx.error(pp.keyPos, o.p("proxy_protocol"), "Proxy Protocol was removed in sing-box 1.6.0");
  }
  o.done(` in a "${type}" inbound`);
  return out;
}

/** Decodes one entry of `inbounds`. */
export function decodeInbound(
  ctx: Ctx,
  node: JsonNode,
  path: string,
  index: number,
): InboundOptions | undefined {
  const o = ctx.object(node, path);
  if (!o) return undefined;
  const tag = defineTag(o, "inbound", index);
  o.known("tag");
  const type = entryType(o, "inbound", INBOUND_TYPES);
  if (!type) return undefined;
  const out = type === "tun"
    ? decodeTun(o, tag)
    : type === "direct" || type === "tproxy" || type === "redirect"
    ? decodeForwarder(o, type, tag)
    : decodeListener(o, type, tag);
  ctx.where.set(out, o);
  return out;
}
