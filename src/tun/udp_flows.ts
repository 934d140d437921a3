/**
 * UDP captured from the TUN: one session per client address and port (endpoint-independent,
 * "full cone"), routed once on its first datagram — after sniffing it when a rule asks (QUIC
 * SNI, DNS) — then relayed through the chosen outbound's {@linkcode UdpFlow}, where every
 * datagram carries its own destination. Replies from any source are written back to the client
 * as IP packets built around the payload in place.
 *
 * Datagrams that arrive while a session is still being routed or its outbound is opening are
 * queued (bounded); beyond the bound they are dropped, as a NAT would.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Reactor } from "../io/reactor.ts";
import type { Destination, UdpFlow } from "../outbound/types.ts";
import { type ConnMetadata, newConnMetadata } from "../route/metadata.ts";
import type { RouteDecision } from "../route/router.ts";
import { applySniffResult, newPacketSniffState, sniffPacket } from "../sniff/mod.ts";
import type { UdpDatagram } from "../stack/dispatch.ts";
import { UdpReplyBuilder, type UdpSession, UdpSessionTable } from "../stack/udp_sessions.ts";
import { type FlowEnv, formatEndpoint } from "./tcp_flow.ts";
import type { ConnectionRecord } from "./worker_protocol.ts";

const log = getLogger(["tunbox", "tun"]);

/** Datagrams held per session while it is routed and its outbound opens. */
const MAX_QUEUED = 64;
const MAX_QUEUED_BYTES = 256 * 1024;

/** Answers a hijacked DNS query (the DNS module); null = drop. */
export type DnsHijacker = (query: Uint8Array, meta: ConnMetadata) => Promise<Uint8Array | null>;

interface Queued {
  dest: Destination;
  payload: Uint8Array;
}

/** Per-session state. */
class Session {
  phase: "routing" | "open" | "hijack" | "closed" = "routing";
  queue: Queued[] = [];
  queuedBytes = 0;
  flow: UdpFlow | null = null;
  dropped = 0;
  readonly record: ConnectionRecord;

  constructor(
    readonly meta: ConnMetadata,
    readonly version: 4 | 6,
    readonly clientAddr: Uint8Array,
    readonly clientPort: number,
  ) {
    this.record = {
      id: meta.id,
      network: "udp",
      source: formatEndpoint(meta.source.addr, meta.source.port),
      destination: formatEndpoint(meta.destination.addr, meta.destination.port),
      rule: "",
      outbound: "",
      upload: 0,
      download: 0,
      start: Date.now(),
    };
  }

