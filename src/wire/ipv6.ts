/**
 * IPv6 (RFC 8200): a zero-copy view over the fixed header, views over extension headers
 * (hop-by-hop, routing, fragment, destination options), and a walker that finds the upper-layer
 * header.
 *
 * @module
 */

import type { WireError } from "./error.ts";
import {
  get16,
  get32,
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ROUTING,
  set16,
  set32,
} from "./ip.ts";

/** Field offsets in the fixed IPv6 header. */
export const IPV6_FIELD = {
  VER_TC_FL: 0,
  PAYLOAD_LEN: 4,
  NEXT_HEADER: 6,
  HOP_LIMIT: 7,
  SRC: 8,
  DST: 24,
  PAYLOAD: 40,
} as const;
const F = IPV6_FIELD;

/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LEN = 40;

/** A view over an IPv6 packet in `buffer[0..end)`, starting at the fixed header. */
export class Ipv6Packet {
  buffer: Uint8Array;
  /** End of the bytes read. */
  end: number;

  constructor(buffer: Uint8Array, end: number = buffer.length) {
    this.buffer = buffer;
    this.end = end;
  }

  /** Re-points the view at `buffer[0..end)` and returns it. */
  reset(buffer: Uint8Array, end: number = buffer.length): this {
    this.buffer = buffer;
    this.end = end;
    return this;
  }

  /** Validates the version and that the payload length fits the bytes read. */
  check(): WireError | null {
    const b = this.buffer;
    if (this.end < IPV6_HEADER_LEN) return "truncated";
    if (b[0]! >> 4 !== 6) return "malformed";
    if (this.end < IPV6_HEADER_LEN + get16(b, F.PAYLOAD_LEN)) return "truncated";
    return null;
  }

  /** End of the packet: the fixed header plus the payload length. */
  packetEnd(): number {
    return IPV6_HEADER_LEN + get16(this.buffer, F.PAYLOAD_LEN);
  }

  version(): number {
    return this.buffer[0]! >> 4;
  }
  /** The traffic class byte. */
  trafficClass(): number {
    return ((this.buffer[0]! & 0x0f) << 4) | (this.buffer[1]! >> 4);
  }
  /** The 20-bit flow label. */
  flowLabel(): number {
    return get32(this.buffer, 0) & 0xfffff;
  }
  /** Sets version 6, traffic class and flow label together. */
  setVersionClassLabel(trafficClass: number, flowLabel: number): void {
    set32(
      this.buffer,
      0,
      ((6 << 28) | ((trafficClass & 0xff) << 20) | (flowLabel & 0xfffff)) >>> 0,
    );
  }
  /** Length of everything after the fixed header. */
  payloadLen(): number {
    return get16(this.buffer, F.PAYLOAD_LEN);
  }
  setPayloadLen(v: number): void {
    set16(this.buffer, F.PAYLOAD_LEN, v);
  }
  /** The first next-header value. */
  nextHeader(): number {
    return this.buffer[F.NEXT_HEADER]!;
  }
  setNextHeader(v: number): void {
    this.buffer[F.NEXT_HEADER] = v;
  }
  hopLimit(): number {
    return this.buffer[F.HOP_LIMIT]!;
  }
  setHopLimit(v: number): void {
    this.buffer[F.HOP_LIMIT] = v;
  }
  /** The source address (a view). */
  srcAddr(): Uint8Array {
    return this.buffer.subarray(F.SRC, F.SRC + 16);
  }
  setSrcAddr(addr: Uint8Array): void {
    this.buffer.set(addr, F.SRC);
  }
  /** The destination address (a view). */
  dstAddr(): Uint8Array {
    return this.buffer.subarray(F.DST, F.DST + 16);
  }
  setDstAddr(addr: Uint8Array): void {
    this.buffer.set(addr, F.DST);
  }
  /** Everything after the fixed header, up to the payload length (a view). */
  payload(): Uint8Array {
    return this.buffer.subarray(IPV6_HEADER_LEN, IPV6_HEADER_LEN + this.payloadLen());
  }
}

// ---------------------------------------------------------------------------------------------
// Extension headers

/** Field offsets shared by hop-by-hop, routing and destination options headers. */
export const IPV6_EXT_FIELD = {
  NEXT_HEADER: 0,
  LENGTH: 1,
  /** Routing header: routing type. */
  ROUTING_TYPE: 2,
  /** Routing header: segments left. */
  SEGMENTS_LEFT: 3,
} as const;

/**
 * A view over a generic extension header (hop-by-hop, routing, destination options): a next-header
 * byte and a length in 8-octet units not counting the first 8 octets.
 */
export class Ipv6ExtHeader {
  buffer: Uint8Array;
  constructor(buffer: Uint8Array) {
    this.buffer = buffer;
  }
  reset(buffer: Uint8Array): this {
    this.buffer = buffer;
    return this;
  }
  /** Checks the buffer holds the whole header. */
  check(): WireError | null {
    if (this.buffer.length < 8) return "truncated";
    if (this.buffer.length < this.headerLen()) return "truncated";
    return null;
  }
  nextHeader(): number {
    return this.buffer[0]!;
  }
  setNextHeader(v: number): void {
    this.buffer[0] = v;
  }
  /** Whole header length in bytes. */
  headerLen(): number {
    return (this.buffer[1]! + 1) * 8;
  }
  /** Sets the length field from a whole length in bytes (a multiple of 8, at least 8). */
  setHeaderLen(bytes: number): void {
    this.buffer[1] = bytes / 8 - 1;
  }
  /** The bytes after the next-header and length fields (a view). */
  data(): Uint8Array {
    return this.buffer.subarray(2, this.headerLen());
  }
}

