/**
 * A scripted peer for TCP state-machine tests in smoltcp's style: `send()` a segment from the
 * client, `recv()` what the stack emitted, advance the clock with `tick()`.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { checksum, pseudoHeaderSumAt } from "../../../src/wire/checksum.ts";
import { Ipv4Packet } from "../../../src/wire/ipv4.ts";
import { Ipv6Packet } from "../../../src/wire/ipv6.ts";
import { TCP_ACK, TCP_SYN, TcpPacket } from "../../../src/wire/tcp.ts";
import type { TcpTunables } from "../../../src/stack/tcp/config.ts";
import type {
  CloseReason,
  ConnectionHandler,
  TcpConnection,
} from "../../../src/stack/tcp/connection.ts";
import { type PendingFlow, TcpStack } from "../../../src/stack/tcp/stack.ts";
import { Dispatcher } from "../../../src/stack/dispatch.ts";
import { Ipv4Repr, Ipv6Repr, TcpRepr, type TcpReprInit } from "../../_helpers/packets.ts";

export const CLIENT4 = new Uint8Array([10, 0, 0, 2]);
export const SERVER4 = new Uint8Array([93, 184, 216, 34]);
export const CLIENT6 = new Uint8Array([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
export const SERVER6 = new Uint8Array([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
export const CPORT = 49152;
export const SPORT = 80;

/** A segment as the test writes or reads it. */
export interface Seg {
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  payload?: Uint8Array;
  mss?: number | null;
  windowScale?: number | null;
  sackPermitted?: boolean;
  sackBlocks?: Array<[number, number]>;
  timestamp?: { tsVal: number; tsEcr: number } | null;
}

/** Records handler callbacks; `consume` decides how much of each offer is taken. */
export class Recorder implements ConnectionHandler {
  data: number[] = [];
  offers: Uint8Array[] = [];
  fins = 0;
  writables = 0;
  established = 0;
  closed: CloseReason | null = null;
  closes = 0;
  consume: (view: Uint8Array) => number = (v) => v.length;

  onData(view: Uint8Array): number {
    this.offers.push(view);
    const k = this.consume(view);
    for (let i = 0; i < k; i++) this.data.push(view[i]!);
    return k;
  }
  onEstablished(): void {
    this.established++;
  }
  onWritable(): void {
    this.writables++;
  }
  onFin(): void {
    this.fins++;
  }
  onClose(reason: CloseReason): void {
    this.closed = reason;
    this.closes++;
  }
}

export function bytes(n: number, start = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (start + i) & 0xff;
  return b;
}

/** One emitted packet, parsed and checked. */
export interface Out {
  version: number;
  src: Uint8Array;
  dst: Uint8Array;
  tcp: TcpRepr;
}

export class Harness {
  now = 0;
  readonly stack: TcpStack;
  /** The worker's packet entry point, with the stack behind it. */
  readonly dispatcher: Dispatcher;
  readonly out: Out[] = [];
  /** The segment size `emit` got with each packet in `out` (segmentation offload). */
  readonly segmentSizes: number[] = [];
  /** Each packet's checksum field as emitted (partial with offload), by `out` index. */
  readonly checksumFields: number[] = [];
  readonly syns: PendingFlow[] = [];
  version: 4 | 6;
  client: Uint8Array;
  server: Uint8Array;
  cport = CPORT;
  sport = SPORT;
  /** Called for each new pending flow; default: remember it. */
  onSyn: (f: PendingFlow) => void = (f) => void this.syns.push(f);

  constructor(tunables: Partial<TcpTunables> = {}, version: 4 | 6 = 4) {
    this.version = version;
    this.client = version === 4 ? CLIENT4 : CLIENT6;
    this.server = version === 4 ? SERVER4 : SERVER6;
    let r = 0x1234567;
    this.stack = new TcpStack({
      emit: (p, len, segmentSize) => {
        const packet = p.slice(0, len);
        const l4 = packet[0]! >> 4 === 6 ? 40 : 20;
        this.checksumFields.push((packet[l4 + 16]! << 8) | packet[l4 + 17]!);
        // A partial checksum (the pseudo-header sum) is completed as the kernel would.
        if (tunables.pseudoHeaderChecksums) completePartial(packet, l4);
        this.segmentSizes.push(segmentSize);
        this.out.push(parseOut(packet));
      },
      onSyn: (f) => this.onSyn(f),
      random32: () => (r = (Math.imul(r, 1103515245) + 12345) >>> 0),
      timestamps: false,
      keepaliveIdleMs: 0,
      ...tunables,
    });
    this.dispatcher = new Dispatcher({ tcp: this.stack });
  }

