/**
 * The direct dialer: makes reactor sockets from sing-box dial fields. Used by the `direct`
 * outbound and, when no `detour` is set, by `socks`/`http` to reach their server.
 *
 * Binding (so direct traffic never loops back into the TUN), in sing-box's order:
 * `bind_interface` (by name, through the platform) → `route.default_interface` →
 * `route.auto_detect_interface` (the current default interface from the context). The implicit
 * bindings (default/auto-detected interface) are skipped for loopback destinations, which can
 * never reach the TUN and which a socket bound to a physical interface cannot reach (the local
 * SOCKS server on 127.0.0.1 is the common case). `routing_mark` (else `route.default_mark`)
 * is set on every socket.
 *
 * Domains are resolved through the context with the dial's domain strategy and tried in order,
 * the next address after a failure (each attempt gets an equal share of the remaining
 * `connect_timeout`, at least 2 s, as Go's dialer does).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DialOptions, DomainStrategy, RouteOptions } from "../config/types.ts";
import {
  connectTcp,
  type SocketOptions,
  type TcpSocket,
  UdpSocket,
  WOULD_BLOCK,
} from "../io/socket.ts";
import { formatIp, isLoopback, parseIp } from "../net/ip.ts";
import type { NetworkInterface } from "../platform/mod.ts";
import {
  type Destination,
  type DialContext,
  type Dialer,
  type DialMeta,
  formatDestination,
  OutboundError,
  type ResolveRequest,
  toOutboundError,
  type UdpFlow,
} from "./types.ts";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import { DatagramBatch } from "../io/datagram_batch.ts";

const log = getLogger(["tunbox", "outbound"]);

/** sing-box's default dial timeout (constant/timeout.go). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** sing-box 1.13 defaults for TCP keepalive. */
export const DEFAULT_KEEPALIVE_IDLE_MS = 300_000;
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 75_000;
const MIN_ATTEMPT_MS = 2000;

/** The route fields dialing depends on. */
export type DialRouteOptions = Pick<
  RouteOptions,
  "default_interface" | "auto_detect_interface" | "default_mark" | "default_domain_resolver"
>;

/** Orders (and filters) resolved addresses by a sing-box domain strategy. */
export function orderAddresses(
  addrs: readonly Uint8Array[],
  strategy: DomainStrategy,
): Uint8Array[] {
  const v4 = addrs.filter((a) => a.length === 4);
  const v6 = addrs.filter((a) => a.length === 16);
  switch (strategy) {
    case "ipv4_only":
      return v4;
    case "ipv6_only":
      return v6;
    case "prefer_ipv4":
      return [...v4, ...v6];
    case "prefer_ipv6":
      return [...v6, ...v4];
    default:
      return [...addrs];
  }
}

/** Resolves a destination to addresses: its own address, an IP literal, or through `resolve`. */
export async function resolveDestination(
  dest: Destination,
  ctx: DialContext,
  strategy: DomainStrategy,
  prefix: string,
  request?: ResolveRequest,
): Promise<Uint8Array[]> {
  if (dest.addr) return [dest.addr];
  const domain = dest.domain ?? "";
  const literal = parseIp(domain.startsWith("[") ? domain.slice(1, -1) : domain);
  if (literal) return [literal];
  if (domain === "") {
    throw new OutboundError("unreachable", `${prefix}: destination has no address or domain`);
  }
  if (!ctx.resolve) {
    throw new OutboundError(
      "unreachable",
      `${prefix}: cannot resolve "${domain}": no DNS resolver is configured`,
    );
  }
  let addrs: Uint8Array[];
  try {
    addrs = orderAddresses(await ctx.resolve(domain, strategy, request), strategy);
  } catch (error) {
    throw toOutboundError(error, `${prefix}: resolve "${domain}"`, "unreachable");
  }
  if (addrs.length === 0) {
    const family = strategy === "ipv6_only" ? "IPv6 " : strategy === "ipv4_only" ? "IPv4 " : "";
    throw new OutboundError("unreachable", `${prefix}: "${domain}" has no ${family}address`);
  }
  return addrs;
}

/**
 * The resolve request of dial fields `options` for outbound `tag`: the `domain_resolver` (else
 * `route.default_domain_resolver`) server when one is set, else the DNS rules with the tag.
 */
export function resolveRequestOf(
  options: Pick<DialOptions, "domain_resolver">,
  route: Pick<DialRouteOptions, "default_domain_resolver">,
  tag: string,
): ResolveRequest {
  const server = options.domain_resolver?.server ?? route.default_domain_resolver?.server;
  return server ? { server } : tag === "" ? {} : { outbound: tag };
}

/** Dials directly from this host with the socket options the dial fields describe. */
export class DirectDialer implements Dialer {
  readonly #strategy: DomainStrategy;

