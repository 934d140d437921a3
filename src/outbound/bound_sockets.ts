/**
 * The sockets a worker opened from this host (direct dials, and proxy outbounds' connections to
 * their servers), so a network change can end the ones that cannot work anymore: a socket bound
 * to an interface that went down or away, or whose local address was removed, would otherwise
 * retransmit into nothing for minutes. A TCP socket is broken with a reset
 * (`sockDisconnect`: its owner's next read fails with ECONNRESET, so the relay resets the
 * application's side at once); a UDP socket is closed, and the UDP flow opens a new one (on
 * the new default interface) with its next datagram.
 *
 * Sockets bound to an interface that is still up keep working when the default interface
 * moves elsewhere, so they are left alone: a download in progress completes.
 *
 * @module
 */

import type { IcmpSocket } from "../io/icmp_socket.ts";
import type { TcpSocket, UdpSocket } from "../io/socket.ts";
import { sockDisconnect, sockLocalAddr } from "../io/sys.ts";
import { formatIp } from "../net/ip.ts";
import type { NetworkChange, NetworkInterface } from "../platform/mod.ts";

/** What is tracked: a reactor TCP or UDP socket, or an ICMP socket (closed like UDP). */
type Tracked = TcpSocket | UdpSocket | IcmpSocket;

interface Entry {
  sock: Tracked;
  kind: "tcp" | "udp";
  /** The interface the socket is bound to (undefined: routed by the kernel). */
  iface: NetworkInterface | undefined;
}

/** One worker's outbound sockets (see the module doc). */
export class BoundSockets {
  #entries = new Set<Entry>();

  /** Live sockets tracked. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Tracks a socket until it closes; `iface` is the interface it was bound to, if any. The
   * entry leaves when the socket closes (its `onClose`, which this takes): an entry kept until
   * some later sweep would hold the socket and, through its callbacks, the whole connection
   * (after a burst of 10,000 connections on the userspace stack, 41 MiB of heap and 10 MiB of
   * buffers stayed alive with no new socket to trigger a sweep).
   */
  add(sock: Tracked, kind: "tcp" | "udp", iface?: NetworkInterface): void {
    if (sock.closed) return;
    const entry: Entry = { sock, kind, iface };
    this.#entries.add(entry);
    sock.onClose = () => this.#entries.delete(entry);
  }

  /**
   * Breaks every tracked socket bound to one of `change.lostInterfaces` or using one of
   * `change.lostAddresses`; returns how many TCP and UDP sockets were ended.
   */
  networkChanged(change: NetworkChange): { tcp: number; udp: number } {
    const ended = { tcp: 0, udp: 0 };
    if (change.lostInterfaces.length === 0 && change.lostAddresses.length === 0) return ended;
    const lostIfaces = new Set(change.lostInterfaces.map((i) => i.index));
    const lostAddrs = new Set(change.lostAddresses.map(formatIp));
    for (const e of this.#entries) {
      let dead = e.iface !== undefined && lostIfaces.has(e.iface.index);
      if (!dead && lostAddrs.size > 0) {
        try {
          dead = lostAddrs.has(formatIp(sockLocalAddr(e.sock.fd).addr));
        } catch {
          dead = false;
        }
      }
      if (!dead) continue;
      this.#entries.delete(e);
      if (e.kind === "tcp") {
        sockDisconnect(e.sock.fd);
        ended.tcp++;
      } else {
        e.sock.close();
        ended.udp++;
      }
    }
    return ended;
  }
}
