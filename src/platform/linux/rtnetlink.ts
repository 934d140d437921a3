/**
 * An rtnetlink client over `socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE)` made
 * through FFI: requests with ACK, dumps, and link/address/route/rule operations.
 *
 * Every call is synchronous: the kernel answers rtnetlink requests at once, and a receive
 * timeout (SO_RCVTIMEO, 5 s) bounds every wait so nothing can hang. A socket belongs to the
 * network namespace of the thread that created it.
 *
 * Message composition for links, addresses, routes and rules is done by pure `encode*`
 * functions (unit-tested byte for byte); decoding by pure `decode*` functions.
 *
 * @module
 */

import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { E, SysError } from "../../../ffi/errno.ts";
import {
  AF_INET,
  AF_INET6,
  AF_NETLINK,
  AF_UNSPEC,
  attrMap,
  attrString,
  attrU32,
  attrU8,
  buildMessage,
  decodeFibRuleHdr,
  decodeIfAddrMsg,
  decodeIfInfoMsg,
  decodeNlMsgErr,
  decodeRtMsg,
  encodeAttr,
  encodeFibRuleHdr,
  encodeIfAddrMsg,
  encodeIfInfoMsg,
  encodeRtMsg,
  encodeSockaddrNl,
  encodeVethLinkInfo,
  FIB_RULE_HDR_SIZE,
  FIB_RULE_INVERT,
  FR_ACT_BLACKHOLE,
  FR_ACT_GOTO,
  FR_ACT_NOP,
  FR_ACT_PROHIBIT,
  FR_ACT_TO_TBL,
  FR_ACT_UNREACHABLE,
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
  IFA_F_NODAD,
  IFA_FLAGS,
  IFA_LABEL,
  IFA_LOCAL,
  IFADDRMSG_SIZE,
  IFF_UP,
  IFINFOMSG_SIZE,
  IFLA_ADDRESS,
  IFLA_IFNAME,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_ROUTE,
  type NetlinkMessage,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  parseAttrs,
  parseMessages,
  readString,
  readU16,
  readU32,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_UNSPEC,
  RTA_DST,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_OIF,
  RTA_PREF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_DELRULE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_GETRULE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTM_NEWRULE,
  RTMSG_SIZE,
  RTN_UNICAST,
  RTPROT_BOOT,
  SOCKADDR_NL_SIZE,
  SOL_NETLINK,
} from "../../../ffi/linux/netlink.ts";
import {
  MSG_DONTWAIT,
  SO_RCVBUF,
  SO_RCVTIMEO,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOL_SOCKET,
  TIMEVAL_SIZE,
} from "../../../ffi/linux/constants.ts";
import { formatPrefix, maskPrefix, type Prefix } from "../../net/ip.ts";

// ---------------------------------------------------------------------------------------------
// Specs and decoded objects
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * A failed netlink request: names the action, the errno and, when the kernel sent an extended
 * ack, its explanation: `add route 0.0.0.0/0 table 2022 dev tun0 failed: EEXIST (File exists)`.
 */
