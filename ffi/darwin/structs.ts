/**
 * Pure encoders and decoders for the Darwin kernel structs the platform code hands to
 * `ioctl`, `connect`, routing sockets and `sysctl`. Every size and field offset comes from
 * `layouts.ts` (proven against the xnu headers for 64-bit processes; arm64 and x86_64 are both
 * little-endian and share them); integers are host order (little-endian) unless a field is a
 * port or address, which are network order.
 *
 * @module
 */

import { decodeSockaddr, encodeSockaddr } from "../sockaddr.ts";
import {
  AF_INET,
  AF_INET6,
  AF_LINK,
  AF_SYS_CONTROL,
  AF_SYSTEM,
  IFNAMSIZ,
  IN6_IFF_NODAD,
  IN6_IFF_SECURED,
  MAX_KCTL_NAME,
  ND6_INFINITE_LIFETIME,
  RTAX,
  RTAX_MAX,
  RTM,
  RTM_VERSION,
} from "./constants.ts";
import {
  CTL_INFO,
  IF_DATA,
  IF_DATA64,
  IF_MSGHDR,
  IF_MSGHDR2,
  IFA_MSGHDR,
  IFALIASREQ,
  IFREQ,
  IN6_ADDRLIFETIME,
  IN6_ALIASREQ,
  RT_METRICS,
  RT_MSGHDR,
  SOCKADDR_CTL,
  SOCKADDR_DL,
  SOCKADDR_IN,
  SOCKADDR_IN6,
} from "./layouts.ts";
import { fromCString } from "./libc.ts";

export const CTL_INFO_SIZE: number = CTL_INFO.size;
export const SOCKADDR_CTL_SIZE: number = SOCKADDR_CTL.size;
export const IFREQ_SIZE: number = IFREQ.size;
export const IFALIASREQ_SIZE: number = IFALIASREQ.size;
export const IN6_ALIASREQ_SIZE: number = IN6_ALIASREQ.size;
export const RT_MSGHDR_SIZE: number = RT_MSGHDR.size;
export const SOCKADDR_IN_SIZE: number = SOCKADDR_IN.size;
export const SOCKADDR_IN6_SIZE: number = SOCKADDR_IN6.size;
export const SOCKADDR_DL_SIZE: number = SOCKADDR_DL.size;

const encoder = new TextEncoder();

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Writes an interface name (at most 15 bytes + NUL) at `offset`. */
export function writeIfName(out: Uint8Array, name: string, offset = 0): void {
  const bytes = encoder.encode(name);
  if (bytes.length === 0 || bytes.length >= IFNAMSIZ) {
    throw new RangeError(`Interface name "${name}" must be 1 to ${IFNAMSIZ - 1} bytes long`);
  }
  out.fill(0, offset, offset + IFNAMSIZ);
  out.set(bytes, offset);
}

/** The interface name stored at `offset` (16 bytes, NUL-terminated). */
export function readIfName(buf: Uint8Array, offset = 0): string {
  return fromCString(buf.subarray(offset, offset + IFNAMSIZ));
}

/** The netmask bytes (4 or 16) of a prefix length. */
export function prefixMask(bits: number, length: 4 | 16): Uint8Array {
  if (!Number.isInteger(bits) || bits < 0 || bits > length * 8) {
    throw new RangeError(`Prefix length ${bits} is out of range for a ${length * 8}-bit address`);
  }
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] = (0xff00 >> keep) & 0xff;
  }
  return out;
}

/** The prefix length of a contiguous netmask, or null when its one-bits are not contiguous. */
export function maskBits(mask: Uint8Array): number | null {
  let bits = 0;
  let i = 0;
  for (; i < mask.length && mask[i] === 0xff; i++) bits += 8;
  if (i < mask.length) {
    const b = mask[i]!;
    let n = 0;
    while (n < 8 && (b & (0x80 >> n)) !== 0) n++;
    if (((0xff00 >> n) & 0xff) !== b) return null;
    bits += n;
    for (i++; i < mask.length; i++) if (mask[i] !== 0) return null;
  }
  return bits;
}

// ---------------------------------------------------------------------------------------------
// Kernel control: ctl_info, sockaddr_ctl
// ---------------------------------------------------------------------------------------------

/** `struct ctl_info { u_int32_t ctl_id @0; char ctl_name[96] @4; }` for CTLIOCGINFO. */
export function encodeCtlInfo(name: string, id = 0): Uint8Array {
  const bytes = encoder.encode(name);
  if (bytes.length >= MAX_KCTL_NAME) {
    throw new RangeError(`Kernel control name "${name}" is longer than ${MAX_KCTL_NAME - 1} bytes`);
  }
  const out = new Uint8Array(CTL_INFO.size);
  view(out).setUint32(CTL_INFO.ctl_id, id, true);
  out.set(bytes, CTL_INFO.ctl_name);
  return out;
}

