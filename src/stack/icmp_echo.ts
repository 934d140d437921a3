/**
 * Local answers to ICMP echo requests: the echo reply a `reject` with `method: "reply"` (or a
 * ping to the TUN's own network) gets, and the "host unreachable" of a plain `reject`. Which
 * answer a request gets is decided by the routing of ICMP flows (`src/tun/icmp_flows.ts`);
 * requests routed `direct` are sent for real instead.
 *
 * The echo reply, as sing-box's system stack builds it:
 * an ICMPv4 echo request (type 8, RFC 792) or ICMPv6 echo request (type 128, RFC 4443 §4.1)
 * becomes an echo reply in place — addresses swapped, TTL/hop limit reset, type changed, IP
 * options and IPv6 extension headers removed — with checksums updated incrementally
 * (RFC 1624): swapping addresses leaves the pseudo-header sum unchanged, so only the type word
 * changes the ICMP checksum.
 *
 * @module
 */

import {
  checksum,
  ICMPV4_DEST_UNREACHABLE,
  ICMPV4_ECHO_REPLY,
  ICMPV4_ECHO_REQUEST,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  IPPROTO_ICMPV6,
  updateChecksum16,
} from "../wire/mod.ts";

/**
 * Turns the echo request in `packet` (IP header at 0, ICMP message at `l4Off..l4End`) into an
 * echo reply in the same buffer and returns the reply (a view of `packet`), or null when it is not
 * an echo request to answer: another ICMP type, a code other than 0, a message shorter than 8
 * bytes, or multicast/broadcast addresses.
 */
export function echoReplyInPlace(
  packet: Uint8Array,
  version: number,
  l4Off: number,
  l4End: number,
): Uint8Array | null {
  const len = l4End - l4Off;
  if (len < 8) return null;
  const type = packet[l4Off]!;
  if (packet[l4Off + 1] !== 0) return null;
  if (version === 4) {
    if (type !== ICMPV4_ECHO_REQUEST) return null;
    // Never answer to or from multicast (224/4), limited broadcast, or 0.0.0.0 sources.
    if (packet[16]! >= 224 || packet[12]! >= 224 || packet[12] === 0) return null;
    const oldSum = (packet[l4Off + 2]! << 8) | packet[l4Off + 3]!;
    const newSum = updateChecksum16(oldSum, ICMPV4_ECHO_REQUEST << 8, ICMPV4_ECHO_REPLY << 8);
    // Drop IP options: move the message right after a 20-byte header.
    if (l4Off !== 20) packet.copyWithin(20, l4Off, l4End);
    const total = 20 + len;
    for (let i = 0; i < 4; i++) {
      const t = packet[12 + i]!;
      packet[12 + i] = packet[16 + i]!;
      packet[16 + i] = t;
    }
    packet[0] = 0x45;
    packet[2] = total >>> 8;
    packet[3] = total;
    packet[6] = packet[6]! & 0x40; // keep DF; this is not a fragment
    packet[7] = 0;
    packet[8] = 64;
    packet[10] = 0;
    packet[11] = 0;
    const c = checksum(packet, 0, 20);
    packet[10] = c >>> 8;
    packet[11] = c;
    packet[20] = ICMPV4_ECHO_REPLY;
    packet[22] = newSum >>> 8;
    packet[23] = newSum;
    return packet.subarray(0, total);
  }
  if (type !== ICMPV6_ECHO_REQUEST) return null;
  // No replies to or from multicast (ff00::/8), or from the unspecified address.
  if (packet[24] === 0xff || packet[8] === 0xff) return null;
  let unspecified = true;
  for (let i = 8; i < 24; i++) if (packet[i] !== 0) unspecified = false;
  if (unspecified) return null;
  const oldSum = (packet[l4Off + 2]! << 8) | packet[l4Off + 3]!;
  const newSum = updateChecksum16(oldSum, ICMPV6_ECHO_REQUEST << 8, ICMPV6_ECHO_REPLY << 8);
  if (l4Off !== 40) packet.copyWithin(40, l4Off, l4End);
  for (let i = 0; i < 16; i++) {
    const t = packet[8 + i]!;
    packet[8 + i] = packet[24 + i]!;
    packet[24 + i] = t;
  }
  packet[4] = len >>> 8;
  packet[5] = len;
  packet[6] = IPPROTO_ICMPV6;
  packet[7] = 64;
  packet[40] = ICMPV6_ECHO_REPLY;
  packet[42] = newSum >>> 8;
  packet[43] = newSum;
  return packet.subarray(0, 40 + len);
}

/** Largest ICMPv6 error that fits the IPv6 minimum MTU (RFC 4443 §2.4 (c)): 1280 - 40. */
const ICMPV6_ERROR_MAX = 1240;
/** What an ICMPv4 error quotes after the IP header (RFC 792: the first 64 bits of data). */
const ICMPV4_QUOTE_DATA = 8;

/**
 * Writes "host unreachable" for the packet `request[0..end)` (IP header at 0) into `out` and returns the
 * ICMP message's length: ICMPv4 type 3 code 1 quoting the IP header and the first 8 bytes of
 * data (RFC 792), or ICMPv6 type 1 code 3 ("address unreachable") quoting as much of the packet
 * as fits in the IPv6 minimum MTU (RFC 4443 §3.1). The checksum is left 0 (the packet builder
 * fills it). sing-box answers a `reject` of an echo request this way.
 */
export function hostUnreachable(
  request: Uint8Array,
  version: number,
  l4Off: number,
  end: number,
  out: Uint8Array,
): number {
  const quote = version === 4
    ? request.subarray(0, Math.min(end, l4Off + ICMPV4_QUOTE_DATA))
    : request.subarray(0, Math.min(end, ICMPV6_ERROR_MAX - 8));
  out[0] = version === 4 ? ICMPV4_DEST_UNREACHABLE : ICMPV6_DEST_UNREACHABLE;
  out[1] = version === 4 ? 1 : 3;
  out.fill(0, 2, 8);
  out.set(quote, 8);
  return 8 + quote.length;
}
