/**
 * `hijack-dns` as an upstream: the connection path answers hijacked flows with the DNS module
 * through the same relay it uses for outbounds, so every inbound side (both TUN stacks, the
 * listeners) gets DNS hijacking without a code path of its own.
 *
 * - {@linkcode DnsStreamServer}: a {@linkcode Stream} speaking DNS over TCP (RFC 1035 §4.2.2,
 *   RFC 7766): each 2-byte-length-framed query written to it is answered, framed the same way,
 *   in the order the answers are ready (pipelined queries may be answered out of order, as RFC
 *   7766 §6.2.1.1 allows; clients match by message ID). When the client half-closes, the stream
 *   ends after the last answer.
 * - {@linkcode DnsPacketFlow}: a {@linkcode UdpFlow} whose datagrams are queries, answered from
 *   the address they were sent to.
 *
 * ```ts
 * const upstream = new DnsStreamServer(reactor, (q) => dns.handleQuery(q, meta));
 * side.start(upstream, onDone); // relayed like a dialed socket
 * ```
 *
 * @module
 */

import { frameMessage, FrameReader } from "../dns/tcp_framing.ts";
import type { Reactor } from "../io/reactor.ts";
import { JsStream, WOULD_BLOCK } from "../io/stream.ts";
import type { Destination, UdpFlow } from "../outbound/mod.ts";

/** Answers one DNS query message; null drops it. Must not throw (a rejection drops it too). */
export type DnsAnswer = (query: Uint8Array) => Promise<Uint8Array | null>;

/** Queries answered at once per connection; more wait (backpressure on the client). */
const MAX_IN_FLIGHT = 32;

/** DNS over TCP answered in process (see the module description). */
export class DnsStreamServer extends JsStream {
  readonly #answer: DnsAnswer;
  readonly #frames = new FrameReader();
  #inFlight = 0;
  #eof = false;
  #ended = false;
  /** Queries answered (for tests and logs). */
  answered = 0;

  constructor(reactor: Reactor, answer: DnsAnswer) {
    super(reactor);
    this.#answer = answer;
  }

  protected sendBytes(buf: Uint8Array): number {
    if (this.#inFlight >= MAX_IN_FLIGHT) return WOULD_BLOCK;
    this.#frames.push(buf);
    this.#drainQueries();
    return buf.length;
  }

  #drainQueries(): void {
    while (!this.#ended && this.#inFlight < MAX_IN_FLIGHT) {
      const query = this.#frames.next();
      if (query === null) break;
      this.#inFlight++;
      this.#answer(query).then(
        (answer) => this.#answered(answer),
        () => this.#answered(null),
      );
    }
    this.#maybeEnd();
  }

  #answered(answer: Uint8Array | null): void {
    const wasFull = this.#inFlight >= MAX_IN_FLIGHT;
    this.#inFlight--;
    if (this.#ended) return;
    if (answer !== null && answer.length > 0) {
      this.answered++;
      try {
        this.push(frameMessage(answer));
      } catch {
        // An answer too long for TCP framing cannot be sent; the client times out.
      }
    }
    if (wasFull) {
      this.#drainQueries();
      this.sendReady();
    } else this.#maybeEnd();
  }

  #maybeEnd(): void {
    if (this.#eof && this.#inFlight === 0 && !this.#ended) {
      this.#ended = true;
      this.pushEof();
    }
  }

  protected sendEof(): void {
    this.#eof = true;
    this.#maybeEnd();
  }

  protected destroy(): void {
    this.#ended = true;
  }
}

/** A UDP flow answered by the DNS module (see the module description). */
export class DnsPacketFlow implements UdpFlow {
  onPacket: ((payload: Uint8Array, from: Destination) => void) | null = null;
  onClose: ((reason?: Error) => void) | null = null;
  dropped = 0;
  #closed = false;

  constructor(readonly answer: DnsAnswer) {}

  send(payload: Uint8Array, dest: Destination): void {
    if (this.#closed) return;
    // The payload and destination are only valid during the call: answer from copies.
    const from: Destination = { port: dest.port };
    if (dest.addr) from.addr = dest.addr.slice();
    if (dest.domain !== undefined) from.domain = dest.domain;
    this.answer(payload.slice()).then((answer) => {
      if (this.#closed) return;
      if (answer === null) {
        this.dropped++;
        return;
      }
      this.onPacket?.(answer, from);
    }, () => {
      this.dropped++;
    });
  }

  close(): void {
    this.#closed = true;
  }
}
