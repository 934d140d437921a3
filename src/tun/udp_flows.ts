/**
 * UDP captured from the TUN: one session per client address and port (endpoint-independent,
 * "full cone"). A session is the {@linkcode UdpInboundSide} the {@linkcode ConnectionPath}
 * routes on its first datagram (sniffing it when a rule asks: QUIC SNI, DNS) and then connects
 * to the chosen outbound's {@linkcode UdpFlow} — or to the DNS module for `hijack-dns` — where
 * every datagram carries its own destination. Replies from any source are written back to the
 * client as IP packets built around the payload in place.
 *
 * Datagrams that arrive while a session is still being routed or its flow is opening are
 * queued (bounded); beyond the bound they are dropped, as a NAT would.
 *
 * @module
 */

import type { ConnControl, ConnectionPath, UdpInboundSide } from "../conn/mod.ts";
import type { Reactor } from "../io/reactor.ts";
import type { Destination, UdpFlow } from "../outbound/mod.ts";
import { newConnMetadata } from "../route/metadata.ts";
import type { UdpDatagram } from "../stack/dispatch.ts";
import { UdpReplyBuilder, type UdpSession, UdpSessionTable } from "../stack/udp_sessions.ts";

/** Datagrams held per session while it is routed and its flow opens. */
const MAX_QUEUED = 64;
const MAX_QUEUED_BYTES = 256 * 1024;

interface Queued {
  dest: Destination;
  payload: Uint8Array;
}

/** One session: the inbound side of a UDP connection. */
class Session implements UdpInboundSide, ConnControl {
  phase: "routing" | "open" | "closed" = "routing";
  queue: Queued[] = [];
  queuedBytes = 0;
  flow: UdpFlow | null = null;
  dropped = 0;
  up = 0;
  down = 0;
  entry: UdpSession<Session> | null = null;
  #onDone: ((error?: string) => void) | null = null;

  constructor(
    readonly owner: UdpFlows,
    readonly version: 4 | 6,
    readonly clientAddr: Uint8Array,
    readonly clientPort: number,
  ) {}

  enqueue(dest: Destination, payload: Uint8Array): void {
    if (this.queue.length >= MAX_QUEUED || this.queuedBytes + payload.length > MAX_QUEUED_BYTES) {
      this.dropped++;
      return;
    }
    this.queue.push({ dest, payload: payload.slice() });
    this.queuedBytes += payload.length;
  }

  get closed(): boolean {
    return this.phase === "closed";
  }

  queuedPayloads(): readonly Uint8Array[] {
    return this.queue.map((q) => q.payload);
  }

  open(flow: UdpFlow, onDone: (error?: string) => void): ConnControl {
    if (this.phase === "closed") {
      flow.close();
      onDone("ended before it opened");
      return this;
    }
    this.flow = flow;
    this.phase = "open";
    this.#onDone = onDone;
    flow.onPacket = (payload, from) => this.owner.reply(this, payload, from);
    flow.onClose = (reason) => this.owner.end(this, reason ? reason.message : "flow closed");
    for (const q of this.queue.splice(0)) flow.send(q.payload, q.dest);
    this.queuedBytes = 0;
    return this;
  }

  reject(): void {
    this.owner.end(this, "rejected");
  }

  abort(reason: Error): void {
    this.owner.end(this, reason.message);
  }

  /** Called once by the table when the session goes. */
  ended(why: string): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    const flow = this.flow;
    this.flow = null;
    if (flow) {
      flow.onPacket = flow.onClose = null;
      flow.close();
    }
    this.queue = [];
    const done = this.#onDone;
    this.#onDone = null;
    done?.(why === "idle timeout" ? undefined : why);
  }
}

/** Per-worker UDP sessions. */
export class UdpFlows {
  readonly #sessions: UdpSessionTable<Session>;
  readonly #replies: UdpReplyBuilder;
  #sweep: { cancel(): void } | null = null;
  readonly #scratchDest: Destination = { addr: new Uint8Array(4), port: 0 };

