/**
 * What happens to a new TCP flow captured from the TUN, whichever stack terminated it:
 * route it (sniffing first bytes when a rule asks), dial the chosen outbound, then relay until
 * both sides are done — or refuse it the way the application would see without tunbox.
 *
 * The stack-specific part is a {@linkcode TcpInboundSide}: the system stack hands over a kernel
 * socket accepted from its NAT listener; the userspace stack hands over a connection whose
 * SYN-ACK has not been sent yet (so a refused dial becomes "connection refused").
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Reactor } from "../io/reactor.ts";
import type { Stream } from "../io/stream.ts";
import { formatIp } from "../net/ip.ts";
import { type Outbound, OutboundError } from "../outbound/types.ts";
import { type ConnMetadata, dialDestination } from "../route/metadata.ts";
import type { RouteDecision, Router } from "../route/router.ts";
import { applySniffResult, sniffStream } from "../sniff/mod.ts";
import type { ConnectionRecord } from "./worker_protocol.ts";

const log = getLogger(["tunbox", "tun"]);

/** How a relay ended, as the stacks report it. */
export interface FlowStats {
  up: number;
  down: number;
  error?: Error;
}

/** The application side of a TCP flow. */
export interface TcpInboundSide {
  /**
   * Resolves with the bytes the application has sent so far (not consumed), once there are at
   * least `minBytes`, the application closed, or `deadline` (reactor clock) passed.
   */
  peek(minBytes: number, deadline: number): Promise<Uint8Array>;
  /** Starts relaying with the connected outbound socket; `onDone` runs once at the end. */
  start(upstream: Stream, onDone: (stats: FlowStats) => void): void;
  /** Refuses the flow: RST (before or after the handshake). */
  reset(): void;
  /** Drops the flow without an answer where the stack can (a pending SYN); else resets. */
  drop(): void;
}

/** Services a flow needs, owned by the worker. */
export interface FlowEnv {
  reactor: Reactor;
  router: Router;
  outbounds: ReadonlyMap<string, Outbound>;
  /** Called when a flow ends (for stats and the connection list). */
  record(rec: ConnectionRecord): void;
  /**
   * Runs before routing: replaces a FakeIP destination by its domain, fills `meta.domain` from
   * DNS reverse mapping. Returns why the flow must be refused (an unknown FakeIP), else null.
   */
  prepare?(meta: ConnMetadata): string | null;
}

/** Formats `addr:port` for logs. */
export function formatEndpoint(addr: Uint8Array, port: number): string {
  if (addr.length === 0) return `?:${port}`;
  return addr.length === 16 ? `[${formatIp(addr)}]:${port}` : `${formatIp(addr)}:${port}`;
}

function describeDecision(d: RouteDecision): string {
  const where = d.ruleIndex < 0 ? "final" : `match[${d.ruleIndex}] ${d.ruleText}`;
  return d.action === "route" && d.ruleIndex < 0 ? `final => route(${d.outbound})` : where;
}

/** Sniffs the first bytes of a stream for a `sniff` action (sing-box `PeekStream` semantics). */
async function sniffFlow(
  env: FlowEnv,
  meta: ConnMetadata,
  side: TcpInboundSide,
  sniffers: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const deadline = env.reactor.now() + timeoutMs;
  let have = 0;
  for (;;) {
    const data = await side.peek(have + 1, deadline);
    if (data.length <= have) return; // timed out or the application closed
    have = data.length;
    const r = sniffStream(data, sniffers);
    if (r.status === "match") {
      applySniffResult(meta, r);
      log.debug("[{id}] sniffed protocol: {protocol}, domain: {domain}", {
        id: meta.id,
        protocol: meta.protocol,
        domain: meta.domain,
      });
      return;
    }
    if (r.status === "no-match") return;
  }
}

/**
 * Routes, dials and relays one TCP flow. Never throws: every failure ends in `side.reset()`
 * (or `drop()`) and a log line naming the connection, the action and the value.
 */
