/**
 * Reassembly of fragmented IPv4 (RFC 791 §3.2, RFC 815) and IPv6 (RFC 8200 §4.5) datagrams with
 * bounded memory and time:
 *
 * - a datagram may not exceed 65535 bytes (larger ones are dropped: "ping of death");
 * - the bytes held across all datagrams are capped (`maxBytes`); the oldest datagrams are evicted
 *   to make room, as are the oldest beyond `maxDatagrams`;
 * - a datagram not completed within `timeoutMs` of its first fragment is dropped (pass `now` in
 *   ms; nothing reads a clock);
 * - a fragment wholly inside data already received is a duplicate and is ignored; otherwise
 *   IPv6 fragments that overlap drop the whole datagram (RFC 5722), while IPv4 overlaps are
 *   accepted with later bytes winning; non-final fragments must carry a multiple of 8 bytes.
 *
 * A completed datagram is written to a scratch buffer that is reused by the next completion: use
 * it (or copy it) before feeding another fragment.
 *
 * @module
 */

import { checksum } from "../wire/mod.ts";
import { RangeSet } from "./range_set.ts";

/** Limits of an {@linkcode IpReassembler}. */
export interface ReassemblyOptions {
  /** Bytes held across all incomplete datagrams. Default 4 MiB. */
  maxBytes?: number;
  /** Incomplete datagrams at once. Default 256. */
  maxDatagrams?: number;
  /** Lifetime of an incomplete datagram in ms. Default 30000. */
  timeoutMs?: number;
  /** Most fragments (distinct ranges) per datagram. Default 64. */
  maxFragments?: number;
}

/** Counters of an {@linkcode IpReassembler}. */
export interface ReassemblyStats {
  fragments: number;
  reassembled: number;
  timedOut: number;
  /** Datagrams evicted to respect `maxBytes` or `maxDatagrams`. */
  evicted: number;
  /** Fragments dropped: malformed, oversized, overlapping (IPv6), too many ranges. */
  dropped: number;
}

const MAX_DATAGRAM = 65535;

class Pending {
  /** Header bytes to prepend (IPv4 header of the first fragment / IPv6 unfragmentable part). */
  header: Uint8Array | null = null;
  /** For IPv6: offset (in `header`) of the next-header byte naming the fragment header. */
  nextField = -1;
  /** For IPv6: the next header after the fragment header. */
  nextHeader = 0;
  data: Uint8Array = new Uint8Array(0);
  readonly ranges: RangeSet;
  /** Payload length once the last fragment is known, else -1. */
  total = -1;
  bytes = 0;
  constructor(
    readonly key: string,
    readonly version: number,
    readonly expiresAt: number,
    maxFragments: number,
  ) {
    this.ranges = new RangeSet(maxFragments);
  }
}

/** Reassembles IPv4 and IPv6 fragments within memory and time limits. */
export class IpReassembler {
  readonly stats: ReassemblyStats = {
    fragments: 0,
    reassembled: 0,
    timedOut: 0,
    evicted: 0,
    dropped: 0,
  };
  private readonly maxBytes: number;
  private readonly maxDatagrams: number;
  private readonly timeoutMs: number;
  private readonly maxFragments: number;
  /** Incomplete datagrams in arrival (and expiry) order. */
  private readonly pending = new Map<string, Pending>();
  private held = 0;
  private readonly out = new Uint8Array(MAX_DATAGRAM);

  constructor(options: ReassemblyOptions = {}) {
    this.maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
    this.maxDatagrams = options.maxDatagrams ?? 256;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxFragments = options.maxFragments ?? 64;
  }

  /** Bytes currently held for incomplete datagrams. */
  get bytesHeld(): number {
    return this.held;
  }

  /** Incomplete datagrams held. */
  get count(): number {
    return this.pending.size;
  }

  /**
   * Adds an IPv4 fragment (`packet` starts at a checked IPv4 header and ends at its total length).
   * Returns the reassembled datagram when this fragment completes one, else null.
   */
  inputIpv4(packet: Uint8Array, now: number): Uint8Array | null {
    this.expire(now);
    this.stats.fragments++;
    const hl = (packet[0]! & 15) * 4;
    const flags = (packet[6]! << 8) | packet[7]!;
    const offset = (flags & 0x1fff) * 8;
    const more = (flags & 0x2000) !== 0;
    const len = packet.length - hl;
    if ((more && len % 8 !== 0) || offset + len > MAX_DATAGRAM - hl || (more && len === 0)) {
      this.stats.dropped++;
      return null;
    }
    // Key: source, destination, protocol, identification (RFC 791).
    const key = `4:${word(packet, 12)}:${word(packet, 16)}:${packet[9]}:${
      (packet[4]! << 8) | packet[5]!
    }`;
    const d = this.entry(key, 4, now);
    if (d === null) return null;
    if (offset === 0) d.header = packet.slice(0, hl);
    if (!this.place(d, packet, hl, len, offset, more, false)) return null;
    return this.complete(d);
  }

