/**
 * The one connection path (sing-box's router + connection manager): every inbound — both TUN
 * stacks and the `socks`/`http`/`mixed` listeners — hands a new TCP or UDP flow here as metadata
 * plus an inbound side ({@linkcode TcpInboundSide}, {@linkcode UdpInboundSide}), and the path
 *
 * 1. prepares the metadata (FakeIP destination → domain, reverse mapping),
 * 2. routes it (sniffing the first bytes or datagrams and resolving when a rule asks),
 * 3. applies `reject` (the side refuses the flow as its client expects) or `hijack-dns` (the DNS
 *    module answers, over UDP or over TCP with DNS framing),
 * 4. dials the chosen outbound and hands the stream or UDP flow to the side to relay,
 * 5. keeps a structured {@linkcode ConnRecord} in the worker's {@linkcode ConnTracker} from the
 *    decision to the end (rule index and text, outbound chain, counters, start and end time).
 *
 * Every failure — a router error included — is logged with the connection id and fails closed:
 * the flow is refused, never let through. The router and outbounds a flow uses are read from
 * {@linkcode ConnectionPath.services} once, when the flow starts: replacing that object (a config
 * reload) changes what new flows use while running ones keep theirs.
 *
 * ```ts
 * const path = new ConnectionPath({ reactor, services: { router, outbounds, dns, ... } });
 * void path.tcp(meta, side);            // a TUN stack's or a listener's TCP flow
 * void path.udp(meta, session);         // a UDP session
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DomainStrategy } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import type { Stream } from "../io/stream.ts";
import {
  isOutboundGroup,
  type Outbound,
  OutboundError,
  type OutboundErrorKind,
  type UdpFlow,
} from "../outbound/types.ts";
import { natFlow } from "../outbound/nat_flow.ts";
import type { ResolveOptions } from "../route/action.ts";
import { type ConnMetadata, dialDestination } from "../route/metadata.ts";
import { processOf } from "../route/process.ts";
import type { RouteDecision, Router } from "../route/router.ts";
import { applySniffResult, newPacketSniffState, sniffPacket, sniffStream } from "../sniff/mod.ts";
import { DnsPacketFlow, DnsStreamServer } from "./dns_hijack.ts";
import { ConnIds } from "./ids.ts";
import {
  type ConnRecord,
  formatEndpoint,
  ipText,
  newConnRecord,
  recordDestination,
  updateFromMetadata,
} from "./record.ts";
import type {
  FlowStats,
  IcmpInboundSide,
  IcmpVerdict,
  TcpInboundSide,
  UdpInboundSide,
} from "./sides.ts";
import { ConnTracker, type TrackedConn } from "./tracker.ts";

const log = getLogger(["tunbox", "conn"]);

/** Answers hijacked DNS queries (the DNS module's `handleQuery`). */
export interface DnsAnswerer {
  handleQuery(query: Uint8Array, meta: ConnMetadata): Promise<Uint8Array | null>;
}

/**
 * What flows are routed and dialed with. One object, replaced as a whole on reload: a flow reads
 * it once when it starts.
 */
export interface FlowServices {
  readonly router: Router;
  readonly outbounds: ReadonlyMap<string, Outbound>;
  /** Answers `hijack-dns`; null when no DNS module runs (hijacked flows are then refused). */
  readonly dns: DnsAnswerer | null;
  /**
   * Runs before routing: replaces a FakeIP destination by its domain, fills `meta.domain` from
   * DNS reverse mapping. Returns why the flow must be refused (an unknown FakeIP), else null.
   * Null when neither is configured (then TUN stacks may decide at the SYN).
   */
  readonly prepare: ((meta: ConnMetadata) => string | null) | null;
  /** Resolves a domain for `resolve` actions; null: domain destinations stay unresolved. */
  readonly lookup: ((domain: string, strategy?: DomainStrategy) => Promise<Uint8Array[]>) | null;
  /**
   * Flows answered by the DNS module before any rule (a tun inbound's derived `dns_address`,
   * sing-box 1.14): returns the reason for the log, or null. Absent: none.
   */
  readonly autoHijack?: ((meta: ConnMetadata) => string | null) | null;
  /** `route.find_process`: look up every flow's process at routing, for logs and the API. */
  readonly findProcess?: boolean;
}

