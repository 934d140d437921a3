/**
 * The rtnetlink objects tunbox reads and writes: links, addresses, routes and policy rules as
 * specs (what to add or delete) and infos (what a dump returns), the request body the encoders
 * produce, and the kernel's rule-action numbers. Pure data, no I/O.
 *
 * @module
 */

import {
  FR_ACT_BLACKHOLE,
  FR_ACT_GOTO,
  FR_ACT_NOP,
  FR_ACT_PROHIBIT,
  FR_ACT_TO_TBL,
  FR_ACT_UNREACHABLE,
} from "../../../../ffi/linux/netlink.ts";
import { formatPrefix, maskPrefix, type Prefix } from "../../../net/ip.ts";

/** A network interface as RTM_NEWLINK describes it. */
export interface LinkInfo {
  index: number;
  name: string;
  /** IFF_* flags. */
  flags: number;
  mtu: number;
  /** ARPHRD_* type (ARPHRD_NONE for a TUN). */
  type: number;
  /** IFLA_INFO_KIND ("tun", "veth", "dummy", ...), absent for kind-less devices. */
  kind?: string;
  /** IFLA_ADDRESS: the link-layer (MAC) address, absent for devices without one. */
  address?: Uint8Array;
}

/** An interface address. */
export interface AddressInfo {
  family: 4 | 6;
  index: number;
  /** The local address with its prefix length. */
  prefix: Prefix;
  /** IFA_F_* (IFA_FLAGS when present, else the header byte). */
  flags: number;
  scope: number;
  label?: string;
}

/** A route to add or delete. Table ids ≥ 256 travel in RTA_TABLE. */
export interface RouteSpec {
  family: 4 | 6;
  dst: Prefix;
  table: number;
  /** Output interface index. */
  oif?: number;
  gateway?: Uint8Array;
  /** Metric (RTA_PRIORITY). */
  priority?: number;
  /** RTN_* (default RTN_UNICAST). */
  type?: number;
  /** RTPROT_* (default RTPROT_BOOT, as `ip route add` and sing-tun's netlink library). */
  protocol?: number;
  /** RT_SCOPE_* (default universe). */
  scope?: number;
}

/** A route as dumped. */
export interface RouteInfo extends RouteSpec {
  type: number;
  protocol: number;
  scope: number;
  /** rtm_flags (RTNH_F_LINKDOWN 0x10 etc.). */
  flags: number;
  prefsrc?: Uint8Array;
  /** RTA_PREF (IPv6 router preference), when present. */
  pref?: number;
  /** Nexthops of a multipath route (RTA_MULTIPATH). */
  nexthops?: { oif: number; gateway?: Uint8Array }[];
}

/** What a rule does when it matches. */
export type RuleAction = "lookup" | "goto" | "nop" | "unreachable" | "blackhole" | "prohibit";

/** Inclusive range (uid or port). */
export interface NumRange {
  start: number;
  end: number;
}

/** A policy routing rule (`ip rule`). */
export interface RuleSpec {
  family: 4 | 6;
  priority: number;
  action: RuleAction;
  /** Table for `lookup`. */
  table?: number;
  /** Target priority for `goto`. */
  goto?: number;
  /** "not": FIB_RULE_INVERT. */
  invert?: boolean;
  src?: Prefix;
  dst?: Prefix;
  iif?: string;
  oif?: string;
  fwmark?: number;
  fwmask?: number;
  uidRange?: NumRange;
  sport?: NumRange;
  dport?: NumRange;
  ipProto?: number;
  /** FRA_SUPPRESS_PREFIXLEN (only with a table). */
  suppressPrefixlen?: number;
}

/** A rule as dumped: the spec plus the kernel's header flags (detached, unresolved, ...). */
export interface RuleInfo extends RuleSpec {
  flags: number;
}

/** A family header plus attributes, ready for {@linkcode buildMessage}. */
export interface RequestBody {
  body: Uint8Array;
  attrs: Uint8Array[];
}

/** The kernel's FR_ACT_* number of each rule action. */
export const RULE_ACTION_CODES: Record<RuleAction, number> = {
  lookup: FR_ACT_TO_TBL,
  goto: FR_ACT_GOTO,
  nop: FR_ACT_NOP,
  unreachable: FR_ACT_UNREACHABLE,
  blackhole: FR_ACT_BLACKHOLE,
  prohibit: FR_ACT_PROHIBIT,
};

/** Short description of a route for error messages: `0.0.0.0/0 table 2022 dev tun0`. */
export function describeRoute(spec: RouteSpec, devName?: string): string {
  let s = `${formatPrefix(maskPrefix(spec.dst))} table ${spec.table}`;
  if (devName) s += ` dev ${devName}`;
  else if (spec.oif !== undefined) s += ` dev #${spec.oif}`;
  return s;
}
