/**
 * Follows the network on macOS through a routing socket (`socket(PF_ROUTE, SOCK_RAW, 0)`), which
 * receives every routing-table and interface change the kernel makes.
 *
 * Each message is decoded and sorted:
 * - RTM_IFINFO (an interface went up or down), RTM_NEWADDR/RTM_DELADDR (an address came or
 *   went) and RTM_ADD/RTM_DELETE/RTM_CHANGE of a default route mean the network may have
 *   changed: after the burst is over (150 ms without another message, at most 600 ms, as on
 *   Linux) a new snapshot is compared with the last one (`diffNetwork`) and a change reported.
 *   A Wi-Fi switch (delete default, drop address, add address, add default) is one change.
 * - The same messages about the TUN itself (its index), and any route deleted through it, ask
 *   for a TUN check instead (`onTunCheck`): the utun, its addresses and routes are verified and
 *   repaired by `tun_guard.ts`.
 * - Everything else (cloned host routes, ARP/NDP entries, multicast) is ignored.
 *
 * Sleep: while a Mac sleeps this process is frozen, and on wake the wall clock has jumped while
 * the monotonic clock (`mach_absolute_time`, which stops during sleep) has not. A gap of more
 * than 3 s between the two triggers both a network re-check and a TUN check, whatever messages
 * arrive, so the state after wake is always looked at.
 *
 * The loop waits in `poll` on a worker thread (`pollAsync`), so the main thread never blocks;
 * `stop()` takes effect within one poll (500 ms). ENOBUFS (the socket overflowed, messages were
 * lost) forces both checks.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { SysError } from "../../../ffi/errno.ts";
import {
  AF_ROUTE,
  AF_UNSPEC,
  DARWIN_ERRNO,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  O_NONBLOCK,
  POLLIN,
  RTAX,
  RTF,
  RTM,
  SOCK_RAW,
} from "../../../ffi/darwin/constants.ts";
import type { DarwinLibc } from "../../../ffi/darwin/libc.ts";
import { POLLFD } from "../../../ffi/darwin/layouts.ts";
import {
  decodeRoutingMessage,
  type RoutingMessage,
  walkRoutingMessages,
} from "../../../ffi/darwin/structs.ts";
import { diffNetwork } from "../network_change.ts";
import type { NetworkChange, NetworkSnapshot } from "../types.ts";

const log = getLogger(["tunbox", "platform", "network"]);

/** How long one `poll` waits when nothing is pending, so `stop()` takes effect within it. */
export const WATCH_POLL_MS = 500;
/** A burst of messages is over after this long without one. */
export const QUIET_MS = 150;
/** The longest a burst may delay the re-check. */
export const MAX_SETTLE_MS = 600;
/** Wall-clock time that passed beyond the monotonic clock's, counted as a sleep. */
export const SLEEP_GAP_MS = 3000;

/** What a routing message asks for. */
export type MessageEffect = "network" | "tun" | "ignore";

/**
 * Sorts one decoded message (see the module comment). `tunIndex` is the TUN's interface index
 * (0 when there is none).
 */
export function classifyMessage(m: RoutingMessage, tunIndex: number): MessageEffect {
  switch (m.kind) {
    case "interface":
    case "address":
      return tunIndex !== 0 && m.index === tunIndex ? "tun" : "network";
    case "route": {
      if (m.type !== RTM.ADD && m.type !== RTM.DELETE && m.type !== RTM.CHANGE) return "ignore";
      if (tunIndex !== 0 && m.index === tunIndex) return m.type === RTM.ADD ? "ignore" : "tun";
      if ((m.flags & (RTF.WASCLONED | RTF.LLINFO | RTF.HOST)) !== 0) return "ignore";
      const dst = m.sockaddrs[RTAX.DST];
      const mask = m.sockaddrs[RTAX.NETMASK];
      const isDefault = dst?.kind === "inet" && dst.addr.every((b) => b === 0) &&
        (mask === undefined || (mask.kind === "mask" && mask.bits === 0));
      return isDefault ? "network" : "ignore";
    }
    default:
      return "ignore";
  }
}

/** Clocks the monitor reads (tests replace them). */
export interface MonitorClock {
  /** Milliseconds that stop while the machine sleeps (`performance.now()`). */
  monotonic(): number;
  /** Milliseconds since the epoch (`Date.now()`). */
  wall(): number;
}

const SYSTEM_CLOCK: MonitorClock = { monotonic: () => performance.now(), wall: () => Date.now() };

/** What the monitor reports. */
export interface MonitorHandlers {
  /** Takes a snapshot of the network without the TUN. */
  snapshot(): NetworkSnapshot;
  /** The network changed since the last snapshot. */
  onChange(change: NetworkChange): void;
  /** The TUN should be checked and repaired (`reason` for the log: "wake", "utun8 changed"...). */
  onTunCheck?(reason: string): void;
  /** The TUN's current interface index, or 0 (looked up on every burst). */
  tunIndex?(): number;
}

