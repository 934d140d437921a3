/**
 * The `dhcp` DNS server (sing-box `dns/transport/dhcp`): the DNS servers of an interface's DHCP
 * lease. A DHCPDISCOVER is broadcast on the interface (`interface`, else the default interface
 * of `route.auto_detect_interface`) from port 68 with a socket bound to it; the OFFER's option 6
 * lists the servers. They are kept for {@linkcode DHCP_TTL_MS} (an hour, as sing-box) and asked
 * again sooner when the default interface changes. Queries go to the first server over UDP (TCP
 * for truncated answers), then to the next on failure, through a direct dial bound to the
 * interface (the server's own dial fields win).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import type { DialOptions } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import { UdpSocket, WOULD_BLOCK } from "../io/socket.ts";
import { formatIp } from "../net/ip.ts";
import { DirectDialer } from "../outbound/direct_dialer.ts";
import type { DialContext } from "../outbound/mod.ts";
import type { NetworkInterface } from "../platform/mod.ts";
import {
  decodeDhcp,
  DHCP_CLIENT_PORT,
  DHCP_OFFER,
  DHCP_SERVER_PORT,
  encodeDiscover,
} from "./dhcp_wire.ts";
import { type DnsTransport, ServerAddress } from "./transport.ts";
import { TcpTransport } from "./transport_tcp.ts";
import { UdpTransport } from "./transport_udp.ts";

const log = getLogger(["tunbox", "dns"]);

/** How long the servers of a lease are used before asking again (sing-box `C.DHCPTTL`). */
export const DHCP_TTL_MS = 3_600_000;
/** How long to wait for an offer (sing-box `C.DHCPTimeout`). */
export const DHCP_TIMEOUT_MS = 5_000;
/** Between two DISCOVERs while waiting. */
const DHCP_RETRY_MS = 1_000;

/** What the transport needs besides its tag. */
export interface DhcpOptions {
  /** The interface to ask on; absent: the default interface. */
  interface?: string;
  /** The server's dial fields (for the queries to the servers found). */
  dial: DialOptions;
  /** Overrides {@linkcode DHCP_TTL_MS} (tests). */
  ttlMs?: number;
  /** Overrides {@linkcode DHCP_TIMEOUT_MS} (tests). */
  timeoutMs?: number;
}

interface Lease {
  iface: string;
  servers: Uint8Array[];
  at: number;
  transports: UdpTransport[];
}

/** A `dhcp` DNS server. */
export class DhcpTransport implements DnsTransport {
  readonly type = "dhcp";
  readonly name: string;
  #lease: Lease | null = null;
  #fetching: Promise<Lease> | null = null;
  #closed = false;
  /** DISCOVERs sent so far (tests and diagnostics). */
  discovers = 0;

  constructor(
    readonly tag: string,
    readonly reactor: Reactor,
    readonly ctx: DialContext,
    readonly options: DhcpOptions,
  ) {
    this.name = `DNS server "${tag}"`;
  }

  /** The servers of the current lease (empty before the first query). */
  get servers(): readonly Uint8Array[] {
    return this.#lease?.servers ?? [];
  }

