/**
 * The `route` section: rules, rule-sets, `final`, interface binding and marks.
 *
 * @module
 */

import type { Obj } from "./reader.ts";
import { decodeHeadlessRule, decodeRouteRule } from "./decode_rule.ts";
import { domainResolver } from "./decode_dial.ts";
import { decodeHttpClient } from "./decode_sections.ts";
import type { RouteOptions, Rule, RuleSetOptions } from "./types.ts";

/**
 * Decodes one `rule_set` entry. sing-box 1.14 accepts a list of tags (one rule-set per tag, with
 * `{tag}` in `path`/`url`/`initial_path` replaced by each), so this returns a list.
 */
function decodeRuleSet(o: Obj, index: number): RuleSetOptions[] {
  const ctx = o.ctx;
  o.strict("type", "tag", "format");
  // sing-box reads a missing or empty "type" as "inline".
  const typeAt = o.at("type");
  const type = typeAt?.node.kind === "string" && typeAt.node.value === ""
    ? "inline"
    : o.has("type")
    ? o.enumOf("type", ["inline", "local", "remote"] as const)
    : "inline";
  o.known("type");
  if (type !== undefined) {
    ctx.support(`rule_set.${type}`, typeAt?.node ?? o.node, typeAt?.path ?? o.path);
  }
  const tagAt = o.at("tag");
  const tags = tagAt?.node.kind === "array" ? o.strings("tag") : [o.string("tag") ?? ""];
  if (tags.length === 0 || tags.some((t) => t === "")) {
    ctx.error(tagAt?.node ?? o.node, tagAt?.path ?? o.path, 'missing "tag"');
  }
  if (tagAt?.node.kind === "array") {
    tagAt.node.items.forEach((n, i) => {
      if (n.kind === "string" && n.value !== "") {
        ctx.define("rule-set", n.value, n, `${tagAt.path}[${i}]`);
      }
    });
  } else if (tags[0]) ctx.define("rule-set", tags[0], tagAt!.node, tagAt!.path);
  const out: RuleSetOptions = { type: type ?? "inline", tag: tags[0] || String(index), rules: [] };
  const format = o.enumOf("format", ["source", "binary"] as const);
  if (format !== undefined) out.format = format;
  const path = o.string("path");
  if (path !== undefined) out.path = path;
  const url = o.string("url");
  if (url !== undefined) out.url = url;
  const initial = o.optionalString("initial_path");
  if (initial !== undefined) out.initial_path = initial;
  o.feature("initial_path", "rule_set.initial_path");
  const detour = o.tagRef("download_detour", "outbound");
  if (detour !== undefined) out.download_detour = detour;
  const client = o.at("http_client");
  if (client && client.node.kind === "string") {
    const tag = o.tagRef("http_client", "http client");
    if (tag !== undefined) out.http_client = tag;
  } else if (client) {
    const c = ctx.object(client.node, client.path);
    if (c) {
      out.http_client = decodeHttpClient(c, "");
      c.done(" in an HTTP client");
    }
  }
  o.feature("http_client", "rule_set.http_client");
  const interval = o.duration("update_interval");
  if (interval !== undefined) out.update_interval = interval;
  out.rules = o.items("rules").map((r) => decodeHeadlessRule(ctx, r.node, r.path))
    .filter((r): r is Rule => r !== undefined);
  o.known("version");
  o.done(` in a rule-set`);
  if (type === "local" && path === undefined) {
    ctx.error(o.node, o.path, 'missing "path" for a local rule-set');
  }
  if (type === "remote" && url === undefined) {
    ctx.error(o.node, o.path, 'missing "url" for a remote rule-set');
  }
  if (type === "inline" && !o.has("rules")) {
    ctx.error(o.node, o.path, 'missing "rules" for an inline rule-set');
  }
  if (!type) return [];
  if (tags.length > 1) {
    if (type === "inline") {
      ctx.error(tagAt!.node, tagAt!.path, "a list of tags cannot be used with an inline rule-set");
      return [];
    }
    const templated = [out.path, out.url, out.initial_path].filter((x) => x !== undefined);
    if (!templated.some((x) => x!.includes("{tag}"))) {
      ctx.error(
        tagAt!.node,
        tagAt!.path,
        'a list of tags needs "{tag}" in "path", "url" or "initial_path" (replaced by each tag)',
      );
      return [];
    }
  }
  const sub = (x: string | undefined, tag: string) => x?.replaceAll("{tag}", tag);
  return tags.filter((t) => t !== "").map((tag) => {
    const one: RuleSetOptions = { ...out, tag };
    const p = sub(out.path, tag), u = sub(out.url, tag), ip = sub(out.initial_path, tag);
    if (p !== undefined) one.path = p;
    if (u !== undefined) one.url = u;
    if (ip !== undefined) one.initial_path = ip;
    ctx.where.set(one, o);
    return one;
  });
}

const GUI_ONLY_ROUTE_KEYS = [
  "default_network_type",
  "default_fallback_network_type",
  "default_fallback_delay",
  "default_network_strategy",
  "override_android_vpn",
] as const;

/** Decodes the `route` section. */
export function decodeRoute(o: Obj | undefined): RouteOptions {
  const route: RouteOptions = { rules: [], rule_set: [] };
  if (!o) return route;
  const ctx = o.ctx;
  route.rules = o.items("rules").map((r) => decodeRouteRule(ctx, r.node, r.path))
    .filter((r): r is Rule => r !== undefined);
  route.rule_set = o.items("rule_set").flatMap((r, i) => {
    const s = ctx.object(r.node, r.path);
    return s ? decodeRuleSet(s, i) : [];
  });
  const set = <K extends keyof RouteOptions>(k: K, v: RouteOptions[K] | undefined) => {
    if (v !== undefined) route[k] = v;
  };
  set("final", o.tagRef("final", "outbound"));
  set("auto_detect_interface", o.bool("auto_detect_interface"));
  set("default_interface", o.string("default_interface"));
  set("default_mark", o.mark("default_mark"));
  set("find_process", o.bool("find_process"));
  const resolver = o.at("default_domain_resolver");
  if (resolver) set("default_domain_resolver", domainResolver(ctx, resolver.node, resolver.path));
  set("default_network_strategy", o.string("default_network_strategy"));
  set("override_android_vpn", o.bool("override_android_vpn"));
  for (const k of GUI_ONLY_ROUTE_KEYS) o.feature(k, `route.${k}`);
  o.feature("find_process", "route.find_process");
  for (const k of ["geoip", "geosite"] as const) o.feature(k, `route.${k}`);
  o.feature("find_neighbor", "route.find_neighbor");
  o.feature("dhcp_lease_files", "route.dhcp_lease_files");
  set("default_http_client", o.tagRef("default_http_client", "http client"));
  o.feature("default_http_client", "route.default_http_client");
  o.done(" in route");
  ctx.where.set(route, o);
  return route;
}
