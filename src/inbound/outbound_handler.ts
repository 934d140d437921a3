/**
 * A handler that sends every inbound request through one dialer (an outbound, or a direct
 * dialer): the demo's embedded SOCKS server and test peers use it. It is the
 * {@linkcode ConnectionPath} with a router that has no rules, so these requests are dialed,
 * relayed and recorded exactly like routed ones.
 *
 * @module
 */

import { ConnectionPath } from "../conn/mod.ts";
import type { DialOptions, OutboundOptions } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import { DirectDialer } from "../outbound/direct_dialer.ts";
import type { DialContext, Dialer, Outbound } from "../outbound/mod.ts";
import { Router } from "../route/router.ts";
import { createRouterHandler, type RouterHandler } from "./router_handler.ts";

/** An {@linkcode InboundHandler} over one dialer, with the path it uses. */
export interface OutboundHandler extends RouterHandler {
  /** Connections running now. */
  readonly active: number;
  readonly path: ConnectionPath;
}

/** The tag the single outbound has in records and logs. */
const TAG = "direct";

/** Sends every request through `dialer` (running on `reactor`). */
export function createOutboundHandler(reactor: Reactor, dialer: Dialer): OutboundHandler {
  const outbound: Outbound = {
    tag: TAG,
    type: "direct",
    networks: new Set(["tcp", "udp"]),
    dialTcp: (dest, meta) => dialer.dialTcp(dest, meta),
    openUdp: (meta) => dialer.openUdp(meta),
    close() {},
  };
  const path = new ConnectionPath({
    reactor,
    services: {
      router: new Router({
        rules: [],
        outbounds: [{ type: "direct", tag: TAG } as OutboundOptions],
      }),
      outbounds: new Map([[TAG, outbound]]),
      dns: null,
      prepare: null,
      lookup: null,
    },
  });
  const handler = createRouterHandler(path);
  return {
    ...handler,
    path,
    get active() {
      return path.tracker.size;
    },
  };
}

/** A handler that dials everything directly with the given dial fields. */
export function createDirectHandler(ctx: DialContext, dial: DialOptions = {}): OutboundHandler {
  return createOutboundHandler(ctx.reactor, new DirectDialer("direct", dial, ctx));
}