/** A running monitor: `stop()` ends it; `done` settles once its socket is closed. */
export interface NetworkMonitor {
  stop(): void;
  readonly done: Promise<void>;
}

/** Starts following the network; see the module comment. */
export function monitorDarwinNetwork(
  libc: DarwinLibc,
  handlers: MonitorHandlers,
  clock: MonitorClock = SYSTEM_CLOCK,
): NetworkMonitor {
  const fd = libc.socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC);
  if (fd < 0) {
    throw new SysError("follow network changes: socket(AF_ROUTE)", libc.errno(), "darwin");
  }
  const flags = libc.fcntl(fd, F_GETFL, 0);
  if (
    flags < 0 || libc.fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
    libc.fcntl(fd, F_SETFD, FD_CLOEXEC) < 0
  ) {
    const err = new SysError("follow network changes: fcntl", libc.errno(), "darwin");
    libc.close(fd);
    throw err;
  }
  let last = handlers.snapshot();
  let stopped = false;
  const pollfd = new Uint8Array(POLLFD.size);
  const pv = new DataView(pollfd.buffer);
  pv.setInt32(POLLFD.fd, fd, true);
  pv.setInt16(POLLFD.events, POLLIN, true);
  const buf = new Uint8Array(16384);

  /** First and latest message of the pending burst (monotonic ms), or null. */
  let firstAt: number | null = null;
  let lastAt = 0;
  let network = false;
  const tunReasons = new Set<string>();

  const note = (effect: MessageEffect, reason: string) => {
    if (effect === "ignore") return;
    const now = clock.monotonic();
    firstAt ??= now;
    lastAt = now;
    if (effect === "network") network = true;
    else tunReasons.add(reason);
  };

  /** Reads everything queued and sorts it. */
  const drain = (): void => {
    const tunIndex = handlers.tunIndex?.() ?? 0;
    for (;;) {
      const n = libc.read(fd, buf, buf.length);
      if (n > 0) {
        const chunk = buf.subarray(0, n);
        for (const { offset, type } of walkRoutingMessages(chunk)) {
          let m: RoutingMessage;
          try {
            m = decodeRoutingMessage(chunk, offset);
          } catch (err) {
            log.debug("undecodable routing message (type {type}): {error}", {
              type,
              error: String(err),
            });
            continue;
          }
          note(classifyMessage(m, tunIndex), "the TUN's interface, address or routes changed");
        }
        continue;
      }
      if (n === 0) return;
      const errno = libc.errno();
      if (errno === DARWIN_ERRNO.EAGAIN) return;
      if (errno === DARWIN_ERRNO.EINTR) continue;
      if (errno === DARWIN_ERRNO.ENOBUFS) { // messages were lost: check everything
        note("network", "");
        note("tun", "routing messages were lost");
        continue;
      }
      throw new SysError("read the routing socket", errno, "darwin");
    }
  };

  const settle = (): void => {
    firstAt = null;
    if (network) {
      network = false;
      try {
        const next = handlers.snapshot();
        const change = diffNetwork(last, next);
        last = next;
        if (change) handlers.onChange(change);
      } catch (err) {
        log.warn("re-reading the network failed: {error}", { error: String(err) });
      }
    }
    if (tunReasons.size > 0) {
      const reason = [...tunReasons].join("; ");
      tunReasons.clear();
      try {
        handlers.onTunCheck?.(reason);
      } catch (err) {
        log.warn("checking the TUN failed: {error}", { error: String(err) });
      }
    }
  };

  const loop = async () => {
    let mono = clock.monotonic(), wall = clock.wall();
    try {
      while (!stopped) {
        const now = clock.monotonic();
        const timeout = firstAt === null
          ? WATCH_POLL_MS
          : Math.max(0, Math.ceil(Math.min(lastAt + QUIET_MS, firstAt + MAX_SETTLE_MS) - now));
        pv.setInt16(POLLFD.revents, 0, true);
        const ready = await libc.pollAsync(pollfd, 1, timeout);
        if (stopped) break;
        const mono2 = clock.monotonic(), wall2 = clock.wall();
        const slept = (wall2 - wall) - (mono2 - mono);
        mono = mono2;
        wall = wall2;
        if (slept > SLEEP_GAP_MS) {
          log.info("woke from sleep (about {seconds} s): checking the network and the TUN", {
            seconds: Math.round(slept / 1000),
          });
          note("network", "");
          note("tun", "woke from sleep");
        }
        if (ready > 0) drain();
        const t = clock.monotonic();
        if (firstAt !== null && (t >= lastAt + QUIET_MS || t >= firstAt + MAX_SETTLE_MS)) {
          settle();
        }
      }
    } catch (err) {
      log.error("following network changes stopped: {error}", { error: String(err) });
    } finally {
      libc.close(fd);
    }
  };
  const done = loop();
  return {
    stop() {
      stopped = true;
    },
    done,
  };
}
