/**
 * Fake inbound sides and outbounds for connection-path tests, over in-memory streams: no root,
 * no sockets.
 *
 * - {@linkcode FakeTcpSide}: the client end is a {@linkcode PairStream} the test reads and
 *   writes; `start` relays the inbound end with the upstream as a TUN stack would.
 * - {@linkcode FakeUdpSide}: a session whose datagrams the test sends and whose replies it
 *   collects.
 * - {@linkcode FakeOutbound}: `dialTcp` returns one end of a stream pair (the test holds the far
 *   end), or fails as told; `openUdp` returns a recording flow.
 *
 * @module
 */

import type { ConnControl, FlowStats, TcpInboundSide, UdpInboundSide } from "../../src/conn/mod.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import type { Stream } from "../../src/io/stream.ts";
import { relay } from "../../src/io/relay.ts";
import {
  type Destination,
  type DialMeta,
  type Outbound,
  OutboundError,
  type OutboundErrorKind,
  type UdpFlow,
} from "../../src/outbound/types.ts";
import { type PairStream, streamPair } from "../_helpers/stream_pair.ts";

/** A TCP inbound side over a stream pair (see the module description). */
export class FakeTcpSide implements TcpInboundSide {
  /** The application's end: the test writes requests and reads answers here. */
  readonly client: PairStream;
  /** The end the relay uses. */
  readonly inner: PairStream;
  rejected: OutboundErrorKind | null = null;
  dropped = false;
  started = false;
  done: Promise<FlowStats>;
  #resolveDone!: (s: FlowStats) => void;

  constructor(readonly reactor: Reactor, initial: Uint8Array | null = null) {
    [this.client, this.inner] = streamPair(reactor);
    if (initial) this.client.write(initial);
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
  }

  async peek(minBytes: number, deadline: number): Promise<Uint8Array> {
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = this.inner.peek(buf);
      const have = n > 0 ? n : 0;
      if (have >= minBytes || n === 0 || this.reactor.now() >= deadline) {
        return buf.slice(0, have);
      }
      await new Promise<void>((r) => this.reactor.setTimeout(2, r));
    }
  }

  start(upstream: Stream, onDone: (stats: FlowStats) => void): ConnControl {
    this.started = true;
    return relay(this.inner, upstream, {
      onClose: (s) => {
        const stats = s.error
          ? { up: s.up, down: s.down, error: s.error }
          : { up: s.up, down: s.down };
        onDone(stats);
        this.#resolveDone(stats);
      },
    });
  }

  reject(kind: OutboundErrorKind): void {
    this.rejected = kind;
    this.client.breakWith(new Error(`refused (${kind})`));
  }

  drop(): void {
    this.dropped = true;
  }
}

/** A recording UDP flow: datagrams sent, and a way to answer them. */
export class RecordingFlow implements UdpFlow {
  onPacket: ((payload: Uint8Array, from: Destination) => void) | null = null;
  onClose: ((reason?: Error) => void) | null = null;
  dropped = 0;
  closed = false;
  readonly sent: { payload: Uint8Array; dest: Destination }[] = [];

  send(payload: Uint8Array, dest: Destination): void {
    const copy: Destination = { ...dest };
    if (dest.addr) copy.addr = dest.addr.slice();
    this.sent.push({ payload: payload.slice(), dest: copy });
  }

  /** Delivers a reply from `from`. */
  answer(payload: Uint8Array, from: Destination): void {
    this.onPacket?.(payload, from);
  }

  close(): void {
    this.closed = true;
  }
}

/** A UDP session (see the module description). */
export class FakeUdpSide implements UdpInboundSide, ConnControl {
  closed = false;
  rejected: OutboundErrorKind | null = null;
  flow: UdpFlow | null = null;
  replies: { payload: Uint8Array; from: Destination }[] = [];
  up = 0;
  down = 0;
  ended: string | undefined | null = null;
  #onDone: ((error?: string) => void) | null = null;
  readonly queue: { payload: Uint8Array; dest: Destination }[] = [];

  constructor(first: Uint8Array, readonly firstDest: Destination) {
    this.queue.push({ payload: first, dest: firstDest });
    this.up += first.length;
  }

  queuedPayloads(): readonly Uint8Array[] {
    return this.queue.map((q) => q.payload);
  }

  open(flow: UdpFlow, onDone: (error?: string) => void): ConnControl {
    this.flow = flow;
    this.#onDone = onDone;
    flow.onPacket = (payload, from) => {
      this.down += payload.length;
      this.replies.push({ payload: payload.slice(), from });
    };
    for (const q of this.queue.splice(0)) flow.send(q.payload, q.dest);
    return this;
  }

  /** The client sends another datagram. */
  send(payload: Uint8Array, dest: Destination = this.firstDest): void {
    this.up += payload.length;
    if (this.flow) this.flow.send(payload, dest);
    else this.queue.push({ payload, dest });
  }

  reject(kind: OutboundErrorKind): void {
    this.rejected = kind;
    this.end("rejected");
  }

  abort(reason: Error): void {
    this.end(reason.message);
  }

  /** The session ends (timeout, client gone). */
  end(why?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.flow?.close();
    this.ended = why;
    this.#onDone?.(why);
  }
}

/** An outbound whose dials the test controls (see the module description). */
export class FakeOutbound implements Outbound {
  readonly networks: ReadonlySet<"tcp" | "udp">;
  /** The far ends of streams dialed so far. */
  readonly far: PairStream[] = [];
  readonly dials: { dest: Destination; meta: DialMeta }[] = [];
  readonly flows: RecordingFlow[] = [];
  /** Fail the next dials with this kind. */
  failWith: OutboundErrorKind | null = null;
  /** Dials wait for this before answering (to test what happens meanwhile). */
  gate: Promise<void> | null = null;

  constructor(
    readonly reactor: Reactor,
    readonly tag: string,
    readonly type = "direct",
    networks: ("tcp" | "udp")[] = ["tcp", "udp"],
  ) {
    this.networks = new Set(networks);
  }

  async dialTcp(dest: Destination, meta: DialMeta): Promise<Stream> {
    this.dials.push({ dest, meta });
    if (this.gate) await this.gate;
    if (this.failWith) {
      throw new OutboundError(this.failWith, `fake "${this.tag}": dial failed (${this.failWith})`);
    }
    const [near, far] = streamPair(this.reactor);
    this.far.push(far);
    return near;
  }

  openUdp(_meta: DialMeta): Promise<UdpFlow> {
    if (this.failWith) {
      return Promise.reject(new OutboundError(this.failWith, `fake "${this.tag}": no UDP`));
    }
    const f = new RecordingFlow();
    this.flows.push(f);
    return Promise.resolve(f);
  }

  close(): void {}
}

/** A group outbound (`selector`-like) choosing `selected` among `members`. */
export class FakeGroup implements Outbound {
  readonly type = "selector";
  readonly networks: ReadonlySet<"tcp" | "udp"> = new Set(["tcp", "udp"]);

  constructor(
    readonly tag: string,
    readonly members: string[],
    public selected: string,
    readonly lookup: (tag: string) => Outbound,
  ) {}

  dialTcp(dest: Destination, meta: DialMeta): Promise<Stream> {
    return this.lookup(this.selected).dialTcp(dest, meta);
  }

  openUdp(meta: DialMeta): Promise<UdpFlow> {
    return this.lookup(this.selected).openUdp(meta);
  }

  close(): void {}
}
