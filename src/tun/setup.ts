/**
 * The TUN inbound's device lifecycle, for `Box` (run), `run --dry-run` and `cleanup`:
 *
 * - {@linkcode planTun} / {@linkcode describePlan}: what would be created and installed (pure,
 *   no system changes; on Linux an empty `interface_name` is resolved to the next free `tunN`
 *   by a read-only lookup).
 * - {@linkcode setupTun}: check privileges, refuse a TUN address that overlaps a local network
 *   (`collisions.ts`; nothing is installed then), open and configure the device, remove what a crashed
 *   run left in our rule range and table (logged), install auto_route. On failure, everything
 *   done so far is undone and the error is thrown. `close()` removes exactly what was added (rules,
 *   routes, addresses), then closes the device fds.
 * - {@linkcode cleanup}: the `cleanup` command; removes leftovers without starting.
 *
 * Defaults applied here: `mtu` 65535 (sing-box's Linux default), empty `interface_name` = let
 * the system pick.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Options, TunInboundOptions } from "../config/types.ts";
import { formatIp, formatPrefix } from "../net/ip.ts";
import {
  type InstalledRoutes,
  loadPlatform,
  type Platform,
  type RoutePlan,
  type TunDevice,
  type TunDeviceConfig,
} from "../platform/mod.ts";
import { checkAddressCollisions } from "./collisions.ts";

const log = getLogger(["tunbox", "tun"]);

/** sing-box's default TUN MTU on Linux. */
export const DEFAULT_TUN_MTU = 65535;

/** The device and routes a tun inbound would get. */
export interface TunPlan {
  device: TunDeviceConfig;
  plan: RoutePlan;
}

function validateDevice(options: TunInboundOptions): void {
  const tag = options.tag ? `tun inbound "${options.tag}"` : "tun inbound";
  if (options.address.length === 0) {
    throw new RangeError(`${tag} has no address: set "address", e.g. ["172.19.0.1/30"]`);
  }
  const mtu = options.mtu ?? DEFAULT_TUN_MTU;
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new RangeError(`Invalid mtu ${mtu} for ${tag}: must be 68-65535`);
  }
  if (mtu < 1280 && options.address.some((a) => a.addr?.length === 16)) {
    throw new RangeError(
      `Invalid mtu ${mtu} for ${tag}: IPv6 addresses need an MTU of at least 1280`,
    );
  }
}

function nextFreeTunName(platform: Platform): string {
  for (let i = 0; i < 1024; i++) {
    const name = `tun${i}`;
    try {
      platform.interfaceIndex(name);
    } catch {
      return name;
    }
  }
  return "";
}

/**
 * Plans the device and routes for a tun inbound: validates the options (name, addresses, mtu,
 * indexes), applies defaults, and computes the route plan. With an empty `interface_name`,
 * `device.name` is the next free `tunN` on Linux (a read-only lookup: what the kernel's `tun%d`
 * will most likely pick); {@linkcode setupTun} still lets the kernel choose and re-plans with
 * the name it got.
 */
export function planTun(options: TunInboundOptions, platform: Platform): TunPlan {
  validateDevice(options);
  const requested = options.interface_name ?? "";
  const device: TunDeviceConfig = {
    name: requested,
    mtu: options.mtu ?? DEFAULT_TUN_MTU,
    addresses: [...options.address],
    queues: 1,
    vnetHdr: false,
  };
  const problem = requested === "" ? null : platform.tunNameProblem(requested);
  if (problem) throw new RangeError(`Invalid interface_name "${requested}": ${problem}`);
  let planName = requested;
  if (planName === "" && platform.os === "linux") planName = nextFreeTunName(platform);
  const plan = platform.planRoutes(options, planName || "utun");
  return { device: { ...device, name: requested || planName }, plan };
}

/**
 * Lines for `run --dry-run`: the device, its addresses, the routes and rules, and warnings.
 * Rules and routes are shown as `ip rule` / `ip route` print them.
 */
export function describePlan(device: TunDeviceConfig, plan: RoutePlan): string[] {
  const lines: string[] = [];
  const queues = device.queues > 1 ? `, ${device.queues} queues` : "";
  lines.push(`device ${device.name || "(chosen by the system)"} (mtu ${device.mtu}${queues})`);
  for (const a of device.addresses) lines.push(`address ${formatPrefix(a)}`);
  for (const r of plan.routes) {
    lines.push(`route ${r.text}${r.table !== undefined ? ` table ${r.table}` : ""}`);
  }
  for (const r of plan.rules) {
    lines.push(`rule ${r.family === 6 ? "-6 " : ""}${r.text.replace("\t", " ")}`);
  }
  for (const s of plan.dns?.servers ?? []) {
    lines.push(`dns ${formatIp(s)} (the system resolver while tunbox runs)`);
  }
  for (const w of plan.warnings) lines.push(`warning: ${w}`);
  if (plan.routes.length === 0 && plan.rules.length === 0) {
    lines.push("no routes or rules (auto_route is off)");
  }
  return lines;
}