/** Field offsets in the fragment header (RFC 8200 §4.5). */
export const IPV6_FRAG_FIELD = { NEXT_HEADER: 0, OFFSET_FLAGS: 2, IDENT: 4 } as const;
/** Length of the IPv6 fragment header. */
export const IPV6_FRAG_HEADER_LEN = 8;

/** A view over an IPv6 fragment header. */
export class Ipv6FragmentHeader {
  buffer: Uint8Array;
  constructor(buffer: Uint8Array) {
    this.buffer = buffer;
  }
  reset(buffer: Uint8Array): this {
    this.buffer = buffer;
    return this;
  }
  check(): WireError | null {
    return this.buffer.length < IPV6_FRAG_HEADER_LEN ? "truncated" : null;
  }
  nextHeader(): number {
    return this.buffer[0]!;
  }
  setNextHeader(v: number): void {
    this.buffer[0] = v;
    this.buffer[1] = 0;
  }
  /** Fragment offset in bytes. */
  fragOffset(): number {
    return get16(this.buffer, 2) & 0xfff8;
  }
  moreFrags(): boolean {
    return (this.buffer[3]! & 1) !== 0;
  }
  /** Sets the offset (bytes, a multiple of 8) and the M flag. */
  setFragment(offsetBytes: number, moreFrags: boolean): void {
    set16(this.buffer, 2, (offsetBytes & 0xfff8) | (moreFrags ? 1 : 0));
  }
  ident(): number {
    return get32(this.buffer, 4);
  }
  setIdent(v: number): void {
    set32(this.buffer, 4, v);
  }
}

/**
 * Validates option TLVs in a hop-by-hop or destination options header (RFC 8200 §4.2). Returns
 * "unsupported" for an unrecognised option whose action bits say to discard the packet, and for
 * the jumbo payload option (RFC 2675), which this stack does not implement.
 */
export function checkIpv6Options(
  data: Uint8Array,
  start = 0,
  end: number = data.length,
): WireError | null {
  let i = start;
  while (i < end) {
    const type = data[i]!;
    if (type === 0) { // Pad1
      i++;
      continue;
    }
    if (i + 1 >= end) return "malformed";
    const len = data[i + 1]!;
    if (i + 2 + len > end) return "malformed";
    // PadN (1) and Router Alert (5) are understood; anything else is skipped only if its
    // two high-order bits are 00.
    if (type !== 1 && type !== 5 && (type & 0xc0) !== 0) return "unsupported";
    i += 2 + len;
  }
  return null;
}

/** Where the header chain of an IPv6 packet ends; filled by {@linkcode walkIpv6}. */
export interface Ipv6Walk {
  /** The upper-layer protocol (or 59 "no next header", 50 ESP). */
  protocol: number;
  /** Offset of the upper-layer header from the start of the packet. */
  offset: number;
  /** Offset of the fragment header, or -1 when the packet is not a fragment. */
  fragHeader: number;
  /** Offset of the next-header byte that names the fragment header (6 when it follows the fixed header). */
  fragNextHeaderField: number;
}

/** Creates an empty {@linkcode Ipv6Walk} to reuse across packets. */
export function newIpv6Walk(): Ipv6Walk {
  return { protocol: 0, offset: 0, fragHeader: -1, fragNextHeaderField: -1 };
}

/**
 * Walks the extension headers of a checked IPv6 packet (`buf` starts at the fixed header, `end` is
 * 40 + payload length) and fills `out`. Hop-by-hop must come first (RFC 8200 §4.1); options are
 * validated; the walk stops at the fragment header of a non-first fragment (the rest is payload),
 * at an upper-layer protocol, at "no next header" and at ESP.
 */
export function walkIpv6(buf: Uint8Array, end: number, out: Ipv6Walk): WireError | null {
  let next = buf[IPV6_FIELD.NEXT_HEADER]!;
  let nextField: number = IPV6_FIELD.NEXT_HEADER;
  let off = IPV6_HEADER_LEN;
  out.fragHeader = -1;
  out.fragNextHeaderField = -1;
  for (;;) {
    switch (next) {
      case IPPROTO_HOPOPTS:
      case IPPROTO_DSTOPTS:
      case IPPROTO_ROUTING: {
        if (next === IPPROTO_HOPOPTS && off !== IPV6_HEADER_LEN) return "malformed";
        if (off + 8 > end) return "truncated";
        const len = (buf[off + 1]! + 1) * 8;
        if (off + len > end) return "truncated";
        if (next !== IPPROTO_ROUTING) {
          const bad = checkIpv6Options(buf, off + 2, off + len);
          if (bad !== null) return bad;
        }
        nextField = off;
        next = buf[off]!;
        off += len;
        break;
      }
      case IPPROTO_FRAGMENT: {
        if (out.fragHeader >= 0) return "malformed";
        if (off + IPV6_FRAG_HEADER_LEN > end) return "truncated";
        out.fragHeader = off;
        out.fragNextHeaderField = nextField;
        nextField = off;
        next = buf[off]!;
        const fragOff = get16(buf, off + 2) & 0xfff8;
        off += IPV6_FRAG_HEADER_LEN;
        if (fragOff !== 0) {
          out.protocol = next;
          out.offset = off;
          return null;
        }
        break;
      }
      case IPPROTO_AH: {
        if (off + 8 > end) return "truncated";
        const len = (buf[off + 1]! + 2) * 4;
        if (off + len > end) return "truncated";
        nextField = off;
        next = buf[off]!;
        off += len;
        break;
      }
      default:
        out.protocol = next;
        out.offset = off;
        return null;
    }
  }
}
