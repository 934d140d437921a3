/**
 * DNS state that every packet worker must see alike, in `SharedArrayBuffer`s made by the main
 * thread: FakeIP mappings and the reverse mapping (`dns.reverse_mapping`).
 *
 * Why: the worker that answers a DNS query (hijack-dns) is rarely the one whose TUN queue
 * receives the connection that follows, so a per-worker map would not know the fake address
 * (sing-box's "missing fakeip record") or the domain of an address.
 *
 * Each table is an array of fixed-size slots holding a name (up to 253 bytes) under a seqlock:
 * a writer makes the sequence odd, writes, makes it even; a reader retries while the sequence
 * is odd or changed while it read. Writers never wait for each other: two workers writing the
 * same slot at once leave one complete name (the last), which is what a cache may do.
 *
 * FakeIP allocation keeps sing-box's ring semantics (a cursor starting at base+1; each new
 * domain gets cursor+1; a reused address loses its old domain) within a bounded window of
 * {@linkcode MAX_FAKEIP_SLOTS} addresses from the range base, with the cursor advanced
 * atomically. A domain → address index (hash table, verified against the address slot) gives a
 * domain its existing address.
 *
 * With `experimental.cache_file.store_fakeip`, the main thread restores the rings from the cache
 * file before the workers start and saves the slots that changed since its last look
 * (`fakeip_persist.ts`): every allocation bumps a change counter, so an idle check costs one
 * atomic load.
 *
 * @module
 */

import type { Options, Prefix } from "../config/types.ts";
import { bigIntToIp, formatIp, ipToBigInt, maskPrefix, prefixContains } from "../net/ip.ts";

/** Addresses per family a shared FakeIP table holds (the ring wraps after them). */
export const MAX_FAKEIP_SLOTS = 65536;
/** Entries of the shared reverse mapping (direct-mapped by address hash). */
export const REVERSE_SLOTS = 16384;
/** Entries of the shared rejected-DNS-response cache (direct-mapped by key hash). */
export const RDRC_SLOTS = 4096;

const NAME_MAX = 253;
// Slot: seq i32 @0, key u32 @4, expiry u32 @8, length u16 @12, name @16.
const SLOT_SIZE = 16 + 256;
const S_SEQ = 0, S_KEY = 4, S_EXP = 8, S_LEN = 12, S_NAME = 16;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Shared memory for one tunbox instance's DNS state (structured-clone safe). */
export interface SharedDnsMemory {
  fakeip4?: SharedArrayBuffer;
  fakeip6?: SharedArrayBuffer;
  reverse?: SharedArrayBuffer;
  /** Rejected DNS responses (`experimental.cache_file.store_rdrc`). */
  rdrc?: SharedArrayBuffer;
}

/** Slots of names under seqlocks. */
class NameSlots {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly i32: Int32Array;

  constructor(readonly memory: SharedArrayBuffer, readonly offset: number, readonly count: number) {
    this.bytes = new Uint8Array(memory);
    this.view = new DataView(memory);
    this.i32 = new Int32Array(memory);
  }

  static bytesFor(count: number): number {
    return count * SLOT_SIZE;
  }

  write(slot: number, key: number, expiry: number, name: Uint8Array): void {
    const base = this.offset + slot * SLOT_SIZE;
    const seq = (base + S_SEQ) >> 2;
    Atomics.add(this.i32, seq, 1); // odd: writing
    this.view.setUint32(base + S_KEY, key >>> 0);
    this.view.setUint32(base + S_EXP, expiry >>> 0);
    const len = Math.min(name.length, NAME_MAX);
    this.view.setUint16(base + S_LEN, len);
    this.bytes.set(name.subarray(0, len), base + S_NAME);
    Atomics.add(this.i32, seq, 1); // even: done
  }

  /** The slot's sequence number (0: never written; odd: being written). */
  seq(slot: number): number {
    return Atomics.load(this.i32, (this.offset + slot * SLOT_SIZE + S_SEQ) >> 2);
  }

  /** Empties `slot` (readers see it as never written). */
  clear(slot: number): void {
    Atomics.store(this.i32, (this.offset + slot * SLOT_SIZE + S_SEQ) >> 2, 0);
  }

