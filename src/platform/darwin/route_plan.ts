/**
 * What `auto_route` installs on macOS, computed without touching the system.
 *
 * macOS has no policy routing, so tunbox (as sing-tun) adds ordinary routes that are more
 * specific than the default route: `0.0.0.0/1` + `128.0.0.0/1` and `::/1` + `8000::/1` (or
 * `route_address`), minus `route_exclude_address`, each with the TUN's own address as gateway.
 * The physical default route stays in place, so default-interface detection and sockets bound
 * with `IP_BOUND_IF` keep using it. With `dns_mode` native or hijack (the default) the plan
 * also names the DNS addresses the system resolver is pointed at (`system_dns.ts`).
 *
 * @module
 */

import type { Prefix, TunInboundOptions } from "../../config/types.ts";
import { formatIp, formatPrefix, maskPrefix, parsePrefix, subtractPrefixes } from "../../net/ip.ts";
import { tunDns } from "../../config/tun_dns.ts";
import type { PlannedRoute, RoutePlan } from "../types.ts";
import { tunPlanWarnings } from "../../config/tun_limits.ts";

const DEFAULT_V4 = ["0.0.0.0/1", "128.0.0.0/1"].map((t) => parsePrefix(t)!);
const DEFAULT_V6 = ["::/1", "8000::/1"].map((t) => parsePrefix(t)!);

/**
 * Splits a /0 into its two /1 halves. A /0 would collide with the system's default route: the
 * add fails with EEXIST, and delete-and-re-add would then delete the user's default route.
 */
function splitDefault(p: Prefix): Prefix[] {
  if (p.bits !== 0) return [p];
  const high = new Uint8Array(p.addr.length);
  high[0] = 0x80;
  return [{ addr: new Uint8Array(p.addr.length), bits: 1 }, { addr: high, bits: 1 }];
}

/** The routes (and warnings) `auto_route` means on macOS for these options and device. */
export function planDarwinRoutes(options: TunInboundOptions, deviceName: string): RoutePlan {
  // The words `check` reports at each key (src/config/tun_limits.ts); what tunbox does not
  // implement at all (auto_redirect, address sets) is its verdict there.
  const warnings = tunPlanWarnings(options, "darwin").map((w) => w.message);
  const routes: PlannedRoute[] = [];
  if (!options.auto_route) return { routes, rules: [], warnings };

  const inet4 = options.address.find((p) => p.addr.length === 4);
  const inet6 = options.address.find((p) => p.addr.length === 16);
  for (
    const [tunAddr, defaults, length] of [[inet4, DEFAULT_V4, 4], [inet6, DEFAULT_V6, 16]] as const
  ) {
    if (!tunAddr) continue;
    const own = options.route_address.filter((p) => p.addr.length === length);
    const include = own.length > 0 ? own : defaults;
    const exclude = options.route_exclude_address.filter((p) => p.addr.length === length);
    const prefixes = subtractPrefixes(include.map(maskPrefix), exclude.map(maskPrefix))
      .flatMap(splitDefault);
    for (const prefix of prefixes) {
      routes.push({
        prefix,
        device: deviceName,
        gateway: tunAddr.addr,
        text: `${formatPrefix(prefix)} via ${formatIp(tunAddr.addr)}` +
          (deviceName ? ` (${deviceName})` : ""),
      });
    }
  }
  if (inet4 === undefined && inet6 === undefined) {
    warnings.push("auto_route is set but the TUN has no address: no routes are added");
  }
  // The resolver is pointed at the TUN for a full tunnel only (tunPlanWarnings says why not
  // otherwise): a primary utun service takes the default route with it.
  const dns = tunDns(options);
  if (
    dns.mode !== "disabled" && dns.servers.length > 0 && routes.length > 0 &&
    options.route_address.length === 0
  ) {
    const bypass = options.route_exclude_address.map(maskPrefix);
    return { routes, rules: [], warnings, dns: { servers: dns.servers, bypass } };
  }
  return { routes, rules: [], warnings };
}