/** Reads a `ctl_info` (the kernel fills `ctl_id`). */
export function decodeCtlInfo(buf: Uint8Array): { id: number; name: string } {
  checkSize(buf, CTL_INFO_SIZE, "ctl_info");
  return {
    id: view(buf).getUint32(CTL_INFO.ctl_id, true),
    name: fromCString(buf.subarray(CTL_INFO.ctl_name, CTL_INFO.size)),
  };
}

/**
 * `struct sockaddr_ctl { u_char sc_len @0; u_char sc_family @1; u_int16_t ss_sysaddr @2;
 * u_int32_t sc_id @4; u_int32_t sc_unit @8; u_int32_t sc_reserved[5] @12; }`.
 * For utun, `unit` is N+1 for `utunN`, 0 to let the kernel pick.
 */
export function encodeSockaddrCtl(id: number, unit: number): Uint8Array {
  const out = new Uint8Array(SOCKADDR_CTL_SIZE);
  const dv = view(out);
  dv.setUint8(SOCKADDR_CTL.sc_len, SOCKADDR_CTL.size);
  dv.setUint8(SOCKADDR_CTL.sc_family, AF_SYSTEM);
  dv.setUint16(SOCKADDR_CTL.ss_sysaddr, AF_SYS_CONTROL, true);
  dv.setUint32(SOCKADDR_CTL.sc_id, id, true);
  dv.setUint32(SOCKADDR_CTL.sc_unit, unit, true);
  return out;
}

/** Reads a `sockaddr_ctl`. */
export function decodeSockaddrCtl(
  buf: Uint8Array,
): { len: number; family: number; sysaddr: number; id: number; unit: number } {
  checkSize(buf, SOCKADDR_CTL_SIZE, "sockaddr_ctl");
  const dv = view(buf);
  return {
    len: dv.getUint8(SOCKADDR_CTL.sc_len),
    family: dv.getUint8(SOCKADDR_CTL.sc_family),
    sysaddr: dv.getUint16(SOCKADDR_CTL.ss_sysaddr, true),
    id: dv.getUint32(SOCKADDR_CTL.sc_id, true),
    unit: dv.getUint32(SOCKADDR_CTL.sc_unit, true),
  };
}

// ---------------------------------------------------------------------------------------------
// Interface requests: ifreq, ifaliasreq, in6_aliasreq
// ---------------------------------------------------------------------------------------------

/** `struct ifreq` with `ifr_mtu` (an int in `ifr_ifru`), for SIOCSIFMTU / SIOCGIFMTU. */
export function encodeIfreqMtu(name: string, mtu: number): Uint8Array {
  const out = new Uint8Array(IFREQ.size);
  writeIfName(out, name, IFREQ.ifr_name);
  view(out).setInt32(IFREQ.ifr_ifru, mtu, true);
  return out;
}

/** `struct ifreq` with `ifr_flags` (a short in `ifr_ifru`), for SIOCGIFFLAGS / SIOCSIFFLAGS. */
export function encodeIfreqFlags(name: string, flags: number): Uint8Array {
  const out = new Uint8Array(IFREQ.size);
  writeIfName(out, name, IFREQ.ifr_name);
  view(out).setInt16(IFREQ.ifr_ifru, flags, true);
  return out;
}

/** Reads an `ifreq`: the name and the union read as `ifr_mtu` and as `ifr_flags`. */
export function decodeIfreq(buf: Uint8Array): { name: string; mtu: number; flags: number } {
  checkSize(buf, IFREQ.size, "ifreq");
  const dv = view(buf);
  return {
    name: readIfName(buf, IFREQ.ifr_name),
    mtu: dv.getInt32(IFREQ.ifr_ifru, true),
    flags: dv.getUint16(IFREQ.ifr_ifru, true),
  };
}

/** A BSD `sockaddr_in` (16 bytes) or `sockaddr_in6` (28 bytes) for raw address bytes. */
export function encodeSockaddrInet(addr: Uint8Array): Uint8Array {
  if (addr.length !== 4 && addr.length !== 16) {
    throw new RangeError(`Cannot encode an address of ${addr.length} bytes as a sockaddr`);
  }
  const out = new Uint8Array(addr.length === 4 ? SOCKADDR_IN_SIZE : SOCKADDR_IN6_SIZE);
  encodeSockaddr({ addr, port: 0 }, out, "darwin");
  return out;
}

