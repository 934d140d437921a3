/**
 * The `tproxy` inbound (Linux; sing-box `protocol/redirect/tproxy.go`): transparent TCP and UDP
 * listeners for traffic the kernel's TPROXY target (nftables `tproxy to`, iptables `-j TPROXY`)
 * steers to them. A TCP connection's destination is its socket's local address (the client's
 * original destination); a UDP datagram's comes from its `IP_ORIGDSTADDR` control message. Both
 * are routed by the rules like any inbound's. UDP sessions are per client address
 * (`udp_timeout`, default 5 min); replies are sent from a transparent socket bound to the
 * address they come from, so the client sees the server it asked answer.
 *
 * The firewall rules and policy routing that steer traffic here are the user's (README,
 * "tproxy inbound"); tunbox does not install them.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import type { TproxyInboundOptions } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import { applySocketOptions, formatSockAddr, TcpListener, type TcpSocket } from "../io/socket.ts";
import { EV_ERROR, EV_READ, fdClose, sockLocalAddr, sockSendTo, WOULD_BLOCK } from "../io/sys.ts";
import { unmap } from "../net/ip.ts";
import type { Destination } from "../outbound/mod.ts";
import {
  tproxyListenTcp,
  tproxyOpenUdp,
  TproxyUdpReader,
  tproxyWriteBack,
} from "../platform/linux/tproxy.ts";
import { offerConnection, plainRequest } from "./direct.ts";
import { DEFAULT_UDP_TIMEOUT_MS } from "./listener.ts";
import type { InboundHandler, InboundRequest } from "./types.ts";
import { type ListenPlatform, listenSocketSetup } from "./listen_socket.ts";
import { UdpSessions } from "./udp_sessions.ts";

const log = getLogger(["tunbox", "inbound"]);

const MAX_DATAGRAM = 65535;

let globalId = 0;

function keyOf(d: { addr?: Uint8Array; port: number }): string {
  return `${d.addr?.join(".") ?? ""}|${d.port}`;
}

/** A running `tproxy` inbound. */
export class TproxyInbound {
  readonly tag: string;
  #tcpFd = -1;
  #tcp: TcpListener | null = null;
  #udpFd = -1;
  #reader: TproxyUdpReader | null = null;
  #sessions: UdpSessions | null = null;
  /** Write-back sockets by the address they are bound to, with the sessions using them. */
  readonly #writeBack = new Map<string, { fd: number; users: number }>();
  readonly #pending = new Set<TcpSocket>();
  readonly #nextId: () => number;
  #closed = false;

