/**
 * The first step for every packet a worker reads from the TUN device: parse the IP header once
 * (IPv4 or IPv6 with its extension headers), trim the buffer to the IP length, reassemble
 * fragments, and hand the packet to the TCP stack, the UDP callback, or the local ICMP echo
 * responder. Everything else is counted and dropped. ICMP echo replies are built in place: the
 * buffer passed to {@linkcode Dispatcher.input} may be modified and handed to `emit`. No exception
 * escapes
 * {@linkcode Dispatcher.input}: malformed packets are counted by reason, and an unexpected error
 * (a bug, or a throwing callback) is counted in `stats.errors` and logged.
 *
 * ```ts
 * const dispatcher = new Dispatcher({
 *   tcp: tcpStack,
 *   onUdp: (d, now) => relay.udp(d, now),   // `d` is reused: copy what you keep
 *   emit: (packet) => tun.write(packet),     // ICMP echo replies
 * });
 * for (const packet of batch) dispatcher.input(packet, now);
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import {
  IcmpPacket,
  ICMPV4_ECHO_REQUEST,
  ICMPV6_ECHO_REQUEST,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_FIELD,
  Ipv4Packet,
  IPV6_FIELD,
  Ipv6Packet,
  newIpv6Walk,
  pseudoHeaderSumAt,
  UDP_HEADER_LEN,
  UdpPacket,
  walkIpv6,
} from "../wire/mod.ts";
import { echoReplyInPlace } from "./icmp_echo.ts";
import { IpReassembler, type ReassemblyOptions } from "./ip_reassembly.ts";
import type { TcpStack } from "./tcp/mod.ts";

const log = getLogger(["tunbox", "stack"]);

/**
 * A UDP datagram as the dispatcher saw it. The object and the views it returns are reused for
 * the next packet: copy what must be kept.
 */
export class UdpDatagram {
  /** 4 or 6. */
  version = 4;
  /** The packet (IP header at 0). */
  buf: Uint8Array = new Uint8Array(0);
  /** Offsets of the source (client) and destination address bytes in `buf`. */
  srcOff = 0;
  dstOff = 0;
  srcPort = 0;
  dstPort = 0;
  payloadOff = 0;
  payloadLen = 0;

  /** Address length in bytes (4 or 16). */
  get addrLen(): number {
    return this.version === 6 ? 16 : 4;
  }
  /** The client's address (a view). */
  srcAddr(): Uint8Array {
    return this.buf.subarray(this.srcOff, this.srcOff + this.addrLen);
  }
  /** The destination address (a view). */
  dstAddr(): Uint8Array {
    return this.buf.subarray(this.dstOff, this.dstOff + this.addrLen);
  }
  /** The payload (a view). */
  payload(): Uint8Array {
    return this.buf.subarray(this.payloadOff, this.payloadOff + this.payloadLen);
  }
}

/**
 * What receives TCP segments: the userspace {@linkcode TcpStack}, or anything else with the same
 * entry point (the system stack's NAT).
 */
export type TcpInput = Pick<TcpStack, "inputSegment">;

/** Options of a {@linkcode Dispatcher}. */
export interface DispatcherOptions {
  /** Receives TCP segments; without it TCP is dropped as unhandled. */
  tcp?: TcpInput | null;
  /** Receives UDP datagrams; without it UDP is dropped as unhandled. */
  onUdp?: ((datagram: UdpDatagram, now: number) => void) | null;
  /** Writes ICMP echo replies to the TUN; without it echo requests are dropped. */
  emit?: ((packet: Uint8Array) => void) | null;
  /** Answer ICMP echo requests locally. Default true. */
  icmpEcho?: boolean;
  /**
   * Receives every ICMP echo request instead of the local answer (the TUN engine routes them:
   * real ping for `direct`, reply/drop/unreachable per the rules). `p` is the packet (IP header
   * at 0), the message is `p[l4Off..l4End]`, addresses at `srcOff`/`dstOff`; valid only during
   * the call.
   */
  onIcmpEcho?:
    | ((
      p: Uint8Array,
      version: 4 | 6,
      l4Off: number,
      l4End: number,
      srcOff: number,
      dstOff: number,
      now: number,
    ) => void)
    | null;
  /** Verify IPv4 header, UDP and ICMP checksums. Default false (the local kernel wrote them). */
  verifyChecksums?: boolean;
  /** Fragment reassembly limits. */
  reassembly?: ReassemblyOptions;
}