/**
 * `struct ifaliasreq { char ifra_name[16] @0; struct sockaddr ifra_addr @16;
 * struct sockaddr ifra_broadaddr @32; struct sockaddr ifra_mask @48; }` for SIOCAIFADDR.
 * tunbox, as sing-tun, sets the destination (p2p peer) to the address itself.
 */
export function encodeIfaliasreq(
  name: string,
  addr: Uint8Array,
  bits: number,
  dst: Uint8Array = addr,
): Uint8Array {
  if (addr.length !== 4 || dst.length !== 4) {
    throw new RangeError("ifaliasreq carries IPv4 addresses only");
  }
  const out = new Uint8Array(IFALIASREQ.size);
  writeIfName(out, name, IFALIASREQ.ifra_name);
  out.set(encodeSockaddrInet(addr), IFALIASREQ.ifra_addr);
  out.set(encodeSockaddrInet(dst), IFALIASREQ.ifra_broadaddr);
  out.set(encodeSockaddrInet(prefixMask(bits, 4)), IFALIASREQ.ifra_mask);
  return out;
}

/** Reads an `ifaliasreq`. */
export function decodeIfaliasreq(
  buf: Uint8Array,
): { name: string; addr: Uint8Array; dst: Uint8Array; mask: Uint8Array } {
  checkSize(buf, IFALIASREQ.size, "ifaliasreq");
  const inet = (off: number, what: string) => {
    const sa = decodeSockaddr(buf.subarray(off, off + SOCKADDR_IN_SIZE), "darwin");
    if (!sa || sa.addr.length !== 4 || buf[off] !== SOCKADDR_IN_SIZE) {
      throw new TypeError(`ifaliasreq ${what} at offset ${off} is not a 16-byte sockaddr_in`);
    }
    return sa.addr;
  };
  return {
    name: readIfName(buf, IFALIASREQ.ifra_name),
    addr: inet(IFALIASREQ.ifra_addr, "addr"),
    dst: inet(IFALIASREQ.ifra_broadaddr, "broadaddr"),
    mask: inet(IFALIASREQ.ifra_mask, "mask"),
  };
}

/**
 * `struct in6_aliasreq { char ifra_name[16] @0; struct sockaddr_in6 ifra_addr @16;
 * struct sockaddr_in6 ifra_dstaddr @44; struct sockaddr_in6 ifra_prefixmask @72;
 * int ifra_flags @100; struct in6_addrlifetime { time_t ia6t_expire @104;
 * time_t ia6t_preferred @112; u_int32_t ia6t_vltime @120; u_int32_t ia6t_pltime @124; } }`
 * for SIOCAIFADDR_IN6. Flags NODAD|SECURED, infinite lifetimes; the destination is set only
 * for a /128 (to the next address), as sing-tun does; otherwise it stays all zero.
 */
export function encodeIn6Aliasreq(name: string, addr: Uint8Array, bits: number): Uint8Array {
  if (addr.length !== 16) throw new RangeError("in6_aliasreq carries IPv6 addresses only");
  const out = new Uint8Array(IN6_ALIASREQ.size);
  const dv = view(out);
  writeIfName(out, name, IN6_ALIASREQ.ifra_name);
  out.set(encodeSockaddrInet(addr), IN6_ALIASREQ.ifra_addr);
  if (bits === 128) {
    const next = addr.slice();
    for (let i = 15; i >= 0; i--) {
      next[i] = (next[i]! + 1) & 0xff;
      if (next[i] !== 0) break;
    }
    out.set(encodeSockaddrInet(next), IN6_ALIASREQ.ifra_dstaddr);
  }
  out.set(encodeSockaddrInet(prefixMask(bits, 16)), IN6_ALIASREQ.ifra_prefixmask);
  dv.setInt32(IN6_ALIASREQ.ifra_flags, IN6_IFF_NODAD | IN6_IFF_SECURED, true);
  // ia6t_expire and ia6t_preferred stay 0: the kernel derives them from the lifetimes.
  const life = IN6_ALIASREQ.ifra_lifetime;
  dv.setUint32(life + IN6_ADDRLIFETIME.ia6t_vltime, ND6_INFINITE_LIFETIME, true);
  dv.setUint32(life + IN6_ADDRLIFETIME.ia6t_pltime, ND6_INFINITE_LIFETIME, true);
  return out;
}

