/**
 * The inbound side of a connection: what each inbound (a TUN stack, a listener) hands the
 * {@linkcode ConnectionPath} together with the flow's metadata. The path decides and dials; the
 * side knows how to refuse the flow the way its client would see it and how to move bytes.
 *
 * @module
 */

import type { Stream } from "../io/stream.ts";
import type { IcmpFlow, OutboundErrorKind, UdpFlow } from "../outbound/mod.ts";
import type { ConnControl } from "./tracker.ts";

/** How a relay ended, as a side reports it. */
export interface FlowStats {
  up: number;
  down: number;
  error?: Error;
}

/** The client side of a TCP flow. */
export interface TcpInboundSide {
  /**
   * Resolves with the bytes the client has sent so far (not consumed), once there are at least
   * `minBytes`, the client closed, or `deadline` (reactor clock) passed. Sides that cannot see
   * data before they answer the client (listeners) resolve with no bytes.
   */
  peek(minBytes: number, deadline: number): Promise<Uint8Array>;
  /**
   * Relays with `upstream` (a dialed outbound stream, or an in-process server such as DNS);
   * `onDone` runs once at the end. Returns the counters and an abort for the tracker.
   */
  start(upstream: Stream, onDone: (stats: FlowStats) => void): ConnControl;
  /**
   * Refuses the flow: a TUN flow is reset (before or after the handshake); a listener sends the
   * failure reply for `kind` (SOCKS REP code, HTTP status).
   */
  reject(kind: OutboundErrorKind, reason?: Error): void;
  /** Drops the flow without an answer where the side can (a pending SYN); else rejects. */
  drop(): void;
}

/** The client side of a UDP session. */
export interface UdpInboundSide {
  /** Datagrams received before the session was opened (the first one at least, for sniffing). */
  queuedPayloads(): readonly Uint8Array[];
  /** True once the session ended (idle timeout, eviction, the client went away). */
  readonly closed: boolean;
  /**
   * Connects the session to `flow` (an outbound's, or the DNS module's): queued datagrams go
   * first. `onDone` runs once when the session ends. Returns counters and an abort.
   */
  open(flow: UdpFlow, onDone: (error?: string) => void): ConnControl;
  /** Ends the session without a flow (rejected, or the outbound failed). */
  reject(kind: OutboundErrorKind, reason?: Error): void;
}

/** How an ICMP echo flow is answered when it is not forwarded. */
export type IcmpVerdict = "unreachable" | "reply" | "drop";

/** The client side of an ICMP echo flow (source, destination, identifier). */
export interface IcmpInboundSide {
  readonly closed: boolean;
  /**
   * Answers the flow's requests without forwarding them: host unreachable, a local echo reply
   * (`reject` with `method: reply`), or nothing.
   */
  answer(verdict: IcmpVerdict): void;
  /** Forwards the requests through `upstream`; `onDone` runs once when the flow ends. */
  open(upstream: IcmpFlow, onDone: (error?: string) => void): ConnControl;
  /** Drops the flow's requests (no decision could be made). */
  reject(kind: OutboundErrorKind, reason?: Error): void;
}
