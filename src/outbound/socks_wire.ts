/**
 * SOCKS wire formats shared by the client (socks outbound) and the server (socks/mixed inbound):
 * RFC 1928 addresses (`ATYP DST.ADDR DST.PORT`), reply codes, the UDP request header, and the
 * SOCKS4/4a request. Pure functions over byte arrays.
 *
 * @module
 */

import type { Destination, OutboundErrorKind } from "./types.ts";

export const SOCKS5 = 0x05;
export const SOCKS4 = 0x04;

export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;

export const METHOD_NO_AUTH = 0x00;
export const METHOD_USERPASS = 0x02;
export const METHOD_NONE_ACCEPTABLE = 0xff;

export const CMD_CONNECT = 0x01;
export const CMD_BIND = 0x02;
export const CMD_UDP_ASSOCIATE = 0x03;

/** RFC 1928 §6 reply codes. */
export const REP = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;

const REP_TEXT: Record<number, string> = {
  0x01: "general SOCKS server failure",
  0x02: "connection not allowed by ruleset",
  0x03: "network unreachable",
  0x04: "host unreachable",
  0x05: "connection refused",
  0x06: "TTL expired",
  0x07: "command not supported",
  0x08: "address type not supported",
};

/** Human text for a SOCKS5 reply code, e.g. `0x05 (connection refused)`. */
export function describeRep(rep: number): string {
  return `0x${hex(rep)} (${REP_TEXT[rep] ?? "unassigned"})`;
}

/** How a SOCKS5 failure reply reaches the application. */
export function repToKind(rep: number): OutboundErrorKind {
  switch (rep) {
    case REP.NOT_ALLOWED:
      return "blocked";
    case REP.NETWORK_UNREACHABLE:
    case REP.HOST_UNREACHABLE:
      return "unreachable";
    case REP.CONNECTION_REFUSED:
      return "refused";
    case REP.TTL_EXPIRED:
      return "timeout";
    default:
      return "protocol";
  }
}

/** The SOCKS5 reply code a server sends for a failed dial of `kind`. */
export function kindToRep(kind: OutboundErrorKind): number {
  switch (kind) {
    case "blocked":
      return REP.NOT_ALLOWED;
    case "unreachable":
      return REP.HOST_UNREACHABLE;
    case "refused":
      return REP.CONNECTION_REFUSED;
    case "timeout":
      return REP.TTL_EXPIRED;
    default:
      return REP.GENERAL_FAILURE;
  }
}

/** SOCKS4 reply codes (the reply's VN is 0). */
export const SOCKS4_GRANTED = 0x5a;
export const SOCKS4_REJECTED = 0x5b;

