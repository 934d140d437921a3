/**
 * The `direct` inbound (sing-box `protocol/direct/inbound.go`): a listening port, TCP and/or UDP
 * (`network`, both when empty), whose connections and datagrams are routed by the rules like any
 * inbound's, with the destination rewritten by `override_address`/`override_port`:
 *
 * | override | destination |
 * |---|---|
 * | address and port | `override_address:override_port` |
 * | address only | `override_address`, the port the client connected to |
 * | port only | the address the client connected to, `override_port` |
 * | neither | the listening address itself (sing-box does the same; a warning says so) |
 *
 * `override_address` may be a domain (the outbound resolves it). UDP: one session per client
 * address (`udp_timeout`, default 5 min); replies leave through the listening socket, so the
 * client sees them come from the address it sent to.
 *
 * ```ts
 * const inbound = new DirectInbound(reactor, options, createRouterHandler(router, outbounds));
 * inbound.localAddr(); // the TCP port (the UDP socket uses the same one)
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import type { DirectInboundOptions } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import {
  formatSockAddr,
  TcpListener,
  type TcpSocket,
  UdpSocket,
  WOULD_BLOCK,
} from "../io/socket.ts";
import { parseIp } from "../net/ip.ts";
import type { Destination } from "../outbound/mod.ts";
import { DEFAULT_UDP_TIMEOUT_MS } from "./listener.ts";
import type { InboundHandler, InboundRequest } from "./types.ts";
import { type ListenPlatform, listenSocketSetup, listenTcp } from "./listen_socket.ts";
import { UdpSessions } from "./udp_sessions.ts";

const log = getLogger(["tunbox", "inbound"]);

/** Largest datagram read from the listening socket. */
const MAX_DATAGRAM = 65535;

let globalId = 0;

/** Rewrites `local` (what the client connected to) by the inbound's overrides. */
export function overrideDestination(options: DirectInboundOptions, local: SockAddr): Destination {
  const port = options.override_port ?? local.port;
  const address = options.override_address;
  if (address === undefined) return { addr: local.addr, port };
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  const ip = parseIp(bare);
  return ip ? { addr: ip, port } : { domain: address, port };
}

/** A running `direct` inbound. */
export class DirectInbound {
  readonly tag: string;
  readonly #tcp: TcpListener | null = null;
  readonly #udp: UdpSocket | null = null;
  readonly #sessions: UdpSessions | null = null;
  readonly #pending = new Set<TcpSocket>();
  readonly #nextId: () => number;
  #closed = false;

