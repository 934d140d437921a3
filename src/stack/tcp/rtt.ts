/**
 * Retransmission timeout computation per RFC 6298: SRTT and RTTVAR smoothing (§2), a lower and
 * upper bound (§2.4, §2.5) and exponential backoff on expiry (§5.5). Karn's rule (§3) is applied
 * by the caller, which only feeds samples from segments that were not retransmitted (or samples
 * from timestamps, RFC 7323 §4).
 *
 * @module
 */

/** RTO estimator for one connection; all times in milliseconds. */
export class RttEstimator {
  srtt = 0;
  rttvar = 0;
  hasSample = false;
  /** RTO before backoff. */
  private base: number;
  /** Number of backoffs since the last sample. */
  backoffs = 0;

  constructor(
    initialRto: number,
    private readonly minRto: number,
    private readonly maxRto: number,
    /** Clock granularity G. */
    private readonly granularity = 1,
  ) {
    // RFC 6298 §2.1: until a measurement is made, RTO = 1 s (configurable here).
    this.base = initialRto;
  }

  /** Adds a measurement `r` (ms) and recomputes the RTO; clears the backoff. */
  sample(r: number): void {
    if (r < 0) r = 0;
    if (!this.hasSample) {
      // RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2.
      this.srtt = r;
      this.rttvar = r / 2;
      this.hasSample = true;
    } else {
      // RFC 6298 §2.3: beta = 1/4, alpha = 1/8; RTTVAR first, using the old SRTT.
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    // RTO <- SRTT + max(G, K*RTTVAR), K = 4; bounded by §2.4 (minimum) and §2.5 (maximum).
    this.base = Math.min(
      this.maxRto,
      Math.max(this.minRto, this.srtt + Math.max(this.granularity, 4 * this.rttvar)),
    );
    this.backoffs = 0;
  }

  /** The current RTO including backoff, bounded by the maximum. */
  rto(): number {
    return Math.min(this.maxRto, this.base * 2 ** this.backoffs);
  }

  /** RFC 6298 §5.5: doubles the RTO after a timer expiry. */
  backoff(): void {
    if (this.base * 2 ** this.backoffs < this.maxRto) this.backoffs++;
  }
}
