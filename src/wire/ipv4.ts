/**
 * IPv4 (RFC 791): a zero-copy view over a packet buffer.
 *
 * `Ipv4Packet` wraps `buffer[0..end)`, a packet that starts at the IP header; call
 * {@linkcode Ipv4Packet.check} once and the accessors may then read and write fields without
 * further bounds checks. The view can be re-pointed with `reset()`, so a packet loop keeps one
 * instance and allocates nothing per packet.
 *
 * @module
 */

import { checksum } from "./checksum.ts";
import type { WireError } from "./error.ts";
import { get16, set16 } from "./ip.ts";

/** Field offsets in the IPv4 header. */
export const IPV4_FIELD = {
  VER_IHL: 0,
  DSCP_ECN: 1,
  LENGTH: 2,
  IDENT: 4,
  FLG_OFF: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC: 12,
  DST: 16,
  OPTIONS: 20,
} as const;
const F = IPV4_FIELD;

/** Length of an IPv4 header without options. */
export const IPV4_HEADER_LEN = 20;
/** Largest IPv4 header (IHL 15). */
export const IPV4_MAX_HEADER_LEN = 60;
/** Largest IPv4 datagram. */
export const IPV4_MAX_PACKET_LEN = 65535;

const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const OFFSET_MASK = 0x1fff;

/**
 * A view over an IPv4 packet (header, options, payload) in `buffer[0..end)`.
 *
 * ```ts
 * const ip = new Ipv4Packet(new Uint8Array(0));
 * for (const n of reads) {
 *   if (ip.reset(rx, n).check() !== null) continue; // one bounds check
 *   handle(ip.protocol(), ip.headerLen(), ip.totalLen());
 * }
 * ```
 */
export class Ipv4Packet {
  /** The bytes, starting at the IP header. */
  buffer: Uint8Array;
  /** End of the bytes read (the packet may be shorter: see {@linkcode Ipv4Packet.totalLen}). */
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

  /**
   * Validates the version, header length and total length against the bytes read. After `null`
   * every accessor is in bounds. The bytes may run past the total length (link padding);
   * {@linkcode Ipv4Packet.payload} stops at the total length.
   */
  check(): WireError | null {
    const b = this.buffer;
    if (this.end < IPV4_HEADER_LEN) return "truncated";
    if (b[F.VER_IHL]! >> 4 !== 4) return "malformed";
    const hl = (b[F.VER_IHL]! & 0x0f) * 4;
    if (hl < IPV4_HEADER_LEN) return "malformed";
    const total = get16(b, F.LENGTH);
    if (total < hl) return "malformed";
    if (this.end < total) return "truncated";
    return null;
  }

  /** The IP version field (4 for a valid packet). */
  version(): number {
    return this.buffer[F.VER_IHL]! >> 4;
  }
  /** Header length in bytes (IHL × 4). */
  headerLen(): number {
    return (this.buffer[F.VER_IHL]! & 0x0f) * 4;
  }
  /** Sets the version to 4 and the header length (a multiple of 4, 20..60). */
  setHeaderLen(bytes: number): void {
    this.buffer[F.VER_IHL] = 0x40 | (bytes >>> 2);
  }
  /** The DSCP and ECN byte (formerly TOS). */
  dscpEcn(): number {
    return this.buffer[F.DSCP_ECN]!;
  }
  setDscpEcn(v: number): void {
    this.buffer[F.DSCP_ECN] = v;
  }
  /** Total length of header and payload. */
  totalLen(): number {
    return get16(this.buffer, F.LENGTH);
  }
  setTotalLen(v: number): void {
    set16(this.buffer, F.LENGTH, v);
  }
  /** The identification field used for fragment reassembly. */
  ident(): number {
    return get16(this.buffer, F.IDENT);
  }
  setIdent(v: number): void {
    set16(this.buffer, F.IDENT, v);
  }
  /** The Don't Fragment flag. */
  dontFrag(): boolean {
    return (get16(this.buffer, F.FLG_OFF) & FLAG_DF) !== 0;
  }
  /** The More Fragments flag. */
  moreFrags(): boolean {
    return (get16(this.buffer, F.FLG_OFF) & FLAG_MF) !== 0;
  }
  /** The fragment offset in bytes (the field × 8). */
  fragOffset(): number {
    return (get16(this.buffer, F.FLG_OFF) & OFFSET_MASK) * 8;
  }
  /** True when the packet is a fragment (MF set or a non-zero offset). */
  isFragment(): boolean {
    return (get16(this.buffer, F.FLG_OFF) & (FLAG_MF | OFFSET_MASK)) !== 0;
  }
  /** Sets DF, MF and the fragment offset (in bytes, a multiple of 8) together. */
  setFragment(dontFrag: boolean, moreFrags: boolean, offsetBytes: number): void {
    set16(
      this.buffer,
      F.FLG_OFF,
      (dontFrag ? FLAG_DF : 0) | (moreFrags ? FLAG_MF : 0) | ((offsetBytes >>> 3) & OFFSET_MASK),
    );
  }
  /** Time to live. */
  ttl(): number {
    return this.buffer[F.TTL]!;
  }
  setTtl(v: number): void {
    this.buffer[F.TTL] = v;
  }
  /** The payload's protocol number. */
  protocol(): number {
    return this.buffer[F.PROTOCOL]!;
  }
  setProtocol(v: number): void {
    this.buffer[F.PROTOCOL] = v;
  }
  /** The header checksum field. */
  checksum(): number {
    return get16(this.buffer, F.CHECKSUM);
  }
  setChecksum(v: number): void {
    set16(this.buffer, F.CHECKSUM, v);
  }
  /** The source address (a view into the buffer). */
  srcAddr(): Uint8Array {
    return this.buffer.subarray(F.SRC, F.SRC + 4);
  }
  setSrcAddr(addr: Uint8Array): void {
    this.buffer.set(addr, F.SRC);
  }
  /** The destination address (a view into the buffer). */
  dstAddr(): Uint8Array {
    return this.buffer.subarray(F.DST, F.DST + 4);
  }
  setDstAddr(addr: Uint8Array): void {
    this.buffer.set(addr, F.DST);
  }
  /** The options bytes between the fixed header and the payload (a view). */
  options(): Uint8Array {
    return this.buffer.subarray(F.OPTIONS, this.headerLen());
  }
  /** The payload up to the total length (a view). */
  payload(): Uint8Array {
    return this.buffer.subarray(this.headerLen(), this.totalLen());
  }
  /** Computes and stores the header checksum. */
  fillChecksum(): void {
    set16(this.buffer, F.CHECKSUM, 0);
    set16(this.buffer, F.CHECKSUM, checksum(this.buffer, 0, this.headerLen()));
  }
  /** True when the header checksum is correct. */
  verifyChecksum(): boolean {
    return checksum(this.buffer, 0, this.headerLen()) === 0;
  }
}

/**
 * Validates the structure of IPv4 options (RFC 791 §3.1): end-of-list (0) and no-operation (1)
 * are single bytes; every other option has a length byte of at least 2 that stays in bounds.
 */
export function ipv4OptionsValid(options: Uint8Array): boolean {
  let i = 0;
  while (i < options.length) {
    const kind = options[i]!;
    if (kind === 0) return true;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= options.length) return false;
    const len = options[i + 1]!;
    if (len < 2 || i + len > options.length) return false;
    i += len;
  }
  return true;
}
