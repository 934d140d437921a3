/**
 * Installing and removing routes with `PF_ROUTE` messages (`rt_msghdr` + sockaddrs), one
 * `write` per route on a `socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC)`. The kernel reports a failure
 * as the `write` errno (EEXIST: already there; ESRCH: not in the table).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { SysError } from "../../../ffi/errno.ts";
import {
  AF_ROUTE,
  AF_UNSPEC,
  DARWIN_ERRNO,
  RTF,
  RTM,
  SOCK_RAW,
} from "../../../ffi/darwin/constants.ts";
import type { DarwinLibc } from "../../../ffi/darwin/libc.ts";
import {
  encodeRouteMessage,
  encodeSockaddrInet,
  prefixMask,
  type RouteMessage,
} from "../../../ffi/darwin/structs.ts";
import { formatIp, formatPrefix, ipEqual } from "../../net/ip.ts";
import type { Prefix } from "../../config/types.ts";
import type { PlannedRoute, RoutePlan } from "../types.ts";

const log = getLogger(["tunbox", "platform"]);

/** Flags of every route tunbox adds: usable, static, via a gateway (0x803, as sing-tun). */
export const ROUTE_ADD_FLAGS = RTF.UP | RTF.STATIC | RTF.GATEWAY;
/** Flags of the matching delete. */
export const ROUTE_DELETE_FLAGS = RTF.STATIC | RTF.GATEWAY;

/** The routing message that adds (or deletes) `prefix` via `gateway`. */
export function routeMessage(
  type: typeof RTM.ADD | typeof RTM.DELETE,
  prefix: Prefix,
  gateway: Uint8Array,
  seq: number,
): Uint8Array {
  const length = prefix.addr.length as 4 | 16;
  const network = new Uint8Array(length);
  const mask = prefixMask(prefix.bits, length);
  for (let i = 0; i < length; i++) network[i] = prefix.addr[i]! & mask[i]!;
  return encodeRouteMessage({
    type,
    flags: type === RTM.ADD ? ROUTE_ADD_FLAGS : ROUTE_DELETE_FLAGS,
    seq,
    addrs: {
      dst: encodeSockaddrInet(network),
      gateway: encodeSockaddrInet(gateway),
      netmask: encodeSockaddrInet(mask),
    },
  });
}

/** A route socket that numbers its messages; close it when done. */
class RouteSocket {
  #seq = 0;
  constructor(readonly libc: DarwinLibc, readonly fd: number) {}

  static open(libc: DarwinLibc, purpose: string): RouteSocket {
    const fd = libc.socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC);
    if (fd < 0) throw new SysError(`${purpose}: socket(AF_ROUTE)`, libc.errno(), "darwin");
    return new RouteSocket(libc, fd);
  }

  /** Sends one message; returns 0 on success or the errno. */
  send(type: typeof RTM.ADD | typeof RTM.DELETE, prefix: Prefix, gateway: Uint8Array): number {
    const msg = routeMessage(type, prefix, gateway, ++this.#seq);
    const n = this.libc.write(this.fd, msg, msg.length);
    if (n === msg.length) return 0;
    return n < 0 ? this.libc.errno() : DARWIN_ERRNO.EINVAL;
  }

  close(): void {
    this.libc.close(this.fd);
  }
}

function describe(route: { prefix: Prefix; gateway?: Uint8Array }): string {
  return `route ${formatPrefix(route.prefix)} via ${route.gateway ? formatIp(route.gateway) : "?"}`;
}

/** Deletes routes in reverse order; "not in table" (ESRCH) is fine: the TUN took it along. */
function deleteRoutes(sock: RouteSocket, routes: readonly PlannedRoute[]): void {
  for (const route of [...routes].reverse()) {
    const errno = sock.send(RTM.DELETE, route.prefix, route.gateway!);
    if (errno === 0) continue;
    if (errno === DARWIN_ERRNO.ESRCH) {
      log.debug("{route} was already gone", { route: describe(route) });
    } else {
      log.warn("delete {route} failed: {error}", {
        route: describe(route),
        error: new SysError("delete", errno, "darwin").message,
      });
    }
  }
}

/**
 * Adds `route`; one that already exists (EEXIST: left by an earlier run, or another VPN's) is
 * deleted and added again. Throws a SysError naming the route on failure.
 */
function addOrReplace(sock: RouteSocket, route: PlannedRoute): void {
  let errno = sock.send(RTM.ADD, route.prefix, route.gateway!);
  if (errno === DARWIN_ERRNO.EEXIST) {
    log.warn("{route} already exists (left by an earlier run or another VPN); replacing it", {
      route: describe(route),
    });
    const del = sock.send(RTM.DELETE, route.prefix, route.gateway!);
    if (del !== 0 && del !== DARWIN_ERRNO.ESRCH) {
      throw new SysError(`replace ${describe(route)}: delete the existing route`, del, "darwin");
    }
    errno = sock.send(RTM.ADD, route.prefix, route.gateway!);
  }
  if (errno !== 0) throw new SysError(`add ${describe(route)}`, errno, "darwin");
}

