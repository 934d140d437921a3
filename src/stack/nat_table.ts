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
 * Forward lookups ((source, destination) → port) go through a per-worker {@linkcode FlowTable}
 * keyed by the 4-tuple (one node per session), verified against the shared entry, so the hot path
 * allocates nothing.
 *
 * Expiry costs O(log n) per session and check, never a scan of the table: the owner files each
 * session in a {@linkcode DeadlineHeap} at the time it could first be dead (idle timeout after
 * its creation; the grace time after the owner sees a FIN or RST) and, when that time comes,
 * looks at the entry's shared activity time and flags (which any worker updates): a dead session
 * is freed, a live one is filed again at its new earliest death.
 *
 * Time is passed in (`now`, milliseconds) and stored as whole seconds since the table's epoch.
 *
 * @module
 */

import { DeadlineHeap } from "./deadline_heap.ts";
import { FlowNode, FlowTable } from "./flow_table.ts";

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

/** How long a session closed in both directions is kept after its last packet. */
const FIN_GRACE_MS = 10_000;
/** How long a reset session is kept after its last packet. */
const RST_GRACE_MS = 2_000;

/** The original 4-tuple of a NAT session. */
export interface NatFlow {
  family: 4 | 6;
  src: Uint8Array;
  srcPort: number;
  dst: Uint8Array;
  dstPort: number;
}

/** A session in the owner's forward map. */
class ForwardEntry extends FlowNode {
  port = 0;
}

/** Creates the shared memory for a table (pass it to every worker). */
export function createNatMemory(): SharedArrayBuffer {
  return new SharedArrayBuffer(ENTRY_SIZE * NAT_PORT_COUNT);
}

/** One worker's view of the shared table. */
export class NatTable {
  readonly firstPort: number;
  readonly lastPort: number;
  #bytes: Uint8Array;
  #view: DataView;
  #state: Int32Array;
  #forward = new FlowTable<ForwardEntry>(crypto.getRandomValues(new Uint32Array(1))[0]!);
  /** This worker's sessions by port offset from `firstPort`. */
  #entries: (ForwardEntry | undefined)[] = [];
  /** When to look at each session next (seconds), with its generation. */
  #checks = new DeadlineHeap();
  /** Checks {@linkcode NatTable.expire} has looked at (each is one due session), for stats. */
  expiryVisits = 0;
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
    const e = this.#forward.lookup(pkt, addrLen === 4 ? 4 : 6, srcOff, dstOff, sport, dport);
    if (e === undefined) return -1;
    return this.#matches(e.port, pkt, srcOff, dstOff, addrLen, sport, dport) ? e.port : -1;
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
    const existing = this.lookup(pkt, srcOff, dstOff, addrLen, sport, dport);
    if (existing >= 0) return existing;
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
      const e = new ForwardEntry();
      e.setTupleFrom(pkt, addrLen === 4 ? 4 : 6, srcOff, dstOff, sport, dport);
      e.port = port;
      this.#forward.insert(e);
      this.#entries[port - this.firstPort] = e;
      this.#checks.push(
        this.#seconds(now) + Math.ceil(this.idleTimeoutMs / 1000),
        port,
        this.#generation,
      );
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

  /** The shared table's bytes (for reading an entry's addresses in place). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** Offset in {@linkcode NatTable.bytes} of entry `base`'s original source address. */
  srcAt(base: number): number {
    return base + F_SRC;
  }

  /** Offset in {@linkcode NatTable.bytes} of entry `base`'s original destination address. */
  dstAt(base: number): number {
    return base + F_DST;
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

  /**
   * Records activity (and FIN/RST flags) on an entry. Safe from any worker; the owner also
   * files an early check when the flags make the session closable.
   */
  touch(base: number, now: number, flags = 0): void {
    const t = this.#seconds(now);
    this.#view.setUint32(base + F_LAST, t);
    if (flags === 0) return;
    const before = Atomics.or(this.#bytes, base + F_FLAGS, flags);
    const after = before | flags;
    if (after === before) return;
    const port = base / ENTRY_SIZE + NAT_PORT_BASE;
    if (port < this.firstPort || port > this.lastPort) return; // the owner finds it later
    const grace = this.#graceS(after);
    if (grace !== Infinity) {
      this.#checks.push(t + grace, port, Atomics.load(this.#state, (base + F_STATE) >> 2));
    }
  }

  /** Seconds a session with `flags` lives after its last packet. */
  #graceS(flags: number, finGraceMs = FIN_GRACE_MS, rstGraceMs = RST_GRACE_MS): number {
    if ((flags & FLAG_RST) !== 0) return Math.ceil(rstGraceMs / 1000);
    if ((flags & (FLAG_FIN_CLIENT | FLAG_FIN_SERVER)) === (FLAG_FIN_CLIENT | FLAG_FIN_SERVER)) {
      return Math.ceil(finGraceMs / 1000);
    }
    return Infinity;
  }

  /**
   * Frees this worker's entries that are idle past the timeout, reset (after `rstGraceMs`), or
   * closed in both directions (after `finGraceMs`). Returns how many were freed. Only the
   * sessions whose check is due are looked at.
   */
  expire(now: number, finGraceMs = FIN_GRACE_MS, rstGraceMs = RST_GRACE_MS): number {
    const nowS = this.#seconds(now);
    const idleS = Math.ceil(this.idleTimeoutMs / 1000);
    const checks = this.#checks;
    let freed = 0;
    while (checks.size > 0 && checks.peekDeadline() <= nowS) {
      const port = checks.peekId();
      const gen = checks.peekTag();
      checks.pop();
      this.expiryVisits++;
      const base = (port - NAT_PORT_BASE) * ENTRY_SIZE;
      if (Atomics.load(this.#state, (base + F_STATE) >> 2) !== gen) continue; // freed or reused
      const flags = Atomics.load(this.#bytes, base + F_FLAGS);
      const last = this.#view.getUint32(base + F_LAST);
      const diesAt = last + Math.min(idleS, this.#graceS(flags, finGraceMs, rstGraceMs));
      if (diesAt <= nowS) {
        this.#free(port, base);
        freed++;
      } else {
        checks.push(diesAt, port, gen);
      }
    }
    return freed;
  }

  /** The next time (ms on the caller's clock) {@linkcode NatTable.expire} has work, or Infinity. */
  nextExpiry(): number {
    const s = this.#checks.peekDeadline();
    return s === Infinity ? Infinity : this.#epoch + s * 1000;
  }

  #free(port: number, base: number): void {
    const i = port - this.firstPort;
    const e = this.#entries[i];
    if (e !== undefined) {
      this.#forward.remove(e);
      this.#entries[i] = undefined;
    }
    Atomics.store(this.#state, (base + F_STATE) >> 2, 0);
    this.#live--;
    if (this.#live === 0) this.#entries = [];
  }

  /** Frees every entry this worker owns (on stop). */
  clear(): void {
    for (let port = this.firstPort; port <= this.lastPort; port++) {
      const base = (port - NAT_PORT_BASE) * ENTRY_SIZE;
      if (Atomics.load(this.#state, (base + F_STATE) >> 2) !== 0) this.#free(port, base);
    }
    this.#checks.clear();
  }
}
