/**
 * Types shared by the parts of one userspace TCP connection (`TcpConnection` in `connection.ts` and the
 * halves it is built from): RFC 9293 states, the application's handler, the counters, the segment
 * being processed and the peer's SYN options.
 *
 * @module
 */

import { TcpOptions } from "../../wire/mod.ts";

/** RFC 9293 connection states. */
export type TcpState =
  | "CLOSED"
  | "LISTEN"
  | "SYN-SENT"
  | "SYN-RECEIVED"
  | "ESTABLISHED"
  | "FIN-WAIT-1"
  | "FIN-WAIT-2"
  | "CLOSE-WAIT"
  | "CLOSING"
  | "LAST-ACK"
  | "TIME-WAIT";

/** State names indexed by the numeric state. */
export const TCP_STATES: readonly TcpState[] = [
  "CLOSED",
  "LISTEN",
  "SYN-SENT",
  "SYN-RECEIVED",
  "ESTABLISHED",
  "FIN-WAIT-1",
  "FIN-WAIT-2",
  "CLOSE-WAIT",
  "CLOSING",
  "LAST-ACK",
  "TIME-WAIT",
];

// Numeric states (indexes into TCP_STATES).
/** @internal */ export const CLOSED = 0;
/** @internal */ export const SYN_SENT = 2;
/** @internal */ export const SYN_RECEIVED = 3;
/** @internal */ export const ESTABLISHED = 4;
/** @internal */ export const FIN_WAIT_1 = 5;
/** @internal */ export const FIN_WAIT_2 = 6;
/** @internal */ export const CLOSE_WAIT = 7;
/** @internal */ export const CLOSING = 8;
/** @internal */ export const LAST_ACK = 9;
/** @internal */ export const TIME_WAIT = 10;

/**
 * Why a connection ended: `closed` (both sides finished), `reset` (the peer sent RST), `timeout`
 * (retransmissions, keepalive or idle timeout gave up), `aborted` (the application called
 * `abort()`), `refused` (an active open was answered with RST).
 */
export type CloseReason = "closed" | "reset" | "timeout" | "aborted" | "refused";

/** What the application supplies to receive events of one connection. */
export interface ConnectionHandler {
  /**
   * New in-order data. Return how many bytes were consumed (0..view.length). Bytes not consumed
   * stay in the receive buffer, the advertised window shrinks, and no more data is offered until
   * the application calls `pull()`. The view is valid only during the call.
   */
  onData(view: Uint8Array): number;
  /** The handshake completed. */
  onEstablished?(): void;
  /** Send-buffer space freed after a write found the buffer full. */
  onWritable?(): void;
  /** The peer half-closed, after all its data was consumed. */
  onFin?(): void;
  /** The connection ended; called exactly once, last. */
  onClose?(reason: CloseReason): void;
}

/** Per-connection counters. */
export interface TcpConnectionCounters {
  /** Payload bytes received in order. */
  bytesReceived: number;
  /** Payload bytes sent for the first time. */
  bytesSent: number;
  segmentsReceived: number;
  segmentsSent: number;
  /** Segments retransmitted (timeout, fast retransmit, recovery, probes). */
  retransmits: number;
  retransmittedBytes: number;
}

/** @internal The fields of the segment being processed; one instance is reused. */
export class Segment {
  buf: Uint8Array = new Uint8Array(0);
  seq = 0;
  ack = 0;
  flags = 0;
  /** Raw window field. */
  wnd = 0;
  payloadOff = 0;
  payloadLen = 0;
  readonly opts: TcpOptions = new TcpOptions();
}

/** SYN options recorded from the peer's SYN. */
export interface SynOptions {
  irs: number;
  /** Raw window of the SYN (never scaled, RFC 7323 §2.2). */
  window: number;
  mss: number;
  windowScale: number;
  sackPermitted: boolean;
  hasTimestamp: boolean;
  tsVal: number;
}

/** Clamps what a consumer reports as consumed to `0..max` (integers). */
export function clampConsumed(k: number, max: number): number {
  if (!(k > 0)) return 0;
  if (k >= max) return max;
  return Math.floor(k);
}
