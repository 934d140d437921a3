/**
 * The userspace stack (sing-box `stack: "gvisor"`) inside a packet worker: tunbox's own TCP
 * ({@linkcode TcpStack}) terminates each flow, and this module connects a flow to its outbound
 * socket.
 *
 * On a SYN the router is asked at once, without I/O (sing-box's pre-match): a `reject` answers
 * the SYN with RST ("connection refused") or drops it. Otherwise the SYN-ACK is held back until
 * the outbound has connected, so a refused or unreachable upstream also looks like a refused
 * connection to the application — unless a rule needs to sniff the first bytes, which requires
 * completing the handshake first.
 *
 * The relay moves bytes without intermediate copies where it can: data from the application
 * is written to the outbound socket straight from the TUN packet buffer (only what the socket
 * does not take stays in the connection's receive buffer, shrinking the advertised window), and
 * data from the outbound socket is read straight into the connection's send ring.
 *
 * @module
 */

import type { ConnControl, ConnectionPath, FlowStats, TcpInboundSide } from "../conn/mod.ts";
import type { Reactor } from "../io/reactor.ts";
import { type Stream, WOULD_BLOCK } from "../io/stream.ts";
import { newConnMetadata } from "../route/metadata.ts";
import type { RouteDecision } from "../route/router.ts";
import type {
  CloseReason,
  ConnectionHandler,
  PendingFlow,
  TcpConnection,
} from "../stack/tcp/mod.ts";

const PEEK_RETRY_MS = 2;

/** Relays one userspace connection to one outbound socket. */
class Relay implements ConnectionHandler, ConnControl {
  up = 0;
  down = 0;
  #upstreamEof = false;
  #clientFin = false;
  #done = false;
  #error: Error | undefined;

  constructor(
    readonly conn: TcpConnection,
    readonly sock: Stream,
    readonly onDone: (stats: FlowStats) => void,
  ) {
    sock.onReadable = () => this.#pump();
    sock.onWritable = () => this.#drainUp();
    sock.onHangup = () => {
      // A hang-up without an error is the peer closing both ways while this relay is not
      // reading (the send ring is full): the EOF is read when reading resumes. Only errors fail.
      const error = sock.hangupError();
      if (error !== null) this.#fail(error);
    };
    sock.wantRead(true);
  }

