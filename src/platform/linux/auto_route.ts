/**
 * Linux `auto_route` / `strict_route`: the routes and policy rules sing-tun installs, computed
 * purely from the options ({@linkcode planRoutes}), and their installation / exact removal
 * ({@linkcode installRoutes}) and the stale-state sweep ({@linkcode cleanupStaleState}).
 *
 * ## Which sing-tun revision
 *
 * The newer revision that sing-box 1.12/1.13 ships: SagerNet/sing-tun `tun_linux.go` at commit
 * 01b968d89ade0aaa46b57eee9a2fb9fe8a878a1f (`rules()`, `routes()`, `unsetRules()`) with
 * `tun_rules.go` (`ExcludedRanges`, `BuildAutoRouteRanges(false)`) and `tun.go`
 * (`Inet4GatewayAddr`/`Inet6GatewayAddr`). For tun `tun0`, 172.19.0.1/30 and
 * fdfe:dcba:9876::1/126, defaults (table 2022, rule index 9000), it installs:
 *
 * ```
 * table 2022:  default via 172.19.0.2 dev tun0
 *              default via fdfe:dcba:9876::2 dev tun0 metric 1024 pref medium
 * ip rule:     9000: from all to 172.19.0.0/30 lookup 2022
 *              9001: from all lookup 2022 suppress_prefixlength 0
 *              9002: not from all dport 53 lookup main suppress_prefixlength 0
 *              9002: from all iif tun0 goto 9010
 *              9003: not from all iif lo lookup 2022
 *              9003: from 0.0.0.0 iif lo lookup 2022
 *              9003: from 172.19.0.0/30 iif lo lookup 2022
 *              9010: from all nop
 * ip -6 rule:  9000: from all lookup 2022 suppress_prefixlength 0
 *              9001: not from all dport 53 lookup main suppress_prefixlength 0
 *              9001: from all iif tun0 goto 9010
 *              9001: from ::/1 iif lo goto 9010
 *              9001: from 8000::/1 iif lo goto 9010
 *              9002: from fdfe:dcba:9876::/126 iif lo lookup 2022
 *              9003: from all lookup 2022
 *              9010: from all nop
 * ```
 *
 * Prepended, each block taking one priority step: excluded uid ranges (`uidrange A-B goto
 * 9010`), then `include_interface` (`iif X goto P+2`, `goto 9010`, `P+2: nop`) or
 * `exclude_interface` (`iif X goto 9010`), then, with `strict_route`, `from all unreachable`
 * for a family that has no TUN address.
 *
 * ## Deliberate differences from that revision
 *
 * 1. Without `auto_route` nothing is planned (sing-tun would still add `route_address` routes to
 *    the table, and for IPv6 an `oif tun0 lookup <table>` rule at a priority computed from the
 *    live rule list); a warning says the route options are ignored.
 * 2. `include_interface`'s landing rule (`P+2: nop`) is computed per family. sing-tun computes
 *    it from the IPv4 counter for both families, which puts it on the wrong priority for an
 *    IPv6-only TUN combined with uid exclusions.
 * 3. Route prefixes are masked and exact duplicates dropped when there are no exclusions
 *    (sing-tun passes `route_address` through as written; the kernel then refuses host bits
 *    or a duplicate with EINVAL/EEXIST).
 * 4. `include_uid` minus `exclude_uid` being empty excludes every uid (sing-tun's `Revert` of an
 *    empty list excludes none).
 * 5. Not supported and warned about: `auto_redirect` (needs nftables), Android-only
 *    `include_android_user`, `include_package`, `exclude_package`. The Android rules and
 *    systemd-resolved setup are not installed. `route_address_set` /
 *    `route_exclude_address_set` arrive here already expanded into `route_address` /
 *    `route_exclude_address` (src/ruleset/tun_routes.ts); when a set changes, the routes are
 *    changed in place (`replaceRoutes`), as sing-tun's `UpdateRouteAddressSet` does.
 * 6. The sweep of stale rules (every priority in [index, index+10], both families) also removes
 *    every route left in our table, and runs after the device is opened but before our routes
 *    are added (sing-tun sweeps rules after adding its routes). Each removal is logged.
 * 7. Removal on close deletes exactly the rules and routes that were added (by full selector,
 *    newest first) instead of every rule in the range.
 * 8. Index safety: the table must not be 253/254/255 and [index, index+10] must lie inside
 *    [1, 32765], so the sweep can never touch the kernel's own rules.
 *
 * `iproute2_table_index` / `iproute2_rule_index` of 0 mean the defaults (sing-box treats a zero
 * option as unset).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { PortRange, TunInboundOptions } from "../../config/types.ts";
import {
  DEFAULT_RULE_INDEX,
  DEFAULT_TABLE_INDEX,
  RULE_SPAN,
  ruleIndexProblem,
  tableIndexProblem,
  tunPlanWarnings,
  UID_END,
} from "../../config/tun_limits.ts";
import {
  formatPrefix,
  maskPrefix,
  nextIp,
  type Prefix,
  prefixContains,
  subtractPrefixes,
} from "../../net/ip.ts";
import { E } from "../../../ffi/errno.ts";
import { RT_TABLE_MAIN } from "../../../ffi/linux/netlink.ts";
import { interfaceNameProblem } from "../../../ffi/linux/ifreq.ts";
import { diffRoutes } from "../route_diff.ts";
import type { InstalledRoutes, PlannedRoute, PlannedRule, RoutePlan, TunDevice } from "../types.ts";
import { formatRoute, formatRule } from "./ip_text.ts";
import { NetlinkError, type RtNetlink, type RuleSpec, withRtNetlink } from "./rtnetlink/mod.ts";

const log = getLogger(["tunbox", "platform", "auto_route"]);

export { DEFAULT_RULE_INDEX, DEFAULT_TABLE_INDEX, RULE_SPAN, UID_END };

/** A planned rule with the selector set that installs (and later removes) it. */
export interface LinuxPlannedRule extends PlannedRule {
  spec: RuleSpec;
}

