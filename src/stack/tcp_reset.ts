/**
 * Refusing a TCP SYN without a connection: the RST that RFC 9293 §3.10.7.1 prescribes for a
 * segment without an ACK, `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`, written in place over the
 * SYN (addresses and ports swapped, options and payload dropped).
 *
 * @module
 */

import {
  IPPROTO_TCP,
  IPV4_FIELD,
  IPV4_HEADER_LEN,
  Ipv4Packet,
  IPV6_FIELD,
  IPV6_HEADER_LEN,
  Ipv6Packet,
  pseudoHeaderSumAt,
  TCP_ACK,
  TCP_FIN,
  TCP_HEADER_LEN,
  TCP_RST,
  TCP_SYN,
  TcpPacket,
} from "../wire/mod.ts";

const tcp = new TcpPacket(new Uint8Array(0));
const v4 = new Ipv4Packet(new Uint8Array(0));
const v6 = new Ipv6Packet(new Uint8Array(0));

/**
 * Turns the segment `pkt[l4Off..l4End)` (IP header at 0) into the RST that refuses it, in the
 * same buffer, and returns the reply's length (40 bytes for IPv4, 60 for IPv6).
 */
export function resetInPlace(
  pkt: Uint8Array,
  l4Off: number,
  l4End: number,
  family: 4 | 6,
): number {
  const t = tcp.reset(pkt, l4Off, l4End);
  const flags = t.flags();
  const segLen = t.payloadLen() + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
  const ack = (t.seq() + segLen) >>> 0;
  const sport = t.srcPort();
  const dport = t.dstPort();
  const ipLen = family === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
  const alen = family === 4 ? 4 : 16;
  const srcOff = family === 4 ? IPV4_FIELD.SRC : IPV6_FIELD.SRC;
  const dstOff = family === 4 ? IPV4_FIELD.DST : IPV6_FIELD.DST;
  // Swap the addresses (their offsets are the same with or without IPv4 options).
  for (let i = 0; i < alen; i++) {
    const x = pkt[srcOff + i]!;
    pkt[srcOff + i] = pkt[dstOff + i]!;
    pkt[dstOff + i] = x;
  }
  if (family === 4) {
    const ip = v4.reset(pkt);
    ip.setHeaderLen(IPV4_HEADER_LEN);
    ip.setDscpEcn(0);
    ip.setTotalLen(IPV4_HEADER_LEN + TCP_HEADER_LEN);
    ip.setFragment(true, false, 0);
    ip.setTtl(64);
    ip.setProtocol(IPPROTO_TCP);
  } else {
    const ip = v6.reset(pkt);
    ip.setPayloadLen(TCP_HEADER_LEN);
    ip.setNextHeader(IPPROTO_TCP);
    ip.setHopLimit(64);
  }
  // The TCP header now starts right after a header without options.
  const r = tcp.reset(pkt, ipLen, ipLen + TCP_HEADER_LEN);
  r.setSrcPort(dport);
  r.setDstPort(sport);
  r.setSeq(0);
  r.setAck(ack);
  r.setHeaderLen(TCP_HEADER_LEN);
  r.setFlags(TCP_RST | TCP_ACK);
  r.setWindow(0);
  r.setUrgent(0);
  r.fillChecksum(pseudoHeaderSumAt(pkt, srcOff, dstOff, alen, IPPROTO_TCP, TCP_HEADER_LEN));
  if (family === 4) v4.fillChecksum();
  return ipLen + TCP_HEADER_LEN;
}
