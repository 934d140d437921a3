/**
 * The safe TUN setup `tunbox init` writes (and `tunbox import --tun` adds): a tun inbound with
 * auto_route for this OS, the rules every such config needs, and DNS through the proxy.
 *
 * - tun: no `interface_name` (the next free `tunN`, or `utunN` on macOS), `172.19.0.1/30` and `fdfe:dcba:9876::1/126` (IPv6 is captured too, so it cannot leak
 *   past the proxy), `auto_route`, `strict_route` on Linux (nothing leaves outside the TUN), the
 *   proxy server's addresses in `route_exclude_address` (its own connection must not loop back
 *   into the TUN);
 * - rules: `sniff` first (names for rules and logs), `hijack-dns` for DNS, private addresses and
 *   the proxy server's addresses direct;
 * - `route.auto_detect_interface`, so direct connections leave through the real interface;
 * - DNS: one server reached through the proxy (UDP when the proxy relays UDP, else TCP).
 *
 * @module
 */

import { cidr } from "./convert.ts";
import { commented, type Jsonc, trailing } from "./jsonc_writer.ts";

/** The TUN addresses tunbox writes (sing-box's documented examples). */
export const TUN_ADDRESSES = ["172.19.0.1/30", "fdfe:dcba:9876::1/126"] as const;

/** A proxy server address to keep out of the TUN, and where it came from. */
export interface ExcludedServer {
  /** As written in the client config (a name or an address). */
  host: string;
  /** The addresses it stands for (resolved now for names). */
  addrs: string[];
  /** Where the host was found, for the comment. */
  source: string;
}

/** The tun inbound for `os`. */
export function tunInbound(
  os: "linux" | "darwin",
  servers: readonly ExcludedServer[],
): Record<string, Jsonc> {
  const out: Record<string, Jsonc> = {
    type: "tun",
    tag: "tun-in",
  };
  out.address = commented([...TUN_ADDRESSES], [
    "IPv4 and IPv6, so IPv6 goes through the proxy too instead of around it.",
    "The system and mixed stacks use the next address of each prefix as their own.",
  ]);
  out.auto_route = trailing(true, "route all traffic into the TUN");
  if (os === "linux") {
    out.strict_route = trailing(true, "nothing leaks around the TUN (Linux)");
  }
  const excluded = exclusionPrefixes(servers);
  if (excluded.length > 0) {
    out.route_exclude_address = commented(excluded, [
      "The proxy server's own addresses stay outside the TUN: the proxy client's connection to",
      "its server must not come back into tunbox (that would loop).",
    ]);
  }
  out.stack = "mixed";
  return out;
}

/** The /32 and /128 prefixes of the servers' addresses, deduplicated. */
export function exclusionPrefixes(servers: readonly ExcludedServer[]): string[] {
  const out: string[] = [];
  for (const s of servers) {
    for (const a of s.addrs) {
      const c = cidr(a);
      if (c && !out.includes(c)) out.push(c);
    }
  }
  return out;
}

/** One line per server saying where its addresses came from. */
function serverComment(servers: readonly ExcludedServer[], date: string): string[] {
  return servers.map((s) => {
    const addrs = s.addrs.join(", ");
    return s.addrs.length === 1 && s.addrs[0] === s.host
      ? `${s.host}: the proxy server (${s.source})`
      : `${s.host} (${s.source}) resolved on ${date} to ${addrs}: run \`tunbox init\` again if it changes`;
  });
}

/** The rules every TUN config gets, before the config's own. */
export function tunRules(
  directTag: string,
  servers: readonly ExcludedServer[],
  date: string,
): Jsonc[] {
  const rules: Jsonc[] = [
    commented({ action: "sniff" }, [
      "Read TLS SNI, HTTP Host, QUIC and DNS from the first packets: rules and logs see names.",
    ]),
    trailing({ protocol: "dns", action: "hijack-dns" }, "tunbox answers every DNS query itself"),
    trailing({ ip_is_private: true, outbound: directTag }, "LAN, loopback, link-local"),
  ];
  const excluded = exclusionPrefixes(servers);
  if (excluded.length > 0) {
    rules.push(commented({ ip_cidr: excluded, outbound: directTag }, [
      "The proxy server itself goes direct (also excluded from the TUN above):",
      ...serverComment(servers, date),
    ]));
  }
  return rules;
}

/** DNS through the proxy: UDP when it relays UDP, else TCP (DNS over the proxy's TCP). */
export function proxiedDns(
  proxyTag: string,
  server: string,
  udp: boolean,
): Record<string, Jsonc> {
  return {
    servers: [
      commented(
        { type: udp ? "udp" : "tcp", tag: "remote", server, detour: proxyTag },
        udp
          ? "Queries go through the proxy (UDP ASSOCIATE): your network's resolver never sees them."
          : "Queries go through the proxy over TCP (it does not relay UDP).",
      ),
    ],
    final: "remote",
  };
}
