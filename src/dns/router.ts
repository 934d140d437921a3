/**
 * The DNS router (sing-box `dns/router.go`, 1.12/1.13): picks a server for each request by the
 * DNS rules, and keeps the reverse mapping.
 *
 * Rule evaluation: rules are tried in order; `route-options` accumulates options and goes on;
 * `route` picks its server (a FakeIP server is skipped for the product's own lookups), `reject`
 * and `predefined` answer at once. No match: the default server (`dns.final`, else the first
 * server). Options not set by a rule come from a legacy server's own `strategy`/`client_subnet`,
 * then from `dns.strategy`. When a rule with an address filter refuses the answer, evaluation
 * resumes after that rule.
 *
 * - {@linkcode DnsRouter.exchange} answers a whole query (hijacked DNS). The cache is consulted
 *   after the rules picked a server, as sing-box does since 1.13 (a FakeIP rule never answers
 *   from the cache). `reject` answers REFUSED (`method: default`) or drops (`drop`: null).
 * - {@linkcode DnsRouter.lookup} resolves a domain for tunbox itself (dialing a domain, a DNS
 *   server's own name). Its requests carry no flow metadata and no query type, so rules on
 *   `inbound`, `network`, `query_type`... do not match them, as in sing-box.
 * - With `dns.reverse_mapping`, addresses of A/AAAA answers to exchanged queries (not FakeIP
 *   ones) map back to their owner name for the answer's TTL; {@linkcode DnsRouter.lookupReverse}
 *   reads it (1024 entries, LRU).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DomainStrategy, Network, Prefix } from "../config/types.ts";
import { formatIp } from "../net/ip.ts";
import { type ConnMetadata, newConnMetadata } from "../route/metadata.ts";
import { ExpiringLru } from "./cache.ts";
import {
  type DnsClient,
  DnsRcodeError,
  type Query,
  type QueryOptions,
  ResponseRejected,
  sortAddresses,
} from "./client.ts";
import { rcodeName, typeName } from "../net/dns/packet.ts";
import type { CompiledDnsRule } from "./rule.ts";
import type { DnsTransport } from "./transport.ts";
import {
  parseMessage,
  RCODE_FORMERR,
  RCODE_REFUSED,
  statusResponse,
  TYPE_A,
  TYPE_AAAA,
  TYPE_HTTPS,
} from "../net/dns/wire.ts";

const log = getLogger(["tunbox", "dns"]);

/** Size of the reverse mapping (sing-box: 1024). */
export const REVERSE_MAPPING_CAPACITY = 1024;

/** A configured server and its legacy per-server options. */
export interface ServerEntry {
  transport: DnsTransport;
  /** Legacy `strategy` of the server ("" when unset). */
  strategy: DomainStrategy;
  /** Legacy `client_subnet` of the server. */
  clientSubnet?: Prefix | undefined;
}

/** Router construction options. */
export interface DnsRouterOptions {
  servers: ReadonlyMap<string, ServerEntry>;
  /** Tag of the default server. */
  defaultServer: string;
  rules: readonly CompiledDnsRule[];
  /** `dns.strategy`. */
  strategy: DomainStrategy;
  client: DnsClient;
  reverseMapping: boolean;
  /** A reverse map shared by every worker (see `shared_names.ts`); default: a private LRU. */
  sharedReverse?: ReverseMap;
  now: () => number;
}

interface Match {
  entry: ServerEntry | null;
  rule: CompiledDnsRule | null;
  index: number;
}

const EMPTY = new Uint8Array(0);

function describeQuestion(name: string, qtype: number): string {
  return `${name}. IN ${typeName(qtype)}`;
}

/** Where the reverse mapping lives: a private LRU, or memory shared by every worker. */
export interface ReverseMap {
  set(addr: Uint8Array, domain: string, ttlMs: number): void;
  get(addr: Uint8Array): string | undefined;
}

function lruReverseMap(lru: ExpiringLru<string, string>): ReverseMap {
  return {
    set: (addr, domain, ttlMs) => lru.set(formatIp(addr), domain, ttlMs),
    get: (addr) => lru.get(formatIp(addr)),
  };
}

/** Server types reached over the network, whose failures the next server may make up for. */
const REMOTE_TYPES = new Set(["udp", "tcp", "tls", "https", "quic", "h3", "dhcp"]);

/**
 * Whether a failed exchange goes on to the next server the rules give: when a remote server
 * itself failed (unreachable, TLS refused, timed out, answered garbage), not when it answered,
 * and only from a rule (the default server is the last resort). sing-box answers SERVFAIL here;
 * tunbox tries the next matching rule, then the default server, each server once. In-process
 * servers (fakeip, hosts) refuse what they cannot answer: that stays a SERVFAIL, so a FakeIP
 * rule never leaks a query to a real server.
 */