/** True when `rule` carries a Linux rule spec (made by {@linkcode planRoutes}). */
export function isLinuxPlannedRule(rule: PlannedRule): rule is LinuxPlannedRule {
  return typeof (rule as Partial<LinuxPlannedRule>).spec === "object";
}

/** The table and rule index of a tun inbound, defaults applied and validated. */
export function resolveIndexes(options: TunInboundOptions): { table: number; ruleIndex: number } {
  const table = options.iproute2_table_index || DEFAULT_TABLE_INDEX;
  const ruleIndex = options.iproute2_rule_index || DEFAULT_RULE_INDEX;
  // The same limits `check` applies (src/config/tun_limits.ts).
  const tableProblem = tableIndexProblem(table);
  if (tableProblem) throw new RangeError(`Invalid iproute2_table_index ${table}: ${tableProblem}`);
  const ruleProblem = ruleIndexProblem(ruleIndex);
  if (ruleProblem) throw new RangeError(`Invalid iproute2_rule_index ${ruleIndex}: ${ruleProblem}`);
  return { table, ruleIndex };
}

function mergeUidRanges(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].map((r) => ({ start: r.start, end: r.end })).sort((a, b) =>
    a.start - b.start
  );
  const out: PortRange[] = [];
  for (const r of sorted) {
    const top = out[out.length - 1];
    if (top && r.start <= top.end + 1) top.end = Math.max(top.end, r.end);
    else out.push(r);
  }
  return out;
}

function subtractUidRanges(
  include: readonly PortRange[],
  exclude: readonly PortRange[],
): PortRange[] {
  let current = mergeUidRanges(include);
  for (const ex of mergeUidRanges(exclude)) {
    const next: PortRange[] = [];
    for (const r of current) {
      if (ex.end < r.start || ex.start > r.end) {
        next.push(r);
        continue;
      }
      if (ex.start > r.start) next.push({ start: r.start, end: ex.start - 1 });
      if (ex.end < r.end) next.push({ start: ex.end + 1, end: r.end });
    }
    current = next;
  }
  return current;
}

