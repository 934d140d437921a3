/**
 * Packet builders and parsers for tests and benchmarks.
 *
 * Product code reads and writes packets through the views of `src/wire/` (one length check, then
 * accessors at the offsets of one field table per protocol). Tests need the opposite direction as
 * well: whole packets from plain fields, and emitted packets back as plain values to assert on.
 * That is this module: one `*Repr` value class per header (`parse(view)` and `emit(view)`, as
 * smoltcp's wire layer has them), written through the same views, plus `ipPacket`, `tcpPacket`
 * and `udpPacket`, which build a whole packet with valid checksums.
 *
 * ```ts
 * const syn = tcpPacket({ src, dst, srcPort: 40000, dstPort: 443, seq: 1, flags: TCP_SYN });
 * dispatcher.input(syn, now);
 * ```
 *
 * @module
 */

import { pseudoHeaderSum } from "../../src/wire/checksum.ts";
import type { WireError } from "../../src/wire/error.ts";
import { ICMP_HEADER_LEN, IcmpPacket } from "../../src/wire/icmp.ts";
import { IPV4_HEADER_LEN, ipv4OptionsValid, Ipv4Packet } from "../../src/wire/ipv4.ts";
import {
  checkIpv6Options,
  IPV6_FRAG_HEADER_LEN,
  IPV6_HEADER_LEN,
  Ipv6ExtHeader,
  Ipv6FragmentHeader,
  Ipv6Packet,
} from "../../src/wire/ipv6.ts";
import {
  emitTcpOptions,
  TCP_HEADER_LEN,
  TCP_MAX_HEADER_LEN,
  TcpOptions,
  tcpOptionsLen,
  TcpPacket,
} from "../../src/wire/tcp.ts";
import { UDP_HEADER_LEN, UdpPacket } from "../../src/wire/udp.ts";

// ---------------------------------------------------------------------------------------------
// IPV4

/** Fields of an {@linkcode Ipv4Repr}. */
export interface Ipv4ReprInit {
  src: Uint8Array;
  dst: Uint8Array;
  protocol: number;
  payloadLen: number;
  ttl?: number;
  ident?: number;
  dontFrag?: boolean;
  moreFrags?: boolean;
  fragOffset?: number;
  dscpEcn?: number;
  options?: Uint8Array;
}

/** A parsed IPv4 header. Addresses and options are copies, not views. */
export class Ipv4Repr {
  src: Uint8Array;
  dst: Uint8Array;
  protocol: number;
  /** Length of the payload (total length minus header length). */
  payloadLen: number;
  ttl: number;
  ident: number;
  dontFrag: boolean;
  moreFrags: boolean;
  /** Fragment offset in bytes. */
  fragOffset: number;
  dscpEcn: number;
  /** Raw option bytes; a multiple of 4 long, at most 40. */
  options: Uint8Array;

  constructor(init: Ipv4ReprInit) {
    this.src = init.src;
    this.dst = init.dst;
    this.protocol = init.protocol;
    this.payloadLen = init.payloadLen;
    this.ttl = init.ttl ?? 64;
    this.ident = init.ident ?? 0;
    this.dontFrag = init.dontFrag ?? false;
    this.moreFrags = init.moreFrags ?? false;
    this.fragOffset = init.fragOffset ?? 0;
    this.dscpEcn = init.dscpEcn ?? 0;
    this.options = init.options ?? new Uint8Array(0);
  }

  /**
   * Parses a packet that passes `check()`; returns an error when the options are malformed or,
   * with `verifyChecksum`, when the header checksum is wrong.
   */
  static parse(packet: Ipv4Packet, verifyChecksum = false): Ipv4Repr | WireError {
    const err = packet.check();
    if (err !== null) return err;
    if (verifyChecksum && !packet.verifyChecksum()) return "checksum";
    const options = packet.options();
    if (!ipv4OptionsValid(options)) return "malformed";
    return new Ipv4Repr({
      src: packet.srcAddr().slice(),
      dst: packet.dstAddr().slice(),
      protocol: packet.protocol(),
      payloadLen: packet.totalLen() - packet.headerLen(),
      ttl: packet.ttl(),
      ident: packet.ident(),
      dontFrag: packet.dontFrag(),
      moreFrags: packet.moreFrags(),
      fragOffset: packet.fragOffset(),
      dscpEcn: packet.dscpEcn(),
      options: options.slice(),
    });
  }