  /**
   * Adds an IPv6 fragment: `packet` ends at 40 + payload length, `fragHeader` is the offset of
   * the fragment header and `nextField` the offset of the next-header byte that names it.
   * Returns the reassembled packet (without the fragment header) or null.
   */
  inputIpv6(
    packet: Uint8Array,
    fragHeader: number,
    nextField: number,
    now: number,
  ): Uint8Array | null {
    this.expire(now);
    this.stats.fragments++;
    const fo = (packet[fragHeader + 2]! << 8) | packet[fragHeader + 3]!;
    const offset = fo & 0xfff8;
    const more = (fo & 1) !== 0;
    const dataOff = fragHeader + 8;
    const len = packet.length - dataOff;
    if ((more && len % 8 !== 0) || (more && len === 0)) {
      this.stats.dropped++;
      return null;
    }
    if (fragHeader - 40 + offset + len > MAX_DATAGRAM) {
      this.stats.dropped++;
      return null;
    }
    const key = `6:${hex(packet, 8, 40)}:${word(packet, fragHeader + 4)}`;
    const d = this.entry(key, 6, now);
    if (d === null) return null;
    if (offset === 0) {
      d.header = packet.slice(0, fragHeader);
      d.nextField = nextField;
      d.nextHeader = packet[fragHeader]!;
    }
    if (!this.place(d, packet, dataOff, len, offset, more, true)) return null;
    return this.complete(d);
  }

  private entry(key: string, version: number, now: number): Pending | null {
    let d = this.pending.get(key);
    if (d === undefined) {
      while (this.pending.size >= this.maxDatagrams) this.evictOldest();
      d = new Pending(key, version, now + this.timeoutMs, this.maxFragments);
      this.pending.set(key, d);
    }
    return d;
  }

  private place(
    d: Pending,
    src: Uint8Array,
    srcOff: number,
    len: number,
    offset: number,
    more: boolean,
    rejectOverlap: boolean,
  ): boolean {
    const end = offset + len;
    if (!more) {
      // The last fragment fixes the length; a conflicting one is bogus (RFC 8200 §4.5).
      if ((d.total >= 0 && d.total !== end) || d.ranges.highestEnd() > end) {
        return this.fail(d);
      }
      d.total = end;
    } else if (d.total >= 0 && end > d.total) {
      return this.fail(d);
    }
    if (len > 0) {
      for (let i = 0; i < d.ranges.count; i++) {
        const s = d.ranges.startAt(i), e = d.ranges.endAt(i);
        // A fragment wholly inside received data is a duplicate: ignore it (RFC 5722 allows
        // this for exact duplicates). A partial overlap drops an IPv6 datagram.
        if (s <= offset && end <= e) return true;
        if (rejectOverlap && s < end && offset < e) return this.fail(d);
      }
    }
    if (end > d.data.length) {
      const cap = Math.min(MAX_DATAGRAM, Math.max(end, d.data.length * 2, 2048));
      const grow = cap - d.data.length;
      while (this.held + grow > this.maxBytes && this.pending.size > 1) {
        const oldest = this.pending.values().next().value!;
        if (oldest === d) break;
        this.drop(oldest);
        this.stats.evicted++;
      }
      if (this.held + grow > this.maxBytes) return this.fail(d);
      const n = new Uint8Array(cap);
      n.set(d.data);
      d.data = n;
      this.held += grow;
      d.bytes += grow;
    }
    if (!d.ranges.add(offset, end)) return this.fail(d);
    d.data.set(src.subarray(srcOff, srcOff + len), offset);
    return true;
  }

  private complete(d: Pending): Uint8Array | null {
    if (d.total < 0 || d.header === null) return null;
    const r = d.ranges;
    if (d.total > 0 && (r.count !== 1 || r.startAt(0) !== 0 || r.endAt(0) !== d.total)) {
      return null;
    }
    this.drop(d);
    const hl = d.header.length;
    const total = hl + d.total;
    if (total > MAX_DATAGRAM) {
      this.stats.dropped++;
      return null;
    }
    const out = this.out;
    out.set(d.header, 0);
    out.set(d.data.subarray(0, d.total), hl);
    if (d.version === 4) {
      out[2] = total >>> 8;
      out[3] = total;
      out[6] = 0;
      out[7] = 0;
      out[10] = 0;
      out[11] = 0;
      const c = checksum(out, 0, hl);
      out[10] = c >>> 8;
      out[11] = c;
    } else {
      const pl = total - 40;
      out[4] = pl >>> 8;
      out[5] = pl;
      out[d.nextField] = d.nextHeader;
    }
    this.stats.reassembled++;
    return out.subarray(0, total);
  }

  private fail(d: Pending): false {
    this.drop(d);
    this.stats.dropped++;
    return false;
  }

  private drop(d: Pending): void {
    if (this.pending.get(d.key) === d) this.pending.delete(d.key);
    this.held -= d.bytes;
    d.bytes = 0;
  }

  private evictOldest(): void {
    const oldest = this.pending.values().next().value;
    if (oldest === undefined) return;
    this.drop(oldest);
    this.stats.evicted++;
  }

  /** Drops datagrams whose time is up; returns the next expiry (ms) or Infinity. */
  expire(now: number): number {
    for (const d of this.pending.values()) {
      if (d.expiresAt > now) return d.expiresAt;
      this.drop(d);
      this.stats.timedOut++;
    }
    return Infinity;
  }
}

function word(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function hex(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i += 4) s += word(b, i).toString(36) + ".";
  return s;
}
