/**
 * The tun inbound's DNS address as a flow decision: sing-box 1.14 answers flows to the derived
 * `dns_address` with the DNS module before any rule (`src/config/tun_dns.ts` derives it;
 * on macOS the system resolver is pointed there).
 *
 * ```ts
 * const hijack = inboundDnsHijack(options); // FlowServices.autoHijack
 * hijack?.(meta); // "dns_address 198.18.0.2" for UDP/TCP 198.18.0.2:53 from the tun inbound
 * ```
 *
 * @module
 */

import type { Options } from "../config/types.ts";
import { formatIp, ipEqual } from "../net/ip.ts";
import { tunDns } from "../config/tun_dns.ts";
import type { ConnMetadata } from "../route/metadata.ts";

/**
 * sing-box 1.14: flows from a tun inbound to its derived DNS address (the address after the
 * TUN's own, 198.18.0.2 for 198.18.0.1/16) on port 53 are answered by the DNS module, unless
 * `dns_mode` is `disabled` or `dns_address` is set (`src/config/tun_dns.ts`). This is
 * where the system resolver points on macOS. Null when no tun inbound has such an address.
 */
export function inboundDnsHijack(options: Options): ((meta: ConnMetadata) => string | null) | null {
  const byTag = new Map<string, Uint8Array[]>();
  for (const inbound of options.inbounds) {
    if (inbound.type !== "tun") continue;
    const d = tunDns(inbound);
    if (d.autoHijack) byTag.set(inbound.tag, d.servers);
  }
  if (byTag.size === 0) return null;
  return (meta) => {
    if (meta.inboundType !== "tun" || meta.destination.port !== 53) return null;
    const servers = byTag.get(meta.inbound);
    const addr = meta.destination.addr;
    return servers?.some((s) => ipEqual(s, addr)) ? `dns_address ${formatIp(addr)}` : null;
  };
}
