/**
 * The receiving half of a TCP connection (gVisor's `rcv`): the receive sequence variables of RFC
 * 9293 §3.3.1, the receive buffer with out-of-order reassembly, the delivery of in-order text to
 * the application (straight from the packet when it can take it), when to acknowledge (RFC 5681
 * §4.2, RFC 9293 §3.8.6.3) and what window to advertise (§3.8.6.2.2, RFC 7323 §2.4).
 *
 * The state machine (`connection.ts`) decides whether a segment's text and FIN are processed; this
 * layer processes the text. It never sends: it sets `ackNow` or the delayed-ACK deadline, and the
 * connection's flush sends. See `tcb.ts` for how the layers fit.
 *
 * @module
 */

import { seqAdd, seqDiff } from "../../wire/mod.ts";
import { PacketBuilder } from "../packet_builder.ts";
import { RecvBuffer } from "./recv_buffer.ts";
import { SackReceiver } from "./sack.ts";
import { TcpControlBlock } from "./tcb.ts";
import { clampConsumed, CLOSED } from "./types.ts";

/** Receive state of one connection; see the module documentation. */
export abstract class TcpReceiver extends TcpControlBlock {
  // Receive sequence variables (RFC 9293 §3.3.1); RCV.WND is the buffer's free space.
  protected irs = 0;
  protected rcvNxt = 0;
  /** The shift we apply to the window we advertise (RFC 7323 §2.3). */
  protected rcvShift = 0;
  /** Right edge last advertised. */
  protected rcvAdv = 0;
  /** RCV.NXT in the last ACK sent (Last.ACK.sent of RFC 7323). */
  protected lastAckSent = 0;
  /** TS.Recent (RFC 7323 §4.3). */
  protected tsRecent = 0;
  /** Our MSS (what we told the peer). */
  protected readonly ourMss = Math.min(
    65535,
    this.ctx.tun.mtu - PacketBuilder.ipHeaderLen(this.version) - 20,
  );
  protected readonly recvBuf = new RecvBuffer(
    this.ctx.tun.recvBufferSize,
    this.ctx.tun.maxOooRanges,
    this.ctx.pool,
  );
  /** Which out-of-order blocks to report first (RFC 2018 §4). */
  protected readonly sackRecv = new SackReceiver();
  /** Largest segment seen, for "ACK every second full-sized segment". */
  private rcvLargest = 0;
  protected finReceived = false;
  /** A FIN beyond a hole, remembered until the hole fills. */
  protected oooFin = false;
  protected oooFinSeq = 0;
  protected finDelivered = false;
  /** The application refused bytes: nothing more is offered until it pulls. */
  protected readPaused = false;
  /** The application closed: data is acknowledged and discarded. */
  protected readClosed = false;
  /** Delayed-ACK deadline (ms), Infinity when none is pending. */
  protected delackAt = Infinity;

  /** §3.10.7.4 seventh: in-order text goes to the application, out-of-order text is stored. */
  protected receiveText(buf: Uint8Array, off: number, n: number, seq: number, now: number): void {
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

  /** The window field to advertise, with receiver SWS avoidance and no shrinking. */
  protected windowField(): number {
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
  protected windowUpdateDue(): boolean {
    const right = seqAdd(this.rcvNxt, this.recvBuf.free);
    return seqDiff(right, this.rcvAdv) >= Math.min(this.recvBuf.capacity >>> 1, this.ourMss);
  }

  /** Our window-scale shift as offered in a SYN. */
  protected ourShiftForSyn(): number {
    let shift = 0;
    while (shift < 14 && this.recvBuf.capacity >>> shift > 65535) shift++;
    return shift;
  }
}
