/**
 * The `local` DNS server: the system resolver's configuration, queried from the reactor (no
 * thread hop through `getaddrinfo` or `Deno.resolveDns`).
 *
 * - A/AAAA questions for names in the hosts file (`/etc/hosts`) are answered from it first
 *   (TTL 600 s), as the system resolver does.
 * - Otherwise the `nameserver` lines of `/etc/resolv.conf` (at most three, as glibc; none means
 *   127.0.0.1 and ::1) are asked in order over UDP (TCP for truncated answers) through the
 *   server's direct dial fields, each with an equal share of the remaining time. An answer other
 *   than SERVFAIL/REFUSED ends the search, as glibc's resolver does.
 *
 * Both files are re-read when they change (checked at most every 5 s). Not implemented:
 * `search`/`domain` suffixes, `options` (`ndots`, `timeout`, `attempts`, `rotate`), and
 * `prefer_go` (there is only this implementation).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Reactor } from "../io/reactor.ts";
import { parseIp } from "../net/ip.ts";
import type { Dialer } from "../outbound/mod.ts";
import { DEFAULT_HOSTS_PATH, HOSTS_RECHECK_MS, HostsFile } from "./hosts_file.ts";
import { HOSTS_TTL } from "./transport_hosts.ts";
import { dnsTimeout, type DnsTransport, ServerAddress } from "./transport.ts";
import { TcpTransport } from "./transport_tcp.ts";
import { UdpTransport } from "./transport_udp.ts";
import {
  addressResponse,
  messageRcode,
  parseMessage,
  RCODE_REFUSED,
  RCODE_SERVFAIL,
  TYPE_A,
  TYPE_AAAA,
} from "../net/dns/wire.ts";

const log = getLogger(["tunbox", "dns"]);

/** The default resolver configuration file. */
export const DEFAULT_RESOLV_CONF = "/etc/resolv.conf";
/** glibc's MAXNS. */
export const MAX_NAMESERVERS = 3;

/** Parses the `nameserver` lines of resolv.conf text (first three; zone ids dropped). */
export function parseResolvConf(text: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*/, "").trim();
    const m = /^nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const addr = parseIp(m[1]!);
    if (addr && out.length < MAX_NAMESERVERS) out.push(addr);
  }
  return out;
}

/** Where the local transport reads the system configuration (tests point elsewhere). */
export interface LocalPaths {
  /** Default `/etc/resolv.conf`. */
  resolvConf?: string;
  /** Default `/etc/hosts`. */
  hosts?: string;
  /** Port of the nameservers; default 53 (resolv.conf has no port syntax). */
  nameserverPort?: number;
}

/** A `local` DNS server. */
export class LocalTransport implements DnsTransport {
  readonly type = "local";
  readonly #hosts: HostsFile;
  readonly #resolvConf: string;
  readonly #port: number;
  #servers: UdpTransport[] = [];
  #serversKey = "";
  #checkedAt = -Infinity;
  #mtime: number | null = null;

  constructor(
    readonly tag: string,
    readonly reactor: Reactor,
    readonly dialer: Dialer,
    paths: LocalPaths = {},
  ) {
    this.#hosts = new HostsFile(paths.hosts ?? DEFAULT_HOSTS_PATH, () => reactor.now());
    this.#resolvConf = paths.resolvConf ?? DEFAULT_RESOLV_CONF;
    this.#port = paths.nameserverPort ?? 53;
  }

  get name(): string {
    return `DNS server "${this.tag}"`;
  }

  /** The nameservers in use (re-reading resolv.conf when it changed). */
  nameservers(): readonly UdpTransport[] {
    const now = this.reactor.now();
    if (now - this.#checkedAt < HOSTS_RECHECK_MS && this.#servers.length > 0) return this.#servers;
    this.#checkedAt = now;
    let addrs: Uint8Array[] = [];
    let mtime: number | null = null;
    try {
      mtime = Deno.statSync(this.#resolvConf).mtime?.getTime() ?? 0;
      if (mtime === this.#mtime && this.#servers.length > 0) return this.#servers;
      addrs = parseResolvConf(Deno.readTextFileSync(this.#resolvConf));
    } catch (error) {
      log.debug("{name}: cannot read {path}: {error}", {
        name: this.name,
        path: this.#resolvConf,
        error: String(error),
      });
    }
    this.#mtime = mtime;
    if (addrs.length === 0) {
      addrs = [new Uint8Array([127, 0, 0, 1]), parseIp("::1")!];
    }
    const key = addrs.map((a) => a.join(",")).join(";");
    if (key !== this.#serversKey) {
      for (const s of this.#servers) s.close();
      this.#servers = addrs.map((addr) => {
        const server = new ServerAddress(this.name, { addr }, this.#port, this.reactor);
        const tcp = new TcpTransport(this.tag, this.reactor, this.dialer, server, "local");
        return new UdpTransport(this.tag, this.reactor, this.dialer, server, tcp, "local");
      });
      this.#serversKey = key;
    }
    return this.#servers;
  }

  async exchange(query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const layout = parseMessage(query);
    const q = layout.questions[0];
    if (q && (q.type === TYPE_A || q.type === TYPE_AAAA)) {
      const addrs = this.#hosts.lookup(q.name);
      if (addrs.length > 0) return addressResponse(query, layout, addrs, HOSTS_TTL);
    }
    const servers = this.nameservers();
    const deadline = this.reactor.now() + timeoutMs;
    let last: unknown = null;
    for (let i = 0; i < servers.length; i++) {
      const remaining = deadline - this.reactor.now();
      if (remaining <= 0) break;
      const share = Math.max(1, Math.ceil(remaining / (servers.length - i)));
      try {
        const answer = await servers[i]!.exchange(query, share);
        const rcode = messageRcode(answer);
        if ((rcode === RCODE_SERVFAIL || rcode === RCODE_REFUSED) && i < servers.length - 1) {
          last = answer;
          continue;
        }
        return answer;
      } catch (error) {
        last = error;
      }
    }
    if (last instanceof Uint8Array) return last;
    throw last ?? dnsTimeout(`${this.name}: exchange`, timeoutMs);
  }

  close(): void {
    for (const s of this.#servers) s.close();
    this.#servers = [];
    this.#serversKey = "";
  }
}
