/**
 * The registry of every outbound type tunbox implements, each type's factory by name.
 *
 * ```ts
 * const outbounds = createOutbounds(options.outbounds, ctx, options.route, builtinOutbounds());
 * ```
 *
 * @module
 */

import { createBlockOutbound } from "./block.ts";
import { createDirectOutbound } from "./direct.ts";
import { createHttpOutbound } from "./http.ts";
import { OutboundRegistry } from "./registry.ts";
import { createSelectorOutbound } from "./selector.ts";
import { createShadowsocksOutbound } from "./shadowsocks/outbound.ts";
import { createVmessOutbound } from "./vmess/outbound.ts";
import { createVlessOutbound } from "./vless/outbound.ts";
import { createTrojanOutbound } from "./trojan/outbound.ts";
import { createWireGuardOutbound } from "./wireguard/outbound.ts";
import { createSocksOutbound } from "./socks.ts";
import { createUrlTestOutbound } from "./urltest.ts";

/** A registry with every outbound type tunbox implements. */
export function builtinOutbounds(): OutboundRegistry {
  return new OutboundRegistry()
    .register("direct", createDirectOutbound)
    .register("block", createBlockOutbound)
    .register("socks", createSocksOutbound)
    .register("http", createHttpOutbound)
    .register("shadowsocks", createShadowsocksOutbound)
    .register("vmess", createVmessOutbound)
    .register("vless", createVlessOutbound)
    .register("trojan", createTrojanOutbound)
    .register("wireguard", createWireGuardOutbound)
    .register("selector", createSelectorOutbound)
    .register("urltest", createUrlTestOutbound);
}
