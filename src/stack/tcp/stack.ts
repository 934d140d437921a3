/**
 * The userspace TCP stack of one packet worker: a flow table of connections keyed by the 4-tuple,
 * the passive open that asks the application before answering a SYN, timers, and packet output.
 *
 * ```ts
 * const stack = new TcpStack({
 *   emit: (packet, len) => tun.write(packet, len), // synchronous; the buffer is reused
 *   onSyn: (flow) => {                            // a SYN for an unknown 4-tuple
 *     dial(flow.dstAddr, flow.dstPort).then(
 *       (sock) => flow.accept(relayHandler(sock)), // SYN-ACK goes out now
 *       () => flow.reject(),                       // RST: "connection refused"
 *     );
 *   },
 * });
 * const dispatcher = new Dispatcher({ tcp: stack });  // parses IP, calls stack.inputSegment
 * dispatcher.input(ipPacket, now);                 // every packet read from the TUN
 * const next = stack.poll(now);                    // run timers; next deadline or Infinity
 * ```
 *
 * The application side of a connection ({@linkcode TcpConnection}):
 *
 * - receiving: `handler.onData(view)` returns the bytes consumed, normally straight from the
 *   packet (no copy); the rest is buffered, the advertised window shrinks (nothing beyond the
 *   buffer is ever acknowledged) and no more data is offered until `conn.pull(consumer?)` drains
 *   it (call it when the socket becomes writable again). `onFin()` follows the last byte.
 * - sending: `conn.sendSpace()`, `conn.write(data)` (copies) or `conn.writeWith(fill)` (the
 *   relay `read(2)`s straight into the send ring); segmentation by MSS, window and cwnd is the
 *   stack's. `onWritable()` fires when space frees after a write found the buffer full.
 * - ending: `conn.shutdownWrite()` (FIN after the buffered data), `conn.close()` (also discard
 *   incoming data), `conn.abort()` (RST); `onClose(reason)` comes exactly once.
 * - counters: `bytesReceived`, `bytesSent`, `segmentsReceived`, `segmentsSent`, `retransmits`,
 *   `retransmittedBytes`; stack-wide {@linkcode TcpStack.stats} and
 *   {@linkcode TcpStack.connectionsByState}.
 *
 * - Until the application decides, retransmitted SYNs of a pending flow are absorbed; at most
 *   `maxPendingSyns` flows wait at once (further SYNs are dropped) and a pending flow expires
 *   after `synTimeoutMs`. A non-SYN segment for an unknown flow is answered with RST
 *   (RFC 9293 §3.10.7.1).
 * - The clock is `now` in milliseconds, passed to {@linkcode TcpStack.inputSegment} and
 *   {@linkcode TcpStack.poll}; application calls (`accept`, `write`, ...) use the latest value
 *   seen, which {@linkcode TcpStack.setNow} can refresh.
 * - Output goes through `emit(packet, length)`, one packet at a time from a reused scratch
 *   buffer. The packet starts `headroom` bytes into its `ArrayBuffer` (room for a virtio-net
 *   header). `emit` must not call back into the stack.
 * - Checksums: outgoing IPv4 header checksums are always filled; TCP checksums unless
 *   `computeChecksums` is false (then 0, or the pseudo-header sum with `pseudoHeaderChecksums`).
 *   Incoming checksums are trusted unless `verifyChecksums` is set.
 *
 * @module
 */

import {
  IPPROTO_TCP,
  pseudoHeaderSumAt,
  seqAdd,
  TCP_ACK,
  TCP_FIELD,
  TCP_FIN,
  TCP_HEADER_LEN,
  TCP_RST,
  TCP_SYN,
  TcpPacket,
} from "../../wire/mod.ts";
import { FlowNode, FlowTable } from "../flow_table.ts";
import { PacketBuilder } from "../packet_builder.ts";
import { BufferPool } from "./buffer_pool.ts";
import { resolveTunables, type TcpTunables } from "./config.ts";
import {
  type ConnectionHandler,
  Segment,
  type StackContext,
  type SynOptions,
  TCP_STATES,
  TcpConnection,
  type TcpState,
} from "./connection.ts";
import { TimerHeap } from "./timers.ts";

