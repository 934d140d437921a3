/**
 * Pure rtnetlink encoders: a link change, a veth pair, an address, a route, a rule, each as a
 * family header plus attributes ({@linkcode RequestBody}) for `buildMessage`. Attribute order
 * follows iproute2 and sing-tun's netlink library; `tests/platform/linux/rtnetlink/` checks the
 * bytes.
 *
 * ```ts
 * const req = encodeRoute({ family: 4, dst: parsePrefix("0.0.0.0/0")!, table: 2022, oif: 7 });
 * nl.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, req, "add route");
 * ```
 *
 * @module
 */

import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  attrString,
  attrU32,
  attrU8,
  encodeAttr,
  encodeFibRuleHdr,
  encodeIfAddrMsg,
  encodeIfInfoMsg,
  encodeRtMsg,
  encodeVethLinkInfo,
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
  IFA_BROADCAST,
  IFA_FLAGS,
  IFA_LOCAL,
  IFF_UP,
  IFLA_IFNAME,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_UNSPEC,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PRIORITY,
  RTA_TABLE,
  RTN_UNICAST,
  RTPROT_BOOT,
} from "../../../../ffi/linux/netlink.ts";
import { maskPrefix, type Prefix } from "../../../net/ip.ts";
import {
  type NumRange,
  type RequestBody,
  type RouteSpec,
  RULE_ACTION_CODES,
  type RuleSpec,
} from "./types.ts";

/** The kernel's address family number for an IP version. */
export function familyCode(f: 4 | 6): number {
  return f === 4 ? AF_INET : AF_INET6;
}

function rangeBytes(r: NumRange, width: 2 | 4): Uint8Array {
  const out = new Uint8Array(width * 2);
  const dv = new DataView(out.buffer);
  if (width === 2) {
    dv.setUint16(0, r.start, true);
    dv.setUint16(2, r.end, true);
  } else {
    dv.setUint32(0, r.start >>> 0, true);
    dv.setUint32(4, r.end >>> 0, true);
  }
  return out;
}

/**
 * Encodes a rule for RTM_NEWRULE / RTM_DELRULE (same body; the kernel deletes the first rule
 * matching every selector given). Attribute order follows sing-tun's netlink library.
 */
export function encodeRule(spec: RuleSpec): RequestBody {
  const table = spec.table;
  const body = encodeFibRuleHdr({
    family: familyCode(spec.family),
    dstLen: spec.dst?.bits ?? 0,
    srcLen: spec.src?.bits ?? 0,
    tos: 0,
    table: table !== undefined && table < 256 ? table : RT_TABLE_UNSPEC,
    action: RULE_ACTION_CODES[spec.action],
    flags: spec.invert ? FIB_RULE_INVERT : 0,
  });
  const attrs: Uint8Array[] = [];
  if (spec.dst) attrs.push(encodeAttr(FRA_DST, maskPrefix(spec.dst).addr));
  if (spec.src) attrs.push(encodeAttr(FRA_SRC, maskPrefix(spec.src).addr));
  attrs.push(attrU32(FRA_PRIORITY, spec.priority));
  if (spec.fwmark !== undefined) attrs.push(attrU32(FRA_FWMARK, spec.fwmark));
  if (spec.fwmask !== undefined) attrs.push(attrU32(FRA_FWMASK, spec.fwmask));
  if (table !== undefined) {
    attrs.push(attrU32(FRA_TABLE, table));
    if (spec.suppressPrefixlen !== undefined) {
      attrs.push(attrU32(FRA_SUPPRESS_PREFIXLEN, spec.suppressPrefixlen));
    }
  }
  if (spec.iif !== undefined) attrs.push(attrString(FRA_IIFNAME, spec.iif));
  if (spec.oif !== undefined) attrs.push(attrString(FRA_OIFNAME, spec.oif));
  if (spec.goto !== undefined) attrs.push(attrU32(FRA_GOTO, spec.goto));
  if (spec.ipProto !== undefined) attrs.push(attrU8(FRA_IP_PROTO, spec.ipProto));
  if (spec.dport) attrs.push(encodeAttr(FRA_DPORT_RANGE, rangeBytes(spec.dport, 2)));
  if (spec.sport) attrs.push(encodeAttr(FRA_SPORT_RANGE, rangeBytes(spec.sport, 2)));
  if (spec.uidRange) attrs.push(encodeAttr(FRA_UID_RANGE, rangeBytes(spec.uidRange, 4)));
  return { body, attrs };
}

/** Encodes "delete the first rule of this family at this priority" (sing-tun's range sweep). */
export function encodeRuleDeleteByPriority(family: 4 | 6, priority: number): RequestBody {
  const body = encodeFibRuleHdr({
    family: familyCode(family),
    dstLen: 0,
    srcLen: 0,
    tos: 0,
    table: 0,
    action: 0,
    flags: 0,
  });
  return { body, attrs: [attrU32(FRA_PRIORITY, priority)] };
}

