/**
 * One TCP connection: the RFC 9293 state machine, written as one explicit function per event
 * ("SEGMENT ARRIVES" §3.10.7, user calls §3.10.1–§3.10.5, timeouts §3.10.8) whose branches cite the
 * rule they implement. Supporting pieces live next to it: {@linkcode SendBuffer} and
 * {@linkcode RecvBuffer} (with out-of-order reassembly), {@linkcode RttEstimator} (RFC 6298),
 * {@linkcode NewReno} (RFC 5681/6582), {@linkcode SackScoreboard} and {@linkcode SackReceiver}
 * (RFC 2018/6675).
 *
 * Connections are created by {@linkcode TcpStack} (passive open through `PendingFlow.accept()`, or
 * `TcpStack.connect()` for an active open). Nothing here reads a clock: segment input and timers
 * receive `now` (ms); application calls use the stack's latest `now`.
 *
 * Callbacks into the {@linkcode ConnectionHandler}: `onData` is called synchronously while a
 * segment is processed (the view is only valid during the call); `onFin`, `onWritable` and
 * `onClose` are called after the segment or call that caused them is fully processed. Handlers may
 * call any method of the connection from any callback; they must not throw.
 *
 * @module
 */

import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from "../../wire/seq.ts";
import {
  emitTcpOptions,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TcpOptions,
  tcpOptionsLen,
} from "../../wire/tcp.ts";
import { FlowNode } from "../flow_table.ts";
import { PacketBuilder } from "../packet_builder.ts";
import type { TcpTunables } from "./config.ts";
import type { RingAllocator } from "./buffer_pool.ts";
import { NewReno } from "./congestion.ts";
import { RecvBuffer } from "./recv_buffer.ts";
import { RttEstimator } from "./rtt.ts";
import { MAX_SACK_BLOCKS, SackReceiver, SackScoreboard } from "./sack.ts";
import { SendBuffer } from "./send_buffer.ts";
import type { TimerEntry } from "./timers.ts";

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

const CLOSED = 0;
const SYN_SENT = 2;
const SYN_RECEIVED = 3;
const ESTABLISHED = 4;
const FIN_WAIT_1 = 5;
const FIN_WAIT_2 = 6;
const CLOSE_WAIT = 7;
const CLOSING = 8;
const LAST_ACK = 9;
const TIME_WAIT = 10;

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

/** @internal What a connection needs from its stack. */
export interface StackContext {
  readonly tun: TcpTunables;
  /** Latest time seen by the stack (ms). */
  readonly now: number;
  readonly out: PacketBuilder;
  /** Shared ring buffers. */
  readonly pool: RingAllocator;
  random32(): number;
  schedule(conn: TcpConnection): void;
  stateChanged(conn: TcpConnection, from: number, to: number): void;
  detach(conn: TcpConnection): void;
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

const TS_OPT_LEN = 12;
const KEEPALIVE_STATES = (1 << ESTABLISHED) | (1 << CLOSE_WAIT) | (1 << FIN_WAIT_2);
/** States in which data may still be sent (RFC 9293 §3.10.2 SEND, plus the FIN states). */
const SEND_STATES = (1 << ESTABLISHED) | (1 << CLOSE_WAIT) | (1 << FIN_WAIT_1) | (1 << CLOSING) |
  (1 << LAST_ACK);
/** States in which received text is processed (§3.10.7.4 seventh). */
const TEXT_STATES = (1 << ESTABLISHED) | (1 << FIN_WAIT_1) | (1 << FIN_WAIT_2);

/** Shared `{start, end}` for gap searches. */
const gap = { start: 0, end: 0 };

/** A TCP connection. Created by {@linkcode TcpStack}; see the module documentation. */
export class TcpConnection extends FlowNode implements TimerEntry, TcpConnectionCounters {
  /** @internal */ heapIndex = -1;
  /** @internal */ heapKey = Infinity;
  /** @internal numeric state */ st: number = CLOSED;

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

  // Send sequence variables (RFC 9293 §3.3.1). sndMax is the highest sequence number sent;
  // sndNxt moves back to sndUna after a retransmission timeout (go-back-N).
  /** @internal */ iss = 0;
  /** @internal */ sndUna = 0;
  /** @internal */ sndNxt = 0;
  /** @internal */ sndMax = 0;
  /** @internal scaled send window */ sndWnd = 0;
  /** @internal */ sndWl1 = 0;
  /** @internal */ sndWl2 = 0;
  /** @internal */ maxSndWnd = 0;
  /** @internal */ sndShift = 0;
  /** @internal payload bytes per segment we send */ sndMss = 536;
  /** @internal */ readonly sendBuf: SendBuffer;
  /** @internal */ finQueued = false;
  /** @internal sequence number of our FIN */ finSeq = 0;

  // Receive sequence variables.
  /** @internal */ irs = 0;
  /** @internal */ rcvNxt = 0;
  /** @internal */ rcvShift = 0;
  /** @internal right edge last advertised */ rcvAdv = 0;
  /** @internal RCV.NXT in the last ACK sent (Last.ACK.sent of RFC 7323) */ lastAckSent = 0;
  /** @internal */ readonly ourMss: number;
  /** @internal */ readonly recvBuf: RecvBuffer;
  private rcvLargest = 0;
  private finReceived = false;
  private oooFin = false;
  private oooFinSeq = 0;
  private finDelivered = false;
  private readPaused = false;
  private readClosed = false;

  // Options (RFC 7323, RFC 2018).
  /** @internal */ wsOk = false;
  /** @internal */ sackOk = false;
  /** @internal */ tsOk = false;
  /** @internal */ tsRecent = 0;
  private tsOffset = 0;

  // Timers: absolute deadlines in ms, Infinity when off.
  /** @internal */ rtoAt = Infinity;
  /** @internal */ persistAt = Infinity;
  /** @internal */ delackAt = Infinity;
  /** @internal */ timeWaitAt = Infinity;
  private lastRecvAt = 0;
  private lastSendAt = 0;
  private keepaliveProbes = 0;
  private keepaliveSentAt = 0;
  /** @internal consecutive retransmission timeouts */ retries = 0;
  /** @internal */ readonly rtt: RttEstimator;
  private rttTiming = false;
  private rttSeq = 0;
  private rttTime = 0;

  // Congestion control and loss recovery.
  /** @internal */ readonly cc: NewReno = new NewReno();
  /** @internal */ dupAcks = 0;
  /** @internal */ inRecovery = false;
  /** @internal */ recover = 0;
  /** @internal highest sequence number retransmitted in this recovery */ highRxt = 0;
  /** @internal */ readonly scoreboard: SackScoreboard;
  private readonly sackRecv = new SackReceiver();
  private readonly sackOut = new Uint32Array(2 * MAX_SACK_BLOCKS);

  /** @internal an ACK must go out with the next flush */ ackNow = false;
  private busy = 0;
  private writeBlocked = false;
  private closeNotified = false;
  private pendingClose: CloseReason | null = null;

