/**
 * Resolving the proxy server's name now, with the system resolver, for the exclusions `init`
 * and `import --tun` write (the addresses are written into the config, with the date).
 *
 * @module
 */

import { isIpLiteral } from "./convert.ts";
import type { ExcludedServer } from "./tun_profile.ts";

/** Today's date as YYYY-MM-DD (UTC). */
export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** A name resolver: A and AAAA records of `name` (tests inject one). */
export type Resolver = (name: string) => Promise<string[]>;

/** Resolves with `Deno.resolveDns` (A and AAAA), within 3 s each. */
export const systemResolver: Resolver = async (name) => {
  const out: string[] = [];
  for (const type of ["A", "AAAA"] as const) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 3000);
    try {
      out.push(...await Deno.resolveDns(name, type, { signal: ac.signal }));
    } catch {
      // No such record, or no answer in time: the other type may still answer.
    } finally {
      clearTimeout(timer);
    }
  }
  return out;
};

/**
 * The servers' addresses: IP literals as they are, names resolved now. Names that do not
 * resolve are left out with a warning (they cannot be excluded by address).
 */
export async function resolveServers(
  servers: readonly { host: string; source: string }[],
  resolve: Resolver = systemResolver,
): Promise<{ servers: ExcludedServer[]; warnings: string[] }> {
  const out: ExcludedServer[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  for (const s of servers) {
    const host = s.host.replace(/^\[|\]$/g, "");
    if (seen.has(host)) continue;
    seen.add(host);
    if (isLoopbackText(host)) continue; // never captured by the TUN
    if (isIpLiteral(host)) {
      out.push({ host, addrs: [host], source: s.source });
      continue;
    }
    const addrs = await resolve(host);
    if (addrs.length === 0) {
      warnings.push(
        `the proxy server ${host} (${s.source}) did not resolve now; add its addresses to route_exclude_address by hand`,
      );
      continue;
    }
    out.push({ host, addrs, source: s.source });
  }
  return { servers: out, warnings };
}

function isLoopbackText(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}