  constructor(
    readonly reactor: Reactor,
    readonly options: TproxyInboundOptions,
    readonly handler: InboundHandler,
    settings: { nextId?: () => number; platform?: ListenPlatform } = {},
  ) {
    this.tag = options.tag;
    this.#nextId = settings.nextId ?? (() => ++globalId);
    let local: SockAddr = { addr: options.listen, port: options.listen_port ?? 0 };
    if (Deno.build.os !== "linux") {
      throw new Error(
        `start tproxy inbound "${options.tag}": transparent proxying (TPROXY) exists only on Linux`,
      );
    }
    const networks = options.network.length === 0 ? ["tcp", "udp"] : options.network;
    try {
      const setup = listenSocketSetup(options, settings.platform);
      // The listen fields' bind and mark (reuse is always on for transparent sockets).
      const prepare = (fd: number, family: 4 | 6) => setup.listener(fd, family);
      if (networks.includes("tcp")) {
        this.#tcpFd = tproxyListenTcp(local, 4096, prepare);
        this.#tcp = TcpListener.adopt(reactor, this.#tcpFd, (sock) => {
          setup.accepted(sock.fd);
          this.#accept(sock);
        });
        local = sockLocalAddr(this.#tcpFd);
      }
      if (networks.includes("udp")) {
        this.#udpFd = tproxyOpenUdp(
          local,
          (fd, family) => applySocketOptions(fd, family, setup.udp, "udp"),
        );
        this.#reader = new TproxyUdpReader(this.#udpFd);
        this.#sessions = new UdpSessions({
          reactor,
          handler,
          timeoutMs: options.udp_timeout ?? DEFAULT_UDP_TIMEOUT_MS,
          request: (source, destination) => {
            this.#retain(destination);
            return this.#request("udp", source, destination);
          },
          reply: (client, payload, from, destination) =>
            this.#reply(client, payload, from, destination),
          onEnd: (_client, destination) => this.#release(destination),
        });
        reactor.add(this.#udpFd, EV_READ, (events) => {
          if (events & (EV_READ | EV_ERROR)) this.#receive();
        });
      }
    } catch (error) {
      this.close();
      throw new Error(
        `start tproxy inbound "${options.tag}" on ${formatSockAddr(local)}: ${
          error instanceof Error ? error.message : error
        }`,
        { cause: error },
      );
    }
    log.info("inbound/tproxy[{tag}]: listening on {addr} ({networks})", {
      tag: this.tag,
      addr: formatSockAddr(this.localAddr()),
      networks: networks.join("+"),
    });
  }

  /** The bound address. */
  localAddr(): SockAddr {
    return sockLocalAddr(this.#tcpFd >= 0 ? this.#tcpFd : this.#udpFd);
  }

  /** UDP sessions open now. */
  get udpSessions(): number {
    return this.#sessions?.size ?? 0;
  }

  #request(network: "tcp" | "udp", source: SockAddr, destination: Destination): InboundRequest {
    return plainRequest(this.#nextId(), this.tag, "tproxy", network, source, destination);
  }

  #accept(sock: TcpSocket): void {
    if (this.#closed) {
      sock.close();
      return;
    }
    // The accepted socket's local address is the client's original destination.
    offerConnection(
      sock,
      (source, local) =>
        this.#request("tcp", source, { addr: unmap(local.addr), port: local.port }),
      this.handler,
      this.#pending,
    );
  }

  #buf = new Uint8Array(MAX_DATAGRAM);
  #from: SockAddr = { addr: new Uint8Array(16), port: 0 };
  #to: SockAddr = { addr: new Uint8Array(16), port: 0 };

  #receive(): void {
    const reader = this.#reader!, buf = this.#buf, from = this.#from, to = this.#to;
    for (let i = 0; i < 64 && !this.#closed; i++) {
      let n: number;
      try {
        n = reader.recv(buf, from, to);
      } catch {
        return;
      }
      if (n === WOULD_BLOCK) return;
      if (to.port === 0) {
        log.warn("inbound/tproxy[{tag}]: datagram from {from} without its original destination", {
          tag: this.tag,
          from: formatSockAddr(from),
        });
        continue;
      }
      const source = { addr: unmap(from.addr), port: from.port };
      this.#sessions!.receive(
        source,
        { addr: unmap(to.addr), port: to.port },
        buf.subarray(0, n),
      );
    }
  }

  /** Sends a reply from `from` (the server the outbound heard) to the client. */
  #reply(client: SockAddr, payload: Uint8Array, from: Destination, destination: Destination): void {
    if (!from.addr) return; // a reply from a name: nothing to bind to
    const source: SockAddr = { addr: unmap(from.addr), port: from.port };
    const to: SockAddr = { addr: unmap(client.addr), port: client.port };
    if (source.addr.length !== to.addr.length) return; // cannot cross families
    if (keyOf(source) === keyOf(destination)) {
      const entry = this.#socketFor(source);
      sockSendTo(entry.fd, payload, to);
      return;
    }
    // A reply from another address than the one asked (full cone): a one-off socket.
    const fd = tproxyWriteBack(source);
    try {
      sockSendTo(fd, payload, to);
    } finally {
      fdClose(fd);
    }
  }

  #socketFor(source: SockAddr): { fd: number; users: number } {
    const key = keyOf(source);
    let entry = this.#writeBack.get(key);
    if (!entry) this.#writeBack.set(key, entry = { fd: -1, users: 0 });
    if (entry.fd < 0) entry.fd = tproxyWriteBack(source);
    return entry;
  }

  /** A session to `destination` starts: it may reply through the socket bound there. */
  #retain(destination: Destination): void {
    const key = keyOf(destination);
    const entry = this.#writeBack.get(key);
    if (entry) entry.users++;
    else this.#writeBack.set(key, { fd: -1, users: 1 });
  }

  /** A session to `destination` ended: the socket goes when no session uses it. */
  #release(destination: Destination): void {
    const key = keyOf(destination);
    const entry = this.#writeBack.get(key);
    if (!entry) return;
    entry.users--;
    if (entry.users <= 0) {
      this.#writeBack.delete(key);
      if (entry.fd >= 0) fdClose(entry.fd);
    }
  }

  /** Stops listening; ends UDP sessions and connections still waiting for a route. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#tcp?.close();
    if (this.#tcpFd >= 0) fdClose(this.#tcpFd);
    this.#sessions?.close();
    if (this.#udpFd >= 0) {
      this.reactor.remove(this.#udpFd);
      fdClose(this.#udpFd);
    }
    for (const e of this.#writeBack.values()) if (e.fd >= 0) fdClose(e.fd);
    this.#writeBack.clear();
    for (const s of this.#pending) s.close();
    this.#pending.clear();
  }
}
