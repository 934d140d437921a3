/**
 * Limits on TUN inbound values that both `check` (src/config/validate.ts) and the Linux route
 * planner (src/platform/linux/auto_route.ts) apply, so the config `check` accepts is one the
 * planner can install.
 *
 * @module
 */

import { tunDns } from "./tun_dns.ts";
import type { TunInboundOptions } from "./types.ts";

/** sing-tun's default routing table for auto_route. */
export const DEFAULT_TABLE_INDEX = 2022;
/** sing-tun's default first rule priority. */
export const DEFAULT_RULE_INDEX = 9000;
/** Rules occupy [index, index + RULE_SPAN]; the `nop` landing rule is at index + RULE_SPAN. */
export const RULE_SPAN = 10;
/** Highest uid a rule may name (uid -1 is "no uid"). */
export const UID_END = 0xfffffffe;

/** Why `table` cannot be `iproute2_table_index`, or undefined. */
export function tableIndexProblem(table: number): string | undefined {
  if (!Number.isInteger(table) || table < 1 || table > 0xffffffff || table >= 253 && table <= 255) {
    return "must be 1-4294967295 and not 253, 254 or 255 (the default, main and local tables)";
  }
  return undefined;
}

/** Why `index` cannot be `iproute2_rule_index`, or undefined. */
export function ruleIndexProblem(index: number): string | undefined {
  if (!Number.isInteger(index) || index < 1 || index + RULE_SPAN > 32765) {
    return `must be 1-${32765 - RULE_SPAN} so that [index, index+${RULE_SPAN}] stays clear of ` +
      "priority 0 and the main/default rules";
  }
  return undefined;
}

/** A warning about a TUN option that has no effect where it is used, and the key it is about. */
export interface TunWarning {
  key: string;
  message: string;
}

/** TUN fields that only Linux's auto_route reads; macOS ignores them (as sing-box does). */
const LINUX_ONLY = [
  "include_interface",
  "exclude_interface",
  "include_uid",
  "exclude_uid",
] as const;

/**
 * What a TUN inbound's route options do not do on `os`: the warnings `check` reports at each key
 * and the route planners (src/platform/) describe in `run --dry-run`, in the same words. The
 * verdicts in support.ts cover what tunbox does not implement at all (auto_redirect, address
 * sets, Android options).
 */
export function tunPlanWarnings(
  options: Pick<
    TunInboundOptions,
    | "auto_route"
    | "strict_route"
    | "address"
    | "route_address"
    | "route_exclude_address"
    | "dns_mode"
    | "dns_address"
    | (typeof LINUX_ONLY)[number]
  >,
  os: string,
): TunWarning[] {
  const out: TunWarning[] = [];
  if (!options.auto_route) {
    for (
      const key of [
        "route_address",
        "route_exclude_address",
        "strict_route",
        ...LINUX_ONLY,
      ] as const
    ) {
      const v = options[key];
      if (v === true || (Array.isArray(v) && v.length > 0)) {
        out.push({ key, message: `"${key}" has no effect without "auto_route"` });
      }
    }
    return out;
  }
  if (os === "darwin") {
    if (options.strict_route) {
      out.push({
        key: "strict_route",
        message: '"strict_route" has no effect on macOS: there is no policy routing to block ' +
          "traffic that bypasses the TUN (sing-box behaves the same)",
      });
    }
    for (const key of LINUX_ONLY) {
      if (options[key].length > 0) {
        out.push({ key, message: `"${key}" has no effect on macOS and is ignored` });
      }
    }
    if (options.address.length > 0 && !options.address.some((p) => p.addr.length === 16)) {
      out.push({
        key: "address",
        message: "the TUN has no IPv6 address, so no IPv6 routes are added: IPv6 traffic " +
          'bypasses the TUN (add one such as "fdfe:dcba:9876::1/126" to capture it)',
      });
    }
    // The system resolver (src/platform/darwin/system_dns.ts) is only set for a full tunnel.
    const dns = tunDns(options);
    if (dns.mode !== "disabled" && options.address.length > 0) {
      if (dns.servers.length === 0) {
        out.push({
          key: "address",
          message: `dns_mode ${dns.mode}: no DNS address (the first address prefix has no next ` +
            "address and dns_address is empty), so the system resolver is left as it is",
        });
      } else if (options.route_address.length > 0) {
        out.push({
          key: "route_address",
          message: `dns_mode ${dns.mode}: the system resolver is left as it is because ` +
            'route_address routes only part of the traffic into the TUN (add a "hijack-dns" ' +
            "rule for DNS)",
        });
      }
    }
  }
  return out;
}