  /** Header length in bytes, options included. */
  headerLen(): number {
    return IPV4_HEADER_LEN + this.options.length;
  }

  /** Header plus payload length. */
  bufferLen(): number {
    return this.headerLen() + this.payloadLen;
  }

  /**
   * Writes the header (and options) into `packet`, whose buffer must hold at least
   * {@linkcode Ipv4Repr.headerLen} bytes; fills the checksum unless told not to.
   */
  emit(packet: Ipv4Packet, fillChecksum = true): void {
    if (this.options.length % 4 !== 0 || this.options.length > 40) {
      throw new RangeError(`Cannot emit IPv4 options of ${this.options.length} bytes`);
    }
    const hl = this.headerLen();
    packet.setHeaderLen(hl);
    packet.setDscpEcn(this.dscpEcn);
    packet.setTotalLen(hl + this.payloadLen);
    packet.setIdent(this.ident);
    packet.setFragment(this.dontFrag, this.moreFrags, this.fragOffset);
    packet.setTtl(this.ttl);
    packet.setProtocol(this.protocol);
    packet.setSrcAddr(this.src);
    packet.setDstAddr(this.dst);
    packet.buffer.set(this.options, IPV4_HEADER_LEN);
    if (fillChecksum) packet.fillChecksum();
    else packet.setChecksum(0);
  }
}

// ---------------------------------------------------------------------------------------------
// IPV6

/** Fields of an {@linkcode Ipv6Repr}. */
export interface Ipv6ReprInit {
  src: Uint8Array;
  dst: Uint8Array;
  nextHeader: number;
  payloadLen: number;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
}

/** A parsed fixed IPv6 header. Addresses are copies. */
export class Ipv6Repr {
  src: Uint8Array;
  dst: Uint8Array;
  nextHeader: number;
  payloadLen: number;
  hopLimit: number;
  trafficClass: number;
  flowLabel: number;

  constructor(init: Ipv6ReprInit) {
    this.src = init.src;
    this.dst = init.dst;
    this.nextHeader = init.nextHeader;
    this.payloadLen = init.payloadLen;
    this.hopLimit = init.hopLimit ?? 64;
    this.trafficClass = init.trafficClass ?? 0;
    this.flowLabel = init.flowLabel ?? 0;
  }

  static parse(packet: Ipv6Packet): Ipv6Repr | WireError {
    const err = packet.check();
    if (err !== null) return err;
    return new Ipv6Repr({
      src: packet.srcAddr().slice(),
      dst: packet.dstAddr().slice(),
      nextHeader: packet.nextHeader(),
      payloadLen: packet.payloadLen(),
      hopLimit: packet.hopLimit(),
      trafficClass: packet.trafficClass(),
      flowLabel: packet.flowLabel(),
    });
  }

  headerLen(): number {
    return IPV6_HEADER_LEN;
  }

  bufferLen(): number {
    return IPV6_HEADER_LEN + this.payloadLen;
  }

  /** Writes the fixed header into `packet` (at least 40 bytes). */
  emit(packet: Ipv6Packet): void {
    packet.setVersionClassLabel(this.trafficClass, this.flowLabel);
    packet.setPayloadLen(this.payloadLen);
    packet.setNextHeader(this.nextHeader);
    packet.setHopLimit(this.hopLimit);
    packet.setSrcAddr(this.src);
    packet.setDstAddr(this.dst);
  }
}

/** A parsed hop-by-hop or destination options header: the option TLVs as raw bytes. */
export class Ipv6OptionsRepr {
  constructor(
    public nextHeader: number,
    /** Option bytes after the two fixed bytes; `length % 8 === 6`. */
    public options: Uint8Array,
  ) {}

  static parse(header: Ipv6ExtHeader): Ipv6OptionsRepr | WireError {
    const err = header.check();
    if (err !== null) return err;
    const data = header.data();
    const bad = checkIpv6Options(data);
    if (bad !== null) return bad;
    return new Ipv6OptionsRepr(header.nextHeader(), data.slice());
  }