/** Options of a {@linkcode TcpStack}: the two callbacks plus any {@linkcode TcpTunables}. */
export interface TcpStackOptions extends Partial<TcpTunables> {
  /**
   * Writes one IP packet, `packet[0..length)`, to the TUN device; must finish with the bytes
   * before returning (the buffer is reused). `segmentSize` > 0 (only with
   * `segmentationOffload`): the packet is a super segment to be cut into segments of that many
   * payload bytes.
   */
  emit(packet: Uint8Array, length: number, segmentSize: number): void;
  /** A SYN arrived for an unknown 4-tuple; decide later with accept/reject/drop. */
  onSyn(flow: PendingFlow): void;
  /** Returns a random unsigned 32-bit number (ISNs, timestamp offsets, hash seed). */
  random32?: () => number;
}

/** A SYN waiting for the application's decision. */
export interface PendingFlow {
  /** 4 or 6. */
  readonly version: 4 | 6;
  /** The application's (client's) address. */
  readonly srcAddr: Uint8Array;
  readonly srcPort: number;
  /** The destination the application connected to. */
  readonly dstAddr: Uint8Array;
  readonly dstPort: number;
  /** True until accepted, rejected, dropped, cancelled by the client's RST, or expired. */
  readonly pending: boolean;
  /**
   * Completes the handshake: sends SYN-ACK and returns the connection, or null when the flow is
   * no longer pending.
   */
  accept(handler: ConnectionHandler, now?: number): TcpConnection | null;
  /** Refuses the connection with RST, so the application sees "connection refused". */
  reject(): void;
  /** Forgets the SYN without answering (the client will retry, then time out). */
  drop(): void;
}

/** Stack-wide counters. */
export interface TcpStackStats {
  segmentsIn: number;
  /** Segments dropped as malformed (bad header length, truncated). */
  malformed: number;
  /** Segments dropped for a wrong checksum (only with `verifyChecksums`). */
  badChecksum: number;
  synsReceived: number;
  /** SYNs dropped because too many flows were pending or too many connections existed. */
  synsDropped: number;
  /** Retransmitted SYNs absorbed while a flow was pending. */
  synsAbsorbed: number;
  pendingExpired: number;
  /** RSTs sent for segments of unknown flows and for rejected flows. */
  resetsSent: number;
  connectionsOpened: number;
  connectionsClosed: number;
}

class PendingFlowImpl extends FlowNode implements PendingFlow {
  pendingFlag = true;
  expiresAt = 0;
  syn: SynOptions = {
    irs: 0,
    window: 0,
    mss: 0,
    windowScale: -1,
    sackPermitted: false,
    hasTimestamp: false,
    tsVal: 0,
  };
  private src: Uint8Array | null = null;
  private dst: Uint8Array | null = null;

  constructor(private readonly stack: TcpStack) {
    super();
  }

  get srcAddr(): Uint8Array {
    return this.src ??= this.remoteAddrBytes();
  }
  get srcPort(): number {
    return this.remotePort;
  }
  get dstAddr(): Uint8Array {
    return this.dst ??= this.localAddrBytes();
  }
  get dstPort(): number {
    return this.localPort;
  }
  get pending(): boolean {
    return this.pendingFlag;
  }

  accept(handler: ConnectionHandler, now?: number): TcpConnection | null {
    if (!this.pendingFlag) return null;
    return this.stack.acceptPending(this, handler, now);
  }

  reject(): void {
    if (!this.pendingFlag) return;
    this.stack.rejectPending(this);
  }

  drop(): void {
    if (!this.pendingFlag) return;
    this.stack.forgetPending(this);
  }
}

type FlowEntry = TcpConnection | PendingFlowImpl;

/** The TCP stack of one worker; see the module documentation. */
export class TcpStack implements StackContext {
  /** @internal */ readonly tun: TcpTunables;
  /** @internal */ readonly out: PacketBuilder;
  /** Ring buffers released by idle connections, reused by busy ones. */
  readonly pool: BufferPool = new BufferPool();
  /** Latest time seen (ms). */
  now = 0;
  /** Counters; read freely. */
  readonly stats: TcpStackStats = {
    segmentsIn: 0,
    malformed: 0,
    badChecksum: 0,
    synsReceived: 0,
    synsDropped: 0,
    synsAbsorbed: 0,
    pendingExpired: 0,
    resetsSent: 0,
    connectionsOpened: 0,
    connectionsClosed: 0,
  };

