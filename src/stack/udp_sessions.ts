/**
 * UDP sessions for the userspace stack: an endpoint-independent ("full cone", RFC 4787 §4.1)
 * mapping keyed by the client's address and port only. Every datagram from the client carries its
 * own destination, so one session (one outbound socket in the relay) serves all destinations of
 * that client port, and replies from any source are sent back to the client.
 *
 * - Sessions expire after `timeoutMs` without traffic (sing-box `udp_timeout`, default 5 min),
 *   measured with the `now` the caller passes.
 * - At most `capacity` sessions exist; creating one more evicts the least recently used.
 * - {@linkcode UdpReplyBuilder} writes reply packets (IPv4/IPv6 + UDP, checksums) into a scratch
 *   buffer whose payload area the caller fills first (for example with `recvfrom`), so the
 *   payload is never copied.
 *
 * @module
 */

import { IPPROTO_UDP, UDP_FIELD, UDP_HEADER_LEN, UdpPacket } from "../wire/mod.ts";
import { FlowNode, FlowTable } from "./flow_table.ts";
import { MAX_PACKET, PacketBuilder } from "./packet_builder.ts";

/** Why a session left the table. */
export type UdpEvictReason = "timeout" | "capacity" | "removed";

/** One client endpoint's session; `value` is the caller's (for example its socket). */
export class UdpSession<T> extends FlowNode {
  /** @internal LRU links (older / newer). */
  prev: UdpSession<T> | null = null;
  /** @internal */
  next: UdpSession<T> | null = null;
  lastSeen = 0;
  private addrBytes: Uint8Array | null = null;

  /** @internal */
  constructor(public value: T) {
    super();
  }

  /** The client's address (4 or 16 bytes). */
  get clientAddr(): Uint8Array {
    return this.addrBytes ??= this.remoteAddrBytes();
  }

  /** The client's port. */
  get clientPort(): number {
    return this.remotePort;
  }
}

/** Options of a {@linkcode UdpSessionTable}. */
export interface UdpSessionOptions<T> {
  /** Idle lifetime in ms. Default 300000 (5 minutes). */
  timeoutMs?: number;
  /** Most sessions. Default 65536. */
  capacity?: number;
  /** Called when a session leaves the table (close its socket here). */
  onEvict?: (session: UdpSession<T>, reason: UdpEvictReason) => void;
  /** Hash seed (random by default). */
  seed?: number;
}

/** Full-cone UDP session table with idle expiry and LRU eviction. */
export class UdpSessionTable<T> {
  private readonly table: FlowTable<UdpSession<T>>;
  private readonly timeoutMs: number;
  private readonly capacity: number;
  private readonly onEvict: ((s: UdpSession<T>, r: UdpEvictReason) => void) | null;
  /** Least recently used first. */
  private oldest: UdpSession<T> | null = null;
  private newest: UdpSession<T> | null = null;

  constructor(options: UdpSessionOptions<T> = {}) {
    this.timeoutMs = options.timeoutMs ?? 300_000;
    this.capacity = options.capacity ?? 65536;
    if (!(this.capacity >= 1)) throw new RangeError(`UDP session capacity ${this.capacity} < 1`);
    this.onEvict = options.onEvict ?? null;
    this.table = new FlowTable(options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!);
  }

  /** Number of sessions. */
  get size(): number {
    return this.table.size;
  }

  /**
   * Finds the session of the client whose address is at `buf[addrOff..]` (4 or 16 bytes per
   * `version`) and port `port`, and marks it used at `now`.
   */
  lookup(
    buf: Uint8Array,
    version: number,
    addrOff: number,
    port: number,
    now: number,
  ): UdpSession<T> | undefined {
    const s = this.table.lookup(buf, version, addrOff, addrOff, port, 0);
    if (s !== undefined) this.touch(s, now);
    return s;
  }

  /** {@linkcode UdpSessionTable.lookup} with a separate address array. */
  get(addr: Uint8Array, port: number, now: number): UdpSession<T> | undefined {
    return this.lookup(addr, addr.length === 16 ? 6 : 4, 0, port, now);
  }

  /**
   * Creates the session for a client endpoint (which must not exist), evicting the least
   * recently used session when the table is full.
   */
  create(
    buf: Uint8Array,
    version: number,
    addrOff: number,
    port: number,
    value: T,
    now: number,
  ): UdpSession<T> {
    while (this.table.size >= this.capacity && this.oldest) this.evict(this.oldest, "capacity");
    const s = new UdpSession(value);
    s.setTupleFrom(buf, version, addrOff, addrOff, port, 0);
    s.lastSeen = now;
    this.table.insert(s);
    this.link(s);
    return s;
  }

  /** Marks a session used at `now` (a reply went through it). */
  touch(s: UdpSession<T>, now: number): void {
    s.lastSeen = now;
    if (this.newest === s) return;
    this.unlink(s);
    this.link(s);
  }

  /** Removes a session (reason `removed`). */
  delete(s: UdpSession<T>): void {
    this.evict(s, "removed");
  }

