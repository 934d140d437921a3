/**
 * Outbounds: the built-in registry and re-exports.
 *
 * ```ts
 * const outbounds = createOutbounds(options.outbounds, ctx, options.route, builtinOutbounds());
 * const sock = await outbounds.get("proxy")!.dialTcp({ domain: "example.com", port: 443 }, { id });
 * ```
 *
 * @module
 */

export { builtinOutbounds } from "./builtin.ts";
export { createOutbounds, type OutboundEnv, OutboundRegistry } from "./registry.ts";
export * from "./types.ts";
export type { BoundSockets } from "./bound_sockets.ts";
