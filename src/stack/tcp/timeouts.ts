/**
 * The timers of a TCP connection (RFC 9293 §3.10.8 TIMEOUTS, gVisor's `timer`): retransmission
 * (RFC 6298 §5) with the loss window of RFC 5681 §3.1, the persist timer and its window probes
 * (§3.8.6.1), delayed ACKs, keepalive (§3.8.4, RFC 1122 §4.2.3.6), TIME-WAIT and FIN-WAIT-2
 * expiry, and the idle timeout. Deadlines are absolute times in ms; the stack keeps each
 * connection in a heap under {@linkcode TcpTimeouts.deadline} and calls `onTimer(now)`. Nothing
 * here reads a clock. See `tcb.ts` for how the layers fit.
 *
 * @module
 */

import { seqAdd, seqDiff, TCP_ACK, TCP_RST } from "../../wire/mod.ts";
import { TcpSender } from "./sender.ts";
import {
  CLOSE_WAIT,
  CLOSED,
  ESTABLISHED,
  FIN_WAIT_2,
  SYN_RECEIVED,
  SYN_SENT,
  TIME_WAIT,
} from "./types.ts";

const KEEPALIVE_STATES = (1 << ESTABLISHED) | (1 << CLOSE_WAIT) | (1 << FIN_WAIT_2);

/** Timer state of one connection; see the module documentation. */
export abstract class TcpTimeouts extends TcpSender {
  /** TIME-WAIT (2 MSL) or orphaned FIN-WAIT-2 deadline. */
  protected timeWaitAt = Infinity;
  protected lastRecvAt = 0;
  protected keepaliveProbes = 0;
  private keepaliveSentAt = 0;

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
}
