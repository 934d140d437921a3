/**
 * Options of a {@linkcode TcpStack} and their defaults.
 *
 * @module
 */

/** Tunables of the userspace TCP; every field has a default. Times are in milliseconds. */
export interface TcpTunables {
  /** Link MTU; our MSS is MTU − 40 (IPv4) or − 60 (IPv6). Default 65535. */
  mtu: number;
  /** Compute TCP checksums on output (the IPv4 header checksum is always computed). Default true. */
  computeChecksums: boolean;
  /**
   * When `computeChecksums` is false, store the folded pseudo-header sum in the TCP checksum field
   * instead of 0, as a virtio-net `NEEDS_CSUM` packet needs. Default false.
   */
  pseudoHeaderChecksums: boolean;
  /** Verify TCP checksums of incoming segments. Default false (the local kernel wrote them). */
  verifyChecksums: boolean;
  /**
   * Segmentation offload on output: new data goes out in "super segments" of up to 64 KiB that
   * stand for several segments of at most the MSS each, which whoever receives them cuts (Linux
   * TSO through a TUN's virtio_net_hdr); `emit` gets the segment size. Needs partial checksums
   * (`computeChecksums` false, `pseudoHeaderChecksums` true). Default false.
   */
  segmentationOffload: boolean;
  /** Bytes left free before each emitted packet in its buffer (for a virtio-net header). Default 16. */
  headroom: number;
  /** Receive buffer per connection, rounded up to a power of two. Default 256 KiB. */
  recvBufferSize: number;
  /** Send buffer per connection, rounded up to a power of two. Default 256 KiB. */
  sendBufferSize: number;
  /** Most flows awaiting accept/reject at once; further SYNs are dropped. Default 1024. */
  maxPendingSyns: number;
  /** Most connections (all states); further SYNs are dropped. Default 65536. */
  maxConnections: number;
  /** A pending flow not accepted or rejected within this time is dropped. Default 60 s. */
  synTimeoutMs: number;
  /** SYN-ACK retransmissions before giving up on a handshake. Default 5. */
  synAckRetries: number;
  /** Consecutive retransmission timeouts before the connection is reset. Default 15. */
  maxRetries: number;
  /** RTO before the first measurement (RFC 6298 §2.1). Default 1000. */
  initialRtoMs: number;
  /** Lower bound on the RTO (RFC 6298 §2.4 says 1 s; Linux uses 200 ms). Default 200. */
  minRtoMs: number;
  /** Upper bound on the RTO (RFC 6298 §2.5). Default 60000. */
  maxRtoMs: number;
  /** Delayed-ACK timeout (RFC 9293 §3.8.6.3 requires < 500 ms). Default 40. */
  delayedAckMs: number;
  /** Maximum segment lifetime; TIME-WAIT lasts 2×MSL. Default 5000 (a short TIME-WAIT). */
  mslMs: number;
  /** An application-closed connection left in FIN-WAIT-2 is reset after this long. Default 60000. */
  finWait2TimeoutMs: number;
  /** Idle time before keepalive probes start; 0 disables keepalive. Default 600000. */
  keepaliveIdleMs: number;
  /** Time between keepalive probes. Default 75000. */
  keepaliveIntervalMs: number;
  /** Unanswered keepalive probes before the connection is reset. Default 9. */
  keepaliveCount: number;
  /** A connection with no segment in either direction for this long is reset; 0 disables. Default 0. */
  idleTimeoutMs: number;
  /** Offer and use SACK (RFC 2018). Default true. */
  sack: boolean;
  /** Offer window scaling (RFC 7323 §2). Default true. */
  windowScaling: boolean;
  /** Offer timestamps (RFC 7323 §3). Default true. */
  timestamps: boolean;
  /** Most out-of-order ranges held per connection (and SACK scoreboard ranges). Default 32. */
  maxOooRanges: number;
}

/** The defaults of {@linkcode TcpTunables}. */
export const TCP_DEFAULTS: Readonly<TcpTunables> = Object.freeze({
  mtu: 65535,
  computeChecksums: true,
  pseudoHeaderChecksums: false,
  verifyChecksums: false,
  segmentationOffload: false,
  headroom: 16,
  recvBufferSize: 256 * 1024,
  sendBufferSize: 256 * 1024,
  maxPendingSyns: 1024,
  maxConnections: 65536,
  synTimeoutMs: 60_000,
  synAckRetries: 5,
  maxRetries: 15,
  initialRtoMs: 1000,
  minRtoMs: 200,
  maxRtoMs: 60_000,
  delayedAckMs: 40,
  mslMs: 5000,
  finWait2TimeoutMs: 60_000,
  keepaliveIdleMs: 600_000,
  keepaliveIntervalMs: 75_000,
  keepaliveCount: 9,
  idleTimeoutMs: 0,
  sack: true,
  windowScaling: true,
  timestamps: true,
  maxOooRanges: 32,
});

/** Rounds up to a power of two within [2^10, 2^30]. */
export function roundPow2(n: number): number {
  let p = 1024;
  while (p < n && p < 0x40000000) p *= 2;
  return p;
}

/** Resolves partial tunables against the defaults and validates them. */
export function resolveTunables(partial: Partial<TcpTunables>): TcpTunables {
  const t: TcpTunables = { ...TCP_DEFAULTS };
  for (const [k, v] of Object.entries(partial)) {
    if (v !== undefined) (t as unknown as Record<string, unknown>)[k] = v;
  }
  if (!(t.mtu >= 576 && t.mtu <= 65535)) {
    throw new RangeError(`TCP stack MTU ${t.mtu} is outside 576..65535`);
  }
  t.recvBufferSize = roundPow2(t.recvBufferSize);
  t.sendBufferSize = roundPow2(t.sendBufferSize);
  if (t.maxOooRanges < 1) throw new RangeError(`maxOooRanges ${t.maxOooRanges} must be >= 1`);
  if (t.segmentationOffload && (t.computeChecksums || !t.pseudoHeaderChecksums)) {
    throw new RangeError(
      "TCP segmentation offload needs partial checksums (computeChecksums false, " +
        "pseudoHeaderChecksums true)",
    );
  }
  return t;
}
