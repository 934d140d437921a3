/**
 * NewReno congestion control for the direction we send: slow start and congestion avoidance
 * (RFC 5681 §3.1), fast retransmit and fast recovery with the NewReno partial-ACK rule
 * (RFC 6582 §3.2), and the initial window of RFC 6928. When the peer supports SACK, recovery keeps
 * cwnd at ssthresh and the sender paces by the `pipe` estimate (RFC 6675 §5) instead of inflating
 * cwnd with each duplicate ACK.
 *
 * @module
 */

/** Congestion window state of one connection; sizes in bytes. */
export class NewReno {
  cwnd = 0;
  ssthresh = Number.MAX_SAFE_INTEGER;
  /** Bytes acknowledged in congestion avoidance since cwnd last grew. */
  private acked = 0;
  mss = 536;

  /** Sets the sender MSS and the initial window (RFC 6928 §2: min(10*MSS, max(2*MSS, 14600))). */
  init(mss: number): void {
    this.mss = mss;
    this.cwnd = Math.min(10 * mss, Math.max(2 * mss, 14600));
  }

  /** True while cwnd < ssthresh. */
  inSlowStart(): boolean {
    return this.cwnd < this.ssthresh;
  }

  /** New data acknowledged outside recovery. */
  onAck(bytesAcked: number): void {
    if (this.cwnd < this.ssthresh) {
      // RFC 5681 §3.1 eq. 2 with appropriate byte counting (RFC 3465, L = 2*SMSS).
      this.cwnd += Math.min(bytesAcked, 2 * this.mss);
    } else {
      // RFC 5681 §3.1: congestion avoidance by byte counting, one SMSS per cwnd acknowledged.
      this.acked += bytesAcked;
      if (this.acked >= this.cwnd) {
        this.acked -= this.cwnd;
        this.cwnd += this.mss;
      }
    }
    if (this.cwnd > 0x40000000) this.cwnd = 0x40000000;
  }

  /**
   * Entering fast recovery (RFC 5681 §3.2 step 2, eq. 4; RFC 6582 §3.2 step 2): ssthresh =
   * max(FlightSize/2, 2*SMSS); cwnd = ssthresh + 3*SMSS, or ssthresh with SACK (RFC 6675 §5).
   */
  onEnterRecovery(flightSize: number, sack: boolean): void {
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    this.cwnd = sack ? this.ssthresh : this.ssthresh + 3 * this.mss;
    this.acked = 0;
  }

  /** RFC 5681 §3.2 step 4 / RFC 6582 §3.2 step 3: each further duplicate ACK inflates cwnd. */
  onDupAckInRecovery(): void {
    this.cwnd += this.mss;
  }

  /**
   * RFC 6582 §3.2 step 5 (partial ACK, non-SACK): deflate by the data acknowledged and add back
   * one SMSS if at least one SMSS was acknowledged.
   */
  onPartialAck(bytesAcked: number): void {
    this.cwnd = Math.max(
      this.mss,
      this.cwnd - bytesAcked + (bytesAcked >= this.mss ? this.mss : 0),
    );
  }

  /** RFC 6582 §3.2 step 3 (full ACK), option 1: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS). */
  onExitRecovery(flightSize: number): void {
    this.cwnd = Math.min(this.ssthresh, Math.max(flightSize, this.mss) + this.mss);
    this.acked = 0;
  }

  /** RFC 5681 §3.1 eq. 4 and the loss window: ssthresh = max(FlightSize/2, 2*SMSS), cwnd = 1 SMSS. */
  onRetransmitTimeout(flightSize: number): void {
    this.ssthresh = Math.max(Math.floor(flightSize / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.acked = 0;
  }
}
