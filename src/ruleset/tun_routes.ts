/**
 * A tun inbound's `route_address_set` / `route_exclude_address_set` (sing-box 1.11 without
 * `auto_redirect`): the destination IP CIDRs of the named rule-sets are added to `route_address`
 * / `route_exclude_address`, so auto_route installs them as routes in the kernel (Linux) or the
 * routing table (macOS). Sets are read when the tun starts and again whenever one of them
 * changes (`TunInbound.ruleSetChanged`, `src/worker/tun_inbound.ts`); a remote set that has not been downloaded yet and has
 * no cached copy adds nothing until it is.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { TunInboundOptions } from "../config/types.ts";
import { type IpRange, mergeRanges, rangeToPrefixes } from "../net/ip.ts";

const log = getLogger(["tunbox", "rule-set"]);

/** What the tun needs from the loaded rule-sets. */
export interface AddressSets {
  /** Destination IP ranges of a set's rules; undefined when the set is not loaded. */
  ranges(tag: string): IpRange[] | undefined;
}

/**
 * `options` with the address sets expanded into `route_address`/`route_exclude_address` (the
 * set lists emptied, so the planners see plain prefixes). Returns `options` itself without sets.
 */
export function applyAddressSets(
  options: TunInboundOptions,
  sets: AddressSets,
): TunInboundOptions {
  const include = options.route_address_set;
  const exclude = options.route_exclude_address_set;
  if (include.length === 0 && exclude.length === 0) return options;
  const collect = (tags: readonly string[], key: string) => {
    const ranges: IpRange[] = [];
    for (const tag of tags) {
      const r = sets.ranges(tag);
      if (r === undefined) {
        log.warn(
          "{key}: rule-set {tag} is not loaded yet (no cached copy); its addresses are routed once it is",
          { key, tag },
        );
      } else if (r.length === 0) {
        log.warn("{key}: no destination IP CIDR rules found in rule-set {tag}", { key, tag });
      }
      ranges.push(...(r ?? []));
    }
    return mergeRanges(ranges).flatMap(rangeToPrefixes);
  };
  const added = collect(include, "route_address_set");
  const removed = collect(exclude, "route_exclude_address_set");
  log.info("tun {tag}: {n} route(s) from route_address_set, {m} from route_exclude_address_set", {
    tag: options.tag,
    n: added.length,
    m: removed.length,
  });
  return {
    ...options,
    route_address: [...options.route_address, ...added],
    route_exclude_address: [...options.route_exclude_address, ...removed],
    route_address_set: [],
    route_exclude_address_set: [],
  };
}
