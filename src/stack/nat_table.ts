/**
 * The system stack's NAT port table, shared by every packet worker through a
 * `SharedArrayBuffer`.
 *
 * Each NAT port (10000–65535, as sing-tun) has one fixed-size entry holding the flow's original
 * source and destination. Worker `i` allocates only from its own contiguous slice of the port
 * range, so allocation needs no locks; any worker can read any entry, because the kernel may
 * steer a reply packet to a different TUN queue than the one that saw the request. An entry is
 * published by filling its fields and then storing a non-zero state with `Atomics.store`;
 * readers `Atomics.load` the state first.
 *
 * Forward lookups ((source, destination) → port) stay in a per-worker map keyed by a 52-bit hash
 * of the 4-tuple and verified against the entry, so the hot path allocates nothing.
 *
 * Time is passed in (`now`, milliseconds) and stored as whole seconds since the table's epoch.
 *
 * @module
 */

/** First NAT port, as sing-tun. */
export const NAT_PORT_BASE = 10000;
/** Number of NAT ports (10000..65535). */
export const NAT_PORT_COUNT = 65536 - NAT_PORT_BASE;

const ENTRY_SIZE = 48;
// Field offsets inside an entry.
const F_STATE = 0; // i32: 0 = free, otherwise a generation number (odd)
const F_FAMILY = 4; // u8: 4 or 6
const F_FLAGS = 5; // u8: FLAG_*
const F_SRC_PORT = 6; // u16
const F_SRC = 8; // 16 bytes
const F_DST = 24; // 16 bytes
const F_DST_PORT = 40; // u16
const F_LAST = 44; // u32 seconds

/** The client (original source) sent FIN. */
export const FLAG_FIN_CLIENT = 1;
/** The server side (our listener) sent FIN. */
export const FLAG_FIN_SERVER = 2;
/** Either side sent RST. */
export const FLAG_RST = 4;

/** The original 4-tuple of a NAT session. */
export interface NatFlow {
  family: 4 | 6;
  src: Uint8Array;
  srcPort: number;
  dst: Uint8Array;
  dstPort: number;
}

