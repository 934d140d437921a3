/**
 * The {@linkcode InboundHandler} that routes listener-inbound requests (`socks`, `http`,
 * `mixed`) by the route rules, as sing-box does for every inbound: metadata from the request,
 * the router's decision, then the chosen outbound's dial and a relay (or a UDP flow).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { natFlow } from "../outbound/nat_flow.ts";
import { type Relay, relay } from "../outbound/relay.ts";
import { formatDestination, type Outbound, toOutboundError } from "../outbound/types.ts";
import { type ConnMetadata, dialDestination, newConnMetadata } from "../route/metadata.ts";
import type { RouteDecision, Router } from "../route/router.ts";
import type { InboundHandler, InboundRequest } from "./types.ts";

const log = getLogger(["tunbox", "inbound"]);

/** A router-backed handler that can close everything it started. */
export interface RouterHandler extends InboundHandler {
  close(): void;
}

function metadataOf(req: InboundRequest): ConnMetadata {
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

/** Routes each request with `router` and dials through `outbounds`. */
export function createRouterHandler(
  router: Router,
  outbounds: ReadonlyMap<string, Outbound>,
  resolve?: (meta: ConnMetadata) => Promise<void>,
): RouterHandler {
  const relays = new Set<Relay>();
  const flows = new Set<{ close(): void }>();

  async function decide(
    req: InboundRequest,
  ): Promise<{ decision: RouteDecision; meta: ConnMetadata }> {
    const meta = metadataOf(req);
    const decision = router.matchSync(meta) ?? await router.route(meta, {
      // Listener inbounds do not sniff (the request already names its destination).
      sniff: () => Promise.resolve(),
      resolve: () => resolve ? resolve(meta) : Promise.resolve(),
    });
    return { decision, meta };
  }

  function outboundFor(decision: RouteDecision, network: "tcp" | "udp"): Outbound {
    if (decision.action !== "route") throw new Error(`rejected by ${decision.ruleText}`);
    const o = outbounds.get(decision.outbound);
    if (!o) throw new Error(`outbound "${decision.outbound}" not found`);
    if (!o.networks.has(network)) {
      throw new Error(`${network.toUpperCase()} is not supported by outbound "${o.tag}"`);
    }
    return o;
  }

  return {
    onConnection(conn) {
      const req = conn.request;
      const to = formatDestination(req.destination);
      (async () => {
        const { decision, meta } = await decide(req);
        log.info("[{id}] inbound/{type}[{inbound}]: connection to {to}: {rule}", {
          id: req.id,
          type: req.inboundType,
          inbound: req.inbound,
          to,
          rule: decision.ruleIndex < 0
            ? "final"
            : `match[${decision.ruleIndex}] ${decision.ruleText}`,
        });
        if (decision.action === "reject") {
          conn.reject("blocked");
          return;
        }
        const outbound = outboundFor(decision, "tcp");
        const upstream = await outbound.dialTcp(dialDestination(meta), { id: req.id });
        let accepted;
        try {
          accepted = await conn.accept(upstream.localAddr() ?? undefined);
        } catch {
          upstream.close();
          return;
        }
        let r: Relay | null = null;
        r = relay(accepted.client, upstream, {
          initialToB: accepted.upstreamFirst,
          onClose: (stats) => {
            if (r) relays.delete(r);
            log.debug("[{id}] connection to {to} closed: {up} B up, {down} B down", {
              id: req.id,
              to,
              up: stats.up,
              down: stats.down,
            });
          },
        });
        if (!r.ended) relays.add(r);
      })().catch((error) => {
        const e = toOutboundError(error, `connection to ${to}`);
        log.error("[{id}] {error}", { id: req.id, error: e.message });
        conn.reject(e.kind, e);
      });
    },
    onPacketConnection(conn) {
      const req = conn.request;
      (async () => {
        const { decision, meta } = await decide(req);
        if (decision.action === "reject") {
          conn.reject("blocked");
          return;
        }
        // A rule that rewrote the destination applies to the session's datagrams too.
        const flow = natFlow(
          await outboundFor(decision, "udp").openUdp({ id: req.id }),
          req.destination,
          dialDestination(meta),
        );
        flows.add(flow);
        const onClose = flow.onClose;
        flow.onClose = (reason) => {
          flows.delete(flow);
          onClose?.(reason);
        };
        conn.accept(flow);
      })().catch((error) => {
        const e = toOutboundError(
          error,
          `packet connection to ${formatDestination(req.destination)}`,
        );
        log.error("[{id}] {error}", { id: req.id, error: e.message });
        conn.reject(e.kind, e);
      });
    },
    close() {
      for (const r of relays) r.close();
      for (const f of flows) f.close();
      relays.clear();
      flows.clear();
    },
  };
}
