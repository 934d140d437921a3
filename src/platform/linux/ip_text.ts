/**
 * Text forms of rules and routes exactly as iproute2 (`ip rule`, `ip -6 rule`,
 * `ip route show table N`, `ip -6 route show table N`) prints them, so a plan can be compared
 * with the system line by line. iproute2 ends route lines with a space; these strings do not
 * (compare after trimming trailing whitespace).
 *
 * Follows iproute2 6.x `ip/iprule.c print_rule()` and `ip/iproute.c print_route()` for the
 * fields tunbox uses.
 *
 * @module
 */

import { formatIp, maskPrefix, type Prefix } from "../../net/ip.ts";
import {
  FIB_RULE_IIF_DETACHED,
  FIB_RULE_OIF_DETACHED,
  FIB_RULE_UNRESOLVED,
  RT_SCOPE_HOST,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RTN_UNICAST,
  RTPROT_BOOT,
} from "../../../ffi/linux/netlink.ts";
import type { RouteInfo, RouteSpec, RuleSpec } from "./rtnetlink/mod.ts";

/** Metric the kernel gives an IPv6 route added without RTA_PRIORITY (IP6_RT_PRIO_USER). */
export const IPV6_DEFAULT_METRIC = 1024;

const TABLE_NAMES: Record<number, string> = { 253: "default", 254: "main", 255: "local" };
const PROTO_NAMES: Record<number, string> = {
  1: "icmp",
  6: "tcp",
  17: "udp",
  58: "ipv6-icmp",
};
const ROUTE_TYPES: Record<number, string> = {
  0: "none",
  1: "unicast",
  2: "local",
  3: "broadcast",
  4: "anycast",
  5: "multicast",
  6: "blackhole",
  7: "unreachable",
  8: "prohibit",
  9: "throw",
  10: "nat",
};
const RTPROT_NAMES: Record<number, string> = {
  0: "unspec",
  1: "redirect",
  2: "kernel",
  3: "boot",
  4: "static",
  16: "dhcp",
  42: "babel",
  186: "bgp",
  187: "isis",
  188: "ospf",
  189: "rip",
  192: "eigrp",
};
const SCOPE_NAMES: Record<number, string> = {
  [RT_SCOPE_UNIVERSE]: "global",
  200: "site",
  [RT_SCOPE_LINK]: "link",
  [RT_SCOPE_HOST]: "host",
  [RT_SCOPE_NOWHERE]: "nowhere",
};

/** Table id as iproute2 names it ("main", "local", "default", or the number). */
export function tableName(table: number): string {
  return TABLE_NAMES[table] ?? String(table);
}

/** `addr` for a host prefix, `addr/bits` otherwise (iproute2's rule/route address style). */
function addrText(p: Prefix): string {
  const host = p.addr.length * 8;
  return p.bits === host ? formatIp(p.addr) : `${formatIp(p.addr)}/${p.bits}`;
}

/**
 * One `ip rule` line, e.g. `9000:\tfrom all to 172.19.0.0/30 lookup 2022`. `flags` are the
 * kernel's FIB_RULE_* header flags of a dumped rule (adds " [detached]" / " [unresolved]").
 */
export function formatRule(rule: RuleSpec, flags = 0): string {
  let s = `${rule.priority}:\t`;
  if (rule.invert) s += "not ";
  s += "from ";
  s += rule.src ? addrText(maskPrefix(rule.src)) : "all";
  if (rule.dst) s += ` to ${addrText(maskPrefix(rule.dst))}`;
  if (rule.fwmark !== undefined || rule.fwmask !== undefined) {
    const mark = rule.fwmark ?? 0;
    s += ` fwmark 0x${mark.toString(16)}`;
    if (rule.fwmask !== undefined && rule.fwmask !== 0xffffffff) {
      s += `/0x${rule.fwmask.toString(16)}`;
    }
  }
  if (rule.iif !== undefined) {
    s += ` iif ${rule.iif}`;
    if (flags & FIB_RULE_IIF_DETACHED) s += " [detached]";
  }
  if (rule.oif !== undefined) {
    s += ` oif ${rule.oif}`;
    if (flags & FIB_RULE_OIF_DETACHED) s += " [detached]";
  }
  if (rule.uidRange) s += ` uidrange ${rule.uidRange.start}-${rule.uidRange.end}`;
  if (rule.ipProto !== undefined) s += ` ipproto ${PROTO_NAMES[rule.ipProto] ?? rule.ipProto}`;
  if (rule.sport) {
    s += rule.sport.start === rule.sport.end
      ? ` sport ${rule.sport.start}`
      : ` sport ${rule.sport.start}-${rule.sport.end}`;
  }
  if (rule.dport) {
    s += rule.dport.start === rule.dport.end
      ? ` dport ${rule.dport.start}`
      : ` dport ${rule.dport.start}-${rule.dport.end}`;
  }
  if (rule.table) {
    s += ` lookup ${tableName(rule.table)}`;
    if (rule.suppressPrefixlen !== undefined) {
      s += ` suppress_prefixlength ${rule.suppressPrefixlen}`;
    }
  }
  switch (rule.action) {
    case "goto":
      s += rule.goto !== undefined ? ` goto ${rule.goto}` : " goto none";
      if (flags & FIB_RULE_UNRESOLVED) s += " [unresolved]";
      break;
    case "nop":
      s += " nop";
      break;
    case "lookup":
      break;
    default:
      s += ` ${rule.action}`;
  }
  return s;
}

/**
 * One `ip route show table N` line (the table filter hides "table N"), without iproute2's
 * trailing space. `devName` names the output interface; IPv6 routes show the metric (the
 * kernel default 1024 when the spec has none) and "pref medium", as the kernel reports them.
 */
export function formatRoute(route: RouteSpec | RouteInfo, devName?: string): string {
  const parts: string[] = [];
  const type = route.type ?? RTN_UNICAST;
  if (type !== RTN_UNICAST) parts.push(ROUTE_TYPES[type] ?? String(type));
  const dst = maskPrefix(route.dst);
  parts.push(dst.bits === 0 ? "default" : addrText(dst));
  if (route.gateway) parts.push(`via ${formatIp(route.gateway)}`);
  if (devName !== undefined) parts.push(`dev ${devName}`);
  const protocol = route.protocol ?? RTPROT_BOOT;
  if (protocol !== RTPROT_BOOT) parts.push(`proto ${RTPROT_NAMES[protocol] ?? protocol}`);
  const scope = route.scope ?? RT_SCOPE_UNIVERSE;
  if (scope !== RT_SCOPE_UNIVERSE) parts.push(`scope ${SCOPE_NAMES[scope] ?? scope}`);
  const info = route as Partial<RouteInfo>;
  if (info.prefsrc) parts.push(`src ${formatIp(info.prefsrc)}`);
  const metric = route.priority ?? (route.family === 6 ? IPV6_DEFAULT_METRIC : undefined);
  if (metric !== undefined) parts.push(`metric ${metric}`);
  if (info.flags !== undefined && info.flags & 0x10) parts.push("linkdown");
  if (route.family === 6) {
    const pref = info.pref ?? 0;
    parts.push(`pref ${pref === 1 ? "high" : pref === 3 ? "low" : "medium"}`);
  }
  return parts.join(" ");
}