/** Creates the shared memory for a table (pass it to every worker). */
export function createNatMemory(): SharedArrayBuffer {
  return new SharedArrayBuffer(ENTRY_SIZE * NAT_PORT_COUNT);
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/** One worker's view of the shared table. */
export class NatTable {
  readonly firstPort: number;
  readonly lastPort: number;
  #bytes: Uint8Array;
  #view: DataView;
  #state: Int32Array;
  #forward = new Map<number, number>();
  #next: number;
  #generation = 1;
  #epoch: number;
  #live = 0;

  constructor(
    memory: SharedArrayBuffer,
    readonly workerIndex: number,
    readonly workerCount: number,
    /** Idle timeout in ms (the inbound's `udp_timeout`, sing-box default 5 min). */
    readonly idleTimeoutMs: number,
    epochMs = 0,
  ) {
    if (memory.byteLength !== ENTRY_SIZE * NAT_PORT_COUNT) {
      throw new RangeError(
        `NAT table memory has ${memory.byteLength} bytes, expected ${ENTRY_SIZE * NAT_PORT_COUNT}`,
      );
    }
    const slice = Math.floor(NAT_PORT_COUNT / workerCount);
    this.firstPort = NAT_PORT_BASE + workerIndex * slice;
    this.lastPort = workerIndex === workerCount - 1 ? 65535 : this.firstPort + slice - 1;
    this.#next = this.firstPort;
    this.#bytes = new Uint8Array(memory);
    this.#view = new DataView(memory);
    this.#state = new Int32Array(memory);
    this.#epoch = epochMs;
  }

  /** The worker whose slice holds `port` (the one that allocated it). */
  ownerOf(port: number): number {
    const slice = Math.floor(NAT_PORT_COUNT / this.workerCount);
    return Math.min(this.workerCount - 1, Math.floor((port - NAT_PORT_BASE) / slice));
  }

  /** Sessions this worker owns. */
  get size(): number {
    return this.#live;
  }

  /** Ports this worker can hand out. */
  get capacity(): number {
    return this.lastPort - this.firstPort + 1;
  }

  #seconds(now: number): number {
    return Math.max(0, Math.floor((now - this.#epoch) / 1000));
  }

  static #hash(
    pkt: Uint8Array,
    srcOff: number,
    dstOff: number,
    addrLen: number,
    sport: number,
    dport: number,
  ): number {
    let h = 0x811c9dc5 ^ addrLen;
    for (let i = 0; i < addrLen; i += 4) {
      h = mix(
        h,
        (pkt[srcOff + i]! << 24) | (pkt[srcOff + i + 1]! << 16) | (pkt[srcOff + i + 2]! << 8) |
          pkt[srcOff + i + 3]!,
      );
      h = mix(
        h,
        (pkt[dstOff + i]! << 24) | (pkt[dstOff + i + 1]! << 16) | (pkt[dstOff + i + 2]! << 8) |
          pkt[dstOff + i + 3]!,
      );
    }
    const lo = mix(h, (sport << 16) | dport);
    const hi = mix(lo ^ 0x85ebca6b, h) & 0xfffff;
    return hi * 0x100000000 + lo;
  }

  #matches(
    port: number,
    pkt: Uint8Array,
    srcOff: number,
    dstOff: number,
    addrLen: number,
    sport: number,
    dport: number,
  ): boolean {
    const base = (port - NAT_PORT_BASE) * ENTRY_SIZE;
    if (Atomics.load(this.#state, (base + F_STATE) >> 2) === 0) return false;
    const b = this.#bytes;
    if (b[base + F_FAMILY] !== (addrLen === 4 ? 4 : 6)) return false;
    if (this.#view.getUint16(base + F_SRC_PORT) !== sport) return false;
    if (this.#view.getUint16(base + F_DST_PORT) !== dport) return false;
    for (let i = 0; i < addrLen; i++) {
      if (b[base + F_SRC + i] !== pkt[srcOff + i] || b[base + F_DST + i] !== pkt[dstOff + i]) {
        return false;
      }
    }
    return true;
  }

  /**
   * Finds the NAT port of the flow whose source/destination addresses are in `pkt` at
   * `srcOff`/`dstOff` (`addrLen` 4 or 16) with ports `sport`/`dport`. Returns -1 when unknown.
   */
  lookup(
    pkt: Uint8Array,
    srcOff: number,
    dstOff: number,
    addrLen: number,
    sport: number,
    dport: number,
  ): number {
    const key = NatTable.#hash(pkt, srcOff, dstOff, addrLen, sport, dport);
    const port = this.#forward.get(key);
    if (port === undefined) return -1;
    return this.#matches(port, pkt, srcOff, dstOff, addrLen, sport, dport) ? port : -1;
  }

  /**
   * Allocates a port for a new flow (skipping ports in use) and publishes its entry.
   * Returns -1 when this worker's slice is exhausted.
   */
  allocate(
    pkt: Uint8Array,
    srcOff: number,
    dstOff: number,
    addrLen: number,
    sport: number,
    dport: number,
    now: number,
  ): number {
    const key = NatTable.#hash(pkt, srcOff, dstOff, addrLen, sport, dport);
    const existing = this.#forward.get(key);
    if (
      existing !== undefined && this.#matches(existing, pkt, srcOff, dstOff, addrLen, sport, dport)
    ) return existing;
    const capacity = this.capacity;
    for (let tries = 0; tries < capacity; tries++) {
      const port = this.#next;
      this.#next = port === this.lastPort ? this.firstPort : port + 1;
      const base = (port - NAT_PORT_BASE) * ENTRY_SIZE;
      if (Atomics.load(this.#state, (base + F_STATE) >> 2) !== 0) continue;
      const b = this.#bytes;
      b[base + F_FAMILY] = addrLen === 4 ? 4 : 6;
      b[base + F_FLAGS] = 0;
      this.#view.setUint16(base + F_SRC_PORT, sport);
      this.#view.setUint16(base + F_DST_PORT, dport);
      b.set(pkt.subarray(srcOff, srcOff + addrLen), base + F_SRC);
      b.set(pkt.subarray(dstOff, dstOff + addrLen), base + F_DST);
      this.#view.setUint32(base + F_LAST, this.#seconds(now));
      this.#generation = (this.#generation + 2) | 1;
      Atomics.store(this.#state, (base + F_STATE) >> 2, this.#generation);
      this.#forward.set(key, port);
      this.#live++;
      return port;
    }
    return -1;
  }

  /** True when `port` holds a live session (any worker's). */
  has(port: number): boolean {
    if (port < NAT_PORT_BASE || port > 65535) return false;
    return Atomics.load(this.#state, ((port - NAT_PORT_BASE) * ENTRY_SIZE + F_STATE) >> 2) !== 0;
  }

  /** Byte offset of a live entry in the shared memory, or -1. */
  entryOffset(port: number): number {
    if (!this.has(port)) return -1;
    return (port - NAT_PORT_BASE) * ENTRY_SIZE;
  }

  /** Copies the original source address of entry `base` into `out` at `outOff`. */
  copySrc(base: number, out: Uint8Array, outOff: number, len: number): void {
    out.set(this.#bytes.subarray(base + F_SRC, base + F_SRC + len), outOff);
  }

  copyDst(base: number, out: Uint8Array, outOff: number, len: number): void {
    out.set(this.#bytes.subarray(base + F_DST, base + F_DST + len), outOff);
  }

  /** The bytes of the original source address as a view into shared memory (do not keep). */
  srcView(base: number, len: number): Uint8Array {
    return this.#bytes.subarray(base + F_SRC, base + F_SRC + len);
  }

  dstView(base: number, len: number): Uint8Array {
    return this.#bytes.subarray(base + F_DST, base + F_DST + len);
  }

  srcPortOf(base: number): number {
    return this.#view.getUint16(base + F_SRC_PORT);
  }

  dstPortOf(base: number): number {
    return this.#view.getUint16(base + F_DST_PORT);
  }

  familyOf(base: number): 4 | 6 {
    return this.#bytes[base + F_FAMILY] === 6 ? 6 : 4;
  }

  /** Reads a session's original 4-tuple (for handing an accepted socket to the router). */
  flow(port: number): NatFlow | null {
    const base = this.entryOffset(port);
    if (base < 0) return null;
    const len = this.familyOf(base) === 4 ? 4 : 16;
    return {
      family: len === 4 ? 4 : 6,
      src: this.srcView(base, len).slice(),
      srcPort: this.srcPortOf(base),
      dst: this.dstView(base, len).slice(),
      dstPort: this.dstPortOf(base),
    };
  }

  /** Records activity (and FIN/RST flags) on an entry. Safe from any worker. */
  touch(base: number, now: number, flags = 0): void {
    this.#view.setUint32(base + F_LAST, this.#seconds(now));
    if (flags !== 0) Atomics.or(this.#bytes, base + F_FLAGS, flags);
  }

  /**
   * Frees this worker's entries that are idle past the timeout, reset (after `rstGraceMs`), or
   * closed in both directions (after `finGraceMs`). Returns how many were freed.
   */
  expire(now: number, finGraceMs = 10_000, rstGraceMs = 2_000): number {
    const nowS = this.#seconds(now);
    const idleS = Math.ceil(this.idleTimeoutMs / 1000);
    let freed = 0;
    for (let port = this.firstPort; port <= this.lastPort; port++) {
      const base = (port - NAT_PORT_BASE) * ENTRY_SIZE;
      if (Atomics.load(this.#state, (base + F_STATE) >> 2) === 0) continue;
      const flags = Atomics.load(this.#bytes, base + F_FLAGS);
      const age = nowS - this.#view.getUint32(base + F_LAST);
      const closedBoth =
        (flags & (FLAG_FIN_CLIENT | FLAG_FIN_SERVER)) === (FLAG_FIN_CLIENT | FLAG_FIN_SERVER);
      const dead = age >= idleS ||
        ((flags & FLAG_RST) !== 0 && age * 1000 >= rstGraceMs) ||
        (closedBoth && age * 1000 >= finGraceMs);
      if (!dead) continue;
      this.#free(port, base);
      freed++;
    }
    return freed;
  }

  #free(port: number, base: number): void {
    const len = this.#bytes[base + F_FAMILY] === 6 ? 16 : 4;
    const key = NatTable.#hash(
      this.#bytes,
      base + F_SRC,
      base + F_DST,
      len,
      this.srcPortOf(base),
      this.dstPortOf(base),
    );
    if (this.#forward.get(key) === port) this.#forward.delete(key);
    Atomics.store(this.#state, (base + F_STATE) >> 2, 0);
    this.#live--;
  }

  /** Frees every entry this worker owns (on stop). */
  clear(): void {
    for (let port = this.firstPort; port <= this.lastPort; port++) {
      const base = (port - NAT_PORT_BASE) * ENTRY_SIZE;
      if (Atomics.load(this.#state, (base + F_STATE) >> 2) !== 0) this.#free(port, base);
    }
  }
}