/** Reads an `in6_aliasreq`; `dst` is null when the destination sockaddr is all zero. */
export function decodeIn6Aliasreq(buf: Uint8Array): {
  name: string;
  addr: Uint8Array;
  dst: Uint8Array | null;
  mask: Uint8Array;
  flags: number;
  expire: bigint;
  preferred: bigint;
  vltime: number;
  pltime: number;
} {
  checkSize(buf, IN6_ALIASREQ.size, "in6_aliasreq");
  const dv = view(buf);
  const inet6 = (off: number, what: string) => {
    const sa = decodeSockaddr(buf.subarray(off, off + SOCKADDR_IN6_SIZE), "darwin");
    if (!sa || sa.addr.length !== 16 || buf[off] !== SOCKADDR_IN6_SIZE) {
      throw new TypeError(`in6_aliasreq ${what} at offset ${off} is not a 28-byte sockaddr_in6`);
    }
    return sa.addr;
  };
  const R = IN6_ALIASREQ, life = IN6_ALIASREQ.ifra_lifetime;
  const dstEmpty = buf.subarray(R.ifra_dstaddr, R.ifra_dstaddr + SOCKADDR_IN6.size)
    .every((b) => b === 0);
  return {
    name: readIfName(buf, R.ifra_name),
    addr: inet6(R.ifra_addr, "addr"),
    dst: dstEmpty ? null : inet6(R.ifra_dstaddr, "dstaddr"),
    mask: inet6(R.ifra_prefixmask, "prefixmask"),
    flags: dv.getInt32(R.ifra_flags, true),
    expire: dv.getBigInt64(life + IN6_ADDRLIFETIME.ia6t_expire, true),
    preferred: dv.getBigInt64(life + IN6_ADDRLIFETIME.ia6t_preferred, true),
    vltime: dv.getUint32(life + IN6_ADDRLIFETIME.ia6t_vltime, true),
    pltime: dv.getUint32(life + IN6_ADDRLIFETIME.ia6t_pltime, true),
  };
}

// ---------------------------------------------------------------------------------------------
// Routing messages: rt_msghdr + sockaddrs
// ---------------------------------------------------------------------------------------------

/**
 * xnu rtsock.c `ROUNDUP32`: the space a sockaddr of length `len` takes in a routing message
 * (a multiple of 4; a zero-length sockaddr still takes 4 bytes).
 */
export function roundup32(len: number): number {
  return len > 0 ? 1 + ((len - 1) | 3) : 4;
}

/**
 * `struct sockaddr_dl { u_char sdl_len @0; u_char sdl_family @1; u_short sdl_index @2;
 * u_char sdl_type @4; u_char sdl_nlen @5; u_char sdl_alen @6; u_char sdl_slen @7;
 * char sdl_data[12] @8; }` (20 bytes, longer when name + address exceed 12 bytes).
 */
export function encodeSockaddrDl(index: number, name = "", type = 0): Uint8Array {
  const nameBytes = encoder.encode(name);
  const D = SOCKADDR_DL;
  const len = Math.max(D.size, D.sdl_data + nameBytes.length);
  const out = new Uint8Array(len);
  const dv = view(out);
  dv.setUint8(D.sdl_len, len);
  dv.setUint8(D.sdl_family, AF_LINK);
  dv.setUint16(D.sdl_index, index, true);
  dv.setUint8(D.sdl_type, type);
  dv.setUint8(D.sdl_nlen, nameBytes.length);
  out.set(nameBytes, D.sdl_data);
  return out;
}

/** The sockaddrs of a routing message, by RTAX slot name. */
export interface RouteAddrs {
  dst?: Uint8Array;
  gateway?: Uint8Array;
  netmask?: Uint8Array;
  genmask?: Uint8Array;
  ifp?: Uint8Array;
  ifa?: Uint8Array;
  author?: Uint8Array;
  brd?: Uint8Array;
}

/** The slot names in RTAX order (bit i of `rtm_addrs` ↔ `RTAX_SLOTS[i]`). */
export const RTAX_SLOTS = [
  "dst",
  "gateway",
  "netmask",
  "genmask",
  "ifp",
  "ifa",
  "author",
  "brd",
] as const satisfies readonly (keyof RouteAddrs)[];

/** What to put in an outgoing routing message. */
export interface RouteMessageInput {
  /** `rtm_type` (RTM.ADD, RTM.DELETE, ...). */
  type: number;
  /** `rtm_flags` (RTF bits). */
  flags: number;
  /** `rtm_seq`, echoed back by the kernel. */
  seq: number;
  /** `rtm_index`: interface index for RTF_IFSCOPE routes, else 0. */
  index?: number;
  /** Encoded sockaddrs, each exactly `sa_len` bytes; their presence sets `rtm_addrs`. */
  addrs: RouteAddrs;
}