/**
 * Adds the routes of `routes` that are missing (the TUN check's repair), replacing a route of
 * the same destination through another interface. Returns one description per route added;
 * a failure is logged and the next route tried.
 */
export function restoreRoutes(libc: DarwinLibc, routes: readonly PlannedRoute[]): string[] {
  if (routes.length === 0) return [];
  const sock = RouteSocket.open(libc, "restore routes");
  const done: string[] = [];
  try {
    for (const route of routes) {
      try {
        addOrReplace(sock, route);
        done.push(`re-added ${describe(route)}`);
      } catch (err) {
        log.warn("{error}", { error: err instanceof Error ? err.message : String(err) });
      }
    }
  } finally {
    sock.close();
  }
  return done;
}

/**
 * The planned routes the route dump lacks: no record with the same destination and prefix
 * length through `index` (the utun) or via the planned gateway.
 */
export function missingRoutes(
  dump: readonly RouteMessage[],
  planned: readonly PlannedRoute[],
  index: number,
): PlannedRoute[] {
  return planned.filter((route) =>
    !dump.some((rec) => {
      const dst = rec.sockaddrs[0], gw = rec.sockaddrs[1], mask = rec.sockaddrs[2];
      if (dst?.kind !== "inet" || !ipEqual(dst.addr, route.prefix.addr)) return false;
      const bits = mask === undefined
        ? dst.addr.length * 8
        : mask.kind === "mask"
        ? mask.bits
        : null;
      if (bits !== route.prefix.bits) return false;
      return rec.index === index ||
        (gw?.kind === "inet" && route.gateway !== undefined && ipEqual(gw.addr, route.gateway));
    })
  );
}

/**
 * Adds every route of `plan`. A route that already exists (EEXIST) is deleted and added again.
 * On any other failure the routes added so far are deleted and a SysError is thrown. The
 * returned `remove()` deletes everything that was added (once; later calls do nothing).
 */
export function installDarwinRoutes(libc: DarwinLibc, plan: RoutePlan): { remove(): void } {
  for (const route of plan.routes) {
    if (!route.gateway) throw new TypeError(`Planned ${describe(route)} has no gateway`);
  }
  const sock = RouteSocket.open(libc, "install routes");
  const added: PlannedRoute[] = [];
  try {
    for (const route of plan.routes) {
      addOrReplace(sock, route);
      added.push(route);
    }
  } catch (err) {
    deleteRoutes(sock, added);
    sock.close();
    throw err;
  }
  sock.close();
  log.info("added {count} routes: {routes}", {
    count: added.length,
    routes: added.map((r) => r.text).join(", "),
  });
  let installed = true;
  return {
    remove() {
      if (!installed) return;
      installed = false;
      deleteDarwinRoutes(libc, added);
    },
  };
}

/** Deletes `routes` (newest first); routes already gone are fine, other failures are logged. */
export function deleteDarwinRoutes(libc: DarwinLibc, routes: readonly PlannedRoute[]): void {
  if (routes.length === 0) return;
  const sock = RouteSocket.open(libc, "remove routes");
  try {
    deleteRoutes(sock, routes);
  } finally {
    sock.close();
  }
  log.info("removed {count} routes", { count: routes.length });
}

/**
 * Deletes the records of a route dump that are planned routes of ours (same destination and
 * mask, an inet gateway equal to one of the TUN addresses) and whose interface no longer
 * exists. Routes through a live interface are left alone and reported through `onLive`: utun
 * routes vanish with their device, so a live one belongs to a process still holding that utun.
 * Returns what was deleted.
 */
export function deleteStaleRoutes(
  libc: DarwinLibc,
  dump: readonly RouteMessage[],
  planned: readonly PlannedRoute[],
  onLive: (route: string, iface: string) => void,
): string[] {
  const stale: PlannedRoute[] = [];
  for (const rec of dump) {
    if ((rec.flags & RTF.GATEWAY) === 0) continue;
    const dst = rec.sockaddrs[0], gw = rec.sockaddrs[1], mask = rec.sockaddrs[2];
    if (dst?.kind !== "inet" || gw?.kind !== "inet") continue;
    const bits = mask === undefined ? dst.addr.length * 8 : mask.kind === "mask" ? mask.bits : null;
    const match = planned.find((r) =>
      r.prefix.bits === bits && ipEqual(r.prefix.addr, dst.addr) &&
      r.gateway !== undefined && ipEqual(r.gateway, gw.addr)
    );
    if (!match) continue;
    const iface = rec.index === 0 ? null : libc.if_indextoname(rec.index);
    if (iface !== null) onLive(describe(match), iface);
    else stale.push(match);
  }
  if (stale.length === 0) return [];
  const sock = RouteSocket.open(libc, "remove stale routes");
  const removed: string[] = [];
  try {
    for (const route of stale) {
      const errno = sock.send(RTM.DELETE, route.prefix, route.gateway!);
      if (errno === 0 || errno === DARWIN_ERRNO.ESRCH) removed.push(describe(route));
      else {
        log.warn("delete stale {route} failed: {error}", {
          route: describe(route),
          error: new SysError("delete", errno, "darwin").message,
        });
      }
    }
  } finally {
    sock.close();
  }
  return removed;
}
