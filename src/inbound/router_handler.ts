/**
 * The {@linkcode InboundHandler} of the listener inbounds (`socks`, `http`, `mixed`): each
 * request becomes connection metadata and an inbound side handed to the
 * {@linkcode ConnectionPath}, the same path TUN flows take (routing, reject, hijack-dns, dial,
 * relay, the connection record).
 *
 * - TCP: the side answers the client only once the outbound is connected (SOCKS BND.ADDR is the
 *   outbound socket's local address), or with the failure reply matching how the dial failed.
 *   Listener requests name their destination, and the client sends nothing before the reply, so
 *   `sniff` actions find no data here.
 * - UDP (SOCKS5 UDP ASSOCIATE): the side hands the flow to the association, counting datagrams
 *   both ways for the record.
 *
 * @module
 */

import type {
  ConnControl,
  ConnectionPath,
  FlowStats,
  TcpInboundSide,
  UdpInboundSide,
} from "../conn/mod.ts";
import type { Stream } from "../io/stream.ts";
import { type Relay, relay } from "../io/relay.ts";
import type { Destination, OutboundErrorKind, UdpFlow } from "../outbound/mod.ts";
import { type ConnMetadata, newConnMetadata } from "../route/metadata.ts";
import type {
  InboundConnection,
  InboundHandler,
  InboundPacketConnection,
  InboundRequest,
} from "./types.ts";

/** A router-backed handler that can close everything it started. */
export interface RouterHandler extends InboundHandler {
  close(): void;
}

/** The connection path's metadata for a listener request. */
export function requestMetadata(req: InboundRequest): ConnMetadata {
  const d = req.destination;
  return newConnMetadata({
    id: req.id,
    inbound: req.inbound,
    inboundType: req.inboundType,
    network: req.network,
    source: { addr: req.source.addr, port: req.source.port },
    destination: d.addr
      ? { addr: d.addr, port: d.port }
      : { addr: new Uint8Array(0), port: d.port, fqdn: d.domain ?? "" },
  });
}

/** A TCP request as an inbound side: accept after the dial, or the failure reply. */
class ListenerTcpSide implements TcpInboundSide, ConnControl {
  #relay: Relay | null = null;
  #aborted: Error | null = null;

  constructor(readonly conn: InboundConnection, readonly relays: Set<Relay>) {}

  peek(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(0));
  }

  get up(): number {
    return this.#relay?.up ?? 0;
  }

  get down(): number {
    return this.#relay?.down ?? 0;
  }

  abort(reason: Error): void {
    if (this.#relay) this.#relay.abort(reason);
    else this.#aborted ??= reason;
  }

  start(upstream: Stream, onDone: (stats: FlowStats) => void): ConnControl {
    this.conn.accept(upstream.localAddr() ?? undefined).then((accepted) => {
      if (this.#aborted) {
        accepted.client.abort();
        upstream.abort();
        onDone({ up: 0, down: 0, error: this.#aborted });
        return;
      }
      const r: Relay = relay(accepted.client, upstream, {
        initialToB: accepted.upstreamFirst,
        onClose: (stats) => {
          this.relays.delete(r);
          onDone(stats.error ? { up: stats.up, down: stats.down, error: stats.error } : stats);
        },
      });
      this.#relay = r;
      if (!r.ended) this.relays.add(r);
    }, (error) => {
      // The client went away before the reply.
      upstream.close();
      onDone({ up: 0, down: 0, error: error instanceof Error ? error : new Error(String(error)) });
    });
    return this;
  }

  reject(kind: OutboundErrorKind, reason?: Error): void {
    this.conn.reject(kind, reason);
  }

  drop(): void {
    this.conn.reject("blocked");
  }
}

/** Counts a flow's datagrams both ways and reports its end (the association owns it). */
class CountingFlow implements UdpFlow, ConnControl {
  up = 0;
  down = 0;
  #onPacket: ((payload: Uint8Array, from: Destination) => void) | null = null;
  #closed = false;

  constructor(
    readonly inner: UdpFlow,
    readonly onDone: (error?: string) => void,
    readonly flows: Set<UdpFlow>,
  ) {
    flows.add(this);
    inner.onPacket = (payload, from) => {
      this.down += payload.length;
      this.#onPacket?.(payload, from);
    };
  }

  get onPacket(): ((payload: Uint8Array, from: Destination) => void) | null {
    return this.#onPacket;
  }
  set onPacket(fn: ((payload: Uint8Array, from: Destination) => void) | null) {
    this.#onPacket = fn;
  }

  get onClose(): ((reason?: Error) => void) | null {
    return this.inner.onClose;
  }
  set onClose(fn: ((reason?: Error) => void) | null) {
    this.inner.onClose = fn === null ? null : (reason) => {
      fn(reason);
      this.#end(reason?.message ?? "flow closed");
    };
  }

  get dropped(): number {
    return this.inner.dropped;
  }

  send(payload: Uint8Array, dest: Destination): void {
    this.up += payload.length;
    this.inner.send(payload, dest);
  }

  close(): void {
    this.inner.close();
    this.#end();
  }

  abort(reason: Error): void {
    this.#end(reason.message);
    // Ending the association's flow makes it end the association (its onClose).
    const onClose = this.inner.onClose;
    this.inner.onPacket = this.inner.onClose = null;
    this.inner.close();
    onClose?.(reason);
  }

  #end(error?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.flows.delete(this);
    this.onDone(error);
  }
}

/** A UDP association as an inbound side. */
class ListenerUdpSide implements UdpInboundSide {
  closed = false;

  constructor(readonly conn: InboundPacketConnection, readonly flows: Set<UdpFlow>) {}

  queuedPayloads(): readonly Uint8Array[] {
    return [];
  }

  open(flow: UdpFlow, onDone: (error?: string) => void): ConnControl {
    const counting = new CountingFlow(flow, onDone, this.flows);
    this.conn.accept(counting);
    return counting;
  }

  reject(kind: OutboundErrorKind, reason?: Error): void {
    this.closed = true;
    this.conn.reject(kind, reason);
  }
}

/** Hands each request to `path` (see the module description). */
export function createRouterHandler(path: ConnectionPath): RouterHandler {
  const relays = new Set<Relay>();
  const flows = new Set<UdpFlow>();
  return {
    onConnection(conn) {
      void path.tcp(requestMetadata(conn.request), new ListenerTcpSide(conn, relays));
    },
    onPacketConnection(conn) {
      void path.udp(requestMetadata(conn.request), new ListenerUdpSide(conn, flows));
    },
    close() {
      for (const r of [...relays]) r.close();
      for (const f of [...flows]) f.close();
      relays.clear();
      flows.clear();
    },
  };
}
