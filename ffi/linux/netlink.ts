/**
 * rtnetlink wire format: constants, and pure encoders/decoders for the fixed headers
 * (`nlmsghdr`, `ifinfomsg`, `ifaddrmsg`, `rtmsg`, `fib_rule_hdr`, `nlmsgerr`) and for
 * attributes (`rtattr`/`nlattr`, nested included).
 *
 * Layouts (from `include/uapi/linux/{netlink,rtnetlink,if_addr,fib_rules}.h`); integers are
 * host-endian (little-endian on every Linux target tunbox supports), addresses are raw
 * network-order bytes:
 *
 * | struct | size | fields (offset) |
 * |---|---|---|
 * | nlmsghdr | 16 | len u32 @0, type u16 @4, flags u16 @6, seq u32 @8, pid u32 @12 |
 * | rtattr / nlattr | 4 | len u16 @0 (4 + payload, unpadded), type u16 @2; payload padded to 4 |
 * | ifinfomsg | 16 | family u8 @0, type u16 @2, index i32 @4, flags u32 @8, change u32 @12 |
 * | ifaddrmsg | 8 | family u8 @0, prefixlen u8 @1, flags u8 @2, scope u8 @3, index u32 @4 |
 * | rtmsg | 12 | family @0, dst_len @1, src_len @2, tos @3, table @4, protocol @5, scope @6, type @7, flags u32 @8 |
 * | fib_rule_hdr | 12 | family @0, dst_len @1, src_len @2, tos @3, table @4, res1 @5, res2 @6, action @7, flags u32 @8 |
 * | nlmsgerr | 20+ | error i32 @0 (negative errno, 0 = ACK), the request's nlmsghdr @4 (+ its payload unless capped), then extended-ack attributes |
 *
 * Everything here is pure: functions read from or write to caller-provided buffers, or return
 * new `Uint8Array`s. The socket side lives in `src/platform/linux/rtnetlink/socket.ts`.
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

/** `AF_NETLINK` / `PF_NETLINK`. */
export const AF_NETLINK = 16;
/** The rtnetlink protocol for `socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)`. */
export const NETLINK_ROUTE = 0;
/** `setsockopt` level for netlink options. */
export const SOL_NETLINK = 270;
/** Netlink socket options (`SOL_NETLINK`). */
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_DROP_MEMBERSHIP = 2;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;

export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;
export const SOCKADDR_NL_SIZE = 12;

/** Control message types. */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

/** `nlmsghdr.flags`. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ECHO = 0x8;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP_FILTERED = 0x20;
/** GET requests. */
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = 0x300;
/** NEW requests. */
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
/** ACK/error messages: the request payload was cut (NETLINK_CAP_ACK) / TLVs follow. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

/** Extended-ack attributes inside an `NLMSG_ERROR` (or `NLMSG_DONE`) message. */
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;
export const NLMSGERR_ATTR_COOKIE = 3;
export const NLMSGERR_ATTR_POLICY = 4;
export const NLMSGERR_ATTR_MISS_TYPE = 5;
export const NLMSGERR_ATTR_MISS_NEST = 6;

/** rtnetlink message types. */
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;

/** Multicast group bits for `sockaddr_nl.groups` (legacy bitmask form). */
export const RTMGRP_LINK = 0x1;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV4_ROUTE = 0x40;
export const RTMGRP_IPV6_IFADDR = 0x100;
export const RTMGRP_IPV6_ROUTE = 0x400;

/** Attribute type flags / mask. */
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

/** Link attributes. */
export const IFLA_ADDRESS = 1;
export const IFLA_BROADCAST = 2;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_INFO_KIND = 1;
/** `ifinfomsg.flags` bits. */
export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const IFF_POINTOPOINT = 0x10;
export const IFF_RUNNING = 0x40;
export const IFF_LOWER_UP = 0x10000;
/** `ifinfomsg.type` of a TUN (layer 3) device. */
export const ARPHRD_NONE = 0xfffe;

/** Address attributes and flags. */
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_BROADCAST = 4;
export const IFA_ANYCAST = 5;
export const IFA_CACHEINFO = 6;
export const IFA_MULTICAST = 7;
export const IFA_FLAGS = 8;
export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_PERMANENT = 0x80;