  /** @internal */
  constructor(
    private readonly ctx: StackContext,
    version: number,
    localAddr: Uint8Array,
    localPort: number,
    remoteAddr: Uint8Array,
    remotePort: number,
    handler: ConnectionHandler,
  ) {
    super();
    const t = ctx.tun;
    this.localAddr = localAddr;
    this.remoteAddr = remoteAddr;
    this.setTuple(version, remoteAddr, remotePort, localAddr, localPort);
    this.handler = handler;
    this.sendBuf = new SendBuffer(t.sendBufferSize, ctx.pool);
    this.recvBuf = new RecvBuffer(t.recvBufferSize, t.maxOooRanges, ctx.pool);
    this.scoreboard = new SackScoreboard(t.maxOooRanges);
    this.rtt = new RttEstimator(t.initialRtoMs, t.minRtoMs, t.maxRtoMs);
    this.ourMss = Math.min(65535, t.mtu - PacketBuilder.ipHeaderLen(version) - 20);
    this.tsOffset = ctx.random32();
  }

  // ------------------------------------------------------------------------------------------
  // Public API

  /** The RFC 9293 state name. */
  get state(): TcpState {
    return TCP_STATES[this.st]!;
  }

  /** In-order bytes received and not yet consumed by the application. */
  get readableBytes(): number {
    return this.recvBuf.len;
  }

  /** Bytes that {@linkcode TcpConnection.write} would accept now. */
  sendSpace(): number {
    if (!this.canWrite()) return 0;
    const free = this.sendBuf.free;
    if (free === 0) this.writeBlocked = true;
    return free;
  }

  /** Copies as much of `data` into the send buffer as fits and sends what the windows allow. */
  write(data: Uint8Array): number {
    if (!this.canWrite()) return 0;
    const n = this.sendBuf.write(data);
    if (n < data.length) this.writeBlocked = true;
    if (n > 0) this.flush();
    return n;
  }

  /**
   * Zero-copy write: `fill` receives the largest contiguous free region of the send ring (for
   * example to `read(2)` a socket into) and returns how many bytes it wrote there. Returns that
   * count (0 when the buffer is full or the connection cannot send).
   */
  writeWith(fill: (dst: Uint8Array) => number): number {
    if (!this.canWrite()) return 0;
    const region = this.sendBuf.writable();
    if (region.length === 0) {
      this.writeBlocked = true;
      return 0;
    }
    const n = fill(region);
    if (!Number.isInteger(n) || n < 0 || n > region.length) {
      throw new RangeError(`writeWith() fill returned ${n}, expected 0..${region.length}`);
    }
    if (!this.canWrite()) return 0;
    this.sendBuf.commit(n);
    if (n === region.length && this.sendBuf.free === 0) this.writeBlocked = true;
    if (n > 0) this.flush();
    return n;
  }

  /**
   * Offers buffered received data to `consumer` (default: the handler's `onData`) until it
   * consumes less than offered or the buffer is empty; resumes offering new data afterwards.
   * Returns the bytes consumed. Sends a window update when the window opened enough.
   */
  pull(consumer?: (view: Uint8Array) => number): number {
    const take = consumer ?? ((v: Uint8Array) => this.handler ? this.handler.onData(v) : v.length);
    let total = 0;
    this.readPaused = false;
    while (this.recvBuf.len > 0) {
      const view = this.recvBuf.readable();
      const k = clampConsumed(take(view), view.length);
      if (this.recvBuf.len === 0) break; // closed or aborted inside the consumer
      this.recvBuf.consume(k);
      total += k;
      if (k < view.length) {
        this.readPaused = true;
        break;
      }
    }
    if (this.recvBuf.len === 0 && this.recvBuf.ooo.count === 0) this.recvBuf.releaseIfEmpty();
    if (this.st !== CLOSED && this.windowUpdateDue()) this.ackNow = true;
    this.flush();
    return total;
  }

  /**
   * Half-closes: a FIN follows the buffered data (RFC 9293 §3.10.4 CLOSE). ESTABLISHED goes to
   * FIN-WAIT-1 and CLOSE-WAIT to LAST-ACK at once; in SYN-SENT and SYN-RECEIVED the FIN waits for
   * the handshake to complete.
   */
  shutdownWrite(): void {
    switch (this.st) {
      case SYN_SENT:
      // §3.10.4 says to delete the TCB in SYN-SENT; this stack queues the FIN instead, as it does
      // in SYN-RECEIVED, so data written before the handshake completes is still delivered.
      case SYN_RECEIVED:
      case ESTABLISHED:
      case CLOSE_WAIT:
        if (this.finQueued) return;
        this.finQueued = true;
        this.finSeq = seqAdd(this.dataStart(), this.sendBuf.len);
        if (this.st === ESTABLISHED) this.setState(FIN_WAIT_1);
        else if (this.st === CLOSE_WAIT) this.setState(LAST_ACK);
        this.flush();
        return;
    }
  }

  /**
   * Closes both directions: buffered and later incoming data is discarded (still acknowledged),
   * and a FIN follows the buffered outgoing data.
   */
  close(): void {
    this.readClosed = true;
    this.readPaused = false;
    const had = this.recvBuf.len;
    this.recvBuf.consume(had);
    if (this.st === CLOSED) {
      if (this.pendingClose) this.notifyClose(this.pendingClose);
      return;
    }
    this.shutdownWrite();
    if (this.st === FIN_WAIT_2 && this.timeWaitAt === Infinity) {
      this.timeWaitAt = this.ctx.now + this.ctx.tun.finWait2TimeoutMs;
    }
    if (had > 0 && this.st !== CLOSED) {
      this.ackNow = true;
      this.flush();
    }
  }

  /** Resets the connection (RFC 9293 §3.10.5 ABORT): sends RST and reports `aborted`. */
  abort(): void {
    if (this.st === CLOSED) {
      if (this.pendingClose) this.notifyClose("aborted");
      return;
    }
    if (
      this.st === SYN_RECEIVED || this.st === ESTABLISHED || this.st === FIN_WAIT_1 ||
      this.st === FIN_WAIT_2 || this.st === CLOSE_WAIT
    ) {
      // §3.10.5: "Send a reset segment: <SEQ=SND.NXT><CTL=RST>" (SND.NXT being the highest
      // sequence number sent: after a timeout this stack moves sndNxt back, sndMax stays).
      this.sendControl(this.sndMax, TCP_RST);
    }
    this.terminate("aborted");
  }

  // ------------------------------------------------------------------------------------------
  // Setup

  /** @internal Passive open: the application accepted a SYN; sends SYN-ACK (§3.10.7.2). */
  openPassive(syn: SynOptions, now: number): void {
    this.irs = syn.irs;
    this.rcvNxt = seqAdd(syn.irs, 1);
    this.lastAckSent = this.rcvNxt;
    this.negotiate(syn.mss, syn.windowScale, syn.sackPermitted, syn.hasTimestamp, syn.tsVal);
    this.iss = this.ctx.random32();
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.recover = this.iss;
    // SYN windows are never scaled (RFC 7323 §2.2).
    this.sndWnd = syn.window;
    this.sndWl1 = syn.irs;
    this.maxSndWnd = syn.window;
    this.lastRecvAt = now;
    this.setState(SYN_RECEIVED);
    this.sendSyn(now, true);
    this.ctx.schedule(this);
  }

  /** @internal Active open (§3.10.1 OPEN, active): sends SYN and enters SYN-SENT. */
  openActive(now: number): void {
    this.iss = this.ctx.random32();
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.recover = this.iss;
    this.lastRecvAt = now;
    this.setState(SYN_SENT);
    this.sendSyn(now, false);
    this.ctx.schedule(this);
  }

