/**
 * TCP segments (RFC 9293 §3.1): a zero-copy view, option parsing into a reusable struct, and
 * option emission.
 *
 * The view covers `buffer[start..end)`, one segment (header, options and payload); `reset()`
 * re-points it without allocating. Checksums need the pseudo-header sum from
 * `pseudoHeaderSumAt()` in `checksum.ts`.
 *
 * Options understood (RFC 9293 §3.2, RFC 7323, RFC 2018): end of list, no-operation, MSS,
 * window scale, SACK-permitted, SACK, timestamps. Unknown options are skipped by their length; an
 * option whose length byte is below 2 or runs past the header makes `check()` fail.
 *
 * @module
 */

import { checksum } from "./checksum.ts";
import type { WireError } from "./error.ts";
import { get16, get32, set16, set32 } from "./ip.ts";

/** Field offsets in the TCP header. */
export const TCP_FIELD = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ: 4,
  ACK: 8,
  DATA_OFF: 12,
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT: 18,
  OPTIONS: 20,
} as const;
const F = TCP_FIELD;

/** Length of a TCP header without options. */
export const TCP_HEADER_LEN = 20;
/** Largest TCP header (data offset 15). */
export const TCP_MAX_HEADER_LEN = 60;

/** Control bit FIN: no more data from the sender. */
export const TCP_FIN = 0x01;
/** Control bit SYN: synchronize sequence numbers. */
export const TCP_SYN = 0x02;
/** Control bit RST: reset the connection. */
export const TCP_RST = 0x04;
/** Control bit PSH: push function. */
export const TCP_PSH = 0x08;
/** Control bit ACK: the acknowledgment field is significant. */
export const TCP_ACK = 0x10;
/** Control bit URG: the urgent pointer is significant. */
export const TCP_URG = 0x20;
/** Control bit ECE: ECN echo (RFC 3168). */
export const TCP_ECE = 0x40;
/** Control bit CWR: congestion window reduced (RFC 3168). */
export const TCP_CWR = 0x80;

/** Option kind: end of option list. */
export const TCP_OPT_EOL = 0;
/** Option kind: no-operation (padding). */
export const TCP_OPT_NOP = 1;
/** Option kind: maximum segment size (SYN only). */
export const TCP_OPT_MSS = 2;
/** Option kind: window scale (RFC 7323 §2, SYN only). */
export const TCP_OPT_WS = 3;
/** Option kind: SACK permitted (RFC 2018, SYN only). */
export const TCP_OPT_SACK_PERM = 4;
/** Option kind: SACK blocks (RFC 2018). */
export const TCP_OPT_SACK = 5;
/** Option kind: timestamps (RFC 7323 §3). */
export const TCP_OPT_TS = 8;

/** Largest window-scale shift (RFC 7323 §2.3). */
export const TCP_MAX_WINDOW_SCALE = 14;

/** A view over one TCP segment in `buffer[start..end)`. */
export class TcpPacket {
  buffer: Uint8Array;
  start: number;
  end: number;

  constructor(buffer: Uint8Array, start = 0, end: number = buffer.length) {
    this.buffer = buffer;
    this.start = start;
    this.end = end;
  }

  /** Re-points the view and returns it. */
  reset(buffer: Uint8Array, start = 0, end: number = buffer.length): this {
    this.buffer = buffer;
    this.start = start;
    this.end = end;
    return this;
  }

  /**
   * Validates the data offset against the segment length: the one bounds check before the
   * accessors. Options are not looked at (a malformed option list ends
   * {@linkcode parseTcpOptions}, as Linux's `tcp_parse_options` does).
   */
  checkLen(): WireError | null {
    const len = this.end - this.start;
    if (len < TCP_HEADER_LEN) return "truncated";
    const hl = this.headerLen();
    if (hl < TCP_HEADER_LEN) return "malformed";
    if (hl > len) return "truncated";
    return null;
  }

  /** {@linkcode TcpPacket.checkLen} and the option TLV structure. */
  check(): WireError | null {
    return this.checkLen() ??
      checkTcpOptions(this.buffer, this.start + TCP_HEADER_LEN, this.start + this.headerLen());
  }