/** Counters of a {@linkcode Dispatcher}. */
export interface DispatcherStats {
  packets: number;
  ipv4: number;
  ipv6: number;
  tcp: number;
  udp: number;
  icmpEchoReplies: number;
  /** Echo requests handed to `onIcmpEcho`. */
  icmpEchoRequests: number;
  /** Fragments taken in (see `reassembly.stats` for the outcome). */
  fragments: number;
  /** Dropped: bad version, lengths or headers. */
  malformed: number;
  /** Dropped: a checksum was verified and wrong. */
  badChecksum: number;
  /** Dropped: valid but nobody handles it (other protocols, ICMP other than echo, no handler). */
  unhandled: number;
  /** Unexpected errors caught (bugs or throwing callbacks). */
  errors: number;
}

/** Parses and routes packets read from the TUN device. */
export class Dispatcher {
  readonly stats: DispatcherStats = {
    packets: 0,
    ipv4: 0,
    ipv6: 0,
    tcp: 0,
    udp: 0,
    icmpEchoReplies: 0,
    icmpEchoRequests: 0,
    fragments: 0,
    malformed: 0,
    badChecksum: 0,
    unhandled: 0,
    errors: 0,
  };
  /** The fragment reassembler (for its counters and memory use). */
  readonly reassembly: IpReassembler;
  /** The last unexpected error, for diagnostics. */
  lastError: unknown = null;

  private readonly tcp: TcpInput | null;
  private readonly onUdp: ((d: UdpDatagram, now: number) => void) | null;
  private readonly emit: ((p: Uint8Array) => void) | null;
  private readonly icmpEcho: boolean;
  private readonly onIcmpEcho: DispatcherOptions["onIcmpEcho"];
  private readonly verify: boolean;
  /** The packet being handled has a partial L4 checksum (see {@linkcode Dispatcher.input}). */
  private partial = false;
  private readonly udp = new UdpDatagram();
  private readonly walk = newIpv6Walk();
  // One view per header kind, re-pointed at each packet.
  private readonly v4 = new Ipv4Packet(new Uint8Array(0));
  private readonly v6 = new Ipv6Packet(new Uint8Array(0));
  private readonly udpView = new UdpPacket(new Uint8Array(0));
  private readonly icmpView = new IcmpPacket(new Uint8Array(0));

  constructor(options: DispatcherOptions = {}) {
    this.tcp = options.tcp ?? null;
    this.onUdp = options.onUdp ?? null;
    this.emit = options.emit ?? null;
    this.icmpEcho = options.icmpEcho ?? true;
    this.onIcmpEcho = options.onIcmpEcho ?? null;
    this.verify = options.verifyChecksums ?? false;
    this.reassembly = new IpReassembler(options.reassembly);
  }

  /**
   * Handles one packet, `packet[0..end)` (IP header at 0; `end` defaults to the buffer's length,
   * so a read buffer can be passed as is, without a view per packet); never throws.
   *
   * `partial`: the TCP/UDP checksum field holds only the pseudo-header sum, to be completed by
   * whoever delivers the packet (Linux CHECKSUM_PARTIAL, announced by a TUN's virtio_net_hdr
   * with checksum offload). Such a checksum is not verified, and the system stack's NAT keeps
   * it partial. A TCP packet may then also be a segmentation-offload "super segment" of up to
   * 64 KiB, larger than the MTU.
   */
  input(packet: Uint8Array, now: number, end: number = packet.length, partial = false): void {
    this.stats.packets++;
    this.partial = partial;
    try {
      const v = end > 0 ? packet[0]! >> 4 : 0;
      if (v === 4) this.ipv4(packet, end, now);
      else if (v === 6) this.ipv6(packet, end, now);
      else this.stats.malformed++;
    } catch (e) {
      this.stats.errors++;
      this.lastError = e;
      // Log the first error and then every power of two, so a storm cannot flood the log.
      if ((this.stats.errors & (this.stats.errors - 1)) === 0) {
        log.error("Packet handling failed ({count} so far): {error}", {
          count: this.stats.errors,
          error: e,
        });
      }
    }
  }

  /** Runs reassembly expiry; returns the next deadline (ms) or Infinity. */
  poll(now: number): number {
    return this.reassembly.expire(now);
  }

  private ipv4(p: Uint8Array, end: number, now: number): void {
    this.stats.ipv4++;
    const ip = this.v4.reset(p, end);
    if (ip.check() !== null) return void this.stats.malformed++;
    if (this.verify && !ip.verifyChecksum()) return void this.stats.badChecksum++;
    let total = ip.totalLen();
    if (ip.isFragment()) {
      this.stats.fragments++;
      const whole = this.reassembly.inputIpv4(p.subarray(0, total), now);
      if (whole === null) return;
      p = whole;
      total = whole.length;
      ip.reset(whole);
    }
    this.transport(p, 4, IPV4_FIELD.SRC, IPV4_FIELD.DST, ip.headerLen(), total, ip.protocol(), now);
  }

