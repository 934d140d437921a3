/**
 * The system stack's per-packet rewrite (sing-tun `stack_system.go`), done in place on the
 * packet buffer read from the TUN so it can be written straight back.
 *
 * With `A` the TUN address, `B = A + 1` (the fake peer) and `P` the port of the kernel TCP
 * listener bound to `A`:
 * - **forward** (application → world): a segment `S:s → D:d` is rewritten to `B:n → A:P`, where
 *   `n` is the flow's NAT port (allocated on its SYN). The kernel receives it on the TUN as an
 *   ordinary segment for its own listener and does all the TCP work.
 * - **return** (listener → application): a segment `A:P → B:n` is rewritten to `D:d → S:s`.
 *
 * Checksums are updated incrementally (RFC 1624): the IPv4 header checksum for the two addresses
 * and the TCP checksum for the pseudo-header addresses and both ports, so a rewrite costs O(1)
 * whatever the payload size. A *partial* TCP checksum (checksum offload: the field holds the
 * uncomplemented pseudo-header sum and the rest is summed on delivery) changes with the
 * addresses only, in the opposite sense; the ports are covered when it is completed.
 *
 * @module
 */

import {
  get16,
  IPV4_FIELD,
  IPV6_FIELD,
  set16,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  TcpPacket,
  updateChecksum16,
  updateChecksumBytes,
} from "../wire/mod.ts";
import { FLAG_FIN_CLIENT, FLAG_FIN_SERVER, FLAG_RST, type NatTable } from "./nat_table.ts";

/** What happened to a packet. */
export const NatVerdict = {
  /** Rewritten in place: write it back to the TUN. */
  Forward: 0,
  /** Not ours or not valid: drop it. */
  Drop: 1,
  /** A SYN the pre-match hook rejected: answer with a RST (the caller builds it). */
  Reset: 2,
  /** A SYN when the table is full. */
  Exhausted: 3,
} as const;
export type NatVerdict = typeof NatVerdict[keyof typeof NatVerdict];

/** Addresses of one family for the rewrite. */
export interface NatFamily {
  /** The TUN address `A` the listener is bound to. */
  tunAddr: Uint8Array;
  /** `A + 1`, the fake peer address. */
  peerAddr: Uint8Array;
  /** The listener's port `P`. */
  listenPort: number;
}

/** Optional decision on a new flow's SYN, before a NAT port is allocated. */
export type NatPreMatch = (pkt: Uint8Array, l4Off: number, family: 4 | 6) => NatVerdict;

function equalAt(pkt: Uint8Array, off: number, addr: Uint8Array): boolean {
  for (let i = 0; i < addr.length; i++) if (pkt[off + i] !== addr[i]) return false;
  return true;
}

/** Rewrites system-stack TCP packets for one worker. */
export class SystemNat {
  /**
   * After a `Forward` verdict: the worker whose TUN queue the packet should be written to. For
   * replies this is the NAT port's owner, not necessarily the worker that read the packet: the
   * kernel steers a flow to the queue that last wrote one of its packets, so writing a flow's
   * replies on its owner's queue keeps every later packet of the flow on the owner, whose
   * per-worker map knows it. (The kernel picks the queue of a listener's first SYN-ACK before
   * it has seen the flow, so that one packet may arrive at any worker.)
   */
  writeTo = 0;
  /** Counters for stats. */
  forwarded = 0;
  returned = 0;
  dropped = 0;
  exhausted = 0;

  constructor(
    readonly table: NatTable,
    readonly v4: NatFamily | null,
    readonly v6: NatFamily | null,
    readonly preMatch: NatPreMatch | null = null,
  ) {}

  /** The segment being rewritten. */
  readonly #tcp = new TcpPacket(new Uint8Array(0));
  /** Its checksum field is partial (`process`'s argument). */
  #partial = false;