  private readonly flows: FlowTable<FlowEntry>;
  /** Pending flows in arrival (and so expiry) order. */
  private readonly pendingFlows = new Set<PendingFlowImpl>();
  private readonly timers = new TimerHeap<TcpConnection>();
  private readonly stateCounts = new Int32Array(TCP_STATES.length);
  private connCount = 0;
  private readonly seg = new Segment();
  private readonly onSyn: (flow: PendingFlow) => void;
  private readonly rand: () => number;
  /** Views over the segment being read and the one being written. */
  private readonly view = new TcpPacket(new Uint8Array(0));
  private readonly outView = new TcpPacket(new Uint8Array(0));

  constructor(options: TcpStackOptions) {
    const { emit, onSyn, random32, ...tunables } = options;
    this.tun = resolveTunables(tunables);
    this.onSyn = onSyn;
    this.rand = random32 ?? defaultRandom32();
    this.out = new PacketBuilder(
      this.tun.headroom,
      emit,
      this.tun.computeChecksums,
      this.tun.pseudoHeaderChecksums,
      this.rand(),
    );
    this.flows = new FlowTable<FlowEntry>(this.rand());
  }

  /** @internal */
  random32(): number {
    return this.rand() >>> 0;
  }

  /** Sets the time used by application calls (ms); it never moves backwards. */
  setNow(now: number): void {
    if (now > this.now) this.now = now;
  }

  // ------------------------------------------------------------------------------------------
  // Input

  /**
   * Processes a TCP segment at `buf[l4Off..l4End)` of an already parsed IP packet whose source
   * and destination addresses are at `srcOff` and `dstOff` (the dispatcher calls this).
   * `partialChecksum`: the checksum field holds only the pseudo-header sum (checksum offload;
   * never verified), and the segment may be larger than the MSS (segmentation offload).
   */
  inputSegment(
    buf: Uint8Array,
    version: number,
    srcOff: number,
    dstOff: number,
    l4Off: number,
    l4End: number,
    now: number,
    partialChecksum = false,
  ): void {
    if (now > this.now) this.now = now;
    this.stats.segmentsIn++;
    const t = this.view.reset(buf, l4Off, l4End);
    if (t.checkLen() !== null) return void this.stats.malformed++;
    if (this.tun.verifyChecksums && !partialChecksum) {
      const addrLen = version === 6 ? 16 : 4;
      const ps = pseudoHeaderSumAt(buf, srcOff, dstOff, addrLen, IPPROTO_TCP, l4End - l4Off);
      if (!t.verifyChecksum(ps)) return void this.stats.badChecksum++;
    }
    const srcPort = t.srcPort();
    const dstPort = t.dstPort();
    const seg = this.seg;
    seg.buf = buf;
    seg.seq = t.seq();
    seg.ack = t.ack();
    seg.flags = t.flags();
    seg.wnd = t.window();
    seg.payloadOff = t.payloadOffset();
    seg.payloadLen = t.payloadLen();
    if (t.headerLen() > TCP_HEADER_LEN) t.parseOptions(seg.opts);
    else seg.opts.clear();

    const f = seg.flags;
    let entry = this.flows.lookup(buf, version, srcOff, dstOff, srcPort, dstPort);
    if (entry instanceof TcpConnection) {
      // A new SYN may reopen a connection in TIME-WAIT (RFC 6191).
      if (entry.acceptsNewSyn(seg)) {
        entry.destroy();
        entry = undefined;
      } else {
        entry.input(seg, now);
        return;
      }
    }
    if (entry !== undefined) {
      // A pending flow: absorb retransmitted SYNs; a RST from the client cancels it.
      if (f & TCP_RST) {
        this.forgetPending(entry);
      } else if (f & TCP_SYN && !(f & TCP_ACK)) {
        this.stats.synsAbsorbed++;
      }
      return;
    }
    // RFC 9293 §3.10.7.1 (CLOSED): an incoming RST is discarded; anything else but a SYN gets a
    // RST: <SEQ=SEG.ACK><CTL=RST> with ACK, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    if (f & TCP_RST) return;
    if ((f & (TCP_SYN | TCP_ACK)) !== TCP_SYN) {
      this.resetUnknown(buf, version, srcOff, dstOff, srcPort, dstPort, seg);
      return;
    }
    // A new SYN (§3.10.7.2 LISTEN): ask the application.
    this.stats.synsReceived++;
    if (
      this.pendingFlows.size >= this.tun.maxPendingSyns ||
      this.connCount + this.pendingFlows.size >= this.tun.maxConnections
    ) {
      this.stats.synsDropped++;
      return;
    }
    const p = new PendingFlowImpl(this);
    p.setTupleFrom(buf, version, srcOff, dstOff, srcPort, dstPort);
    const o = seg.opts;
    const s = p.syn;
    s.irs = seg.seq;
    s.window = seg.wnd;
    s.mss = o.mss;
    s.windowScale = o.windowScale;
    s.sackPermitted = o.sackPermitted;
    s.hasTimestamp = o.hasTimestamp;
    s.tsVal = o.tsVal;
    p.expiresAt = now + this.tun.synTimeoutMs;
    this.flows.insert(p);
    this.pendingFlows.add(p);
    this.onSyn(p);
  }