  /** How this dialer's lookups are asked (see {@linkcode ResolveRequest}). */
  readonly resolveRequest: ResolveRequest;

  constructor(
    /** Names the owner in messages, e.g. `direct outbound "direct"`. */
    readonly name: string,
    readonly options: DialOptions,
    readonly ctx: DialContext,
    readonly route: DialRouteOptions = {},
    /** The tag of the outbound this dialer dials for ("" for tunbox's own: DNS, NTP). */
    outboundTag = "",
  ) {
    this.#strategy = options.domain_resolver?.strategy ?? options.domain_strategy ??
      route.default_domain_resolver?.strategy ?? "";
    this.resolveRequest = resolveRequestOf(options, route, outboundTag);
  }

  get domainStrategy(): DomainStrategy {
    return this.#strategy;
  }

  #lookupInterface(name: string, field: string): NetworkInterface {
    const platform = this.ctx.platform;
    if (!platform) {
      throw new OutboundError(
        "unreachable",
        `${this.name}: ${field} "${name}" needs the platform layer`,
      );
    }
    let index: number;
    try {
      index = platform.interfaceIndex(name);
    } catch (error) {
      throw toOutboundError(error, `${field} "${name}"`, "unreachable");
    }
    if (!index) {
      throw new OutboundError("unreachable", `${field} "${name}" does not exist`);
    }
    return { name, index };
  }

  /** The interface a socket to `addr` is bound to (undefined: none). */
  interfaceFor(addr: Uint8Array | null): NetworkInterface | undefined {
    if (this.options.bind_interface) {
      return this.#lookupInterface(this.options.bind_interface, "bind_interface");
    }
    if (addr && isLoopback(addr)) return undefined;
    if (this.route.default_interface) {
      return this.#lookupInterface(this.route.default_interface, "route.default_interface");
    }
    if (this.route.auto_detect_interface && this.ctx.defaultInterface) {
      return this.ctx.defaultInterface() ?? undefined;
    }
    return undefined;
  }

  /** Socket options for a socket to `addr` (or for a UDP socket of `family` with `addr` null). */
  socketOptions(family: 4 | 6, addr: Uint8Array | null, kind: "tcp" | "udp"): SocketOptions {
    const o = this.options;
    const opts: SocketOptions = {
      connectTimeoutMs: o.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
    };
    const iface = this.interfaceFor(addr);
    if (iface) opts.bindInterface = iface;
    const mark = o.routing_mark ?? this.ctx.defaultMark ?? this.route.default_mark;
    if (mark) opts.mark = mark;
    if (this.ctx.platform) opts.platform = this.ctx.platform;
    const bind = family === 4 ? o.inet4_bind_address : o.inet6_bind_address;
    if (bind) {
      opts.bindAddress = bind;
      if (o.bind_address_no_port) opts.bindAddressNoPort = true;
    }
    if (o.reuse_addr) opts.reuseAddr = true;
    if (kind === "tcp") {
      if (o.tcp_fast_open) opts.tcpFastOpen = true;
      if (!o.disable_tcp_keep_alive) {
        opts.keepAliveIdleMs = o.tcp_keep_alive ?? DEFAULT_KEEPALIVE_IDLE_MS;
        opts.keepAliveIntervalMs = o.tcp_keep_alive_interval ?? DEFAULT_KEEPALIVE_INTERVAL_MS;
      }
    }
    return opts;
  }

  async dialTcp(dest: Destination, meta: DialMeta): Promise<TcpSocket> {
    const prefix = `${this.name}: connect to ${formatDestination(dest)}`;
    const addrs = await resolveDestination(
      dest,
      this.ctx,
      this.#strategy,
      prefix,
      this.resolveRequest,
    );
    const total = this.options.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const reactor = this.ctx.reactor;
    const deadline = reactor.now() + total;
    let last: unknown;
    for (let i = 0; i < addrs.length; i++) {
      const addr = addrs[i]!;
      const remaining = deadline - reactor.now();
      if (remaining <= 0) break;
      const share = Math.max(Math.min(MIN_ATTEMPT_MS, remaining), remaining / (addrs.length - i));
      try {
        const opts = this.socketOptions(addr.length === 4 ? 4 : 6, addr, "tcp");
        opts.connectTimeoutMs = Math.ceil(share);
        const sock = await connectTcp(reactor, { addr, port: dest.port }, opts);
        this.ctx.sockets?.add(sock, "tcp", opts.bindInterface);
        log.debug("[{id}] {name}: connected to {addr}", {
          id: meta.id,
          name: this.name,
          addr: formatDestination({ addr, port: dest.port }),
        });
        return sock;
      } catch (error) {
        last = error;
        if (error instanceof OutboundError) break;
        if (addrs.length > 1) {
          log.debug("[{id}] {name}: {addr} failed, {left} address(es) left: {error}", {
            id: meta.id,
            name: this.name,
            addr: formatIp(addr),
            left: addrs.length - i - 1,
            error: String(error),
          });
        }
      }
    }
    throw toOutboundError(last ?? new Error(`no time left within ${total} ms`), prefix, "timeout");
  }

  openUdp(meta: DialMeta): Promise<UdpFlow> {
    return Promise.resolve(new DirectUdpFlow(this, meta));
  }
}