  /** Data from the application: straight to the socket; the rest stays buffered. */
  onData(view: Uint8Array): number {
    if (this.#done) return view.length;
    let n: number;
    try {
      n = this.sock.write(view);
    } catch (error) {
      this.#fail(error as Error);
      return view.length;
    }
    if (n === WOULD_BLOCK) n = 0;
    this.up += n;
    if (n < view.length) this.sock.wantWrite(true);
    return n;
  }

  /** The socket can take more: offer the connection's buffered bytes again. */
  #drainUp(): void {
    if (this.#done) return;
    this.conn.pull();
    if (this.conn.readableBytes === 0) {
      this.sock.wantWrite(false);
      if (this.#clientFin) this.sock.shutdownWrite();
    }
  }

  onFin(): void {
    this.#clientFin = true;
    if (this.conn.readableBytes === 0 && !this.#done) this.sock.shutdownWrite();
  }

  onWritable(): void {
    if (!this.#upstreamEof && !this.#done) {
      this.sock.wantRead(true);
      this.#pump();
    }
  }

  /** Data from the outbound socket, read straight into the connection's send ring. */
  #pump(): void {
    for (let i = 0; i < 16 && !this.#done && !this.#upstreamEof; i++) {
      let eof = false;
      let blocked = false;
      let wrote: number;
      try {
        wrote = this.conn.writeWith((dst) => {
          const n = this.sock.read(dst);
          if (n === WOULD_BLOCK) {
            blocked = true;
            return 0;
          }
          if (n === 0) eof = true;
          return n;
        });
      } catch (error) {
        this.#fail(error as Error);
        return;
      }
      this.down += wrote;
      if (eof) {
        this.#upstreamEof = true;
        this.sock.wantRead(false);
        this.conn.shutdownWrite();
        return;
      }
      if (blocked) return;
      if (wrote === 0) {
        // The send ring is full (or the connection cannot send): wait for onWritable.
        this.sock.wantRead(false);
        return;
      }
    }
  }

  onClose(reason: CloseReason): void {
    if (this.#done) return;
    this.#done = true;
    if (reason === "closed") this.sock.close();
    else this.sock.abort();
    const error = this.#error ??
      (reason === "closed" ? undefined : new Error(`connection ${reason}`));
    this.onDone(error ? { up: this.up, down: this.down, error } : { up: this.up, down: this.down });
  }

  #fail(error: Error): void {
    if (this.#done) return;
    this.#error = error;
    this.conn.abort(); // reports onClose("aborted"), which closes the socket with RST
  }

  /** Resets both sides (the tracker's abort: a connection closed from the API). */
  abort(reason: Error): void {
    this.#fail(reason);
  }
}

/** The control of a relay that never started. */
const ENDED: ConnControl = { up: 0, down: 0, abort() {} };

/** Forwards handler calls to whichever handler is current (sniffing first, then the relay). */
class SwitchableHandler implements ConnectionHandler {
  target: ConnectionHandler | null = null;
  onClosed: ((reason: CloseReason) => void) | null = null;

  onData(view: Uint8Array): number {
    return this.target ? this.target.onData(view) : 0; // keep data buffered while sniffing
  }
  onWritable(): void {
    this.target?.onWritable?.();
  }
  onFin(): void {
    this.target?.onFin?.();
  }
  onClose(reason: CloseReason): void {
    if (this.target) this.target.onClose?.(reason);
    else this.onClosed?.(reason);
  }
}

/** The application side of a userspace flow: a SYN not answered yet, or an accepted connection. */
class PendingSide implements TcpInboundSide {
  #conn: TcpConnection | null = null;
  #handler = new SwitchableHandler();
  #closedEarly = false;

  constructor(readonly reactor: Reactor, readonly flow: PendingFlow) {
    this.#handler.onClosed = () => {
      this.#closedEarly = true;
    };
  }

  #accept(): TcpConnection | null {
    if (this.#conn) return this.#conn;
    this.#conn = this.flow.accept(this.#handler, this.reactor.now());
    return this.#conn;
  }

  async peek(minBytes: number, deadline: number): Promise<Uint8Array> {
    const conn = this.#accept();
    if (!conn) return new Uint8Array(0);
    for (;;) {
      if (this.#closedEarly) return new Uint8Array(0);
      const have = conn.readableBytes;
      if (have >= minBytes || this.reactor.now() >= deadline || conn.state === "CLOSE-WAIT") {
        let copy = new Uint8Array(0);
        conn.pull((view) => {
          copy = view.slice();
          return 0;
        });
        return copy;
      }
      const wait = Math.max(1, Math.min(PEEK_RETRY_MS, deadline - this.reactor.now()));
      await new Promise<void>((resolve) => this.reactor.setTimeout(wait, resolve));
    }
  }

  start(upstream: Stream, onDone: (stats: FlowStats) => void): ConnControl {
    const conn = this.#accept();
    if (!conn || this.#closedEarly) {
      upstream.close();
      onDone({
        up: 0,
        down: 0,
        error: new Error("the application closed before the relay started"),
      });
      return ENDED;
    }
    const relay = new Relay(conn, upstream, onDone);
    this.#handler.target = relay;
    conn.pull(); // bytes buffered while sniffing go first
    return relay;
  }

  reject(): void {
    if (this.#conn) this.#conn.abort();
    else this.flow.reject();
  }

  drop(): void {
    if (this.#conn) this.#conn.abort();
    else this.flow.drop();
  }
}

/** Per-worker glue between the userspace TCP stack and the connection path. */
export class UserspaceFlows {
  constructor(
    readonly reactor: Reactor,
    readonly path: ConnectionPath,
    readonly inboundTag: string,
  ) {}

  /** The `onSyn` callback for {@linkcode TcpStack}. */
  onSyn(flow: PendingFlow): void {
    const path = this.path;
    const meta = newConnMetadata({
      id: path.nextId(),
      inbound: this.inboundTag,
      inboundType: "tun",
      network: "tcp",
      source: { addr: flow.srcAddr.slice(), port: flow.srcPort },
      destination: { addr: flow.dstAddr.slice(), port: flow.dstPort },
    });
    // With a FakeIP destination or reverse mapping, the path prepares the metadata first and
    // decides there, while the SYN-ACK is still held back.
    let pre: RouteDecision | null = null;
    if (path.canPreMatch) {
      pre = path.preMatch(meta);
      if (pre?.action === "reject") {
        // Refused at the SYN: RST ("connection refused") or nothing, before any state exists.
        path.refusedAtSyn(meta, pre);
        if (pre.method === "drop") flow.drop();
        else flow.reject();
        return;
      }
    }
    void path.tcp(meta, new PendingSide(this.reactor, flow), pre);
  }
}