/** Route attributes. */
export const RTA_DST = 1;
export const RTA_SRC = 2;
export const RTA_IIF = 3;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_METRICS = 8;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;
export const RTA_MARK = 16;
export const RTA_PREF = 20;
export const RTA_UID = 25;
export const RTAX_MTU = 2;

/** Rule attributes. */
export const FRA_DST = 1;
export const FRA_SRC = 2;
export const FRA_IIFNAME = 3;
export const FRA_GOTO = 4;
export const FRA_PRIORITY = 6;
export const FRA_FWMARK = 10;
export const FRA_FLOW = 11;
export const FRA_TUN_ID = 12;
export const FRA_SUPPRESS_IFGROUP = 13;
export const FRA_SUPPRESS_PREFIXLEN = 14;
export const FRA_TABLE = 15;
export const FRA_FWMASK = 16;
export const FRA_OIFNAME = 17;
export const FRA_L3MDEV = 19;
export const FRA_UID_RANGE = 20;
export const FRA_PROTOCOL = 21;
export const FRA_IP_PROTO = 22;
export const FRA_SPORT_RANGE = 23;
export const FRA_DPORT_RANGE = 24;
export const FRA_DSCP = 25;
/** `fib_rule_hdr.flags`. */
export const FIB_RULE_PERMANENT = 0x1;
export const FIB_RULE_INVERT = 0x2;
export const FIB_RULE_UNRESOLVED = 0x4;
export const FIB_RULE_IIF_DETACHED = 0x8;
export const FIB_RULE_OIF_DETACHED = 0x10;

/** Rule actions (`fib_rule_hdr.action`). */
export const FR_ACT_UNSPEC = 0;
export const FR_ACT_TO_TBL = 1;
export const FR_ACT_GOTO = 2;
export const FR_ACT_NOP = 3;
export const FR_ACT_BLACKHOLE = 6;
export const FR_ACT_UNREACHABLE = 7;
export const FR_ACT_PROHIBIT = 8;

/** Routing tables. */
export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_DEFAULT = 253;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

/** Route types. */
export const RTN_UNSPEC = 0;
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BROADCAST = 3;
export const RTN_ANYCAST = 4;
export const RTN_MULTICAST = 5;
export const RTN_BLACKHOLE = 6;
export const RTN_UNREACHABLE = 7;
export const RTN_PROHIBIT = 8;
export const RTN_THROW = 9;

/** Route protocols. */
export const RTPROT_UNSPEC = 0;
export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;

/** Route scopes. */
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;

/** Address families as the kernel numbers them on Linux. */
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

// ---------------------------------------------------------------------------------------------
// Alignment and views
// ---------------------------------------------------------------------------------------------