  private resetUnknown(
    buf: Uint8Array,
    version: number,
    srcOff: number,
    dstOff: number,
    srcPort: number,
    dstPort: number,
    seg: Segment,
  ): void {
    const f = seg.flags;
    if (f & TCP_ACK) {
      this.sendReset(buf, version, dstOff, srcOff, dstPort, srcPort, seg.ack, 0, TCP_RST);
    } else {
      const len = seg.payloadLen + (f & TCP_SYN ? 1 : 0) + (f & TCP_FIN ? 1 : 0);
      this.sendReset(
        buf,
        version,
        dstOff,
        srcOff,
        dstPort,
        srcPort,
        0,
        seqAdd(seg.seq, len),
        TCP_RST | TCP_ACK,
      );
    }
  }

  /** Writes a bare RST from `addrs[srcOff]:srcPort` to `addrs[dstOff]:dstPort`. */
  private sendReset(
    addrs: Uint8Array,
    version: number,
    srcOff: number,
    dstOff: number,
    srcPort: number,
    dstPort: number,
    seq: number,
    ack: number,
    flags: number,
  ): void {
    const out = this.out;
    const o = out.ipHeader(version, IPPROTO_TCP, addrs, srcOff, addrs, dstOff, TCP_HEADER_LEN);
    const t = this.outView.reset(out.packet, o, o + TCP_HEADER_LEN);
    t.setSrcPort(srcPort);
    t.setDstPort(dstPort);
    t.setSeq(seq);
    t.setAck(ack);
    t.setHeaderLen(TCP_HEADER_LEN);
    t.setFlags(flags);
    t.setWindow(0);
    t.setUrgent(0);
    out.finish(version, IPPROTO_TCP, o, TCP_HEADER_LEN, TCP_FIELD.CHECKSUM);
    this.stats.resetsSent++;
  }

  // ------------------------------------------------------------------------------------------
  // Pending flows

  /** @internal */
  acceptPending(p: PendingFlowImpl, handler: ConnectionHandler, now?: number): TcpConnection {
    if (now !== undefined) this.setNow(now);
    this.removePending(p);
    const conn = new TcpConnection(
      this,
      p.version,
      p.dstAddr.slice(),
      p.localPort,
      p.srcAddr.slice(),
      p.remotePort,
      handler,
    );
    this.flows.insert(conn);
    this.connCount++;
    this.stats.connectionsOpened++;
    conn.openPassive(p.syn, this.now);
    return conn;
  }

  /** @internal Refuses with <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK> (§3.10.7.1). */
  rejectPending(p: PendingFlowImpl): void {
    this.removePending(p);
    const a = new Uint8Array(32);
    a.set(p.dstAddr, 0);
    a.set(p.srcAddr, 16);
    this.sendReset(
      a,
      p.version,
      0,
      16,
      p.localPort,
      p.remotePort,
      0,
      seqAdd(p.syn.irs, 1),
      TCP_RST | TCP_ACK,
    );
  }

  /** @internal */
  forgetPending(p: PendingFlowImpl): void {
    this.removePending(p);
  }

  private removePending(p: PendingFlowImpl): void {
    if (!p.pendingFlag) return;
    p.pendingFlag = false;
    this.pendingFlows.delete(p);
    this.flows.remove(p);
  }

  // ------------------------------------------------------------------------------------------
  // Active open (tests and future use)

