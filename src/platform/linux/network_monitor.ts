/**
 * The Linux network snapshot and monitor behind `Platform.networkSnapshot()` and
 * `Platform.watchNetwork()`.
 *
 * Snapshot: links (up = `IFF_UP`), every address, the main table's unicast routes by output
 * interface (default routes left out: they are the default interface) and the default
 * interface (`default_interface.ts`), without the excluded interface (our own TUN).
 *
 * Monitor: a netlink socket joined to the link, address and route multicast groups. The main
 * thread must not block, so it waits with a `nonblocking: true` FFI `poll` (runs on Deno's
 * blocking pool) on that socket and an eventfd used to stop; after an event it waits until
 * 150 ms pass without another (at most 600 ms, so a Wi-Fi switch's "delete the old default
 * route, add the new one" is one change, reported well within a second), takes a new snapshot
 * and compares it with the last one (`diffNetwork`, shared with macOS). ENOBUFS (events lost) just
 * forces the same full re-check, so nothing is missed for long.
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
import { diffNetwork } from "../network_change.ts";
import type { InterfaceState, NetworkChange, NetworkSnapshot } from "../types.ts";
import { findDefaultInterface, firstHop } from "./default_interface.ts";
import { RtNetlink } from "./rtnetlink/mod.ts";

const log = getLogger(["tunbox", "platform", "network"]);

/** A burst of events is over after this long without one. */
const QUIET_MS = 150;
/** The longest a burst may delay the re-check. */
const MAX_SETTLE_MS = 600;

/** Reads links, addresses, main-table routes and the default interface (without `exclude`). */
export function readNetworkSnapshot(nl: RtNetlink, exclude?: string): NetworkSnapshot {
  const interfaces = new Map<number, InterfaceState>();
  for (const l of nl.listLinks()) {
    if (l.name === exclude) continue;
    interfaces.set(l.index, {
      name: l.name,
      index: l.index,
      up: (l.flags & IFF_UP) !== 0,
      addresses: [],
    });
  }
  for (const a of nl.listAddresses()) interfaces.get(a.index)?.addresses.push(a.prefix);
  const routes: NetworkSnapshot["routes"] = [];
  for (const r of nl.listRoutes(undefined, RT_TABLE_MAIN)) {
    if (r.dst.bits === 0 || r.type !== RTN_UNICAST) continue;
    const hop = firstHop(r);
    const iface = hop ? interfaces.get(hop.oif) : undefined;
    if (iface) routes.push({ interface: iface.name, prefix: r.dst });
  }
  return {
    defaultInterface: findDefaultInterface(nl, exclude),
    interfaces: [...interfaces.values()],
    routes,
  };
}

/** Options for {@linkcode watchNetwork}. */
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
export interface NetworkWatch {
  /** Stops the monitor; resolves `done`. Idempotent. */
  stop(): void;
  /** Settles after the loop ended and its sockets are closed. */
  done: Promise<void>;
  /** The last snapshot taken. */
  readonly current: NetworkSnapshot;
}

/**
 * Calls `onChange` whenever a snapshot differs from the previous one in a way
 * {@linkcode diffNetwork} reports (not for the initial state, which is `current`). The sockets
 * are made in the calling thread's network namespace.
 */
export function watchNetwork(
  onChange: (change: NetworkChange) => void,
  options: WatchOptions = {},
): NetworkWatch {
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
  let first: NetworkSnapshot;
  try {
    maybeRequests = new RtNetlink();
    efd = libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) throw new SysError("create eventfd for the network monitor", linuxErrno());
    first = readNetworkSnapshot(maybeRequests, options.exclude);
  } catch (e) {
    events.close();
    maybeRequests?.close();
    if (efd >= 0) libc.close(efd);
    throw e;
  }
  const requests = maybeRequests;
  let current = first;
  let stopped = false;

  const pollfds = new Uint8Array(POLLFD_SIZE * 2);
  const pv = new DataView(pollfds.buffer);
  pv.setInt32(0, events.fd, true);
  pv.setInt16(4, POLLIN, true);
  pv.setInt32(8, efd, true);
  pv.setInt16(12, POLLIN, true);

  const recheck = () => {
    let next: NetworkSnapshot;
    try {
      next = readNetworkSnapshot(requests, options.exclude);
    } catch (e) {
      log.warn("Cannot read the network state: {error}", { error: String(e) });
      return;
    }
    const change = diffNetwork(current, next);
    current = next;
    if (!change) return;
    log.debug("Network changed: {changes}", { changes: change.descriptions.join(", ") });
    try {
      onChange(change);
    } catch (e) {
      log.error("Network change callback failed: {error}", { error: String(e) });
    }
  };

  /** Reads every queued event; true when there was one (or some were lost). */
  const drain = (): boolean => {
    let changed = false;
    for (;;) {
      let msgs;
      try {
        msgs = events.receiveEvents();
      } catch (e) {
        if (e instanceof SysError && e.code === "ENOBUFS") {
          log.debug("Netlink events were lost (ENOBUFS); re-checking the network");
          options.onEventsLost?.();
          changed = true;
          continue;
        }
        throw e;
      }
      if (!msgs) return changed;
      if (msgs.length > 0) changed = true;
    }
  };
  const wait = (ms: number) => {
    pv.setInt16(6, 0, true);
    pv.setInt16(14, 0, true);
    return libc.poll_nonblocking(pollfds, 2n, ms);
  };

  const loop = async () => {
    try {
      while (!stopped) {
        const n = await wait(options.pollIntervalMs ?? 1000);
        if (stopped) break;
        if (n <= 0 || !drain()) continue;
        // A change often comes as several requests (delete the old default route, add the
        // new one): wait until the burst is over, so one change is reported, not its steps.
        const settle = performance.now() + MAX_SETTLE_MS;
        while (!stopped && performance.now() < settle) {
          if (await wait(QUIET_MS) <= 0 || !drain()) break;
        }
        if (stopped) break;
        recheck();
      }
    } catch (e) {
      log.error("Network monitor stopped: {error}", { error: String(e) });
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
