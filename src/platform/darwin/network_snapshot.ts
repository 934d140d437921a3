/**
 * A {@linkcode NetworkSnapshot} on macOS: interfaces, their flags and every address with its
 * prefix length from `sysctl NET_RT_IFLIST2` (`if_msghdr2` records, each followed by one
 * `ifa_msghdr` per address), and the routes and default interface from `sysctl NET_RT_DUMP`
 * (each non-default route with a destination and netmask is a route through its interface).
 * An interface counts as up when it is both IFF_UP and IFF_RUNNING (Wi-Fi that lost its network
 * stays UP but stops RUNNING).
 *
 * ```ts
 * const snap = darwinNetworkSnapshot(loadDarwinLibc(), "utun8");
 * ```
 *
 * @module
 */

import { IFF_RUNNING, IFF_UP, RTAX, RTF } from "../../../ffi/darwin/constants.ts";
import type { DarwinLibc } from "../../../ffi/darwin/libc.ts";
import {
  type ListedInterface,
  parseInterfaceList,
  parseRouteDump,
  type RouteMessage,
} from "../../../ffi/darwin/structs.ts";
import { formatPrefix, maskPrefix, type Prefix } from "../../net/ip.ts";
import type { InterfaceState, NetworkSnapshot } from "../types.ts";
import {
  findDefaultInterface,
  type InterfaceFilter,
  keepFilter,
  readInterfaceList,
  readRouteDump,
} from "./default_interface.ts";

/** Builds the snapshot from a decoded interface list and route dump (pure). */
export function buildSnapshot(
  listed: readonly ListedInterface[],
  records: readonly RouteMessage[],
  filter?: InterfaceFilter,
): NetworkSnapshot {
  const keep = keepFilter(filter);
  const names = new Map(listed.map((i) => [i.index, i.name]));
  const nameOf = (index: number) => names.get(index) ?? null;
  const interfaces: InterfaceState[] = listed
    .filter((i) => keep(i.name))
    .map((i) => ({
      name: i.name,
      index: i.index,
      up: (i.flags & (IFF_UP | IFF_RUNNING)) === (IFF_UP | IFF_RUNNING),
      addresses: i.addresses.map((a) => ({ addr: a.addr, bits: a.bits })),
    }));
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
    if (name === null || !keep(name)) continue;
    const prefix: Prefix = maskPrefix({ addr: dst.addr, bits });
    const key = `${name} ${formatPrefix(prefix)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    routes.push({ interface: name, prefix });
  }
  return { defaultInterface: findDefaultInterface(records, nameOf, keep), interfaces, routes };
}

/** Reads the interface list and the routing table and builds the snapshot. */
export function darwinNetworkSnapshot(
  libc: DarwinLibc,
  filter?: InterfaceFilter,
): NetworkSnapshot {
  const listed = parseInterfaceList(readInterfaceList(libc));
  const records = parseRouteDump(readRouteDump(libc));
  return buildSnapshot(listed, records, filter);
}
