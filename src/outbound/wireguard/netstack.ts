/**
 * tunbox's own TCP/IP stack run as a client towards a tunnel (WireGuard): connections are
 * opened here (an active open of `src/stack/`'s {@linkcode TcpStack}, from one of the
 * interface's addresses and an ephemeral port) and their IP packets go to `output`; packets
 * from the tunnel come back through {@linkcode ClientNetstack.input}. UDP datagrams are built
 * and demultiplexed by local port. `src/stack/` stays what it is (it depends only on
 * `src/wire/`); this module adapts it to streams and flows.
 *
 * @module
 */

import type { Reactor } from "../../io/reactor.ts";
import { JsStream, type Stream, WOULD_BLOCK } from "../../io/stream.ts";
import type { Timer } from "../../io/timer_queue.ts";
import { carveBytes } from "../../io/carve.ts";
import { Dispatcher, type UdpDatagram } from "../../stack/dispatch.ts";
import { PacketBuilder } from "../../stack/packet_builder.ts";
import {
  type CloseReason,
  type ConnectionHandler,
  type TcpConnection,
  TcpStack,
} from "../../stack/tcp/mod.ts";
import {
  get16,
  get32,
  IPPROTO_TCP,
  IPPROTO_UDP,
  parseTcpOptions,
  seqDiff,
  TCP_ACK,
  TcpOptions,
} from "../../wire/mod.ts";
import { E, SysError } from "../../../ffi/errno.ts";
import type { Destination, UdpFlow } from "../types.ts";

const EPHEMERAL_LOW = 32768;
const EPHEMERAL_SPAN = 28232;

/** A {@linkcode TcpConnection} of the client stack as a {@linkcode Stream}. */
export class NetstackTcpStream extends JsStream {
  conn: TcpConnection | null = null;
  /** The connection's callbacks (the stack calls these). */
  readonly handler: ConnectionHandler = {
    onData: (view) => this.#onData(view),
    onEstablished: () => this.#onEstablished(),
    onWritable: () => this.sendReady(),
    onFin: () => this.pushEof(),
    onClose: (reason) => this.#onClose(reason),
  };
  #established: { resolve: () => void; reject: (e: Error) => void } | null = null;
  #held = false;

  constructor(reactor: Reactor, readonly stack: ClientNetstack) {
    super(reactor);
  }

  /** Resolves when the handshake completes; rejects when it is refused or times out. */
  established(): Promise<void> {
    return new Promise((resolve, reject) => this.#established = { resolve, reject });
  }

  #onData(view: Uint8Array): number {
    if (this.bufferedAmount >= this.highWaterMark) {
      this.#held = true;
      return 0;
    }
    const copy = carveBytes(view.length); // the stack reuses `view`
    copy.set(view);
    this.push(copy);
    return view.length;
  }

