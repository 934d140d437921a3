/**
 * IP protocol numbers (IANA "Assigned Internet Protocol Numbers") used by the views.
 *
 * @module
 */

/** IPv6 Hop-by-Hop Options header (RFC 8200 §4.3). */
export const IPPROTO_HOPOPTS = 0;
/** ICMP for IPv4 (RFC 792). */
export const IPPROTO_ICMP = 1;
/** TCP (RFC 9293). */
export const IPPROTO_TCP = 6;
/** UDP (RFC 768). */
export const IPPROTO_UDP = 17;
/** IPv6 Routing header (RFC 8200 §4.4). */
export const IPPROTO_ROUTING = 43;
/** IPv6 Fragment header (RFC 8200 §4.5). */
export const IPPROTO_FRAGMENT = 44;
/** Encapsulating Security Payload (RFC 4303). */
export const IPPROTO_ESP = 50;
/** Authentication Header (RFC 4302). */
export const IPPROTO_AH = 51;
/** ICMP for IPv6 (RFC 4443). */
export const IPPROTO_ICMPV6 = 58;
/** IPv6 "No Next Header" (RFC 8200 §4.7). */
export const IPPROTO_NONE = 59;
/** IPv6 Destination Options header (RFC 8200 §4.6). */
export const IPPROTO_DSTOPTS = 60;

/** Reads a big-endian 16-bit value. */
export function get16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

/** Writes a big-endian 16-bit value. */
export function set16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}

/** Reads a big-endian 32-bit value as an unsigned number. */
export function get32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** Writes a big-endian 32-bit value. */
export function set32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}