/** `ruleIndex` of a decision made before the rules (the tun inbound's DNS address). */
export const INBOUND_DNS_RULE_INDEX = -3;

/** The hijack decision for a flow `services.autoHijack` claims, else null. */
function autoHijackDecision(services: FlowServices, meta: ConnMetadata): RouteDecision | null {
  const why = services.autoHijack?.(meta) ?? null;
  return why === null
    ? null
    : { action: "hijack-dns", ruleIndex: INBOUND_DNS_RULE_INDEX, ruleText: why };
}

/** Construction options of a {@linkcode ConnectionPath}. */
export interface ConnectionPathOptions {
  reactor: Reactor;
  services: FlowServices;
  /** The worker's tracker (default: a new one). */
  tracker?: ConnTracker;
  /** Connection ids (default: private to this path). */
  ids?: ConnIds;
}

/** A decision the path made itself because the router failed: refuse the flow. */
interface RouterFailure {
  action: "router-error";
  error: string;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The outbound tags a route through `tag` uses, carrier first (sing-box's `chains`). */
export function outboundChain(outbounds: ReadonlyMap<string, Outbound>, tag: string): string[] {
  const chain: string[] = [];
  let next = tag;
  for (let i = 0; i < 32; i++) {
    const o = outbounds.get(next);
    if (!o || chain.includes(next)) break;
    chain.push(next);
    if (!isOutboundGroup(o)) break;
    next = o.selected;
  }
  return chain.reverse();
}

/** The matched rule as log lines name it: `match[2] ip_is_private=true => route(direct)`. */
function ruleForLog(rec: ConnRecord): string {
  return rec.ruleIndex < 0 ? rec.rule : `match[${rec.ruleIndex}] ${rec.rule}`;
}

/** Fills the record's decision fields. */
function applyDecision(
  rec: ConnRecord,
  decision: RouteDecision,
  outbounds: ReadonlyMap<string, Outbound>,
): void {
  rec.action = decision.action;
  rec.ruleIndex = decision.ruleIndex;
  rec.rule = decision.ruleIndex === -1 ? "final" : decision.ruleText;
  if (decision.action === "route") {
    rec.outbound = decision.outbound;
    rec.chain = outboundChain(outbounds, decision.outbound);
  }
}

/** The connection path of one worker (see the module description). */
export class ConnectionPath {
  /** What new flows are routed and dialed with; replace it to reload. */
  services: FlowServices;
  readonly tracker: ConnTracker;
  readonly reactor: Reactor;
  readonly #ids: ConnIds;

  constructor(options: ConnectionPathOptions) {
    this.reactor = options.reactor;
    this.services = options.services;
    this.tracker = options.tracker ?? new ConnTracker();
    this.#ids = options.ids ?? new ConnIds();
  }

  /** A new connection id. */
  nextId(): number {
    return this.#ids.next();
  }

  /**
   * Whether a stack may decide at the SYN with {@linkcode preMatch}: not when metadata needs
   * preparing first (FakeIP, reverse mapping), which a stack does after accepting.
   */
  get canPreMatch(): boolean {
    return this.services.prepare === null;
  }

  /**
   * sing-box's pre-match, without I/O: the decision when the rules reach one without data, or
   * null when a `sniff`/`resolve` must run first (the flow's `ruleCursor` then points there).
   * A router error is logged and becomes a refusal (`reject`, rule index -2): fail closed.
   */
  preMatch(meta: ConnMetadata): RouteDecision | null {
    try {
      return autoHijackDecision(this.services, meta) ?? this.services.router.matchSync(meta);
    } catch (error) {
      if (meta.id === 0) meta.id = this.nextId();
      const message = `route failed: ${errorText(error)}`;
      log.error("[{id}] route connection to {to} failed: {error}", {
        id: meta.id,
        to: formatEndpoint(meta.destination.addr, meta.destination.port),
        error: errorText(error),
      });
      return {
        action: "reject",
        method: "default",
        flooded: false,
        ruleIndex: -2,
        ruleText: message,
      };
    }
  }

  /**
   * Records a flow a stack refused at its SYN with a pre-match decision (reject or a router
   * failure), which never reaches {@linkcode tcp}.
   */
  refusedAtSyn(meta: ConnMetadata, decision: RouteDecision): void {
    if (meta.id === 0) meta.id = this.nextId();
    const rec = newConnRecord(meta);
    if (decision.ruleIndex === -2) {
      this.tracker.refused(rec, decision.ruleText);
      return;
    }
    applyDecision(rec, decision, this.services.outbounds);
    log.info("[{id}] rejected connection to {to} by {rule}", {
      id: meta.id,
      to: recordDestination(rec),
      rule: ruleForLog(rec),
    });
    this.tracker.refused(rec);
  }

  /** Decides for a flow: pre-decision, sync match, or the full route with its hooks. */
  async #decide(
    services: FlowServices,
    meta: ConnMetadata,
    pre: RouteDecision | null,
    sniff: (sniffers: readonly string[], timeoutMs: number) => Promise<void>,
  ): Promise<RouteDecision | RouterFailure> {
    if (pre !== null) {
      return pre.ruleIndex === -2 ? { action: "router-error", error: pre.ruleText } : pre;
    }
    const hijack = autoHijackDecision(services, meta);
    if (hijack !== null) return hijack;
    try {
      return services.router.matchSync(meta) ?? await services.router.route(meta, {
        sniff,
        resolve: (options) => this.#resolve(services, meta, options),
      });
    } catch (error) {
      log.error("[{id}] route connection to {to} failed: {error}", {
        id: meta.id,
        to: formatEndpoint(meta.destination.addr, meta.destination.port, meta.destination.fqdn),
        error: errorText(error),
      });
      return { action: "router-error", error: `route failed: ${errorText(error)}` };
    }
  }

  /** A `resolve` action: the domain destination's addresses, dialed instead of the name. */
  async #resolve(services: FlowServices, meta: ConnMetadata, options: ResolveOptions) {
    const fqdn = meta.destination.fqdn;
    if (!fqdn || !services.lookup) return;
    meta.destinationAddresses = await services.lookup(fqdn, options.strategy);
  }

