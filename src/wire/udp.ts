/**
 * UDP datagrams (RFC 768): a zero-copy view and a parsed value.
 *
 * The view covers `buffer[start..end)`; `check()` validates the length field against it, after
 * which {@linkcode UdpPacket.payload} stops at the length field (trailing bytes are ignored).
 *
 * @module
 */

import { checksum } from "./checksum.ts";
import type { WireError } from "./error.ts";
import { get16, set16 } from "./ip.ts";

/** Field offsets in the UDP header. */
export const UDP_FIELD = { SRC_PORT: 0, DST_PORT: 2, LENGTH: 4, CHECKSUM: 6, PAYLOAD: 8 } as const;
const F = UDP_FIELD;

/** Length of the UDP header. */
export const UDP_HEADER_LEN = 8;

/** A view over one UDP datagram in `buffer[start..end)`. */
export class UdpPacket {
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

  /** Validates the length field: at least 8 and within the view. */
  check(): WireError | null {
    const avail = this.end - this.start;
    if (avail < UDP_HEADER_LEN) return "truncated";
    const len = this.lengthField();
    if (len < UDP_HEADER_LEN) return "malformed";
    if (len > avail) return "truncated";
    return null;
  }

  srcPort(): number {
    return get16(this.buffer, this.start + F.SRC_PORT);
  }
  setSrcPort(v: number): void {
    set16(this.buffer, this.start + F.SRC_PORT, v);
  }
  dstPort(): number {
    return get16(this.buffer, this.start + F.DST_PORT);
  }
  setDstPort(v: number): void {
    set16(this.buffer, this.start + F.DST_PORT, v);
  }
  /** The length field (header and payload). */
  lengthField(): number {
    return get16(this.buffer, this.start + F.LENGTH);
  }
  setLengthField(v: number): void {
    set16(this.buffer, this.start + F.LENGTH, v);
  }
  checksum(): number {
    return get16(this.buffer, this.start + F.CHECKSUM);
  }
  setChecksum(v: number): void {
    set16(this.buffer, this.start + F.CHECKSUM, v);
  }
  /** Offset of the payload in `buffer`. */
  payloadOffset(): number {
    return this.start + UDP_HEADER_LEN;
  }
  /** The payload up to the length field (a view). */
  payload(): Uint8Array {
    return this.buffer.subarray(this.start + UDP_HEADER_LEN, this.start + this.lengthField());
  }
  /**
   * Computes and stores the checksum over the length-field range; a computed 0 is sent as 0xffff
   * (RFC 768).
   */
  fillChecksum(pseudoSum: number): void {
    this.setChecksum(0);
    const c = checksum(this.buffer, this.start, this.start + this.lengthField(), pseudoSum);
    this.setChecksum(c === 0 ? 0xffff : c);
  }
  /**
   * True when the checksum is correct. A zero field means "no checksum" and passes over IPv4;
   * pass `zeroAllowed` false for IPv6, where it is mandatory (RFC 8200 §8.1).
   */
  verifyChecksum(pseudoSum: number, zeroAllowed = true): boolean {
    if (this.checksum() === 0) return zeroAllowed;
    return checksum(this.buffer, this.start, this.start + this.lengthField(), pseudoSum) === 0;
  }
}