const MAX_DATAGRAM = 65535;
/** Datagrams per receive call (each slot takes the largest datagram) and calls per readiness. */
const RECEIVE_BATCH = 16;
const RECEIVE_ROUNDS = 4;
/** Datagrams held per flow by {@linkcode DirectUdpFlow.holdSends}. */
const SEND_BATCH = 32;

/** One receive batch per thread, shared by every flow (each passes its datagrams on at once). */
let receiveBatch: DatagramBatch | null = null;
let receiveBatchBusy = false;

/** The thread's receive batch, or null while it is in use (a receive nested in a callback). */
function takeReceiveBatch(): DatagramBatch | null {
  if (receiveBatchBusy) return null;
  receiveBatchBusy = true;
  return receiveBatch ??= new DatagramBatch(RECEIVE_BATCH, MAX_DATAGRAM + 1);
}
const MAX_PENDING_PER_DOMAIN = 16;
const DOMAIN_CACHE_LIMIT = 256;

/**
 * A full-cone UDP flow from this host: one socket per address family, made on first use (plus
 * an unbound one per family for loopback destinations when the dial binds to an interface).
 */
export class DirectUdpFlow implements UdpFlow {
  onPacket: ((payload: Uint8Array, from: Destination) => void) | null = null;
  onClose: ((reason?: Error) => void) | null = null;
  dropped = 0;
  #sockets: (UdpSocket | undefined)[] = [];
  #recvBuf: Uint8Array | null = null;
  #to: SockAddr = { addr: new Uint8Array(4), port: 0 };
  #domains = new Map<string, Uint8Array | null>();
  #pending = new Map<string, { payload: Uint8Array; port: number }[]>();
  #closed = false;
  /** Datagrams held by {@linkcode holdSends} for one socket, sent at the end of the round. */
  #held: { batch: DatagramBatch; sock: UdpSocket | null; queued: boolean } | null = null;

  constructor(readonly dialer: DirectDialer, readonly meta: DialMeta) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** The local address of the socket used for `family` (opens it), for tests and logs. */
  localAddr(family: 4 | 6): SockAddr {
    return this.#socketFor(family === 4 ? new Uint8Array(4) : new Uint8Array(16)).localAddr();
  }

