/**
 * ICMP echo (ping) from the TUN, routed as sing-box 1.13 routes it: each echo flow (source,
 * destination, identifier) is matched against the route rules with network `icmp`, then
 *
 * - routed to an outbound that carries ICMP (`direct`): the requests are sent for real from this
 *   host (`src/outbound/direct_icmp.ts`) and the real replies come back, so `ping` shows the
 *   real round trip, and loss when the host is down (nothing is answered locally);
 * - routed to an outbound that does not (`socks`, `http`, groups): dropped, with one warning per
 *   flow saying so (sing-box: "icmp is not supported by outbound"), so `ping` times out;
 * - `reject`: `method` `default` answers "host unreachable" (or drops once the rule fired more
 *   than 50 times in 30 s, unless `no_drop`), `drop` drops, `reply` answers with a local echo
 *   reply (sing-box 1.13's way to make ping answer through a proxy);
 * - `hijack-dns`: dropped.
 *
 * The decision is the {@linkcode ConnectionPath}'s, as for TCP and UDP (a router error drops
 * the flow, fail closed); a flow is the {@linkcode IcmpInboundSide} it hands the verdict or the
 * upstream to, and forwarded flows are recorded like any connection (network `icmp`).
 *
 * Pings to the TUN's own network (its address and gateway) are answered locally.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { ConnControl, ConnectionPath, IcmpInboundSide, IcmpVerdict } from "../conn/mod.ts";
import type { Reactor } from "../io/reactor.ts";
import { formatIp, type Prefix, prefixContains } from "../net/ip.ts";
import type { IcmpFlow } from "../outbound/mod.ts";
import { newConnMetadata } from "../route/metadata.ts";
import { echoReplyInPlace, hostUnreachable } from "../stack/icmp_echo.ts";
import { L4_CHECKSUM_OFFSET, PacketBuilder } from "../stack/packet_builder.ts";
import { IPPROTO_ICMP, IPPROTO_ICMPV6 } from "../wire/mod.ts";

const log = getLogger(["tunbox", "tun", "icmp"]);

/** An echo flow without a request for this long is closed. */
export const ICMP_IDLE_MS = 30_000;
/** How often idle flows are swept. */
const SWEEP_MS = 10_000;
/** Requests kept while a flow's route is being decided. */
const MAX_QUEUED = 8;
/**
 * Open echo flows per worker. Real use needs a handful; the cap bounds the damage when a
 * misconfiguration (a direct outbound not bound to an interface) sends tunbox's own pings back
 * into the TUN, where each would open another socket.
 */
export const MAX_ICMP_FLOWS = 256;

type Verdict = "pending" | "forward" | IcmpVerdict;

/** One echo flow: the inbound side the connection path decides for. */
class Flow implements IcmpInboundSide, ConnControl {
  verdict: Verdict = "pending";
  upstream: IcmpFlow | null = null;
  /** Requests (packet copies with their ICMP offset) that arrived while routing. */
  queue: { p: Uint8Array; l4Off: number }[] = [];
  closed = false;
  up = 0;
  down = 0;
  onDone: ((error?: string) => void) | null = null;

  constructor(
    readonly owner: IcmpFlows,
    readonly key: string,
    readonly version: 4 | 6,
    /** The application's address (the replies' destination). */
    readonly client: Uint8Array,
    /** The pinged address (the replies' source). */
    readonly target: Uint8Array,
    public lastSeen: number,
  ) {}

  answer(verdict: IcmpVerdict): void {
    this.owner.settle(this, verdict);
  }

  reject(): void {
    this.owner.settle(this, "drop");
  }

  open(upstream: IcmpFlow, onDone: (error?: string) => void): ConnControl {
    if (this.closed) {
      upstream.close();
      onDone("ended before it opened");
      return this;
    }
    this.upstream = upstream;
    this.onDone = onDone;
    upstream.onReply = (message) => this.owner.reply(this, message);
    this.owner.settle(this, "forward");
    return this;
  }

  abort(reason: Error): void {
    this.owner.end(this, reason.message);
  }
}

/** What {@linkcode IcmpFlows} needs from the engine. */
export interface IcmpEnv {
  reactor: Reactor;
  /** Where new flows are decided (route, record). */
  path: ConnectionPath;
  inboundTag: string;
  /** The TUN's own prefixes (pings inside them are answered locally). */
  tunPrefixes: readonly Prefix[];
  /** Writes one IP packet, `packet[0..length)`, to the TUN. */
  emit(packet: Uint8Array, length: number): void;
  /** Bytes to keep free before each built packet (platform prefix). */
  headroom: number;
}

/** One worker's ICMP echo flows (see the module doc). */
export class IcmpFlows {
  readonly #flows = new Map<string, Flow>();
  readonly #builder: PacketBuilder;
  readonly #scratch = new Uint8Array(1280);
  #sweep: { cancel(): void } | null;
  #warnedFull = false;
  /** Counters for stats and tests. */
  readonly stats = {
    forwarded: 0,
    replies: 0,
    localReplies: 0,
    unreachable: 0,
    dropped: 0,
    /** Flows looked at by {@linkcode IcmpFlows.expire} (the idle ones and at most one more). */
    expiryVisits: 0,
  };

  constructor(readonly env: IcmpEnv) {
    this.#builder = new PacketBuilder(env.headroom, env.emit, true, false);
    this.#sweep = this.#scheduleSweep();
  }

  /** Open flows. */
  get size(): number {
    return this.#flows.size;
  }