/**
 * Encodes `struct rt_msghdr { u_short rtm_msglen @0; u_char rtm_version @2; u_char rtm_type @3;
 * u_short rtm_index @4; (pad @6); int rtm_flags @8; int rtm_addrs @12; pid_t rtm_pid @16;
 * int rtm_seq @20; int rtm_errno @24; int rtm_use @28; u_int32_t rtm_inits @32;
 * struct rt_metrics rtm_rmx @36 (14 × u_int32_t); }` followed by the sockaddrs in RTA bit
 * order, each padded with zeros to {@linkcode roundup32} of its length.
 */
export function encodeRouteMessage(msg: RouteMessageInput): Uint8Array {
  let addrBits = 0;
  let total = RT_MSGHDR_SIZE;
  RTAX_SLOTS.forEach((slot, i) => {
    const sa = msg.addrs[slot];
    if (!sa) return;
    addrBits |= 1 << i;
    total += roundup32(sa.length);
  });
  if (total > 0xffff) throw new RangeError(`Routing message of ${total} bytes is too long`);
  const out = new Uint8Array(total);
  const dv = view(out);
  const H = RT_MSGHDR;
  dv.setUint16(H.rtm_msglen, total, true);
  dv.setUint8(H.rtm_version, RTM_VERSION);
  dv.setUint8(H.rtm_type, msg.type);
  dv.setUint16(H.rtm_index, msg.index ?? 0, true);
  dv.setInt32(H.rtm_flags, msg.flags, true);
  dv.setInt32(H.rtm_addrs, addrBits, true);
  dv.setInt32(H.rtm_seq, msg.seq, true);
  let off = RT_MSGHDR_SIZE;
  for (const slot of RTAX_SLOTS) {
    const sa = msg.addrs[slot];
    if (!sa) continue;
    out.set(sa, off);
    off += roundup32(sa.length);
  }
  return out;
}

/** One sockaddr of a routing message, decoded. */
export type RouteSockaddr =
  /** AF_INET / AF_INET6 (a short sockaddr is zero-extended: length 0 means 0.0.0.0 / ::). */
  | { kind: "inet"; family: 4 | 6; addr: Uint8Array }
  /** AF_LINK: interface index, type, name and link-level address. */
  | { kind: "link"; index: number; type: number; name: string; lladdr: Uint8Array }
  /**
   * A netmask (RTAX_NETMASK / RTAX_GENMASK), read in the destination's family: the kernel
   * trims trailing zero bytes and does not set the family byte reliably, so `sa_len` 0 (or any
   * length up to the address offset) means an all-zero mask. `bits` is null when not contiguous.
   */
  | { kind: "mask"; family: 4 | 6; mask: Uint8Array; bits: number | null }
  /** Anything else, as raw bytes (`sa_len` bytes). */
  | { kind: "other"; family: number; raw: Uint8Array };

/** A routing message header and its sockaddrs (indexed by RTAX; absent slots are undefined). */
export interface RouteMessage {
  msglen: number;
  version: number;
  type: number;
  index: number;
  flags: number;
  addrs: number;
  pid: number;
  seq: number;
  errno: number;
  use: number;
  inits: number;
  mtu: number;
  sockaddrs: (RouteSockaddr | undefined)[];
}

function inetFamily(afByte: number): 4 | 6 | null {
  return afByte === AF_INET ? 4 : afByte === AF_INET6 ? 6 : null;
}

/** Copies the address bytes present in a (possibly short) sockaddr, zero-extending. */
function shortAddr(sa: Uint8Array, saLen: number, family: 4 | 6): Uint8Array {
  const off = family === 4 ? SOCKADDR_IN.sin_addr : SOCKADDR_IN6.sin6_addr;
  const out = new Uint8Array(family === 4 ? 4 : 16);
  const end = Math.min(saLen, off + out.length, sa.length);
  if (end > off) out.set(sa.subarray(off, end));
  return out;
}

/**
 * Decodes the sockaddr at the start of `sa` (the bytes up to the next one) for slot `rtax`.
 * `dstFamily` is the family of the message's destination, used to read netmasks.
 */