  private ipv6(p: Uint8Array, end: number, now: number): void {
    this.stats.ipv6++;
    const ip = this.v6.reset(p, end);
    if (ip.check() !== null) return void this.stats.malformed++;
    let total = ip.packetEnd();
    const w = this.walk;
    if (walkIpv6(p, total, w) !== null) return void this.stats.malformed++;
    if (w.fragHeader >= 0) {
      this.stats.fragments++;
      const whole = this.reassembly.inputIpv6(
        p.subarray(0, total),
        w.fragHeader,
        w.fragNextHeaderField,
        now,
      );
      if (whole === null) return;
      p = whole;
      total = whole.length;
      if (walkIpv6(p, total, w) !== null || w.fragHeader >= 0) {
        return void this.stats.malformed++;
      }
    }
    this.transport(p, 6, IPV6_FIELD.SRC, IPV6_FIELD.DST, w.offset, total, w.protocol, now);
  }

  private transport(
    p: Uint8Array,
    version: number,
    srcOff: number,
    dstOff: number,
    l4Off: number,
    l4End: number,
    proto: number,
    now: number,
  ): void {
    switch (proto) {
      case IPPROTO_TCP:
        if (this.tcp === null) return void this.stats.unhandled++;
        this.stats.tcp++;
        this.tcp.inputSegment(p, version, srcOff, dstOff, l4Off, l4End, now, this.partial);
        return;
      case IPPROTO_UDP:
        return this.udpIn(p, version, srcOff, dstOff, l4Off, l4End, now);
      case IPPROTO_ICMP:
        if (version !== 4) return void this.stats.unhandled++;
        return this.icmpIn(p, version, l4Off, l4End, srcOff, dstOff, now);
      case IPPROTO_ICMPV6:
        if (version !== 6) return void this.stats.unhandled++;
        return this.icmpIn(p, version, l4Off, l4End, srcOff, dstOff, now);
      default:
        this.stats.unhandled++;
    }
  }

  private udpIn(
    p: Uint8Array,
    version: number,
    srcOff: number,
    dstOff: number,
    l4Off: number,
    l4End: number,
    now: number,
  ): void {
    const u = this.udpView.reset(p, l4Off, l4End);
    if (u.check() !== null) return void this.stats.malformed++;
    const ulen = u.lengthField();
    if (this.verify && !this.partial) {
      const alen = version === 6 ? 16 : 4;
      // A zero checksum means "none" over IPv4 and is not allowed over IPv6 (RFC 8200 §8.1).
      const ps = pseudoHeaderSumAt(p, srcOff, dstOff, alen, IPPROTO_UDP, ulen);
      if (!u.verifyChecksum(ps, version === 4)) return void this.stats.badChecksum++;
    }
    if (this.onUdp === null) return void this.stats.unhandled++;
    this.stats.udp++;
    const d = this.udp;
    d.version = version;
    d.buf = p;
    d.srcOff = srcOff;
    d.dstOff = dstOff;
    d.srcPort = u.srcPort();
    d.dstPort = u.dstPort();
    d.payloadOff = u.payloadOffset();
    d.payloadLen = ulen - UDP_HEADER_LEN;
    this.onUdp(d, now);
  }

  private icmpIn(
    p: Uint8Array,
    version: number,
    l4Off: number,
    l4End: number,
    srcOff: number,
    dstOff: number,
    now: number,
  ): void {
    const handler = this.onIcmpEcho;
    if (!handler && (!this.icmpEcho || this.emit === null)) return void this.stats.unhandled++;
    const m = this.icmpView.reset(p, l4Off, l4End);
    if (m.check() !== null) return void this.stats.malformed++;
    if (this.verify) {
      const ps = version === 6
        ? pseudoHeaderSumAt(p, srcOff, dstOff, 16, IPPROTO_ICMPV6, l4End - l4Off)
        : 0;
      if (!m.verifyChecksum(ps)) return void this.stats.badChecksum++;
    }
    if (handler) {
      const echo = version === 4 ? ICMPV4_ECHO_REQUEST : ICMPV6_ECHO_REQUEST;
      if (m.msgType() !== echo || m.code() !== 0) return void this.stats.unhandled++;
      this.stats.icmpEchoRequests++;
      return handler(p, version === 6 ? 6 : 4, l4Off, l4End, srcOff, dstOff, now);
    }
    if (this.emit === null) return void this.stats.unhandled++;
    const reply = echoReplyInPlace(p, version, l4Off, l4End);
    if (reply === null) return void this.stats.unhandled++;
    this.stats.icmpEchoReplies++;
    this.emit(reply);
  }
}