  #socketFor(addr: Uint8Array): UdpSocket {
    const family = addr.length === 4 ? 4 : 6;
    const loop = isLoopback(addr) && this.dialer.interfaceFor(null) !== undefined;
    const key = (family === 4 ? 0 : 2) + (loop ? 1 : 0);
    let sock = this.#sockets[key];
    if (sock && !sock.closed) return sock;
    const opts = this.dialer.socketOptions(family, loop ? addr : null, "udp");
    sock = UdpSocket.open(this.dialer.ctx.reactor, family, opts);
    this.dialer.ctx.sockets?.add(sock, "udp", opts.bindInterface);
    const s = sock;
    s.onReadable = () => this.#receive(s);
    this.#sockets[key] = s;
    return s;
  }

  #receive(sock: UdpSocket): void {
    const batch = takeReceiveBatch();
    if (!batch) return this.#receiveOne(sock);
    try {
      for (let round = 0; round < RECEIVE_ROUNDS && !this.#closed; round++) {
        let n: number;
        try {
          n = sock.recvBatch(batch);
        } catch (error) {
          this.#receiveFailed(error);
          return;
        }
        if (n === WOULD_BLOCK) return;
        for (let i = 0; i < n && !this.#closed; i++) {
          const from = batch.peer(i);
          if (from) this.onPacket?.(batch.payload(i), { addr: from.addr, port: from.port });
        }
        if (n < batch.capacity) return;
      }
    } finally {
      receiveBatchBusy = false;
    }
  }

  /** One datagram per call: while the shared batch is in use (a nested receive). */
  #receiveOne(sock: UdpSocket): void {
    const buf = this.#recvBuf ??= new Uint8Array(MAX_DATAGRAM);
    const from: SockAddr = { addr: new Uint8Array(0), port: 0 };
    for (let i = 0; i < 64 && !this.#closed; i++) {
      let n: number;
      try {
        n = sock.recvFrom(buf, from);
      } catch (error) {
        this.#receiveFailed(error);
        return;
      }
      if (n === WOULD_BLOCK) return;
      this.onPacket?.(buf.subarray(0, n), { addr: from.addr, port: from.port });
    }
  }

  #receiveFailed(error: unknown): void {
    log.debug("[{id}] {name}: UDP receive failed: {error}", {
      id: this.meta.id,
      name: this.dialer.name,
      error: String(error),
    });
  }

  holdSends(maxDatagram: number): void {
    const size = Math.min(MAX_DATAGRAM + 1, Math.max(1, maxDatagram));
    if (this.#held && this.#held.batch.slotSize >= size) return;
    this.#flushHeld();
    this.#held = { batch: new DatagramBatch(SEND_BATCH, size), sock: null, queued: false };
  }

  /** Sends what {@linkcode holdSends} held (one `sendmmsg` per batch on Linux). */
  #flushHeld(): void {
    const held = this.#held;
    if (!held) return;
    held.queued = false;
    const { batch, sock } = held;
    held.sock = null;
    if (!sock || batch.count === 0 || sock.closed) {
      this.dropped += batch.count;
      batch.clear();
      return;
    }
    for (let from = 0; from < batch.count;) {
      let n: number;
      try {
        n = sock.sendBatch(batch, from);
      } catch (error) {
        this.#sendFailed(batch.destination(from), error);
        from++;
        continue;
      }
      if (n === WOULD_BLOCK) {
        this.dropped += batch.count - from;
        break;
      }
      from += n;
    }
    batch.clear();
  }

  send(payload: Uint8Array, dest: Destination): void {
    if (this.#closed) {
      this.dropped++;
      return;
    }
    if (dest.addr) {
      this.#sendTo(payload, dest.addr, dest.port);
      return;
    }
    const domain = dest.domain ?? "";
    const literal = parseIp(domain);
    if (literal) {
      this.#sendTo(payload, literal, dest.port);
      return;
    }
    const cached = this.#domains.get(domain);
    if (cached) {
      this.#sendTo(payload, cached, dest.port);
      return;
    }
    if (cached === null || !this.dialer.ctx.resolve) {
      this.dropped++;
      return;
    }
    const queue = this.#pending.get(domain);
    if (queue) {
      if (queue.length < MAX_PENDING_PER_DOMAIN) {
        queue.push({ payload: payload.slice(), port: dest.port });
      } else this.dropped++;
      return;
    }
    this.#pending.set(domain, [{ payload: payload.slice(), port: dest.port }]);
    resolveDestination(
      dest,
      this.dialer.ctx,
      this.dialer.domainStrategy,
      this.dialer.name,
      this.dialer.resolveRequest,
    ).then(
      (addrs) => this.#resolved(domain, addrs[0] ?? null),
      (error) => {
        log.debug("[{id}] {name}: UDP to {domain}: {error}", {
          id: this.meta.id,
          name: this.dialer.name,
          domain,
          error: String(error),
        });
        this.#resolved(domain, null);
      },
    );
  }

  #resolved(domain: string, addr: Uint8Array | null): void {
    const queue = this.#pending.get(domain) ?? [];
    this.#pending.delete(domain);
    if (this.#domains.size >= DOMAIN_CACHE_LIMIT) this.#domains.clear();
    if (addr) this.#domains.set(domain, addr);
    for (const p of queue) {
      if (addr && !this.#closed) this.#sendTo(p.payload, addr, p.port);
      else this.dropped++;
    }
  }

  #sendTo(payload: Uint8Array, addr: Uint8Array, port: number): void {
    const to = this.#to;
    to.addr = addr;
    to.port = port;
    try {
      const sock = this.#socketFor(addr);
      const held = this.#held;
      if (held && payload.length <= held.batch.slotSize) {
        if (held.sock !== sock && held.batch.count > 0) this.#flushHeld();
        if (!held.batch.add(payload, to)) {
          this.#flushHeld();
          held.batch.add(payload, to);
        }
        held.sock = sock;
        if (!held.queued) {
          held.queued = true;
          queueMicrotask(() => this.#flushHeld());
        }
        return;
      }
      if (held && held.batch.count > 0) this.#flushHeld(); // keep the order
      if (sock.sendTo(payload, to) === WOULD_BLOCK) this.dropped++;
    } catch (error) {
      this.#sendFailed(to, error);
    }
  }

  #sendFailed(to: SockAddr, error: unknown): void {
    this.dropped++;
    log.debug("[{id}] {name}: UDP send to {to} failed: {error}", {
      id: this.meta.id,
      name: this.dialer.name,
      to: formatDestination({ addr: to.addr, port: to.port }),
      error: String(error),
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#flushHeld();
    this.#closed = true;
    for (const s of this.#sockets) s?.close();
    this.#sockets = [];
    this.#pending.clear();
  }
}
