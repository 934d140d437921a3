/**
 * DNS sniffer: a structural parse of a DNS message (UDP payload, or TCP with its 2-byte length
 * prefix). sing-box marks any message that `miekg/dns` can unpack as protocol `dns` and does not
 * set a domain; tunbox does the same and also returns the first question for logs.
 *
 * Checks: 12-byte header, every question (name + type + class) and resource record (name, type,
 * class, TTL, RDLENGTH and RDATA bounds) the counts announce, names of at most 255 bytes with
 * labels of at most 63 and compression pointers that point backwards. Trailing bytes are
 * ignored (as miekg/dns does). Difference from sing-box: a message without a question is not
 * counted as DNS; otherwise 12 zero bytes (or any short binary payload with zero counts) would
 * be "DNS". Over TCP, a prefix that already shows no question or a compressed/odd first label
 * is rejected before the whole message arrives (any two bytes are a plausible length, so without
 * this every unknown protocol would wait for the sniff timeout).
 *
 * @module
 */

import { matched, NEED_MORE, noMatch, type SniffResult } from "./result.ts";

/** Sniffs one UDP payload. */
export function sniffDnsPacket(packet: Uint8Array): SniffResult {
  if (packet.length < 12) return noMatch("shorter than a DNS header");
  const qd = (packet[4]! << 8) | packet[5]!;
  const an = (packet[6]! << 8) | packet[7]!;
  const ns = (packet[8]! << 8) | packet[9]!;
  const ar = (packet[10]! << 8) | packet[11]!;
  if (qd === 0) return noMatch("DNS message without a question");
  let off = 12;
  let question: { name: string; type: number } | null = null;
  for (let i = 0; i < qd; i++) {
    const name = readName(packet, off, i === 0);
    if (name === null) return noMatch("malformed DNS question name");
    off = name.next;
    if (off + 4 > packet.length) return noMatch("truncated DNS question");
    if (i === 0) question = { name: name.text, type: (packet[off]! << 8) | packet[off + 1]! };
    off += 4;
  }
  for (let i = 0; i < an + ns + ar; i++) {
    const name = readName(packet, off, false);
    if (name === null) return noMatch("malformed DNS record name");
    off = name.next;
    if (off + 10 > packet.length) return noMatch("truncated DNS record");
    const rdlength = (packet[off + 8]! << 8) | packet[off + 9]!;
    off += 10 + rdlength;
    if (off > packet.length) return noMatch("truncated DNS record data");
  }
  return { ...matched("dns"), dnsQuestion: question! };
}

/** Sniffs DNS over TCP: a 2-byte length, then one message. */
export function sniffDnsStream(data: Uint8Array): SniffResult {
  if (data.length < 2) return NEED_MORE;
  const length = (data[0]! << 8) | data[1]!;
  if (length === 0) return noMatch("empty DNS message");
  if (length < 12) return noMatch("DNS message shorter than a header");
  if (data.length < 2 + length) {
    // Decide early when the part already here cannot start a query.
    if (data.length >= 2 + 6 && ((data[6]! << 8) | data[7]!) === 0) {
      return noMatch("DNS message without a question");
    }
    if (data.length >= 2 + 13) {
      const label = data[14]!;
      if ((label & 0xc0) !== 0) return noMatch("malformed DNS question name");
    }
    return NEED_MORE;
  }
  return sniffDnsPacket(data.subarray(2, 2 + length));
}

/**
 * Reads a possibly compressed name at `off`. Returns the name (dotted, "." for the root) and
 * the offset after it in the original position, or null when malformed.
 */
function readName(
  p: Uint8Array,
  off: number,
  wantText: boolean,
): { text: string; next: number } | null {
  let text = "";
  let next = -1;
  let total = 0;
  let jumps = 0;
  for (;;) {
    if (off >= p.length) return null;
    const len = p[off]!;
    if (len === 0) {
      if (next < 0) next = off + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (off + 1 >= p.length) return null;
      const target = ((len & 0x3f) << 8) | p[off + 1]!;
      if (next < 0) next = off + 2;
      if (target >= off || ++jumps > 126) return null; // only backwards, bounded
      off = target;
      continue;
    }
    if (kind !== 0) return null; // 0x40/0x80 label types are obsolete
    if (off + 1 + len > p.length) return null;
    total += len + 1;
    if (total > 255) return null;
    if (wantText) {
      for (let i = off + 1; i <= off + len; i++) {
        const c = p[i]!;
        text += c === 0x2e || c < 0x21 || c > 0x7e
          ? `\\${String(c).padStart(3, "0")}`
          : String.fromCharCode(c);
      }
      text += ".";
    }
    off += 1 + len;
  }
  return { text: text === "" ? "." : text, next };
}