  #scheduleSweep(): { cancel(): void } {
    return this.env.reactor.setTimeout(SWEEP_MS, () => {
      this.expire(this.env.reactor.now());
      this.#sweep = this.#scheduleSweep();
    });
  }

  /**
   * Ends the flows idle for more than {@linkcode ICMP_IDLE_MS} at `now`; returns how many. The
   * flows are kept least recently used first (a packet moves its flow to the back), so this looks
   * at the idle ones and the first live one, not at every flow.
   */
  expire(now: number): number {
    let ended = 0;
    for (const f of this.#flows.values()) {
      this.stats.expiryVisits++;
      if (now - f.lastSeen <= ICMP_IDLE_MS) break;
      this.end(f);
      ended++;
    }
    return ended;
  }

  /** Handles one echo request (the dispatcher's `onIcmpEcho`). */
  input(
    p: Uint8Array,
    version: 4 | 6,
    l4Off: number,
    l4End: number,
    srcOff: number,
    dstOff: number,
    now: number,
  ): void {
    const len = version === 4 ? 4 : 16;
    const target = p.subarray(dstOff, dstOff + len);
    if (this.env.tunPrefixes.some((t) => t.addr.length === len && prefixContains(t, target))) {
      this.#localReply(p, version, l4Off, l4End);
      return;
    }
    const id = (p[l4Off + 4]! << 8) | p[l4Off + 5]!;
    const key = `${formatIp(p.subarray(srcOff, srcOff + len))}|${formatIp(target)}|${id}`;
    let flow = this.#flows.get(key);
    if (!flow && this.#flows.size >= MAX_ICMP_FLOWS) {
      this.stats.dropped++;
      if (!this.#warnedFull) {
        this.#warnedFull = true;
        log.warn(
          "{max} icmp echo flows are open: dropping new ones (do tunbox's own pings loop back into the TUN? set route.auto_detect_interface)",
          { max: MAX_ICMP_FLOWS },
        );
      }
      return;
    }
    if (!flow) {
      flow = new Flow(this, key, version, p.slice(srcOff, srcOff + len), target.slice(), now);
      this.#flows.set(key, flow);
      const path = this.env.path;
      void path.icmp(
        newConnMetadata({
          id: path.nextId(),
          inbound: this.env.inboundTag,
          inboundType: "tun",
          network: "icmp",
          source: { addr: flow.client, port: 0 },
          destination: { addr: flow.target, port: 0 },
        }),
        flow,
      );
    }
    if (now > flow.lastSeen) {
      // Least recently used first: to the back of the map's order (a replay from `settle`
      // keeps its place, which its arrival already gave it).
      this.#flows.delete(key);
      this.#flows.set(key, flow);
      flow.lastSeen = now;
    }
    switch (flow.verdict) {
      case "pending":
        if (flow.queue.length < MAX_QUEUED) flow.queue.push({ p: p.slice(0, l4End), l4Off });
        return;
      case "forward":
        if (flow.upstream!.closed) {
          // Ended by a network change: route again (a new socket on the new interface).
          this.end(flow, "upstream closed");
          return this.input(p, version, l4Off, l4End, srcOff, dstOff, now);
        }
        this.stats.forwarded++;
        flow.up += l4End - l4Off;
        flow.upstream!.send(p.subarray(l4Off, l4End));
        return;
      case "reply":
        this.#localReply(p, version, l4Off, l4End);
        return;
      case "unreachable":
        this.#unreachable(flow, p, l4Off, l4End);
        return;
      case "drop":
        this.stats.dropped++;
        return;
    }
  }

  #localReply(p: Uint8Array, version: 4 | 6, l4Off: number, l4End: number): void {
    const reply = echoReplyInPlace(p, version, l4Off, l4End);
    if (!reply) return;
    this.stats.localReplies++;
    this.env.emit(reply, reply.length);
  }

  #unreachable(flow: Flow, p: Uint8Array, l4Off: number, end: number): void {
    const n = hostUnreachable(p, flow.version, l4Off, end, this.#scratch);
    this.#emitMessage(flow, this.#scratch.subarray(0, n));
    this.stats.unreachable++;
  }

  /** Builds `target → client` around an ICMP message and writes it to the TUN. */
  #emitMessage(flow: Flow, message: Uint8Array): void {
    const b = this.#builder;
    const proto = flow.version === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    const l4 = b.ipHeader(flow.version, proto, flow.target, 0, flow.client, 0, message.length);
    b.packet.set(message, l4);
    b.finish(flow.version, proto, l4, message.length, L4_CHECKSUM_OFFSET.icmp);
  }

  /** A reply from the upstream: written to the client. */
  reply(flow: Flow, message: Uint8Array): void {
    if (flow.closed) return;
    this.stats.replies++;
    flow.down += message.length;
    this.#emitMessage(flow, message);
  }

  /** Applies the verdict to the requests that arrived while routing. */
  settle(flow: Flow, verdict: Verdict): void {
    flow.verdict = verdict;
    const queued = flow.queue.splice(0);
    if (flow.closed) return;
    const srcOff = flow.version === 4 ? 12 : 8;
    const dstOff = flow.version === 4 ? 16 : 24;
    for (const q of queued) {
      this.input(q.p, flow.version, q.l4Off, q.p.length, srcOff, dstOff, flow.lastSeen);
    }
  }

  /** Ends a flow (idle, its upstream gone, closed from the API). */
  end(flow: Flow, error?: string): void {
    if (flow.closed) return;
    flow.closed = true;
    if (this.#flows.get(flow.key) === flow) this.#flows.delete(flow.key);
    const upstream = flow.upstream;
    flow.upstream = null;
    if (upstream) {
      upstream.onReply = null;
      upstream.close();
    }
    const done = flow.onDone;
    flow.onDone = null;
    done?.(error);
  }

  /** Closes every flow. */
  close(): void {
    this.#sweep?.cancel();
    this.#sweep = null;
    for (const f of [...this.#flows.values()]) this.end(f);
  }
}
