/**
 * Pure rtnetlink decoders: the payloads of RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE and
 * RTM_NEWRULE messages (dumps and notifications) as {@linkcode LinkInfo}, {@linkcode AddressInfo},
 * {@linkcode RouteInfo} and {@linkcode RuleInfo}. Other address families decode to null.
 *
 * @module
 */

import {
  AF_INET,
  AF_INET6,
  attrMap,
  decodeFibRuleHdr,
  decodeIfAddrMsg,
  decodeIfInfoMsg,
  decodeRtMsg,
  FIB_RULE_HDR_SIZE,
  FIB_RULE_INVERT,
  FRA_DPORT_RANGE,
  FRA_DST,
  FRA_FWMARK,
  FRA_FWMASK,
  FRA_GOTO,
  FRA_IIFNAME,
  FRA_IP_PROTO,
  FRA_OIFNAME,
  FRA_PRIORITY,
  FRA_SPORT_RANGE,
  FRA_SRC,
  FRA_SUPPRESS_PREFIXLEN,
  FRA_TABLE,
  FRA_UID_RANGE,
  IFA_ADDRESS,
  IFA_FLAGS,
  IFA_LABEL,
  IFA_LOCAL,
  IFADDRMSG_SIZE,
  IFINFOMSG_SIZE,
  IFLA_ADDRESS,
  IFLA_IFNAME,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  IFLA_MTU,
  parseAttrs,
  readString,
  readU16,
  readU32,
  RTA_DST,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_OIF,
  RTA_PREF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTMSG_SIZE,
} from "../../../../ffi/linux/netlink.ts";
import {
  type AddressInfo,
  type LinkInfo,
  type NumRange,
  type RouteInfo,
  RULE_ACTION_CODES,
  type RuleAction,
  type RuleInfo,
} from "./types.ts";

function familyOf(code: number): 4 | 6 | null {
  return code === AF_INET ? 4 : code === AF_INET6 ? 6 : null;
}

/** Rule actions by FR_ACT_* number. */
const RULE_ACTION_NAMES = new Map<number, RuleAction>(
  Object.entries(RULE_ACTION_CODES).map(([k, v]) => [v, k as RuleAction]),
);

function zeroAddr(family: 4 | 6): Uint8Array {
  return new Uint8Array(family === 4 ? 4 : 16);
}

/** Decodes an RTM_NEWLINK payload. */
export function decodeLink(payload: Uint8Array): LinkInfo {
  const h = decodeIfInfoMsg(payload);
  const attrs = attrMap(parseAttrs(payload, IFINFOMSG_SIZE));
  const out: LinkInfo = {
    index: h.index,
    name: attrs.has(IFLA_IFNAME) ? readString(attrs.get(IFLA_IFNAME)!) : "",
    flags: h.flags,
    mtu: attrs.has(IFLA_MTU) ? readU32(attrs.get(IFLA_MTU)!) : 0,
    type: h.type,
  };
  const address = attrs.get(IFLA_ADDRESS);
  if (address && address.length > 0) out.address = address.slice();
  const info = attrs.get(IFLA_LINKINFO);
  if (info) {
    const kind = attrMap(parseAttrs(info)).get(IFLA_INFO_KIND);
    if (kind) out.kind = readString(kind);
  }
  return out;
}

/** Decodes an RTM_NEWADDR payload; null for families other than IPv4/IPv6. */
export function decodeAddress(payload: Uint8Array): AddressInfo | null {
  const h = decodeIfAddrMsg(payload);
  const family = familyOf(h.family);
  if (!family) return null;
  const attrs = attrMap(parseAttrs(payload, IFADDRMSG_SIZE));
  const addr = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS) ?? zeroAddr(family);
  const out: AddressInfo = {
    family,
    index: h.index,
    prefix: { addr: addr.slice(), bits: h.prefixlen },
    flags: attrs.has(IFA_FLAGS) ? readU32(attrs.get(IFA_FLAGS)!) : h.flags,
    scope: h.scope,
  };
  if (attrs.has(IFA_LABEL)) out.label = readString(attrs.get(IFA_LABEL)!);
  return out;
}