/**
 * Encodes a route for RTM_NEWROUTE, or for RTM_DELROUTE when `forDelete` (scope NOWHERE and
 * protocol 0 so the kernel matches any scope/protocol).
 */
export function encodeRoute(spec: RouteSpec, forDelete = false): RequestBody {
  const dst = maskPrefix(spec.dst);
  const body = encodeRtMsg({
    family: familyCode(spec.family),
    dstLen: dst.bits,
    srcLen: 0,
    tos: 0,
    table: spec.table < 256 ? spec.table : RT_TABLE_UNSPEC,
    protocol: forDelete ? 0 : spec.protocol ?? RTPROT_BOOT,
    scope: forDelete ? RT_SCOPE_NOWHERE : spec.scope ?? RT_SCOPE_UNIVERSE,
    type: spec.type ?? RTN_UNICAST,
    flags: 0,
  });
  const attrs: Uint8Array[] = [];
  if (dst.bits > 0) attrs.push(encodeAttr(RTA_DST, dst.addr));
  attrs.push(attrU32(RTA_TABLE, spec.table));
  if (spec.gateway) attrs.push(encodeAttr(RTA_GATEWAY, spec.gateway));
  if (spec.oif !== undefined) attrs.push(attrU32(RTA_OIF, spec.oif));
  if (spec.priority !== undefined) attrs.push(attrU32(RTA_PRIORITY, spec.priority));
  return { body, attrs };
}

/** IPv4 broadcast address of a prefix (all host bits set). */
function broadcastOf(p: Prefix): Uint8Array {
  const out = maskPrefix(p).addr.slice();
  for (let i = 0; i < out.length; i++) {
    const hostBits = Math.max(0, Math.min(8, (i + 1) * 8 - p.bits));
    out[i] = out[i]! | ((1 << hostBits) - 1);
  }
  return out;
}

/**
 * Encodes an address for RTM_NEWADDR / RTM_DELADDR: IFA_LOCAL and IFA_ADDRESS (same address,
 * not point-to-point), IFA_BROADCAST for IPv4 shorter than /31 (as sing-tun's netlink library
 * does), and IFA_FLAGS when flags are set (IPv6 gets IFA_F_NODAD from the caller).
 */
export function encodeAddress(index: number, prefix: Prefix, flags = 0): RequestBody {
  const v4 = prefix.addr.length === 4;
  const body = encodeIfAddrMsg({
    family: v4 ? AF_INET : AF_INET6,
    prefixlen: prefix.bits,
    flags: flags & 0xff,
    scope: 0,
    index,
  });
  const attrs = [encodeAttr(IFA_LOCAL, prefix.addr), encodeAttr(IFA_ADDRESS, prefix.addr)];
  if (v4 && prefix.bits < 31) attrs.push(encodeAttr(IFA_BROADCAST, broadcastOf(prefix)));
  if (flags) attrs.push(attrU32(IFA_FLAGS, flags));
  return { body, attrs };
}

/** Encodes an RTM_NEWLINK that changes an existing link: up/down and/or MTU. */
export function encodeLinkChange(
  index: number,
  change: { up?: boolean; mtu?: number },
): RequestBody {
  const body = encodeIfInfoMsg({
    family: AF_UNSPEC,
    type: 0,
    index,
    flags: change.up ? IFF_UP : 0,
    change: change.up === undefined ? 0 : IFF_UP,
  });
  const attrs: Uint8Array[] = [];
  if (change.mtu !== undefined) attrs.push(attrU32(IFLA_MTU, change.mtu));
  return { body, attrs };
}

/**
 * Encodes an RTM_NEWLINK (with NLM_F_CREATE|NLM_F_EXCL) that creates a veth pair `name` ↔
 * `peer`. `peerNsFd` creates the peer directly in that namespace (an fd of the sending
 * process); otherwise both ends are created in the namespace of the netlink socket.
 */
export function encodeVethCreate(name: string, peer: string, peerNsFd?: number): RequestBody {
  return {
    body: encodeIfInfoMsg({ family: AF_UNSPEC, type: 0, index: 0, flags: 0, change: 0 }),
    attrs: [attrString(IFLA_IFNAME, name), encodeVethLinkInfo(peer, peerNsFd)],
  };
}

/** Encodes an RTM_NEWLINK that moves link `index` into the namespace behind `nsFd`. */
export function encodeLinkNamespace(index: number, nsFd: number): RequestBody {
  return {
    body: encodeIfInfoMsg({ family: AF_UNSPEC, type: 0, index, flags: 0, change: 0 }),
    attrs: [attrU32(IFLA_NET_NS_FD, nsFd)],
  };
}
