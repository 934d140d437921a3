/**
 * The default (physical) interface on macOS: read the routing table with
 * `sysctl({CTL_NET, PF_ROUTE, 0, AF_UNSPEC, NET_RT_DUMP, 0})` and pick the IPv4 default route's
 * interface (changes are followed by `network_monitor.ts`).
 *
 * @module
 */

import { SysError } from "../../../ffi/errno.ts";
import {
  AF_UNSPEC,
  CTL_NET,
  DARWIN_ERRNO,
  NET_RT_DUMP,
  NET_RT_IFLIST2,
  PF_ROUTE,
  RTAX,
  RTF,
  RTM_VERSION,
} from "../../../ffi/darwin/constants.ts";
import type { DarwinLibc } from "../../../ffi/darwin/libc.ts";
import { parseRouteDump, type RouteMessage } from "../../../ffi/darwin/structs.ts";
import type { NetworkInterface } from "../types.ts";

/** The sysctl name of the routing-table dump. */
export const ROUTE_DUMP_MIB: readonly number[] = [CTL_NET, PF_ROUTE, 0, AF_UNSPEC, NET_RT_DUMP, 0];
/** The sysctl name of the interface list with addresses (`if_msghdr2` + `ifa_msghdr` records). */
export const INTERFACE_LIST_MIB: readonly number[] = [
  CTL_NET,
  PF_ROUTE,
  0,
  AF_UNSPEC,
  NET_RT_IFLIST2,
  0,
];

/**
 * Reads a PF_ROUTE sysctl: one call for the size, one for the data (with 10% headroom, and a
 * retry when the table grew in between: ENOMEM).
 */
function readRoutingSysctl(libc: DarwinLibc, name: readonly number[], what: string): Uint8Array {
  const mib = new Int32Array(name);
  const len = new BigUint64Array(1);
  for (let attempt = 0; attempt < 4; attempt++) {
    len[0] = 0n;
    if (libc.sysctl(mib, null, len, null, 0) < 0) {
      throw new SysError(`read the size of ${what}`, libc.errno(), "darwin");
    }
    const size = Number(len[0]);
    const buf = new Uint8Array(size + Math.ceil(size / 10) + 1024);
    len[0] = BigInt(buf.length);
    if (libc.sysctl(mib, buf, len, null, 0) < 0) {
      const errno = libc.errno();
      if (errno === DARWIN_ERRNO.ENOMEM) continue;
      throw new SysError(`read ${what}`, errno, "darwin");
    }
    return buf.subarray(0, Number(len[0]));
  }
  throw new SysError(`read ${what}`, DARWIN_ERRNO.ENOMEM, "darwin");
}

/** Reads the routing table (`sysctl NET_RT_DUMP`). */
export function readRouteDump(libc: DarwinLibc): Uint8Array {
  return readRoutingSysctl(libc, ROUTE_DUMP_MIB, "the routing table (sysctl NET_RT_DUMP)");
}

/** Reads every interface with its addresses (`sysctl NET_RT_IFLIST2`). */
export function readInterfaceList(libc: DarwinLibc): Uint8Array {
  return readRoutingSysctl(libc, INTERFACE_LIST_MIB, "the interface list (sysctl NET_RT_IFLIST2)");
}

/** True for an IPv4 default route record: up, via a gateway, dst 0.0.0.0, empty or zero mask. */
export function isIpv4DefaultRoute(rec: RouteMessage): boolean {
  if ((rec.flags & (RTF.UP | RTF.GATEWAY)) !== (RTF.UP | RTF.GATEWAY)) return false;
  if ((rec.flags & RTF.HOST) !== 0) return false;
  const dst = rec.sockaddrs[RTAX.DST];
  if (dst?.kind !== "inet" || dst.family !== 4 || dst.addr.some((b) => b !== 0)) return false;
  const mask = rec.sockaddrs[RTAX.NETMASK];
  return mask === undefined || (mask.kind === "mask" && mask.bits === 0);
}

/** Which interfaces may be reported: a name, or a predicate on the name. */
export type InterfaceFilter = string | ((name: string) => boolean) | undefined;

/** The predicate of an {@linkcode InterfaceFilter} (a name excludes that name). */
export function keepFilter(filter: InterfaceFilter): (name: string) => boolean {
  if (filter === undefined) return () => true;
  if (typeof filter === "string") return (name) => name !== filter;
  return filter;
}

/**
 * Picks the default interface from a route dump: the first IPv4 default route whose interface
 * resolves and passes `filter` (our TUN is left out), preferring routes without RTF_IFSCOPE
 * (scoped defaults exist for every interface with a router, the unscoped one is the system's
 * choice; while tunbox's own service is primary, the unscoped default is the utun itself).
 */
export function findDefaultInterface(
  records: readonly RouteMessage[],
  nameOf: (index: number) => string | null,
  filter?: InterfaceFilter,
): NetworkInterface | null {
  const keep = keepFilter(filter);
  let scoped: NetworkInterface | null = null;
  for (const rec of records) {
    if (rec.version !== RTM_VERSION || !isIpv4DefaultRoute(rec) || rec.index === 0) continue;
    const name = nameOf(rec.index);
    if (name === null || !keep(name)) continue;
    if ((rec.flags & RTF.IFSCOPE) === 0) return { name, index: rec.index };
    scoped ??= { name, index: rec.index };
  }
  return scoped;
}

/** The current default interface (null when there is no IPv4 default route). */
export function darwinDefaultInterface(
  libc: DarwinLibc,
  filter?: InterfaceFilter,
): NetworkInterface | null {
  const records = parseRouteDump(readRouteDump(libc));
  return findDefaultInterface(records, (i) => libc.if_indextoname(i), filter);
}