/** Two hex digits. */
export function hex(byte: number | undefined): string {
  return byte === undefined ? "??" : byte.toString(16).padStart(2, "0");
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes `ATYP DST.ADDR DST.PORT` takes for `dest` (domains are used only without an address). */
export function socksAddrLength(dest: Destination): number {
  if (dest.addr) return 1 + dest.addr.length + 2;
  return 1 + 1 + encoder.encode(dest.domain ?? "").length + 2;
}

/**
 * Writes `ATYP DST.ADDR DST.PORT` at `off`; returns the offset after it. An address wins over a
 * domain. Throws a RangeError for a domain longer than 255 bytes or a missing address.
 */
export function encodeSocksAddr(dest: Destination, out: Uint8Array, off: number): number {
  if (dest.addr) {
    out[off++] = dest.addr.length === 4 ? ATYP_IPV4 : ATYP_IPV6;
    out.set(dest.addr, off);
    off += dest.addr.length;
  } else {
    if (dest.domain === undefined || dest.domain === "") {
      throw new RangeError("SOCKS address needs an IP address or a domain");
    }
    const name = encoder.encode(dest.domain);
    if (name.length > 255) {
      throw new RangeError(`Domain "${dest.domain.slice(0, 40)}..." is longer than 255 bytes`);
    }
    out[off++] = ATYP_DOMAIN;
    out[off++] = name.length;
    out.set(name, off);
    off += name.length;
  }
  out[off++] = dest.port >> 8;
  out[off++] = dest.port & 0xff;
  return off;
}

/** A decoded `ATYP ADDR PORT` and where it ends. */
export interface DecodedAddr {
  dest: Destination;
  end: number;
}

/**
 * Decodes `ATYP ADDR PORT` at `off` in `buf[0..len)`. Returns null when more bytes are needed;
 * throws a SyntaxError naming the byte for an unknown ATYP.
 */
export function decodeSocksAddr(
  buf: Uint8Array,
  off: number,
  len = buf.length,
): DecodedAddr | null {
  if (off >= len) return null;
  const atyp = buf[off]!;
  let addrLen: number;
  let start = off + 1;
  if (atyp === ATYP_IPV4) addrLen = 4;
  else if (atyp === ATYP_IPV6) addrLen = 16;
  else if (atyp === ATYP_DOMAIN) {
    if (start >= len) return null;
    addrLen = buf[start]!;
    start++;
  } else {
    throw new SyntaxError(`unknown address type 0x${hex(atyp)} at byte ${off}`);
  }
  const end = start + addrLen + 2;
  if (end > len) return null;
  const port = (buf[start + addrLen]! << 8) | buf[start + addrLen + 1]!;
  if (atyp === ATYP_DOMAIN) {
    return { dest: { domain: decoder.decode(buf.subarray(start, start + addrLen)), port }, end };
  }
  return { dest: { addr: buf.slice(start, start + addrLen), port }, end };
}

/** Bytes still needed after `ATYP` (and the domain length byte) to hold the whole address. */
export function socksAddrRest(atyp: number, domainLen: number): number {
  if (atyp === ATYP_IPV4) return 4 + 2;
  if (atyp === ATYP_IPV6) return 16 + 2;
  return domainLen + 2;
}

/**
 * Writes the RFC 1928 §7 UDP request header (`RSV RSV FRAG=0 ATYP DST.ADDR DST.PORT`) at the
 * start of `out`; returns its length.
 */
export function encodeUdpHeader(dest: Destination, out: Uint8Array): number {
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;
  return encodeSocksAddr(dest, out, 3);
}

/** A decoded UDP request header: fragment number, address, and where the payload starts. */
export interface UdpHeader {
  frag: number;
  dest: Destination;
  payloadOffset: number;
}

/** Decodes a UDP request header; null when the datagram is too short or malformed. */
export function decodeUdpHeader(buf: Uint8Array, len: number): UdpHeader | null {
  if (len < 4) return null;
  let addr: DecodedAddr | null;
  try {
    addr = decodeSocksAddr(buf, 3, len);
  } catch {
    return null;
  }
  if (!addr) return null;
  return { frag: buf[2]!, dest: addr.dest, payloadOffset: addr.end };
}

/**
 * Encodes a SOCKS4 (IPv4 address) or SOCKS4a (domain, `DSTIP=0.0.0.1`) CONNECT request with
 * an empty or given user id.
 */
export function encodeSocks4Request(
  dest: { addr?: Uint8Array; domain?: string; port: number },
  userId: string,
): Uint8Array {
  const user = encoder.encode(userId);
  const name = dest.addr ? null : encoder.encode(dest.domain ?? "");
  const out = new Uint8Array(8 + user.length + 1 + (name ? name.length + 1 : 0));
  out[0] = SOCKS4;
  out[1] = CMD_CONNECT;
  out[2] = dest.port >> 8;
  out[3] = dest.port & 0xff;
  if (dest.addr) out.set(dest.addr, 4);
  else out.set([0, 0, 0, 1], 4);
  out.set(user, 8);
  if (name) out.set(name, 8 + user.length + 1);
  return out;
}