  constructor(
    readonly reactor: Reactor,
    readonly path: ConnectionPath,
    readonly inboundTag: string,
    /** Writes a built packet (with headroom before it) to the TUN. */
    readonly write: (packet: Uint8Array) => void,
    timeoutMs: number,
    headroom: number,
  ) {
    this.#sessions = new UdpSessionTable<Session>({
      timeoutMs,
      onEvict: (s, reason) => {
        s.value.entry = null;
        s.value.ended(reason === "timeout" ? "idle timeout" : reason);
      },
    });
    this.#replies = new UdpReplyBuilder({ headroom });
    this.#scheduleSweep(Math.min(timeoutMs, 10_000));
  }

  get size(): number {
    return this.#sessions.size;
  }

  #scheduleSweep(everyMs: number): void {
    this.#sweep = this.reactor.setTimeout(everyMs, () => {
      this.#sessions.expire(this.reactor.now());
      this.#scheduleSweep(everyMs);
    });
  }

  /** The dispatcher's `onUdp`: the datagram and its views are only valid during the call. */
  input(d: UdpDatagram, now: number): void {
    const version = d.version === 6 ? 6 : 4;
    const payload = d.payload();
    const entry = this.#sessions.lookup(d.buf, version, d.srcOff, d.srcPort, now);
    if (!entry) {
      // The first datagram is queued before routing starts: sniffers read it from the queue.
      this.#open(d, version, payload, now);
      return;
    }
    const s = entry.value;
    s.up += payload.length;
    if (s.phase === "open") {
      // Outbounds send to an IP destination synchronously: a reused object over the
      // packet's own address bytes, no copies on this per-datagram path.
      const dest = this.#scratchDest;
      dest.addr = d.dstAddr();
      dest.port = d.dstPort;
      s.flow!.send(payload, dest);
    } else if (s.phase === "routing") {
      s.enqueue({ addr: d.dstAddr().slice(), port: d.dstPort }, payload);
    } else {
      s.dropped++;
    }
  }

  #open(d: UdpDatagram, version: 4 | 6, payload: Uint8Array, now: number): void {
    const clientAddr = d.srcAddr().slice();
    const dstAddr = d.dstAddr().slice();
    const meta = newConnMetadata({
      id: this.path.nextId(),
      inbound: this.inboundTag,
      inboundType: "tun",
      network: "udp",
      source: { addr: clientAddr, port: d.srcPort },
      destination: { addr: dstAddr, port: d.dstPort },
    });
    const s = new Session(this, version, clientAddr, d.srcPort);
    s.entry = this.#sessions.create(d.buf, version, d.srcOff, d.srcPort, s, now);
    s.up += payload.length;
    s.enqueue({ addr: dstAddr, port: d.dstPort }, payload);
    void this.path.udp(meta, s);
  }

  /** A reply from the flow: written to the client as an IP packet. */
  reply(s: Session, payload: Uint8Array, from: Destination): void {
    const src = from.addr;
    if (!src || src.length !== s.clientAddr.length || s.entry === null || s.closed) {
      s.dropped++;
      return;
    }
    this.#sessions.touch(s.entry, this.reactor.now());
    s.down += payload.length;
    try {
      this.write(
        this.#replies.build(s.version, s.clientAddr, s.clientPort, src, from.port, payload),
      );
    } catch {
      s.dropped++; // oversized for the client's IP version
    }
  }

  /** Ends a session (removes it from the table, which calls `ended`). */
  end(s: Session, why: string): void {
    if (s.closed) return;
    s.ended(why);
    const entry = s.entry;
    s.entry = null;
    if (entry) this.#sessions.delete(entry); // its onEvict finds the session ended
  }

  close(): void {
    this.#sweep?.cancel();
    for (const s of [...this.#sessions.values()]) this.#sessions.delete(s);
  }
}