export class NetlinkError extends SysError {
  override name = "NetlinkError";
  /** NLMSGERR_ATTR_MSG, when present. */
  readonly kernelMessage: string | undefined;
  constructor(action: string, errno: number, kernelMessage?: string) {
    super(action, errno);
    this.kernelMessage = kernelMessage;
    if (kernelMessage) this.message = `${this.message}: ${kernelMessage}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Pure encoders
// ---------------------------------------------------------------------------------------------

/** A family header plus attributes, ready for {@linkcode buildMessage}. */
export interface RequestBody {
  body: Uint8Array;
  attrs: Uint8Array[];
}

function familyCode(f: 4 | 6): number {
  return f === 4 ? AF_INET : AF_INET6;
}

function familyOf(code: number): 4 | 6 | null {
  return code === AF_INET ? 4 : code === AF_INET6 ? 6 : null;
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

const ACTION_CODES: Record<RuleAction, number> = {
  lookup: FR_ACT_TO_TBL,
  goto: FR_ACT_GOTO,
  nop: FR_ACT_NOP,
  unreachable: FR_ACT_UNREACHABLE,
  blackhole: FR_ACT_BLACKHOLE,
  prohibit: FR_ACT_PROHIBIT,
};

const ACTION_NAMES = new Map<number, RuleAction>(
  Object.entries(ACTION_CODES).map(([k, v]) => [v, k as RuleAction]),
);

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
    action: ACTION_CODES[spec.action],
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

// ---------------------------------------------------------------------------------------------
// Pure decoders
// ---------------------------------------------------------------------------------------------

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
    action: ACTION_NAMES.get(h.action) ?? "nop",
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

// ---------------------------------------------------------------------------------------------
// Descriptions for error messages
// ---------------------------------------------------------------------------------------------

/** Short description of a route for error messages: `0.0.0.0/0 table 2022 dev tun0`. */
export function describeRoute(spec: RouteSpec, devName?: string): string {
  let s = `${formatPrefix(maskPrefix(spec.dst))} table ${spec.table}`;
  if (devName) s += ` dev ${devName}`;
  else if (spec.oif !== undefined) s += ` dev #${spec.oif}`;
  return s;
}

// ---------------------------------------------------------------------------------------------
// The socket
// ---------------------------------------------------------------------------------------------

/** Options for {@linkcode RtNetlink}. */
export interface RtNetlinkOptions {
  /** Multicast groups (RTMGRP_* bitmask) to join; 0 for a request socket. */
  groups?: number;
  /** Receive timeout for requests, milliseconds (default 5000). */
  timeoutMs?: number;
  /** Make the socket non-blocking (for event monitors driven by poll). */
  nonblocking?: boolean;
  /** SO_RCVBUF in bytes (default 1 MiB for a socket with groups, the system default otherwise). */
  receiveBufferBytes?: number;
}

const RECV_BUFFER_SIZE = 64 * 1024;

/** An rtnetlink socket. Close it with {@linkcode RtNetlink.close} (or `using`). */
export class RtNetlink implements Disposable {
  /** The socket fd (for poll). */
  readonly fd: number;
  #seq: number;
  #buf = new Uint8Array(RECV_BUFFER_SIZE);
  #closed = false;