export function decodeRouteSockaddr(
  sa: Uint8Array,
  rtax: number,
  dstFamily: 4 | 6 | null,
): RouteSockaddr {
  const saLen = sa[0] ?? 0;
  const afByte = sa.length > 1 ? sa[1]! : 0;
  if (rtax === RTAX.NETMASK || rtax === RTAX.GENMASK) {
    const family = dstFamily ?? inetFamily(afByte);
    if (family !== null) {
      const mask = shortAddr(sa, saLen, family);
      return { kind: "mask", family, mask, bits: maskBits(mask) };
    }
  }
  const family = inetFamily(afByte);
  if (family !== null) return { kind: "inet", family, addr: shortAddr(sa, saLen, family) };
  if (afByte === AF_LINK && saLen >= 8 && sa.length >= saLen) {
    const dv = view(sa);
    const D = SOCKADDR_DL;
    const nlen = dv.getUint8(D.sdl_nlen), alen = dv.getUint8(D.sdl_alen);
    const data = sa.subarray(D.sdl_data, saLen);
    return {
      kind: "link",
      index: dv.getUint16(D.sdl_index, true),
      type: dv.getUint8(D.sdl_type),
      name: new TextDecoder().decode(data.subarray(0, Math.min(nlen, data.length))),
      lladdr: data.slice(nlen, Math.min(nlen + alen, data.length)),
    };
  }
  return { kind: "other", family: afByte, raw: sa.slice(0, Math.min(saLen, sa.length)) };
}

/**
 * Decodes one routing message that starts at `offset` (an `rt_msghdr` and its sockaddrs).
 * Throws a RangeError when the buffer is shorter than the message says.
 */
export function decodeRouteMessage(buf: Uint8Array, offset = 0): RouteMessage {
  if (buf.length - offset < RT_MSGHDR_SIZE) {
    throw new RangeError(
      `Routing message at offset ${offset} is truncated: ${buf.length - offset} of ` +
        `${RT_MSGHDR_SIZE} header bytes`,
    );
  }
  const dv = new DataView(buf.buffer, buf.byteOffset + offset, buf.length - offset);
  const H = RT_MSGHDR;
  const msglen = dv.getUint16(H.rtm_msglen, true);
  if (msglen < RT_MSGHDR_SIZE || msglen > buf.length - offset) {
    throw new RangeError(
      `Routing message at offset ${offset} has length ${msglen}, ` +
        `outside ${RT_MSGHDR_SIZE}..${buf.length - offset}`,
    );
  }
  const addrs = dv.getInt32(H.rtm_addrs, true);
  const sockaddrs = decodeSockaddrs(buf, offset + RT_MSGHDR_SIZE, offset + msglen, addrs);
  return {
    msglen,
    version: dv.getUint8(H.rtm_version),
    type: dv.getUint8(H.rtm_type),
    index: dv.getUint16(H.rtm_index, true),
    flags: dv.getInt32(H.rtm_flags, true),
    addrs,
    pid: dv.getInt32(H.rtm_pid, true),
    seq: dv.getInt32(H.rtm_seq, true),
    errno: dv.getInt32(H.rtm_errno, true),
    use: dv.getInt32(H.rtm_use, true),
    inits: dv.getUint32(H.rtm_inits, true),
    mtu: dv.getUint32(H.rtm_rmx + RT_METRICS.rmx_mtu, true),
    sockaddrs,
  };
}

/** `msglen`, `version` and `type` of every message in a routing-socket read, in order. */
export function walkRoutingMessages(
  buf: Uint8Array,
): { offset: number; msglen: number; version: number; type: number }[] {
  const out: { offset: number; msglen: number; version: number; type: number }[] = [];
  let off = 0;
  while (buf.length - off >= 4) {
    const msglen = buf[off]! | (buf[off + 1]! << 8);
    if (msglen < 4 || msglen > buf.length - off) break;
    out.push({ offset: off, msglen, version: buf[off + 2]!, type: buf[off + 3]! });
    off += msglen;
  }
  return out;
}

/**
 * Parses the result of `sysctl({CTL_NET, PF_ROUTE, 0, af, NET_RT_DUMP, 0})`: back-to-back
 * `rt_msghdr` records, each followed by its sockaddrs. Records of another `rtm_version` are
 * skipped; a record that runs past the end throws a RangeError.
 */
export function parseRouteDump(buf: Uint8Array): RouteMessage[] {
  const out: RouteMessage[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 4) {
      throw new RangeError(`Route dump has ${buf.length - off} stray bytes at offset ${off}`);
    }
    const msglen = buf[off]! | (buf[off + 1]! << 8);
    if (msglen === 0) throw new RangeError(`Route dump record at offset ${off} has length 0`);
    if (buf[off + 2] === RTM_VERSION) out.push(decodeRouteMessage(buf, off));
    off += msglen;
  }
  return out;
}