  /** Segment length (header and payload). */
  length(): number {
    return this.end - this.start;
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
  seq(): number {
    return get32(this.buffer, this.start + F.SEQ);
  }
  setSeq(v: number): void {
    set32(this.buffer, this.start + F.SEQ, v);
  }
  ack(): number {
    return get32(this.buffer, this.start + F.ACK);
  }
  setAck(v: number): void {
    set32(this.buffer, this.start + F.ACK, v);
  }
  /** Header length in bytes (data offset × 4). */
  headerLen(): number {
    return (this.buffer[this.start + F.DATA_OFF]! >> 4) * 4;
  }
  /**
   * Sets the data offset from a header length in bytes (a multiple of 4) and clears the reserved
   * bits that share its byte (RFC 9293 §3.1: they must be zero).
   */
  setHeaderLen(bytes: number): void {
    this.buffer[this.start + F.DATA_OFF] = (bytes >>> 2) << 4;
  }
  /** The control bits FIN..CWR. */
  flags(): number {
    return this.buffer[this.start + F.FLAGS]!;
  }
  setFlags(v: number): void {
    this.buffer[this.start + F.FLAGS] = v;
  }
  fin(): boolean {
    return (this.flags() & TCP_FIN) !== 0;
  }
  syn(): boolean {
    return (this.flags() & TCP_SYN) !== 0;
  }
  rst(): boolean {
    return (this.flags() & TCP_RST) !== 0;
  }
  ackFlag(): boolean {
    return (this.flags() & TCP_ACK) !== 0;
  }
  /** The raw (unscaled) window field. */
  window(): number {
    return get16(this.buffer, this.start + F.WINDOW);
  }
  setWindow(v: number): void {
    set16(this.buffer, this.start + F.WINDOW, v);
  }
  checksum(): number {
    return get16(this.buffer, this.start + F.CHECKSUM);
  }
  setChecksum(v: number): void {
    set16(this.buffer, this.start + F.CHECKSUM, v);
  }
  urgent(): number {
    return get16(this.buffer, this.start + F.URGENT);
  }
  setUrgent(v: number): void {
    set16(this.buffer, this.start + F.URGENT, v);
  }
  /** The options bytes (a view). */
  options(): Uint8Array {
    return this.buffer.subarray(this.start + TCP_HEADER_LEN, this.start + this.headerLen());
  }
  /** Offset of the payload in `buffer`. */
  payloadOffset(): number {
    return this.start + this.headerLen();
  }
  /** Payload length in bytes. */
  payloadLen(): number {
    return this.end - this.start - this.headerLen();
  }
  /** The payload (a view). */
  payload(): Uint8Array {
    return this.buffer.subarray(this.start + this.headerLen(), this.end);
  }
  /** Sequence space the segment occupies: payload plus one each for SYN and FIN. */
  segmentLen(): number {
    const f = this.flags();
    return this.payloadLen() + (f & TCP_SYN ? 1 : 0) + (f & TCP_FIN ? 1 : 0);
  }
  /** Parses the options into `out` (see {@linkcode parseTcpOptions}). */
  parseOptions(out: TcpOptions): void {
    parseTcpOptions(this.buffer, this.start + TCP_HEADER_LEN, this.start + this.headerLen(), out);
  }
  /** Computes and stores the checksum, given the folded pseudo-header sum. */
  fillChecksum(pseudoSum: number): void {
    this.setChecksum(0);
    this.setChecksum(checksum(this.buffer, this.start, this.end, pseudoSum));
  }
  /** True when the checksum is correct for the given folded pseudo-header sum. */
  verifyChecksum(pseudoSum: number): boolean {
    return checksum(this.buffer, this.start, this.end, pseudoSum) === 0;
  }
}

/** TCP options of one segment, parsed into fixed fields so the struct can be reused. */
export class TcpOptions {
  /** Maximum segment size, or 0 when absent. */
  mss = 0;
  /** Window-scale shift (clamped to 14), or -1 when absent. */
  windowScale = -1;
  sackPermitted = false;
  hasTimestamp = false;
  tsVal = 0;
  tsEcr = 0;
  /** Number of SACK blocks in {@linkcode TcpOptions.sackBlocks} (0..4). */
  sackCount = 0;
  /** SACK blocks as `[left0, right0, left1, right1, ...]`. */
  readonly sackBlocks: Uint32Array = new Uint32Array(8);

  /** Clears every field. */
  clear(): void {
    this.mss = 0;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.hasTimestamp = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
  }
}

/** Checks option TLV structure in `buf[start..end)`. */
export function checkTcpOptions(buf: Uint8Array, start: number, end: number): WireError | null {
  let i = start;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TCP_OPT_EOL) return null;
    if (kind === TCP_OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return "malformed";
    const len = buf[i + 1]!;
    if (len < 2 || i + len > end) return "malformed";
    i += len;
  }
  return null;
}