  /** Option negotiation from the peer's SYN (RFC 9293 §3.7.1, RFC 7323 §2.2/§3.2, RFC 2018 §2). */
  private negotiate(mss: number, ws: number, sackPerm: boolean, hasTs: boolean, tsVal: number) {
    const t = this.ctx.tun;
    // RFC 9293 §3.7.1: without the option assume 536 (IPv4) or 1220 (IPv6, RFC 8200 §8.3).
    const peerMss = mss > 0 ? mss : (this.version === 6 ? 1220 : 536);
    if (t.windowScaling && ws >= 0) {
      // RFC 7323 §2.2: scaling is on only when both SYNs carried the option.
      this.wsOk = true;
      this.sndShift = ws;
      this.rcvShift = this.ourShiftForSyn();
    } else {
      this.wsOk = false;
      this.sndShift = 0;
      this.rcvShift = 0;
    }
    this.sackOk = t.sack && sackPerm;
    this.tsOk = t.timestamps && hasTs;
    this.tsRecent = tsVal;
    // §3.7.1: Eff.snd.MSS = min(SendMSS+20, MMS_S) - TCPhdrsize - IPoptionsize; options we
    // always send (timestamps) come off the payload. A floor of 64 keeps tiny MSS values from
    // turning into a packet storm (Linux clamps similarly).
    const mms = this.ctx.tun.mtu - PacketBuilder.ipHeaderLen(this.version) - 20;
    this.sndMss = Math.max(64, Math.min(peerMss, mms)) - (this.tsOk ? TS_OPT_LEN : 0);
    this.cc.init(this.sndMss);
  }

  // ------------------------------------------------------------------------------------------
  // SEGMENT ARRIVES (RFC 9293 §3.10.7)

  /** @internal Processes one segment for this connection. */
  input(seg: Segment, now: number): void {
    this.segmentsReceived++;
    this.busy++;
    try {
      if (this.st === SYN_SENT) this.inputSynSent(seg, now);
      else this.inputSynchronized(seg, now);
    } finally {
      this.busy--;
    }
    this.flush();
  }

  /** §3.10.7.3 SYN-SENT STATE. */
  private inputSynSent(seg: Segment, now: number): void {
    const f = seg.flags;
    // First, check the ACK bit: unacceptable unless ISS < SEG.ACK =< SND.NXT.
    if (f & TCP_ACK && (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax))) {
      if (!(f & TCP_RST)) this.sendControl(seg.ack, TCP_RST);
      return;
    }
    // Second, the RST bit: with an acceptable ACK the connection is refused; otherwise drop.
    if (f & TCP_RST) {
      if (f & TCP_ACK) this.terminate("refused");
      return;
    }
    // Fourth, the SYN bit.
    if (!(f & TCP_SYN)) return;
    const o = seg.opts;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.lastRecvAt = now;
    this.negotiate(o.mss, o.windowScale, o.sackPermitted, o.hasTimestamp, o.tsVal);
    if (f & TCP_ACK) {
      // Our SYN is acknowledged: ESTABLISHED, send <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
      if (this.retries === 0) this.rtt.sample(now - this.rttTime);
      this.sndUna = seg.ack;
      this.sndWnd = seg.wnd; // SYN windows are not scaled (RFC 7323 §2.2)
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      this.maxSndWnd = this.sndWnd;
      this.rtoAt = Infinity;
      this.retries = 0;
      this.rcvAdv = seqAdd(this.rcvNxt, Math.min(this.recvBuf.free, 65535));
      this.setState(this.finQueued ? FIN_WAIT_1 : ESTABLISHED);
      this.ackNow = true;
      this.handler?.onEstablished?.();
    } else {
      // Simultaneous open: SYN-RECEIVED, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
      this.sndWnd = seg.wnd;
      this.sndWl1 = seg.seq;
      this.maxSndWnd = seg.wnd;
      this.setState(SYN_RECEIVED);
      this.sendSyn(now, true);
    }
  }