function fallsThrough(
  error: unknown,
  rule: CompiledDnsRule | null,
  transport: DnsTransport,
): boolean {
  if (rule === null || !REMOTE_TYPES.has(transport.type)) return false;
  return !(error instanceof ResponseRejected) && !(error instanceof DnsRcodeError);
}

/** Routes DNS requests to servers. */
export class DnsRouter {
  readonly #servers: ReadonlyMap<string, ServerEntry>;
  readonly #default: ServerEntry;
  readonly #rules: readonly CompiledDnsRule[];
  readonly #strategy: DomainStrategy;
  readonly #client: DnsClient;
  readonly #reverse: ReverseMap | null;

  constructor(options: DnsRouterOptions) {
    const def = options.servers.get(options.defaultServer);
    if (!def) throw new TypeError(`default DNS server "${options.defaultServer}" not found`);
    this.#servers = options.servers;
    this.#default = def;
    this.#rules = options.rules;
    this.#strategy = options.strategy;
    this.#client = options.client;
    this.#reverse = !options.reverseMapping ? null : options.sharedReverse ??
      lruReverseMap(new ExpiringLru(REVERSE_MAPPING_CAPACITY, options.now));
  }

  #applyLegacy(entry: ServerEntry, options: QueryOptions): void {
    if (options.strategy === "") options.strategy = entry.strategy;
    if (options.clientSubnet === undefined && entry.clientSubnet) {
      options.clientSubnet = entry.clientSubnet;
    }
  }

  #match(
    meta: ConnMetadata,
    qtype: number,
    after: number,
    allowFakeIp: boolean,
    addressQuery: boolean,
    options: QueryOptions,
  ): Match {
    for (let i = after + 1; i < this.#rules.length; i++) {
      const rule = this.#rules[i]!;
      if (rule.addressLimited && !addressQuery) continue;
      if (!rule.match(meta, qtype)) continue;
      const a = rule.action;
      log.debug("[{id}] match[{index}] {rule}", { id: meta.id, index: i, rule: rule.text });
      switch (a.kind) {
        case "route": {
          const entry = this.#servers.get(a.server);
          if (!entry) {
            log.error("DNS server not found: {server}", { server: a.server });
            continue;
          }
          if (entry.transport.type === "fakeip" && !allowFakeIp) continue;
          if (a.strategy !== "") options.strategy = a.strategy;
          if (a.disableCache || entry.transport.type === "fakeip") options.disableCache = true;
          if (a.rewriteTtl !== undefined) options.rewriteTtl = a.rewriteTtl;
          if (a.clientSubnet) options.clientSubnet = a.clientSubnet;
          this.#applyLegacy(entry, options);
          return { entry, rule, index: i };
        }
        case "route-options":
          if (a.disableCache) options.disableCache = true;
          if (a.rewriteTtl !== undefined) options.rewriteTtl = a.rewriteTtl;
          if (a.clientSubnet) options.clientSubnet = a.clientSubnet;
          continue;
        case "reject":
        case "predefined":
          return { entry: null, rule, index: i };
      }
    }
    this.#applyLegacy(this.#default, options);
    return { entry: this.#default, rule: null, index: -1 };
  }

  /**
   * Answers a query (one question; the caller checked it walks). Resolves null when the
   * request must be dropped; rejects when the exchange failed.
   */
  async exchange(query: Query, flow: ConnMetadata): Promise<Uint8Array | null> {
    const questions = query.layout.questions;
    if (questions.length !== 1) {
      log.warn("[{id}] bad question size: {n}", { id: flow.id, n: questions.length });
      return statusResponse(query.bytes, query.layout, {
        rcode: RCODE_FORMERR,
        authoritative: false,
        recursionAvailable: false,
      });
    }
    const q = questions[0]!;
    const asked = describeQuestion(q.name, q.type);
    log.debug("[{id}] exchange {question}", { id: flow.id, question: asked });
    // The cache is consulted after the rules pick a server (inside the client), never before:
    // a FakeIP rule must answer with a fake address even when tunbox's own lookup of the same
    // name cached the real one (sing-box 1ebff74c removed its pre-rule cache lookups too).
    let response: Uint8Array | null = null;
    let transport: DnsTransport | null = null;
    {
      const meta = dnsMetadata(flow, q.name, q.type);
      const addressQuery = q.type === TYPE_A || q.type === TYPE_AAAA || q.type === TYPE_HTTPS;
      let index = -1;
      const tried = new Set<DnsTransport>();
      let failure: unknown = null;
      for (;;) {
        const options: QueryOptions = { strategy: "", disableCache: false };
        const m = this.#match(meta, q.type, index, true, addressQuery, options);
        index = m.index;
        const rule = m.rule;
        if (rule && rule.action.kind === "reject") {
          if (rule.action.method === "drop") return null;
          return statusResponse(query.bytes, query.layout, {
            rcode: RCODE_REFUSED,
            authoritative: false,
            recursionAvailable: false,
          });
        }
        if (rule && rule.action.kind === "predefined") {
          return rule.action.answer.respond(query.bytes, query.layout);
        }
        const entry = m.entry!;
        if (options.strategy === "") options.strategy = this.#strategy;
        const check = rule && rule.addressLimited
          ? (addrs: Uint8Array[]) => rule.acceptResponse(meta, q.type, addrs)
          : undefined;
        transport = entry.transport;
        if (tried.has(transport)) {
          if (rule === null) throw failure;
          continue;
        }
        tried.add(transport);
        try {
          response = await this.#client.exchange(entry.transport, query, options, check);
          break;
        } catch (error) {
          if (error instanceof ResponseRejected && check) {
            log.debug("[{id}] response rejected for {question}", { id: flow.id, question: asked });
            continue;
          }
          const next = fallsThrough(error, rule, entry.transport);
          log.error("[{id}] exchange failed for {question}: {error}{next}", {
            id: flow.id,
            question: asked,
            error: error instanceof Error ? error.message : String(error),
            next: next ? "; trying the next server the rules give" : "",
          });
          if (!next) throw error;
          failure = error;
        }
      }
    }
    if (this.#reverse && (transport === null || transport.type !== "fakeip")) {
      this.#remember(response);
    }
    return response;
  }

  #remember(response: Uint8Array): void {
    let layout;
    try {
      layout = parseMessage(response);
    } catch {
      return;
    }
    for (const r of layout.records) {
      if (r.section !== 1 || r.ttl === 0) continue;
      if (
        !((r.type === TYPE_A && r.rdlength === 4) || (r.type === TYPE_AAAA && r.rdlength === 16))
      ) {
        continue;
      }
      const addr = response.subarray(r.rdataOffset, r.rdataOffset + r.rdlength);
      this.#reverse!.set(addr, r.name, r.ttl * 1000);
    }
  }

  /** The domain an address was last answered for (reverse mapping), or undefined. */
  lookupReverse(addr: Uint8Array): string | undefined {
    return this.#reverse?.get(addr);
  }

  /**
   * Resolves `domain` (no trailing dot, not an IP literal) for tunbox itself. `strategy` is the
   * caller's ("" = the rule's or `dns.strategy`). With `server`, that server is used and the
   * rules are skipped (a DNS server's `domain_resolver`). The servers in `avoid` are passed
   * over as if they had failed (a server whose own name this is: asking it would loop).
   */
  async lookup(
    domain: string,
    strategy: DomainStrategy = "",
    server?: string,
    avoid: readonly string[] = [],
    /** The outbound that asks (legacy `outbound` DNS rule items match it). */
    outbound = "",
  ): Promise<Uint8Array[]> {
    log.debug("lookup domain {domain}", { domain });
    let addrs: Uint8Array[];
    if (server !== undefined) {
      const entry = this.#servers.get(server);
      if (!entry) throw new TypeError(`lookup ${domain}: DNS server "${server}" not found`);
      const options: QueryOptions = { strategy: "", disableCache: false };
      this.#applyLegacy(entry, options);
      if (options.strategy === "") options.strategy = this.#strategy;
      addrs = await this.#client.lookup(entry.transport, domain, options, strategy);
    } else {
      addrs = await this.#lookupByRules(domain, strategy, avoid, outbound);
    }
    if (addrs.length === 0) {
      log.error("lookup failed for {domain}: empty result", { domain });
      throw new DnsRcodeError(0, `lookup ${domain}: empty result`);
    }
    log.info("lookup succeed for {domain}: {addrs}", {
      domain,
      addrs: addrs.map(formatIp).join(" "),
    });
    return addrs;
  }

  async #lookupByRules(
    domain: string,
    strategy: DomainStrategy,
    avoid: readonly string[],
    outbound: string,
  ): Promise<Uint8Array[]> {
    const meta = lookupMetadata(domain);
    meta.outbound = outbound;
    let index = -1;
    const tried = new Set<DnsTransport>();
    for (const tag of avoid) {
      const t = this.#servers.get(tag)?.transport;
      if (t) tried.add(t);
    }
    let failure: unknown = avoid.length === 0 ? null : new TypeError(
      `lookup ${domain}: DNS server ${
        avoid.map((t) => JSON.stringify(t)).join(", ")
      } cannot look up its own name (it would loop through itself); set "domain_resolver" on it`,
    );
    for (;;) {
      const options: QueryOptions = { strategy: "", disableCache: false };
      const m = this.#match(meta, 0, index, false, true, options);
      index = m.index;
      const rule = m.rule;
      if (rule && rule.action.kind === "reject") {
        throw new DnsRcodeError(
          RCODE_REFUSED,
          `lookup ${domain}: rejected by dns.rules[${rule.index}]`,
        );
      }
      if (rule && rule.action.kind === "predefined") {
        const answer = rule.action.answer;
        if (answer.rcode !== 0) {
          throw new DnsRcodeError(answer.rcode, `lookup ${domain}: ${rcodeName(answer.rcode)}`);
        }
        const effective = strategy !== "" ? strategy : this.#strategy;
        const v4 = answer.addresses.filter((a) => a.length === 4);
        const v6 = answer.addresses.filter((a) => a.length === 16);
        if (effective === "ipv4_only") return v4;
        if (effective === "ipv6_only") return v6;
        return sortAddresses(v4, v6, effective);
      }
      const entry = m.entry!;
      if (options.strategy === "") options.strategy = this.#strategy;
      const check = rule && rule.addressLimited
        ? (addrs: Uint8Array[]) => rule.acceptResponse(meta, 0, addrs)
        : undefined;
      if (tried.has(entry.transport)) {
        if (rule === null) throw failure;
        continue;
      }
      tried.add(entry.transport);
      try {
        return await this.#client.lookup(entry.transport, domain, options, strategy, check);
      } catch (error) {
        if (error instanceof ResponseRejected && check) {
          log.debug("response rejected for {domain}", { domain });
          continue;
        }
        const next = fallsThrough(error, rule, entry.transport);
        log.error("lookup failed for {domain}: {error}{next}", {
          domain,
          error: error instanceof Error ? error.message : String(error),
          next: next ? "; trying the next server the rules give" : "",
        });
        if (!next) throw error;
        failure = error;
      }
    }
  }

  /**
   * The server a query for `meta.domain` of type `qtype` would go to, without sending it
   * (`tunbox explain`): the same rule walk as {@linkcode exchange} (`lookup: true`: as
   * {@linkcode lookup}, where FakeIP servers are skipped). `server` is null when a rule
   * rejects or answers itself; `ruleIndex` is -1 for the default server. A rule with address
   * filters is reported as chosen when its other items match (`addressLimited`): the answer
   * then decides whether it stands or matching goes on.
   */
  select(
    meta: ConnMetadata,
    qtype: number,
    lookup = false,
  ): { server: string | null; ruleIndex: number; ruleText: string; addressLimited: boolean } {
    const addressQuery = lookup || qtype === TYPE_A || qtype === TYPE_AAAA || qtype === TYPE_HTTPS;
    const options: QueryOptions = { strategy: "", disableCache: false };
    const m = this.#match(meta, qtype, -1, !lookup, addressQuery, options);
    return {
      server: m.entry ? m.entry.transport.tag : null,
      ruleIndex: m.index,
      ruleText: m.rule ? m.rule.text : "default server",
      addressLimited: m.rule?.addressLimited ?? false,
    };
  }

  /** Exchanges a raw query with one server, bypassing rules (tests and tools). */
  server(tag: string): DnsTransport | undefined {
    return this.#servers.get(tag)?.transport;
  }
}

/**
 * The metadata DNS rules see for a hijacked query: the flow's, with the destination cleared,
 * the question's name as the domain and its type's IP version (A: 4, AAAA: 6).
 */
export function dnsMetadata(flow: ConnMetadata, name: string, qtype: number): ConnMetadata {
  return {
    ...flow,
    destination: { addr: EMPTY, port: 0 },
    originalDestination: null,
    destinationAddresses: [],
    domain: name,
    ipVersion: qtype === TYPE_A ? 4 : qtype === TYPE_AAAA ? 6 : flow.ipVersion,
  };
}

/** The metadata of a lookup tunbox makes itself: only the domain is known. */
export function lookupMetadata(domain: string): ConnMetadata {
  const meta = newConnMetadata({
    id: 0,
    inbound: "",
    inboundType: "",
    // sing-box's internal lookups have no network: no `network` item matches them.
    network: "" as Network,
    source: { addr: EMPTY, port: 0 },
    destination: { addr: EMPTY, port: 0 },
  });
  meta.domain = domain;
  // No IP version either (sing-box leaves it 0), so `ip_version` items do not match.
  meta.ipVersion = 0 as 4;
  return meta;
}
