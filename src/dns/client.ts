/**
 * The DNS client (sing-box `dns/client.go`): one exchange with a transport, with the answer
 * cache, the domain strategy filter, EDNS Client Subnet and TTL handling; and lookups (A and/or
 * AAAA exchanges turned into addresses).
 *
 * Exchange, in order:
 * 1. An A question under `ipv6_only` or an AAAA question under `ipv4_only` is answered at once
 *    with an empty NOERROR (sing-box: "strategy rejected").
 * 2. `client_subnet` (the rule's, else the server's legacy one, else `dns.client_subnet`) is
 *    set as an ECS option on the query.
 * 3. Cache lookup, for simple requests only (one question, no authority records, additional
 *    records at most an option-less OPT, no per-rule client subnet) and unless disabled
 *    (`dns.disable_cache`, the rule's `disable_cache`, FakeIP servers). Concurrent identical
 *    questions wait for the first one. Keys are the question (name case-insensitive, type,
 *    class), plus the server with `independent_cache`. Hits are given the query's id and TTLs
 *    counted down to the remaining lifetime (not with `disable_expire`).
 * 4. The exchange, bounded by {@linkcode DNS_TIMEOUT_MS}.
 * 5. An address filter (rules with `ip_cidr`/`ip_is_private`/`ip_accept_any`) rejects failed
 *    or empty answers and answers whose addresses do not match; rejected answers are not cached.
 *    With a rejected-response cache (`experimental.cache_file.store_rdrc`), a rejection is
 *    remembered per server, name and type, and while it lasts that server is not asked again
 *    for that question under an address filter (sing-box's RDRC; not when the cache is off).
 * 6. TTL: the smallest record TTL (for an answer without records: the SOA's, capped), or the
 *    rule's `rewrite_ttl`; every record (the OPT pseudo-record excepted) is given that TTL.
 *    NOERROR and NXDOMAIN answers are cached for that long (TTL 0: not cached); other RCODEs
 *    are not cached. Negative answers (no answer records) are cached at most
 *    {@linkcode NEGATIVE_TTL_MAX} s, and {@linkcode NEGATIVE_TTL_NO_SOA} s when they carry no
 *    SOA (sing-box does not cache those at all).
 * 7. The answer gets the query's id; its OPT record is removed when the client's query had
 *    none (tunbox added one for ECS).
 *
 * @module
 */

import type { DomainStrategy, Prefix } from "../config/types.ts";
import { ExpiringLru } from "./cache.ts";
import {
  encodeQuery,
  optHasOptions,
  rcodeName,
  setClientSubnet,
  typeName,
} from "../net/dns/packet.ts";
import { DNS_TIMEOUT_MS, type DnsTransport } from "./transport.ts";
import {
  answerAddresses,
  canonicalName,
  DnsFormatError,
  findOpt,
  type MessageLayout,
  messageRcode,
  parseMessage,
  RCODE_NOERROR,
  RCODE_NXDOMAIN,
  readName,
  setMessageId,
  setRecordTtl,
  statusResponse,
  TYPE_A,
  TYPE_AAAA,
  TYPE_OPT,
  TYPE_SOA,
  withoutRecords,
} from "../net/dns/wire.ts";

/** sing-box's minimum cache capacity. */
export const MIN_CACHE_CAPACITY = 1024;
/** Longest time a negative answer is cached (seconds). */
export const NEGATIVE_TTL_MAX = 300;
/** Cache time of a negative answer without an SOA record (seconds). */
export const NEGATIVE_TTL_NO_SOA = 10;

/** Per-query options from the matched rule and the server. */
export interface QueryOptions {
  strategy: DomainStrategy;
  disableCache: boolean;
  rewriteTtl?: number | undefined;
  clientSubnet?: Prefix | undefined;
}

/** An answer rejected by a rule's address filter (the router goes on with the next rule). */
export class ResponseRejected extends Error {
  override name = "ResponseRejected";
  constructor(readonly response: Uint8Array | null, message: string) {
    super(message);
  }
}

/** A lookup that ended with an RCODE other than NOERROR. */
export class DnsRcodeError extends Error {
  override name = "DnsRcodeError";
  constructor(readonly rcode: number, message: string) {
    super(message);
  }
}

/** Client construction options (the `dns` section's cache fields). */
export interface DnsClientOptions {
  /** Millisecond clock. */
  now: () => number;
  disableCache?: boolean;
  disableExpire?: boolean;
  independentCache?: boolean;
  cacheCapacity?: number;
  clientSubnet?: Prefix;
  timeoutMs?: number;
  /** Rejected-response cache (`store_rdrc`); absent: rejections are not remembered. */
  rdrc?: RejectedResponses;
}

