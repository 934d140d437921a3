/**
 * The default (physical) interface on macOS: read the routing table with
 * `sysctl({CTL_NET, PF_ROUTE, 0, AF_UNSPEC, NET_RT_DUMP, 0})` and pick the IPv4 default route's
 * interface; follow changes with a routing socket, re-checking after each burst of messages.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { SysError } from "../../../ffi/errno.ts";
import {
  AF_ROUTE,
  AF_UNSPEC,
  CTL_NET,
  DARWIN_ERRNO,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  NET_RT_DUMP,
  O_NONBLOCK,
  PF_ROUTE,
  POLLIN,
  RTAX,
  RTF,
  RTM_VERSION,
  SOCK_RAW,
} from "../../../ffi/darwin/constants.ts";
import type { DarwinLibc } from "../../../ffi/darwin/libc.ts";
import {
  parseRouteDump,
  type RouteMessage,
  walkRoutingMessages,
} from "../../../ffi/darwin/structs.ts";
import type { NetworkInterface } from "../types.ts";

const log = getLogger(["tunbox", "platform"]);

/** The sysctl name of the routing-table dump. */
export const ROUTE_DUMP_MIB: readonly number[] = [CTL_NET, PF_ROUTE, 0, AF_UNSPEC, NET_RT_DUMP, 0];

/**
 * Reads the routing table: one sysctl for the size, one for the data (with 10% headroom, and a
 * retry when the table grew in between: ENOMEM).
 */
export function readRouteDump(libc: DarwinLibc): Uint8Array {
  const mib = new Int32Array(ROUTE_DUMP_MIB);
  const len = new BigUint64Array(1);
  for (let attempt = 0; attempt < 4; attempt++) {
    len[0] = 0n;
    if (libc.sysctl(mib, null, len, null, 0) < 0) {
      throw new SysError(
        "read the routing table size (sysctl NET_RT_DUMP)",
        libc.errno(),
        "darwin",
      );
    }
    const size = Number(len[0]);
    const buf = new Uint8Array(size + Math.ceil(size / 10) + 1024);
    len[0] = BigInt(buf.length);
    if (libc.sysctl(mib, buf, len, null, 0) < 0) {
      const errno = libc.errno();
      if (errno === DARWIN_ERRNO.ENOMEM) continue;
      throw new SysError("read the routing table (sysctl NET_RT_DUMP)", errno, "darwin");
    }
    return buf.subarray(0, Number(len[0]));
  }
  throw new SysError("read the routing table (sysctl NET_RT_DUMP)", DARWIN_ERRNO.ENOMEM, "darwin");
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

/**
 * Picks the default interface from a route dump: the first IPv4 default route whose interface
 * resolves and is not `exclude`, preferring routes without RTF_IFSCOPE (scoped defaults exist
 * for every interface with a router, the unscoped one is the system's choice).
 */
export function findDefaultInterface(
  records: readonly RouteMessage[],
  nameOf: (index: number) => string | null,
  exclude?: string,
): NetworkInterface | null {
  let scoped: NetworkInterface | null = null;
  for (const rec of records) {
    if (rec.version !== RTM_VERSION || !isIpv4DefaultRoute(rec) || rec.index === 0) continue;
    const name = nameOf(rec.index);
    if (name === null || name === exclude) continue;
    if ((rec.flags & RTF.IFSCOPE) === 0) return { name, index: rec.index };
    scoped ??= { name, index: rec.index };
  }
  return scoped;
}

/** The current default interface (null when there is no IPv4 default route). */
export function darwinDefaultInterface(
  libc: DarwinLibc,
  exclude?: string,
): NetworkInterface | null {
  const records = parseRouteDump(readRouteDump(libc));
  return findDefaultInterface(records, (i) => libc.if_indextoname(i), exclude);
}

/** How long one `poll` on the routing socket waits, so `stop()` takes effect within it. */
export const WATCH_POLL_MS = 500;

/** A running watch: `stop()` ends it; `done` settles once its socket is closed. */
export interface RouteWatch {
  stop(): void;
  readonly done: Promise<void>;
}

/**
 * Calls `onChange` whenever the default interface (as {@linkcode darwinDefaultInterface} sees
 * it) changes. A routing socket receives every routing-table and interface change; the loop
 * waits in `poll` on a worker thread (`pollAsync`), drains the socket, and re-checks once per
 * burst. `check` is the re-check (injectable for tests).
 */
export function watchRoutingChanges(
  libc: DarwinLibc,
  onChange: (iface: NetworkInterface | null) => void,
  check: () => NetworkInterface | null,
): RouteWatch {
  const fd = libc.socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC);
  if (fd < 0) {
    throw new SysError("watch the default interface: socket(AF_ROUTE)", libc.errno(), "darwin");
  }
  const flags = libc.fcntl(fd, F_GETFL, 0);
  if (
    flags < 0 || libc.fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
    libc.fcntl(fd, F_SETFD, FD_CLOEXEC) < 0
  ) {
    const err = new SysError("watch the default interface: fcntl", libc.errno(), "darwin");
    libc.close(fd);
    throw err;
  }
  let current = check();
  let stopped = false;
  const pollfd = new Uint8Array(8);
  const pv = new DataView(pollfd.buffer);
  pv.setInt32(0, fd, true);
  pv.setInt16(4, POLLIN, true);
  const buf = new Uint8Array(16384);

  /** Reads everything queued; true when something may have changed. */
  const drain = (): boolean => {
    let changed = false;
    for (;;) {
      const n = libc.read(fd, buf, buf.length);
      if (n > 0) {
        if (walkRoutingMessages(buf.subarray(0, n)).length > 0) changed = true;
        continue;
      }
      if (n === 0) return changed;
      const errno = libc.errno();
      if (errno === DARWIN_ERRNO.EAGAIN) return changed;
      if (errno === DARWIN_ERRNO.EINTR) continue;
      if (errno === DARWIN_ERRNO.ENOBUFS) { // messages were dropped: re-check to be safe
        changed = true;
        continue;
      }
      throw new SysError("read the routing socket", errno, "darwin");
    }
  };

  const loop = async () => {
    try {
      while (!stopped) {
        pv.setInt16(6, 0, true);
        const ready = await libc.pollAsync(pollfd, 1, WATCH_POLL_MS);
        if (stopped) break;
        if (ready <= 0 || !drain()) continue;
        let next: NetworkInterface | null;
        try {
          next = check();
        } catch (err) {
          log.warn("re-checking the default interface failed: {error}", { error: String(err) });
          continue;
        }
        if (next?.name === current?.name && next?.index === current?.index) continue;
        log.info("default interface changed: {from} -> {to}", {
          from: current?.name ?? "none",
          to: next?.name ?? "none",
        });
        current = next;
        onChange(next);
      }
    } catch (err) {
      log.error("watching the default interface stopped: {error}", { error: String(err) });
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
