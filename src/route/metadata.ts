/**
 * Connection metadata: what the router knows about one flow (sing-box's `InboundContext`, flat).
 *
 * One object per flow, created with {@linkcode newConnMetadata} so every flow has the same shape
 * (same hidden class) and no optional property is added later. Empty strings and empty lists mean
 * "not known", as in sing-box (`metadata.Domain == ""`).
 *
 * Destination and dialing (sing-box ≥ 1.11 semantics):
 * - `destination` is what the outbound dials. For TUN flows it is the packet's IP and port. A
 *   `route-options`/`route` rule with `override_address`/`override_port` replaces it (the first
 *   value is kept in `originalDestination`); `override_address` may be a domain, then
 *   `destination.fqdn` is set and `destination.addr` is empty.
 * - `domain` is the sniffed domain (TLS SNI, HTTP Host, QUIC SNI). It is used for matching
 *   `domain*` rules only; sing-box no longer rewrites the destination with it (the inbound
 *   `sniff_override_destination` option is gone), so a SOCKS outbound sends the IP, not the
 *   domain. Outbounds may log `domain`.
 *
 * @module
 */

import type { Network, RouteOptionsFields } from "../config/types.ts";
import { isV4Mapped } from "../net/ip.ts";
import type { ProcessInfo } from "../platform/mod.ts";

/** An address and port. `fqdn` is set (and `addr` empty) only for domain destinations. */
export interface Endpoint {
  /** 4 or 16 bytes; empty when the endpoint is a domain. */
  addr: Uint8Array;
  port: number;
  /** Domain name for domain destinations (after `override_address` with a name). */
  fqdn?: string;
}

/** Metadata of one flow, read and updated by the router. */
export interface ConnMetadata {
  /** Connection id for logs. */
  id: number;
  /** Inbound tag. */
  inbound: string;
  /** Inbound type (`tun`, ...). */
  inboundType: string;
  network: Network;
  /** IP version of the original destination. */
  ipVersion: 4 | 6;
  source: Endpoint;
  /** Destination to dial (after overrides). */
  destination: Endpoint;
  /** Destination before the first `override_address`/`override_port`, else `null`. */
  originalDestination: Endpoint | null;
  /** Sniffed domain (routing only); "" when unknown. */
  domain: string;
  /** Sniffed protocol (`tls`, `http`, `quic`, `dns`); "" when not sniffed. */
  protocol: string;
  /** Sniffed client (QUIC: `chromium`, `safari`, `firefox`, `quic-go`, `unknown`); "" if none. */
  client: string;
  /** Addresses from a `resolve` action for a domain destination; empty otherwise. */
  destinationAddresses: Uint8Array[];
  /** Route options accumulated from `route-options` and `route` actions. */
  routeOptions: RouteOptionsFields;
  /**
   * For a lookup an outbound's dial makes: that outbound's tag (legacy `outbound` DNS rule items
   * match it); "" otherwise.
   */
  outbound: string;
  /**
   * The local process that opened the flow: `undefined` until a process rule item (or
   * `route.find_process`) looks it up (`route/process.ts`), then the process or null.
   */
  process: ProcessInfo | null | undefined;

  /**
   * Router-internal: index of the next rule to evaluate. 0 for a fresh flow; after
   * `Router.matchSync` returns `null` it points at the rule whose `sniff`/`resolve` action must
   * run before matching can continue (`Router.route` resumes there).
   */
  ruleCursor: number;
}

/** Fields needed to create metadata; everything else starts empty. */
export interface ConnMetadataInit {
  id: number;
  inbound: string;
  inboundType: string;
  network: Network;
  source: Endpoint;
  destination: Endpoint;
}

/**
 * Creates metadata for a new flow. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are unmapped
 * to IPv4, as sing-box's inbounds do, so IPv4 rules match them.
 */
export function newConnMetadata(init: ConnMetadataInit): ConnMetadata {
  const source = unmapEndpoint(init.source);
  const destination = unmapEndpoint(init.destination);
  return {
    id: init.id,
    inbound: init.inbound,
    inboundType: init.inboundType,
    network: init.network,
    ipVersion: destination.addr.length === 16 ? 6 : 4,
    source,
    destination,
    originalDestination: null,
    domain: "",
    protocol: "",
    client: "",
    destinationAddresses: [],
    routeOptions: {},
    outbound: "",
    process: undefined,
    ruleCursor: 0,
  };
}

function unmapEndpoint(e: Endpoint): Endpoint {
  if (!isV4Mapped(e.addr)) return e;
  const out: Endpoint = { addr: e.addr.subarray(12), port: e.port };
  if (e.fqdn !== undefined) out.fqdn = e.fqdn;
  return out;
}

/**
 * The destination an outbound should dial, in the shape of `src/outbound/types.ts`
 * `Destination`: the IP when there is one, else the domain from `override_address`. The
 * sniffed `meta.domain` is not used (sing-box ≥ 1.11 routes by it but dials the IP).
 */
export function dialDestination(meta: ConnMetadata): {
  addr?: Uint8Array;
  domain?: string;
  port: number;
} {
  const d = meta.destination;
  if (d.addr.length !== 0) return { addr: d.addr, port: d.port };
  return { domain: d.fqdn ?? "", port: d.port };
}