/** NLMSG_ALIGN / RTA_ALIGN / NLA_ALIGN: round up to a multiple of 4. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function need(buf: Uint8Array, offset: number, size: number, what: string): void {
  if (offset < 0 || offset + size > buf.byteLength) {
    throw new RangeError(
      `Cannot read ${what}: needs ${size} bytes at offset ${offset}, buffer has ${buf.byteLength}`,
    );
  }
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.byteLength;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// nlmsghdr
// ---------------------------------------------------------------------------------------------

/** `struct nlmsghdr`. */
export interface NlMsgHeader {
  /** Length of the whole message including this header. */
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

/** Writes a 16-byte `nlmsghdr` at `offset`. */
export function writeNlMsgHeader(buf: Uint8Array, offset: number, h: NlMsgHeader): void {
  need(buf, offset, NLMSG_HDRLEN, "nlmsghdr");
  const dv = view(buf);
  dv.setUint32(offset, h.len, true);
  dv.setUint16(offset + 4, h.type, true);
  dv.setUint16(offset + 6, h.flags, true);
  dv.setUint32(offset + 8, h.seq, true);
  dv.setUint32(offset + 12, h.pid, true);
}

/** Reads a 16-byte `nlmsghdr` at `offset`. */
export function readNlMsgHeader(buf: Uint8Array, offset = 0): NlMsgHeader {
  need(buf, offset, NLMSG_HDRLEN, "nlmsghdr");
  const dv = view(buf);
  return {
    len: dv.getUint32(offset, true),
    type: dv.getUint16(offset + 4, true),
    flags: dv.getUint16(offset + 6, true),
    seq: dv.getUint32(offset + 8, true),
    pid: dv.getUint32(offset + 12, true),
  };
}

/**
 * Builds one complete message: header (length filled in), the fixed family header, then the
 * attributes (each already padded, see {@linkcode encodeAttr}).
 */
export function buildMessage(
  header: Omit<NlMsgHeader, "len">,
  body: Uint8Array,
  attrs: readonly Uint8Array[] = [],
): Uint8Array {
  const bodyLen = align4(body.byteLength);
  let attrLen = 0;
  for (const a of attrs) attrLen += a.byteLength;
  const out = new Uint8Array(NLMSG_HDRLEN + bodyLen + attrLen);
  writeNlMsgHeader(out, 0, { ...header, len: out.byteLength });
  out.set(body, NLMSG_HDRLEN);
  let off = NLMSG_HDRLEN + bodyLen;
  for (const a of attrs) {
    out.set(a, off);
    off += a.byteLength;
  }
  return out;
}

/** One message of a received datagram: its header and its payload (a view, not a copy). */
export interface NetlinkMessage {
  header: NlMsgHeader;
  /** Bytes after the 16-byte header, up to `header.len`. */
  payload: Uint8Array;
}

/**
 * Splits a received datagram into messages, walking by NLMSG_ALIGN(len). Payloads are views
 * into `buf`; copy them if `buf` is reused.
 */
export function parseMessages(buf: Uint8Array, length: number = buf.byteLength): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= length) {
    const header = readNlMsgHeader(buf, off);
    if (header.len < NLMSG_HDRLEN || off + header.len > length) {
      throw new RangeError(
        `Malformed netlink message at offset ${off}: length ${header.len}, datagram ${length}`,
      );
    }
    out.push({ header, payload: buf.subarray(off + NLMSG_HDRLEN, off + header.len) });
    off += align4(header.len);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------------

/** Encodes one attribute: 4-byte header (len = 4 + payload, unpadded) + payload + zero pad. */
export function encodeAttr(type: number, payload: Uint8Array): Uint8Array {
  const len = NLA_HDRLEN + payload.byteLength;
  if (len > 0xffff) throw new RangeError(`Netlink attribute ${type} too long: ${len} bytes`);
  const out = new Uint8Array(align4(len));
  const dv = view(out);
  dv.setUint16(0, len, true);
  dv.setUint16(2, type, true);
  out.set(payload, NLA_HDRLEN);
  return out;
}

/** A u8 attribute. */
export function attrU8(type: number, value: number): Uint8Array {
  return encodeAttr(type, Uint8Array.of(value & 0xff));
}

/** A host-endian u16 attribute. */
export function attrU16(type: number, value: number): Uint8Array {
  const p = new Uint8Array(2);
  view(p).setUint16(0, value, true);
  return encodeAttr(type, p);
}

/** A host-endian u32 attribute. */
export function attrU32(type: number, value: number): Uint8Array {
  const p = new Uint8Array(4);
  view(p).setUint32(0, value >>> 0, true);
  return encodeAttr(type, p);
}

/** A NUL-terminated string attribute (UTF-8). */
export function attrString(type: number, value: string): Uint8Array {
  const bytes = new TextEncoder().encode(value);
  const p = new Uint8Array(bytes.byteLength + 1);
  p.set(bytes);
  return encodeAttr(type, p);
}

/** A nested attribute holding already-encoded children; sets NLA_F_NESTED unless told not to. */
export function attrNested(
  type: number,
  children: readonly Uint8Array[],
  flagNested = true,
): Uint8Array {
  return encodeAttr(flagNested ? type | NLA_F_NESTED : type, concatBytes(children));
}

/** One decoded attribute: type without the NESTED/NET_BYTEORDER flags, and a payload view. */
export interface NetlinkAttr {
  type: number;
  /** The raw type field, flags included. */
  rawType: number;
  value: Uint8Array;
}

/** Parses a run of attributes in `buf[offset, end)`. Payloads are views into `buf`. */
export function parseAttrs(
  buf: Uint8Array,
  offset = 0,
  end: number = buf.byteLength,
): NetlinkAttr[] {
  const out: NetlinkAttr[] = [];
  const dv = view(buf);
  let off = offset;
  while (off + NLA_HDRLEN <= end) {
    const len = dv.getUint16(off, true);
    const rawType = dv.getUint16(off + 2, true);
    if (len < NLA_HDRLEN || off + len > end) {
      throw new RangeError(`Malformed netlink attribute at offset ${off}: length ${len}`);
    }
    out.push({
      type: rawType & NLA_TYPE_MASK,
      rawType,
      value: buf.subarray(off + NLA_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** Attributes by type (the last one wins when a type repeats). */
export function attrMap(attrs: readonly NetlinkAttr[]): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  for (const a of attrs) m.set(a.type, a.value);
  return m;
}

/** Reads a host-endian u32 attribute payload. */
export function readU32(value: Uint8Array): number {
  need(value, 0, 4, "u32 attribute");
  return view(value).getUint32(0, true);
}

/** Reads a host-endian u16 attribute payload. */
export function readU16(value: Uint8Array): number {
  need(value, 0, 2, "u16 attribute");
  return view(value).getUint16(0, true);
}

/** Reads a NUL-terminated (or unterminated) string attribute payload. */
export function readString(value: Uint8Array): string {
  const nul = value.indexOf(0);
  return new TextDecoder().decode(nul >= 0 ? value.subarray(0, nul) : value);
}

// ---------------------------------------------------------------------------------------------
// Family headers
// ---------------------------------------------------------------------------------------------

/** `struct ifinfomsg` (16 bytes). */
export interface IfInfoMsg {
  family: number;
  /** ARPHRD_* device type. */
  type: number;
  index: number;
  flags: number;
  change: number;
}

export const IFINFOMSG_SIZE = 16;

/** Encodes an `ifinfomsg`. */
export function encodeIfInfoMsg(m: IfInfoMsg): Uint8Array {
  const out = new Uint8Array(IFINFOMSG_SIZE);
  const dv = view(out);
  dv.setUint8(0, m.family);
  dv.setUint16(2, m.type, true);
  dv.setInt32(4, m.index, true);
  dv.setUint32(8, m.flags >>> 0, true);
  dv.setUint32(12, m.change >>> 0, true);
  return out;
}

/** Decodes an `ifinfomsg` at the start of `buf`. */
export function decodeIfInfoMsg(buf: Uint8Array): IfInfoMsg {
  need(buf, 0, IFINFOMSG_SIZE, "ifinfomsg");
  const dv = view(buf);
  return {
    family: dv.getUint8(0),
    type: dv.getUint16(2, true),
    index: dv.getInt32(4, true),
    flags: dv.getUint32(8, true),
    change: dv.getUint32(12, true),
  };
}

/** `struct ifaddrmsg` (8 bytes). */
export interface IfAddrMsg {
  family: number;
  prefixlen: number;
  /** Low 8 bits of IFA_F_*; the full set travels in IFA_FLAGS. */
  flags: number;
  scope: number;
  index: number;
}

export const IFADDRMSG_SIZE = 8;

/** Encodes an `ifaddrmsg`. */
export function encodeIfAddrMsg(m: IfAddrMsg): Uint8Array {
  const out = new Uint8Array(IFADDRMSG_SIZE);
  const dv = view(out);
  dv.setUint8(0, m.family);
  dv.setUint8(1, m.prefixlen);
  dv.setUint8(2, m.flags & 0xff);
  dv.setUint8(3, m.scope);
  dv.setUint32(4, m.index >>> 0, true);
  return out;
}

/** Decodes an `ifaddrmsg` at the start of `buf`. */
export function decodeIfAddrMsg(buf: Uint8Array): IfAddrMsg {
  need(buf, 0, IFADDRMSG_SIZE, "ifaddrmsg");
  const dv = view(buf);
  return {
    family: dv.getUint8(0),
    prefixlen: dv.getUint8(1),
    flags: dv.getUint8(2),
    scope: dv.getUint8(3),
    index: dv.getUint32(4, true),
  };
}

/** `struct rtmsg` (12 bytes). */
export interface RtMsg {
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  /** Table id when < 256, else RT_TABLE_UNSPEC with the id in RTA_TABLE. */
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
}

export const RTMSG_SIZE = 12;

/** Encodes an `rtmsg`. */
export function encodeRtMsg(m: RtMsg): Uint8Array {
  const out = new Uint8Array(RTMSG_SIZE);
  const dv = view(out);
  dv.setUint8(0, m.family);
  dv.setUint8(1, m.dstLen);
  dv.setUint8(2, m.srcLen);
  dv.setUint8(3, m.tos);
  dv.setUint8(4, m.table);
  dv.setUint8(5, m.protocol);
  dv.setUint8(6, m.scope);
  dv.setUint8(7, m.type);
  dv.setUint32(8, m.flags >>> 0, true);
  return out;
}

/** Decodes an `rtmsg` at the start of `buf`. */
export function decodeRtMsg(buf: Uint8Array): RtMsg {
  need(buf, 0, RTMSG_SIZE, "rtmsg");
  const dv = view(buf);
  return {
    family: dv.getUint8(0),
    dstLen: dv.getUint8(1),
    srcLen: dv.getUint8(2),
    tos: dv.getUint8(3),
    table: dv.getUint8(4),
    protocol: dv.getUint8(5),
    scope: dv.getUint8(6),
    type: dv.getUint8(7),
    flags: dv.getUint32(8, true),
  };
}

/** `struct fib_rule_hdr` (12 bytes; `res1`/`res2` are always written as 0). */
export interface FibRuleHdr {
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  /** Table id when < 256, else 0 with the id in FRA_TABLE. */
  table: number;
  /** FR_ACT_*. */
  action: number;
  /** FIB_RULE_* flags (FIB_RULE_INVERT = "not"). */
  flags: number;
}

export const FIB_RULE_HDR_SIZE = 12;

/** Encodes a `fib_rule_hdr`. */
export function encodeFibRuleHdr(m: FibRuleHdr): Uint8Array {
  const out = new Uint8Array(FIB_RULE_HDR_SIZE);
  const dv = view(out);
  dv.setUint8(0, m.family);
  dv.setUint8(1, m.dstLen);
  dv.setUint8(2, m.srcLen);
  dv.setUint8(3, m.tos);
  dv.setUint8(4, m.table);
  // res1 @5, res2 @6 stay 0.
  dv.setUint8(7, m.action);
  dv.setUint32(8, m.flags >>> 0, true);
  return out;
}

/** Decodes a `fib_rule_hdr` at the start of `buf`. */
export function decodeFibRuleHdr(buf: Uint8Array): FibRuleHdr {
  need(buf, 0, FIB_RULE_HDR_SIZE, "fib_rule_hdr");
  const dv = view(buf);
  return {
    family: dv.getUint8(0),
    dstLen: dv.getUint8(1),
    srcLen: dv.getUint8(2),
    tos: dv.getUint8(3),
    table: dv.getUint8(4),
    action: dv.getUint8(7),
    flags: dv.getUint32(8, true),
  };
}

// ---------------------------------------------------------------------------------------------
// nlmsgerr
// ---------------------------------------------------------------------------------------------

/** A decoded `NLMSG_ERROR` payload. */
export interface NlMsgErr {
  /** 0 for an ACK, otherwise the positive errno. */
  errno: number;
  /** Header of the request this answers. */
  request: NlMsgHeader;
  /** NLMSGERR_ATTR_MSG: the kernel's human-readable explanation, when it sent one. */
  message?: string;
  /** NLMSGERR_ATTR_OFFS: byte offset in the request of the attribute at fault. */
  offset?: number;
}

/**
 * Decodes the payload of an `NLMSG_ERROR` message. `flags` are the flags of that message's own
 * header: with NLM_F_CAPPED the request copy is its header only; otherwise header + payload.
 * Extended-ack attributes follow the copy when NLM_F_ACK_TLVS is set.
 */
export function decodeNlMsgErr(payload: Uint8Array, flags: number): NlMsgErr {
  need(payload, 0, 4 + NLMSG_HDRLEN, "nlmsgerr");
  const error = view(payload).getInt32(0, true);
  const request = readNlMsgHeader(payload, 4);
  const out: NlMsgErr = { errno: error === 0 ? 0 : -error, request };
  if (flags & NLM_F_ACK_TLVS) {
    const copied = flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(request.len);
    const start = 4 + copied;
    if (start <= payload.byteLength) {
      for (const a of parseAttrs(payload, start)) {
        if (a.type === NLMSGERR_ATTR_MSG) out.message = readString(a.value);
        else if (a.type === NLMSGERR_ATTR_OFFS && a.value.byteLength >= 4) {
          out.offset = readU32(a.value);
        }
      }
    }
  }
  return out;
}

/** Encodes an `NLMSG_ERROR` payload (used by tests and fakes): error, request copy, TLVs. */
export function encodeNlMsgErr(
  errno: number,
  request: Uint8Array,
  extack: { message?: string; offset?: number } = {},
  capped = true,
): Uint8Array {
  const head = new Uint8Array(4);
  view(head).setInt32(0, -errno, true);
  const copy = capped ? request.subarray(0, NLMSG_HDRLEN) : request;
  const tlvs: Uint8Array[] = [];
  if (extack.message !== undefined) tlvs.push(attrString(NLMSGERR_ATTR_MSG, extack.message));
  if (extack.offset !== undefined) tlvs.push(attrU32(NLMSGERR_ATTR_OFFS, extack.offset));
  const padded = new Uint8Array(align4(copy.byteLength));
  padded.set(copy);
  return concatBytes([head, padded, ...tlvs]);
}

// ---------------------------------------------------------------------------------------------
// sockaddr_nl
// ---------------------------------------------------------------------------------------------

/** Encodes a 12-byte `sockaddr_nl` (family AF_NETLINK, port id, multicast group bitmask). */
export function encodeSockaddrNl(pid = 0, groups = 0): Uint8Array {
  const out = new Uint8Array(SOCKADDR_NL_SIZE);
  const dv = view(out);
  dv.setUint16(0, AF_NETLINK, true);
  dv.setUint32(4, pid >>> 0, true);
  dv.setUint32(8, groups >>> 0, true);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Link creation across namespaces (veth pairs, moving links)
// ---------------------------------------------------------------------------------------------

/** `IFLA_NET_NS_PID` (u32): the namespace of this process, for RTM_NEWLINK/SETLINK. */
export const IFLA_NET_NS_PID = 19;
/** `IFLA_NET_NS_FD` (u32): the namespace behind this fd (of the sending process). */
export const IFLA_NET_NS_FD = 28;
/** `IFLA_INFO_DATA`: nested, kind-specific data inside IFLA_LINKINFO. */
export const IFLA_INFO_DATA = 2;
/** `VETH_INFO_PEER` (`include/uapi/linux/veth.h`): the peer's `ifinfomsg` + IFLA_* attributes. */
export const VETH_INFO_PEER = 1;

/** An attribute whose payload is the string's bytes without a NUL (iproute2's IFLA_INFO_KIND). */
export function attrBytesOfString(type: number, value: string): Uint8Array {
  return encodeAttr(type, new TextEncoder().encode(value));
}

/**
 * `IFLA_LINKINFO` for a new veth pair, laid out as iproute2 6.x sends it for
 * `ip link add A type veth peer name B [netns N]`:
 *
 * ```
 * IFLA_LINKINFO
 *   IFLA_INFO_KIND "veth" (no NUL)
 *   IFLA_INFO_DATA
 *     VETH_INFO_PEER: ifinfomsg (zeros), [IFLA_NET_NS_FD peerNsFd], IFLA_IFNAME peerName
 * ```
 *
 * No NLA_F_NESTED flags (the kernel parses these nests without requiring it). With
 * `peerNsFd`, the peer is created directly in that namespace; the first end stays in the
 * namespace of the netlink socket (or goes where its own IFLA_NET_NS_FD says).
 */
export function encodeVethLinkInfo(peerName: string, peerNsFd?: number): Uint8Array {
  const peer: Uint8Array[] = [
    encodeIfInfoMsg({ family: AF_UNSPEC, type: 0, index: 0, flags: 0, change: 0 }),
  ];
  if (peerNsFd !== undefined) peer.push(attrU32(IFLA_NET_NS_FD, peerNsFd));
  peer.push(attrString(IFLA_IFNAME, peerName));
  return attrNested(IFLA_LINKINFO, [
    attrBytesOfString(IFLA_INFO_KIND, "veth"),
    attrNested(IFLA_INFO_DATA, [encodeAttr(VETH_INFO_PEER, concatBytes(peer))], false),
  ], false);
}
