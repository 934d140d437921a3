/**
 * Builds decoded tun inbound options for tests (every list field present, as the decoder
 * produces them).
 *
 * @module
 */

import type { TunInboundOptions } from "../../../src/config/types.ts";
import { parsePrefix } from "../../../src/net/ip.ts";

/** Options from JSON-like overrides; prefixes may be given as text. */
export function tunOptions(
  over: Partial<Omit<TunInboundOptions, "address" | "route_address" | "route_exclude_address">> & {
    address?: string[];
    route_address?: string[];
    route_exclude_address?: string[];
  } = {},
): TunInboundOptions {
  const prefixes = (list: string[] = []) =>
    list.map((t) => {
      const p = parsePrefix(t);
      if (!p) throw new SyntaxError(`Bad prefix in test options: ${t}`);
      return p;
    });
  const { address, route_address, route_exclude_address, ...rest } = over;
  return {
    type: "tun",
    tag: "tun-in",
    route_address_set: [],
    route_exclude_address_set: [],
    include_interface: [],
    exclude_interface: [],
    include_uid: [],
    exclude_uid: [],
    include_android_user: [],
    include_package: [],
    exclude_package: [],
    include_mac_address: [],
    exclude_mac_address: [],
    ...rest,
    address: prefixes(address),
    route_address: prefixes(route_address),
    route_exclude_address: prefixes(route_exclude_address),
  };
}

/** The seed's inbound: utun8, 198.18.0.1/16, auto_route, strict_route. */
export const SEED_TUN = tunOptions({
  interface_name: "utun8",
  address: ["198.18.0.1/16"],
  auto_route: true,
  strict_route: true,
  sniff: false,
});
