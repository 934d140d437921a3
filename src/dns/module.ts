/**
 * tunbox's DNS module: servers (transports), rules, cache, FakeIP and the answers to hijacked
 * queries, on a worker's reactor.
 *
 * ```ts
 * const dns = createDns(options, { reactor, outbounds, defaultOutbound, ctx });
 * ctx.resolve = (domain, strategy) => dns.lookup(domain, strategy);
 * const answer = await dns.handleQuery(udpPayload, meta); // null: drop
 * ```
 *
 * Servers (`dns.servers`), by type:
 * - `udp`, `tcp`: through an outbound. Typed servers dial directly with their own dial fields
 *   (`bind_interface`, `routing_mark`, ...) unless `detour` names an outbound; servers written
 *   in the legacy `address` form without `detour` go through the default outbound (route.final
 *   or the first outbound), as sing-box does: for a `socks` default outbound a `udp` server is
 *   reached with UDP ASSOCIATE. A server given by name is resolved with its `domain_resolver`
 *   (else `route.default_domain_resolver`).
 * - `tls` (DNS over TLS, port 853): the `tcp` transport over tunbox's TLS client, same dialers.
 * - `https` (DNS over HTTPS, port 443): POST or GET to `path` over HTTP/2 or HTTP/1.1 keep-alive,
 *   same dialers; the `Host` header (else `tls.server_name`, else `server`) names the site.
 * - `local`: `/etc/hosts`, then the `/etc/resolv.conf` nameservers over a direct dial.
 * - `hosts`, `fakeip`: answered in process.
 * - `dhcp`: the DNS servers of an interface's DHCP lease (a DISCOVER on the interface), over UDP.
 * - `h3` (DNS over HTTP/3): tunbox has no QUIC, so it is the `https` transport to the same
 *   address, port, path and headers over TCP+TLS (HTTP/2 or HTTP/1.1), with its verdict's
 *   warning (`support.ts`); a `tls.alpn` written for QUIC (`h3`) is replaced.
 * - `quic`, `resolved`, `tailscale`: not implemented; creating the module
 *   throws a TypeError naming the server (its verdict in `support.ts`).
 *
 * With no servers, a `local` server (tag `local`) is the default, as in sing-box.
 *
 * @module
 */

import { type SharedDnsMemory, SharedRdrc, SharedReverseMap } from "./shared_names.ts";
import { DEFAULT_RDRC_TIMEOUT_MS } from "../store/cache_file.ts";
import { featureId, verdict } from "../config/support.ts";
import type { DnsServerOptions, DomainStrategy, Options } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import { parseIp } from "../net/ip.ts";
import { DirectDialer } from "../outbound/direct_dialer.ts";
import type { DialContext, Dialer, Outbound, ResolveRequest } from "../outbound/mod.ts";
import type { ConnMetadata } from "../route/metadata.ts";
import { DnsClient } from "./client.ts";
import { DnsHijacker } from "./hijack.ts";
import { domainProblem } from "../net/dns/packet.ts";
import { DnsRouter, type ServerEntry } from "./router.ts";
import { compileDnsRules } from "./rule.ts";
import type { RuleSetLookup } from "../route/match_state.ts";
import { type DnsTransport, ServerAddress } from "./transport.ts";
import { FakeIpTransport } from "./transport_fakeip.ts";
import { HostsTransport } from "./transport_hosts.ts";
import { type LocalPaths, LocalTransport } from "./transport_local.ts";
import { TcpTransport } from "./transport_tcp.ts";
import { createTlsTransport, DOT_PORT } from "./transport_tls.ts";
import type { HttpsRequestOptions } from "./transport_https.ts";
import { lazyHttpsTransport } from "./transport_lazy.ts";
import { DhcpTransport } from "./transport_dhcp.ts";
import type { TlsClientConfig } from "../tls/client.ts";
import { tlsClientConfig } from "../tls/options.ts";
import { UdpTransport } from "./transport_udp.ts";

/** Default server ports by type (sing-box's). */
const DEFAULT_PORTS: Partial<Record<string, number>> = {
  tls: DOT_PORT,
  https: 443,
  quic: 853,
  h3: 443,
};

/** What the DNS module needs from the worker that runs it. */
export interface DnsEnv {
  reactor: Reactor;
  /** Outbounds by tag (for `detour` and the default outbound). */
  outbounds: ReadonlyMap<string, Outbound>;
  /** Tag of the default outbound (route.final, else the first outbound). */
  defaultOutbound: string;
  /** Context for direct dials (platform, default interface, mark). */
  ctx: DialContext;
  /** Where `local` servers read the system configuration (tests). */
  localPaths?: LocalPaths;
  /** Millisecond clock for the cache and reverse mapping (tests); default the reactor's. */
  now?: () => number;
  /**
   * FakeIP and reverse-mapping memory shared by every worker of the instance (made by the main
   * thread with `createSharedDnsMemory`); without it those tables are private to this module.
   */
  shared?: SharedDnsMemory;
  /** The rule-sets DNS rules' `rule_set` items name (shared with the router). */
  ruleSets?: RuleSetLookup;
}