  constructor(
    readonly reactor: Reactor,
    readonly options: DirectInboundOptions,
    readonly handler: InboundHandler,
    settings: { nextId?: () => number; platform?: ListenPlatform } = {},
  ) {
    this.tag = options.tag;
    this.#nextId = settings.nextId ?? (() => ++globalId);
    const networks = options.network.length === 0 ? ["tcp", "udp"] : options.network;
    let local: SockAddr = { addr: options.listen, port: options.listen_port ?? 0 };
    try {
      const setup = listenSocketSetup(options, settings.platform);
      if (networks.includes("tcp")) {
        this.#tcp = listenTcp(reactor, local, setup, (sock) => this.#accept(sock));
        local = this.#tcp.localAddr(); // the UDP socket takes the same port
      }
      if (networks.includes("udp")) {
        const udp = this.#udp = UdpSocket.open(
          reactor,
          local.addr.length === 16 ? 6 : 4,
          setup.udp,
          local,
        );
        this.#sessions = new UdpSessions({
          reactor,
          handler,
          timeoutMs: options.udp_timeout ?? DEFAULT_UDP_TIMEOUT_MS,
          request: (source, destination) => this.#request("udp", source, destination),
          reply: (client, payload) => void udp.sendTo(payload, client),
        });
        udp.onReadable = () => this.#receive();
      }
    } catch (error) {
      this.close();
      throw new Error(
        `start direct inbound "${options.tag}" on ${formatSockAddr(local)}: ${
          error instanceof Error ? error.message : error
        }`,
        { cause: error },
      );
    }
    if (options.override_address === undefined && options.override_port === undefined) {
      log.warn(
        "inbound/direct[{tag}]: neither override_address nor override_port is set, so connections go to the listening address itself",
        { tag: this.tag },
      );
    }
    log.info("inbound/direct[{tag}]: listening on {addr} ({networks}), forwarding to {to}", {
      tag: this.tag,
      addr: formatSockAddr(this.localAddr()),
      networks: networks.join("+"),
      to: describeOverride(options),
    });
  }

  /** The bound address (the TCP listener's, else the UDP socket's). */
  localAddr(): SockAddr {
    return (this.#tcp ?? this.#udp)!.localAddr();
  }

  /** UDP sessions open now. */
  get udpSessions(): number {
    return this.#sessions?.size ?? 0;
  }

  #request(network: "tcp" | "udp", source: SockAddr, destination: Destination): InboundRequest {
    return plainRequest(this.#nextId(), this.tag, "direct", network, source, destination);
  }

  #accept(sock: TcpSocket): void {
    if (this.#closed) {
      sock.close();
      return;
    }
    offerConnection(
      sock,
      (source, local) => this.#request("tcp", source, overrideDestination(this.options, local)),
      this.handler,
      this.#pending,
    );
  }

  #buf = new Uint8Array(MAX_DATAGRAM);
  #from: SockAddr = { addr: new Uint8Array(16), port: 0 };
  #udpDest: Destination | null = null;

  #receive(): void {
    const udp = this.#udp!, buf = this.#buf, from = this.#from;
    for (let i = 0; i < 64 && !this.#closed; i++) {
      let n: number;
      try {
        n = udp.recvFrom(buf, from);
      } catch {
        return; // an ICMP error for an earlier reply: nothing to read
      }
      if (n === WOULD_BLOCK) return;
      this.#udpDest ??= overrideDestination(this.options, udp.localAddr());
      this.#sessions!.receive(from, this.#udpDest, buf.subarray(0, n));
    }
  }

  /** Stops listening; ends UDP sessions and connections still waiting for a route. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#tcp?.close();
    this.#sessions?.close();
    this.#udp?.close();
    for (const s of this.#pending) s.close();
    this.#pending.clear();
  }
}

/** The request of a plain connection or UDP session (`direct`, `tproxy`, `redirect`). */
export function plainRequest(
  id: number,
  inbound: string,
  inboundType: "direct" | "tproxy" | "redirect",
  network: "tcp" | "udp",
  source: SockAddr,
  destination: Destination,
): InboundRequest {
  return { id, inbound, inboundType, network, source, destination, user: "", protocol: "none" };
}

/**
 * Hands an accepted plain connection to the handler with the request `makeRequest` builds from
 * its peer and local addresses: `accept` gives the socket over untouched, `reject` closes it.
 * Until then it is in `pending` (closed with the inbound).
 */
export function offerConnection(
  sock: TcpSocket,
  makeRequest: (source: SockAddr, local: SockAddr) => InboundRequest,
  handler: InboundHandler,
  pending: Set<TcpSocket>,
): void {
  let request: InboundRequest;
  try {
    request = makeRequest(sock.peerAddr(), sock.localAddr());
  } catch {
    sock.close(); // the client is already gone
    return;
  }
  pending.add(sock);
  let settled = false;
  handler.onConnection({
    request,
    accept: () => {
      settled = true;
      pending.delete(sock);
      if (sock.closed) return Promise.reject(new Error("client closed"));
      return Promise.resolve({ client: sock, upstreamFirst: null });
    },
    reject: () => {
      if (settled) return;
      settled = true;
      pending.delete(sock);
      sock.close();
    },
  });
}

function describeOverride(o: DirectInboundOptions): string {
  if (o.override_address === undefined && o.override_port === undefined) {
    return "the listening address";
  }
  return `${o.override_address ?? "(same address)"}:${o.override_port ?? "(same port)"}`;
}