/**
 * The uid ranges whose traffic bypasses the TUN (sing-tun `ExcludedRanges`): with
 * `include_uid`, the complement of (include − exclude) within [0, 4294967294]; otherwise
 * `exclude_uid`; merged and sorted.
 */
export function excludedUidRanges(
  include: readonly PortRange[],
  exclude: readonly PortRange[],
): PortRange[] {
  for (const r of [...include, ...exclude]) {
    if (
      !Number.isInteger(r.start) || !Number.isInteger(r.end) || r.start < 0 || r.end > UID_END ||
      r.start > r.end
    ) {
      throw new RangeError(`Invalid uid range ${r.start}-${r.end}: must be within 0-${UID_END}`);
    }
  }
  if (include.length === 0) return mergeUidRanges(exclude);
  return subtractUidRanges([{ start: 0, end: UID_END }], subtractUidRanges(include, exclude));
}

/** Checks that a prefix is well formed; throws a RangeError naming it. */
export function assertPrefix(p: Prefix, what: string): void {
  const len = p.addr?.length;
  if (len !== 4 && len !== 16) throw new RangeError(`Invalid ${what}: not an IPv4 or IPv6 address`);
  if (!Number.isInteger(p.bits) || p.bits < 0 || p.bits > len * 8) {
    const addr = formatPrefix({ addr: p.addr, bits: 0 }).replace(/\/0$/, "");
    throw new RangeError(
      `Invalid ${what} "${addr}": missing or invalid prefix length (write it as ` +
        `${addr}/${len * 8} for a single address)`,
    );
  }
}

function dedupe(prefixes: readonly Prefix[]): Prefix[] {
  const seen = new Set<string>();
  const out: Prefix[] = [];
  for (const p of prefixes) {
    const m = maskPrefix(p);
    const key = formatPrefix(m);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(m);
  }
  return out;
}

/** sing-tun `Inet4GatewayAddr`/`Inet6GatewayAddr` on Linux: first address + 1 if inside. */
function gatewayFor(addresses: readonly Prefix[]): Uint8Array | undefined {
  const first = addresses[0];
  if (!first) return undefined;
  const next = nextIp(first.addr);
  return prefixContains(first, next) && next.some((b, i) => b !== first.addr[i]) ? next : undefined;
}

/**
 * What auto_route installs for these options and device name (pure). Routes first, then rules
 * in installation order (same-priority rules are listed by the kernel in insertion order).
 */
