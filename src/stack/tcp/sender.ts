/**
 * The sending half of a TCP connection (gVisor's `snd`): the send sequence variables of RFC 9293
 * §3.3.1, the send buffer, processing of the peer's ACKs (§3.10.7.4 fifth) with RTT measurement
 * (RFC 6298, RFC 7323 §4.1), congestion control (RFC 5681, {@linkcode NewReno}) and loss recovery
 * (RFC 6582, SACK per RFC 6675), sending data as the windows allow with sender SWS avoidance, and
 * building every outgoing segment with its options. See `tcb.ts` for how the layers fit.
 *
 * @module
 */

import {
  emitTcpOptions,
  seqAdd,
  seqDiff,
  seqGe,
  seqGt,
  seqLe,
  seqLt,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  tcpOptionsLen,
} from "../../wire/mod.ts";
import { NewReno } from "./congestion.ts";
import { TcpReceiver } from "./receiver.ts";
import { RttEstimator } from "./rtt.ts";
import { MAX_SACK_BLOCKS, SackScoreboard } from "./sack.ts";
import { SendBuffer } from "./send_buffer.ts";
import { CLOSE_WAIT, ESTABLISHED, type Segment, SYN_RECEIVED, SYN_SENT } from "./types.ts";

/** Shared `{start, end}` for gap searches. */
const gap = { start: 0, end: 0 };

/** Payload room of the largest IP packet (65,535) after an IPv6 header and a full TCP header. */
const SUPER_SEGMENT_PAYLOAD = 65535 - 40 - 60;

/** The most payload one super segment carries: whole segments of `per` bytes that fit a packet. */
function superMax(per: number): number {
  return per * Math.max(1, Math.floor(SUPER_SEGMENT_PAYLOAD / per));
}

/** Send state of one connection; see the module documentation. */
export abstract class TcpSender extends TcpReceiver {
  // Send sequence variables (RFC 9293 §3.3.1). sndMax is the highest sequence number sent;
  // sndNxt moves back to sndUna after a retransmission timeout (go-back-N).
  protected iss = 0;
  protected sndUna = 0;
  protected sndNxt = 0;
  protected sndMax = 0;
  /** Scaled send window. */
  protected sndWnd = 0;
  protected sndWl1 = 0;
  protected sndWl2 = 0;
  protected maxSndWnd = 0;
  protected sndShift = 0;
  /** Payload bytes per segment we send. */
  protected sndMss = 536;
  protected readonly sendBuf = new SendBuffer(this.ctx.tun.sendBufferSize, this.ctx.pool);
  protected finQueued = false;
  /** Sequence number of our FIN. */
  protected finSeq = 0;

  // Retransmission (RFC 6298): absolute deadlines in ms, Infinity when off.
  protected rtoAt = Infinity;
  protected persistAt = Infinity;
  protected lastSendAt = 0;
  /** Consecutive retransmission timeouts. */
  protected retries = 0;
  protected readonly rtt = new RttEstimator(
    this.ctx.tun.initialRtoMs,
    this.ctx.tun.minRtoMs,
    this.ctx.tun.maxRtoMs,
  );
  protected rttTiming = false;
  private rttSeq = 0;
  protected rttTime = 0;

  // Congestion control and loss recovery.
  protected readonly cc: NewReno = new NewReno();
  protected dupAcks = 0;
  protected inRecovery = false;
  protected recover = 0;
  /** Highest sequence number retransmitted in this recovery. */
  protected highRxt = 0;
  protected readonly scoreboard = new SackScoreboard(this.ctx.tun.maxOooRanges);
  private readonly sackOut = new Uint32Array(2 * MAX_SACK_BLOCKS);
  /** Random offset of our timestamp clock (RFC 7323 §5.4). */
  private readonly tsOffset = this.ctx.random32();

  /**
   * §3.10.7.4 fifth for ESTABLISHED and later: advance SND.UNA, update the window, and drive RTT
   * measurement, congestion control and loss recovery. Returns false to drop the segment.
   */
  protected processAck(seg: Segment, textLen: number, fin: boolean, now: number): boolean {
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
        // RFC 5681 §3.1: slow start or congestion avoidance, counting the new data acknowledged
        // (not our SYN).
        this.cc.onAck(acked - synPart);
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

  /** First sequence number of the data in the send buffer. */
  protected dataStart(): number {
    return this.sndUna === this.iss ? seqAdd(this.iss, 1) : this.sndUna;
  }

  protected canWrite(): boolean {
    return !this.finQueued &&
      (this.st === ESTABLISHED || this.st === CLOSE_WAIT || this.st === SYN_RECEIVED ||
        this.st === SYN_SENT);
  }

  /**
   * Sends new data and retransmissions as the windows allow (RFC 5681 §3.1; RFC 6675 §5 during
   * SACK recovery), the FIN after the data, and arms the persist timer on a zero window.
   */
  protected trySend(now: number): void {
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
        const n = Math.min(
          unsent,
          usable,
          this.ctx.tun.segmentationOffload ? superMax(maxSeg) : maxSeg,
        );
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
    // Under segmentation offload, more than one segment's payload goes as a super segment.
    const per = this.ctx.tun.segmentationOffload ? this.maxPayload() : n;
    this.emit(seq, flags, n, now, false, n > per ? per : 0);
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
  protected sendSyn(now: number, withAck: boolean): void {
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
  protected sendControl(seq: number, flags: number): void {
    this.emit(seq, flags, 0, this.ctx.now, false);
  }

  /** Our timestamp clock: ms plus a random per-connection offset (RFC 7323 §5.4). */
  protected tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }

  /**
   * Builds and emits one segment; with `segmentSize` > 0 a super segment of `n` bytes standing
   * for segments of `segmentSize` bytes (segmentation offload).
   */
  protected emit(
    seq: number,
    flags: number,
    n: number,
    now: number,
    syn: boolean,
    segmentSize = 0,
  ): void {
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
    out.finish(this.version, 6, o, tcpLen, 16, segmentSize);
    this.segmentsSent++;
    this.lastSendAt = now;
    if (withAck && !rst) {
      this.lastAckSent = this.rcvNxt;
      this.ackNow = false;
      this.delackAt = Infinity;
      this.rcvAdv = seqAdd(this.rcvNxt, syn ? wnd : wnd * 2 ** this.rcvShift);
    }
  }

  /** Sends one byte beyond the window: new data if nothing is outstanding, else the first byte. */
  protected probe(now: number): void {
    if (this.sndNxt === this.sndUna) {
      const fin = this.finQueued && seqAdd(this.sndNxt, 1) === this.finSeq;
      this.sendData(this.sndNxt, 1, fin, now);
    } else {
      this.sendData(this.sndUna, 1, false, now);
    }
  }
}
