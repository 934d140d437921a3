/**
 * The contract between listener inbounds (`socks`, `http`, `mixed`) and whatever routes their
 * connections (the router; {@linkcode createOutboundHandler} for tests and the demo).
 *
 * An inbound parses the client's request, then hands the handler an
 * {@linkcode InboundConnection} (TCP) or an {@linkcode InboundPacketConnection} (a SOCKS5 UDP
 * association). The handler dials, then calls `accept` (the inbound sends its success reply and
 * gives back the client socket) or `reject(kind)` (the inbound sends the matching failure
 * reply: SOCKS5 REP code, SOCKS4 0x5B, HTTP 403/502/504, and closes).
 *
 * @module
 */

import type { SockAddr } from "../../ffi/sockaddr.ts";
import type { Stream } from "../io/stream.ts";
import type { Destination, OutboundErrorKind, UdpFlow } from "../outbound/mod.ts";

/** What a client asked for, with where it came from. */
export interface InboundRequest {
  /** Connection id for logs. */
  id: number;
  /** Inbound tag. */
  inbound: string;
  inboundType: "socks" | "http" | "mixed" | "direct" | "tproxy" | "redirect";
  network: "tcp" | "udp";
  source: SockAddr;
  /** For UDP: the first datagram's destination (later datagrams carry their own). */
  destination: Destination;
  /** The authenticated user name, "" without authentication (for `auth_user` rules). */
  user: string;
  /**
   * The protocol the client spoke: `socks4`, `socks4a`, `socks5`, `http-connect`, `http`;
   * `none` for inbounds that take plain connections (`direct`, `tproxy`).
   */
  protocol: "socks4" | "socks4a" | "socks5" | "http-connect" | "http" | "none";
}

/** What `accept` gives back: the client socket, now the handler's to relay and close. */
export interface AcceptedClient {
  client: Stream;
  /**
   * Bytes that must be written to the upstream before relaying (a plain HTTP proxy request,
   * rewritten to origin form), or null.
   */
  upstreamFirst: Uint8Array | null;
}

/** A TCP request waiting for the handler's decision. */
export interface InboundConnection {
  readonly request: InboundRequest;
  /**
   * Sends the success reply (`bound` is reported as SOCKS BND.ADDR, default 0.0.0.0:0) and
   * hands the client socket over. Rejects when the client is gone.
   */
  accept(bound?: SockAddr): Promise<AcceptedClient>;
  /** Sends the failure reply for `kind` and closes the client. */
  reject(kind: OutboundErrorKind, reason?: unknown): void;
}

/** A SOCKS5 UDP association waiting for the handler's decision (made on its first datagram). */
export interface InboundPacketConnection {
  readonly request: InboundRequest;
  /**
   * Starts moving datagrams between the client and `flow`; the inbound owns the flow from now
   * on and closes it with the association.
   */
  accept(flow: UdpFlow): void;
  /** Ends the association (closes the control connection). */
  reject(kind: OutboundErrorKind, reason?: unknown): void;
}

/** Receives every request a listener inbound accepts. */
export interface InboundHandler {
  onConnection(conn: InboundConnection): void;
  onPacketConnection(conn: InboundPacketConnection): void;
}