export async function handleTcpFlow(
  env: FlowEnv,
  meta: ConnMetadata,
  side: TcpInboundSide,
  /** A decision already taken at SYN time (the userspace stack's pre-match), if any. */
  preDecision: RouteDecision | null = null,
): Promise<void> {
  const start = env.reactor.now();
  const from = formatEndpoint(meta.source.addr, meta.source.port);
  const to = formatEndpoint(meta.destination.addr, meta.destination.port);
  log.info("[{id}] inbound/tun[{inbound}]: inbound connection from {from} to {to}", {
    id: meta.id,
    inbound: meta.inbound,
    from,
    to,
  });
  const record: ConnectionRecord = {
    id: meta.id,
    network: "tcp",
    source: from,
    destination: to,
    rule: "",
    outbound: "",
    upload: 0,
    download: 0,
    start: Date.now(),
  };
  const finish = (error?: string) => {
    record.end = Date.now();
    if (error !== undefined) record.error = error;
    if (meta.domain !== "") record.domain = meta.domain;
    env.record(record);
  };

  const refusal = env.prepare?.(meta) ?? null;
  if (refusal !== null) {
    log.error("[{id}] {reason}", { id: meta.id, reason: refusal });
    side.reset();
    finish(refusal);
    return;
  }
  let decision: RouteDecision;
  try {
    decision = preDecision ?? env.router.matchSync(meta) ?? await env.router.route(meta, {
      sniff: (sniffers, timeoutMs) => sniffFlow(env, meta, side, sniffers, timeoutMs),
      resolve: () => Promise.resolve(),
    });
  } catch (error) {
    log.error("[{id}] route connection to {to} failed: {error}", {
      id: meta.id,
      to,
      error: String(error),
    });
    side.reset();
    finish(String(error));
    return;
  }
  record.rule = describeDecision(decision);
  log.debug("[{id}] router: {rule}", { id: meta.id, rule: record.rule });

  if (decision.action === "reject") {
    record.outbound = "reject";
    log.info("[{id}] rejected connection to {to} by {rule}", {
      id: meta.id,
      to,
      rule: record.rule,
    });
    if (decision.method === "drop") side.drop();
    else side.reset();
    finish();
    return;
  }
  if (decision.action === "hijack-dns") {
    record.outbound = "dns";
    log.warn(
      "[{id}] hijack-dns over TCP for {to} is not handled yet; resetting the connection",
      { id: meta.id, to },
    );
    side.reset();
    finish("hijack-dns over TCP is not handled");
    return;
  }

  record.outbound = decision.outbound;
  const outbound = env.outbounds.get(decision.outbound);
  if (!outbound) {
    log.error('[{id}] outbound "{tag}" not found', { id: meta.id, tag: decision.outbound });
    side.reset();
    finish(`outbound "${decision.outbound}" not found`);
    return;
  }
  if (!outbound.networks.has("tcp")) {
    log.error("[{id}] outbound/{type}[{tag}]: TCP is not supported by this outbound", {
      id: meta.id,
      type: outbound.type,
      tag: outbound.tag,
    });
    side.reset();
    finish("TCP is not supported by the outbound");
    return;
  }
  const dest = dialDestination(meta);
  let upstream: Stream;
  try {
    upstream = await outbound.dialTcp(dest, { id: meta.id });
  } catch (error) {
    const kind = error instanceof OutboundError ? error.kind : "error";
    log.error("[{id}] outbound/{type}[{tag}]: connection to {to} failed ({kind}): {error}", {
      id: meta.id,
      type: outbound.type,
      tag: outbound.tag,
      to,
      kind,
      error: error instanceof Error ? error.message : String(error),
    });
    side.reset();
    finish(error instanceof Error ? error.message : String(error));
    return;
  }
  log.info("[{id}] outbound/{type}[{tag}]: outbound connection to {to} ({ms} ms)", {
    id: meta.id,
    type: outbound.type,
    tag: outbound.tag,
    to: meta.domain !== "" ? `${to} (${meta.domain})` : to,
    ms: Math.round(env.reactor.now() - start),
  });
  const onDone = (stats: FlowStats) => {
    record.upload = stats.up;
    record.download = stats.down;
    log.debug("[{id}] connection to {to} closed: {up} B up, {down} B down{error}", {
      id: meta.id,
      to,
      up: stats.up,
      down: stats.down,
      error: stats.error ? `, ${stats.error.message}` : "",
    });
    finish(stats.error?.message);
  };
  try {
    side.start(upstream, onDone);
  } catch (error) {
    log.error("[{id}] relay to {to} failed to start: {error}", {
      id: meta.id,
      to,
      error: String(error),
    });
    upstream.close();
    side.reset();
    finish(String(error));
  }
}
