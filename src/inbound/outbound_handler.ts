/**
 * A handler that sends every inbound request through one dialer (an outbound, or a direct
 * dialer) and relays it: what the demo's embedded SOCKS server and the tests use. The router
 * provides the real handler (rules pick the outbound).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DialOptions } from "../config/types.ts";
import { DirectDialer } from "../outbound/direct_dialer.ts";
import { type Relay, relay, type RelayStats } from "../outbound/relay.ts";
import {
  type DialContext,
  type Dialer,
  formatDestination,
  toOutboundError,
} from "../outbound/types.ts";
import type { InboundHandler, InboundRequest } from "./types.ts";

const log = getLogger(["tunbox", "inbound"]);

/** An {@linkcode InboundHandler} that also tracks its relays. */
export interface OutboundHandler extends InboundHandler {
  /** Relays running now. */
  readonly active: number;
  /** Closes every relay and UDP flow it started. */
  close(): void;
}

export interface OutboundHandlerOptions {
  /** Idle timeout of each TCP relay (default: none, as sing-box). */
  idleTimeoutMs?: number;
  /** Called when a TCP relay ends. */
  onRelayClose?: (request: InboundRequest, stats: RelayStats) => void;
}

/** Sends every request through `dialer`. */
export function createOutboundHandler(
  dialer: Dialer,
  options: OutboundHandlerOptions = {},
): OutboundHandler {
  const relays = new Set<Relay>();
  const flows = new Set<{ close(): void }>();
  return {
    get active() {
      return relays.size;
    },
    onConnection(conn) {
      const req = conn.request;
      dialer.dialTcp(req.destination, { id: req.id }).then(async (upstream) => {
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
          ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
          onClose: (stats) => {
            if (r) relays.delete(r);
            log.debug("[{id}] relay to {dest} ended ({end}): up {up} B, down {down} B", {
              id: req.id,
              dest: formatDestination(req.destination),
              end: stats.end,
              up: stats.up,
              down: stats.down,
            });
            options.onRelayClose?.(req, stats);
          },
        });
        if (!r.ended) relays.add(r);
      }, (error) => {
        const e = toOutboundError(error, `dial ${formatDestination(req.destination)}`);
        log.info("[{id}] {error}", { id: req.id, error: e.message });
        conn.reject(e.kind, e);
      });
    },
    onPacketConnection(conn) {
      const req = conn.request;
      dialer.openUdp({ id: req.id }).then((flow) => {
        const close = flow.close.bind(flow);
        const entry = { close };
        flows.add(entry);
        flow.close = () => {
          flows.delete(entry);
          close();
        };
        conn.accept(flow);
      }, (error) => {
        const e = toOutboundError(error, "open UDP");
        log.info("[{id}] {error}", { id: req.id, error: e.message });
        conn.reject(e.kind, e);
      });
    },
    close() {
      for (const r of [...relays]) r.close();
      for (const f of [...flows]) f.close();
    },
  };
}

/** A handler that dials everything directly with the given dial fields. */
export function createDirectHandler(
  ctx: DialContext,
  dial: DialOptions = {},
  options: OutboundHandlerOptions = {},
): OutboundHandler {
  return createOutboundHandler(new DirectDialer("direct", dial, ctx), options);
}
