/**
 * Which of an outbound's own sockets would loop back into an `auto_route` TUN.
 *
 * With `auto_route`, the TUN's table holds the default route, so a socket tunbox opens for an
 * outbound follows it back into the TUN unless something binds it elsewhere. sing-box's TUN
 * documentation names the ways out: `route.auto_detect_interface`, `route.default_interface` or
 * the outbound's `bind_interface`; a routing mark (`routing_mark`, `route.default_mark`) leaves
 * only when a policy rule matches it. This module is the one place that decides it: `check`
 * warns from it (config/validate.ts) and `tunbox doctor` reports from it with the host's
 * interfaces (onboard/doctor_checks.ts).
 *
 * @example
 * ```ts
 * const e = tunEscape({ type: "direct", tag: "direct" }, { auto_detect_interface: true });
 * // e.kind === "interface"
 * ```
 * @module
 */

import { isLoopback, parseIp, prefixContains } from "../net/ip.ts";
import { isPrivateAddr } from "../net/ip_private.ts";
import type {
  DialOptions,
  OutboundOptions,
  Prefix,
  RouteOptions,
  TunInboundOptions,
} from "./types.ts";

/** How an outbound's sockets leave past the TUN, as far as the config alone tells. */
export type TunEscape =
  /** Bound to an interface: `bind_interface`, or the route's default/auto-detected one. */
  | { kind: "interface"; by: "bind_interface" | "default_interface" | "auto_detect_interface" }
  /** Only a routing mark: leaves the TUN only if a policy rule matches that mark. */
  | { kind: "mark"; by: "routing_mark" | "default_mark" }
  /** Nothing: with auto_route its connections go back into the TUN. */
  | { kind: "none" };

type RouteEscapeFields = Pick<
  RouteOptions,
  "auto_detect_interface" | "default_interface" | "default_mark"
>;

/** The way `o`'s sockets leave past an auto_route TUN (`bind_interface` first, as dialers do). */
export function tunEscape(o: DialOptions, route: RouteEscapeFields): TunEscape {
  if (o.bind_interface) return { kind: "interface", by: "bind_interface" };
  if (route.auto_detect_interface) return { kind: "interface", by: "auto_detect_interface" };
  if (route.default_interface) return { kind: "interface", by: "default_interface" };
  if (o.routing_mark !== undefined) return { kind: "mark", by: "routing_mark" };
  if (route.default_mark !== undefined) return { kind: "mark", by: "default_mark" };
  return { kind: "none" };
}

/**
 * The outbounds whose own sockets would enter one of `tuns` (those with auto_route) and loop:
 * `direct` outbounds, and proxies dialled without a detour whose server is a domain or a public
 * address inside the TUN's routes. Servers on loopback, on a private address (most often the
 * LAN, whose own route wins over the TUN's default route) or excluded from the TUN's routes are
 * not counted; `tunbox doctor` checks those against the host's routes.
 */
export function loopingOutbounds(
  outbounds: readonly OutboundOptions[],
  tuns: readonly TunInboundOptions[],
  route: RouteEscapeFields,
): OutboundOptions[] {
  const auto = tuns.filter((t) => t.auto_route === true);
  if (auto.length === 0) return [];
  const out: OutboundOptions[] = [];
  for (const o of outbounds) {
    if (!dialsItself(o) || tunEscape(o, route).kind !== "none") continue;
    if (o.type !== "direct" && !serverEntersTun(serverOf(o), auto)) continue;
    out.push(o);
  }
  return out;
}

function dialsItself(o: OutboundOptions): o is OutboundOptions & DialOptions {
  switch (o.type) {
    case "block":
    case "dns":
    case "selector":
    case "urltest":
      return false;
    default:
      return (o as DialOptions).detour === undefined;
  }
}

function serverOf(o: OutboundOptions): string | undefined {
  if ("server" in o && typeof o.server === "string") return o.server;
  if (o.type === "wireguard") return o.peers[0]?.address;
  return undefined;
}

function serverEntersTun(server: string | undefined, tuns: readonly TunInboundOptions[]): boolean {
  if (server === undefined || server === "localhost") return false;
  const addr = parseIp(server);
  if (addr === null) return true;
  if (isLoopback(addr) || isPrivateAddr(addr)) return false;
  return tuns.some((t) => routedInto(t, addr));
}

function routedInto(t: TunInboundOptions, addr: Uint8Array): boolean {
  const within = (ps: readonly Prefix[]) =>
    ps.some((p) => p.addr.length === addr.length && prefixContains(p, addr));
  if (within(t.route_exclude_address)) return false;
  return t.route_address.length === 0 || within(t.route_address);
}