/**
 * The sockaddrs of a routing message between `start` and `end`, one per bit of `addrs` in RTAX
 * order, each taking {@linkcode roundup32} of its `sa_len`. Netmasks are read in the family of the
 * message's destination, or of its interface address when there is no destination
 * (RTM_NEWADDR puts the netmask before the address).
 */
export function decodeSockaddrs(
  buf: Uint8Array,
  start: number,
  end: number,
  addrs: number,
): (RouteSockaddr | undefined)[] {
  const slices: (Uint8Array | undefined)[] = new Array(RTAX_MAX).fill(undefined);
  let off = start;
  for (let i = 0; i < RTAX_MAX; i++) {
    if ((addrs & (1 << i)) === 0) continue;
    if (off >= end) break; // the kernel never does this; tolerate a missing tail
    const saLen = buf[off]!;
    slices[i] = buf.subarray(off, Math.min(end, off + Math.max(saLen, 4)));
    off += roundup32(saLen);
  }
  const familyOf = (sa: Uint8Array | undefined) => sa && sa.length > 1 ? inetFamily(sa[1]!) : null;
  const maskFamily = familyOf(slices[RTAX.DST]) ?? familyOf(slices[RTAX.IFA]);
  return slices.map((sa, i) => sa && decodeRouteSockaddr(sa, i, maskFamily));
}

/** An RTM_IFINFO (`if_msghdr`) or RTM_IFINFO2 (`if_msghdr2`) message. */
export interface InterfaceMessage {
  type: number;
  index: number;
  /** `if_flags` (IFF_UP, IFF_RUNNING, ...). */
  flags: number;
  /** The interface name from the RTA_IFP `sockaddr_dl`, when the message carries one. */
  name: string | null;
  /** `ifi_mtu` of the message's `if_data`/`if_data64`. */
  mtu: number;
}

/** Decodes an `if_msghdr` (RTM_IFINFO) or `if_msghdr2` (RTM_IFINFO2) at `offset`. */
export function decodeInterfaceMessage(buf: Uint8Array, offset = 0): InterfaceMessage {
  const dv = new DataView(buf.buffer, buf.byteOffset + offset, buf.length - offset);
  const type = dv.getUint8(IF_MSGHDR.ifm_type);
  const v2 = type === RTM.IFINFO2;
  const size = v2 ? IF_MSGHDR2.size : IF_MSGHDR.size;
  const msglen = checkMessage(buf, offset, size, v2 ? "if_msghdr2" : "if_msghdr");
  const addrs = dv.getInt32(IF_MSGHDR.ifm_addrs, true);
  const sas = decodeSockaddrs(buf, offset + size, offset + msglen, addrs);
  const ifp = sas[RTAX.IFP];
  const data = v2 ? IF_MSGHDR2.ifm_data : IF_MSGHDR.ifm_data;
  return {
    type,
    index: dv.getUint16(IF_MSGHDR.ifm_index, true),
    flags: dv.getInt32(IF_MSGHDR.ifm_flags, true),
    name: ifp?.kind === "link" && ifp.name !== "" ? ifp.name : null,
    mtu: dv.getUint32(data + (v2 ? IF_DATA64.ifi_mtu : IF_DATA.ifi_mtu), true),
  };
}

/** An RTM_NEWADDR / RTM_DELADDR (`ifa_msghdr`) message. */
export interface AddressMessage {
  type: number;
  index: number;
  /** The address (RTA_IFA), or null when the message has none (an interface's link address). */
  addr: Uint8Array | null;
  /** The prefix length from RTA_NETMASK (host length when absent), null if not contiguous. */
  bits: number | null;
}

/** Decodes an `ifa_msghdr` (RTM_NEWADDR / RTM_DELADDR) at `offset`. */
export function decodeAddressMessage(buf: Uint8Array, offset = 0): AddressMessage {
  const msglen = checkMessage(buf, offset, IFA_MSGHDR.size, "ifa_msghdr");
  const dv = new DataView(buf.buffer, buf.byteOffset + offset, buf.length - offset);
  const addrs = dv.getInt32(IFA_MSGHDR.ifam_addrs, true);
  const sas = decodeSockaddrs(buf, offset + IFA_MSGHDR.size, offset + msglen, addrs);
  const ifa = sas[RTAX.IFA], mask = sas[RTAX.NETMASK];
  const addr = ifa?.kind === "inet" ? ifa.addr : null;
  return {
    type: dv.getUint8(IFA_MSGHDR.ifam_type),
    index: dv.getUint16(IFA_MSGHDR.ifam_index, true),
    addr,
    bits: addr === null ? null : mask?.kind === "mask" ? mask.bits : addr.length * 8,
  };
}

