/**
 * DNS checks that need the whole decoded config, so that `check` refuses what the DNS module
 * (`src/dns/module.ts`, `createDns`) would refuse when `run` builds it: a server named by a domain
 * with nothing to resolve it, a server that resolves itself or a cycle of resolvers, a FakeIP
 * server as the default, two FakeIP servers, and references to legacy `rcode://` servers (which
 * are removed from the server list) outside DNS rules.
 *
 * @module
 */

import { parseIp } from "../net/ip.ts";
import type { Ctx, Obj } from "./reader.ts";
import { featureId, verdict } from "./support.ts";
import type { DnsServerOptions, Options } from "./types.ts";

/** Where a server's `server` (typed) or `address` (legacy) value is, for messages. */
function serverAt(o: Obj, s: DnsServerOptions): { node: { pos: Obj["pos"] }; path: string } {
  const at = o.at(s.legacy ? "address" : "server");
  return at ? { node: at.node, path: at.path } : { node: o.node, path: o.path };
}

/** True when the server dials a host by name (and so needs a resolver). */
function needsResolver(s: DnsServerOptions): boolean {
  const host = s.server ?? "";
  if (s.type === "local" || host === "") return false;
  return parseIp(host.startsWith("[") ? host.slice(1, -1) : host) === null;
}

/**
 * The networks an outbound carries when tunbox starts (as `Outbound.networks` reports them: a
 * group reports its current member, the default or the first one).
 */
function networksOf(
  options: Options,
  tag: string,
  seen: Set<string> = new Set(),
): Set<"tcp" | "udp"> {
  const both = new Set<"tcp" | "udp">(["tcp", "udp"]);
  const o = options.outbounds.find((x) => x.tag === tag);
  if (!o || seen.has(tag)) return both;
  seen.add(tag);
  switch (o.type) {
    case "http":
      return new Set(["tcp"]);
    case "socks":
      if (o.network) return new Set([o.network]);
      return (o.version ?? "5") === "5" ? both : new Set(["tcp"]);
    case "selector": {
      const current = o.default ?? o.outbounds[0];
      return current === undefined ? both : networksOf(options, current, seen);
    }
    case "urltest":
      return o.outbounds[0] === undefined ? both : networksOf(options, o.outbounds[0], seen);
    default:
      return both;
  }
}

/** Runs the DNS checks; problems go to `ctx`. */
export function validateDns(options: Options, ctx: Ctx, rcodeTags: ReadonlySet<string>): void {
  const dns = options.dns;
  const byTag = new Map(dns.servers.map((s) => [s.tag, s]));
  const fallback = options.route.default_domain_resolver;
  const inReportedCycle = new Set<string>();
  for (const s of dns.servers) {
    const o = ctx.where.get(s);
    // A server type tunbox does not run has its verdict as its one error; one that runs with a
    // warning (h3 runs as DoH) needs its address resolved like any other.
    const id = featureId("dns.server", s.type);
    if (!o || !needsResolver(s) || !id || verdict(id, ctx.os).level === "error") continue;
    const resolver = s.domain_resolver ?? fallback;
    const at = serverAt(o, s);
    // With a detour and no resolver the outbound gets the name (a proxy resolves it remotely).
    if (!resolver && s.detour !== undefined) continue;
    if (!resolver) {
      ctx.error(
        at.node,
        at.path,
        `server ${JSON.stringify(s.server)} is a domain name; set ${
          s.legacy ? '"address_resolver"' : '"domain_resolver"'
        } to a DNS server that resolves it (or "route.default_domain_resolver")`,
      );
      continue;
    }
    if (resolver.server === s.tag) {
      const r = o.at(s.legacy ? "address_resolver" : "domain_resolver") ?? at;
      ctx.error(r.node, r.path, "a DNS server cannot resolve its own address");
      continue;
    }
    // A chain of resolvers must end at a server with an IP address (or local). One cycle is
    // reported once, at its first server.
    if (inReportedCycle.has(s.tag)) continue;
    const seen = [s.tag];
    for (let cur: DnsServerOptions = s; needsResolver(cur);) {
      const next = cur.domain_resolver?.server ?? fallback?.server;
      const target = next === undefined ? undefined : byTag.get(next);
      if (!target) break;
      if (seen.includes(target.tag)) {
        for (const t of seen.slice(seen.indexOf(target.tag))) inReportedCycle.add(t);
        ctx.error(
          at.node,
          at.path,
          `domain_resolver cycle: ${
            [...seen, target.tag].map((t) => JSON.stringify(t)).join(" -> ")
          }`,
        );
        break;
      }
      seen.push(target.tag);
      cur = target;
    }
  }
  // UDP servers through an outbound without UDP (the DNS module words these the same way).
  const defaultOutbound = options.route.final || options.outbounds[0]?.tag;
  for (const s of dns.servers) {
    const o = ctx.where.get(s);
    if (!o || s.type !== "udp") continue;
    if (s.detour !== undefined) {
      if (!networksOf(options, s.detour).has("udp")) {
        const at = o.at("detour")!;
        ctx.warn(at.node, at.path, `detour outbound "${s.detour}" does not carry UDP`);
      }
    } else if (s.legacy && defaultOutbound !== undefined) {
      if (!networksOf(options, defaultOutbound).has("udp")) {
        const at = serverAt(o, s);
        ctx.warn(at.node, at.path, `the default outbound "${defaultOutbound}" does not carry UDP`);
      }
    }
  }
  const fakes = dns.servers.filter((s) => s.type === "fakeip");
  for (const extra of fakes.slice(1)) {
    const o = ctx.where.get(extra);
    if (o) {
      const at = o.at("type") ?? o.at("address");
      ctx.error(
        at?.node ?? o.node,
        at?.path ?? o.path,
        `a second fakeip server ("${extra.tag}" after "${
          fakes[0]!.tag
        }"): tunbox runs one FakeIP pool; use one fakeip server with both ranges`,
      );
    }
  }
  const dnsObj = ctx.where.get(dns);
  const finalTag = dns.final ?? dns.servers[0]?.tag;
  const def = finalTag === undefined ? undefined : byTag.get(finalTag);
  if (def?.type === "fakeip") {
    const at = dns.final !== undefined ? dnsObj?.at("final") : undefined;
    const o = ctx.where.get(def);
    const where = at ?? (o ? { node: o.node, path: o.path } : undefined);
    if (where) {
      ctx.error(
        where.node,
        where.path,
        `the default DNS server ${JSON.stringify(def.tag)} cannot be fakeip${
          dns.final === undefined ? ' (it is the first server; set "dns.final")' : ""
        }: tunbox's own lookups need real addresses`,
      );
    }
  }
  // Legacy rcode:// servers are removed (their DNS rules become predefined answers); any other
  // reference to them names nothing.
  if (rcodeTags.size > 0) {
    for (const ref of ctx.refs) {
      if (ref.kind !== "dns server" || !rcodeTags.has(ref.tag)) continue;
      ctx.error(
        ref.pos,
        ref.path,
        `DNS server ${
          JSON.stringify(ref.tag)
        } is an rcode:// server, which only DNS rules can use (as a predefined answer)`,
      );
    }
  }
}
