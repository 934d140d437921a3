/**
 * Zero-copy packet views for IPv4, IPv6 (with extension headers), TCP, UDP and ICMP, TCP option
 * parsing and emission, the Internet checksum, and TCP sequence arithmetic. Nothing here keeps
 * state or does I/O; this is the one place that knows where each header field lives.
 *
 * Each protocol has a view class over a `Uint8Array` (one `check()` up front, then accessor
 * pairs such as `srcPort()`/`setSrcPort()`, and `reset()` to re-point it without allocating). The
 * packet path (`src/stack/`) reads and writes every header through them. Checks return a
 * {@linkcode WireError} string instead of throwing. (Tests build and parse whole packets from
 * plain values with the `*Repr` classes in `tests/_helpers/packets.ts`, through the same views.)
 *
 * @module
 */

export * from "./checksum.ts";
export * from "./error.ts";
export * from "./icmp.ts";
export * from "./ip.ts";
export * from "./ipv4.ts";
export * from "./ipv6.ts";
export * from "./seq.ts";
export * from "./tcp.ts";
export * from "./udp.ts";
