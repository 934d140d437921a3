/**
 * Listener inbounds: `socks` (SOCKS4/4a/5), `http` (HTTP proxy) and `mixed` (both on one port:
 * a first byte of 0x04 or 0x05 is SOCKS, anything else HTTP). Each accepted connection's request
 * goes to an {@linkcode InboundHandler}. With `tls.enabled` (http and mixed, as sing-box), every
 * connection first completes a TLS handshake with the configured certificate, then speaks the
 * inbound's protocol inside it.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import type { ListenerInboundOptions } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import { formatSockAddr, TcpListener, type TcpSocket } from "../io/socket.ts";
import type { Stream } from "../io/stream.ts";
import { isSupported, verdict } from "../config/support.ts";
import { tlsServerFromOptions } from "../tls/options.ts";
import { tlsAccept, type TlsServerContext } from "../tls/server.ts";
import { peekSome, withDeadline } from "../io/handshake_io.ts";
import { serveHttp } from "./http_server.ts";
import type { ServerContext } from "./server_context.ts";
import { serveSocks } from "./socks_server.ts";
import type { InboundHandler } from "./types.ts";
import { type ListenPlatform, listenSocketSetup, listenTcp } from "./listen_socket.ts";

const log = getLogger(["tunbox", "inbound"]);

/** sing-box's default UDP session timeout (5 min). */
export const DEFAULT_UDP_TIMEOUT_MS = 300_000;
/** How long a client may take to send its request. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

let globalId = 0;

/** Extra settings for a listener inbound. */
export interface ListenerSettings {
  /** Connection ids (default: a process-wide counter). */
  nextId?: () => number;
  handshakeTimeoutMs?: number;
  /** Binds to interfaces and sets marks for `bind_interface`/`routing_mark`. */
  platform?: ListenPlatform;
}

/** A running `socks`, `http` or `mixed` inbound. */
export class ListenerInbound {
  readonly tag: string;
  readonly type: "socks" | "http" | "mixed";
  readonly #listener: TcpListener;
  readonly #ctx: ServerContext;
  readonly #live = new Set<{ close(): void }>();
  /** The TLS server context when `tls.enabled` (http and mixed inbounds). */
  readonly #tls: TlsServerContext | null = null;
  #closed = false;

  constructor(
    reactor: Reactor,
    options: ListenerInboundOptions,
    handler: InboundHandler,
    settings: ListenerSettings = {},
  ) {
    this.tag = options.tag;
    this.type = options.type;
    const live = this.#live;
    this.#ctx = {
      reactor,
      tag: options.tag,
      inboundType: options.type,
      users: options.users ?? [],
      handler,
      nextId: settings.nextId ?? (() => ++globalId),
      listen: options.listen,
      udpTimeoutMs: options.udp_timeout ?? DEFAULT_UDP_TIMEOUT_MS,
      handshakeTimeoutMs: settings.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      track(item) {
        live.add(item);
        return () => live.delete(item);
      },
    };
    if (options.tls?.enabled && options.type !== "socks") {
      if (!isSupported("listen.tls")) throw new TypeError(verdict("listen.tls").message);
      this.#tls = tlsServerFromOptions(options.tls, `${options.type} inbound "${options.tag}"`);
    }
    const local: SockAddr = { addr: options.listen, port: options.listen_port ?? 0 };
    try {
      const setup = listenSocketSetup(options, settings.platform);
      this.#listener = listenTcp(reactor, local, setup, (sock) => this.#accept(sock));
    } catch (error) {
      throw new Error(
        `start ${options.type} inbound "${options.tag}" on ${formatSockAddr(local)}: ${
          error instanceof Error ? error.message : error
        }`,
        { cause: error },
      );
    }
    log.info("inbound/{type}[{tag}]: listening on {addr}", {
      type: this.type,
      tag: this.tag,
      addr: formatSockAddr(this.localAddr()),
    });
  }

  /** The bound address (the real port when `listen_port` was 0 or absent). */
  localAddr(): SockAddr {
    return this.#listener.localAddr();
  }

  /** Connections and UDP associations still in this inbound's hands (not yet handed over). */
  get live(): number {
    return this.#live.size;
  }

  #accept(sock: TcpSocket): void {
    if (this.#closed) {
      sock.close();
      return;
    }
    const tls = this.#tls;
    if (!tls) return this.#serve(sock);
    const ctx = this.#ctx;
    const untrack = ctx.track(sock);
    const from = formatSockAddr(sock.peerAddr());
    tlsAccept(sock, tls, {
      what: `inbound/${this.type}[${this.tag}]: connection from ${from}`,
      timeoutMs: ctx.handshakeTimeoutMs,
    }).then((secured) => {
      untrack();
      if (this.#closed) secured.close();
      else this.#serve(secured);
    }, (error) => {
      untrack();
      log.debug("{error}", { error: error instanceof Error ? error.message : String(error) });
    });
  }

  /** Speaks the inbound's protocol on a connection (a TLS one when `tls` is enabled). */
  #serve(sock: Stream): void {
    const ctx = this.#ctx;
    if (this.type === "socks") {
      serveSocks(sock, ctx);
      return;
    }
    if (this.type === "http") {
      serveHttp(sock, ctx);
      return;
    }
    const untrack = ctx.track(sock);
    const first = new Uint8Array(1);
    withDeadline(
      ctx.reactor,
      sock,
      ctx.handshakeTimeoutMs,
      "mixed inbound: first byte",
      () => peekSome(sock, first, "peek first byte"),
    ).then((n) => {
      untrack();
      if (n === 0) sock.close();
      else if (first[0] === 4 || first[0] === 5) serveSocks(sock, ctx);
      else serveHttp(sock, ctx);
    }, () => {
      untrack();
      sock.close();
    });
  }

  /** Stops listening and closes every connection still in its handshake, and every association. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    for (const item of [...this.#live]) item.close();
    this.#live.clear();
  }
}