  /** §3.10.7.4 Other states: SYN-RECEIVED and every synchronized state. */
  private inputSynchronized(seg: Segment, now: number): void {
    const f = seg.flags;
    const rst = (f & TCP_RST) !== 0;
    let syn = (f & TCP_SYN) !== 0;
    let fin = (f & TCP_FIN) !== 0;
    let seq = seg.seq;
    let off = seg.payloadOff;
    let len = seg.payloadLen;
    const o = seg.opts;

    // A retransmitted SYN in SYN-RECEIVED means our SYN-ACK was lost. The generic rule below would
    // answer with a bare ACK, which a SYN-SENT peer ignores; repeat the SYN-ACK instead (as Linux).
    if (this.st === SYN_RECEIVED && syn && !(f & (TCP_ACK | TCP_RST)) && seq === this.irs) {
      this.sendSyn(now, true);
      return;
    }

    // RFC 7323 §5.3 (PAWS) R1: a segment with SEG.TSval < TS.Recent is old: ACK and drop.
    if (this.tsOk && o.hasTimestamp && !rst && seqLt(o.tsVal, this.tsRecent)) {
      this.ackNow = true;
      return;
    }

    // First, check the sequence number: the four acceptability cases of §3.10.7.4.
    const segLen = len + (syn ? 1 : 0) + (fin ? 1 : 0);
    const wnd = this.recvBuf.free;
    const rel = seqDiff(seq, this.rcvNxt);
    let acceptable: boolean;
    if (segLen === 0) acceptable = wnd === 0 ? rel === 0 : rel >= 0 && rel < wnd;
    else if (wnd === 0) acceptable = false;
    else {
      acceptable = (rel >= 0 && rel < wnd) || (rel + segLen - 1 >= 0 && rel + segLen - 1 < wnd);
    }
    if (!acceptable) {
      if (wnd === 0 && rel === 0 && !syn) {
        // "If the RCV.WND is zero, no segments will be acceptable, but special allowance should
        // be made to accept valid ACKs, URGs, and RSTs": keep processing without the text.
        len = 0;
        fin = false;
        this.ackNow = true;
      } else {
        // "If an incoming segment is not acceptable, an acknowledgment should be sent in reply
        // (unless the RST bit is set)". In TIME-WAIT a retransmitted FIN also restarts 2 MSL.
        if (!rst) this.ackNow = true;
        if (this.st === TIME_WAIT && fin) this.timeWaitAt = now + 2 * this.ctx.tun.mslMs;
        return;
      }
    }
    // Trim to the window: drop what was already received from the front ...
    if (rel < 0) {
      let cut = -rel;
      if (syn) {
        syn = false;
        cut--;
      }
      const dataCut = Math.min(cut, len);
      off += dataCut;
      len -= dataCut;
      if (cut > dataCut) fin = false;
      seq = this.rcvNxt;
      this.ackNow = true; // a duplicate: tell the sender where we are (RFC 5681 §4.2)
    }
    // ... and what does not fit from the back ("trimmed ... to the window").
    const relStart = seqDiff(seq, this.rcvNxt);
    if (relStart + len > wnd) {
      len = Math.max(0, wnd - relStart);
      fin = false;
      this.ackNow = true;
    }

    // Second, check the RST bit (RFC 5961 §3.2): reset only on an exact RCV.NXT match; a RST
    // elsewhere in the window gets a challenge ACK.
    if (rst) {
      if (seg.seq === this.rcvNxt) {
        // SYN-RECEIVED (passive): there is no listener to return to, so the flow ends.
        // ESTABLISHED..CLOSE-WAIT: "enter the CLOSED state", queues flushed.
        // CLOSING, LAST-ACK, TIME-WAIT: "enter the CLOSED state, delete the TCB".
        this.terminate("reset");
      } else {
        this.ackNow = true;
      }
      return;
    }

    // Fourth, check the SYN bit (RFC 5961 §4.2): any SYN in a synchronized state (or a new SYN in
    // SYN-RECEIVED) gets a challenge ACK and is dropped.
    if (syn) {
      this.ackNow = true;
      return;
    }

    // Fifth, check the ACK field: "if the ACK bit is off, drop the segment and return".
    if (!(f & TCP_ACK)) return;
    this.lastRecvAt = now;
    this.keepaliveProbes = 0;
    // RFC 7323 §4.3 (2): TS.Recent <- SEG.TSval when SEG.TSval >= TS.Recent and
    // SEG.SEQ =< Last.ACK.sent.
    if (
      this.tsOk && o.hasTimestamp && seqGe(o.tsVal, this.tsRecent) &&
      seqLe(seg.seq, this.lastAckSent)
    ) this.tsRecent = o.tsVal;

    if (this.st === SYN_RECEIVED) {
      // SYN-RECEIVED: "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state" with
      // SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK; otherwise
      // <SEQ=SEG.ACK><CTL=RST>. A FIN queued before the handshake completed moves on to FIN-WAIT-1.
      if (seqGt(seg.ack, this.sndUna) && seqLe(seg.ack, this.sndMax)) {
        this.sndWnd = seg.wnd << this.sndShift;
        this.sndWl1 = seg.seq;
        this.sndWl2 = seg.ack;
        this.maxSndWnd = this.sndWnd;
        // Karn: time the handshake only if the SYN-ACK was not retransmitted.
        if (!this.tsOk && this.retries === 0) this.rtt.sample(now - this.rttTime);
        this.retries = 0;
        this.setState(this.finQueued ? FIN_WAIT_1 : ESTABLISHED);
        this.handler?.onEstablished?.();
        if (this.isClosed()) return; // the handler may have aborted
      } else {
        this.sendControl(seg.ack, TCP_RST);
        return;
      }
    }

    if (!this.processAck(seg, len, fin, now)) return;
    if (this.st === CLOSED) return;

    // Fifth (continued), state-specific effects of an ACK of our FIN.
    const finAcked = this.finQueued && seqGt(this.sndUna, this.finSeq);
    switch (this.st) {
      case FIN_WAIT_1:
        // "if the FIN segment is now acknowledged, then enter FIN-WAIT-2".
        if (finAcked) {
          this.setState(FIN_WAIT_2);
          if (this.readClosed) this.timeWaitAt = now + this.ctx.tun.finWait2TimeoutMs;
        }
        break;
      case CLOSING:
        // "if the ACK acknowledges our FIN, then enter the TIME-WAIT state".
        if (finAcked) this.enterTimeWait(now);
        break;
      case LAST_ACK:
        // "If our FIN is now acknowledged, delete the TCB, enter the CLOSED state".
        if (finAcked) {
          this.terminate("closed");
          return;
        }
        break;
    }

    // Sixth, the URG bit: urgent data is delivered inline as ordinary data (RFC 6093 §4).

    // Seventh, process the segment text (ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2 only; in the other
    // states a FIN has been received and text is ignored).
    if (len > 0 && (TEXT_STATES & (1 << this.st)) !== 0) {
      this.receiveText(seg.buf, off, len, seq, now);
      if (this.st === CLOSED) return;
    }

    // Eighth, check the FIN bit. A FIN beyond a hole is remembered until the hole fills.
    if (fin) {
      const fs = seqAdd(seq, len);
      if (fs === this.rcvNxt) this.receiveFin(now);
      else if (seqGt(fs, this.rcvNxt)) {
        this.oooFin = true;
        this.oooFinSeq = fs;
        this.ackNow = true;
      }
    } else if (this.oooFin && this.oooFinSeq === this.rcvNxt) {
      this.receiveFin(now);
    }
  }