  /** The slot's key, expiry and name, or null when empty. */
  read(slot: number): { key: number; expiry: number; name: string } | null {
    const base = this.offset + slot * SLOT_SIZE;
    const seq = (base + S_SEQ) >> 2;
    for (let attempt = 0; attempt < 100; attempt++) {
      const s1 = Atomics.load(this.i32, seq);
      if (s1 === 0) return null;
      if (s1 & 1) continue;
      const key = this.view.getUint32(base + S_KEY);
      const expiry = this.view.getUint32(base + S_EXP);
      const len = Math.min(this.view.getUint16(base + S_LEN), NAME_MAX);
      const copy = this.bytes.slice(base + S_NAME, base + S_NAME + len);
      if (Atomics.load(this.i32, seq) !== s1) continue;
      return { key, expiry, name: decoder.decode(copy) };
    }
    return null;
  }
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function hashBytes(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

// FakeIP memory: cursor i32 @0 (allocations so far), change counter i32 @4, then the domain
// index (2 × slots i32: slot + 1, 0 = empty), then the address slots.
const F_CURSOR = 0;
const F_CHANGES = 1;
const F_INDEX = 8;

function fakeLayout(slots: number): { indexLen: number; slotsOffset: number; size: number } {
  const indexLen = slots * 2;
  const slotsOffset = F_INDEX + indexLen * 4;
  return { indexLen, slotsOffset, size: slotsOffset + NameSlots.bytesFor(slots) };
}

/** Slots a range gets: every address but base, base+1 and the last, up to the maximum. */
function fakeSlots(range: Prefix): number {
  const hostBits = range.addr.length * 8 - range.bits;
  const usable = hostBits >= 20 ? Infinity : 2 ** hostBits - 3;
  return Math.max(1, Math.min(MAX_FAKEIP_SLOTS, usable));
}

/** Creates the shared memory a config needs (none when it uses neither FakeIP nor reverse mapping). */
export function createSharedDnsMemory(options: Options): SharedDnsMemory {
  const out: SharedDnsMemory = {};
  const fake = options.dns.servers.find((s) => s.type === "fakeip");
  if (fake?.inet4_range) {
    out.fakeip4 = new SharedArrayBuffer(fakeLayout(fakeSlots(fake.inet4_range)).size);
  }
  if (fake?.inet6_range) {
    out.fakeip6 = new SharedArrayBuffer(fakeLayout(fakeSlots(fake.inet6_range)).size);
  }
  if (options.dns.reverse_mapping) {
    out.reverse = new SharedArrayBuffer(NameSlots.bytesFor(REVERSE_SLOTS));
  }
  const cache = options.experimental?.cache_file;
  if (cache?.enabled && cache.store_rdrc) {
    out.rdrc = new SharedArrayBuffer(RDRC_HEADER + NameSlots.bytesFor(RDRC_SLOTS));
  }
  return out;
}

/** One family's shared FakeIP ring. */
class SharedRing {
  readonly prefix: Prefix;
  readonly base: bigint;
  readonly slots: number;
  readonly #names: NameSlots;
  readonly #index: Int32Array;
  readonly #indexLen: number;
  readonly #cursor: Int32Array;
  readonly #header: Int32Array;

  constructor(range: Prefix, memory: SharedArrayBuffer) {
    this.prefix = maskPrefix(range);
    this.base = ipToBigInt(this.prefix.addr);
    this.slots = fakeSlots(range);
    const layout = fakeLayout(this.slots);
    if (memory.byteLength !== layout.size) {
      throw new RangeError(
        `shared FakeIP memory has ${memory.byteLength} bytes, expected ${layout.size}`,
      );
    }
    this.#names = new NameSlots(memory, layout.slotsOffset, this.slots);
    this.#index = new Int32Array(memory, F_INDEX, layout.indexLen);
    this.#indexLen = layout.indexLen;
    this.#cursor = new Int32Array(memory, F_CURSOR, 1);
    this.#header = new Int32Array(memory, 0, 2);
  }

  /** Allocations made so far (the cursor; slot `(n - 1) % slots` was the last one given). */
  get allocations(): number {
    return Atomics.load(this.#cursor, 0) >>> 0;
  }

  set allocations(n: number) {
    Atomics.store(this.#cursor, 0, n | 0);
  }

  /** Bumped on every allocation. */
  get changeCount(): number {
    return Atomics.load(this.#header, F_CHANGES);
  }

  /** The slot's sequence number (see `NameSlots`). */
  seq(slot: number): number {
    return this.#names.seq(slot);
  }

  /** The domain in `slot`, or undefined when it was never given. */
  nameAt(slot: number): string | undefined {
    return this.#nameAt(slot);
  }

  /** Address offset from base for slot `s`: base + 2 + s (base and base+1 are never given out). */
  addrOf(slot: number): Uint8Array {
    return bigIntToIp(this.base + 2n + BigInt(slot), this.prefix.addr.length === 16 ? 16 : 4);
  }

  slotOf(addr: Uint8Array): number {
    const off = ipToBigInt(addr) - this.base - 2n;
    return off >= 0n && off < BigInt(this.slots) ? Number(off) : -1;
  }

  lookup(addr: Uint8Array): string | undefined {
    const slot = this.slotOf(addr);
    if (slot < 0) return undefined;
    return this.#names.read(slot)?.name;
  }

  addressOf(domain: string): Uint8Array | undefined {
    const h = hashString(domain);
    for (let i = 0; i < 8; i++) {
      const at = (h + i) % this.#indexLen;
      const v = Atomics.load(this.#index, at);
      if (v === 0) return undefined;
      const slot = v - 1;
      if (this.#names.read(slot)?.name === domain) return this.addrOf(slot);
    }
    return undefined;
  }

  create(domain: string): Uint8Array {
    const existing = this.addressOf(domain);
    if (existing) return existing;
    // sing-box's ring: the next address after the cursor, wrapping to the first usable one.
    const slot = (Atomics.add(this.#cursor, 0, 1) >>> 0) % this.slots;
    this.assign(slot, domain);
    Atomics.add(this.#header, F_CHANGES, 1);
    return this.addrOf(slot);
  }

  /** Writes `domain` into `slot` and indexes it (allocation, and restoring saved mappings). */
  assign(slot: number, domain: string): void {
    this.#names.write(slot, 0, 0, encoder.encode(domain));
    // Index the domain in its probe window: an empty entry, or one that is stale (its slot
    // was reused by a domain that does not hash to this window). Lookups verify names, so an
    // overwritten entry only costs a later re-allocation.
    const h = hashString(domain) % this.#indexLen;
    let target = h;
    for (let i = 0; i < 8; i++) {
      const at = (h + i) % this.#indexLen;
      const v = Atomics.load(this.#index, at);
      if (v === 0) {
        target = at;
        break;
      }
      const name = this.#nameAt(v - 1);
      const distance = name === undefined
        ? 8
        : (at - hashString(name) % this.#indexLen + this.#indexLen) % this.#indexLen;
      if (distance >= 8 || name === domain) {
        target = at;
        break;
      }
    }
    Atomics.store(this.#index, target, slot + 1);
  }

  #nameAt(slot: number): string | undefined {
    return this.#names.read(slot)?.name;
  }

  /**
   * Forgets every mapping and starts allocating from the first address again (the Clash API's
   * FakeIP flush). A worker allocating at the same moment may keep its new address.
   */
  clear(): void {
    for (let i = 0; i < this.#indexLen; i++) Atomics.store(this.#index, i, 0);
    for (let slot = 0; slot < this.slots; slot++) this.#names.clear(slot);
    Atomics.store(this.#cursor, 0, 0);
    Atomics.add(this.#header, F_CHANGES, 1);
  }
}

/**
 * FakeIP mappings shared by every worker, with the interface of `FakeIpStore` (the per-process
 * store used when there is no shared memory).
 */
export class SharedFakeIpStore {
  readonly #v4: SharedRing | null;
  readonly #v6: SharedRing | null;

  constructor(memory: SharedDnsMemory, inet4Range?: Prefix, inet6Range?: Prefix) {
    this.#v4 = inet4Range && memory.fakeip4 ? new SharedRing(inet4Range, memory.fakeip4) : null;
    this.#v6 = inet6Range && memory.fakeip6 ? new SharedRing(inet6Range, memory.fakeip6) : null;
    if (inet4Range && !this.#v4) throw new TypeError("shared FakeIP memory for IPv4 is missing");
    if (inet6Range && !this.#v6) throw new TypeError("shared FakeIP memory for IPv6 is missing");
  }

  contains(addr: Uint8Array): boolean {
    const ring = addr.length === 16 ? this.#v6 : addr.length === 4 ? this.#v4 : null;
    return ring !== null && prefixContains(ring.prefix, addr);
  }

  hasFamily(v6: boolean): boolean {
    return (v6 ? this.#v6 : this.#v4) !== null;
  }

  create(domain: string, v6: boolean): Uint8Array {
    const ring = v6 ? this.#v6 : this.#v4;
    if (!ring) throw new TypeError(`missing IPv${v6 ? 6 : 4} fakeip address range`);
    return ring.create(domain);
  }

  lookup(addr: Uint8Array): string | undefined {
    if (!this.contains(addr)) return undefined;
    return (addr.length === 16 ? this.#v6 : this.#v4)!.lookup(addr);
  }

  addressOf(domain: string, v6: boolean): Uint8Array | undefined {
    return (v6 ? this.#v6 : this.#v4)?.addressOf(domain);
  }

  /** The ring of a family (persistence). */
  ring(v6: boolean): SharedRing | null {
    return v6 ? this.#v6 : this.#v4;
  }

  /** Forgets every mapping of both families (see `SharedRing.clear`). */
  clear(): void {
    this.#v4?.clear();
    this.#v6?.clear();
  }
}

export type { SharedRing };

/** The reverse mapping (address → domain of the last answer), shared by every worker. */
export class SharedReverseMap {
  readonly #names: NameSlots;

  constructor(memory: SharedArrayBuffer) {
    this.#names = new NameSlots(memory, 0, REVERSE_SLOTS);
  }

  #key(addr: Uint8Array): number {
    return hashBytes(addr);
  }

  /** Records `domain` for `addr` for `ttlMs` (wall clock: the workers' monotonic clocks differ). */
  set(addr: Uint8Array, domain: string, ttlMs: number): void {
    const key = this.#key(addr);
    const expiry = Math.floor((Date.now() + ttlMs) / 1000);
    // The name is stored as "<address>\0<domain>" so a colliding address is told apart.
    this.#names.write(
      key % REVERSE_SLOTS,
      key,
      expiry,
      encoder.encode(`${formatIp(addr)}\0${domain}`),
    );
  }

  get(addr: Uint8Array): string | undefined {
    const key = this.#key(addr);
    const e = this.#names.read(key % REVERSE_SLOTS);
    if (!e || e.key !== key || e.expiry < Date.now() / 1000) return undefined;
    const sep = e.name.indexOf("\0");
    if (sep < 0 || e.name.slice(0, sep) !== formatIp(addr)) return undefined;
    return e.name.slice(sep + 1);
  }
}

// RDRC memory: change counter i32 @0, then the slots.
const RDRC_HEADER = 8;

/** One rejected response: which server refused what, until when (epoch ms). */
export interface RdrcKey {
  transport: string;
  name: string;
  qtype: number;
}

/**
 * Rejected DNS responses shared by every worker (sing-box's RDRC, `store_rdrc`): when a rule's
 * address filter refuses a server's answer, the (server, name, type) is remembered for
 * `rdrc_timeout`, and the server is not asked again for it meanwhile. Direct-mapped by a hash of
 * the key, with the key stored in full so a collision only evicts. The main thread loads the
 * entries from the cache file and saves new ones (`rdrc_persist.ts`).
 */
export class SharedRdrc {
  readonly #names: NameSlots;
  readonly #header: Int32Array;

  constructor(memory: SharedArrayBuffer, readonly timeoutMs: number) {
    this.#names = new NameSlots(memory, RDRC_HEADER, RDRC_SLOTS);
    this.#header = new Int32Array(memory, 0, 2);
  }

  static #text(k: RdrcKey): string {
    return `${k.qtype}\0${k.transport}\0${k.name}`;
  }

  /** Whether the server's answer for name/type was rejected and that has not expired. */
  has(transport: string, name: string, qtype: number, now = Date.now()): boolean {
    const text = SharedRdrc.#text({ transport, name, qtype });
    const key = hashString(text);
    const e = this.#names.read(key % RDRC_SLOTS);
    return e !== null && e.key === key && e.name === text && e.expiry * 1000 > now;
  }

  /** Remembers a rejection until now + the timeout. */
  save(transport: string, name: string, qtype: number, now = Date.now()): void {
    this.saveUntil({ transport, name, qtype }, now + this.timeoutMs);
  }

  /** Remembers a rejection until `expiresAt` (epoch ms; restoring saved entries). */
  saveUntil(k: RdrcKey, expiresAt: number): void {
    const text = SharedRdrc.#text(k);
    const key = hashString(text);
    this.#names.write(key % RDRC_SLOTS, key, Math.ceil(expiresAt / 1000), encoder.encode(text));
    Atomics.add(this.#header, 0, 1);
  }

  /** Bumped on every save. */
  get changeCount(): number {
    return Atomics.load(this.#header, 0);
  }

  get slots(): number {
    return RDRC_SLOTS;
  }

  /** The slot's sequence number (see `NameSlots`). */
  seq(slot: number): number {
    return this.#names.seq(slot);
  }

  /** The entry in `slot`, or null. */
  entryAt(slot: number): (RdrcKey & { expiresAt: number }) | null {
    const e = this.#names.read(slot);
    if (!e) return null;
    const [qtype, transport, ...rest] = e.name.split("\0");
    if (transport === undefined || rest.length === 0) return null;
    return { transport, name: rest.join("\0"), qtype: Number(qtype), expiresAt: e.expiry * 1000 };
  }
}
