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
import { checksum, pseudoHeaderSumAt } from "../wire/checksum.ts";
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from "../wire/ip.ts";
import { newIpv6Walk, walkIpv6 } from "../wire/ipv6.ts";
import { echoReplyInPlace } from "./icmp_echo.ts";
import { ICMPV4_ECHO_REQUEST, ICMPV6_ECHO_REQUEST } from "../wire/icmp.ts";
import { IpReassembler, type ReassemblyOptions } from "./ip_reassembly.ts";
import type { TcpStack } from "./tcp/stack.ts";

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
  private readonly udp = new UdpDatagram();
  private readonly walk = newIpv6Walk();

  constructor(options: DispatcherOptions = {}) {
    this.tcp = options.tcp ?? null;
    this.onUdp = options.onUdp ?? null;
    this.emit = options.emit ?? null;
    this.icmpEcho = options.icmpEcho ?? true;
    this.onIcmpEcho = options.onIcmpEcho ?? null;
    this.verify = options.verifyChecksums ?? false;
    this.reassembly = new IpReassembler(options.reassembly);
  }

  /** Handles one packet (`packet` starts at the IP header); never throws. */
  input(packet: Uint8Array, now: number): void {
    this.stats.packets++;
    try {
      const v = packet.length > 0 ? packet[0]! >> 4 : 0;
      if (v === 4) this.ipv4(packet, now);
      else if (v === 6) this.ipv6(packet, now);
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

  private ipv4(p: Uint8Array, now: number): void {
    this.stats.ipv4++;
    const len = p.length;
    if (len < 20) return void this.stats.malformed++;
    const hl = (p[0]! & 15) * 4;
    const total = (p[2]! << 8) | p[3]!;
    if (hl < 20 || total < hl || total > len) return void this.stats.malformed++;
    if (this.verify && checksum(p, 0, hl) !== 0) return void this.stats.badChecksum++;
    if (total < len) p = p.subarray(0, total);
    if (((p[6]! & 0x3f) | p[7]!) !== 0) {
      // MF set or a non-zero offset: a fragment.
      this.stats.fragments++;
      const whole = this.reassembly.inputIpv4(p, now);
      if (whole === null) return;
      p = whole;
    }
    this.transport(p, 4, 12, 16, hl, p.length, p[9]!, now);
  }

  private ipv6(p: Uint8Array, now: number): void {
    this.stats.ipv6++;
    if (p.length < 40) return void this.stats.malformed++;
    const end = 40 + ((p[4]! << 8) | p[5]!);
    if (end > p.length) return void this.stats.malformed++;
    if (end < p.length) p = p.subarray(0, end);
    const w = this.walk;
    if (walkIpv6(p, end, w) !== null) return void this.stats.malformed++;
    if (w.fragHeader >= 0) {
      this.stats.fragments++;
      const whole = this.reassembly.inputIpv6(p, w.fragHeader, w.fragNextHeaderField, now);
      if (whole === null) return;
      p = whole;
      if (walkIpv6(p, p.length, w) !== null || w.fragHeader >= 0) {
        return void this.stats.malformed++;
      }
    }
    this.transport(p, 6, 8, 24, w.offset, p.length, w.protocol, now);
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
        this.tcp.inputSegment(p, version, srcOff, dstOff, l4Off, l4End, now);
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
    if (l4End - l4Off < 8) return void this.stats.malformed++;
    const ulen = (p[l4Off + 4]! << 8) | p[l4Off + 5]!;
    if (ulen < 8 || ulen > l4End - l4Off) return void this.stats.malformed++;
    if (this.verify) {
      const csum = (p[l4Off + 6]! << 8) | p[l4Off + 7]!;
      const alen = version === 6 ? 16 : 4;
      if (
        csum === 0 ? version === 6 : checksum(
          p,
          l4Off,
          l4Off + ulen,
          pseudoHeaderSumAt(p, srcOff, dstOff, alen, IPPROTO_UDP, ulen),
        ) !== 0
      ) {
        return void this.stats.badChecksum++;
      }
    }
    if (this.onUdp === null) return void this.stats.unhandled++;
    this.stats.udp++;
    const d = this.udp;
    d.version = version;
    d.buf = p;
    d.srcOff = srcOff;
    d.dstOff = dstOff;
    d.srcPort = (p[l4Off]! << 8) | p[l4Off + 1]!;
    d.dstPort = (p[l4Off + 2]! << 8) | p[l4Off + 3]!;
    d.payloadOff = l4Off + 8;
    d.payloadLen = ulen - 8;
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
    if (l4End - l4Off < 8) return void this.stats.malformed++;
    if (this.verify) {
      const ps = version === 6
        ? pseudoHeaderSumAt(p, srcOff, dstOff, 16, IPPROTO_ICMPV6, l4End - l4Off)
        : 0;
      if (checksum(p, l4Off, l4End, ps) !== 0) return void this.stats.badChecksum++;
    }
    if (handler) {
      const type = p[l4Off]!;
      const echo = version === 4 ? ICMPV4_ECHO_REQUEST : ICMPV6_ECHO_REQUEST;
      if (type !== echo || p[l4Off + 1] !== 0) return void this.stats.unhandled++;
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