export function planRoutes(options: TunInboundOptions, deviceName: string): RoutePlan {
  const warnings: string[] = [];
  const { table, ruleIndex } = resolveIndexes(options);
  for (const a of options.address) assertPrefix(a, "TUN address");
  for (const p of options.route_address) assertPrefix(p, "route_address");
  for (const p of options.route_exclude_address) assertPrefix(p, "route_exclude_address");
  for (const key of ["include_interface", "exclude_interface"] as const) {
    for (const name of options[key]) {
      const problem = interfaceNameProblem(name);
      if (problem) throw new RangeError(`Invalid ${key} "${name}": ${problem}`);
    }
  }

  // The words `check` reports at each key (src/config/tun_limits.ts); what tunbox does not
  // implement at all (auto_redirect, address sets, Android options) is its verdict there.
  warnings.push(...tunPlanWarnings(options, "linux").map((w) => w.message));
  if (!options.auto_route) return { routes: [], rules: [], warnings };

  const inet4 = options.address.filter((a) => a.addr.length === 4);
  const inet6 = options.address.filter((a) => a.addr.length === 16);
  const p4 = inet4.length > 0;
  const p6 = inet6.length > 0;

  // -- routes (sing-tun routes() + BuildAutoRouteRanges) --------------------------------------
  const routes: PlannedRoute[] = [];
  for (const [family, has, addrs] of [[4, p4, inet4], [6, p6, inet6]] as const) {
    if (!has) continue;
    const len = family === 4 ? 4 : 16;
    const include = options.route_address.filter((p) => p.addr.length === len);
    const exclude = options.route_exclude_address.filter((p) => p.addr.length === len);
    const base = include.length > 0 ? include : [{ addr: new Uint8Array(len), bits: 0 }];
    const ranges = exclude.length > 0 ? subtractPrefixes(base, exclude) : dedupe(base);
    const gateway = gatewayFor(addrs);
    for (const prefix of ranges) {
      const route: PlannedRoute = { prefix, table, device: deviceName, text: "" };
      if (gateway) route.gateway = gateway;
      route.text = formatRoute(
        { family, dst: prefix, table, ...(gateway ? { gateway } : {}) },
        deviceName,
      );
      routes.push(route);
    }
  }
  if (!p4 && !p6) {
    warnings.push("the TUN has no address, so auto_route installs nothing");
    return { routes, rules: [], warnings };
  }

  // -- rules (sing-tun rules()) ---------------------------------------------------------------
  const rules: LinuxPlannedRule[] = [];
  const add = (spec: RuleSpec) =>
    rules.push({ family: spec.family, priority: spec.priority, text: formatRule(spec), spec });
  const nop = ruleIndex + RULE_SPAN;
  let prio = ruleIndex;
  let prio6 = ruleIndex;

  const uidRanges = excludedUidRanges(options.include_uid, options.exclude_uid);
  for (const r of uidRanges) {
    const uidRange = { start: r.start, end: r.end };
    if (p4) add({ family: 4, priority: prio, action: "goto", goto: nop, uidRange });
    if (p6) add({ family: 6, priority: prio6, action: "goto", goto: nop, uidRange });
  }
  if (uidRanges.length > 0) {
    if (p4) prio++;
    if (p6) prio6++;
  }

  if (options.include_interface.length > 0) {
    const match4 = prio + 2;
    const match6 = prio6 + 2;
    for (const iif of options.include_interface) {
      if (p4) add({ family: 4, priority: prio, action: "goto", goto: match4, iif });
      if (p6) add({ family: 6, priority: prio6, action: "goto", goto: match6, iif });
    }
    if (p4) prio++;
    if (p6) prio6++;
    if (p4) {
      add({ family: 4, priority: prio++, action: "goto", goto: nop });
      add({ family: 4, priority: match4, action: "nop" });
      prio++;
    }
    if (p6) {
      add({ family: 6, priority: prio6++, action: "goto", goto: nop });
      add({ family: 6, priority: match6, action: "nop" });
      prio6++;
    }
  } else if (options.exclude_interface.length > 0) {
    for (const iif of options.exclude_interface) {
      if (p4) add({ family: 4, priority: prio, action: "goto", goto: nop, iif });
      if (p6) add({ family: 6, priority: prio6, action: "goto", goto: nop, iif });
    }
    if (p4) prio++;
    if (p6) prio6++;
  }

  if (options.strict_route) {
    if (!p4) add({ family: 4, priority: prio++, action: "unreachable" });
    if (!p6) add({ family: 6, priority: prio6++, action: "unreachable" });
  }

  if (p4) {
    for (const a of inet4) {
      add({ family: 4, priority: prio, action: "lookup", table, dst: maskPrefix(a) });
    }
    prio++;
    add({ family: 4, priority: prio++, action: "lookup", table, suppressPrefixlen: 0 });
  }
  if (p6) add({ family: 6, priority: prio6++, action: "lookup", table, suppressPrefixlen: 0 });
  const dns = { start: 53, end: 53 };
  if (p4) {
    add({
      family: 4,
      priority: prio,
      action: "lookup",
      table: RT_TABLE_MAIN,
      invert: true,
      dport: dns,
      suppressPrefixlen: 0,
    });
  }
  if (p6) {
    add({
      family: 6,
      priority: prio6,
      action: "lookup",
      table: RT_TABLE_MAIN,
      invert: true,
      dport: dns,
      suppressPrefixlen: 0,
    });
  }
  if (p4) {
    add({ family: 4, priority: prio, action: "goto", goto: nop, iif: deviceName });
    prio++;
    add({ family: 4, priority: prio, action: "lookup", table, invert: true, iif: "lo" });
    add({
      family: 4,
      priority: prio,
      action: "lookup",
      table,
      iif: "lo",
      src: { addr: new Uint8Array(4), bits: 32 },
    });
    for (const a of inet4) {
      add({ family: 4, priority: prio, action: "lookup", table, iif: "lo", src: maskPrefix(a) });
    }
  }
  if (p6) {
    const high = new Uint8Array(16);
    high[0] = 0x80;
    add({ family: 6, priority: prio6, action: "goto", goto: nop, iif: deviceName });
    add({
      family: 6,
      priority: prio6,
      action: "goto",
      goto: nop,
      iif: "lo",
      src: { addr: new Uint8Array(16), bits: 1 },
    });
    add({
      family: 6,
      priority: prio6,
      action: "goto",
      goto: nop,
      iif: "lo",
      src: { addr: high, bits: 1 },
    });
    prio6++;
    for (const a of inet6) {
      add({ family: 6, priority: prio6, action: "lookup", table, iif: "lo", src: maskPrefix(a) });
    }
    prio6++;
    add({ family: 6, priority: prio6, action: "lookup", table });
  }
  if (p4) add({ family: 4, priority: nop, action: "nop" });
  if (p6) add({ family: 6, priority: nop, action: "nop" });

  for (const r of rules) {
    if (r.priority > nop) {
      throw new RangeError(
        `auto_route needs more than ${RULE_SPAN} rule priorities for these options`,
      );
    }
  }
  return { routes, rules, warnings };
}

