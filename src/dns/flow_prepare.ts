/**
 * What the DNS module does to a flow before it is routed (the connection path's `prepare`
 * step): a FakeIP destination becomes the domain it was handed out for, and with
 * `dns.reverse_mapping` a flow to an address a lookup returned carries that lookup's domain.
 *
 * ```ts
 * const prepare = dnsFlowPrepare(options, dns); // null: neither FakeIP nor reverse mapping
 * const refusal = prepare?.(meta) ?? null; // "missing fakeip record for 198.18.0.9: ...": refuse
 * ```
 *
 * @module
 */

import type { Options } from "../config/types.ts";
import type { ConnMetadata } from "../route/metadata.ts";
import { missingFakeIpRecord } from "./fakeip.ts";

/** The lookups {@linkcode dnsFlowPrepare} needs from the DNS module. */
export interface DnsNames {
  /** Whether `addr` lies in a FakeIP range. */
  isFakeIp(addr: Uint8Array): boolean;
  /** The domain a FakeIP address was handed out for, if it is still known. */
  lookupFake(addr: Uint8Array): string | undefined;
  /** The domain a lookup answered `addr` for (reverse mapping). */
  lookupReverse(addr: Uint8Array): string | undefined;
}

/**
 * The prepare step for `options` (null when no `fakeip` server and no `reverse_mapping` is
 * configured): rewrites `meta` in place and returns why the flow must be refused (a FakeIP
 * address without a record), else null.
 *
 * As in sing-box, a FakeIP destination becomes the domain (port kept) and the fake address is
 * kept as `meta.originalDestination`; reverse mapping only fills an empty `meta.domain`.
 *
 * ```ts
 * const prepare = dnsFlowPrepare(options, dns)!;
 * prepare(meta); // meta.destination: { addr: <empty>, port: 443, fqdn: "example.com" }
 * ```
 */
export function dnsFlowPrepare(
  options: Options,
  dns: DnsNames,
): ((meta: ConnMetadata) => string | null) | null {
  const reverse = options.dns.reverse_mapping === true;
  if (!reverse && !options.dns.servers.some((s) => s.type === "fakeip")) return null;
  return (meta) => {
    const addr = meta.destination.addr;
    if (addr.length === 0) return null;
    if (dns.isFakeIp(addr)) {
      const domain = dns.lookupFake(addr);
      if (domain === undefined) return missingFakeIpRecord(addr);
      // sing-box: the destination becomes the domain; the fake address is kept as the origin.
      meta.originalDestination = meta.destination;
      meta.destination = { addr: new Uint8Array(0), port: meta.destination.port, fqdn: domain };
    } else if (reverse && meta.domain === "") {
      const domain = dns.lookupReverse(addr);
      if (domain !== undefined) meta.domain = domain;
    }
    return null;
  };
}
