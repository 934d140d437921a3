/**
 * ICMP for IPv4 (RFC 792) and IPv6 (RFC 4443): one view shape for both (type, code, checksum, a
 * 4-byte rest-of-header, data) and a parsed value. ICMPv4's checksum covers the message only;
 * ICMPv6's also covers the IPv6 pseudo-header, so its checksum methods take a pseudo-header sum
 * (pass 0 for ICMPv4).
 *
 * @module
 */

import { checksum } from "./checksum.ts";
import type { WireError } from "./error.ts";
import { get16, get32, set16, set32 } from "./ip.ts";

/** Field offsets in an ICMP header. */
export const ICMP_FIELD = {
  TYPE: 0,
  CODE: 1,
  CHECKSUM: 2,
  /** Echo identifier (echo request/reply). */
  IDENT: 4,
  /** Echo sequence number (echo request/reply). */
  SEQ_NO: 6,
  DATA: 8,
} as const;
const F = ICMP_FIELD;

/** Length of the ICMP header (type, code, checksum, rest of header). */
export const ICMP_HEADER_LEN = 8;

/** ICMPv4 echo reply. */
export const ICMPV4_ECHO_REPLY = 0;
/** ICMPv4 destination unreachable. */
export const ICMPV4_DEST_UNREACHABLE = 3;
/** ICMPv4 echo request. */
export const ICMPV4_ECHO_REQUEST = 8;
/** ICMPv4 time exceeded. */
export const ICMPV4_TIME_EXCEEDED = 11;
/** ICMPv6 destination unreachable. */
export const ICMPV6_DEST_UNREACHABLE = 1;
/** ICMPv6 packet too big. */
export const ICMPV6_PACKET_TOO_BIG = 2;
/** ICMPv6 time exceeded. */
export const ICMPV6_TIME_EXCEEDED = 3;
/** ICMPv6 echo request. */
export const ICMPV6_ECHO_REQUEST = 128;
/** ICMPv6 echo reply. */
export const ICMPV6_ECHO_REPLY = 129;

/** A view over an ICMPv4 or ICMPv6 message in `buffer[start..end)`. */
export class IcmpPacket {
  buffer: Uint8Array;
  start: number;
  end: number;

  constructor(buffer: Uint8Array, start = 0, end: number = buffer.length) {
    this.buffer = buffer;
    this.start = start;
    this.end = end;
  }

  reset(buffer: Uint8Array, start = 0, end: number = buffer.length): this {
    this.buffer = buffer;
    this.start = start;
    this.end = end;
    return this;
  }

  check(): WireError | null {
    return this.end - this.start < ICMP_HEADER_LEN ? "truncated" : null;
  }

  msgType(): number {
    return this.buffer[this.start + F.TYPE]!;
  }
  setMsgType(v: number): void {
    this.buffer[this.start + F.TYPE] = v;
  }
  code(): number {
    return this.buffer[this.start + F.CODE]!;
  }
  setCode(v: number): void {
    this.buffer[this.start + F.CODE] = v;
  }
  checksum(): number {
    return get16(this.buffer, this.start + F.CHECKSUM);
  }
  setChecksum(v: number): void {
    set16(this.buffer, this.start + F.CHECKSUM, v);
  }
  /** The 4 bytes after the checksum as one number. */
  restOfHeader(): number {
    return get32(this.buffer, this.start + F.IDENT);
  }
  setRestOfHeader(v: number): void {
    set32(this.buffer, this.start + F.IDENT, v);
  }
  /** Echo identifier. */
  echoIdent(): number {
    return get16(this.buffer, this.start + F.IDENT);
  }
  setEchoIdent(v: number): void {
    set16(this.buffer, this.start + F.IDENT, v);
  }
  /** Echo sequence number. */
  echoSeqNo(): number {
    return get16(this.buffer, this.start + F.SEQ_NO);
  }
  setEchoSeqNo(v: number): void {
    set16(this.buffer, this.start + F.SEQ_NO, v);
  }
  /** Everything after the 8-byte header (a view). */
  data(): Uint8Array {
    return this.buffer.subarray(this.start + F.DATA, this.end);
  }
  /** Computes and stores the checksum (`pseudoSum` 0 for ICMPv4). */
  fillChecksum(pseudoSum = 0): void {
    this.setChecksum(0);
    this.setChecksum(checksum(this.buffer, this.start, this.end, pseudoSum));
  }
  verifyChecksum(pseudoSum = 0): boolean {
    return checksum(this.buffer, this.start, this.end, pseudoSum) === 0;
  }
}
