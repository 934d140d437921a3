/**
 * The `redirect` inbound (Linux; sing-box `protocol/redirect/redirect.go`): a TCP listener for
 * connections the kernel's NAT redirected to it (iptables `-j REDIRECT`, nftables `redirect
 * to`). Each accepted connection's destination is the one the client asked for, read from the
 * conntrack entry (`SO_ORIGINAL_DST`, `src/platform/linux/redirect.ts`), and routed by the
 * rules like any inbound's. TCP only, as in sing-box; UDP needs `tproxy`.
 *
 * A connection made to the listener itself (no NAT, or a redirect of tunbox's own dial) would
 * make tunbox dial itself: it is refused with a log line. The firewall rules that steer traffic
 * here are the user's (README, "redirect inbound"); tunbox does not install them, and they must
 * leave tunbox's own connections alone (a `routing_mark`/`route.default_mark` they skip, or
 * `meta skuid`).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import type { RedirectInboundOptions } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import { formatSockAddr, TcpListener, type TcpSocket } from "../io/socket.ts";
import { ipEqual, isV4Mapped, unmap } from "../net/ip.ts";
import { originalDestination } from "../platform/linux/redirect.ts";
import { offerConnection, plainRequest } from "./direct.ts";
import type { InboundHandler } from "./types.ts";
import { type ListenPlatform, listenSocketSetup, listenTcp } from "./listen_socket.ts";

const log = getLogger(["tunbox", "inbound"]);

let globalId = 0;

/** A running `redirect` inbound. */
export class RedirectInbound {
  readonly tag: string;
  readonly #tcp: TcpListener;
  readonly #pending = new Set<TcpSocket>();
  readonly #nextId: () => number;
  #closed = false;

  constructor(
    readonly reactor: Reactor,
    readonly options: RedirectInboundOptions,
    readonly handler: InboundHandler,
    settings: { nextId?: () => number; platform?: ListenPlatform } = {},
  ) {
    this.tag = options.tag;
    this.#nextId = settings.nextId ?? (() => ++globalId);
    const local: SockAddr = { addr: options.listen, port: options.listen_port ?? 0 };
    if (Deno.build.os !== "linux") {
      throw new Error(
        `start redirect inbound "${options.tag}": NAT redirection (SO_ORIGINAL_DST) exists only on Linux`,
      );
    }
    try {
      const setup = listenSocketSetup(options, settings.platform);
      this.#tcp = listenTcp(reactor, local, setup, (sock) => this.#accept(sock));
    } catch (error) {
      throw new Error(
        `start redirect inbound "${options.tag}" on ${formatSockAddr(local)}: ${
          error instanceof Error ? error.message : error
        }`,
        { cause: error },
      );
    }
    log.info("inbound/redirect[{tag}]: listening on {addr} (tcp)", {
      tag: this.tag,
      addr: formatSockAddr(this.localAddr()),
    });
  }

  /** The bound address. */
  localAddr(): SockAddr {
    return this.#tcp.localAddr();
  }

  #accept(sock: TcpSocket): void {
    if (this.#closed) {
      sock.close();
      return;
    }
    let to: SockAddr;
    const peer = sock.peerAddr();
    try {
      // An IPv4 client on a dual-stack socket has an IPv4 conntrack entry.
      const family = peer.addr.length === 4 || isV4Mapped(peer.addr) ? 4 : 6;
      to = originalDestination(sock.fd, family);
      to = { addr: unmap(to.addr), port: to.port };
    } catch (error) {
      log.warn(
        "inbound/redirect[{tag}]: connection from {from} refused: {error} (was it redirected here by NAT?)",
        {
          tag: this.tag,
          from: formatSockAddr(peer),
          error: error instanceof Error ? error.message : String(error),
        },
      );
      sock.close();
      return;
    }
    const local = sock.localAddr();
    if (to.port === local.port && ipEqual(to.addr, unmap(local.addr))) {
      log.warn(
        "inbound/redirect[{tag}]: connection from {from} refused: its destination {to} is this listener (not redirected, or tunbox's own connection redirected back: exclude tunbox's traffic from the NAT rule)",
        { tag: this.tag, from: formatSockAddr(peer), to: formatSockAddr(to) },
      );
      sock.close();
      return;
    }
    offerConnection(
      sock,
      (source) => plainRequest(this.#nextId(), this.tag, "redirect", "tcp", source, to),
      this.handler,
      this.#pending,
    );
  }

  /** Stops listening; closes connections still waiting for a route. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#tcp.close();
    for (const s of this.#pending) s.close();
    this.#pending.clear();
  }
}
