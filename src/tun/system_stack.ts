/**
 * The system stack inside a packet worker: TCP segments from the TUN are rewritten by
 * {@linkcode SystemNat} and written straight back, so the kernel's own TCP terminates every flow
 * on a listener bound to the TUN address; each accepted socket is mapped back to its original
 * 4-tuple through the shared NAT table and handed to the {@linkcode ConnectionPath}.
 *
 * The listening socket (one per family) is created by the main thread after the TUN address
 * exists and shared by every worker's reactor: whichever worker accepts a connection relays it.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Reactor } from "../io/reactor.ts";
import { TcpListener, type TcpSocket, WOULD_BLOCK } from "../io/socket.ts";
import type { Stream } from "../io/stream.ts";
import type { ConnControl, ConnectionPath, FlowStats, TcpInboundSide } from "../conn/mod.ts";
import { relay } from "../io/relay.ts";
import { newConnMetadata } from "../route/metadata.ts";
import { type NatFamily, NatVerdict, SystemNat } from "../stack/nat.ts";
import type { NatTable } from "../stack/nat_table.ts";
import { resetInPlace } from "../stack/tcp_reset.ts";

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

  start(upstream: Stream, onDone: (stats: FlowStats) => void): ConnControl {
    return relay(this.sock, upstream, {
      onClose: (s) =>
        onDone(s.error ? { up: s.up, down: s.down, error: s.error } : { up: s.up, down: s.down }),
    });
  }

  reject(): void {
    this.sock.abort();
  }

  drop(): void {
    this.sock.abort();
  }
}

/** Per-worker system stack state. */
export class SystemStack {
  readonly nat: SystemNat;
  #listeners: TcpListener[] = [];

  constructor(
    readonly reactor: Reactor,
    readonly path: ConnectionPath,
    table: NatTable,
    v4: NatFamily | null,
    v6: NatFamily | null,
    listenFds: readonly number[],
    readonly inboundTag: string,
  ) {
    this.nat = new SystemNat(
      table,
      v4,
      v6,
      (pkt, l4Off, family) => this.#preMatch(pkt, l4Off, family),
    );
    for (const fd of listenFds) {
      const l = TcpListener.adopt(reactor, fd, (sock) => this.#onAccept(sock));
      l.onPause = (error) =>
        log.error("accepting TCP connections paused: {error} (raise the open-files limit)", {
          error: error.message,
        });
      this.#listeners.push(l);
    }
  }

  /** The worker whose TUN queue the last forwarded packet belongs on. */
  get writeTo(): number {
    return this.nat.writeTo;
  }

  /**
   * The dispatcher's TCP entry point: rewrites the segment (IP header at 0, TCP at
   * `buf[l4Off..l4End)`) in place and hands it to `writeBack` when it must go back into the TUN.
   * `partial`: its checksum is partial (offload), and stays so.
   */
  inputSegment(
    buf: Uint8Array,
    version: number,
    _srcOff: number,
    _dstOff: number,
    l4Off: number,
    l4End: number,
    now: number,
    partial = false,
  ): void {
    const family = version === 6 ? 6 : 4;
    const verdict = this.nat.process(buf, l4Off, l4End, family, now, partial);
    if (verdict === NatVerdict.Forward) {
      this.writeBack(buf, l4End, this.nat.writeTo, true);
    } else if (verdict === NatVerdict.Reset) {
      const len = resetInPlace(buf, l4Off, l4End, family);
      this.writeBack(buf, len, this.nat.table.workerIndex, false);
    } else if (verdict === NatVerdict.Exhausted && this.nat.exhausted % 1000 === 1) {
      log.error(
        "NAT port table of this worker is full ({n} sessions); new TCP connections are dropped",
        { n: this.nat.table.size },
      );
    }
  }

  /**
   * sing-box's pre-match on a new flow's SYN: a rule decidable without data that rejects the
   * flow refuses the SYN itself (RST, "connection refused") or drops it, before the kernel
   * would accept it. A router error refuses it too (fail closed). Everything else is allowed
   * and routed after accept.
   */
  #preMatch(pkt: Uint8Array, l4Off: number, family: 4 | 6): NatVerdict {
    const path = this.path;
    if (!path.canPreMatch) return NatVerdict.Forward; // FakeIP/reverse mapping: after accept
    const alen = family === 4 ? 4 : 16;
    const srcOff = family === 4 ? 12 : 8;
    const meta = newConnMetadata({
      id: 0,
      inbound: this.inboundTag,
      inboundType: "tun",
      network: "tcp",
      source: {
        addr: pkt.slice(srcOff, srcOff + alen),
        port: (pkt[l4Off]! << 8) | pkt[l4Off + 1]!,
      },
      destination: {
        addr: pkt.slice(srcOff + alen, srcOff + 2 * alen),
        port: (pkt[l4Off + 2]! << 8) | pkt[l4Off + 3]!,
      },
    });
    const decision = path.preMatch(meta);
    if (decision?.action !== "reject") return NatVerdict.Forward;
    path.refusedAtSyn(meta, decision);
    return decision.method === "drop" ? NatVerdict.Drop : NatVerdict.Reset;
  }

  /**
   * Where rewritten packets go (set by the engine): the packet `buf[0..length)`, the worker
   * whose queue, and whether it is the packet read, only rewritten (`rewritten`: whatever the
   * TUN said of it on reading — segmentation, partial checksum — still holds) or a new one
   * built in its place (a RST, with a full checksum).
   */
  writeBack: (buf: Uint8Array, length: number, worker: number, rewritten: boolean) => void =
    () => {};

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
      sock.abort();
      return;
    }
    const meta = newConnMetadata({
      id: this.path.nextId(),
      inbound: this.inboundTag,
      inboundType: "tun",
      network: "tcp",
      source: { addr: flow.src, port: flow.srcPort },
      destination: { addr: flow.dst, port: flow.dstPort },
    });
    void this.path.tcp(meta, new AcceptedSide(this.reactor, sock));
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