  /**
   * Opens a connection from `localAddr:localPort` to `remoteAddr:remotePort` (active open,
   * RFC 9293 §3.10.1): sends SYN and returns the connection in SYN-SENT. Throws when the tuple is
   * in use.
   */
  connect(
    to: { localAddr: Uint8Array; localPort: number; remoteAddr: Uint8Array; remotePort: number },
    handler: ConnectionHandler,
    now?: number,
  ): TcpConnection {
    if (now !== undefined) this.setNow(now);
    const version = to.localAddr.length === 16 ? 6 : 4;
    if (to.remoteAddr.length !== to.localAddr.length) {
      throw new TypeError("connect() needs local and remote addresses of the same family");
    }
    const key = new Uint8Array(32);
    key.set(to.remoteAddr, 0);
    key.set(to.localAddr, 16);
    if (this.flows.lookup(key, version, 0, 16, to.remotePort, to.localPort)) {
      throw new RangeError(`connect() to port ${to.remotePort} from port ${to.localPort}: in use`);
    }
    const conn = new TcpConnection(
      this,
      version,
      to.localAddr.slice(),
      to.localPort,
      to.remoteAddr.slice(),
      to.remotePort,
      handler,
    );
    this.flows.insert(conn);
    this.connCount++;
    this.stats.connectionsOpened++;
    conn.openActive(this.now);
    return conn;
  }

  // ------------------------------------------------------------------------------------------
  // Timers

  /**
   * Runs every timer due at `now` (retransmission, persist, delayed ACK, keepalive, TIME-WAIT,
   * pending-SYN expiry) and returns the next deadline in ms, or Infinity.
   */
  poll(now: number): number {
    if (now > this.now) this.now = now;
    for (const p of this.pendingFlows) {
      if (p.expiresAt > now) break;
      this.removePending(p);
      this.stats.pendingExpired++;
    }
    const heap = this.timers;
    while (heap.peekKey() <= now) {
      const c = heap.pop()!;
      c.onTimer(now);
      if (!c.isClosed()) {
        let d = c.deadline();
        if (d <= now) d = now + 1; // a timer that did not move would spin; retry shortly
        if (d !== Infinity) heap.set(c, d);
      }
    }
    // Entries are filed lazily under their earliest past deadline; settle the top so the
    // deadline returned is exact.
    for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
      const d = top.deadline();
      if (d === top.heapKey) break;
      if (d === Infinity) heap.remove(top);
      else heap.set(top, d);
    }
    let next = heap.peekKey();
    const first = this.pendingFlows.values().next();
    if (!first.done && first.value.expiresAt < next) next = first.value.expiresAt;
    return next;
  }

  /** @internal */
  schedule(conn: TcpConnection): void {
    const d = conn.deadline();
    if (d === Infinity) return; // a stale earlier entry just fires and finds nothing to do
    if (conn.heapIndex < 0 || d < conn.heapKey) this.timers.set(conn, d);
  }

  /** @internal */
  stateChanged(_conn: TcpConnection, from: number, to: number): void {
    this.stateCounts[from]!--;
    this.stateCounts[to]!++;
  }

  /** @internal */
  detach(conn: TcpConnection): void {
    this.flows.remove(conn);
    this.timers.remove(conn);
    this.connCount--;
    this.stats.connectionsClosed++;
  }

  // ------------------------------------------------------------------------------------------
  // Introspection

  /** Number of connections (every state but CLOSED). */
  get connectionCount(): number {
    return this.connCount;
  }

  /** Number of flows awaiting accept/reject. */
  get pendingCount(): number {
    return this.pendingFlows.size;
  }

  /** Connections per state (CLOSED and LISTEN are always 0). */
  connectionsByState(): Record<TcpState, number> {
    const out = {} as Record<TcpState, number>;
    TCP_STATES.forEach((name, i) => out[name] = i === 0 ? 0 : this.stateCounts[i]!);
    return out;
  }

  /** Every live connection. */
  connections(): TcpConnection[] {
    const out: TcpConnection[] = [];
    for (const e of this.flows.values()) if (e instanceof TcpConnection) out.push(e);
    return out;
  }

  /** Bytes held in all connections' buffers. */
  bufferedBytes(): number {
    let n = 0;
    for (const e of this.flows.values()) if (e instanceof TcpConnection) n += e.bufferedBytes();
    return n;
  }

  /** Drops every connection and pending flow without sending anything (worker shutdown). */
  destroy(): void {
    for (const p of [...this.pendingFlows]) this.removePending(p);
    for (const c of this.connections()) c.destroy();
  }
}

/** Random 32-bit numbers from `crypto.getRandomValues`, fetched in batches. */
function defaultRandom32(): () => number {
  const pool = new Uint32Array(256);
  let i = pool.length;
  return () => {
    if (i === pool.length) {
      crypto.getRandomValues(pool);
      i = 0;
    }
    return pool[i++]!;
  };
}
