/**
 * A listening inbound's socket options from its listen fields (sing-box "Listen Fields"):
 *
 * | field | on the listening socket | on each accepted connection |
 * |---|---|---|
 * | `bind_interface` | bound to the interface (`SO_BINDTODEVICE` / `IP_BOUND_IF`) | – |
 * | `routing_mark` (Linux) | `SO_MARK` | inherited |
 * | `reuse_addr` | `SO_REUSEADDR` (TCP listeners always have it) | – |
 * | `tcp_fast_open` (Linux) | `TCP_FASTOPEN` with a queue of 256 | – |
 * | `tcp_keep_alive`, `tcp_keep_alive_interval`, `disable_tcp_keep_alive` | – | keep-alive probes after 5 min idle, every 75 s (sing-box's defaults) unless disabled |
 *
 * The same options go to an inbound's UDP socket (bind, mark, reuse).
 *
 * ```ts
 * const setup = listenSocketSetup(options, platform);
 * new TcpListener(reactor, local, (sock) => { setup.accepted(sock.fd); ... }, 4096, -1, setup.listener);
 * ```
 *
 * @module
 */

import type { ListenFields } from "../config/types.ts";
import {
  IPPROTO_TCP,
  SO_KEEPALIVE,
  SO_REUSEADDR,
  sockSetInt,
  SOL_SOCKET,
  TCP_FASTOPEN,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
} from "../io/sys.ts";
import { type SocketOptions, TcpListener, type TcpSocket } from "../io/socket.ts";
import type { Reactor } from "../io/reactor.ts";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import type { Platform } from "../platform/mod.ts";

/** sing-box's listener keep-alive defaults (`tcp_keep_alive`, `tcp_keep_alive_interval`). */
export const DEFAULT_LISTEN_KEEPALIVE_MS = 5 * 60_000;
export const DEFAULT_LISTEN_KEEPALIVE_INTERVAL_MS = 75_000;
/** Pending TCP Fast Open requests a listener queues. */
const FASTOPEN_QUEUE = 256;

/** What the listen fields need of the platform. */
export type ListenPlatform = Pick<Platform, "bindToInterface" | "setMark" | "interfaceIndex">;

/** What a listening inbound applies to its sockets. */
export interface ListenSocketSetup {
  /** For the listening TCP socket, before it is bound. */
  listener(fd: number, family: 4 | 6): void;
  /** For each accepted connection. */
  accepted(fd: number): void;
  /** For the inbound's UDP socket (`UdpSocket.open`). */
  udp: SocketOptions;
}

/**
 * The setup for listen fields `o`. `platform` binds to interfaces and sets marks; without one
 * (tests) those fields throw when set.
 */
export function listenSocketSetup(
  o: ListenFields,
  platform?: ListenPlatform,
): ListenSocketSetup {
  const iface = o.bind_interface
    ? (() => {
      if (!platform) throw new TypeError(`bind_interface "${o.bind_interface}" needs the platform`);
      const index = platform.interfaceIndex(o.bind_interface);
      if (!index) throw new TypeError(`bind_interface "${o.bind_interface}" does not exist`);
      return { name: o.bind_interface, index };
    })()
    : undefined;
  const linux = Deno.build.os === "linux";
  // Marks exist on Linux only (check warns elsewhere).
  const mark = linux && o.routing_mark !== undefined && o.routing_mark !== 0
    ? o.routing_mark
    : undefined;
  const keepAlive = o.disable_tcp_keep_alive === true
    ? 0
    : o.tcp_keep_alive ?? DEFAULT_LISTEN_KEEPALIVE_MS;
  const interval = o.tcp_keep_alive_interval ?? DEFAULT_LISTEN_KEEPALIVE_INTERVAL_MS;
  const udp: SocketOptions = {};
  if (iface) udp.bindInterface = iface;
  if (mark !== undefined) udp.mark = mark;
  if (o.reuse_addr) udp.reuseAddr = true;
  if (platform && (iface || mark !== undefined)) udp.platform = platform;
  return {
    listener(fd, family) {
      if (iface) platform!.bindToInterface(fd, family, iface);
      if (mark !== undefined) {
        if (!platform) throw new TypeError("routing_mark needs the platform");
        platform.setMark(fd, mark);
      }
      if (o.reuse_addr) sockSetInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
      if (o.tcp_fast_open && linux) {
        sockSetInt(fd, IPPROTO_TCP, TCP_FASTOPEN, FASTOPEN_QUEUE, "TCP_FASTOPEN");
      }
    },
    accepted(fd) {
      if (keepAlive <= 0) return;
      try {
        sockSetInt(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
        if (linux) {
          const idle = Math.max(1, Math.round(keepAlive / 1000));
          sockSetInt(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle, "TCP_KEEPIDLE");
          const every = Math.max(1, Math.round(interval / 1000));
          sockSetInt(fd, IPPROTO_TCP, TCP_KEEPINTVL, every, "TCP_KEEPINTVL");
        }
      } catch {
        // The client reset the connection already: its first read will say so.
      }
    },
    udp,
  };
}

/** A TCP listener on `local` with `setup` applied to it and to each connection it accepts. */
export function listenTcp(
  reactor: Reactor,
  local: SockAddr,
  setup: ListenSocketSetup,
  onAccept: (sock: TcpSocket) => void,
): TcpListener {
  return new TcpListener(
    reactor,
    local,
    (sock) => {
      setup.accepted(sock.fd);
      onAccept(sock);
    },
    4096,
    -1,
    setup.listener,
  );
}
