/**
 * Builds outgoing IPv4/IPv6 packets in one reusable scratch buffer: the caller asks for an IP
 * header in front of an upper-layer message of known length, writes the message in place, and
 * finishes the packet, which fills the upper-layer checksum (or a pseudo-header sum for
 * virtio-net `NEEDS_CSUM`, or nothing) and hands the packet to the emit callback.
 *
 * The packet view always starts `headroom` bytes into `buf`, so the callee may write a prefix
 * (a virtio-net header) in the bytes before it. The emit callback must finish with the bytes (copy
 * or write them) before returning: the buffer is reused for the next packet.
 *
 * @module
 */

import { checksum, onesSum, pseudoHeaderSumAt } from "../wire/checksum.ts";
import { IPPROTO_ICMP, IPPROTO_UDP } from "../wire/ip.ts";

/** The 16-bit checksum field offset within TCP (16), UDP (6) and ICMP (2) headers. */
export const L4_CHECKSUM_OFFSET = { tcp: 16, udp: 6, icmp: 2 } as const;

/** Largest IP packet the builder accepts. */
export const MAX_PACKET = 65535;

/** Scratch-buffer packet writer. */
export class PacketBuilder {
  /** The scratch buffer: headroom, then the packet. */
  readonly buf: Uint8Array;
  private ident = 0;

  constructor(
    readonly headroom: number,
    private readonly emit: ((packet: Uint8Array) => void) | null,
    /** Fill upper-layer checksums. */
    private readonly computeChecksums: boolean,
    /** Without checksums, store the folded pseudo-header sum in the checksum field. */
    private readonly pseudoHeaderChecksums: boolean,
    identSeed = 0,
  ) {
    this.buf = new Uint8Array(headroom + MAX_PACKET);
    this.ident = identSeed & 0xffff;
  }

  /** IP header length for a version (no options). */
  static ipHeaderLen(version: number): number {
    return version === 6 ? 40 : 20;
  }

  /**
   * Writes an IP header (no options; IPv4 with DF, TTL/hop limit 64) for an upper-layer message
   * of `l4Len` bytes with protocol `proto`, from `src[srcOff..]` to `dst[dstOff..]` (4 or 16
   * address bytes). Returns the offset in {@linkcode PacketBuilder.buf} where the message goes.
   */
  ipHeader(
    version: number,
    proto: number,
    src: Uint8Array,
    srcOff: number,
    dst: Uint8Array,
    dstOff: number,
    l4Len: number,
  ): number {
    const b = this.buf;
    const o = this.headroom;
    if (version === 4) {
      const total = 20 + l4Len;
      b[o] = 0x45;
      b[o + 1] = 0;
      b[o + 2] = total >>> 8;
      b[o + 3] = total;
      const id = this.ident = (this.ident + 1) & 0xffff;
      b[o + 4] = id >>> 8;
      b[o + 5] = id;
      b[o + 6] = 0x40; // DF
      b[o + 7] = 0;
      b[o + 8] = 64;
      b[o + 9] = proto;
      b[o + 10] = 0;
      b[o + 11] = 0;
      b[o + 12] = src[srcOff]!;
      b[o + 13] = src[srcOff + 1]!;
      b[o + 14] = src[srcOff + 2]!;
      b[o + 15] = src[srcOff + 3]!;
      b[o + 16] = dst[dstOff]!;
      b[o + 17] = dst[dstOff + 1]!;
      b[o + 18] = dst[dstOff + 2]!;
      b[o + 19] = dst[dstOff + 3]!;
      const c = ~onesSum(b, o, o + 20) & 0xffff;
      b[o + 10] = c >>> 8;
      b[o + 11] = c;
      return o + 20;
    }
    b[o] = 0x60;
    b[o + 1] = 0;
    b[o + 2] = 0;
    b[o + 3] = 0;
    b[o + 4] = l4Len >>> 8;
    b[o + 5] = l4Len;
    b[o + 6] = proto;
    b[o + 7] = 64;
    for (let i = 0; i < 16; i++) {
      b[o + 8 + i] = src[srcOff + i]!;
      b[o + 24 + i] = dst[dstOff + i]!;
    }
    return o + 40;
  }

  /**
   * Fills the checksum of the message at `l4Off` (its field at `l4Off + csumOffset`), emits the
   * packet when the builder has an emit callback, and returns it (a view into the scratch buffer,
   * valid until the next packet is built).
   */
  finish(
    version: number,
    proto: number,
    l4Off: number,
    l4Len: number,
    csumOffset: number,
  ): Uint8Array {
    const b = this.buf;
    const o = this.headroom;
    const addrLen = version === 6 ? 16 : 4;
    const srcOff = version === 6 ? o + 8 : o + 12;
    const c = l4Off + csumOffset;
    b[c] = 0;
    b[c + 1] = 0;
    if (this.computeChecksums) {
      // ICMPv4's checksum covers the message only (RFC 792).
      const ps = proto === IPPROTO_ICMP
        ? 0
        : pseudoHeaderSumAt(b, srcOff, srcOff + addrLen, addrLen, proto, l4Len);
      let v = checksum(b, l4Off, l4Off + l4Len, ps);
      if (v === 0 && proto === IPPROTO_UDP) v = 0xffff;
      b[c] = v >>> 8;
      b[c + 1] = v;
    } else if (this.pseudoHeaderChecksums && proto !== IPPROTO_ICMP) {
      const ps = pseudoHeaderSumAt(b, srcOff, srcOff + addrLen, addrLen, proto, l4Len);
      b[c] = ps >>> 8;
      b[c + 1] = ps;
    }
    const packet = b.subarray(o, l4Off + l4Len);
    if (this.emit !== null) this.emit(packet);
    return packet;
  }
}