/** Decodes an RTM_NEWROUTE payload; null for families other than IPv4/IPv6. */
export function decodeRoute(payload: Uint8Array): RouteInfo | null {
  const h = decodeRtMsg(payload);
  const family = familyOf(h.family);
  if (!family) return null;
  const attrs = attrMap(parseAttrs(payload, RTMSG_SIZE));
  const dst = attrs.get(RTA_DST);
  const out: RouteInfo = {
    family,
    dst: { addr: dst ? dst.slice() : zeroAddr(family), bits: h.dstLen },
    table: attrs.has(RTA_TABLE) ? readU32(attrs.get(RTA_TABLE)!) : h.table,
    type: h.type,
    protocol: h.protocol,
    scope: h.scope,
    flags: h.flags,
  };
  if (attrs.has(RTA_OIF)) out.oif = readU32(attrs.get(RTA_OIF)!);
  if (attrs.has(RTA_GATEWAY)) out.gateway = attrs.get(RTA_GATEWAY)!.slice();
  if (attrs.has(RTA_PRIORITY)) out.priority = readU32(attrs.get(RTA_PRIORITY)!);
  if (attrs.has(RTA_PREFSRC)) out.prefsrc = attrs.get(RTA_PREFSRC)!.slice();
  if (attrs.has(RTA_PREF)) out.pref = attrs.get(RTA_PREF)![0]!;
  const mp = attrs.get(RTA_MULTIPATH);
  if (mp) {
    // struct rtnexthop { u16 len; u8 flags; u8 hops; i32 ifindex; } followed by attributes.
    const hops: { oif: number; gateway?: Uint8Array }[] = [];
    const dv = new DataView(mp.buffer, mp.byteOffset, mp.byteLength);
    let off = 0;
    while (off + 8 <= mp.byteLength) {
      const len = dv.getUint16(off, true);
      if (len < 8 || off + len > mp.byteLength) break;
      const hop: { oif: number; gateway?: Uint8Array } = { oif: dv.getInt32(off + 4, true) };
      const gw = attrMap(parseAttrs(mp, off + 8, off + len)).get(RTA_GATEWAY);
      if (gw) hop.gateway = gw.slice();
      hops.push(hop);
      off += (len + 3) & ~3;
    }
    out.nexthops = hops;
  }
  return out;
}

/** Decodes an RTM_NEWRULE payload; null for families other than IPv4/IPv6. */
export function decodeRule(payload: Uint8Array): RuleInfo | null {
  const h = decodeFibRuleHdr(payload);
  const family = familyOf(h.family);
  if (!family) return null;
  const attrs = attrMap(parseAttrs(payload, FIB_RULE_HDR_SIZE));
  const out: RuleInfo = {
    family,
    priority: attrs.has(FRA_PRIORITY) ? readU32(attrs.get(FRA_PRIORITY)!) : 0,
    action: RULE_ACTION_NAMES.get(h.action) ?? "nop",
    flags: h.flags,
  };
  const table = attrs.has(FRA_TABLE) ? readU32(attrs.get(FRA_TABLE)!) : h.table;
  if (table) out.table = table;
  if (h.flags & FIB_RULE_INVERT) out.invert = true;
  const src = attrs.get(FRA_SRC);
  if (src) out.src = { addr: src.slice(), bits: h.srcLen };
  else if (h.srcLen) out.src = { addr: zeroAddr(family), bits: h.srcLen };
  const dst = attrs.get(FRA_DST);
  if (dst) out.dst = { addr: dst.slice(), bits: h.dstLen };
  else if (h.dstLen) out.dst = { addr: zeroAddr(family), bits: h.dstLen };
  if (attrs.has(FRA_IIFNAME)) out.iif = readString(attrs.get(FRA_IIFNAME)!);
  if (attrs.has(FRA_OIFNAME)) out.oif = readString(attrs.get(FRA_OIFNAME)!);
  if (attrs.has(FRA_GOTO)) out.goto = readU32(attrs.get(FRA_GOTO)!);
  if (attrs.has(FRA_FWMARK)) out.fwmark = readU32(attrs.get(FRA_FWMARK)!);
  if (attrs.has(FRA_FWMASK)) out.fwmask = readU32(attrs.get(FRA_FWMASK)!);
  if (attrs.has(FRA_IP_PROTO)) out.ipProto = attrs.get(FRA_IP_PROTO)![0]!;
  if (attrs.has(FRA_SUPPRESS_PREFIXLEN)) {
    const v = readU32(attrs.get(FRA_SUPPRESS_PREFIXLEN)!);
    if (v !== 0xffffffff) out.suppressPrefixlen = v;
  }
  const range = (type: number, width: 2 | 4): NumRange | undefined => {
    const v = attrs.get(type);
    if (!v) return undefined;
    return width === 2
      ? { start: readU16(v), end: readU16(v.subarray(2)) }
      : { start: readU32(v), end: readU32(v.subarray(4)) };
  };
  const uid = range(FRA_UID_RANGE, 4);
  // The kernel reports the "no uid range" default (0-4294967295) on every rule; drop it.
  if (uid && !(uid.start === 0 && uid.end === 0xffffffff)) out.uidRange = uid;
  const sport = range(FRA_SPORT_RANGE, 2);
  if (sport) out.sport = sport;
  const dport = range(FRA_DPORT_RANGE, 2);
  if (dport) out.dport = dport;
  return out;
}
