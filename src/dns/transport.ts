/**
 * The DNS transport contract: one configured DNS server (`dns.servers[i]`) that exchanges whole
 * DNS messages. Transports run on a worker's reactor: sockets are reactor sockets reached
 * through an outbound's {@linkcode Dialer}, timers are reactor timers.
 *
 * @module
 */

import { E, SysError } from "../../ffi/errno.ts";
import type { Reactor } from "../io/reactor.ts";
import { type Destination, formatDestination } from "../outbound/types.ts";

/** sing-box's DNS exchange timeout (`C.DNSTimeout`). */
export const DNS_TIMEOUT_MS = 10_000;

/** One DNS server. */
export interface DnsTransport {
  /** The server's tag (`dns.servers[i].tag`). */
  readonly tag: string;
  /** The server's type (`udp`, `tcp`, `local`, `hosts`, `fakeip`). */
  readonly type: string;
  /**
   * Sends `query` (a complete DNS message) and resolves with the response, whose id is the
   * query's id. Rejects on timeout (`SysError` ETIMEDOUT), transport failure, or a query the
   * transport cannot answer (`TypeError`).
   */
  exchange(query: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Closes sockets; pending exchanges reject. */
  close(): void;
}

/**
 * Where a server is: an IP address, or a domain resolved (and cached for the answer's
 * lifetime of 10 minutes at most) through `resolve`. A domain without `resolve` is handed to
 * the dialer as it is (a server with a `detour` and no resolver: the detour outbound resolves
 * it, a proxy on its far side, as sing-box does).
 */
export class ServerAddress {
  #resolved: Destination | null = null;
  #resolvedAt = 0;
  #pending: Promise<Destination> | null = null;

  constructor(
    /** Names the server in messages: `DNS server "cf"`. */
    readonly name: string,
    readonly host: { addr: Uint8Array } | { domain: string },
    readonly port: number,
    readonly reactor: Reactor,
    readonly resolve?: (domain: string) => Promise<Uint8Array[]>,
  ) {}

  /** `1.1.1.1:53`, `[::1]:53` or `dns.example:53`. */
  get text(): string {
    return formatDestination({ ...this.host, port: this.port });
  }

  /** The destination to dial (the first resolved address for a domain server). */
  destination(): Promise<Destination> {
    if ("addr" in this.host) return Promise.resolve({ addr: this.host.addr, port: this.port });
    const now = this.reactor.now();
    if (this.#resolved && now - this.#resolvedAt < 600_000) return Promise.resolve(this.#resolved);
    if (this.#pending) return this.#pending;
    const domain = this.host.domain;
    const resolve = this.resolve;
    if (!resolve) return Promise.resolve({ domain, port: this.port });
    this.#pending = resolve(domain).then((addrs) => {
      const addr = addrs[0];
      if (!addr) throw new TypeError(`${this.name}: server "${domain}" has no address`);
      this.#resolved = { addr, port: this.port };
      this.#resolvedAt = this.reactor.now();
      return this.#resolved;
    }).finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }
}

/** A timeout error naming the action: `DNS server "x": exchange with 1.2.3.4:53 timed out`. */
export function dnsTimeout(what: string, ms: number): SysError {
  return new SysError(`${what} (after ${ms} ms)`, E.ETIMEDOUT);
}

/** Allocates message ids not currently in use (random start, then sequential). */
export class IdAllocator {
  #next = Math.floor(Math.random() * 0x10000);

  /** An id not in `inUse`; throws when all 65536 are taken. */
  take(inUse: { has(id: number): boolean; size: number }): number {
    if (inUse.size >= 0x10000) throw new RangeError("all 65536 DNS message ids are in flight");
    for (;;) {
      const id = this.#next;
      this.#next = (this.#next + 1) & 0xffff;
      if (!inUse.has(id)) return id;
    }
  }
}