  /**
   * §3.10.7.4 fifth for ESTABLISHED and later: advance SND.UNA, update the window, and drive RTT
   * measurement, congestion control and loss recovery. Returns false to drop the segment.
   */
  private processAck(seg: Segment, textLen: number, fin: boolean, now: number): boolean {
    const ack = seg.ack;
    // "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK, drop the
    // segment, and return." RFC 5961 §5.2 also drops ACKs older than SND.UNA - MAX.SND.WND.
    if (seqGt(ack, this.sndMax) || seqLt(ack, seqAdd(this.sndUna, -this.maxSndWnd))) {
      this.ackNow = true;
      return false;
    }
    const o = seg.opts;
    const acked = seqDiff(ack, this.sndUna);
    const segWnd = seg.wnd << this.sndShift;
    if (acked > 0) {
      // RTT measurement: from the timestamp echo (RFC 7323 §4.1) or from one timed segment,
      // never a retransmitted one (Karn's rule, RFC 6298 §3).
      if (this.tsOk && o.hasTimestamp && o.tsEcr !== 0) {
        const r = seqDiff(this.tsNow(now), o.tsEcr);
        if (r >= 0 && r < 0x10000000) this.rtt.sample(r);
      } else if (this.rttTiming && seqGe(ack, this.rttSeq)) {
        this.rttTiming = false;
        this.rtt.sample(now - this.rttTime);
      }
      // What the ACK covers: possibly our SYN, data, possibly our FIN.
      const synPart = this.sndUna === this.iss ? 1 : 0;
      const finPart = this.finQueued && seqGt(ack, this.finSeq) ? 1 : 0;
      const dataAcked = Math.min(this.sendBuf.len, acked - synPart - finPart);
      if (dataAcked > 0) {
        this.sendBuf.ack(dataAcked);
        // An idle connection keeps no send ring (it is reallocated on the next write).
        if (this.sendBuf.len === 0) this.sendBuf.releaseIfEmpty();
      }
      this.scoreboard.onAck(acked);
      this.sndUna = ack;
      if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
      this.retries = 0;
      this.dupAcks = 0;
      if (this.inRecovery) {
        if (seqGe(ack, this.recover)) {
          // RFC 6582 §3.2 step 3: a full acknowledgment ends fast recovery.
          this.inRecovery = false;
          this.cc.onExitRecovery(seqDiff(this.sndMax, this.sndUna));
        } else {
          // RFC 6582 §3.2 step 4: a partial acknowledgment; retransmit the first unacknowledged
          // segment (with SACK the pipe loop in trySend picks the holes, RFC 6675 §5).
          if (!this.sackOk) {
            this.cc.onPartialAck(acked);
            this.retransmitAt(this.sndUna, now);
          } else if (seqLt(this.highRxt, this.sndUna)) {
            this.highRxt = this.sndUna;
          }
        }
      } else {
        // RFC 5681 §3.1: slow start or congestion avoidance.
        this.cc.onAck(acked);
      }
      // RFC 6298 §5.2/§5.3: stop the timer when all data is acknowledged, else restart it.
      this.rtoAt = this.sndUna === this.sndMax ? Infinity : now + this.rtt.rto();
    } else if (
      acked === 0 && this.sndMax !== this.sndUna && textLen === 0 && !fin &&
      segWnd === this.sndWnd && segWnd !== 0
    ) {
      // RFC 5681 §2 "duplicate acknowledgment": outstanding data, no text, no SYN/FIN,
      // SEG.ACK == SND.UNA and the window unchanged (a zero window is a probe answer instead).
      if (this.sackOk && o.sackCount > 0) {
        this.scoreboard.update(o.sackBlocks, o.sackCount, this.sndUna, this.sndMax);
      }
      this.onDupAck(now);
    }
    if (acked > 0 && this.sackOk && o.sackCount > 0) {
      this.scoreboard.update(o.sackBlocks, o.sackCount, this.sndUna, this.sndMax);
    }
    // Window update: "If SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK), set
    // SND.WND <- SEG.WND, set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK."
    if (
      seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))
    ) {
      this.sndWnd = segWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (segWnd > this.maxSndWnd) this.maxSndWnd = segWnd;
    }
    if (this.sndWnd > 0) {
      this.persistAt = Infinity;
      if (this.sndUna !== this.sndMax && this.rtoAt === Infinity) {
        this.rtoAt = now + this.rtt.rto();
      }
    }
    return true;
  }

  /** A duplicate ACK: fast retransmit and fast recovery (RFC 5681 §3.2, RFC 6582, RFC 6675). */
  private onDupAck(now: number): void {
    this.dupAcks++;
    if (this.inRecovery) {
      // RFC 6582 §3.2 step 3: inflate cwnd by one SMSS per further duplicate (non-SACK only;
      // with SACK the pipe estimate shrinks as blocks arrive, RFC 6675 §5).
      if (!this.sackOk) this.cc.onDupAckInRecovery();
      return;
    }
    // RFC 6675 §5: with SACK, loss is also detected when more than (DupThresh-1)*SMSS bytes
    // above SND.UNA have been SACKed.
    const lost = this.dupAcks >= 3 ||
      (this.sackOk && this.scoreboard.sackedBytes() > 2 * this.sndMss);
    // RFC 6582 §3.2 step 2: enter recovery only if the ACK covers more than `recover`
    // (avoids repeated fast retransmits for one window of losses, and after a timeout).
    if (!lost || !seqGt(this.sndUna, this.recover)) return;
    this.inRecovery = true;
    this.recover = this.sndMax;
    this.cc.onEnterRecovery(seqDiff(this.sndMax, this.sndUna), this.sackOk);
    this.highRxt = this.sndUna;
    this.rttTiming = false; // Karn
    // RFC 5681 §3.2 step 2: retransmit the lost segment (fast retransmit).
    this.retransmitAt(this.sndUna, now);
  }

  /** Retransmits one segment starting at `seq` (at most one MSS, never past SND.MAX). */
  private retransmitAt(seq: number, now: number): void {
    const ds = this.dataStart();
    const off = seqDiff(seq, ds);
    const inFlight = seqDiff(this.sndMax, seq);
    const dataLeft = Math.max(0, Math.min(this.sendBuf.len - off, inFlight));
    const n = Math.min(dataLeft, this.maxPayload());
    const fin = this.finQueued && seqAdd(seq, n) === this.finSeq && seqGt(this.sndMax, this.finSeq);
    if (n === 0 && !fin) return;
    this.sendData(seq, n, fin, now);
    const end = seqAdd(seq, n + (fin ? 1 : 0));
    if (seqGt(end, this.highRxt)) this.highRxt = end;
  }

  /** §3.10.7.4 seventh: in-order text goes to the application, out-of-order text is stored. */
  private receiveText(buf: Uint8Array, off: number, n: number, seq: number, now: number): void {
    const rb = this.recvBuf;
    if (n > this.rcvLargest) this.rcvLargest = n;
    const rel = seqDiff(seq, this.rcvNxt);
    if (rel > 0) {
      // Out of order: keep it (SACK reports it) and ACK at once (RFC 5681 §4.2; RFC 2018 §4).
      if (rb.insert(rel, buf, off, n)) this.sackRecv.noteReceived(seq);
      this.ackNow = true;
      return;
    }
    const hadHoles = rb.ooo.count > 0;
    let merged: number;
    if (this.readClosed) {
      // The application closed: acknowledge and discard.
      merged = rb.acceptAfterDirect(n, buf, off, 0);
      rb.consume(rb.len);
    } else if (rb.len === 0 && !this.readPaused && this.handler) {
      // Zero-copy path: offer the bytes straight from the packet; keep only what is refused.
      this.rcvNxt = seqAdd(this.rcvNxt, n);
      const k = clampConsumed(this.handler.onData(buf.subarray(off, off + n)), n);
      this.bytesReceived += n;
      if (this.st === CLOSED) return;
      if (this.readClosed) {
        // close() inside the handler: the rest is discarded.
        this.rcvNxt = seqAdd(this.rcvNxt, rb.acceptAfterDirect(n, buf, off, 0));
        rb.consume(rb.len);
        return;
      }
      if (k < n) this.readPaused = true;
      merged = rb.acceptAfterDirect(k, buf, off + k, n - k);
      this.rcvNxt = seqAdd(this.rcvNxt, merged);
      this.bytesReceived += merged;
      this.afterInOrder(hadHoles, now);
      return;
    } else {
      merged = rb.append(buf, off, n);
    }
    this.rcvNxt = seqAdd(this.rcvNxt, n + merged);
    this.bytesReceived += n + merged;
    this.afterInOrder(hadHoles, now);
  }

  private afterInOrder(hadHoles: boolean, now: number): void {
    const rb = this.recvBuf;
    this.deliverBuffered();
    if (this.st === CLOSED) return;
    if (hadHoles) {
      // RFC 5681 §4.2: ACK at once when a segment fills (part of) a gap.
      this.ackNow = true;
      if (rb.ooo.count === 0) this.sackRecv.clear();
    } else {
      const unacked = seqDiff(this.rcvNxt, this.lastAckSent);
      if (
        unacked >= 2 * Math.min(this.ourMss, Math.max(this.rcvLargest, 536)) ||
        2 * unacked >= seqDiff(this.rcvAdv, this.lastAckSent)
      ) {
        // RFC 5681 §4.2 / RFC 9293 §3.8.6.3: ACK at least every second full-sized segment;
        // also once half the offered window is used, so a window-limited sender (one segment
        // per window) does not wait for the delayed-ACK timer.
        this.ackNow = true;
      } else if (this.delackAt === Infinity) {
        this.delackAt = now + this.ctx.tun.delayedAckMs;
      }
    }
  }

  /** Offers buffered in-order bytes to the handler until it refuses some. */
  private deliverBuffered(): void {
    const rb = this.recvBuf;
    while (rb.len > 0 && !this.readPaused && this.handler && !this.readClosed) {
      const view = rb.readable();
      const k = clampConsumed(this.handler.onData(view), view.length);
      if (this.st === CLOSED && this.closeNotified) return;
      if (rb.len === 0) return; // close() inside the handler emptied the buffer
      rb.consume(k);
      if (k < view.length) this.readPaused = true;
    }
    if (rb.len === 0 && rb.ooo.count === 0) rb.releaseIfEmpty();
  }

  /** §3.10.7.4 eighth: the FIN is in order; advance RCV.NXT over it, ACK it, change state. */
  private receiveFin(now: number): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.finReceived = true;
    this.oooFin = false;
    this.ackNow = true;
    switch (this.st) {
      case SYN_RECEIVED:
      case ESTABLISHED:
        this.setState(CLOSE_WAIT);
        break;
      case FIN_WAIT_1:
        // Our FIN is not yet acknowledged (else we would be in FIN-WAIT-2): simultaneous close.
        this.setState(CLOSING);
        break;
      case FIN_WAIT_2:
        this.enterTimeWait(now);
        break;
      case TIME_WAIT:
        this.timeWaitAt = now + 2 * this.ctx.tun.mslMs;
        break;
    }
  }

  private enterTimeWait(now: number): void {
    this.setState(TIME_WAIT);
    // "Start the time-wait timer, turn off the other timers."
    this.timeWaitAt = now + 2 * this.ctx.tun.mslMs;
    this.rtoAt = Infinity;
    this.persistAt = Infinity;
    this.sendBuf.reset();
    this.scoreboard.clear();
  }

  // ------------------------------------------------------------------------------------------
  // Output

  /** First sequence number of the data in the send buffer. */
  private dataStart(): number {
    return this.sndUna === this.iss ? seqAdd(this.iss, 1) : this.sndUna;
  }

  private canWrite(): boolean {
    return !this.finQueued &&
      (this.st === ESTABLISHED || this.st === CLOSE_WAIT || this.st === SYN_RECEIVED ||
        this.st === SYN_SENT);
  }

  /** Sends what can be sent and a pending ACK, then runs deferred notifications. */
  private flush(): void {
    if (this.busy > 0) return;
    const now = this.ctx.now;
    if (this.st !== CLOSED) {
      if ((SEND_STATES & (1 << this.st)) !== 0) this.trySend(now);
      if (this.ackNow && this.st !== SYN_SENT && this.st !== CLOSED) {
        this.sendControl(this.sndMax, TCP_ACK);
      }
    }
    this.notify();
    if (this.st !== CLOSED) this.ctx.schedule(this);
  }

  /** Deferred callbacks: FIN after all data, writable, close. */
  private notify(): void {
    const h = this.handler;
    if (h === null) return;
    if (this.finReceived && !this.finDelivered && this.recvBuf.len === 0 && !this.readClosed) {
      this.finDelivered = true;
      h.onFin?.();
    }
    if (this.writeBlocked && this.canWrite() && this.sendBuf.free > 0) {
      this.writeBlocked = false;
      h.onWritable?.();
    }
    if (
      !this.closeNotified && (this.recvBuf.len === 0 || this.readClosed) &&
      (this.st === TIME_WAIT || (this.st === CLOSED && this.pendingClose !== null))
    ) {
      if (this.finReceived && !this.finDelivered && !this.readClosed) {
        this.finDelivered = true;
        h.onFin?.();
      }
      this.notifyClose(this.pendingClose ?? "closed");
    }
  }

  /**
   * Sends new data and retransmissions as the windows allow (RFC 5681 §3.1; RFC 6675 §5 during
   * SACK recovery), the FIN after the data, and arms the persist timer on a zero window.
   */
  private trySend(now: number): void {
    const sb = this.sendBuf;
    const sackRecovery = this.inRecovery && this.sackOk;
    if (sackRecovery) this.sendRecoverySack(now);
    for (;;) {
      const dataEnd = seqAdd(this.dataStart(), sb.len);
      const unsent = seqDiff(dataEnd, this.sndNxt);
      const flight = seqDiff(this.sndNxt, this.sndUna);
      if (unsent > 0) {
        // During SACK recovery new data went out in sendRecoverySack() under the pipe limit.
        if (sackRecovery) break;
        // RFC 5681 §3.1 / RFC 9293 §3.8.6: send while SND.NXT < SND.UNA + min(cwnd, SND.WND).
        const usable = Math.min(this.cc.cwnd, this.sndWnd) - flight;
        if (usable <= 0) break;
        const maxSeg = this.maxPayload();
        const n = Math.min(unsent, usable, maxSeg);
        // Sender SWS avoidance (§3.8.6.2.1): send a full segment, all remaining data (no Nagle:
        // the relay writes whole reads), at least half the largest window the peer offered, or
        // anything when nothing is in flight (the override that prevents a stall).
        if (n < maxSeg && n < unsent && n < (this.maxSndWnd >>> 1) && flight > 0) break;
        const fin = this.finQueued && seqAdd(this.sndNxt, n) === this.finSeq;
        this.sendData(this.sndNxt, n, fin, now);
        continue;
      }
      if (this.finQueued && this.sndNxt === this.finSeq) {
        // All data sent: the FIN goes alone (it needs no window).
        this.sendData(this.sndNxt, 0, true, now);
      }
      break;
    }
    // RFC 9293 §3.8.6.1: with a zero window and data waiting, probe on the persist timer.
    if (
      this.sndWnd === 0 && sb.len > 0 && this.sndNxt === this.sndUna &&
      this.persistAt === Infinity
    ) {
      this.persistAt = now + this.rtt.rto();
    }
  }

  /** RFC 6675 §5 (NextSeg and the pipe limit): retransmit holes below the highest SACK. */
  private sendRecoverySack(now: number): void {
    const sbd = this.scoreboard;
    for (let guard = 0; guard < 1024; guard++) {
      const highest = sbd.highestSacked();
      const rxtOff = Math.max(0, seqDiff(this.highRxt, this.sndUna));
      // pipe = data in flight - SACKed - holes presumed lost and not yet retransmitted.
      const flight = seqDiff(this.sndMax, this.sndUna);
      const lostNotRtx = highest > rxtOff ? (highest - rxtOff) - sbd.ranges.lenAbove(rxtOff) : 0;
      const pipe = flight - sbd.sackedBytes() - lostNotRtx;
      if (this.cc.cwnd - pipe < Math.min(this.sndMss, 1)) return;
      if (!sbd.ranges.gapFrom(rxtOff, highest, gap)) {
        // No hole left below the highest SACK: new data, limited by cwnd - pipe and SND.WND.
        const dataEnd = seqAdd(this.dataStart(), this.sendBuf.len);
        const unsent = seqDiff(dataEnd, this.sndNxt);
        const wndLeft = this.sndWnd - seqDiff(this.sndNxt, this.sndUna);
        const n = Math.min(unsent, wndLeft, this.cc.cwnd - pipe, this.maxPayload());
        if (n <= 0) return;
        const fin = this.finQueued && seqAdd(this.sndNxt, n) === this.finSeq;
        this.sendData(this.sndNxt, n, fin, now);
        continue;
      }
      const seq = seqAdd(this.sndUna, gap.start);
      const n = Math.min(gap.end - gap.start, this.maxPayload());
      const fin = this.finQueued && seqAdd(seq, n) === this.finSeq &&
        seqGt(this.sndMax, this.finSeq);
      this.sendData(seq, n, fin, now);
      this.highRxt = seqAdd(seq, n);
    }
  }

  /** Payload that fits one segment next to the options we would send now. */
  private maxPayload(): number {
    return this.sndMss - this.sackOptLen();
  }

  /** Length of the SACK option we would add now (0 without out-of-order data). */
  private sackOptLen(): number {
    if (!this.sackOk) return 0;
    const c = this.recvBuf.ooo.count;
    if (c === 0) return 0;
    const max = this.tsOk ? 3 : 4;
    return 4 + 8 * Math.min(c, max);
  }

  /** Sends `n` bytes at `seq` from the send buffer (plus FIN), updating the send variables. */
  private sendData(seq: number, n: number, fin: boolean, now: number): void {
    const isRtx = seqLt(seq, this.sndMax);
    const dataEnd = seqAdd(this.dataStart(), this.sendBuf.len);
    let flags = TCP_ACK;
    if (fin) flags |= TCP_FIN;
    if (n > 0 && seqAdd(seq, n) === dataEnd) flags |= TCP_PSH;
    this.emit(seq, flags, n, now, false);
    const end = seqAdd(seq, n + (fin ? 1 : 0));
    if (seqGt(end, this.sndMax)) {
      // New data (part of it may be a go-back-N resend below SND.MAX).
      const fresh = seqDiff(end, seqGe(seq, this.sndMax) ? seq : this.sndMax) - (fin ? 1 : 0);
      if (fresh > 0) this.bytesSent += fresh;
      this.sndMax = end;
    }
    if (seqGe(end, this.sndNxt) && seqLe(seq, this.sndNxt)) this.sndNxt = end;
    if (isRtx) {
      this.retransmits++;
      this.retransmittedBytes += n;
      if (this.rttTiming && seqLe(seq, this.rttSeq)) this.rttTiming = false; // Karn
    } else if (!this.rttTiming && !this.tsOk && n > 0) {
      this.rttTiming = true;
      this.rttSeq = end;
      this.rttTime = now;
    }
    // RFC 6298 §5.1: start the timer when a data segment is sent and it is not running.
    if (this.rtoAt === Infinity) this.rtoAt = now + this.rtt.rto();
  }

  /** Sends SYN (active) or SYN-ACK (passive, simultaneous open) with our options. */
  private sendSyn(now: number, withAck: boolean): void {
    this.emit(this.iss, withAck ? TCP_SYN | TCP_ACK : TCP_SYN, 0, now, true);
    if (this.sndNxt === this.iss) this.sndNxt = seqAdd(this.iss, 1);
    if (this.sndMax === this.iss) this.sndMax = this.sndNxt;
    if (this.retries === 0) this.rttTime = now;
    this.rtoAt = now + this.rtt.rto();
  }

  /**
   * Sends a segment with no data at `seq`. ACKs and RSTs use SND.MAX: after a retransmission
   * timeout moved sndNxt back, an ACK numbered sndNxt would be below the peer's RCV.NXT and be
   * discarded unprocessed (§3.10.7.4 first check), and both ends could stall.
   */
  private sendControl(seq: number, flags: number): void {
    this.emit(seq, flags, 0, this.ctx.now, false);
  }

  /** Our timestamp clock: ms plus a random per-connection offset (RFC 7323 §5.4). */
  private tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }

  /** The window field to advertise, with receiver SWS avoidance and no shrinking. */
  private windowField(): number {
    const free = this.recvBuf.free;
    const offered = Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
    let wnd = free;
    // RFC 9293 §3.8.6.2.2: do not move the right edge by less than min(RCV.BUFF/2, Eff.snd.MSS).
    if (wnd > offered && wnd - offered < Math.min(this.recvBuf.capacity >>> 1, this.ourMss)) {
      wnd = offered;
    }
    let raw = wnd >>> this.rcvShift;
    // RFC 7323 §2.4: rounding down must not shrink the window below what was offered.
    if (raw << this.rcvShift < offered) raw = Math.ceil(offered / 2 ** this.rcvShift);
    return raw > 65535 ? 65535 : raw;
  }

  /** True when the right edge can move by at least min(RCV.BUFF/2, MSS) (§3.8.6.2.2). */
  private windowUpdateDue(): boolean {
    const right = seqAdd(this.rcvNxt, this.recvBuf.free);
    return seqDiff(right, this.rcvAdv) >= Math.min(this.recvBuf.capacity >>> 1, this.ourMss);
  }

  /** Builds and emits one segment. */
  private emit(seq: number, flags: number, n: number, now: number, syn: boolean): void {
    const out = this.ctx.out;
    const withAck = (flags & TCP_ACK) !== 0;
    const rst = (flags & TCP_RST) !== 0;
    let mss = 0, ws = -1, sackPerm = false, ts = false, sackCount = 0;
    if (syn) {
      const t = this.ctx.tun;
      mss = this.ourMss;
      const passive = withAck;
      // In a SYN-ACK, offer only what the peer's SYN offered (RFC 7323 §2.2, §3.2; RFC 2018 §2).
      if (passive ? this.wsOk : t.windowScaling) ws = this.ourShiftForSyn();
      sackPerm = passive ? this.sackOk : t.sack;
      ts = passive ? this.tsOk : t.timestamps;
    } else if (!rst) {
      ts = this.tsOk;
      if (this.sackOk && this.recvBuf.ooo.count > 0) {
        sackCount = this.sackRecv.fill(
          this.rcvNxt,
          this.recvBuf.ooo,
          this.sackOut,
          this.tsOk ? 3 : 4,
        );
      }
    } else {
      ts = false;
    }
    const optLen = tcpOptionsLen(mss, ws, sackPerm, ts, sackCount);
    const tcpLen = 20 + optLen + n;
    const b = out.packet;
    const o = out.ipHeader(this.version, 6, this.localAddr, 0, this.remoteAddr, 0, tcpLen);
    const lp = this.localPort, rp = this.remotePort;
    b[o] = lp >>> 8;
    b[o + 1] = lp;
    b[o + 2] = rp >>> 8;
    b[o + 3] = rp;
    b[o + 4] = seq >>> 24;
    b[o + 5] = seq >>> 16;
    b[o + 6] = seq >>> 8;
    b[o + 7] = seq;
    const ackNum = withAck ? this.rcvNxt : 0;
    b[o + 8] = ackNum >>> 24;
    b[o + 9] = ackNum >>> 16;
    b[o + 10] = ackNum >>> 8;
    b[o + 11] = ackNum;
    b[o + 12] = ((20 + optLen) >>> 2) << 4;
    b[o + 13] = flags;
    let wnd = 0;
    if (!rst) {
      wnd = syn ? Math.min(this.recvBuf.free, 65535) : this.windowField();
    }
    b[o + 14] = wnd >>> 8;
    b[o + 15] = wnd;
    b[o + 18] = 0;
    b[o + 19] = 0;
    if (optLen > 0) {
      emitTcpOptions(
        b,
        o + 20,
        mss,
        ws,
        sackPerm,
        ts,
        this.tsNow(now),
        withAck || !syn ? this.tsRecent : 0,
        this.sackOut,
        sackCount,
      );
    }
    if (n > 0) this.sendBuf.copyOut(seqDiff(seq, this.dataStart()), b, o + 20 + optLen, n);
    out.finish(this.version, 6, o, tcpLen, 16);
    this.segmentsSent++;
    this.lastSendAt = now;
    if (withAck && !rst) {
      this.lastAckSent = this.rcvNxt;
      this.ackNow = false;
      this.delackAt = Infinity;
      this.rcvAdv = seqAdd(this.rcvNxt, syn ? wnd : wnd * 2 ** this.rcvShift);
    }
  }

  /** Our window-scale shift as offered in a SYN. */
  private ourShiftForSyn(): number {
    let shift = 0;
    while (shift < 14 && this.recvBuf.capacity >>> shift > 65535) shift++;
    return shift;
  }

  // ------------------------------------------------------------------------------------------
  // Timers (RFC 9293 §3.10.8)

  /** @internal The earliest deadline of this connection (ms), or Infinity. */
  deadline(): number {
    let d = this.rtoAt;
    if (this.persistAt < d) d = this.persistAt;
    if (this.delackAt < d) d = this.delackAt;
    if (this.timeWaitAt < d) d = this.timeWaitAt;
    const k = this.keepaliveDeadline();
    if (k < d) d = k;
    const i = this.idleDeadline();
    if (i < d) d = i;
    return d;
  }

  private keepaliveDeadline(): number {
    const t = this.ctx.tun;
    if (t.keepaliveIdleMs <= 0 || (KEEPALIVE_STATES & (1 << this.st)) === 0) return Infinity;
    return this.keepaliveProbes === 0
      ? this.lastRecvAt + t.keepaliveIdleMs
      : this.keepaliveSentAt + t.keepaliveIntervalMs;
  }

  private idleDeadline(): number {
    const t = this.ctx.tun;
    if (t.idleTimeoutMs <= 0 || this.st === TIME_WAIT || this.st === CLOSED) return Infinity;
    return Math.max(this.lastRecvAt, this.lastSendAt) + t.idleTimeoutMs;
  }

  /** @internal Runs the timers that are due at `now`. */
  onTimer(now: number): void {
    if (this.st === CLOSED) return;
    if (this.st === TIME_WAIT) {
      // "If the time-wait timeout expires on a connection, delete the TCB".
      if (now >= this.timeWaitAt) this.terminate("closed");
      return;
    }
    if (this.st === FIN_WAIT_2 && now >= this.timeWaitAt) {
      // The application closed and the peer never sent its FIN (an orphaned FIN-WAIT-2, as
      // Linux's tcp_fin_timeout): reset.
      this.sendControl(this.sndMax, TCP_RST);
      this.terminate("timeout");
      return;
    }
    if (now >= this.rtoAt) {
      this.onRetransmitTimeout(now);
      if (this.st === CLOSED) return;
    }
    if (now >= this.persistAt) this.onPersist(now);
    if (now >= this.delackAt) {
      this.delackAt = Infinity;
      this.ackNow = true;
    }
    if (now >= this.keepaliveDeadline()) {
      // RFC 9293 §3.8.4 / RFC 1122 §4.2.3.6: probe with SEG.SEQ = SND.NXT - 1 and no data.
      if (this.keepaliveProbes >= this.ctx.tun.keepaliveCount) {
        this.sendControl(this.sndMax, TCP_RST);
        this.terminate("timeout");
        return;
      }
      this.keepaliveProbes++;
      this.keepaliveSentAt = now;
      const lastSend = this.lastSendAt; // probes do not count as activity for the idle timeout
      this.emit(seqAdd(this.sndUna, -1), TCP_ACK, 0, now, false);
      this.lastSendAt = lastSend;
    }
    if (now >= this.idleDeadline()) {
      this.sendControl(this.sndMax, TCP_RST);
      this.terminate("timeout");
      return;
    }
    this.flush();
  }

  /** RFC 6298 §5.4–§5.7 with RFC 5681 §3.1 (loss window) and RFC 6582 §3.2 step 4. */
  private onRetransmitTimeout(now: number): void {
    this.rtoAt = Infinity;
    const t = this.ctx.tun;
    if (this.st === SYN_RECEIVED || this.st === SYN_SENT) {
      // The SYN or SYN-ACK was lost: resend it with backoff, up to the retry limit.
      if (++this.retries > t.synAckRetries) {
        if (this.st === SYN_RECEIVED) this.sendControl(this.sndMax, TCP_RST);
        this.terminate("timeout");
        return;
      }
      this.rtt.backoff();
      this.sendSyn(now, this.st === SYN_RECEIVED);
      return;
    }
    if (this.sndUna === this.sndMax) return;
    if (this.sndWnd === 0 && this.sendBuf.len > 0) {
      // A zero window: the unacknowledged byte is a window probe (§3.8.6.1), which must not
      // time the connection out while the peer keeps answering.
      this.rtt.backoff();
      this.probe(now);
      this.rtoAt = now + this.rtt.rto();
      return;
    }
    if (++this.retries > t.maxRetries) {
      this.sendControl(this.sndMax, TCP_RST);
      this.terminate("timeout");
      return;
    }
    // §5.5: back off the timer.
    this.rtt.backoff();
    // RFC 5681 §3.1 eq. 4: ssthresh = max(FlightSize/2, 2*SMSS); cwnd = LW = 1 SMSS.
    this.cc.onRetransmitTimeout(seqDiff(this.sndMax, this.sndUna));
    // RFC 6582 §3.2 step 4 (after a timeout): recover = highest sequence number sent.
    this.inRecovery = false;
    this.dupAcks = 0;
    this.recover = this.sndMax;
    // RFC 2018 §8: the receiver may renege, so SACK information is discarded on a timeout.
    this.scoreboard.clear();
    this.rttTiming = false; // Karn's rule (RFC 6298 §3)
    // §5.4: retransmit the earliest unacknowledged segment; go back N from there.
    this.sndNxt = this.sndUna;
    this.trySend(now);
    // §5.6: start the timer with the backed-off RTO.
    this.rtoAt = now + this.rtt.rto();
  }

  /** The persist timer fired (§3.8.6.1): send a one-byte window probe. */
  private onPersist(now: number): void {
    this.persistAt = Infinity;
    if (this.sndWnd > 0 || this.sendBuf.len === 0) return;
    // The probe byte is now outstanding: the retransmission timer repeats it with backoff
    // (onRetransmitTimeout treats a zero window as probing, not loss).
    this.rtt.backoff();
    this.probe(now);
    this.rtoAt = now + this.rtt.rto();
  }

  /** Sends one byte beyond the window: new data if nothing is outstanding, else the first byte. */
  private probe(now: number): void {
    if (this.sndNxt === this.sndUna) {
      const fin = this.finQueued && seqAdd(this.sndNxt, 1) === this.finSeq;
      this.sendData(this.sndNxt, 1, fin, now);
    } else {
      this.sendData(this.sndUna, 1, false, now);
    }
  }

  // ------------------------------------------------------------------------------------------
  // State bookkeeping

  private isClosed(): boolean {
    return this.st === CLOSED;
  }

  private setState(s: number): void {
    const from = this.st;
    if (from === s) return;
    this.st = s;
    this.ctx.stateChanged(this, from, s);
  }

  /** Enters CLOSED, leaves the stack, and reports `reason` (after the app drained the data). */
  private terminate(reason: CloseReason): void {
    if (this.st === CLOSED) return;
    const wasTimeWait = this.st === TIME_WAIT;
    this.setState(CLOSED);
    this.ctx.detach(this);
    this.rtoAt =
      this.persistAt =
      this.delackAt =
      this.timeWaitAt =
        Infinity;
    this.sendBuf.reset();
    this.scoreboard.clear();
    if (wasTimeWait && this.closeNotified) return;
    if (reason === "closed" && this.recvBuf.len > 0 && !this.readClosed) {
      // Both sides finished but the application has not read everything: report the close once
      // it has (pull()), or when it closes or aborts.
      this.pendingClose = reason;
      this.recvBuf.ooo.clear();
      return;
    }
    this.notifyClose(reason);
  }

  private notifyClose(reason: CloseReason): void {
    if (this.closeNotified) return;
    this.closeNotified = true;
    this.pendingClose = null;
    this.recvBuf.reset();
    const h = this.handler;
    this.handler = null;
    h?.onClose?.(reason);
  }

  /** @internal Drops the connection without a segment (the stack is shutting down). */
  destroy(): void {
    this.terminate("aborted");
  }

  /** @internal Bytes held in buffers (for bounds and stats). */
  bufferedBytes(): number {
    return this.recvBuf.len + this.recvBuf.oooBytes() + this.sendBuf.len;
  }
}

function clampConsumed(k: number, max: number): number {
  if (!(k > 0)) return 0;
  if (k >= max) return max;
  return Math.floor(k);
}
