/**
 * What every proxy-protocol outbound (shadowsocks, VMess, VLESS, Trojan) does before speaking
 * its protocol: reach its server through the dial fields (`detour`, `bind_interface`,
 * `routing_mark`, `domain_resolver`, `connect_timeout`), report the server's health once per
 * change ({@linkcode ServerHealth}), and name the outbound and server in every failure.
 *
 * @module
 */

import type { DialOptions } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import type { Timer } from "../io/timer_queue.ts";
import type { Stream } from "../io/stream.ts";
import { parseIp } from "../net/ip.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "./direct_dialer.ts";
import type { OutboundEnv } from "./registry.ts";
import { ServerHealth } from "./server_health.ts";
import {
  type Destination,
  type DialContext,
  type Dialer,
  type DialMeta,
  formatDestination,
  OutboundError,
  toOutboundError,
  type UdpFlow,
} from "./types.ts";

/** `server`/`server_port` as a destination (an IP literal or a domain). */
export function serverDestination(server: string, port: number): Destination {
  const addr = parseIp(server.startsWith("[") ? server.slice(1, -1) : server);
  return addr ? { addr, port } : { domain: server, port };
}

/** The `network` option as a set. */
export function networksOf(network: "tcp" | "udp" | undefined): ReadonlySet<"tcp" | "udp"> {
  return new Set(network ? [network] : ["tcp", "udp"]);
}

/** Reaches one proxy server for one outbound. */
export class ServerConnector {
  readonly server: Destination;
  readonly dialer: Dialer;
  readonly ctx: DialContext;
  readonly timeoutMs: number;
  readonly #health: ServerHealth;

  constructor(
    /** `vmess outbound "proxy"`. */
    readonly name: string,
    server: string,
    port: number,
    options: DialOptions,
    env: OutboundEnv,
  ) {
    this.server = serverDestination(server, port);
    this.dialer = env.dialer(name, options);
    this.ctx = env.ctx;
    this.timeoutMs = options.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#health = new ServerHealth(name, formatDestination(this.server));
  }

  /** A TCP connection to the server; failures are {@linkcode OutboundError}s naming it. */
  async connect(meta: DialMeta): Promise<Stream> {
    try {
      const sock = await this.dialer.dialTcp(this.server, meta);
      this.#health.ok();
      return sock;
    } catch (error) {
      const e = toOutboundError(
        error,
        `${this.name}: connect to server ${formatDestination(this.server)}`,
        "refused",
      );
      this.#health.failed(e);
      throw e;
    }
  }

  /** A UDP flow from which datagrams can be sent to the server. */
  async openUdp(meta: DialMeta): Promise<UdpFlow> {
    try {
      return await this.dialer.openUdp(meta);
    } catch (error) {
      throw toOutboundError(error, `${this.name}: open UDP socket`);
    }
  }

  /** Refuses a network the outbound's `network` option disabled. */
  checkNetwork(networks: ReadonlySet<"tcp" | "udp">, network: "tcp" | "udp"): void {
    if (!networks.has(network)) {
      throw new OutboundError(
        "blocked",
        `${this.name}: ${network.toUpperCase()} is disabled (network is "${[...networks][0]}")`,
      );
    }
  }
}

/**
 * Proxy servers stay silent on a wrong key or user (shadowsocks-libev and V2Ray read on until
 * their own timeout, so a prober learns nothing): after this long without an answer to a
 * request, a protocol stream says so once.
 */
export const ANSWER_WARN_MS = 10_000;

/** Calls `onSilent` once when a request sent with `start()` gets no `answered()` in time. */
export class AnswerWatch {
  #timer: Timer | null = null;
  #answered = false;

  constructor(
    readonly reactor: Reactor,
    readonly ms: number,
    readonly onSilent: (seconds: number) => void,
  ) {}

  get answered(): boolean {
    return this.#answered;
  }

  /** The request left. */
  start(): void {
    if (this.#timer || this.#answered) return;
    this.#timer = this.reactor.setTimeout(this.ms, () => {
      this.#timer = null;
      if (!this.#answered) this.onSilent(Math.max(1, Math.round(this.ms / 1000)));
    });
  }

  /** The server answered. */
  answer(): void {
    this.#answered = true;
    this.cancel();
  }

  cancel(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }
}

/** How long a request header waits for the application's first bytes before leaving alone. */
export const HEADER_WAIT_MS = 100;

/**
 * A request header that travels with the application's first bytes (one packet, as sing-box's
 * early connections do), or alone after {@linkcode HEADER_WAIT_MS} when the application waits
 * for the server to speak first.
 */
export class EarlyHeader {
  #sent = false;
  #timer: Timer | null;

  constructor(reactor: Reactor, send: () => void, waitMs = HEADER_WAIT_MS) {
    this.#timer = reactor.setTimeout(waitMs, () => {
      this.#timer = null;
      if (!this.#sent) {
        this.#sent = true;
        send();
      }
    });
  }

  get sent(): boolean {
    return this.#sent;
  }

  /** True exactly once: the caller sends the header now (with data). */
  take(): boolean {
    if (this.#sent) return false;
    this.#sent = true;
    this.cancel();
    return true;
  }

  cancel(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }
}