  /** Builds a client→server packet. */
  packet(s: Seg): Uint8Array {
    const init: TcpReprInit = {
      srcPort: this.cport,
      dstPort: this.sport,
      seq: s.seq >>> 0,
      ack: (s.ack ?? 0) >>> 0,
      flags: s.flags,
      window: s.window ?? 65535,
    };
    if (s.payload) init.payload = s.payload;
    if (s.mss !== undefined) init.mss = s.mss;
    if (s.windowScale !== undefined) init.windowScale = s.windowScale;
    if (s.sackPermitted !== undefined) init.sackPermitted = s.sackPermitted;
    if (s.sackBlocks !== undefined) init.sackBlocks = s.sackBlocks;
    if (s.timestamp !== undefined) init.timestamp = s.timestamp;
    const tcp = new TcpRepr(init);
    const tl = tcp.bufferLen();
    const hl = this.version === 4 ? 20 : 40;
    const buf = new Uint8Array(hl + tl);
    if (this.version === 4) {
      new Ipv4Repr({ src: this.client, dst: this.server, protocol: 6, payloadLen: tl }).emit(
        new Ipv4Packet(buf),
      );
    } else {
      new Ipv6Repr({ src: this.client, dst: this.server, nextHeader: 6, payloadLen: tl }).emit(
        new Ipv6Packet(buf),
      );
    }
    const al = this.version === 4 ? 4 : 16;
    const so = this.version === 4 ? 12 : 8;
    tcp.emit(new TcpPacket(buf, hl), pseudoHeaderSumAt(buf, so, so + al, al, 6, tl));
    return buf;
  }

  /** Sends a segment from the client, through the dispatcher as a TUN read would. */
  send(s: Seg): void {
    this.input(this.packet(s));
  }

  /** Hands a whole IP packet to the dispatcher in front of the stack (production's entry). */
  input(packet: Uint8Array): void {
    this.dispatcher.input(packet, this.now);
  }

  /** Advances the clock by `ms` and runs timers. */
  tick(ms: number): number {
    this.now += ms;
    return this.stack.poll(this.now);
  }

  /** Everything emitted since the last call. */
  recv(): Out[] {
    return this.recvOffloaded().map((e) => e.out);
  }

  /** Everything emitted since the last call, with the segment size and the checksum field. */
  recvOffloaded(): { out: Out; segmentSize: number; checksumField: number }[] {
    const sizes = this.segmentSizes.splice(0);
    const fields = this.checksumFields.splice(0);
    return this.out.splice(0).map((out, i) => ({
      out,
      segmentSize: sizes[i]!,
      checksumField: fields[i]!,
    }));
  }

  /** Asserts nothing was emitted. */
  recvNone(): void {
    const got = this.recv();
    equal(got.length, 0, `expected no segment, got ${got.map(describe).join("; ")}`);
  }

  /** Asserts exactly one segment was emitted and that it matches `want` where given. */
  recvOne(want?: Partial<Seg>): TcpRepr {
    const got = this.recv();
    equal(got.length, 1, `expected one segment, got ${got.map(describe).join("; ") || "none"}`);
    const t = got[0]!.tcp;
    if (want) match(t, want);
    return t;
  }

