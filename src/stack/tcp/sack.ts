/**
 * Selective acknowledgment (RFC 2018).
 *
 * - Receiving side: {@linkcode SackReceiver} picks the SACK blocks to send from the out-of-order
 *   ranges, the block holding the most recently received segment first (RFC 2018 §4).
 * - Sending side: {@linkcode SackScoreboard} keeps what the peer reported as received above
 *   SND.UNA, for choosing retransmissions and estimating `pipe` during loss recovery (RFC 6675).
 *
 * @module
 */

import { seqAdd, seqDiff } from "../../wire/mod.ts";
import { RangeSet } from "../range_set.ts";

/** Most blocks a segment carries: 4 without timestamps, 3 with (RFC 2018 §3). */
export const MAX_SACK_BLOCKS = 4;

/** Chooses SACK blocks for outgoing ACKs from the receive buffer's out-of-order ranges. */
export class SackReceiver {
  /** Sequence numbers of recently received out-of-order segments, most recent first. */
  private readonly recent = new Float64Array(MAX_SACK_BLOCKS);
  private nRecent = 0;

  /** Notes an out-of-order segment starting at sequence number `seq`. */
  noteReceived(seq: number): void {
    const r = this.recent;
    let i = 0;
    while (i < this.nRecent && r[i] !== seq) i++;
    if (i === this.nRecent && this.nRecent < MAX_SACK_BLOCKS) this.nRecent++;
    for (let k = Math.min(i, this.nRecent - 1); k > 0; k--) r[k] = r[k - 1]!;
    r[0] = seq;
  }

  /** Forgets everything (all out-of-order data has been delivered or dropped). */
  clear(): void {
    this.nRecent = 0;
  }

  /**
   * Writes up to `max` blocks `[left, right]` pairs into `out` for the ranges in `ooo` (offsets
   * from `rcvNxt`) and returns the count: first the ranges holding recently received segments,
   * then the rest in ascending order.
   */
  fill(rcvNxt: number, ooo: RangeSet, out: Uint32Array, max: number): number {
    let n = 0;
    const used = (s: number) => {
      for (let k = 0; k < n; k++) if (out[2 * k] === s) return true;
      return false;
    };
    for (let k = 0; k < this.nRecent && n < max; k++) {
      const rel = seqDiff(this.recent[k]!, rcvNxt);
      if (rel <= 0) continue;
      for (let i = 0; i < ooo.count; i++) {
        if (rel >= ooo.startAt(i) && rel < ooo.endAt(i)) {
          const left = seqAdd(rcvNxt, ooo.startAt(i));
          if (!used(left)) {
            out[2 * n] = left;
            out[2 * n + 1] = seqAdd(rcvNxt, ooo.endAt(i));
            n++;
          }
          break;
        }
      }
    }
    for (let i = 0; i < ooo.count && n < max; i++) {
      const left = seqAdd(rcvNxt, ooo.startAt(i));
      if (used(left)) continue;
      out[2 * n] = left;
      out[2 * n + 1] = seqAdd(rcvNxt, ooo.endAt(i));
      n++;
    }
    return n;
  }
}

/** The sender's record of SACKed data, as offsets from SND.UNA. */
export class SackScoreboard {
  readonly ranges: RangeSet;

  constructor(maxRanges: number) {
    this.ranges = new RangeSet(maxRanges);
  }

  /**
   * Adds the SACK blocks of an incoming ACK (pairs in `blocks`), keeping only parts inside
   * (SND.UNA, SND.MAX]; blocks at or below SND.UNA are D-SACKs (RFC 2883) and are ignored.
   */
  update(blocks: Uint32Array, count: number, sndUna: number, sndMax: number): void {
    const limit = seqDiff(sndMax, sndUna);
    for (let k = 0; k < count; k++) {
      let s = seqDiff(blocks[2 * k]!, sndUna);
      let e = seqDiff(blocks[2 * k + 1]!, sndUna);
      if (e <= 0 || s >= limit || e <= s) continue;
      if (s < 0) s = 0;
      if (e > limit) e = limit;
      // On overflow the block is not recorded; the data is just retransmitted needlessly.
      this.ranges.add(s, e);
    }
  }

  /** SND.UNA advanced by `n`. */
  onAck(n: number): void {
    this.ranges.shift(n);
  }

  clear(): void {
    this.ranges.clear();
  }

  /** Bytes SACKed above SND.UNA. */
  sackedBytes(): number {
    return this.ranges.totalLen();
  }

  /** Offset just past the highest SACKed byte (0 when nothing is SACKed). */
  highestSacked(): number {
    return this.ranges.highestEnd();
  }

  /** True when the byte at `offset` was SACKed. */
  isSacked(offset: number): boolean {
    return this.ranges.contains(offset);
  }
}
