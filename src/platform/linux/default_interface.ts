/**
 * Default route / default interface discovery over rtnetlink, and a monitor that follows it.
 *
 * Discovery: dump IPv4 (then IPv6) routes, keep unicast `dst_len == 0` routes of the main table
 * whose output interface is up and is not the excluded one (our own TUN), and take the lowest
 * metric. IPv4 wins over IPv6 when both exist. (sing-tun's `monitor_linux_default.go` does the
 * same but takes the first match instead of the lowest metric.)
 *
 * Monitor: a second netlink socket joined to the link, address and route multicast groups. The
 * main thread must not block, so it waits with a `nonblocking: true` FFI `poll` (runs on Deno's
 * blocking pool) on that socket and an eventfd used to stop; each wake-up drains the events and
 * re-runs discovery, calling back only when the interface (name or index) changed. ENOBUFS
 * (events lost) just forces the same full re-check.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { SysError } from "../../../ffi/errno.ts";
import { EFD_CLOEXEC, EFD_NONBLOCK, POLLFD_SIZE, POLLIN } from "../../../ffi/linux/constants.ts";
import {
  IFF_UP,
  RT_TABLE_MAIN,
  RTMGRP_IPV4_IFADDR,
  RTMGRP_IPV4_ROUTE,
  RTMGRP_IPV6_IFADDR,
  RTMGRP_IPV6_ROUTE,
  RTMGRP_LINK,
  RTN_UNICAST,
} from "../../../ffi/linux/netlink.ts";
import type { NetworkInterface } from "../types.ts";
import { type RouteInfo, RtNetlink } from "./rtnetlink.ts";

const log = getLogger(["tunbox", "platform", "default_interface"]);

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

function firstHop(r: RouteInfo): { oif: number; gateway?: Uint8Array } | null {
  if (r.oif !== undefined) return r.gateway ? { oif: r.oif, gateway: r.gateway } : { oif: r.oif };
  return r.nexthops?.[0] ?? null;
}

/** The default interface (see {@linkcode findDefaultRoute}), or null when there is none. */
export function findDefaultInterface(nl: RtNetlink, exclude?: string): NetworkInterface | null {
  return findDefaultRoute(nl, exclude)?.iface ?? null;
}

function same(a: NetworkInterface | null, b: NetworkInterface | null): boolean {
  return a === b || (a !== null && b !== null && a.name === b.name && a.index === b.index);
}

/** Options for {@linkcode watchDefaultInterface}. */
export interface WatchOptions {
  /** Interface to ignore (our own TUN). */
  exclude?: string;
  /** Longest wait per poll, ms (default 1000); a timeout re-checks nothing, it only loops. */
  pollIntervalMs?: number;
  /** SO_RCVBUF of the event socket (default 1 MiB); small values make ENOBUFS likely (tests). */
  receiveBufferBytes?: number;
  /** Called when the kernel reported lost events (ENOBUFS), before the full re-check. */
  onEventsLost?: () => void;
}

/** A running monitor. */
export interface DefaultInterfaceWatch {
  /** Stops the monitor; resolves `done`. Idempotent. */
  stop(): void;
  /** Settles after the loop ended and its sockets are closed. */
  done: Promise<void>;
  /** The interface the monitor currently believes is the default. */
  readonly current: NetworkInterface | null;
}

/**
 * Calls `onChange` whenever the default interface changes (not for the initial state, which is
 * `current`). The sockets are made in the calling thread's network namespace.
 */
export function watchDefaultInterface(
  onChange: (iface: NetworkInterface | null) => void,
  options: WatchOptions = {},
): DefaultInterfaceWatch {
  const libc = linuxLibc();
  const groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR |
    RTMGRP_IPV6_ROUTE;
  const events = new RtNetlink({
    groups,
    nonblocking: true,
    ...(options.receiveBufferBytes ? { receiveBufferBytes: options.receiveBufferBytes } : {}),
  });
  let maybeRequests: RtNetlink | undefined;
  let efd = -1;
  try {
    maybeRequests = new RtNetlink();
    efd = libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) {
      throw new SysError("create eventfd for the default-interface monitor", linuxErrno());
    }
  } catch (e) {
    events.close();
    maybeRequests?.close();
    throw e;
  }
  const requests = maybeRequests;
  let current = findDefaultInterface(requests, options.exclude);
  let stopped = false;

  const pollfds = new Uint8Array(POLLFD_SIZE * 2);
  const pv = new DataView(pollfds.buffer);
  pv.setInt32(0, events.fd, true);
  pv.setInt16(4, POLLIN, true);
  pv.setInt32(8, efd, true);
  pv.setInt16(12, POLLIN, true);

  const recheck = () => {
    let next: NetworkInterface | null;
    try {
      next = findDefaultInterface(requests, options.exclude);
    } catch (e) {
      log.warn("Cannot read the default route: {error}", { error: String(e) });
      return;
    }
    if (same(next, current)) return;
    log.debug("Default interface changed: {from} -> {to}", {
      from: current?.name ?? "none",
      to: next?.name ?? "none",
    });
    current = next;
    try {
      onChange(next);
    } catch (e) {
      log.error("Default interface callback failed: {error}", { error: String(e) });
    }
  };

  const loop = async () => {
    try {
      while (!stopped) {
        pv.setInt16(6, 0, true);
        pv.setInt16(14, 0, true);
        const n = await libc.poll_nonblocking(pollfds, 2n, options.pollIntervalMs ?? 1000);
        if (stopped) break;
        if (n <= 0) continue;
        let changed = false;
        for (;;) {
          let msgs;
          try {
            msgs = events.receiveEvents();
          } catch (e) {
            if (e instanceof SysError && e.code === "ENOBUFS") {
              log.debug("Netlink events were lost (ENOBUFS); re-checking the default route");
              options.onEventsLost?.();
              changed = true;
              continue;
            }
            throw e;
          }
          if (!msgs) break;
          if (msgs.length > 0) changed = true;
        }
        if (changed) recheck();
      }
    } catch (e) {
      log.error("Default interface monitor stopped: {error}", { error: String(e) });
    } finally {
      events.close();
      requests.close();
      libc.close(efd);
    }
  };
  const done = loop();

  return {
    stop() {
      if (stopped) return;
      stopped = true;
      const one = new BigUint64Array([1n]);
      libc.write(efd, new Uint8Array(one.buffer), 8n);
    },
    done,
    get current() {
      return current;
    },
  };
}