/** Any routing-socket message, decoded by its type. */
export type RoutingMessage =
  | ({ kind: "route" } & RouteMessage)
  | ({ kind: "interface" } & InterfaceMessage)
  | ({ kind: "address" } & AddressMessage)
  | { kind: "other"; type: number };

/** Decodes one routing-socket message at `offset` by its `rtm_type`. */
export function decodeRoutingMessage(buf: Uint8Array, offset = 0): RoutingMessage {
  const type = buf[offset + RT_MSGHDR.rtm_type];
  switch (type) {
    case RTM.ADD:
    case RTM.DELETE:
    case RTM.CHANGE:
    case RTM.GET:
      return { kind: "route", ...decodeRouteMessage(buf, offset) };
    case RTM.IFINFO:
    case RTM.IFINFO2:
      return { kind: "interface", ...decodeInterfaceMessage(buf, offset) };
    case RTM.NEWADDR:
    case RTM.DELADDR:
      return { kind: "address", ...decodeAddressMessage(buf, offset) };
    default:
      return { kind: "other", type: type ?? 0 };
  }
}

/** One interface of a NET_RT_IFLIST2 listing with its addresses. */
export interface ListedInterface {
  index: number;
  name: string;
  flags: number;
  mtu: number;
  addresses: { addr: Uint8Array; bits: number }[];
}

/**
 * Parses `sysctl({CTL_NET, PF_ROUTE, 0, 0, NET_RT_IFLIST2, 0})`: for each interface an
 * RTM_IFINFO2 record (`if_msghdr2` + its `sockaddr_dl`), then one RTM_NEWADDR (`ifa_msghdr`) per
 * address and RTM_NEWMADDR2 records for multicast memberships (skipped). Records of another
 * `rtm_version` are skipped; a record that runs past the end throws a RangeError.
 */
export function parseInterfaceList(buf: Uint8Array): ListedInterface[] {
  const out: ListedInterface[] = [];
  const byIndex = new Map<number, ListedInterface>();
  for (const rec of walkRecords(buf, "Interface list")) {
    if (rec.version !== RTM_VERSION) continue;
    if (rec.type === RTM.IFINFO2) {
      const m = decodeInterfaceMessage(buf, rec.offset);
      const iface: ListedInterface = {
        index: m.index,
        name: m.name ?? `if${m.index}`,
        flags: m.flags,
        mtu: m.mtu,
        addresses: [],
      };
      out.push(iface);
      byIndex.set(m.index, iface);
    } else if (rec.type === RTM.NEWADDR) {
      const a = decodeAddressMessage(buf, rec.offset);
      if (a.addr !== null && a.bits !== null) {
        byIndex.get(a.index)?.addresses.push({ addr: a.addr, bits: a.bits });
      }
    }
  }
  return out;
}

/** The records of a sysctl routing dump (`msglen`-chained), checked for truncation. */
function walkRecords(
  buf: Uint8Array,
  what: string,
): { offset: number; version: number; type: number }[] {
  const out: { offset: number; version: number; type: number }[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 4) {
      throw new RangeError(`${what} has ${buf.length - off} stray bytes at offset ${off}`);
    }
    const msglen = buf[off]! | (buf[off + 1]! << 8);
    if (msglen === 0) throw new RangeError(`${what} record at offset ${off} has length 0`);
    if (msglen > buf.length - off) {
      throw new RangeError(`${what} record at offset ${off} has length ${msglen}, past the end`);
    }
    out.push({ offset: off, version: buf[off + 2]!, type: buf[off + 3]! });
    off += msglen;
  }
  return out;
}

/** Checks a message's length against its header size and the buffer; returns `msglen`. */
function checkMessage(buf: Uint8Array, offset: number, headerSize: number, what: string): number {
  if (buf.length - offset < headerSize) {
    throw new RangeError(
      `${what} at offset ${offset} is truncated: ${buf.length - offset} of ${headerSize} bytes`,
    );
  }
  const msglen = buf[offset]! | (buf[offset + 1]! << 8);
  if (msglen < headerSize || msglen > buf.length - offset) {
    throw new RangeError(
      `${what} at offset ${offset} has length ${msglen}, outside ${headerSize}..${
        buf.length - offset
      }`,
    );
  }
  return msglen;
}

function checkSize(buf: Uint8Array, size: number, what: string): void {
  if (buf.length < size) {
    throw new RangeError(`${what} needs ${size} bytes, got ${buf.length}`);
  }
}
