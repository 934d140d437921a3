/**
 * The `route` section: rules, rule-sets, `final`, interface binding and marks.
 *
 * @module
 */

import type { Obj } from "./reader.ts";
import { decodeRouteRule } from "./decode_rule.ts";
import { decodeRuleSet } from "./decode_rule_set.ts";
import { domainResolver } from "./decode_dial.ts";
import type { RouteOptions, Rule } from "./types.ts";

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
  set("default_interface", o.optionalString("default_interface"));
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
  o.done(" in route");
  ctx.where.set(route, o);
  return route;
}