  bufferLen(): number {
    return 2 + this.options.length;
  }

  emit(header: Ipv6ExtHeader): void {
    if (this.options.length % 8 !== 6) {
      throw new RangeError(`Cannot emit IPv6 options of ${this.options.length} bytes`);
    }
    header.setNextHeader(this.nextHeader);
    header.setHeaderLen(this.bufferLen());
    header.buffer.set(this.options, 2);
  }
}

/** A parsed routing header (any type): the type-specific data is kept raw. */
export class Ipv6RoutingRepr {
  constructor(
    public nextHeader: number,
    public routingType: number,
    public segmentsLeft: number,
    /** Bytes after the four fixed bytes; `length % 8 === 4`. */
    public data: Uint8Array,
  ) {}

  static parse(header: Ipv6ExtHeader): Ipv6RoutingRepr | WireError {
    const err = header.check();
    if (err !== null) return err;
    const b = header.buffer;
    return new Ipv6RoutingRepr(b[0]!, b[2]!, b[3]!, b.slice(4, header.headerLen()));
  }

  bufferLen(): number {
    return 4 + this.data.length;
  }

  emit(header: Ipv6ExtHeader): void {
    if (this.data.length % 8 !== 4) {
      throw new RangeError(
        `Cannot emit an IPv6 routing header with ${this.data.length} data bytes`,
      );
    }
    header.setNextHeader(this.nextHeader);
    header.setHeaderLen(this.bufferLen());
    header.buffer[2] = this.routingType;
    header.buffer[3] = this.segmentsLeft;
    header.buffer.set(this.data, 4);
  }
}

/** A parsed fragment header. */
export class Ipv6FragmentRepr {
  constructor(
    public nextHeader: number,
    /** Offset in bytes (multiple of 8). */
    public fragOffset: number,
    public moreFrags: boolean,
    public ident: number,
  ) {}

  static parse(header: Ipv6FragmentHeader): Ipv6FragmentRepr | WireError {
    const err = header.check();
    if (err !== null) return err;
    return new Ipv6FragmentRepr(
      header.nextHeader(),
      header.fragOffset(),
      header.moreFrags(),
      header.ident(),
    );
  }

  bufferLen(): number {
    return IPV6_FRAG_HEADER_LEN;
  }

  emit(header: Ipv6FragmentHeader): void {
    header.setNextHeader(this.nextHeader);
    header.setFragment(this.fragOffset, this.moreFrags);
    header.setIdent(this.ident);
  }
}

// ---------------------------------------------------------------------------------------------
// Header chain walk

// ---------------------------------------------------------------------------------------------
// TCP

/** Fields of a {@linkcode TcpRepr}. */
export interface TcpReprInit {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  urgent?: number;
  mss?: number | null;
  windowScale?: number | null;
  sackPermitted?: boolean;
  sackBlocks?: Array<[number, number]>;
  timestamp?: { tsVal: number; tsEcr: number } | null;
  payload?: Uint8Array;
}