/** A rule's `ip rule` text quoted for messages, with the tab after the priority as a space. */
export function ruleLabel(text: string): string {
  return `"${text.replace("\t", " ")}"`;
}

function familyOf(p: Prefix): 4 | 6 {
  return p.addr.length === 4 ? 4 : 6;
}

function ignoreMissing(e: unknown): boolean {
  return e instanceof NetlinkError &&
    (e.errno === E.ENOENT || e.errno === E.ESRCH || e.errno === E.ENODEV);
}

function removeInstalled(
  nl: RtNetlink,
  rules: readonly LinuxPlannedRule[],
  routes: readonly PlannedRoute[],
  index: number,
): void {
  const errors: unknown[] = [];
  for (const r of [...rules].reverse()) {
    try {
      nl.deleteRule(r.spec, ruleLabel(r.text));
    } catch (e) {
      if (!ignoreMissing(e)) errors.push(e);
    }
  }
  for (const r of [...routes].reverse()) {
    try {
      nl.deleteRoute(
        {
          family: familyOf(r.prefix),
          dst: r.prefix,
          table: r.table ?? 0,
          oif: index,
          ...(r.gateway ? { gateway: r.gateway } : {}),
        },
        r.device,
      );
    } catch (e) {
      if (!ignoreMissing(e)) errors.push(e);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) {
    throw new AggregateError(errors, `Removing ${errors.length} routes/rules failed`);
  }
}

function addRoute(nl: RtNetlink, r: PlannedRoute, index: number): void {
  if (r.table === undefined) throw new TypeError(`Route "${r.text}" has no table`);
  nl.addRoute(
    {
      family: familyOf(r.prefix),
      dst: r.prefix,
      table: r.table,
      oif: index,
      ...(r.gateway ? { gateway: r.gateway } : {}),
    },
    r.device,
  );
}

/** Identity of a planned route: its table and `ip route` text (destination, gateway, device). */
function routeKey(r: PlannedRoute): string {
  return `${r.table ?? ""}\t${r.text}`;
}

/**
 * Installs a plan made by {@linkcode planRoutes}: routes (through `device`), then rules, each in
 * plan order. On failure removes what it added and throws. The handle's `remove()` deletes
 * exactly what was added (rules newest first, then routes); entries already gone are skipped.
 * `replaceRoutes()` changes the routes to a new plan's (a tun's `route_address_set` after its
 * rule-set changed): new routes are added before old ones are deleted, and `remove()` then
 * deletes the routes installed at that point.
 */
export function installRoutes(plan: RoutePlan, device: TunDevice): InstalledRoutes {
  const rules = plan.rules.map((r) => {
    if (!isLinuxPlannedRule(r)) throw new TypeError(`Rule "${r.text}" was not planned for Linux`);
    return r;
  });
  return withRtNetlink((nl) => {
    const addedRoutes: PlannedRoute[] = [];
    const addedRules: LinuxPlannedRule[] = [];
    try {
      for (const r of plan.routes) {
        addRoute(nl, r, device.index);
        addedRoutes.push(r);
      }
      for (const r of rules) {
        nl.addRule(r.spec, ruleLabel(r.text));
        addedRules.push(r);
      }
    } catch (e) {
      try {
        removeInstalled(nl, addedRules, addedRoutes, device.index);
      } catch (undo) {
        log.error("Undo after failed auto_route setup: {error}", { error: String(undo) });
      }
      throw e;
    }
    log.debug("Installed {routes} route(s) and {rules} rule(s)", {
      routes: addedRoutes.length,
      rules: addedRules.length,
    });
    let removed = false;
    return {
      remove() {
        if (removed) return;
        removed = true;
        withRtNetlink((nl2) => removeInstalled(nl2, addedRules, addedRoutes, device.index));
      },
      replaceRoutes(routes) {
        if (removed) throw new Error(`the routes of ${device.name} were removed`);
        const { add: toAdd, remove: toRemove } = diffRoutes(addedRoutes, routes, routeKey);
        if (toAdd.length === 0 && toRemove.length === 0) return { added: 0, removed: 0 };
        withRtNetlink((nl2) => {
          const added: PlannedRoute[] = [];
          try {
            for (const r of toAdd) {
              addRoute(nl2, r, device.index);
              added.push(r);
            }
          } catch (e) {
            try {
              removeInstalled(nl2, [], added, device.index);
            } catch (undo) {
              log.error("Undo after a failed route change: {error}", { error: String(undo) });
            }
            throw e;
          }
          addedRoutes.push(...added);
          try {
            removeInstalled(nl2, [], toRemove, device.index);
          } finally {
            const gone = new Set(toRemove.map(routeKey));
            const kept = addedRoutes.filter((r) => !gone.has(routeKey(r)));
            addedRoutes.splice(0, addedRoutes.length, ...kept);
          }
        });
        return { added: toAdd.length, removed: toRemove.length };
      },
    };
  });
}

/**
 * Removes what a crashed run may have left for these options: every rule (IPv4 and IPv6) whose
 * priority is in [index, index+10] — foreign rules there included, as sing-tun does — and every
 * route in the table. Returns one description per removal, e.g.
 * `IPv4 rule "9000: from all to 172.19.0.0/30 lookup 2022"` (the `cleanup` command prints
 * "removed " before each).
 */
export function cleanupStaleState(nl: RtNetlink, options: TunInboundOptions): string[] {
  const { table, ruleIndex } = resolveIndexes(options);
  const removed: string[] = [];
  for (const rule of nl.listRules()) {
    if (rule.priority < ruleIndex || rule.priority > ruleIndex + RULE_SPAN) continue;
    // Deleting by family + priority removes the first rule there; listing order is kernel order.
    nl.deleteRuleAt(rule.family, rule.priority);
    removed.push(`IPv${rule.family} rule ${ruleLabel(formatRule(rule, rule.flags))}`);
  }
  const names = new Map(nl.listLinks().map((l) => [l.index, l.name]));
  for (const route of nl.listRoutes(undefined, table)) {
    const dev = route.oif !== undefined ? names.get(route.oif) : undefined;
    try {
      nl.deleteRoute(route, dev);
    } catch (e) {
      if (ignoreMissing(e)) continue;
      throw e;
    }
    removed.push(`IPv${route.family} route "${formatRoute(route, dev)} table ${table}"`);
  }
  return removed;
}
