/**
 * The outbound types a config uses, imported when it is built: a worker whose config names only
 * `socks` and `direct` does not load the Shadowsocks, VMess, VLESS, Trojan or WireGuard modules
 * (and the ciphers and TLS they pull in). Every `type` of `OutboundOptions` has a loader here (the
 * mapped type makes a missing one a type error), and `builtinOutbounds()` registers the same
 * factories eagerly for tests and tools (`tests/outbound/load_test.ts` checks they agree).
 *
 * ```ts
 * const registry = await loadOutbounds(options.outbounds);
 * const outbounds = createOutbounds(options.outbounds, ctx, options.route, registry);
 * ```
 *
 * @module
 */

import type { OutboundOptions } from "../config/types.ts";
import { type OutboundFactory, OutboundRegistry } from "./registry.ts";

type LoadableType = Exclude<OutboundOptions["type"], "dns">;

/**
 * Each type's factory, imported on demand (literal specifiers: `deno compile` bundles them, see
 * `scripts/compile.ts`).
 */
export const OUTBOUND_LOADERS: {
  readonly [T in LoadableType]: () => Promise<
    OutboundFactory<Extract<OutboundOptions, { type: T }>>
  >;
} = {
  direct: async () => (await import("./direct.ts")).createDirectOutbound,
  block: async () => (await import("./block.ts")).createBlockOutbound,
  socks: async () => (await import("./socks.ts")).createSocksOutbound,
  http: async () => (await import("./http.ts")).createHttpOutbound,
  shadowsocks: async () => (await import("./shadowsocks/outbound.ts")).createShadowsocksOutbound,
  vmess: async () => (await import("./vmess/outbound.ts")).createVmessOutbound,
  vless: async () => (await import("./vless/outbound.ts")).createVlessOutbound,
  trojan: async () => (await import("./trojan/outbound.ts")).createTrojanOutbound,
  wireguard: async () => (await import("./wireguard/outbound.ts")).createWireGuardOutbound,
  selector: async () => (await import("./selector.ts")).createSelectorOutbound,
  urltest: async () => (await import("./urltest.ts")).createUrlTestOutbound,
};

/**
 * A registry with the factories of the types `outbounds` names (an unknown type is left out:
 * `createOutbounds` then reports it as the eager registry would).
 */
export async function loadOutbounds(
  outbounds: readonly Pick<OutboundOptions, "type">[],
): Promise<OutboundRegistry> {
  const registry = new OutboundRegistry();
  const types = new Set(outbounds.map((o) => o.type));
  for (const type of types) {
    if (!Object.hasOwn(OUTBOUND_LOADERS, type)) continue;
    const load = OUTBOUND_LOADERS[type as LoadableType] as () => Promise<OutboundFactory>;
    registry.register(type as LoadableType, await load());
  }
  return registry;
}