/** A parsed TCP segment; the payload is a view into the parsed buffer. */
export class TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** Control bits (`TCP_FIN` ... `TCP_CWR`). */
  flags: number;
  /** The raw window field. */
  window: number;
  urgent: number;
  mss: number | null;
  windowScale: number | null;
  sackPermitted: boolean;
  sackBlocks: Array<[number, number]>;
  timestamp: { tsVal: number; tsEcr: number } | null;
  payload: Uint8Array;

  constructor(init: TcpReprInit) {
    this.srcPort = init.srcPort;
    this.dstPort = init.dstPort;
    this.seq = init.seq >>> 0;
    this.ack = (init.ack ?? 0) >>> 0;
    this.flags = init.flags;
    this.window = init.window ?? 0;
    this.urgent = init.urgent ?? 0;
    this.mss = init.mss ?? null;
    this.windowScale = init.windowScale ?? null;
    this.sackPermitted = init.sackPermitted ?? false;
    this.sackBlocks = init.sackBlocks ?? [];
    this.timestamp = init.timestamp ?? null;
    this.payload = init.payload ?? new Uint8Array(0);
  }

  /** Parses a segment; verifies the checksum when a pseudo-header sum is given. */
  static parse(packet: TcpPacket, pseudoSum: number | null = null): TcpRepr | WireError {
    const err = packet.check();
    if (err !== null) return err;
    if (pseudoSum !== null && !packet.verifyChecksum(pseudoSum)) return "checksum";
    const o = new TcpOptions();
    packet.parseOptions(o);
    const sackBlocks: Array<[number, number]> = [];
    for (let k = 0; k < o.sackCount; k++) {
      sackBlocks.push([o.sackBlocks[2 * k]!, o.sackBlocks[2 * k + 1]!]);
    }
    return new TcpRepr({
      srcPort: packet.srcPort(),
      dstPort: packet.dstPort(),
      seq: packet.seq(),
      ack: packet.ack(),
      flags: packet.flags(),
      window: packet.window(),
      urgent: packet.urgent(),
      mss: o.mss > 0 ? o.mss : null,
      windowScale: o.windowScale >= 0 ? o.windowScale : null,
      sackPermitted: o.sackPermitted,
      sackBlocks,
      timestamp: o.hasTimestamp ? { tsVal: o.tsVal, tsEcr: o.tsEcr } : null,
      payload: packet.payload(),
    });
  }

  /** Header length in bytes, options included. */
  headerLen(): number {
    return TCP_HEADER_LEN + this.optionsLen();
  }

  private optionsLen(): number {
    return tcpOptionsLen(
      this.mss ?? 0,
      this.windowScale ?? -1,
      this.sackPermitted,
      this.timestamp !== null,
      this.sackBlocks.length,
    );
  }

  /** Header, options and payload length. */
  bufferLen(): number {
    return this.headerLen() + this.payload.length;
  }

  /**
   * Writes the segment into `packet` (whose range must be exactly {@linkcode TcpRepr.bufferLen}
   * bytes) and fills the checksum when a pseudo-header sum is given.
   */
  emit(packet: TcpPacket, pseudoSum: number | null = null): void {
    if (this.sackBlocks.length > 4) {
      throw new RangeError(`Cannot emit ${this.sackBlocks.length} SACK blocks (at most 4)`);
    }
    const hl = this.headerLen();
    if (hl > TCP_MAX_HEADER_LEN) {
      throw new RangeError(`Cannot emit a TCP header of ${hl} bytes (at most 60)`);
    }
    const b = packet.buffer;
    const s = packet.start;
    packet.setSrcPort(this.srcPort);
    packet.setDstPort(this.dstPort);
    packet.setSeq(this.seq);
    packet.setAck(this.ack);
    packet.setHeaderLen(hl);
    packet.setFlags(this.flags);
    packet.setWindow(this.window);
    packet.setChecksum(0);
    packet.setUrgent(this.urgent);
    const flat: number[] = [];
    for (const [l, r] of this.sackBlocks) flat.push(l, r);
    emitTcpOptions(
      b,
      s + TCP_HEADER_LEN,
      this.mss ?? 0,
      this.windowScale ?? -1,
      this.sackPermitted,
      this.timestamp !== null,
      this.timestamp?.tsVal ?? 0,
      this.timestamp?.tsEcr ?? 0,
      flat,
      this.sackBlocks.length,
    );
    b.set(this.payload, s + hl);
    if (pseudoSum !== null) packet.fillChecksum(pseudoSum);
  }
}

// ---------------------------------------------------------------------------------------------
// UDP

/** A parsed UDP datagram; the payload is a view into the parsed buffer. */
export class UdpRepr {
  constructor(
    public srcPort: number,
    public dstPort: number,
    public payload: Uint8Array,
  ) {}

  /** Parses a datagram; verifies the checksum when a pseudo-header sum is given. */
  static parse(
    packet: UdpPacket,
    pseudoSum: number | null = null,
    zeroAllowed = true,
  ): UdpRepr | WireError {
    const err = packet.check();
    if (err !== null) return err;
    if (pseudoSum !== null && !packet.verifyChecksum(pseudoSum, zeroAllowed)) return "checksum";
    return new UdpRepr(packet.srcPort(), packet.dstPort(), packet.payload());
  }