  #onEstablished(): void {
    this.#established?.resolve();
    this.#established = null;
  }

  #onClose(reason: CloseReason): void {
    const e = this.#established;
    this.#established = null;
    if (e) {
      e.reject(
        new SysError(
          `connection through the tunnel ${reason === "timeout" ? "timed out" : reason}`,
          reason === "timeout" ? E.ETIMEDOUT : E.ECONNREFUSED,
        ),
      );
      return;
    }
    if (reason === "closed") this.pushEof();
    else this.fail(new SysError(`connection through the tunnel ${reason}`, E.ECONNRESET));
    this.stack.kick();
  }

  protected sendBytes(buf: Uint8Array): number {
    const c = this.conn;
    if (!c) throw new SysError("write before connect", E.ENOTCONN);
    const n = c.write(buf);
    this.stack.kick();
    return n === 0 && buf.length > 0 ? WOULD_BLOCK : n;
  }

  protected sendEof(): void {
    this.conn?.shutdownWrite();
    this.stack.kick();
  }

  protected override resumeSource(): void {
    if (!this.#held || !this.conn) return;
    this.#held = false;
    this.conn.pull((v) => this.#onData(v));
    this.stack.kick();
  }

  protected destroy(reset: boolean): void {
    if (reset) this.conn?.abort();
    else this.conn?.close();
    this.stack.kick();
  }
}

/** UDP through the client stack: one local port, datagrams to any destination. */
class NetstackUdpFlow implements UdpFlow {
  onPacket: ((payload: Uint8Array, from: Destination) => void) | null = null;
  onClose: ((reason?: Error) => void) | null = null;
  dropped = 0;
  #closed = false;

  constructor(readonly stack: ClientNetstack, readonly port: number) {}

  send(payload: Uint8Array, dest: Destination): void {
    if (this.#closed || !dest.addr) {
      this.dropped++;
      return;
    }
    if (!this.stack.sendUdp(this.port, dest.addr, dest.port, payload)) this.dropped++;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.stack.releaseUdp(this.port);
  }
}

/** Where an outgoing packet's TCP header starts, or -1 when it is not TCP. */
function tcpOffset(p: Uint8Array): number {
  const v = p[0]! >> 4;
  if (v === 4) return p[9] === IPPROTO_TCP ? (p[0]! & 15) * 4 : -1;
  return v === 6 && p[6] === IPPROTO_TCP ? 40 : -1;
}

/** Same addresses and ports (the stack's own packets: fixed header layout). */
function sameFlow(a: Uint8Array, b: Uint8Array, t: number): boolean {
  if (a.length < t + 4 || tcpOffset(a) !== t) return false;
  const [from, to] = t === 40 ? [8, 40] : [12, 20];
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return false;
  for (let i = t; i < t + 4; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A pure ACK held until the end of the reactor round, so that the ACKs of a burst of segments
 * that arrived together leave as one (receive-side ACK coalescing, as GRO gives a kernel stack).
 */
class HeldAck {
  readonly bytes = new Uint8Array(128);
  len = 0;
  get packet(): Uint8Array {
    return this.bytes.subarray(0, this.len);
  }
}

/** See the module documentation. */
export class ClientNetstack {
  readonly tcp: TcpStack;
  readonly #udp = new Map<number, NetstackUdpFlow>();
  readonly #out: PacketBuilder;
  /** Parses packets from the tunnel (the TUN engine's parser): TCP to the stack, UDP to flows. */
  readonly #in: Dispatcher;
  #timer: Timer | null = null;
  #kickPending = false;
  /** Pure ACKs held this round, by the flow's ports. */
  readonly #held = new Map<number, HeldAck>();
  #spare: HeldAck[] = [];
  #flushQueued = false;
  /** Scratch for the options of a packet the ACK coalescing looks at. */
  readonly #opts = new TcpOptions();
  /** Pure ACKs replaced by a later one of the same round (never sent). */
  acksCoalesced = 0;

  constructor(
    readonly reactor: Reactor,
    /** The interface's addresses (4 and/or 16 bytes). */
    readonly addresses: Uint8Array[],
    readonly mtu: number,
    /** Sends one IP packet into the tunnel (must finish with the bytes before returning). */
    readonly output: (packet: Uint8Array) => void,
  ) {
    this.tcp = new TcpStack({
      mtu,
      emit: (p, len) => this.#emitTcp(p.subarray(0, len)),
      onSyn: (flow) => flow.reject(),
    });
    this.#out = new PacketBuilder(16, (p, len) => output(p.subarray(0, len)), true, false);
    this.#in = new Dispatcher({
      tcp: this.tcp,
      onUdp: (d) => this.#onUdp(d),
      icmpEcho: false,
    });
  }

  /**
   * A TCP packet from the stack. A pure ACK (no data, no SYN/FIN/RST, no SACK blocks) is held to
   * the end of the round; a later pure ACK of the same flow that acknowledges more replaces it
   * (the sender learns the same from the later one: cumulative ACKs). Anything else of the flow
   * sends the held ACK first, so the flow's packets keep their order; duplicate ACKs (same
   * acknowledgment number) all go out, as fast retransmit needs them.
   */
  #emitTcp(p: Uint8Array): void {
    const t = tcpOffset(p);
    if (t < 0 || p.length < t + 20) return this.output(p);
    const key = get16(p, t) * 65536 + get16(p, t + 2);
    const held = this.#held.get(key);
    const doff = (p[t + 12]! >> 4) * 4;
    const pure = p[t + 13] === TCP_ACK && p.length === t + doff && p.length <= 128 &&
      !this.#hasSack(p, t, doff);
    if (held && !sameFlow(held.packet, p, t)) {
      // Two flows share the ports (different addresses): no holding for this one.
      return this.output(p);
    }
    if (held) {
      const h = held.packet;
      const advanced = seqDiff(get32(p, t + 8), get32(h, t + 8)) > 0 &&
        get32(p, t + 4) === get32(h, t + 4);
      if (pure && advanced) {
        this.acksCoalesced++;
      } else {
        this.output(h);
        if (!pure) {
          this.#held.delete(key);
          this.#spare.push(held);
          return this.output(p);
        }
      }
      held.bytes.set(p);
      held.len = p.length;
      return;
    }
    if (!pure) return this.output(p);
    const h = this.#spare.pop() ?? new HeldAck();
    h.bytes.set(p);
    h.len = p.length;
    this.#held.set(key, h);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flushHeld());
    }
  }

  /** True when the options of the TCP header at `t` (`doff` bytes long) carry SACK blocks. */
  #hasSack(p: Uint8Array, t: number, doff: number): boolean {
    parseTcpOptions(p, t + 20, t + doff, this.#opts);
    return this.#opts.sackCount > 0;
  }

  #flushHeld(): void {
    this.#flushQueued = false;
    for (const h of this.#held.values()) {
      this.output(h.packet);
      this.#spare.push(h);
    }
    this.#held.clear();
  }

  #source(version: 4 | 6): Uint8Array | null {
    return this.addresses.find((a) => a.length === (version === 4 ? 4 : 16)) ?? null;
  }

  #port(inUse: (p: number) => boolean): number {
    for (let i = 0; i < 64; i++) {
      const p = EPHEMERAL_LOW + Math.floor(Math.random() * EPHEMERAL_SPAN);
      if (!inUse(p)) return p;
    }
    throw new SysError("no free local port in the tunnel", E.EADDRINUSE);
  }

  /** Opens a TCP connection through the tunnel to `addr:port`. */
  async connect(addr: Uint8Array, port: number, timeoutMs: number): Promise<Stream> {
    const src = this.#source(addr.length === 4 ? 4 : 6);
    if (!src) {
      throw new SysError(
        `the tunnel has no IPv${addr.length === 4 ? 4 : 6} address to connect from`,
        E.ENETUNREACH,
      );
    }
    const stream = new NetstackTcpStream(this.reactor, this);
    const done = stream.established();
    let conn: TcpConnection | null = null;
    for (let i = 0; i < 8 && !conn; i++) {
      const localPort = this.#port(() => false);
      try {
        conn = this.tcp.connect(
          { localAddr: src, localPort, remoteAddr: addr, remotePort: port },
          stream.handler,
          this.reactor.now(),
        );
      } catch { /* port in use: next */ }
    }
    if (!conn) throw new SysError("no free local port in the tunnel", E.EADDRINUSE);
    stream.conn = conn;
    this.kick();
    const timer = this.reactor.setTimeout(timeoutMs, () => conn!.abort());
    try {
      await done;
    } catch (error) {
      stream.close();
      throw error;
    } finally {
      timer.cancel();
    }
    return stream;
  }

  /** A UDP flow on a fresh local port. */
  openUdp(): UdpFlow {
    const port = this.#port((p) => this.#udp.has(p));
    const flow = new NetstackUdpFlow(this, port);
    this.#udp.set(port, flow);
    return flow;
  }

  /** @internal */
  releaseUdp(port: number): void {
    this.#udp.delete(port);
  }

  /** @internal Builds and sends one datagram; false when it cannot be sent. */
  sendUdp(srcPort: number, dst: Uint8Array, dstPort: number, payload: Uint8Array): boolean {
    const version = dst.length === 4 ? 4 : 6;
    const src = this.#source(version);
    const len = 8 + payload.length;
    if (!src || len + PacketBuilder.ipHeaderLen(version) > this.mtu) return false;
    const b = this.#out.packet;
    const off = this.#out.ipHeader(version, IPPROTO_UDP, src, 0, dst, 0, len);
    b[off] = srcPort >> 8;
    b[off + 1] = srcPort & 0xff;
    b[off + 2] = dstPort >> 8;
    b[off + 3] = dstPort & 0xff;
    b[off + 4] = len >> 8;
    b[off + 5] = len & 0xff;
    b.set(payload, off + 8);
    this.#out.finish(version, IPPROTO_UDP, off, len, 6);
    return true;
  }

  /** One IP packet from the tunnel. */
  input(packet: Uint8Array): void {
    const tcpBefore = this.#in.stats.tcp;
    this.#in.input(packet, this.reactor.now());
    if (this.#in.stats.tcp !== tcpBefore) this.kick();
  }

  #onUdp(d: UdpDatagram): void {
    const flow = this.#udp.get(d.dstPort);
    if (!flow) return;
    flow.onPacket?.(d.payload(), { addr: d.srcAddr().slice(), port: d.srcPort });
  }

  /** Runs the stack's timers soon (after any call that may have queued segments or timers). */
  kick(): void {
    if (this.#kickPending) return;
    this.#kickPending = true;
    this.reactor.setTimeout(0, () => {
      this.#kickPending = false;
      this.#arm();
    });
  }

  #arm(): void {
    const now = this.reactor.now();
    const next = this.tcp.poll(now);
    this.#timer?.cancel();
    this.#timer = null;
    if (next !== Infinity) {
      this.#timer = this.reactor.setTimeout(Math.max(1, next - now), () => {
        this.#timer = null;
        this.#arm();
      });
    }
  }

  close(): void {
    this.#timer?.cancel();
    this.tcp.destroy();
    for (const f of this.#udp.values()) f.close();
  }
}
