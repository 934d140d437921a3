/**
 * sing-box 1.14's `dns_mode` and `dns_address` of a tun inbound, resolved the way sing-tun does
 * (`tun.go` `Inet4DNSAddress`/`Inet6DNSAddress`): the addresses the system resolver is pointed
 * at, and whether flows to them are hijacked into the DNS module.
 *
 * - `dns_mode` `disabled`: no system DNS change and no hijack.
 * - `native` and `hijack` (the default): the system resolver is set to the DNS addresses (on
 *   macOS through the dynamic store, `src/platform/darwin/system_dns.ts`).
 * - `dns_address` unset: one address per family, the next address after the first IPv4/IPv6
 *   prefix of `address` (198.18.0.1/16 → 198.18.0.2), and connections to those addresses are
 *   answered by the DNS module as a `hijack-dns` rule would. Set: those addresses (per family
 *   the TUN has), and no automatic hijack (add a `hijack-dns` rule when it is wanted).
 *
 * ```ts
 * tunDns({ ...options, address: [parsePrefix("198.18.0.1/16")!] });
 * // { mode: "hijack", servers: [198.18.0.2], autoHijack: true }
 * ```
 *
 * @module
 */

import type { Prefix, TunInboundOptions } from "./types.ts";

/** What `dns_mode`/`dns_address` mean for one tun inbound. */
export interface TunDns {
  mode: "disabled" | "native" | "hijack";
  /** The addresses the system resolver is pointed at (empty with `disabled`). */
  servers: Uint8Array[];
  /** Flows to `servers` port 53 are answered by the DNS module (derived addresses only). */
  autoHijack: boolean;
}

/** The address after `p.addr` when it is still inside `p`, else null. */
export function nextAddressIn(p: Prefix): Uint8Array | null {
  const next = p.addr.slice();
  for (let i = next.length - 1; i >= 0; i--) {
    next[i] = (next[i]! + 1) & 0xff;
    if (next[i] !== 0) break;
    if (i === 0) return null; // wrapped around
  }
  // Inside the prefix: the first `bits` bits are unchanged.
  for (let bit = 0; bit < p.bits; bit++) {
    const byte = bit >> 3, mask = 0x80 >> (bit & 7);
    if ((next[byte]! & mask) !== (p.addr[byte]! & mask)) return null;
  }
  return next;
}

/** Resolves `dns_mode`/`dns_address` for `options`; see the module comment. */
export function tunDns(
  options: Pick<TunInboundOptions, "address" | "dns_mode" | "dns_address">,
): TunDns {
  const mode = options.dns_mode ?? "hijack";
  if (mode === "disabled") return { mode, servers: [], autoHijack: false };
  const v4 = options.address.find((p) => p.addr.length === 4);
  const v6 = options.address.find((p) => p.addr.length === 16);
  if (options.dns_address && options.dns_address.length > 0) {
    const servers = options.dns_address.filter((a) =>
      (a.length === 4 && v4 !== undefined) || (a.length === 16 && v6 !== undefined)
    );
    return { mode, servers, autoHijack: false };
  }
  const servers: Uint8Array[] = [];
  for (const p of [v4, v6]) {
    const next = p ? nextAddressIn(p) : null;
    if (next) servers.push(next);
  }
  return { mode, servers, autoHijack: servers.length > 0 };
}