  #interface(): NetworkInterface {
    const platform = this.ctx.platform;
    if (this.options.interface) {
      if (!platform) throw new TypeError(`${this.name}: no platform to find interfaces`);
      const name = this.options.interface;
      return { name, index: platform.interfaceIndex(name) };
    }
    const def = this.ctx.defaultInterface?.() ?? null;
    if (!def) {
      throw new TypeError(
        `${this.name}: no interface to ask; set "interface" or route.auto_detect_interface`,
      );
    }
    return def;
  }

  /** The lease to use now: the kept one, or a new one when it is old or the interface changed. */
  #current(): Promise<Lease> {
    const iface = this.#interface();
    const lease = this.#lease;
    const ttl = this.options.ttlMs ?? DHCP_TTL_MS;
    if (lease && lease.iface === iface.name && this.reactor.now() - lease.at < ttl) {
      return Promise.resolve(lease);
    }
    if (this.#fetching) return this.#fetching;
    this.#fetching = this.#discover(iface).then((servers) => {
      const old = this.#lease;
      const same = old && old.iface === iface.name &&
        old.servers.map(formatIp).join() === servers.map(formatIp).join();
      if (same) {
        old.at = this.reactor.now();
        return old;
      }
      for (const t of old?.transports ?? []) t.close();
      log.info("{name}: DNS servers from the DHCP lease on {iface}: {servers}", {
        name: this.name,
        iface: iface.name,
        servers: servers.map(formatIp).join(", "),
      });
      const next: Lease = {
        iface: iface.name,
        servers,
        at: this.reactor.now(),
        transports: servers.map((addr) => this.#transportTo(addr, iface)),
      };
      this.#lease = next;
      return next;
    }).finally(() => {
      this.#fetching = null;
    });
    return this.#fetching;
  }

  #transportTo(addr: Uint8Array, iface: NetworkInterface): UdpTransport {
    const dial: DialOptions = { ...this.options.dial };
    if (dial.bind_interface === undefined && dial.detour === undefined) {
      dial.bind_interface = iface.name;
    }
    const dialer = new DirectDialer(this.name, dial, this.ctx);
    const server = new ServerAddress(this.name, { addr }, 53, this.reactor);
    const tcp = new TcpTransport(this.tag, this.reactor, dialer, server, "dhcp");
    return new UdpTransport(this.tag, this.reactor, dialer, server, tcp, "dhcp");
  }

  /** Broadcasts DISCOVERs on `iface` until an OFFER with DNS servers arrives. */
  #discover(iface: NetworkInterface): Promise<Uint8Array[]> {
    const what = `${this.name}: DHCP on ${iface.name}`;
    const platform = this.ctx.platform;
    const mac = platform?.hardwareAddress?.(iface.name) ?? randomMac();
    const xid = crypto.getRandomValues(new Uint32Array(1))[0]!;
    let sock: UdpSocket;
    try {
      sock = UdpSocket.open(
        this.reactor,
        4,
        {
          bindInterface: iface,
          ...(platform ? { platform } : {}),
          reuseAddr: true,
          broadcast: true,
        },
        { addr: new Uint8Array(4), port: DHCP_CLIENT_PORT },
      );
    } catch (error) {
      return Promise.reject(
        new TypeError(`${what}: open port ${DHCP_CLIENT_PORT}: ${(error as Error).message}`, {
          cause: error,
        }),
      );
    }
    const discover = encodeDiscover(xid, mac);
    const broadcast: SockAddr = {
      addr: new Uint8Array([255, 255, 255, 255]),
      port: DHCP_SERVER_PORT,
    };
    return new Promise<Uint8Array[]>((resolve, reject) => {
      const buf = new Uint8Array(1500);
      const from: SockAddr = { addr: new Uint8Array(4), port: 0 };
      let retry: { cancel(): void } | null = null;
      const finish = (error: Error | null, servers?: Uint8Array[]) => {
        timer.cancel();
        retry?.cancel();
        sock.close();
        if (error) reject(error);
        else resolve(servers!);
      };
      const send = () => {
        if (this.#closed) return finish(new TypeError(`${this.name}: transport closed`));
        try {
          sock.sendTo(discover, broadcast);
          this.discovers++;
        } catch (error) {
          return finish(new TypeError(`${what}: send: ${(error as Error).message}`));
        }
        retry = this.reactor.setTimeout(DHCP_RETRY_MS, send);
      };
      const timeoutMs = this.options.timeoutMs ?? DHCP_TIMEOUT_MS;
      const timer = this.reactor.setTimeout(timeoutMs, () => {
        finish(new TypeError(`${what}: no offer with DNS servers within ${timeoutMs} ms`));
      });
      sock.onReadable = () => {
        for (;;) {
          let n: number;
          try {
            n = sock.recvFrom(buf, from);
          } catch {
            return;
          }
          if (n === WOULD_BLOCK) return;
          const reply = decodeDhcp(buf.subarray(0, n));
          if (!reply || reply.xid !== xid || reply.type !== DHCP_OFFER) continue;
          if (reply.dnsServers.length === 0) {
            log.warn("{what}: offer from {from} names no DNS server", {
              what,
              from: formatIp(from.addr),
            });
            continue;
          }
          return finish(null, reply.dnsServers);
        }
      };
      send();
    });
  }

  async exchange(query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const deadline = this.reactor.now() + timeoutMs;
    const lease = await this.#current();
    let last: unknown = null;
    for (const t of lease.transports) {
      const remaining = Math.ceil(deadline - this.reactor.now());
      if (remaining <= 0) break;
      try {
        return await t.exchange(query, remaining);
      } catch (error) {
        last = error;
      }
    }
    throw last ?? new TypeError(`${this.name}: no DNS server answered`);
  }

  close(): void {
    this.#closed = true;
    for (const t of this.#lease?.transports ?? []) t.close();
    this.#lease = null;
  }
}

/** A random locally administered unicast MAC, when the interface's own is unknown. */
function randomMac(): Uint8Array {
  const mac = crypto.getRandomValues(new Uint8Array(6));
  mac[0] = (mac[0]! & 0xfe) | 0x02;
  return mac;
}