  /**
   * Rewrites the TCP segment `pkt[l4Off..l4End)` (an IP packet starting at 0) in place and
   * returns the verdict. On `Forward` the packet is ready to be written back to the TUN.
   * `partial`: the checksum field is a partial one (see the module note), kept partial.
   */
  process(
    pkt: Uint8Array,
    l4Off: number,
    l4End: number,
    family: 4 | 6,
    now: number,
    partial = false,
  ): NatVerdict {
    this.#partial = partial;
    const fam = family === 4 ? this.v4 : this.v6;
    const t = this.#tcp.reset(pkt, l4Off, l4End);
    if (fam === null || t.checkLen() !== null) {
      this.dropped++;
      return NatVerdict.Drop;
    }
    const len = family === 4 ? 4 : 16;
    const srcOff = family === 4 ? IPV4_FIELD.SRC : IPV6_FIELD.SRC;
    const dstOff = family === 4 ? IPV4_FIELD.DST : IPV6_FIELD.DST;
    const sport = t.srcPort();
    const dport = t.dstPort();
    const flags = t.flags();

    if (
      sport === fam.listenPort && equalAt(pkt, srcOff, fam.tunAddr) &&
      equalAt(pkt, dstOff, fam.peerAddr)
    ) {
      return this.#returnPath(pkt, t, family, len, srcOff, dstOff, dport, flags, now);
    }

    let port = this.table.lookup(pkt, srcOff, dstOff, len, sport, dport);
    if (port < 0) {
      // RFC 9293 §3.10.7.1: only a SYN can open a connection; anything else has no session.
      if ((flags & (TCP_SYN | TCP_ACK | TCP_RST)) !== TCP_SYN) {
        this.dropped++;
        return NatVerdict.Drop;
      }
      // A SYN to the listener from the fake peer is this NAT's own output read back (a loop):
      // no application sends from B, which only exists behind the TUN. Given a session, its
      // replies would be rewritten to A:P → B:n, the return tuple of the flow it copies.
      if (
        dport === fam.listenPort && equalAt(pkt, dstOff, fam.tunAddr) &&
        equalAt(pkt, srcOff, fam.peerAddr)
      ) {
        this.dropped++;
        return NatVerdict.Drop;
      }
      if (this.preMatch) {
        const verdict = this.preMatch(pkt, l4Off, family);
        if (verdict !== NatVerdict.Forward) return verdict;
      }
      port = this.table.allocate(pkt, srcOff, dstOff, len, sport, dport, now);
      if (port < 0) {
        this.exhausted++;
        return NatVerdict.Exhausted;
      }
    }
    const base = this.table.entryOffset(port);
    this.table.touch(base, now, natFlags(flags, FLAG_FIN_CLIENT));
    this.#rewrite(
      pkt,
      t,
      family,
      srcOff,
      dstOff,
      len,
      fam.peerAddr,
      0,
      port,
      fam.tunAddr,
      0,
      fam.listenPort,
    );
    this.writeTo = this.table.workerIndex;
    this.forwarded++;
    return NatVerdict.Forward;
  }

  #returnPath(
    pkt: Uint8Array,
    t: TcpPacket,
    family: 4 | 6,
    len: number,
    srcOff: number,
    dstOff: number,
    natPort: number,
    flags: number,
    now: number,
  ): NatVerdict {
    const base = this.table.entryOffset(natPort);
    if (base < 0 || this.table.familyOf(base) !== family) {
      this.dropped++;
      return NatVerdict.Drop;
    }
    this.table.touch(base, now, natFlags(flags, FLAG_FIN_SERVER));
    this.writeTo = this.table.ownerOf(natPort);
    // New source = the original destination; new destination = the original source.
    const tb = this.table;
    this.#rewrite(
      pkt,
      t,
      family,
      srcOff,
      dstOff,
      len,
      tb.bytes,
      tb.dstAt(base),
      tb.dstPortOf(base),
      tb.bytes,
      tb.srcAt(base),
      tb.srcPortOf(base),
    );
    this.returned++;
    return NatVerdict.Forward;
  }

  #rewrite(
    pkt: Uint8Array,
    t: TcpPacket,
    family: 4 | 6,
    srcOff: number,
    dstOff: number,
    len: number,
    newSrc: Uint8Array,
    newSrcOff: number,
    newSport: number,
    newDst: Uint8Array,
    newDstOff: number,
    newDport: number,
  ): void {
    let tcpSum = t.checksum();
    // A partial checksum is a sum, not its complement: update its complement the same way.
    if (this.#partial) tcpSum = ~tcpSum & 0xffff;
    // Pseudo-header addresses (RFC 1624 eqn. 3, word by word).
    tcpSum = updateChecksumBytes(tcpSum, pkt, srcOff, newSrc, newSrcOff, len);
    tcpSum = updateChecksumBytes(tcpSum, pkt, dstOff, newDst, newDstOff, len);
    if (this.#partial) tcpSum = ~tcpSum & 0xffff;
    else {
      tcpSum = updateChecksum16(tcpSum, t.srcPort(), newSport);
      tcpSum = updateChecksum16(tcpSum, t.dstPort(), newDport);
    }
    if (family === 4) {
      let ipSum = get16(pkt, IPV4_FIELD.CHECKSUM);
      ipSum = updateChecksumBytes(ipSum, pkt, srcOff, newSrc, newSrcOff, 4);
      ipSum = updateChecksumBytes(ipSum, pkt, dstOff, newDst, newDstOff, 4);
      set16(pkt, IPV4_FIELD.CHECKSUM, ipSum);
    }
    for (let i = 0; i < len; i++) {
      pkt[srcOff + i] = newSrc[newSrcOff + i]!;
      pkt[dstOff + i] = newDst[newDstOff + i]!;
    }
    t.setSrcPort(newSport);
    t.setDstPort(newDport);
    t.setChecksum(tcpSum);
  }
}

function natFlags(tcpFlags: number, finFlag: number): number {
  let out = 0;
  if (tcpFlags & TCP_FIN) out |= finFlag;
  if (tcpFlags & TCP_RST) out |= FLAG_RST;
  return out;
}
