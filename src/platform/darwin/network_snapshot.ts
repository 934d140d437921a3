/**
 * A {@linkcode NetworkSnapshot} on macOS read from the routing-table dump (`NET_RT_DUMP`): each
 * non-default route with a destination and netmask is a route through its interface, and the
 * interface address it carries (`RTAX_IFA`) with that route's prefix length is an address of the
 * interface. Interfaces are the ones that have routes (an interface without routes has nothing
 * that could collide or break). A first version for the shared collision check and change
 * monitor; reading interfaces and addresses with `NET_RT_IFLIST` would also list interfaces
 * without routes.
 *
 * @module
 */

import { RTAX, RTF } from "../../../ffi/darwin/constants.ts";
import type { DarwinLibc } from "../../../ffi/darwin/libc.ts";
import { parseRouteDump, type RouteMessage } from "../../../ffi/darwin/structs.ts";
import { formatPrefix, maskPrefix, type Prefix } from "../../net/ip.ts";
import type { InterfaceState, NetworkInterface, NetworkSnapshot } from "../types.ts";
import { findDefaultInterface, readRouteDump } from "./default_interface.ts";

/** Builds the snapshot from decoded route records (pure; `nameOf` maps an index to a name). */
export function snapshotFromRoutes(
  records: readonly RouteMessage[],
  nameOf: (index: number) => string | null,
  exclude?: string,
): NetworkSnapshot {
  const interfaces = new Map<number, InterfaceState>();
  const routes: NetworkSnapshot["routes"] = [];
  const seen = new Set<string>();
  for (const rec of records) {
    if ((rec.flags & RTF.UP) === 0 || rec.index === 0) continue;
    const dst = rec.sockaddrs[RTAX.DST];
    if (dst?.kind !== "inet") continue;
    const mask = rec.sockaddrs[RTAX.NETMASK];
    const bits = (rec.flags & RTF.HOST) !== 0
      ? dst.addr.length * 8
      : mask?.kind === "mask"
      ? mask.bits
      : null;
    if (bits === null || bits === 0) continue;
    const name = nameOf(rec.index);
    if (name === null || name === exclude) continue;
    let iface = interfaces.get(rec.index);
    if (!iface) {
      iface = { name, index: rec.index, up: true, addresses: [] };
      interfaces.set(rec.index, iface);
    }
    const prefix: Prefix = maskPrefix({ addr: dst.addr, bits });
    const key = `${name} ${formatPrefix(prefix)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    routes.push({ interface: name, prefix });
    const ifa = rec.sockaddrs[RTAX.IFA];
    if (ifa?.kind === "inet" && ifa.family === dst.family && (rec.flags & RTF.HOST) === 0) {
      if (
        !iface.addresses.some((a) => formatPrefix(a) === formatPrefix({ addr: ifa.addr, bits }))
      ) {
        iface.addresses.push({ addr: ifa.addr, bits });
      }
    }
  }
  const defaultInterface: NetworkInterface | null = findDefaultInterface(records, nameOf, exclude);
  return { defaultInterface, interfaces: [...interfaces.values()], routes };
}

/** Reads the routing table and builds the snapshot. */
export function darwinNetworkSnapshot(libc: DarwinLibc, exclude?: string): NetworkSnapshot {
  const records = parseRouteDump(readRouteDump(libc));
  return snapshotFromRoutes(records, (i) => libc.if_indextoname(i), exclude);
}