  /** Removes sessions idle for `timeoutMs`; returns the next expiry in ms, or Infinity. */
  expire(now: number): number {
    while (this.oldest) {
      const due = this.oldest.lastSeen + this.timeoutMs;
      if (due > now) return due;
      this.evict(this.oldest, "timeout");
    }
    return Infinity;
  }

  /** Iterates over sessions, least recently used first. */
  *values(): IterableIterator<UdpSession<T>> {
    for (let s = this.oldest; s; s = s.next) yield s;
  }

  private evict(s: UdpSession<T>, reason: UdpEvictReason): void {
    this.table.remove(s);
    this.unlink(s);
    this.onEvict?.(s, reason);
  }

  private link(s: UdpSession<T>): void {
    s.prev = this.newest;
    s.next = null;
    if (this.newest) this.newest.next = s;
    else this.oldest = s;
    this.newest = s;
  }

  private unlink(s: UdpSession<T>): void {
    if (s.prev) s.prev.next = s.next;
    else if (this.oldest === s) this.oldest = s.next;
    if (s.next) s.next.prev = s.prev;
    else if (this.newest === s) this.newest = s.prev;
    s.prev = s.next = null;
  }
}

/** Options of a {@linkcode UdpReplyBuilder}. */
export interface UdpReplyOptions {
  /** Bytes before each packet in its buffer (for a virtio-net header). Default 16. */
  headroom?: number;
  /** Fill UDP checksums. Default true. */
  computeChecksums?: boolean;
  /** Without checksums, store the pseudo-header sum instead of 0 (virtio `NEEDS_CSUM`). */
  pseudoHeaderChecksums?: boolean;
}

/**
 * Builds UDP reply packets to clients in one scratch buffer:
 *
 * ```ts
 * const area = replies.payloadArea(session.version);   // read the reply straight into it
 * const n = recvfrom(fd, area, from);
 * const packet = replies.finish(session.version, session.clientAddr, session.clientPort,
 *   fromAddr, fromPort, n);                            // headers and checksum around it
 * tun.write(packet);
 * ```
 */
export class UdpReplyBuilder {
  private readonly pb: PacketBuilder;
  private readonly udp = new UdpPacket(new Uint8Array(0));

  constructor(options: UdpReplyOptions = {}) {
    this.pb = new PacketBuilder(
      options.headroom ?? 16,
      null,
      options.computeChecksums ?? true,
      options.pseudoHeaderChecksums ?? false,
    );
  }

  /** Largest payload for a version (65535 minus IP and UDP headers). */
  static maxPayload(version: number): number {
    return MAX_PACKET - PacketBuilder.ipHeaderLen(version) - UDP_HEADER_LEN;
  }

  /** The scratch region where the payload of the next reply of this IP version goes. */
  payloadArea(version: number): Uint8Array {
    const start = PacketBuilder.ipHeaderLen(version) + UDP_HEADER_LEN;
    return this.pb.packet.subarray(start, start + UdpReplyBuilder.maxPayload(version));
  }

  /**
   * Writes the IP and UDP headers in front of `len` payload bytes already in
   * {@linkcode UdpReplyBuilder.payloadArea} and returns the packet (from `srcAddr:srcPort`, the
   * remote end that answered, to the client). The view is valid until the next reply is built;
   * `packet.byteOffset` leaves `headroom` bytes before it.
   */
  finish(
    version: number,
    clientAddr: Uint8Array,
    clientPort: number,
    srcAddr: Uint8Array,
    srcPort: number,
    len: number,
  ): Uint8Array {
    if (!(len >= 0 && len <= UdpReplyBuilder.maxPayload(version))) {
      throw new RangeError(`UDP reply of ${len} bytes does not fit an IPv${version} packet`);
    }
    const alen = version === 6 ? 16 : 4;
    if (clientAddr.length !== alen || srcAddr.length !== alen) {
      throw new TypeError(`UDP reply addresses must be IPv${version} (${alen} bytes)`);
    }
    const pb = this.pb;
    const l4Len = UDP_HEADER_LEN + len;
    const o = pb.ipHeader(version, IPPROTO_UDP, srcAddr, 0, clientAddr, 0, l4Len);
    const u = this.udp.reset(pb.packet, o, o + l4Len);
    u.setSrcPort(srcPort);
    u.setDstPort(clientPort);
    u.setLengthField(l4Len);
    return pb.view(pb.finish(version, IPPROTO_UDP, o, l4Len, UDP_FIELD.CHECKSUM));
  }

  /** Copies `payload` into the payload area and builds the packet (the non-zero-copy path). */
  build(
    version: number,
    clientAddr: Uint8Array,
    clientPort: number,
    srcAddr: Uint8Array,
    srcPort: number,
    payload: Uint8Array,
  ): Uint8Array {
    const area = this.payloadArea(version);
    if (payload.length > area.length) {
      throw new RangeError(
        `UDP reply of ${payload.length} bytes does not fit an IPv${version} packet`,
      );
    }
    area.set(payload);
    return this.finish(version, clientAddr, clientPort, srcAddr, srcPort, payload.length);
  }
}