  /**
   * Everything before the connection is tracked: the log line, preparing the metadata, the
   * decision. Null when the flow was refused here (the side refused it and it is recorded).
   */
  async #route(
    services: FlowServices,
    meta: ConnMetadata,
    side: TcpInboundSide | UdpInboundSide | IcmpInboundSide,
    pre: RouteDecision | null,
    sniff: (sniffers: readonly string[], timeoutMs: number) => Promise<void>,
  ): Promise<{ decision: RouteDecision; conn: TrackedConn; to: string } | null> {
    const rec = newConnRecord(meta);
    log.info("[{id}] inbound/{type}[{inbound}]: inbound {what} from {from} to {to}", {
      id: meta.id,
      type: meta.inboundType,
      inbound: meta.inbound,
      what: meta.network === "tcp"
        ? "connection"
        : meta.network === "udp"
        ? "packet connection"
        : "icmp echo",
      from: meta.network === "icmp"
        ? ipText(meta.source.addr)
        : formatEndpoint(meta.source.addr, meta.source.port),
      to: meta.network === "icmp" ? ipText(meta.destination.addr) : recordDestination(rec),
    });
    const refusal = services.prepare?.(meta) ?? null;
    if (refusal !== null) {
      log.error("[{id}] {reason}", { id: meta.id, reason: refusal });
      side.reject("unreachable", new Error(refusal));
      this.tracker.refused(rec, refusal);
      return null;
    }
    const decision = await this.#decide(services, meta, pre, sniff);
    const process = services.findProcess ? processOf(meta) : meta.process;
    if (process && process.path !== "") {
      log.info("[{id}] found process path: {path}", { id: meta.id, path: process.path });
    }
    updateFromMetadata(rec, meta);
    if (decision.action === "router-error") {
      side.reject("protocol", new Error(decision.error));
      this.tracker.refused(rec, decision.error);
      return null;
    }
    if ("closed" in side && side.closed) {
      log.debug("[{id}] packet connection ended while it was routed", { id: meta.id });
      this.tracker.refused(rec, "ended while routing");
      return null;
    }
    applyDecision(rec, decision, services.outbounds);
    log.debug("[{id}] router: {rule}", { id: meta.id, rule: rec.rule });
    return { decision, conn: this.tracker.open(rec), to: recordDestination(rec) };
  }

  /** The DNS module for `hijack-dns`, or null after refusing the flow when none runs. */
  #dns(
    services: FlowServices,
    side: TcpInboundSide | UdpInboundSide,
    conn: TrackedConn,
    to: string,
  ): DnsAnswerer | null {
    if (services.dns !== null) return services.dns;
    const why = "hijack-dns: no DNS module is running";
    log.warn("[{id}] {why}; refusing the flow to {to}", { id: conn.record.id, why, to });
    side.reject("unreachable", new Error(why));
    this.tracker.finish(conn, why);
    return null;
  }

  /** The outbound for a route decision, or null after refusing a flow it cannot carry. */
  #outbound(
    services: FlowServices,
    decision: RouteDecision & { action: "route" },
    network: "tcp" | "udp",
    side: TcpInboundSide | UdpInboundSide,
    conn: TrackedConn,
  ): Outbound | null {
    const outbound = services.outbounds.get(decision.outbound);
    const why = !outbound
      ? `outbound "${decision.outbound}" not found`
      : !outbound.networks.has(network)
      ? `${network.toUpperCase()} is not supported by outbound/${outbound.type}[${outbound.tag}]`
      : null;
    if (why === null) return outbound!;
    log.error("[{id}] {error}", { id: conn.record.id, error: why });
    side.reject("unreachable", new Error(why));
    this.tracker.finish(conn, why);
    return null;
  }

  /**
   * Routes, dials and relays one TCP flow. Never throws: every failure ends in the side refusing
   * the flow and a log line naming the connection, the action and the value. `pre` is a decision
   * already taken at the SYN ({@linkcode preMatch}).
   */
  async tcp(
    meta: ConnMetadata,
    side: TcpInboundSide,
    pre: RouteDecision | null = null,
  ): Promise<void> {
    const services = this.services;
    const started = this.reactor.now();
    const routed = await this.#route(
      services,
      meta,
      side,
      pre,
      (sniffers, timeoutMs) => this.#sniffStream(meta, side, sniffers, timeoutMs),
    );
    if (routed === null) return;
    const { decision, conn, to } = routed;
    const rec = conn.record;

    let upstream: Stream;
    switch (decision.action) {
      case "reject":
        log.info("[{id}] rejected connection to {to} by {rule}", {
          id: meta.id,
          to,
          rule: ruleForLog(rec),
        });
        if (decision.method === "drop") side.drop();
        else side.reject("blocked");
        this.tracker.finish(conn);
        return;
      case "hijack-dns": {
        const dns = this.#dns(services, side, conn, to);
        if (dns === null) return;
        log.info("[{id}] hijack-dns: answering DNS over TCP to {to}", { id: meta.id, to });
        upstream = new DnsStreamServer(this.reactor, (q) => dns.handleQuery(q, meta));
        break;
      }
      case "route": {
        const outbound = this.#outbound(services, decision, "tcp", side, conn);
        if (outbound === null) return;
        try {
          upstream = await outbound.dialTcp(this.#dialDestination(meta), { id: meta.id });
        } catch (error) {
          const kind: OutboundErrorKind = error instanceof OutboundError ? error.kind : "refused";
          log.error("[{id}] outbound/{type}[{tag}]: connection to {to} failed ({kind}): {error}", {
            id: meta.id,
            type: outbound.type,
            tag: outbound.tag,
            to,
            kind,
            error: errorText(error),
          });
          side.reject(kind, error instanceof Error ? error : new Error(String(error)));
          this.tracker.finish(conn, errorText(error));
          return;
        }
        log.info("[{id}] outbound/{type}[{tag}]: outbound connection to {to} ({ms} ms)", {
          id: meta.id,
          type: outbound.type,
          tag: outbound.tag,
          to: meta.domain !== "" ? `${to} (${meta.domain})` : to,
          ms: Math.round(this.reactor.now() - started),
        });
        break;
      }
    }
    this.#relay(meta, conn, side, upstream);
  }

  #relay(meta: ConnMetadata, conn: TrackedConn, side: TcpInboundSide, upstream: Stream): void {
    if (conn.aborted) {
      upstream.abort();
      side.reject("refused", conn.aborted);
      this.tracker.finish(conn, conn.aborted.message);
      return;
    }
    const onDone = (stats: FlowStats) => {
      log.debug("[{id}] connection to {to} closed: {up} B up, {down} B down{error}", {
        id: meta.id,
        to: recordDestination(conn.record),
        up: stats.up,
        down: stats.down,
        error: stats.error ? `, ${stats.error.message}` : "",
      });
      this.tracker.finish(conn, stats.error?.message, stats);
    };
    try {
      conn.control = side.start(upstream, onDone);
    } catch (error) {
      log.error("[{id}] relay to {to} failed to start: {error}", {
        id: meta.id,
        to: recordDestination(conn.record),
        error: errorText(error),
      });
      upstream.abort();
      side.reject("protocol");
      this.tracker.finish(conn, errorText(error));
    }
  }

  /** What an outbound dials: the destination, or the first address a `resolve` action found. */
  #dialDestination(meta: ConnMetadata) {
    const dest = dialDestination(meta);
    const resolved = meta.destinationAddresses[0];
    if (dest.addr === undefined && resolved !== undefined) {
      return { addr: resolved, port: dest.port };
    }
    return dest;
  }

  /** Sniffs a TCP flow's first bytes for a `sniff` action (sing-box `PeekStream` semantics). */
  async #sniffStream(
    meta: ConnMetadata,
    side: TcpInboundSide,
    sniffers: readonly string[],
    timeoutMs: number,
  ): Promise<void> {
    const deadline = this.reactor.now() + timeoutMs;
    let have = 0;
    for (;;) {
      const data = await side.peek(have + 1, deadline);
      if (data.length <= have) return; // timed out, nothing to see, or the client closed
      have = data.length;
      const r = sniffStream(data, sniffers);
      if (r.status === "match") {
        applySniffResult(meta, r);
        return;
      }
      if (r.status === "no-match") return;
    }
  }

  /**
   * Routes one UDP session and connects it to its outbound's flow (or the DNS module). Never
   * throws; failures end the session with a log line.
   */
  async udp(meta: ConnMetadata, side: UdpInboundSide): Promise<void> {
    const services = this.services;
    // Where the client sends: a rule or FakeIP may change where that goes (NAT'd below).
    const original = dialDestination(meta);
    const routed = await this.#route(
      services,
      meta,
      side,
      null,
      (sniffers) => this.#sniffPackets(meta, side, sniffers),
    );
    if (routed === null) return;
    const { decision, conn, to } = routed;
    const rec = conn.record;
    let flow: UdpFlow;
    switch (decision.action) {
      case "reject":
        log.info("[{id}] rejected packet connection to {to} by {rule}", {
          id: meta.id,
          to,
          rule: ruleForLog(rec),
        });
        side.reject("blocked");
        this.tracker.finish(conn);
        return;
      case "hijack-dns": {
        const dns = this.#dns(services, side, conn, to);
        if (dns === null) return;
        flow = new DnsPacketFlow((q) => dns.handleQuery(q, meta));
        break;
      }
      case "route": {
        const outbound = this.#outbound(services, decision, "udp", side, conn);
        if (outbound === null) return;
        try {
          // A rewritten destination (override_address/port, a FakeIP domain) applies to the
          // session's datagrams, and replies look like they come from where they were sent.
          flow = natFlow(
            await outbound.openUdp({ id: meta.id }),
            original,
            this.#dialDestination(meta),
          );
        } catch (error) {
          log.error("[{id}] outbound/{type}[{tag}]: open packet connection failed: {error}", {
            id: meta.id,
            type: outbound.type,
            tag: outbound.tag,
            error: errorText(error),
          });
          side.reject(
            error instanceof OutboundError ? error.kind : "unreachable",
            error instanceof Error ? error : new Error(String(error)),
          );
          this.tracker.finish(conn, errorText(error));
          return;
        }
        // The session may have ended, or been closed from the API, while the flow opened.
        if (side.closed || conn.aborted) {
          flow.close();
          if (!side.closed) side.reject("refused", conn.aborted ?? undefined);
          this.tracker.finish(conn, conn.aborted?.message ?? "ended while opening");
          return;
        }
        log.info("[{id}] outbound/{type}[{tag}]: outbound packet connection to {to}", {
          id: meta.id,
          type: outbound.type,
          tag: outbound.tag,
          to,
        });
        break;
      }
    }
    conn.control = side.open(flow, (error) => {
      log.debug("[{id}] packet connection closed{why}: {up} B up, {down} B down", {
        id: meta.id,
        why: error ? ` (${error})` : "",
        up: conn.up,
        down: conn.down,
      });
      this.tracker.finish(conn, error);
    });
  }

  /**
   * Routes one ICMP echo flow (network `icmp`, sing-box 1.13): forwarded through an outbound
   * that carries ICMP (`direct`), else answered by the side: `reject` as its method says
   * (`default` host unreachable, or a drop once the rule floods; `drop`; `reply` a local echo
   * reply), `hijack-dns` and outbounds without ICMP drop (one warning per flow).
   */
  async icmp(meta: ConnMetadata, side: IcmpInboundSide): Promise<void> {
    const services = this.services;
    const routed = await this.#route(services, meta, side, null, () => Promise.resolve());
    if (routed === null) return;
    const { decision, conn } = routed;
    const rec = conn.record;
    const from = ipText(meta.source.addr);
    const to = rec.destinationIp || recordDestination(rec);
    if (decision.action !== "route") {
      const verdict: IcmpVerdict = decision.action === "hijack-dns"
        ? "drop"
        : decision.method === "reply"
        ? "reply"
        : decision.method === "drop" || decision.flooded
        ? "drop"
        : "unreachable";
      log.info("[{id}] icmp echo from {from} to {to}: {rule} ({verdict})", {
        id: meta.id,
        from,
        to,
        rule: ruleForLog(rec),
        verdict,
      });
      side.answer(verdict);
      this.tracker.finish(conn);
      return;
    }
    const outbound = services.outbounds.get(decision.outbound);
    if (!outbound?.openIcmp) {
      const why = `icmp is not supported by outbound "${decision.outbound}"`;
      log.warn(
        '[{id}] icmp echo from {from} to {to} dropped: {why} ({rule}); add a rule {"network": "icmp", "action": "reject", "method": "reply"} to answer pings locally',
        { id: meta.id, from, to, why, rule: ruleForLog(rec) },
      );
      side.answer("drop");
      this.tracker.finish(conn, why);
      return;
    }
    let upstream;
    try {
      // The packet's address (a FakeIP destination names a domain here, not where to ping).
      const target = meta.originalDestination?.addr ?? meta.destination.addr;
      upstream = outbound.openIcmp(target, { id: meta.id });
    } catch (error) {
      log.warn("[{id}] icmp echo from {from} to {to} via {tag} failed: {error}", {
        id: meta.id,
        from,
        to,
        type: outbound.type,
        tag: outbound.tag,
        error: errorText(error),
      });
      side.answer("drop");
      this.tracker.finish(conn, errorText(error));
      return;
    }
    if (side.closed || conn.aborted) {
      upstream.close();
      this.tracker.finish(conn, conn.aborted?.message ?? "ended while opening");
      return;
    }
    log.info("[{id}] icmp echo from {from} to {to}: {rule} => {tag}", {
      id: meta.id,
      from,
      to,
      rule: ruleForLog(rec),
      tag: outbound.tag,
    });
    conn.control = side.open(upstream, (error) => this.tracker.finish(conn, error));
  }

  /** Sniffs queued datagrams (the first, then more while QUIC needs them). */
  async #sniffPackets(
    meta: ConnMetadata,
    side: UdpInboundSide,
    sniffers: readonly string[],
  ): Promise<void> {
    const state = newPacketSniffState();
    const queued = side.queuedPayloads();
    for (let i = 0; i < queued.length && i < 8; i++) {
      const r = await sniffPacket(queued[i]!, sniffers, state);
      if (r.status === "match") {
        applySniffResult(meta, r);
        return;
      }
      if (r.status === "no-match") return;
    }
  }
}
