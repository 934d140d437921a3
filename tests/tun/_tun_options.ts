/**
 * Test helper: builds {@linkcode TunInboundOptions} from sing-box-style JSON (string prefixes,
 * uid lists and "start:end" ranges), the way the config decoder would, without depending on
 * it. An address without a prefix length is passed through with `bits: NaN` so the platform's
 * own validation is what rejects it.
 */

import type { PortRange, TunInboundOptions } from "../../src/config/types.ts";
import { parseIp, parsePrefix, type Prefix } from "../../src/net/ip.ts";

/** sing-box keys accepted by {@linkcode tunOptionsFromJson}. */
export interface TunJson {
  tag?: string;
  interface_name?: string;
  address?: string[];
  mtu?: number;
  auto_route?: boolean;
  strict_route?: boolean;
  iproute2_table_index?: number;
  iproute2_rule_index?: number;
  route_address?: string[];
  route_exclude_address?: string[];
  include_interface?: string[];
  exclude_interface?: string[];
  include_uid?: number[];
  include_uid_range?: string[];
  exclude_uid?: number[];
  exclude_uid_range?: string[];
  auto_redirect?: boolean;
}

function prefix(text: string): Prefix {
  const p = parsePrefix(text);
  if (p) return p;
  const addr = parseIp(text);
  if (addr) return { addr, bits: NaN };
  throw new SyntaxError(`Test config: cannot parse prefix "${text}"`);
}

function uidRange(text: string): PortRange {
  const m = /^(\d*):(\d*)$/.exec(text);
  if (!m) throw new SyntaxError(`Test config: cannot parse uid range "${text}"`);
  return { start: m[1] ? Number(m[1]) : 0, end: m[2] ? Number(m[2]) : 0xfffffffe };
}

/** Decodes a tun inbound written with sing-box keys into options. */
export function tunOptionsFromJson(json: TunJson): TunInboundOptions {
  const known = new Set([
    "type",
    "tag",
    "interface_name",
    "address",
    "mtu",
    "auto_route",
    "strict_route",
    "iproute2_table_index",
    "iproute2_rule_index",
    "route_address",
    "route_exclude_address",
    "include_interface",
    "exclude_interface",
    "include_uid",
    "include_uid_range",
    "exclude_uid",
    "exclude_uid_range",
    "auto_redirect",
  ]);
  for (const k of Object.keys(json)) {
    if (!known.has(k)) throw new SyntaxError(`Test config: unknown key "${k}"`);
  }
  const o: TunInboundOptions = {
    type: "tun",
    tag: json.tag ?? "tun-in",
    address: (json.address ?? []).map(prefix),
    route_address: (json.route_address ?? []).map(prefix),
    route_exclude_address: (json.route_exclude_address ?? []).map(prefix),
    route_address_set: [],
    route_exclude_address_set: [],
    include_interface: json.include_interface ?? [],
    exclude_interface: json.exclude_interface ?? [],
    include_uid: [
      ...(json.include_uid ?? []).map((u) => ({ start: u, end: u })),
      ...(json.include_uid_range ?? []).map(uidRange),
    ],
    exclude_uid: [
      ...(json.exclude_uid ?? []).map((u) => ({ start: u, end: u })),
      ...(json.exclude_uid_range ?? []).map(uidRange),
    ],
    include_android_user: [],
    include_package: [],
    exclude_package: [],
    include_mac_address: [],
    exclude_mac_address: [],
  };
  if (json.interface_name !== undefined) o.interface_name = json.interface_name;
  if (json.mtu !== undefined) o.mtu = json.mtu;
  if (json.auto_route !== undefined) o.auto_route = json.auto_route;
  if (json.strict_route !== undefined) o.strict_route = json.strict_route;
  if (json.iproute2_table_index !== undefined) o.iproute2_table_index = json.iproute2_table_index;
  if (json.iproute2_rule_index !== undefined) o.iproute2_rule_index = json.iproute2_rule_index;
  if (json.auto_redirect !== undefined) o.auto_redirect = json.auto_redirect;
  return o;
}

/** The usual dual-stack test inbound (tun0-style), with overrides. */
export function tunOptions(json: TunJson = {}): TunInboundOptions {
  return tunOptionsFromJson({
    address: ["172.19.0.1/30", "fdfe:dcba:9876::1/126"],
    auto_route: true,
    ...json,
  });
}

/**
 * The policy rules sing-tun installs for a default dual-stack tun inbound (tun0,
 * 172.19.0.1/30 and fdfe:dcba:9876::1/126), as `ip rule` / `ip -6 rule` print them.
 */
export const DEFAULT_V4 = [
  "9000:\tfrom all to 172.19.0.0/30 lookup 2022",
  "9001:\tfrom all lookup 2022 suppress_prefixlength 0",
  "9002:\tnot from all dport 53 lookup main suppress_prefixlength 0",
  "9002:\tfrom all iif tun0 goto 9010",
  "9003:\tnot from all iif lo lookup 2022",
  "9003:\tfrom 0.0.0.0 iif lo lookup 2022",
  "9003:\tfrom 172.19.0.0/30 iif lo lookup 2022",
  "9010:\tfrom all nop",
];
export const DEFAULT_V6 = [
  "9000:\tfrom all lookup 2022 suppress_prefixlength 0",
  "9001:\tnot from all dport 53 lookup main suppress_prefixlength 0",
  "9001:\tfrom all iif tun0 goto 9010",
  "9001:\tfrom ::/1 iif lo goto 9010",
  "9001:\tfrom 8000::/1 iif lo goto 9010",
  "9002:\tfrom fdfe:dcba:9876::/126 iif lo lookup 2022",
  "9003:\tfrom all lookup 2022",
  "9010:\tfrom all nop",
];
