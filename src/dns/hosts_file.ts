/**
 * Hosts files (`/etc/hosts` format): parsing, a file that is read again when it changes, and a
 * resolver over it for places where no DNS module runs (the standalone SOCKS server, the demo).
 * The `hosts` and `local` DNS servers (`transport_hosts.ts`, `transport_local.ts`) read through
 * {@linkcode HostsFile}.
 *
 * @module
 */

import type { DomainStrategy } from "../config/types.ts";
import { parseIp } from "../net/ip.ts";
import { orderAddresses } from "../outbound/direct_dialer.ts";
import { canonicalName } from "../net/dns/wire.ts";

/** The default hosts file. */
export const DEFAULT_HOSTS_PATH = "/etc/hosts";
/** How long a hosts file is trusted before its size and mtime are checked again. */
export const HOSTS_RECHECK_MS = 5000;

/**
 * Parses hosts-file text into name → addresses (names lower-cased, addresses in file order).
 * Comments (`#`), zone suffixes (`fe80::1%eth0`) and lines whose first field is not an IP
 * address are skipped.
 *
 * ```ts
 * parseHosts("127.0.0.1 localhost\n::1 localhost ip6-localhost # v6\n").get("localhost");
 * // → [127.0.0.1, ::1] as 4- and 16-byte arrays
 * ```
 */
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

/** A hosts file, parsed lazily and reloaded when it changes. Read errors leave it empty. */
export class HostsFile {
  #byName = new Map<string, Uint8Array[]>();
  #checkedAt = -Infinity;
  #mtime: number | null = null;
  #size = -1;

  /** `now`: a millisecond clock; the file is checked again {@linkcode HOSTS_RECHECK_MS} apart. */
  constructor(readonly path: string, readonly now: () => number) {}

  /** Addresses of `name` (no trailing dot), in file order. */
  lookup(name: string): Uint8Array[] {
    this.#update();
    return this.#byName.get(canonicalName(name)) ?? [];
  }

  #update(): void {
    const now = this.now();
    if (now - this.#checkedAt < HOSTS_RECHECK_MS) return;
    this.#checkedAt = now;
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(this.path);
    } catch {
      this.#byName = new Map();
      this.#mtime = null;
      this.#size = -1;
      return;
    }
    const mtime = info.mtime?.getTime() ?? 0;
    if (mtime === this.#mtime && info.size === this.#size) return;
    try {
      this.#byName = parseHosts(Deno.readTextFileSync(this.path));
      this.#mtime = mtime;
      this.#size = info.size;
    } catch {
      this.#byName = new Map();
    }
  }
}

/**
 * A `resolve` function for a `DialContext` where no DNS module runs: IP literals as they are,
 * names from the hosts file at `path` (read again when it changes), `localhost` as 127.0.0.1 when
 * the file does not name it. Anything else is refused with an error naming the file.
 *
 * ```ts
 * const dialer = new DirectDialer("direct", {}, { reactor, resolve: hostsResolver() });
 * ```
 */
export function hostsResolver(
  path = DEFAULT_HOSTS_PATH,
): (domain: string, strategy?: DomainStrategy) => Promise<Uint8Array[]> {
  const file = new HostsFile(path, () => performance.now());
  return (domain, strategy = "") => {
    const literal = parseIp(domain);
    if (literal) return Promise.resolve([literal]);
    const name = domain.replace(/\.$/, "");
    let found = file.lookup(name);
    if (found.length === 0 && canonicalName(name) === "localhost") {
      found = [new Uint8Array([127, 0, 0, 1])];
    }
    if (found.length === 0) {
      return Promise.reject(new Error(`"${domain}" is not in ${path} (no DNS resolver here)`));
    }
    return Promise.resolve(orderAddresses(found, strategy));
  };
}
