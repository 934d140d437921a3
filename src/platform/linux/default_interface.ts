/**
 * Default route / default interface discovery over rtnetlink: dump IPv4 (then IPv6) routes,
 * keep unicast `dst_len == 0` routes of the main table whose output interface is up and is not
 * the excluded one (our own TUN), and take the lowest metric. IPv4 wins over IPv6 when both
 * exist. (sing-tun's `monitor_linux_default.go` does the same but takes the first match instead
 * of the lowest metric.) `network_monitor.ts` follows changes.
 *
 * @module
 */

import { IFF_UP, RT_TABLE_MAIN, RTN_UNICAST } from "../../../ffi/linux/netlink.ts";
import type { NetworkInterface } from "../types.ts";
import type { RouteInfo, RtNetlink } from "./rtnetlink/mod.ts";

/** The default route chosen by {@linkcode findDefaultRoute}. */
export interface DefaultRoute {
  family: 4 | 6;
  iface: NetworkInterface;
  gateway?: Uint8Array;
  metric: number;
}

/** Finds the default route with the lowest metric (IPv4 first), ignoring `exclude`. */
export function findDefaultRoute(nl: RtNetlink, exclude?: string): DefaultRoute | null {
  const links = new Map(nl.listLinks().map((l) => [l.index, l]));
  for (const family of [4, 6] as const) {
    let best: DefaultRoute | null = null;
    for (const r of nl.listRoutes(family, RT_TABLE_MAIN)) {
      if (r.dst.bits !== 0 || r.type !== RTN_UNICAST) continue;
      const hop = firstHop(r);
      if (!hop) continue;
      const link = links.get(hop.oif);
      if (!link || link.name === exclude || !(link.flags & IFF_UP)) continue;
      const metric = r.priority ?? 0;
      if (best && best.metric <= metric) continue;
      best = { family, iface: { name: link.name, index: link.index }, metric };
      if (hop.gateway) best.gateway = hop.gateway;
    }
    if (best) return best;
  }
  return null;
}

/** The output interface and gateway of a route (its first nexthop when multipath). */
export function firstHop(r: RouteInfo): { oif: number; gateway?: Uint8Array } | null {
  if (r.oif !== undefined) return r.gateway ? { oif: r.oif, gateway: r.gateway } : { oif: r.oif };
  return r.nexthops?.[0] ?? null;
}

/** The default interface (see {@linkcode findDefaultRoute}), or null when there is none. */
export function findDefaultInterface(nl: RtNetlink, exclude?: string): NetworkInterface | null {
  return findDefaultRoute(nl, exclude)?.iface ?? null;
}
