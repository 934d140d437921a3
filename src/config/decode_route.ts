/**
 * The `route` section: rules, rule-sets, `final`, interface binding and marks.
 *
 * @module
 */

import type { Obj } from "./reader.ts";
import { decodeHeadlessRule, decodeRouteRule } from "./decode_rule.ts";
import { domainResolver } from "./decode_dial.ts";
import { unsupportedKeys } from "./decode_tls.ts";
import type { RouteOptions, Rule, RuleSetOptions } from "./types.ts";

function decodeRuleSet(o: Obj, index: number): RuleSetOptions | undefined {
  const ctx = o.ctx;
  const type = o.enumOf("type", ["inline", "local", "remote"] as const);
  if (!o.has("type")) ctx.error(o.node, o.path, 'missing "type" ("inline", "local" or "remote")');
  const tag = o.string("tag");
  if (tag === undefined && !o.has("tag")) ctx.error(o.node, o.path, 'missing "tag"');
  const out: RuleSetOptions = { type: type ?? "inline", tag: tag ?? String(index), rules: [] };
  const format = o.enumOf("format", ["source", "binary"] as const);
  if (format !== undefined) out.format = format;
  const path = o.string("path");
  if (path !== undefined) out.path = path;
  const url = o.string("url");
  if (url !== undefined) out.url = url;
  const detour = o.tagRef("download_detour", "outbound");
  if (detour !== undefined) out.download_detour = detour;
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
  if (!type) return undefined;
  ctx.where.set(out, o);
  return out;
}

const GUI_ONLY_ROUTE_KEYS = [
  "default_network_type",
  "default_fallback_network_type",
  "default_fallback_delay",
  "override_android_vpn",
];

/** Decodes the `route` section. */
export function decodeRoute(o: Obj | undefined): RouteOptions {
  const route: RouteOptions = { rules: [], rule_set: [] };
  if (!o) return route;
  const ctx = o.ctx;
  route.rules = o.items("rules").map((r) => decodeRouteRule(ctx, r.node, r.path))
    .filter((r): r is Rule => r !== undefined);
  route.rule_set = o.items("rule_set").map((r, i) => {
    const s = ctx.object(r.node, r.path);
    return s ? decodeRuleSet(s, i) : undefined;
  }).filter((r): r is RuleSetOptions => r !== undefined);
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
  for (const k of GUI_ONLY_ROUTE_KEYS) {
    if (o.has(k) && k !== "override_android_vpn") {
      ctx.warn(
        o.keyPos(k),
        o.p(k),
        `"${k}" is only used by sing-box's graphical clients; tunbox ignores it`,
      );
    }
  }
  for (const k of ["geoip", "geosite"]) {
    const p = o.node.props.find((q) => q.key === k);
    o.known(k);
    if (p) {
      ctx.error(
        p.keyPos,
        o.p(k),
        `"route.${k}" was removed in sing-box 1.12.0; use "rule_set" instead`,
      );
    }
  }
  unsupportedKeys(o, ["find_neighbor", "dhcp_lease_files"], "in route");
  o.done(" in route");
  ctx.where.set(route, o);
  return route;
}