  constructor(options: RtNetlinkOptions = {}) {
    const libc = linuxLibc();
    const type = SOCK_RAW | SOCK_CLOEXEC | (options.nonblocking ? SOCK_NONBLOCK : 0);
    const fd = libc.socket(AF_NETLINK, type, NETLINK_ROUTE);
    if (fd < 0) throw new SysError("open netlink socket (AF_NETLINK, NETLINK_ROUTE)", linuxErrno());
    this.fd = fd;
    try {
      const one = new Int32Array([1]);
      const oneBytes = new Uint8Array(one.buffer);
      // Best effort: extended ack messages and capped acks (kernel ≥ 4.12 / 4.3).
      libc.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, oneBytes, 4);
      libc.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, oneBytes, 4);
      const rcvbuf = options.receiveBufferBytes ?? (options.groups ? 1 << 20 : undefined);
      if (rcvbuf !== undefined) {
        const size = new Int32Array([rcvbuf]);
        libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, new Uint8Array(size.buffer), 4);
      }
      const tv = new BigInt64Array(2);
      const ms = options.timeoutMs ?? 5000;
      tv[0] = BigInt(Math.floor(ms / 1000));
      tv[1] = BigInt((ms % 1000) * 1000);
      if (
        libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, new Uint8Array(tv.buffer), TIMEVAL_SIZE) < 0
      ) {
        throw new SysError("set SO_RCVTIMEO on netlink socket", linuxErrno());
      }
      const sa = encodeSockaddrNl(0, options.groups ?? 0);
      if (libc.bind(fd, sa, SOCKADDR_NL_SIZE) < 0) {
        throw new SysError(
          `bind netlink socket (groups 0x${(options.groups ?? 0).toString(16)})`,
          linuxErrno(),
        );
      }
    } catch (e) {
      libc.close(fd);
      throw e;
    }
    this.#seq = Math.floor(Math.random() * 0x3fffffff) + 1;
  }

  /** Closes the socket (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    linuxLibc().close(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #send(msg: Uint8Array, action: string): void {
    const libc = linuxLibc();
    const to = encodeSockaddrNl(0, 0);
    for (;;) {
      const n = Number(libc.sendto(this.fd, msg, BigInt(msg.byteLength), 0, to, SOCKADDR_NL_SIZE));
      if (n >= 0) return;
      const errno = linuxErrno();
      if (errno === E.EINTR) continue;
      throw new SysError(`${action}: send netlink request`, errno);
    }
  }

  /** Receives one datagram; returns its messages (views into the receive buffer). */
  #recv(action: string, flags = 0): NetlinkMessage[] | null {
    const libc = linuxLibc();
    for (;;) {
      const n = Number(libc.recv(this.fd, this.#buf, BigInt(this.#buf.byteLength), flags));
      if (n >= 0) return parseMessages(this.#buf, n);
      const errno = linuxErrno();
      if (errno === E.EINTR) continue;
      if (errno === E.EAGAIN) {
        if (flags & MSG_DONTWAIT) return null;
        throw new SysError(`${action}: no netlink answer within the timeout`, E.ETIMEDOUT);
      }
      throw new SysError(`${action}: receive netlink answer`, errno);
    }
  }

  /**
   * Receives pending multicast messages without waiting; null when none. Throws SysError with
   * code "ENOBUFS" when the kernel dropped events (the caller must resync).
   */
  receiveEvents(): NetlinkMessage[] | null {
    const msgs = this.#recv("receive netlink events", MSG_DONTWAIT);
    return msgs?.map(copyMessage) ?? null;
  }

  /**
   * Sends a request with NLM_F_ACK and waits for its ACK. Messages that arrive before the ACK
   * with the same sequence number (e.g. an echo or a GET reply) are returned (copied).
   * Throws {@linkcode NetlinkError} naming `action` when the kernel refuses.
   */
  request(type: number, flags: number, req: RequestBody, action: string): NetlinkMessage[] {
    const seq = this.#nextSeq();
    const msg = buildMessage(
      { type, flags: flags | NLM_F_REQUEST | NLM_F_ACK, seq, pid: 0 },
      req.body,
      req.attrs,
    );
    this.#send(msg, action);
    const replies: NetlinkMessage[] = [];
    for (;;) {
      const msgs = this.#recv(action)!;
      for (const m of msgs) {
        if (m.header.seq !== seq) continue;
        if (m.header.type === NLMSG_ERROR) {
          const err = decodeNlMsgErr(m.payload, m.header.flags);
          if (err.errno !== 0) throw new NetlinkError(action, err.errno, err.message);
          return replies;
        }
        if (m.header.type === NLMSG_NOOP) continue;
        replies.push(copyMessage(m));
      }
    }
  }

  /**
   * Sends a dump request (NLM_F_DUMP) and collects every reply until NLMSG_DONE, across as many
   * datagrams as the kernel sends. Retries (up to 5 times) when the dump was interrupted by a
   * concurrent change (NLM_F_DUMP_INTR).
   */
  dump(type: number, req: RequestBody, action: string): NetlinkMessage[] {
    for (let attempt = 0;; attempt++) {
      const seq = this.#nextSeq();
      const msg = buildMessage(
        { type, flags: NLM_F_REQUEST | NLM_F_DUMP, seq, pid: 0 },
        req.body,
        req.attrs,
      );
      this.#send(msg, action);
      const out: NetlinkMessage[] = [];
      let interrupted = false;
      let done = false;
      while (!done) {
        for (const m of this.#recv(action)!) {
          if (m.header.seq !== seq) continue;
          if (m.header.flags & NLM_F_DUMP_INTR) interrupted = true;
          if (m.header.type === NLMSG_DONE) {
            if (m.payload.byteLength >= 4) {
              const err = new DataView(m.payload.buffer, m.payload.byteOffset, 4).getInt32(0, true);
              if (err < 0) throw new NetlinkError(action, -err);
            }
            done = true;
            break;
          }
          if (m.header.type === NLMSG_ERROR) {
            const err = decodeNlMsgErr(m.payload, m.header.flags);
            if (err.errno !== 0) throw new NetlinkError(action, err.errno, err.message);
            continue;
          }
          if (m.header.type === NLMSG_NOOP || m.header.type === NLMSG_OVERRUN) continue;
          out.push(copyMessage(m));
        }
      }
      if (!interrupted || attempt >= 4) return out;
    }
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    if (this.#seq === 0) this.#seq = 1;
    return this.#seq;
  }

  // -- links ----------------------------------------------------------------------------------

  /** All links. */
  listLinks(): LinkInfo[] {
    const req = {
      body: encodeIfInfoMsg({ family: AF_UNSPEC, type: 0, index: 0, flags: 0, change: 0 }),
      attrs: [],
    };
    return this.dump(RTM_GETLINK, req, "list links")
      .filter((m) => m.header.type === RTM_NEWLINK)
      .map((m) => decodeLink(m.payload));
  }

  /** The link with this name, or null when there is none. */
  getLink(name: string): LinkInfo | null {
    const req = {
      body: encodeIfInfoMsg({ family: AF_UNSPEC, type: 0, index: 0, flags: 0, change: 0 }),
      attrs: [attrString(IFLA_IFNAME, name)],
    };
    try {
      const replies = this.request(RTM_GETLINK, 0, req, `get link "${name}"`);
      const m = replies.find((r) => r.header.type === RTM_NEWLINK);
      return m ? decodeLink(m.payload) : null;
    } catch (e) {
      if (e instanceof NetlinkError && e.code === "ENODEV") return null;
      throw e;
    }
  }

  /** Sets a link up or down. */
  setLinkUp(index: number, up: boolean, name = `#${index}`): void {
    this.request(
      RTM_NEWLINK,
      0,
      encodeLinkChange(index, { up }),
      `set link "${name}" ${up ? "up" : "down"}`,
    );
  }

  /** Sets a link's MTU. */
  setLinkMtu(index: number, mtu: number, name = `#${index}`): void {
    this.request(RTM_NEWLINK, 0, encodeLinkChange(index, { mtu }), `set MTU ${mtu} on "${name}"`);
  }

  /** Deletes a link. */
  deleteLink(index: number, name = `#${index}`): void {
    const req = {
      body: encodeIfInfoMsg({ family: AF_UNSPEC, type: 0, index, flags: 0, change: 0 }),
      attrs: [],
    };
    this.request(RTM_DELLINK, 0, req, `delete link "${name}"`);
  }

  /**
   * Creates a veth pair: `name` in this socket's namespace, `peer` in the namespace behind
   * `peerNsFd` (or here too). Both ends start down. EEXIST when either name is taken.
   */
  createVeth(name: string, peer: string, peerNsFd?: number): void {
    this.request(
      RTM_NEWLINK,
      NLM_F_CREATE | NLM_F_EXCL,
      encodeVethCreate(name, peer, peerNsFd),
      `create veth pair "${name}" <-> "${peer}"${
        peerNsFd === undefined ? "" : ` (peer in namespace fd ${peerNsFd})`
      }`,
    );
  }

  /** Moves a link into the namespace behind `nsFd` (it leaves this socket's namespace). */
  moveLinkToNamespace(index: number, nsFd: number, name = `#${index}`): void {
    this.request(
      RTM_NEWLINK,
      0,
      encodeLinkNamespace(index, nsFd),
      `move link "${name}" to namespace fd ${nsFd}`,
    );
  }

  // -- addresses ------------------------------------------------------------------------------

  /** Adds an address (fails with EEXIST when present). */
  addAddress(index: number, prefix: Prefix, flags = 0, devName = `#${index}`): void {
    this.request(
      RTM_NEWADDR,
      NLM_F_CREATE | NLM_F_EXCL,
      encodeAddress(index, prefix, flags),
      `add address ${formatPrefix(prefix)} to "${devName}"`,
    );
  }

  /** Deletes an address. */
  deleteAddress(index: number, prefix: Prefix, devName = `#${index}`): void {
    this.request(
      RTM_DELADDR,
      0,
      encodeAddress(index, prefix),
      `delete address ${formatPrefix(prefix)} from "${devName}"`,
    );
  }

  /** All addresses of a family (or both). */
  listAddresses(family?: 4 | 6): AddressInfo[] {
    const req = {
      body: encodeIfAddrMsg({
        family: family ? familyCode(family) : AF_UNSPEC,
        prefixlen: 0,
        flags: 0,
        scope: 0,
        index: 0,
      }),
      attrs: [],
    };
    return this.dump(RTM_GETADDR, req, "list addresses")
      .filter((m) => m.header.type === RTM_NEWADDR)
      .map((m) => decodeAddress(m.payload))
      .filter((a): a is AddressInfo => a !== null && (!family || a.family === family));
  }

  // -- routes ---------------------------------------------------------------------------------

  /** Adds a route (EEXIST when present). */
  addRoute(spec: RouteSpec, devName?: string): void {
    this.request(
      RTM_NEWROUTE,
      NLM_F_CREATE | NLM_F_EXCL,
      encodeRoute(spec),
      `add route ${describeRoute(spec, devName)}`,
    );
  }

  /** Deletes a route (matching any scope and protocol). */
  deleteRoute(spec: RouteSpec, devName?: string): void {
    this.request(
      RTM_DELROUTE,
      0,
      encodeRoute(spec, true),
      `delete route ${describeRoute(spec, devName)}`,
    );
  }

  /** Routes of a family (or both), optionally only one table. */
  listRoutes(family?: 4 | 6, table?: number): RouteInfo[] {
    const req = {
      body: encodeRtMsg({
        family: family ? familyCode(family) : AF_UNSPEC,
        dstLen: 0,
        srcLen: 0,
        tos: 0,
        table: 0,
        protocol: 0,
        scope: 0,
        type: 0,
        flags: 0,
      }),
      attrs: [],
    };
    return this.dump(RTM_GETROUTE, req, "list routes")
      .filter((m) => m.header.type === RTM_NEWROUTE)
      .map((m) => decodeRoute(m.payload))
      .filter((r): r is RouteInfo =>
        r !== null && (!family || r.family === family) && (table === undefined || r.table === table)
      );
  }

  // -- rules ----------------------------------------------------------------------------------

  /** Adds a rule (EEXIST when an identical rule exists). */
  addRule(spec: RuleSpec, text?: string): void {
    this.request(
      RTM_NEWRULE,
      NLM_F_CREATE | NLM_F_EXCL,
      encodeRule(spec),
      `add rule ${text ?? `${spec.priority} (IPv${spec.family})`}`,
    );
  }

  /** Deletes the first rule matching every selector of `spec`. */
  deleteRule(spec: RuleSpec, text?: string): void {
    this.request(
      RTM_DELRULE,
      0,
      encodeRule(spec),
      `delete rule ${text ?? `${spec.priority} (IPv${spec.family})`}`,
    );
  }

  /** Deletes the first rule of `family` at `priority`. */
  deleteRuleAt(family: 4 | 6, priority: number): void {
    this.request(
      RTM_DELRULE,
      0,
      encodeRuleDeleteByPriority(family, priority),
      `delete IPv${family} rule at priority ${priority}`,
    );
  }

  /** Rules of a family (or both), in the kernel's order. */
  listRules(family?: 4 | 6): RuleInfo[] {
    const req = {
      body: encodeFibRuleHdr({
        family: family ? familyCode(family) : AF_UNSPEC,
        dstLen: 0,
        srcLen: 0,
        tos: 0,
        table: 0,
        action: 0,
        flags: 0,
      }),
      attrs: [],
    };
    return this.dump(RTM_GETRULE, req, "list rules")
      .filter((m) => m.header.type === RTM_NEWRULE)
      .map((m) => decodeRule(m.payload))
      .filter((r): r is RuleInfo => r !== null && (!family || r.family === family));
  }
}

function copyMessage(m: NetlinkMessage): NetlinkMessage {
  return { header: { ...m.header }, payload: m.payload.slice() };
}

/** Runs `fn` with a fresh request socket and closes it afterwards. */
export function withRtNetlink<T>(fn: (nl: RtNetlink) => T): T {
  const nl = new RtNetlink();
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}

/** IFA_F_NODAD, re-exported for callers adding IPv6 addresses. */
export { IFA_F_NODAD };
