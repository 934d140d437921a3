/**
 * The system stack inside a packet worker: TCP segments from the TUN are rewritten by
 * {@linkcode SystemNat} and written straight back, so the kernel's own TCP terminates every flow
 * on a listener bound to the TUN address; each accepted socket is mapped back to its original
 * 4-tuple through the shared NAT table and handed to {@linkcode handleTcpFlow}.
 *
 * The listening socket (one per family) is created by the main thread after the TUN address
 * exists and shared by every worker's reactor: whichever worker accepts a connection relays it.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Reactor } from "../io/reactor.ts";
import { TcpListener, type TcpSocket, WOULD_BLOCK } from "../io/socket.ts";
import { abortSocket, relay } from "../outbound/relay.ts";
import { newConnMetadata } from "../route/metadata.ts";
import { type NatFamily, NatVerdict, SystemNat } from "../stack/nat.ts";
import type { NatTable } from "../stack/nat_table.ts";
import { type FlowEnv, type FlowStats, handleTcpFlow, type TcpInboundSide } from "./tcp_flow.ts";

const log = getLogger(["tunbox", "tun"]);

/** Re-checks for more sniffable bytes at this interval while data is pending. */
const PEEK_RETRY_MS = 2;

/** The application side of a system-stack flow: the kernel socket accepted from the listener. */
class AcceptedSide implements TcpInboundSide {
  #peekBuf: Uint8Array | undefined;

  constructor(readonly reactor: Reactor, readonly sock: TcpSocket) {}

  async peek(minBytes: number, deadline: number): Promise<Uint8Array> {
    this.#peekBuf ??= new Uint8Array(16384);
    for (;;) {
      let n: number;
      try {
        n = this.sock.peek(this.#peekBuf);
      } catch {
        return new Uint8Array(0);
      }
      if (n === 0) return new Uint8Array(0); // the application closed
      const have = n === WOULD_BLOCK ? 0 : n;
      if (have >= minBytes || have === this.#peekBuf.length || this.reactor.now() >= deadline) {
        return this.#peekBuf.subarray(0, have);
      }
      const wait = Math.max(1, Math.min(PEEK_RETRY_MS, deadline - this.reactor.now()));
      if (have === 0) {
        // Nothing pending: wait for readability or the deadline, whichever comes first.
        await new Promise<void>((resolve) => {
          const timer = this.reactor.setTimeout(deadline - this.reactor.now(), resolve);
          this.sock.readable().then(() => {
            timer.cancel();
            resolve();
          }, resolve);
        });
      } else {
        await new Promise<void>((resolve) => this.reactor.setTimeout(wait, resolve));
      }
      if (this.sock.closed) return new Uint8Array(0);
    }
  }

  start(upstream: TcpSocket, onDone: (stats: FlowStats) => void): void {
    relay(this.sock, upstream, {
      onClose: (s) =>
        onDone(s.error ? { up: s.up, down: s.down, error: s.error } : { up: s.up, down: s.down }),
    });
  }

  reset(): void {
    abortSocket(this.sock);
  }

  drop(): void {
    abortSocket(this.sock);
  }
}

/** Per-worker system stack state. */
export class SystemStack {
  readonly nat: SystemNat;
  #listeners: TcpListener[] = [];
  #nextId: () => number;

  constructor(
    readonly reactor: Reactor,
    readonly env: FlowEnv,
    table: NatTable,
    v4: NatFamily | null,
    v6: NatFamily | null,
    listenFds: readonly number[],
    readonly inboundTag: string,
    nextId: () => number,
  ) {
    this.nat = new SystemNat(table, v4, v6);
    this.#nextId = nextId;
    for (const fd of listenFds) {
      const l = TcpListener.adopt(reactor, fd, (sock) => this.#onAccept(sock));
      l.onPause = (error) =>
        log.error("accepting TCP connections paused: {error} (raise the open-files limit)", {
          error: error.message,
        });
      this.#listeners.push(l);
    }
  }

  /**
   * Rewrites a TCP packet in place. Returns true when it must be written back to the TUN, on
   * the queue of worker {@linkcode SystemStack.writeTo}.
   */
  process(pkt: Uint8Array, l4Off: number, family: 4 | 6, now: number): boolean {
    const verdict = this.nat.process(pkt, l4Off, family, now);
    if (verdict === NatVerdict.Exhausted && this.nat.exhausted % 1000 === 1) {
      log.error(
        "NAT port table of this worker is full ({n} sessions); new TCP connections are dropped",
        { n: this.nat.table.size },
      );
    }
    return verdict === NatVerdict.Forward;
  }

  /** The worker whose TUN queue the last forwarded packet belongs on. */
  get writeTo(): number {
    return this.nat.writeTo;
  }

  /**
   * The dispatcher's TCP entry point: rewrites the segment (IP header at 0, TCP at `l4Off`)
   * and hands it to `writeBack(packet, worker)` when it must go back into the TUN.
   */
  inputSegment(
    buf: Uint8Array,
    version: number,
    _srcOff: number,
    _dstOff: number,
    l4Off: number,
    l4End: number,
    now: number,
  ): void {
    const pkt = l4End === buf.length ? buf : buf.subarray(0, l4End);
    if (this.process(pkt, l4Off, version === 6 ? 6 : 4, now)) this.writeBack(pkt, this.nat.writeTo);
  }

  /** Where rewritten packets go (set by the engine): the packet and the worker whose queue. */
  writeBack: (packet: Uint8Array, worker: number) => void = () => {};

  #onAccept(sock: TcpSocket): void {
    let peerPort: number;
    try {
      peerPort = sock.peerAddr().port;
    } catch {
      sock.close();
      return;
    }
    const flow = this.nat.table.flow(peerPort);
    if (!flow) {
      log.debug("accepted a connection from NAT port {port} with no session; resetting", {
        port: peerPort,
      });
      abortSocket(sock);
      return;
    }
    const meta = newConnMetadata({
      id: this.#nextId(),
      inbound: this.inboundTag,
      inboundType: "tun",
      network: "tcp",
      source: { addr: flow.src, port: flow.srcPort },
      destination: { addr: flow.dst, port: flow.dstPort },
    });
    void handleTcpFlow(this.env, meta, new AcceptedSide(this.reactor, sock));
  }

  /** Frees idle and closed NAT sessions this worker owns. */
  expire(now: number): number {
    return this.nat.table.expire(now);
  }

  close(): void {
    for (const l of this.#listeners) l.close();
    this.#listeners = [];
    this.nat.table.clear();
  }
}