/**
 * Parses options in `buf[start..end)` into `out` (cleared first). Options with a wrong length for
 * their kind are ignored, as are unknown kinds; parsing stops at end-of-list or at a malformed
 * length.
 */
export function parseTcpOptions(
  buf: Uint8Array,
  start: number,
  end: number,
  out: TcpOptions,
): void {
  out.clear();
  let i = start;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TCP_OPT_EOL) return;
    if (kind === TCP_OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return;
    const len = buf[i + 1]!;
    if (len < 2 || i + len > end) return;
    switch (kind) {
      case TCP_OPT_MSS:
        if (len === 4) out.mss = get16(buf, i + 2);
        break;
      case TCP_OPT_WS:
        if (len === 3) out.windowScale = Math.min(buf[i + 2]!, TCP_MAX_WINDOW_SCALE);
        break;
      case TCP_OPT_SACK_PERM:
        if (len === 2) out.sackPermitted = true;
        break;
      case TCP_OPT_SACK: {
        const n = (len - 2) >>> 3;
        if ((len - 2) % 8 === 0 && n >= 1) {
          const blocks = out.sackBlocks;
          const count = Math.min(n, 4);
          for (let k = 0; k < count; k++) {
            blocks[2 * k] = get32(buf, i + 2 + 8 * k);
            blocks[2 * k + 1] = get32(buf, i + 6 + 8 * k);
          }
          out.sackCount = count;
        }
        break;
      }
      case TCP_OPT_TS:
        if (len === 10) {
          out.hasTimestamp = true;
          out.tsVal = get32(buf, i + 2);
          out.tsEcr = get32(buf, i + 6);
        }
        break;
    }
    i += len;
  }
}

/**
 * Writes options at `buf[off..]` in a fixed layout padded with NOPs to a multiple of 4 and returns
 * the length written. Pass `mss` 0, `windowScale` -1, `sackCount` 0 and `hasTimestamp` false to
 * omit them. `sack` holds `[left, right]` pairs.
 */
export function emitTcpOptions(
  buf: Uint8Array,
  off: number,
  mss: number,
  windowScale: number,
  sackPermitted: boolean,
  hasTimestamp: boolean,
  tsVal: number,
  tsEcr: number,
  sack: ArrayLike<number> | null,
  sackCount: number,
): number {
  let i = off;
  if (mss > 0) {
    buf[i] = TCP_OPT_MSS;
    buf[i + 1] = 4;
    set16(buf, i + 2, mss);
    i += 4;
  }
  if (windowScale >= 0) {
    buf[i] = TCP_OPT_NOP;
    buf[i + 1] = TCP_OPT_WS;
    buf[i + 2] = 3;
    buf[i + 3] = windowScale;
    i += 4;
  }
  if (sackPermitted) {
    buf[i] = TCP_OPT_NOP;
    buf[i + 1] = TCP_OPT_NOP;
    buf[i + 2] = TCP_OPT_SACK_PERM;
    buf[i + 3] = 2;
    i += 4;
  }
  if (hasTimestamp) {
    buf[i] = TCP_OPT_NOP;
    buf[i + 1] = TCP_OPT_NOP;
    buf[i + 2] = TCP_OPT_TS;
    buf[i + 3] = 10;
    set32(buf, i + 4, tsVal);
    set32(buf, i + 8, tsEcr);
    i += 12;
  }
  if (sackCount > 0 && sack !== null) {
    buf[i] = TCP_OPT_NOP;
    buf[i + 1] = TCP_OPT_NOP;
    buf[i + 2] = TCP_OPT_SACK;
    buf[i + 3] = 2 + 8 * sackCount;
    i += 4;
    for (let k = 0; k < sackCount; k++) {
      set32(buf, i, sack[2 * k]!);
      set32(buf, i + 4, sack[2 * k + 1]!);
      i += 8;
    }
  }
  return i - off;
}

/** Length {@linkcode emitTcpOptions} writes for the same arguments. */
export function tcpOptionsLen(
  mss: number,
  windowScale: number,
  sackPermitted: boolean,
  hasTimestamp: boolean,
  sackCount: number,
): number {
  return (mss > 0 ? 4 : 0) + (windowScale >= 0 ? 4 : 0) + (sackPermitted ? 4 : 0) +
    (hasTimestamp ? 12 : 0) + (sackCount > 0 ? 4 + 8 * sackCount : 0);
}
