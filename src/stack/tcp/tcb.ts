/**
 * The base of one userspace TCP connection, its transmission control block in RFC 9293's words
 * (§3.3.1): the identity (addresses and ports), the state, the application's handler, the
 * counters, and the options both SYNs agreed on. The halves build on it in layers, each in its own
 * file, as gVisor splits a TCP endpoint into `rcv`, `snd` and timers:
 *
 * - {@linkcode TcpReceiver} (`receiver.ts`): receive sequence variables, the receive buffer,
 *   delivery of in-order text, when to acknowledge and what window to advertise;
 * - {@linkcode TcpSender} (`sender.ts`): send sequence variables, the send buffer, ACK
 *   processing, RTT, congestion control and loss recovery, and building every outgoing segment;
 * - {@linkcode TcpTimeouts} (`timeouts.ts`): the deadlines of RFC 9293 §3.10.8;
 * - {@linkcode TcpConnection} (`connection.ts`): the state machine (SEGMENT ARRIVES, user calls)
 *   and the application API.
 *
 * One class chain rather than separate objects: every field stays a plain property of the one
 * connection object, so the per-segment path reads them without an extra hop or getter (a split
 * into separate receiver and sender objects with `#private` fields and getters measured 9-18%
 * slower on receive). Fields shared between layers are `protected`, the rest `private`.
 *
 * @module
 */

import { FlowNode } from "../flow_table.ts";
import type { PacketBuilder } from "../packet_builder.ts";
import type { RingAllocator } from "./buffer_pool.ts";
import type { TcpTunables } from "./config.ts";
import type { TimerEntry } from "./timers.ts";
import {
  CLOSED,
  type CloseReason,
  type ConnectionHandler,
  type TcpConnectionCounters,
} from "./types.ts";

/** @internal What a connection needs from its stack. */
export interface StackContext {
  readonly tun: TcpTunables;
  /** Latest time seen by the stack (ms). */
  readonly now: number;
  readonly out: PacketBuilder;
  /** Shared ring buffers. */
  readonly pool: RingAllocator;
  random32(): number;
  schedule(conn: TcpControlBlock): void;
  stateChanged(conn: TcpControlBlock, from: number, to: number): void;
  detach(conn: TcpControlBlock): void;
}

/** The state every layer of a connection shares; see the module documentation. */
export abstract class TcpControlBlock extends FlowNode
  implements TimerEntry, TcpConnectionCounters {
  /** @internal */ heapIndex = -1;
  /** @internal */ heapKey = Infinity;
  /** Numeric state (an index into `TCP_STATES`). */
  protected st: number = CLOSED;

  /** Our address (the destination the application connected to). */
  readonly localAddr: Uint8Array;
  /** The application's address. */
  readonly remoteAddr: Uint8Array;
  /** The event receiver; null after close notification. */
  handler: ConnectionHandler | null;

  bytesReceived = 0;
  bytesSent = 0;
  segmentsReceived = 0;
  segmentsSent = 0;
  retransmits = 0;
  retransmittedBytes = 0;

  // Options both SYNs agreed on (RFC 7323, RFC 2018).
  protected wsOk = false;
  protected sackOk = false;
  protected tsOk = false;

  /** An ACK must go out with the next flush. */
  protected ackNow = false;
  /** `onClose` was called. */
  protected closeNotified = false;

  /** @internal */
  constructor(
    protected readonly ctx: StackContext,
    version: number,
    localAddr: Uint8Array,
    localPort: number,
    remoteAddr: Uint8Array,
    remotePort: number,
    handler: ConnectionHandler,
  ) {
    super();
    this.localAddr = localAddr;
    this.remoteAddr = remoteAddr;
    this.setTuple(version, remoteAddr, remotePort, localAddr, localPort);
    this.handler = handler;
  }

  /** @internal True once the connection reached CLOSED. */
  isClosed(): boolean {
    return this.st === CLOSED;
  }

  protected setState(s: number): void {
    const from = this.st;
    if (from === s) return;
    this.st = s;
    this.ctx.stateChanged(this, from, s);
  }

  /** Sends what can be sent and a pending ACK, then runs deferred notifications. */
  protected abstract flush(): void;
  /** Enters CLOSED, leaves the stack, and reports `reason`. */
  protected abstract terminate(reason: CloseReason): void;
}