/** Where rejections by address filters are remembered (`SharedRdrc`). */
export interface RejectedResponses {
  has(transport: string, name: string, qtype: number): boolean;
  save(transport: string, name: string, qtype: number): void;
}

interface CacheEntry {
  bytes: Uint8Array;
  layout: MessageLayout;
}

/** A parsed query: its bytes and layout. */
export interface Query {
  bytes: Uint8Array;
  layout: MessageLayout;
}

function soaMinimum(b: Uint8Array, layout: MessageLayout): number | null {
  for (const r of layout.records) {
    if (r.section !== 2 || r.type !== TYPE_SOA) continue;
    try {
      const mname = readName(b, r.rdataOffset);
      const rname = readName(b, mname.next);
      if (rname.next + 20 > r.rdataOffset + r.rdlength) continue;
      const o = rname.next + 16;
      const minimum = ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
      return Math.min(r.ttl, minimum);
    } catch {
      continue;
    }
  }
  return null;
}

/** True for queries sing-box caches: one question, no authority, at most an empty OPT. */
export function isSimpleQuery(q: Query): boolean {
  const l = q.layout;
  if (l.questions.length !== 1) return false;
  let extra = 0;
  for (const r of l.records) {
    if (r.section !== 3) return false;
    extra++;
    if (r.type !== TYPE_OPT || r.ttl !== 0 || r.class === 0) return false;
  }
  return extra <= 1 && !optHasOptions(l);
}

/** Sorts lookup results by strategy: IPv6 first for `prefer_ipv6`, else IPv4 first. */
export function sortAddresses(
  v4: readonly Uint8Array[],
  v6: readonly Uint8Array[],
  strategy: DomainStrategy,
): Uint8Array[] {
  return strategy === "prefer_ipv6" ? [...v6, ...v4] : [...v4, ...v6];
}

/** Exchanges messages with transports through the cache. */
export class DnsClient {
  readonly #now: () => number;
  readonly #disableCache: boolean;
  readonly #disableExpire: boolean;
  readonly #independent: boolean;
  readonly #clientSubnet: Prefix | undefined;
  readonly #timeoutMs: number;
  readonly #cache: ExpiringLru<string, CacheEntry> | null;
  readonly #inflight = new Map<string, Promise<unknown>>();
  readonly #rdrc: RejectedResponses | undefined;

  constructor(options: DnsClientOptions) {
    this.#rdrc = options.rdrc;
    this.#now = options.now;
    this.#disableCache = options.disableCache === true;
    this.#disableExpire = options.disableExpire === true;
    this.#independent = options.independentCache === true;
    this.#clientSubnet = options.clientSubnet;
    this.#timeoutMs = options.timeoutMs ?? DNS_TIMEOUT_MS;
    const capacity = Math.max(MIN_CACHE_CAPACITY, options.cacheCapacity ?? 0);
    this.#cache = this.#disableCache ? null : new ExpiringLru(capacity, options.now);
  }

  /** Number of cached answers (for tests and stats). */
  get cacheSize(): number {
    return this.#cache?.size ?? 0;
  }