  enqueue(dest: Destination, payload: Uint8Array): void {
    if (this.queue.length >= MAX_QUEUED || this.queuedBytes + payload.length > MAX_QUEUED_BYTES) {
      this.dropped++;
      return;
    }
    this.queue.push({ dest, payload: payload.slice() });
    this.queuedBytes += payload.length;
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
    readonly env: FlowEnv,
    readonly inboundTag: string,
    readonly nextId: () => number,
    /** Writes a built packet (with headroom before it) to the TUN. */
    readonly write: (packet: Uint8Array) => void,
    timeoutMs: number,
    headroom: number,
    readonly hijackDns: DnsHijacker | null = null,
  ) {
    this.#sessions = new UdpSessionTable<Session>({
      timeoutMs,
      onEvict: (s, reason) => this.#close(s.value, reason === "timeout" ? "idle timeout" : reason),
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
      const s = this.#open(d, version, now);
      s.value.record.upload += payload.length;
      s.value.enqueue({ addr: d.dstAddr().slice(), port: d.dstPort }, payload);
      void this.#route(s, s.value);
      return;
    }
    const s = entry.value;
    s.record.upload += payload.length;
    switch (s.phase) {
      case "open": {
        // Outbounds send to an IP destination synchronously: a reused object over the
        // packet's own address bytes, no copies on this per-datagram path.
        const dest = this.#scratchDest;
        dest.addr = d.dstAddr();
        dest.port = d.dstPort;
        s.flow!.send(payload, dest);
        return;
      }
      case "hijack":
        this.#hijack(s, { addr: d.dstAddr().slice(), port: d.dstPort }, payload.slice());
        return;
      case "routing":
        s.enqueue({ addr: d.dstAddr().slice(), port: d.dstPort }, payload);
        return;
      case "closed":
        s.dropped++;
        return;
    }
  }

  #open(d: UdpDatagram, version: 4 | 6, now: number): UdpSession<Session> {
    const clientAddr = d.srcAddr().slice();
    const meta = newConnMetadata({
      id: this.nextId(),
      inbound: this.inboundTag,
      inboundType: "tun",
      network: "udp",
      source: { addr: clientAddr, port: d.srcPort },
      destination: { addr: d.dstAddr().slice(), port: d.dstPort },
    });
    const s = new Session(meta, version, clientAddr, d.srcPort);
    const entry = this.#sessions.create(d.buf, version, d.srcOff, d.srcPort, s, now);
    log.info("[{id}] inbound/tun[{inbound}]: inbound packet connection from {from} to {to}", {
      id: meta.id,
      inbound: meta.inbound,
      from: s.record.source,
      to: s.record.destination,
    });
    return entry;
  }

  async #route(entry: UdpSession<Session>, s: Session): Promise<void> {
    const { meta } = s;
    const refusal = this.env.prepare?.(meta) ?? null;
    if (refusal !== null) {
      log.error("[{id}] {reason}", { id: meta.id, reason: refusal });
      this.#sessions.delete(entry);
      return;
    }
    let decision: RouteDecision;
    try {
      decision = this.env.router.matchSync(meta) ?? await this.env.router.route(meta, {
        sniff: (sniffers) => this.#sniff(s, sniffers),
        resolve: () => Promise.resolve(),
      });
    } catch (error) {
      log.error("[{id}] route packet connection failed: {error}", {
        id: meta.id,
        error: String(error),
      });
      this.#sessions.delete(entry);
      return;
    }
    if (s.phase === "closed") return;
    s.record.rule = decision.ruleIndex < 0
      ? "final"
      : `match[${decision.ruleIndex}] ${decision.ruleText}`;
    if (decision.action === "reject") {
      s.record.outbound = "reject";
      log.info("[{id}] rejected packet connection to {to} by {rule}", {
        id: meta.id,
        to: s.record.destination,
        rule: s.record.rule,
      });
      this.#sessions.delete(entry);
      return;
    }
    if (decision.action === "hijack-dns") {
      s.record.outbound = "dns";
      if (!this.hijackDns) {
        log.warn("[{id}] hijack-dns: no DNS module is running; dropping queries to {to}", {
          id: meta.id,
          to: s.record.destination,
        });
        this.#sessions.delete(entry);
        return;
      }
      s.phase = "hijack";
      for (const q of s.queue.splice(0)) this.#hijack(s, q.dest, q.payload);
      return;
    }
    s.record.outbound = decision.outbound;
    const outbound = this.env.outbounds.get(decision.outbound);
    if (!outbound || !outbound.networks.has("udp")) {
      log.error('[{id}] outbound "{tag}": UDP is not supported by this outbound', {
        id: meta.id,
        tag: decision.outbound,
      });
      this.#sessions.delete(entry);
      return;
    }
    let flow: UdpFlow;
    try {
      flow = await outbound.openUdp({ id: meta.id });
    } catch (error) {
      log.error("[{id}] outbound/{type}[{tag}]: open packet connection failed: {error}", {
        id: meta.id,
        type: outbound.type,
        tag: outbound.tag,
        error: error instanceof Error ? error.message : String(error),
      });
      this.#sessions.delete(entry);
      return;
    }
    // The session may have expired or been evicted while the outbound was opening.
    if ((s.phase as Session["phase"]) === "closed") {
      flow.close();
      return;
    }
    log.info("[{id}] outbound/{type}[{tag}]: outbound packet connection to {to}", {
      id: meta.id,
      type: outbound.type,
      tag: outbound.tag,
      to: s.record.destination,
    });
    s.flow = flow;
    s.phase = "open";
    flow.onPacket = (payload, from) => this.#reply(entry, s, payload, from);
    flow.onClose = (reason) => {
      if (reason) {
        log.debug("[{id}] packet connection ended: {reason}", {
          id: meta.id,
          reason: reason.message,
        });
      }
      if (s.phase !== "closed") this.#sessions.delete(entry);
    };
    for (const q of s.queue.splice(0)) flow.send(q.payload, q.dest);
    s.queuedBytes = 0;
  }

  /** Sniffs queued datagrams (the first, then more while QUIC needs them), up to the timeout. */
  async #sniff(s: Session, sniffers: readonly string[]): Promise<void> {
    const state = newPacketSniffState();
    for (let i = 0; i < s.queue.length && i < 8; i++) {
      const r = await sniffPacket(s.queue[i]!.payload, sniffers, state);
      if (r.status === "match") {
        applySniffResult(s.meta, r);
        return;
      }
      if (r.status === "no-match") return;
    }
  }

  #reply(entry: UdpSession<Session>, s: Session, payload: Uint8Array, from: Destination): void {
    const src = from.addr;
    if (!src || src.length !== s.clientAddr.length) {
      s.dropped++;
      return;
    }
    this.#sessions.touch(entry, this.reactor.now());
    s.record.download += payload.length;
    try {
      this.write(
        this.#replies.build(s.version, s.clientAddr, s.clientPort, src, from.port, payload),
      );
    } catch {
      s.dropped++; // oversized for the client's IP version
    }
  }

  #hijack(s: Session, dest: Destination, query: Uint8Array): void {
    this.hijackDns!(query, s.meta).then((answer) => {
      if (!answer || s.phase === "closed") return;
      s.record.download += answer.length;
      this.write(
        this.#replies.build(s.version, s.clientAddr, s.clientPort, dest.addr!, dest.port, answer),
      );
    }, (error) => {
      log.debug("[{id}] DNS hijack failed: {error}", { id: s.meta.id, error: String(error) });
    });
  }

  #close(s: Session, why: string): void {
    if (s.phase === "closed") return;
    s.phase = "closed";
    s.flow?.close();
    s.queue = [];
    s.record.end = Date.now();
    if (s.meta.domain !== "") s.record.domain = s.meta.domain;
    log.debug("[{id}] packet connection closed ({why}): {up} B up, {down} B down", {
      id: s.meta.id,
      why,
      up: s.record.upload,
      down: s.record.download,
    });
    this.env.record(s.record);
  }

  close(): void {
    this.#sweep?.cancel();
    for (const s of [...this.#sessions.values()]) this.#sessions.delete(s);
  }
}