/** The running DNS module. */
export interface DnsModule {
  /** Answers a hijacked query (`meta`: the flow's metadata); null: drop it. Never throws. */
  handleQuery(query: Uint8Array, meta: ConnMetadata): Promise<Uint8Array | null>;
  /**
   * Resolves a domain for tunbox itself (plug into `DialContext.resolve`). IP literals are
   * returned as they are. Rejects when nothing was found.
   */
  lookup(
    domain: string,
    strategy?: DomainStrategy,
    request?: ResolveRequest,
  ): Promise<Uint8Array[]>;
  /** The domain an address was answered for (`dns.reverse_mapping`), or undefined. */
  lookupReverse(addr: Uint8Array): string | undefined;
  /** The domain a FakeIP address stands for, or undefined (unknown or not a fake address). */
  lookupFake(addr: Uint8Array): string | undefined;
  /** True when `addr` lies in the FakeIP server's ranges. */
  isFakeIp(addr: Uint8Array): boolean;
  /** Forgets every cached answer (the Clash mode changed, as sing-box's `ClearCache`). */
  clearCache(): void;
  /** Problems that did not stop the module (unsupported rule items, ...). */
  readonly warnings: readonly string[];
  /** The router (tests and diagnostics). */
  readonly router: DnsRouter;
  close(): void;
}

/**
 * The message for a server type tunbox does not implement: its verdict (`support.ts`), which
 * `check` reports at the server's "type".
 */
export function unsupportedServerMessage(tag: string, type: string): string {
  const id = featureId("dns.server", type);
  const why = id ? verdict(id).message : `DNS server type "${type}" is unknown`;
  return `DNS server "${tag}": ${why}`;
}

/**
 * Builds the DNS module from decoded options. Throws TypeError naming the server or rule for
 * configurations it cannot run (unsupported server types, missing tags, a FakeIP default
 * server, ...).
 */
