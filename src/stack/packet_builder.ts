/**
 * Builds outgoing IPv4/IPv6 packets in one reusable scratch buffer: the caller asks for an IP
 * header in front of an upper-layer message of known length, writes the message in place
 * (through a `src/wire/` view), and finishes the packet, which fills the upper-layer checksum (or
 * a pseudo-header sum for virtio-net `NEEDS_CSUM`, or nothing) and hands the packet to the emit
 * callback as `(packet, length)`: one fixed view and a length, so building and emitting a packet
 * allocates nothing.
 *
 * The packet area always starts `headroom` bytes into `buf`, so the callee may write a prefix
 * (a virtio-net header) in the bytes before it. The emit callback must finish with the bytes (copy
 * or write them) before returning: the buffer is reused for the next packet.
 *
 * @module
 */

import {
  checksum,
  IPPROTO_ICMP,
  IPPROTO_UDP,
  IPV4_FIELD,
  IPV4_HEADER_LEN,
  Ipv4Packet,
  IPV6_FIELD,
  IPV6_HEADER_LEN,
  Ipv6Packet,
  pseudoHeaderSumAt,
  set16,
} from "../wire/mod.ts";

/** The 16-bit checksum field offset within TCP (16), UDP (6) and ICMP (2) headers. */
export const L4_CHECKSUM_OFFSET = { tcp: 16, udp: 6, icmp: 2 } as const;

/** Largest IP packet the builder accepts. */
export const MAX_PACKET = 65535;

/** Scratch-buffer packet writer. */
export class PacketBuilder {
  /** The scratch buffer: headroom, then the packet. */
  readonly buf: Uint8Array;
  /** The packet area: `buf` from the headroom on (the IP header starts at its offset 0). */
  readonly packet: Uint8Array;
  private ident = 0;
  private readonly v4: Ipv4Packet;
  private readonly v6: Ipv6Packet;

  constructor(
    readonly headroom: number,
    /**
     * Receives each finished packet, `packet[0..length)`, and its segment size (see
     * {@linkcode PacketBuilder.finish}).
     */
    private readonly emit:
      | ((packet: Uint8Array, length: number, segmentSize: number) => void)
      | null,
    /** Fill upper-layer checksums. */
    private readonly computeChecksums: boolean,
    /** Without checksums, store the folded pseudo-header sum in the checksum field. */
    private readonly pseudoHeaderChecksums: boolean,
    identSeed = 0,
  ) {
    this.buf = new Uint8Array(headroom + MAX_PACKET);
    this.packet = this.buf.subarray(headroom);
    this.v4 = new Ipv4Packet(this.packet);
    this.v6 = new Ipv6Packet(this.packet);
    this.ident = identSeed & 0xffff;
  }

  /** IP header length for a version (no options). */
  static ipHeaderLen(version: number): number {
    return version === 6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN;
  }

  /**
   * Writes an IP header (no options; IPv4 with DF, TTL/hop limit 64) for an upper-layer message
   * of `l4Len` bytes with protocol `proto`, from `src[srcOff..]` to `dst[dstOff..]` (4 or 16
   * address bytes). Returns the offset in {@linkcode PacketBuilder.packet} where the message
   * goes.
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
    const b = this.packet;
    if (version === 4) {
      const ip = this.v4;
      ip.setHeaderLen(IPV4_HEADER_LEN);
      ip.setDscpEcn(0);
      ip.setTotalLen(IPV4_HEADER_LEN + l4Len);
      ip.setIdent(this.ident = (this.ident + 1) & 0xffff);
      ip.setFragment(true, false, 0);
      ip.setTtl(64);
      ip.setProtocol(proto);
      copyAddr(b, IPV4_FIELD.SRC, src, srcOff, 4);
      copyAddr(b, IPV4_FIELD.DST, dst, dstOff, 4);
      ip.fillChecksum();
      return IPV4_HEADER_LEN;
    }
    const ip = this.v6;
    ip.setVersionClassLabel(0, 0);
    ip.setPayloadLen(l4Len);
    ip.setNextHeader(proto);
    ip.setHopLimit(64);
    copyAddr(b, IPV6_FIELD.SRC, src, srcOff, 16);
    copyAddr(b, IPV6_FIELD.DST, dst, dstOff, 16);
    return IPV6_HEADER_LEN;
  }

  /**
   * Fills the checksum of the message at `l4Off` (its field at `l4Off + csumOffset`), emits the
   * packet when the builder has an emit callback, and returns the packet's length: the packet is
   * `packet[0..length)` until the next one is built. `segmentSize` is handed to the callback
   * (a TCP super segment's size per segment under segmentation offload; 0 otherwise).
   */
  finish(
    version: number,
    proto: number,
    l4Off: number,
    l4Len: number,
    csumOffset: number,
    segmentSize = 0,
  ): number {
    const b = this.packet;
    const addrLen = version === 6 ? 16 : 4;
    const srcOff = version === 6 ? IPV6_FIELD.SRC : IPV4_FIELD.SRC;
    const c = l4Off + csumOffset;
    set16(b, c, 0);
    if (this.computeChecksums) {
      // ICMPv4's checksum covers the message only (RFC 792).
      const ps = proto === IPPROTO_ICMP
        ? 0
        : pseudoHeaderSumAt(b, srcOff, srcOff + addrLen, addrLen, proto, l4Len);
      let v = checksum(b, l4Off, l4Off + l4Len, ps);
      if (v === 0 && proto === IPPROTO_UDP) v = 0xffff;
      set16(b, c, v);
    } else if (this.pseudoHeaderChecksums && proto !== IPPROTO_ICMP) {
      set16(b, c, pseudoHeaderSumAt(b, srcOff, srcOff + addrLen, addrLen, proto, l4Len));
    }
    const length = l4Off + l4Len;
    if (this.emit !== null) this.emit(b, length, segmentSize);
    return length;
  }

  /** The last finished packet as its own view (allocates one view; for paths off the hot one). */
  view(length: number): Uint8Array {
    return this.packet.subarray(0, length);
  }
}

function copyAddr(b: Uint8Array, at: number, from: Uint8Array, off: number, len: number): void {
  for (let i = 0; i < len; i++) b[at + i] = from[off + i]!;
}
