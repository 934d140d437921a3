/**
 * One TCP connection: the RFC 9293 state machine, written as one explicit function per event
 * ("SEGMENT ARRIVES" §3.10.7, user calls §3.10.1–§3.10.5, timeouts §3.10.8) whose branches cite the
 * rule they implement. Supporting pieces live next to it: {@linkcode SendBuffer} and
 * {@linkcode RecvBuffer} (with out-of-order reassembly), {@linkcode RttEstimator} (RFC 6298),
 * {@linkcode NewReno} (RFC 5681/6582), {@linkcode SackScoreboard} and {@linkcode SackReceiver}
 * (RFC 2018/6675).
 *
 * The connection is built in layers (see `tcb.ts`): {@linkcode TcpReceiver} (`receiver.ts`),
 * {@linkcode TcpSender} (`sender.ts`) and {@linkcode TcpTimeouts} (`timeouts.ts`); this file
 * holds the state machine and the application API on top.
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

import {
  seqAdd,
  seqDiff,
  seqGe,
  seqGt,
  seqLe,
  seqLt,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from "../../wire/mod.ts";
import { PacketBuilder } from "../packet_builder.ts";
import { TcpTimeouts } from "./timeouts.ts";
import {
  clampConsumed,
  CLOSE_WAIT,
  CLOSED,
  type CloseReason,
  CLOSING,
  ESTABLISHED,
  FIN_WAIT_1,
  FIN_WAIT_2,
  LAST_ACK,
  type Segment,
  SYN_RECEIVED,
  SYN_SENT,
  type SynOptions,
  TCP_STATES,
  type TcpState,
  TIME_WAIT,
} from "./types.ts";

export {
  type CloseReason,
  type ConnectionHandler,
  Segment,
  type SynOptions,
  TCP_STATES,
  type TcpConnectionCounters,
  type TcpState,
} from "./types.ts";
export type { StackContext } from "./tcb.ts";

const TS_OPT_LEN = 12;
/** States in which data may still be sent (RFC 9293 §3.10.2 SEND, plus the FIN states). */
const SEND_STATES = (1 << ESTABLISHED) | (1 << CLOSE_WAIT) | (1 << FIN_WAIT_1) | (1 << CLOSING) |
  (1 << LAST_ACK);
/** States in which received text is processed (§3.10.7.4 seventh). */
const TEXT_STATES = (1 << ESTABLISHED) | (1 << FIN_WAIT_1) | (1 << FIN_WAIT_2);

/** A TCP connection. Created by {@linkcode TcpStack}; see the module documentation. */
export class TcpConnection extends TcpTimeouts {
  /** Inside `input()`: flushing waits until the segment is processed. */
  private busy = 0;
  private writeBlocked = false;
  private pendingClose: CloseReason | null = null;

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
  // Output and notifications

  /** Sends what can be sent and a pending ACK, then runs deferred notifications. */
  protected override flush(): void {
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

  // ------------------------------------------------------------------------------------------
  // Closing

  /** Enters CLOSED, leaves the stack, and reports `reason` (after the app drained the data). */
  protected override terminate(reason: CloseReason): void {
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

  /**
   * @internal RFC 9293 §3.10.7.4 (note on TIME-WAIT) / RFC 6191: a new SYN with a higher sequence
   * number (or a newer timestamp) may reopen a connection in TIME-WAIT.
   */
  acceptsNewSyn(seg: Segment): boolean {
    return this.st === TIME_WAIT && (seg.flags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN &&
      (seqGt(seg.seq, this.rcvNxt) ||
        (this.tsOk && seg.opts.hasTimestamp && seqGt(seg.opts.tsVal, this.tsRecent)));
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