  #key(name: string, qtype: number, qclass: number, transport: DnsTransport | null): string {
    const base = `${canonicalName(name)}\u0000${qtype}\u0000${qclass}`;
    return this.#independent && transport ? `${base}\u0000${transport.tag}` : base;
  }

  /** A cached answer for the question, with TTLs counted down; the id is left as stored. */
  #load(key: string): CacheEntry | null {
    const e = this.#cache?.getEntry(key);
    if (!e) return null;
    const bytes = e.value.bytes.slice();
    const layout = parseMessage(bytes);
    if (!this.#disableExpire) {
      const left = Math.max(0, Math.floor((e.expiresAt - this.#now()) / 1000));
      for (const r of layout.records) if (r.type !== TYPE_OPT) setRecordTtl(bytes, r, left);
    }
    return { bytes, layout };
  }

  /** The global cache's answer to `query` (not with `independent_cache`), or null. */
  exchangeCache(query: Query): Uint8Array | null {
    if (this.#disableCache || this.#independent || query.layout.questions.length !== 1) return null;
    const q = query.layout.questions[0]!;
    const hit = this.#load(this.#key(q.name, q.type, q.class, null));
    if (!hit) return null;
    return this.#finish(hit.bytes, hit.layout, query);
  }

  /** Gives the answer the query's id and drops an OPT record the client did not ask for. */
  #finish(answer: Uint8Array, layout: MessageLayout, client: Query): Uint8Array {
    let out = answer;
    if (findOpt(layout) && !findOpt(client.layout)) {
      out = withoutRecords(answer, layout, (r) => r.type === TYPE_OPT && r.section === 3);
    }
    setMessageId(out, client.layout.id);
    return out;
  }

  /**
   * Exchanges `query` with `transport` (see the module description). Throws
   * {@linkcode ResponseRejected} when `check` refuses the answer, and the transport's errors.
   */
  async exchange(
    transport: DnsTransport,
    query: Query,
    options: QueryOptions,
    check?: (addrs: Uint8Array[]) => boolean,
  ): Promise<Uint8Array> {
    const q = query.layout.questions[0];
    if (!q) return statusResponse(query.bytes, query.layout, { rcode: 1 });
    if (
      (q.type === TYPE_A && options.strategy === "ipv6_only") ||
      (q.type === TYPE_AAAA && options.strategy === "ipv4_only")
    ) {
      return statusResponse(query.bytes, query.layout, { rcode: RCODE_NOERROR });
    }
    const simple = isSimpleQuery(query) && options.clientSubnet === undefined;
    const disableCache = !simple || this.#disableCache || options.disableCache;
    const key = this.#key(q.name, q.type, q.class, transport);
    if (!disableCache) {
      const running = this.#inflight.get(key);
      if (running) await running.catch(() => {});
      const hit = this.#load(key);
      if (hit) return this.#finish(hit.bytes, hit.layout, query);
    }
    const work = this.#exchange(transport, query, options, check, disableCache, key);
    if (!disableCache && !this.#inflight.has(key)) {
      this.#inflight.set(key, work);
      work.catch(() => {}).finally(() => {
        if (this.#inflight.get(key) === work) this.#inflight.delete(key);
      });
    }
    return await work;
  }

  async #exchange(
    transport: DnsTransport,
    query: Query,
    options: QueryOptions,
    check: ((addrs: Uint8Array[]) => boolean) | undefined,
    noCache: boolean,
    key: string,
  ): Promise<Uint8Array> {
    const question = query.layout.questions[0]!;
    const rdrc = check && !noCache ? this.#rdrc : undefined;
    if (rdrc?.has(transport.tag, question.name, question.type)) {
      throw new ResponseRejected(null, "response rejected (cached)");
    }
    let wire = query.bytes;
    const subnet = options.clientSubnet ?? this.#clientSubnet;
    if (subnet) wire = setClientSubnet(query.bytes, query.layout, subnet).query;
    const answer = await transport.exchange(wire, this.#timeoutMs);
    let layout: MessageLayout;
    try {
      layout = parseMessage(answer);
    } catch (error) {
      throw new DnsFormatError(
        `DNS server "${transport.tag}": malformed answer: ${(error as Error).message}`,
      );
    }
    const rcode = messageRcode(answer);
    let disableCache = noCache || (rcode !== RCODE_NOERROR && rcode !== RCODE_NXDOMAIN);
    const answers = layout.records.filter((r) => r.section === 1);
    if (check) {
      // sing-box: a failure is rejected; an empty or NXDOMAIN answer is checked with no
      // addresses (a rule-set rule with `rule_set_ip_cidr_accept_empty` accepts it).
      const rejected = (rcode !== RCODE_NOERROR && rcode !== RCODE_NXDOMAIN) ||
        !check(answers.length === 0 ? [] : answerAddresses(answer, layout));
      if (rejected) {
        rdrc?.save(transport.tag, question.name, question.type);
        throw new ResponseRejected(answer, "response rejected");
      }
    }
    let ttl = 0;
    let negative = false;
    if (answers.length === 0) {
      negative = true;
      ttl = Math.min(soaMinimum(answer, layout) ?? NEGATIVE_TTL_NO_SOA, NEGATIVE_TTL_MAX);
    } else {
      for (const r of layout.records) {
        if (r.type === TYPE_OPT) continue;
        if (ttl === 0 || (r.ttl > 0 && r.ttl < ttl)) ttl = r.ttl;
      }
    }
    if (options.rewriteTtl !== undefined) ttl = options.rewriteTtl;
    for (const r of layout.records) if (r.type !== TYPE_OPT) setRecordTtl(answer, r, ttl);
    if (negative && ttl === 0) disableCache = true;
    if (!disableCache && ttl > 0 && this.#cache) {
      this.#cache.set(
        key,
        { bytes: answer.slice(0, layout.end), layout },
        this.#disableExpire ? Infinity : ttl * 1000,
      );
    }
    return this.#finish(answer, layout, query);
  }

  #questionCache(domain: string, qtype: number, transport: DnsTransport | null):
    | { addrs: Uint8Array[] }
    | { rcode: number }
    | null {
    if (this.#disableCache || (this.#independent && !transport)) return null;
    const hit = this.#load(this.#key(domain, qtype, 1, transport));
    if (!hit) return null;
    const rcode = messageRcode(hit.bytes);
    if (rcode !== RCODE_NOERROR) return { rcode };
    return { addrs: answerAddresses(hit.bytes, hit.layout) };
  }

  /**
   * Cached addresses of `domain` for a strategy from the global cache: null when not cached
   * (both families must be cached for the `prefer_*`/default strategies).
   */
  lookupCache(domain: string, strategy: DomainStrategy): Uint8Array[] | DnsRcodeError | null {
    if (this.#independent) return null;
    const one = (t: number) => {
      const r = this.#questionCache(domain, t, null);
      if (r && "rcode" in r) {
        return new DnsRcodeError(r.rcode, `lookup ${domain}: ${rcodeName(r.rcode)} (cached)`);
      }
      return r?.addrs ?? null;
    };
    if (strategy === "ipv4_only") return one(TYPE_A);
    if (strategy === "ipv6_only") return one(TYPE_AAAA);
    const v4 = one(TYPE_A);
    if (v4 === null) return null;
    const v6 = one(TYPE_AAAA);
    if (v6 === null) return null;
    const a = v4 instanceof DnsRcodeError ? [] : v4;
    const b = v6 instanceof DnsRcodeError ? [] : v6;
    return sortAddresses(a, b, strategy);
  }

  async #lookupType(
    transport: DnsTransport,
    domain: string,
    qtype: number,
    options: QueryOptions,
    check?: (addrs: Uint8Array[]) => boolean,
  ): Promise<Uint8Array[]> {
    if (!this.#disableCache && !options.disableCache) {
      const cached = this.#questionCache(domain, qtype, transport);
      if (cached && "rcode" in cached) {
        throw new DnsRcodeError(
          cached.rcode,
          `lookup ${domain} ${typeName(qtype)}: ${rcodeName(cached.rcode)}`,
        );
      }
      if (cached) return cached.addrs;
    }
    const bytes = encodeQuery(domain, qtype);
    const answer = await this.exchange(
      transport,
      { bytes, layout: parseMessage(bytes) },
      options,
      check,
    );
    const layout = parseMessage(answer);
    const rcode = messageRcode(answer);
    if (rcode !== RCODE_NOERROR) {
      throw new DnsRcodeError(rcode, `lookup ${domain} ${typeName(qtype)}: ${rcodeName(rcode)}`);
    }
    return answerAddresses(answer, layout);
  }

  /**
   * Resolves `domain` with `transport`: A only for `ipv4_only`, AAAA only for `ipv6_only`,
   * otherwise both at once, ordered by the strategy. `lookupStrategy` (the caller's) wins over
   * `options.strategy` (the rule's or the default). An error of one family is ignored when the
   * other has addresses.
   */
  async lookup(
    transport: DnsTransport,
    domain: string,
    options: QueryOptions,
    lookupStrategy: DomainStrategy,
    check?: (addrs: Uint8Array[]) => boolean,
  ): Promise<Uint8Array[]> {
    const strategy = lookupStrategy !== "" ? lookupStrategy : options.strategy;
    if (strategy === "ipv4_only") {
      return this.#lookupType(transport, domain, TYPE_A, options, check);
    }
    if (strategy === "ipv6_only") {
      return this.#lookupType(transport, domain, TYPE_AAAA, options, check);
    }
    const [r4, r6] = await Promise.allSettled([
      this.#lookupType(transport, domain, TYPE_A, options, check),
      this.#lookupType(transport, domain, TYPE_AAAA, options, check),
    ]);
    const v4 = r4.status === "fulfilled" ? r4.value : [];
    const v6 = r6.status === "fulfilled" ? r6.value : [];
    if (v4.length === 0 && v6.length === 0) {
      if (r4.status === "rejected") throw r4.reason;
      if (r6.status === "rejected") throw r6.reason;
    }
    return sortAddresses(v4, v6, strategy);
  }

  /** Drops every cached answer. */
  clear(): void {
    this.#cache?.clear();
  }
}