/** A running TUN inbound device with its routes. */
export interface TunSetup {
  device: TunDevice;
  /** What was installed (empty without auto_route). */
  plan: RoutePlan;
  /**
   * Re-plans the routes for `options` (the same tun section with new `route_address` /
   * `route_exclude_address`, e.g. after a `route_address_set` rule-set changed) and changes the
   * installed routes to match; rules stay. Returns the number of routes added and removed.
   */
  updateRoutes(options: TunInboundOptions): { added: number; removed: number };
  /** Removes the rules, routes and addresses that were added, then closes the fds. Idempotent. */
  close(): void;
}

/**
 * Whether to ask a Linux TUN for checksum and segmentation offload (IFF_VNET_HDR, TUNSETOFFLOAD;
 * sing-box 1.12 does so always, and dropped its `gso` option). `TUNBOX_TUN_OFFLOAD=0` turns it
 * off (for comparisons); so does `TUNBOX_IMPAIR`, whose delayed packets lose their header.
 */
function offloadWanted(): boolean {
  return Deno.env.get("TUNBOX_TUN_OFFLOAD") !== "0" && !Deno.env.get("TUNBOX_IMPAIR");
}

/**
 * Creates the TUN device for a tun inbound and installs auto_route. Self-contained: on any
 * failure it undoes what it did, leaving the network as it was, and throws a clear error.
 */
export function setupTun(options: TunInboundOptions, platform: Platform, queues: number): TunSetup {
  const planned = planTun(options, platform);
  platform.checkPrivileges();
  checkAddressCollisions(options, platform.networkSnapshot(options.interface_name || undefined));
  const device = platform.openTun({
    ...planned.device,
    name: options.interface_name ?? "",
    queues,
    vnetHdr: platform.os === "linux" && offloadWanted(),
  });
  let installed: InstalledRoutes | undefined;
  let plan: RoutePlan;
  try {
    if (options.auto_route) {
      for (const line of platform.cleanupStale(options)) {
        log.warn("Removed stale {what} (left by an earlier run)", { what: line });
      }
    }
    plan = platform.planRoutes(options, device.name);
    // Not warned again: `run` printed these when it loaded the config, at their keys, in the
    // same words (src/config/tun_limits.ts).
    for (const w of plan.warnings) log.debug("{warning}", { warning: w });
    if (plan.routes.length > 0 || plan.rules.length > 0) {
      installed = platform.installRoutes(plan, device);
    }
  } catch (e) {
    device.close();
    throw e;
  }
  log.info("TUN device {name} is up ({routes} route(s), {rules} rule(s))", {
    name: device.name,
    routes: plan.routes.length,
    rules: plan.rules.length,
  });
  let closed = false;
  const setup: TunSetup = {
    device,
    plan,
    updateRoutes(next) {
      if (closed) throw new Error(`TUN device ${device.name} is closed`);
      const planned = platform.planRoutes(next, device.name);
      if (!installed) {
        if (planned.routes.length === 0) return { added: 0, removed: 0 };
        throw new Error(`TUN device ${device.name} has no auto_route to change`);
      }
      if (!installed.replaceRoutes) {
        throw new Error(`routes cannot be changed in place on ${platform.os}; restart tunbox`);
      }
      const change = installed.replaceRoutes(planned.routes);
      setup.plan = { ...setup.plan, routes: planned.routes };
      return change;
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        installed?.remove();
      } catch (e) {
        log.error("Removing routes and rules of {name} failed: {error}", {
          name: device.name,
          error: String(e),
        });
      } finally {
        device.close();
      }
    },
  };
  return setup;
}

/**
 * The `cleanup` command: for each tun inbound, removes the rules in its rule range, the routes
 * in its table and a leftover TUN device of its name. Returns one description per removal, e.g.
 * `IPv4 rule "9000: from all to 172.19.0.0/30 lookup 2022"` or `TUN device "tun0"` (the CLI
 * prints "removed " before each).
 */
export async function cleanup(options: Options, platform?: Platform): Promise<string[]> {
  const tuns = options.inbounds.filter((i): i is TunInboundOptions => i.type === "tun");
  if (tuns.length === 0) return [];
  const p = platform ?? await loadPlatform();
  p.checkPrivileges();
  const removed: string[] = [];
  for (const t of tuns) removed.push(...p.cleanupStale(t, true));
  return removed;
}