  /** Runs the handshake: SYN (with `syn` options), accept, SYN-ACK, ACK. */
  establish(
    syn: Partial<Seg> = {},
    handler: Recorder = new Recorder(),
  ): { conn: TcpConnection; h: Recorder; iss: number; irs: number; synAck: TcpRepr } {
    const irs = syn.seq ?? 1000;
    this.send({ window: 65535, mss: 1460, ...syn, seq: irs, flags: TCP_SYN });
    equal(this.syns.length, 1, "onSyn called once");
    const conn = this.syns.pop()!.accept(handler);
    ok(conn);
    const synAck = this.recvOne({ flags: TCP_SYN | TCP_ACK, ack: irs + 1 });
    const iss = synAck.seq;
    this.send({ seq: irs + 1, ack: iss + 1, flags: TCP_ACK, window: syn.window ?? 65535 });
    equal(conn.state, "ESTABLISHED");
    return { conn, h: handler, iss, irs, synAck };
  }
}

function match(t: TcpRepr, want: Partial<Seg>): void {
  const d = describeRepr(t);
  if (want.seq !== undefined) equal(t.seq, want.seq >>> 0, `seq in ${d}`);
  if (want.ack !== undefined) equal(t.ack, want.ack >>> 0, `ack in ${d}`);
  if (want.flags !== undefined) equal(t.flags, want.flags, `flags in ${d}`);
  if (want.window !== undefined) equal(t.window, want.window, `window in ${d}`);
  if (want.payload !== undefined) deepEqual([...t.payload], [...want.payload], `payload in ${d}`);
  if (want.mss !== undefined) equal(t.mss, want.mss, `mss in ${d}`);
  if (want.windowScale !== undefined) equal(t.windowScale, want.windowScale, `ws in ${d}`);
  if (want.sackPermitted !== undefined) equal(t.sackPermitted, want.sackPermitted, `sackp in ${d}`);
  if (want.sackBlocks !== undefined) {
    deepEqual(t.sackBlocks, want.sackBlocks.map(([l, r]) => [l >>> 0, r >>> 0]), `sack in ${d}`);
  }
}

const FLAG_NAMES = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];

function describeRepr(t: TcpRepr): string {
  const f = FLAG_NAMES.filter((_, i) => t.flags & (1 << i)).join("|");
  return `[${f}] seq=${t.seq} ack=${t.ack} win=${t.window} len=${t.payload.length}` +
    (t.sackBlocks.length ? ` sack=${JSON.stringify(t.sackBlocks)}` : "");
}

function describe(o: Out): string {
  return describeRepr(o.tcp);
}

/** Parses an emitted packet and checks its IP and TCP checksums. */
export function parseOut(p: Uint8Array): Out {
  const v = p[0]! >> 4;
  if (v === 4) {
    const ip = new Ipv4Packet(p);
    equal(ip.check(), null);
    ok(ip.verifyChecksum(), "IPv4 header checksum");
    const r = Ipv4Repr.parse(ip);
    ok(r instanceof Ipv4Repr);
    const tcpBuf = p.subarray(ip.headerLen(), ip.totalLen());
    equal(checksum(tcpBuf, 0, tcpBuf.length, pseudoHeaderSumAt(p, 12, 16, 4, 6, tcpBuf.length)), 0);
    const t = TcpRepr.parse(new TcpPacket(tcpBuf));
    ok(t instanceof TcpRepr);
    return { version: 4, src: r.src, dst: r.dst, tcp: t };
  }
  const ip = new Ipv6Packet(p);
  equal(ip.check(), null);
  const tcpBuf = p.subarray(40, 40 + ip.payloadLen());
  equal(checksum(tcpBuf, 0, tcpBuf.length, pseudoHeaderSumAt(p, 8, 24, 16, 6, tcpBuf.length)), 0);
  const t = TcpRepr.parse(new TcpPacket(tcpBuf));
  ok(t instanceof TcpRepr);
  return { version: 6, src: ip.srcAddr().slice(), dst: ip.dstAddr().slice(), tcp: t };
}

/**
 * Completes a partial TCP checksum (the field holds the pseudo-header sum) in place, as Linux
 * does for a CHECKSUM_PARTIAL packet: the complement of the sum from the TCP header on.
 */
export function completePartial(packet: Uint8Array, l4Off: number): void {
  const c = checksum(packet, l4Off, packet.length, 0);
  packet[l4Off + 16] = c >> 8;
  packet[l4Off + 17] = c & 0xff;
}