  bufferLen(): number {
    return UDP_HEADER_LEN + this.payload.length;
  }

  /** Writes header and payload; fills the checksum when a pseudo-header sum is given. */
  emit(packet: UdpPacket, pseudoSum: number | null = null): void {
    packet.setSrcPort(this.srcPort);
    packet.setDstPort(this.dstPort);
    packet.setLengthField(this.bufferLen());
    packet.setChecksum(0);
    packet.buffer.set(this.payload, packet.start + UDP_HEADER_LEN);
    if (pseudoSum !== null) packet.fillChecksum(pseudoSum);
  }
}

// ---------------------------------------------------------------------------------------------
// ICMP

/** A parsed ICMP message; `data` is a view into the parsed buffer. */
export class IcmpRepr {
  constructor(
    public msgType: number,
    public code: number,
    /** The 4 bytes after the checksum (echo: identifier << 16 | sequence number). */
    public restOfHeader: number,
    public data: Uint8Array,
  ) {}

  /** Parses a message; verifies the checksum when a pseudo-header sum is given (0 for ICMPv4). */
  static parse(packet: IcmpPacket, pseudoSum: number | null = null): IcmpRepr | WireError {
    const err = packet.check();
    if (err !== null) return err;
    if (pseudoSum !== null && !packet.verifyChecksum(pseudoSum)) return "checksum";
    return new IcmpRepr(packet.msgType(), packet.code(), packet.restOfHeader(), packet.data());
  }

  bufferLen(): number {
    return ICMP_HEADER_LEN + this.data.length;
  }

  /** Writes the message; fills the checksum when a pseudo-header sum is given (0 for ICMPv4). */
  emit(packet: IcmpPacket, pseudoSum: number | null = null): void {
    packet.setMsgType(this.msgType);
    packet.setCode(this.code);
    packet.setChecksum(0);
    packet.setRestOfHeader(this.restOfHeader >>> 0);
    packet.buffer.set(this.data, packet.start + ICMP_HEADER_LEN);
    if (pseudoSum !== null) packet.fillChecksum(pseudoSum);
  }
}

// ---------------------------------------------------------------------------------------------
// Whole packets

/** Addresses of a packet (4 or 16 bytes each; the length picks the IP version). */
export interface Addresses {
  src: Uint8Array;
  dst: Uint8Array;
}

/** Wraps an upper-layer message of protocol `proto` in an IPv4 (DF set) or IPv6 header. */
export function ipPacket(a: Addresses, proto: number, l4: Uint8Array): Uint8Array {
  const v6 = a.src.length === 16;
  const hl = v6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN;
  const b = new Uint8Array(hl + l4.length);
  if (v6) {
    new Ipv6Repr({ src: a.src, dst: a.dst, nextHeader: proto, payloadLen: l4.length }).emit(
      new Ipv6Packet(b),
    );
  } else {
    new Ipv4Repr({ src: a.src, dst: a.dst, protocol: proto, payloadLen: l4.length, dontFrag: true })
      .emit(new Ipv4Packet(b));
  }
  b.set(l4, hl);
  return b;
}

/** An IP packet holding the TCP segment `init` with a valid checksum. */
export function tcpPacket(init: Addresses & TcpReprInit): Uint8Array {
  const { src, dst, ...fields } = init;
  const r = new TcpRepr(fields);
  const l4 = new Uint8Array(r.bufferLen());
  r.emit(new TcpPacket(l4), pseudoHeaderSum(src, dst, 6, l4.length));
  return ipPacket({ src, dst }, 6, l4);
}

/** An IP packet holding a UDP datagram with a valid checksum. */
export function udpPacket(
  init: Addresses & { srcPort: number; dstPort: number; payload: Uint8Array },
): Uint8Array {
  const r = new UdpRepr(init.srcPort, init.dstPort, init.payload);
  const l4 = new Uint8Array(r.bufferLen());
  r.emit(new UdpPacket(l4), pseudoHeaderSum(init.src, init.dst, 17, l4.length));
  return ipPacket(init, 17, l4);
}
