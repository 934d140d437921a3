/**
 * A resolver from the hosts file, for the standalone SOCKS server and the demo (where no DNS
 * module runs): IP literals, names in `/etc/hosts`, and `localhost`.
 *
 * @module
 */

import type { DomainStrategy } from "../config/types.ts";
import { parseIp } from "../net/ip.ts";
import { orderAddresses } from "../outbound/direct_dialer.ts";

/** Parses hosts-file text into name → addresses (names lower-cased, in file order). */
export function parseHosts(text: string): Map<string, Uint8Array[]> {
  const map = new Map<string, Uint8Array[]>();
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const [ip, ...names] = line.split(/\s+/);
    const addr = parseIp((ip ?? "").replace(/%.*$/, ""));
    if (!addr) continue;
    for (const n of names) {
      const key = n.toLowerCase();
      map.set(key, [...(map.get(key) ?? []), addr]);
    }
  }
  return map;
}

/** Returns a `resolve` function for a DialContext backed by a hosts file. */
export function hostsResolver(
  path = "/etc/hosts",
): (domain: string, strategy?: DomainStrategy) => Promise<Uint8Array[]> {
  let hosts: Map<string, Uint8Array[]>;
  try {
    hosts = parseHosts(Deno.readTextFileSync(path));
  } catch {
    hosts = new Map();
  }
  if (!hosts.has("localhost")) hosts.set("localhost", [new Uint8Array([127, 0, 0, 1])]);
  return (domain, strategy = "") => {
    const literal = parseIp(domain);
    if (literal) return Promise.resolve([literal]);
    const found = hosts.get(domain.toLowerCase().replace(/\.$/, ""));
    if (!found) {
      return Promise.reject(new Error(`"${domain}" is not in ${path} (no DNS resolver here)`));
    }
    return Promise.resolve(orderAddresses(found, strategy));
  };
}
