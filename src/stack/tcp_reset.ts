/**
 * Refusing a TCP SYN without a connection: the RST that RFC 9293 §3.10.7.1 prescribes for a
 * segment without an ACK, `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`, written in place over the
 * SYN (addresses and ports swapped, options and payload dropped).
 *
 * @module
 */

import { checksum, pseudoHeaderSumAt } from "../wire/checksum.ts";

const IPPROTO_TCP = 6;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;
const TCP_SYN = 0x02;
const TCP_FIN = 0x01;

/**
 * Turns the segment in `pkt` (IP header at 0, TCP header at `l4Off`, segment up to
 * `pkt.length`) into the RST that refuses it, in the same buffer, and returns the reply view
 * (40 bytes for IPv4, 60 for IPv6).
 */
export function resetInPlace(pkt: Uint8Array, l4Off: number, family: 4 | 6): Uint8Array {
  const hl = (pkt[l4Off + 12]! >> 4) * 4;
  const flags = pkt[l4Off + 13]!;
  const seq = ((pkt[l4Off + 4]! << 24) | (pkt[l4Off + 5]! << 16) | (pkt[l4Off + 6]! << 8) |
    pkt[l4Off + 7]!) >>> 0;
  const segLen = pkt.length - l4Off - hl + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
  const ack = (seq + segLen) >>> 0;
  const sport = (pkt[l4Off]! << 8) | pkt[l4Off + 1]!;
  const dport = (pkt[l4Off + 2]! << 8) | pkt[l4Off + 3]!;
  const ipLen = family === 4 ? 20 : 40;
  const alen = family === 4 ? 4 : 16;
  const srcOff = family === 4 ? 12 : 8;
  const dstOff = srcOff + alen;
  // Swap the addresses (their offsets are the same with or without IPv4 options).
  for (let i = 0; i < alen; i++) {
    const t = pkt[srcOff + i]!;
    pkt[srcOff + i] = pkt[dstOff + i]!;
    pkt[dstOff + i] = t;
  }
  const t = ipLen;
  if (family === 4) {
    pkt[0] = 0x45;
    pkt[1] = 0;
    pkt[2] = 0;
    pkt[3] = 40;
    pkt[6] = 0x40; // DF
    pkt[7] = 0;
    pkt[8] = 64;
    pkt[9] = IPPROTO_TCP;
  } else {
    pkt[4] = 0;
    pkt[5] = 20;
    pkt[6] = IPPROTO_TCP;
    pkt[7] = 64;
  }
  pkt[t] = dport >> 8;
  pkt[t + 1] = dport & 0xff;
  pkt[t + 2] = sport >> 8;
  pkt[t + 3] = sport & 0xff;
  pkt.fill(0, t + 4, t + 8); // SEQ = 0
  pkt[t + 8] = ack >>> 24;
  pkt[t + 9] = (ack >>> 16) & 0xff;
  pkt[t + 10] = (ack >>> 8) & 0xff;
  pkt[t + 11] = ack & 0xff;
  pkt[t + 12] = 5 << 4;
  pkt[t + 13] = TCP_RST | TCP_ACK;
  pkt.fill(0, t + 14, t + 20); // window, checksum, urgent pointer
  const pseudo = pseudoHeaderSumAt(pkt, srcOff, dstOff, alen, IPPROTO_TCP, 20);
  const sum = checksum(pkt, t, t + 20, pseudo);
  pkt[t + 16] = sum >> 8;
  pkt[t + 17] = sum & 0xff;
  if (family === 4) {
    pkt[10] = 0;
    pkt[11] = 0;
    const ipSum = checksum(pkt, 0, 20);
    pkt[10] = ipSum >> 8;
    pkt[11] = ipSum & 0xff;
  }
  return pkt.subarray(0, t + 20);
}