export function createDns(options: Options, env: DnsEnv): DnsModule {
  const dns = options.dns;
  const now = env.now ?? (() => env.reactor.now());
  const warnings: string[] = [];
  const transports: DnsTransport[] = [];
  const servers = new Map<string, ServerEntry>();
  let router: DnsRouter | null = null;
  let fake: FakeIpTransport | null = null;

  const fail = (message: string): never => {
    for (const t of transports) t.close();
    throw new TypeError(message);
  };

  /** Servers named by a domain their detour resolves (lower-cased name → tags). */
  const passThrough = new Map<string, string[]>();

  const dialerFor = (s: DnsServerOptions): Dialer => {
    const name = `DNS server "${s.tag}"`;
    if (s.detour) {
      const o = env.outbounds.get(s.detour);
      if (!o) return fail(`${name}: detour outbound "${s.detour}" not found`);
      if (s.type === "udp" && !o.networks.has("udp")) {
        warnings.push(`${name}: detour outbound "${s.detour}" does not carry UDP`);
      }
      return o;
    }
    if (s.legacy && s.type !== "local") {
      const o = env.outbounds.get(env.defaultOutbound);
      if (!o) return fail(`${name}: default outbound "${env.defaultOutbound}" not found`);
      if (s.type === "udp" && !o.networks.has("udp")) {
        warnings.push(`${name}: the default outbound "${o.tag}" does not carry UDP`);
      }
      return o;
    }
    return new DirectDialer(name, s, env.ctx, options.route);
  };

  const addressOf = (s: DnsServerOptions): ServerAddress => {
    const name = `DNS server "${s.tag}"`;
    const host = s.server ?? "";
    const port = s.server_port ?? DEFAULT_PORTS[s.type] ?? 53;
    const literal = parseIp(host.startsWith("[") ? host.slice(1, -1) : host);
    if (literal) return new ServerAddress(name, { addr: literal }, port, env.reactor);
    if (host === "") return fail(`${name}: missing server address`);
    const resolver = s.domain_resolver ?? options.route.default_domain_resolver;
    if (!resolver && s.detour) {
      // The detour outbound gets the name (sing-box: a detour dials the domain as it is). The
      // server is not used to look up its own name: that would loop through itself.
      const key = host.toLowerCase();
      passThrough.set(key, [...passThrough.get(key) ?? [], s.tag]);
      return new ServerAddress(name, { domain: host }, port, env.reactor);
    }
    if (!resolver) {
      return fail(
        `${name}: server "${host}" is a domain name; set "domain_resolver" to a DNS server that resolves it`,
      );
    }
    if (resolver.server === s.tag) {
      return fail(`${name}: domain_resolver cannot be the server itself`);
    }
    const strategy = resolver.strategy ?? "";
    return new ServerAddress(name, { domain: host }, port, env.reactor, (domain) => {
      if (!router) return Promise.reject(new TypeError(`${name}: DNS is not started`));
      return router.lookup(domain, strategy, resolver.server);
    });
  };

  /** `alpn` is offered unless `tls.alpn` is set (`force`: always). */
  const tlsFor = (s: DnsServerOptions, alpn?: string[], force = false): TlsClientConfig => {
    const tls = s.tls ?? {};
    try {
      return tlsClientConfig(
        alpn && (force || !(tls.alpn && tls.alpn.length > 0)) ? { ...tls, alpn } : tls,
        s.server ?? "",
        env.ctx.certificate,
        `DNS server "${s.tag}"`,
      );
    } catch (error) {
      return fail((error as Error).message);
    }
  };

  /** What an `https` server is asked: sing-box's URL (Host header, else server_name/server). */
  const httpsRequest = (s: DnsServerOptions): HttpsRequestOptions => {
    const headers: [string, string][] = [];
    let host = "";
    for (const [k, values] of Object.entries(s.headers ?? {})) {
      for (const v of values) {
        if (/[\r\n]/.test(k + v) || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) {
          return fail(`DNS server "${s.tag}": invalid header ${JSON.stringify(`${k}: ${v}`)}`);
        }
        if (k.toLowerCase() === "host") host ||= v;
        else headers.push([k.toLowerCase(), v]);
      }
    }
    if (host === "") host = s.tls?.server_name || (s.server ?? "");
    const bracketed = parseIp(host)?.length === 16 ? `[${host}]` : host;
    const port = s.server_port ?? 443;
    const authority = port === 443 ? bracketed : `${bracketed}:${port}`;
    let path = s.path || "/dns-query";
    if (!path.startsWith("/")) path = `/${path}`;
    return { authority, path, method: s.method ?? "POST", headers };
  };

  const create = (s: DnsServerOptions): DnsTransport => {
    const id = featureId("dns.server", s.type);
    // A warning runs the server another way (h3 as https); an error cannot run it.
    if (!id || verdict(id).level === "error") return fail(unsupportedServerMessage(s.tag, s.type));
    switch (s.type) {
      case "udp": {
        const dialer = dialerFor(s);
        const address = addressOf(s);
        const tcp = new TcpTransport(s.tag, env.reactor, dialer, address, "udp");
        return new UdpTransport(s.tag, env.reactor, dialer, address, tcp);
      }
      case "tcp":
        return new TcpTransport(s.tag, env.reactor, dialerFor(s), addressOf(s));
      case "tls":
        return createTlsTransport(s.tag, env.reactor, dialerFor(s), addressOf(s), tlsFor(s));
      case "quic":
        // Its verdict's fallback: DNS over TLS to the same address and port, without DoQ's ALPN.
        return createTlsTransport(
          s.tag,
          env.reactor,
          dialerFor(s),
          addressOf(s),
          tlsFor(s, [], true),
        );
      case "https":
      case "h3": {
        // Checked now; node:http2 and TLS are imported by the first query (transport_lazy.ts).
        const args = [
          s.tag,
          env.reactor,
          dialerFor(s),
          addressOf(s),
          tlsFor(s, ["h2", "http/1.1"], s.type === "h3"),
          httpsRequest(s),
        ] as const;
        return lazyHttpsTransport(...args);
      }
      case "dhcp":
        return new DhcpTransport(s.tag, env.reactor, env.ctx, {
          ...(s.interface ? { interface: s.interface } : {}),
          dial: s,
        });
      case "local":
        return new LocalTransport(s.tag, env.reactor, dialerFor(s), env.localPaths);
      case "hosts":
        return new HostsTransport(s.tag, env.reactor, s.hosts_path, s.predefined);
      case "fakeip": {
        if (fake) {
          return fail(`DNS server "${s.tag}": multiple fakeip servers are not supported`);
        }
        try {
          fake = new FakeIpTransport(s.tag, s.inet4_range, s.inet6_range, env.shared);
        } catch (error) {
          return fail((error as Error).message);
        }
        return fake;
      }
      default:
        return fail(unsupportedServerMessage(s.tag, s.type));
    }
  };

  const list = dns.servers.length > 0 ? dns.servers : [
    {
      type: "local",
      tag: "local",
      headers: {},
      hosts_path: [],
      predefined: {},
    } as DnsServerOptions,
  ];
  for (const s of list) {
    if (servers.has(s.tag)) fail(`DNS server "${s.tag}": duplicate tag`);
    const transport = create(s);
    transports.push(transport);
    servers.set(s.tag, {
      transport,
      strategy: s.legacy ? s.strategy ?? "" : "",
      clientSubnet: s.legacy ? s.client_subnet : undefined,
    });
  }
  // A server resolved by name through a chain of domain_resolvers must not reach itself.
  const byTag = new Map(list.map((s) => [s.tag, s]));
  for (const s of list) {
    const seen = [s.tag];
    for (let cur = s; cur.server && !parseIp(cur.server) && cur.type !== "local";) {
      const next = cur.domain_resolver?.server ?? options.route.default_domain_resolver?.server;
      const target = next === undefined ? undefined : byTag.get(next);
      if (!target) break;
      if (seen.includes(target.tag)) {
        fail(`DNS server "${s.tag}": domain_resolver cycle: ${[...seen, target.tag].join(" → ")}`);
      }
      seen.push(target.tag);
      cur = target;
    }
  }
  const defaultTag = dns.final !== undefined && dns.final !== "" ? dns.final : list[0]!.tag;
  const def = servers.get(defaultTag);
  if (!def) fail(`dns.final: DNS server "${defaultTag}" not found`);
  if (def!.transport.type === "fakeip") {
    fail(`dns.final: default DNS server "${defaultTag}" cannot be fakeip`);
  }
  let rules;
  try {
    rules = compileDnsRules(dns.rules, warnings, env.ruleSets);
  } catch (error) {
    return fail((error as Error).message);
  }
  for (const r of rules) {
    if (r.action.kind === "route" && !servers.has(r.action.server)) {
      fail(`dns.rules[${r.index}]: DNS server "${r.action.server}" not found`);
    }
  }
  const client = new DnsClient({
    now,
    ...(dns.disable_cache !== undefined ? { disableCache: dns.disable_cache } : {}),
    ...(dns.disable_expire !== undefined ? { disableExpire: dns.disable_expire } : {}),
    ...(dns.independent_cache !== undefined ? { independentCache: dns.independent_cache } : {}),
    ...(dns.cache_capacity !== undefined ? { cacheCapacity: dns.cache_capacity } : {}),
    ...(dns.timeout !== undefined ? { timeoutMs: dns.timeout } : {}),
    ...(dns.client_subnet !== undefined ? { clientSubnet: dns.client_subnet } : {}),
    ...(env.shared?.rdrc
      ? {
        rdrc: new SharedRdrc(
          env.shared.rdrc,
          options.experimental.cache_file?.rdrc_timeout || DEFAULT_RDRC_TIMEOUT_MS,
        ),
      }
      : {}),
  });
  const r = new DnsRouter({
    servers,
    defaultServer: defaultTag,
    rules,
    strategy: dns.strategy ?? "",
    client,
    reverseMapping: dns.reverse_mapping === true,
    ...(env.shared?.reverse ? { sharedReverse: new SharedReverseMap(env.shared.reverse) } : {}),
    now,
  });
  router = r;
  const hijacker = new DnsHijacker(r);
  // Not logged: `run` has printed these already, at their positions (src/config/).
  const fakeStore = (fake as FakeIpTransport | null)?.store ?? null;

  return {
    warnings,
    router: r,
    handleQuery: (query, meta) => hijacker.handleQuery(query, meta),
    lookup(domain, strategy = "", request = {}) {
      const bare = domain.startsWith("[") && domain.endsWith("]") ? domain.slice(1, -1) : domain;
      const literal = parseIp(bare);
      if (literal) return Promise.resolve([literal]);
      const name = domain.endsWith(".") ? domain.slice(0, -1) : domain;
      const problem = domainProblem(name);
      if (problem) {
        return Promise.reject(new TypeError(`lookup ${JSON.stringify(domain)}: ${problem}`));
      }
      if (request.server !== undefined) return r.lookup(name, strategy, request.server);
      return r.lookup(
        name,
        strategy,
        undefined,
        passThrough.get(name.toLowerCase()),
        request.outbound,
      );
    },
    lookupReverse: (addr) => r.lookupReverse(addr),
    lookupFake: (addr) => fakeStore?.lookup(addr),
    isFakeIp: (addr) => fakeStore?.contains(addr) ?? false,
    clearCache: () => client.clear(),
    close() {
      for (const t of transports) t.close();
    },
  };
}
