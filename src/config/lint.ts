/**
 * Warnings about route rules that cannot work as written:
 *
 * - domain items (`domain`, `domain_suffix`, `domain_keyword`, `domain_regex`) on rules that only
 *   TUN connections reach, when nothing earlier sniffs and neither `dns.reverse_mapping` nor a
 *   FakeIP server maps addresses back to names: TUN destinations are IP addresses, so these items
 *   never match (as in sing-box);
 * - `protocol` items with no earlier `sniff` action: the protocol is only known after sniffing;
 * - a FakeIP range overlapping a TUN address: fake addresses would collide with the TUN's own
 *   (the system stack uses the address after the TUN's as its NAT peer);
 * - `clash_mode` items without `experimental.clash_api`: there is no Clash mode then, so they
 *   never match (as in sing-box).
 *
 * @module
 */

import { formatPrefix, maskPrefix, prefixContains } from "../net/ip.ts";
import type { Ctx, Obj } from "./reader.ts";
import type { DefaultRule, DnsRule, Options, Prefix, Rule } from "./types.ts";

const DOMAIN_KEYS = ["domain", "domain_suffix", "domain_keyword", "domain_regex"] as const;

/** Default rules inside `rule` (itself, or the leaves of a logical rule). */
function leaves(rule: Rule): DefaultRule[] {
  return rule.type === "default" ? [rule] : rule.rules.flatMap(leaves);
}

function warnAt(ctx: Ctx, o: Obj, key: string, message: string): void {
  const at = o.at(key);
  if (at) ctx.warn(at.node, at.path, message);
}

/** Adds the warnings for `options.route.rules` to `ctx`. */
export function lintRules(options: Options, ctx: Ctx): void {
  const allInbounds = options.inbounds.map((i) => i.tag);
  const tunTags = new Set(options.inbounds.filter((i) => i.type === "tun").map((i) => i.tag));
  const namesKnown = options.dns.reverse_mapping === true ||
    options.dns.servers.some((s) => s.type === "fakeip");
  const sniffScopes: (string[] | "all")[] = [];
  const covered = (tag: string) => sniffScopes.some((s) => s === "all" || s.includes(tag));
  for (const rule of options.route.rules) {
    for (const leaf of leaves(rule)) {
      const o = ctx.where.get(leaf);
      if (!o) continue;
      const reach = leaf.inbound.length > 0 ? leaf.inbound : allInbounds;
      if (reach.length === 0) continue;
      const sniffed = reach.some(covered);
      if (leaf.protocol.length > 0 && !sniffed) {
        warnAt(
          ctx,
          o,
          "protocol",
          '"protocol" is only known after sniffing, and no "sniff" action runs before this rule, so it can never match; add a rule {"action": "sniff"} before it',
        );
      }
      const onlyTun = reach.every((t) => tunTags.has(t));
      if (!onlyTun || sniffed || namesKnown) continue;
      const key = DOMAIN_KEYS.find((k) => leaf[k].length > 0);
      if (key === undefined) continue;
      warnAt(
        ctx,
        o,
        key,
        `"${key}" can never match here: TUN connections carry only IP addresses, no "sniff" action runs before this rule and dns.reverse_mapping is off (sing-box behaves the same); add a rule {"action": "sniff"} before it`,
      );
    }
    if (rule.action.action === "sniff") {
      sniffScopes.push(rule.type === "default" && rule.inbound.length > 0 ? rule.inbound : "all");
    }
  }
}

function overlaps(a: Prefix, b: Prefix): boolean {
  if (a.addr.length !== b.addr.length) return false;
  return prefixContains(maskPrefix(a), b.addr) || prefixContains(maskPrefix(b), a.addr);
}

/** Warns when a FakeIP range overlaps an address of a tun inbound. */
export function lintFakeIp(options: Options, ctx: Ctx): void {
  const tunPrefixes = options.inbounds.flatMap((i) =>
    i.type === "tun" ? i.address.map((p) => ({ tag: i.tag, p })) : []
  );
  for (const server of options.dns.servers) {
    if (server.type !== "fakeip") continue;
    const o = ctx.where.get(server);
    if (!o) continue;
    for (const key of ["inet4_range", "inet6_range"] as const) {
      const range = server[key];
      if (!range) continue;
      const hit = tunPrefixes.find((t) => overlaps(t.p, range));
      if (!hit) continue;
      warnAt(
        ctx,
        o,
        key,
        `FakeIP range ${formatPrefix(range)} overlaps the address ${
          formatPrefix(hit.p)
        } of inbound "${hit.tag}": fake addresses would collide with the TUN's own; give the TUN another range (sing-box's examples use 172.19.0.1/30)`,
      );
    }
  }
}

/** Default rules inside a route or DNS rule. */
function anyLeaves(rule: Rule | DnsRule): (Rule | DnsRule)[] {
  return rule.type === "logical" ? (rule.rules as (Rule | DnsRule)[]).flatMap(anyLeaves) : [rule];
}

/** Warns about `clash_mode` items when there is no Clash API, hence no mode. */
export function lintClashMode(options: Options, ctx: Ctx): void {
  if (options.experimental.clash_api) return;
  for (const rule of [...options.route.rules, ...options.dns.rules]) {
    for (const leaf of anyLeaves(rule)) {
      if (leaf.type === "logical" || !leaf.clash_mode) continue;
      const o = ctx.where.get(leaf);
      if (!o) continue;
      warnAt(
        ctx,
        o,
        "clash_mode",
        '"clash_mode" never matches without "experimental.clash_api": the Clash mode exists only with the Clash API (as in sing-box)',
      );
    }
  }
}
