/**
 * Zero-copy packet views and parsed values for IPv4, IPv6 (with extension headers), TCP, UDP and
 * ICMP, the Internet checksum, and TCP sequence arithmetic. Nothing here keeps state or does I/O.
 *
 * Each protocol has a view class over a `Uint8Array` (one `check()` up front, then accessor
 * pairs such as `srcPort()`/`setSrcPort()`, and `reset()` to re-point it) and a `*Repr` class with
 * `static parse(view)` and `emit(view)`. Parsers return a {@linkcode WireError} string instead of
 * throwing.
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
