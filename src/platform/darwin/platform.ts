/**
 * The macOS {@linkcode Platform}: utun devices, `PF_ROUTE` split routes, the system resolver
 * through the dynamic store, the network from `NET_RT_IFLIST2`/`NET_RT_DUMP` and the routing
 * socket, sockets bound with `IP_BOUND_IF` / `IPV6_BOUND_IF`, and the process of a flow from the
 * `pcblist_n` socket lists and `proc_pidpath` (`process_lookup.ts`).
 *
 * Crash safety: routes and DNS changes are written to a state file before they are made
 * (`state_file.ts`); a state file whose process is gone is undone by the next start and by
 * `tunbox cleanup` (`cleanupStale`). Repair: while a network watch runs, the utun and its
 * routes are checked after sleep and whenever routing messages touch them (`tun_guard.ts`).
 *
 * Everything goes through a {@linkcode DarwinLibc} and a {@linkcode DynamicStore}, loaded on first
 * use, or handed in by tests (which run on Linux against recording fakes).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { SysError } from "../../../ffi/errno.ts";
import {
  AF_ROUTE,
  AF_UNSPEC,
  DARWIN_ERRNO,
  IP_BOUND_IF,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_BOUND_IF,
  RTM,
  SOCK_RAW,
} from "../../../ffi/darwin/constants.ts";
import { type DarwinLibc, loadDarwinLibc } from "../../../ffi/darwin/libc.ts";
import { type DynamicStore, openDynamicStore } from "../../../ffi/darwin/system_configuration.ts";
import { parseRouteDump } from "../../../ffi/darwin/structs.ts";
import type { TunInboundOptions } from "../../config/types.ts";
import { formatIp, formatPrefix, parseIp, parsePrefix } from "../../net/ip.ts";
import type {
  InstalledRoutes,
  NetworkChange,
  NetworkInterface,
  NetworkSnapshot,
  PlannedRoute,
  Platform,
  RoutePlan,
  TunDevice,
} from "../types.ts";
import { darwinDefaultInterface, readRouteDump } from "./default_interface.ts";
import { type MonitorClock, monitorDarwinNetwork } from "./network_monitor.ts";
import { darwinNetworkSnapshot } from "./network_snapshot.ts";
import { diffRoutes } from "../route_diff.ts";
import { planDarwinRoutes } from "./route_plan.ts";
import {
  deleteDarwinRoutes,
  deleteStaleRoutes,
  installDarwinRoutes,
  routeMessage,
} from "./route_socket.ts";
import { listStates, stateDir, StateFile } from "./state_file.ts";
import { applySystemDns, currentResolvers, restoreStore, type SystemDns } from "./system_dns.ts";
import { UtunGuard } from "./tun_guard.ts";
import { openUtun, utunNameProblem } from "./utun.ts";
import { DarwinProcessFinder } from "./process_lookup.ts";

const log = getLogger(["tunbox", "platform"]);

/** The one sentence shown when tunbox runs without root on macOS. */
export const DARWIN_PRIVILEGE_MESSAGE =
  "tunbox needs root on macOS to create a utun device and change routes: run it with sudo, " +
  "or install the service (tunbox service install)";

/** Thrown by `checkPrivileges()` when the process is not root. */
export class PrivilegeError extends Error {
  override name = "PrivilegeError";
}

/** Extra hooks (tests replace them). */
export interface DarwinPlatformHooks {
  /**
   * Flushes the system DNS cache after routes change (sing-tun runs `dscacheutil -flushcache`),
   * so names resolved before the TUN came up are looked up again. Fire-and-forget.
   */
  flushDnsCache?: () => void;
  /** Opens a dynamic-store session (default: SystemConfiguration over FFI). */
  openStore?: (name: string, opts: { sessionKeys: boolean }) => DynamicStore;
  /** Where state files live (default `stateDir()`). */
  stateDir?: string;
  /** The process id recorded in state files (default `Deno.pid`). */
  pid?: number;
  /** Clocks for the network monitor's sleep detection. */
  clock?: MonitorClock;
  /**
   * Milliseconds after a DNS change before configd's result is checked (default 1000;
   * negative: no check).
   */
  dnsCheckDelayMs?: number;
}

/** Runs `dscacheutil -flushcache` without waiting; failures are logged at debug level. */
export function flushDnsCacheWithDscacheutil(): void {
  try {
    const child = new Deno.Command("/usr/bin/dscacheutil", {
      args: ["-flushcache"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    child.status.then(
      (s) => s.success || log.debug("dscacheutil -flushcache exited with {code}", { code: s.code }),
      (err) => log.debug("dscacheutil -flushcache failed: {error}", { error: String(err) }),
    );
    child.unref();
  } catch (err) {
    log.debug("cannot run dscacheutil -flushcache: {error}", { error: String(err) });
  }
}

/**
 * Creates the macOS platform. `libc` defaults to libSystem, loaded on first use (so `planRoutes`
 * works anywhere).
 */
export function createDarwinPlatform(libc?: DarwinLibc, hooks: DarwinPlatformHooks = {}): Platform {
  let lib = libc;
  const sys = (): DarwinLibc => (lib ??= loadDarwinLibc());
  const flush = hooks.flushDnsCache ?? flushDnsCacheWithDscacheutil;
  const openStore = hooks.openStore ?? openDynamicStore;
  const dir = () => hooks.stateDir ?? stateDir();
  const pid = hooks.pid ?? Deno.pid;
  /** Looks up the process of a flow's socket (made on first use). */
  let processes: DarwinProcessFinder | undefined;
  /** The utuns this process opened, by name. */
  const guards = new Map<string, UtunGuard>();
  /** Interfaces that are ours and never the default interface. */
  const notOurs = (exclude?: string) => (name: string) => name !== exclude && !guards.has(name);

  /** Undoes what state files of processes that are gone recorded; one line per action. */
  const recoverState = (): string[] => {
    const done: string[] = [];
    for (const { path, state } of listStates(dir())) {
      if (state.pid === pid || processAlive(sys(), state.pid)) continue;
      log.info("undoing what tunbox (pid {pid}) left on {device}: {path}", {
        pid: state.pid,
        device: state.device,
        path,
      });
      if (state.dns && state.dns.store.length > 0) {
        let store: DynamicStore | undefined;
        try {
          store = openStore("tunbox-cleanup", { sessionKeys: false });
          for (const line of restoreStore(store, state.dns.store)) {
            done.push(`DNS setting of ${state.device}: ${line}`);
          }
        } catch (err) {
          log.warn("restoring the DNS settings of {device} failed: {error}", {
            device: state.device,
            error: String(err),
          });
          continue; // keep the file: the next run tries again
        } finally {
          store?.close();
        }
      }
      done.push(...deleteRecordedRoutes(sys(), state.routes, state.device));
      try {
        Deno.removeSync(path);
      } catch (err) {
        log.warn("cannot remove {path}: {error}", { path, error: String(err) });
      }
    }
    return done;
  };

  return {
    os: "darwin",

    checkPrivileges(): void {
      if (sys().geteuid() !== 0) throw new PrivilegeError(DARWIN_PRIVILEGE_MESSAGE);
    },

    tunNameProblem(name: string): string | null {
      return utunNameProblem(name);
    },

    openTun(config): TunDevice {
      const device = openUtun(sys(), config);
      const guard = new UtunGuard(sys(), device.name, device.index, config.addresses);
      guards.set(device.name, guard);
      return {
        ...device,
        fds: device.fds,
        close() {
          if (guards.get(device.name) === guard) guards.delete(device.name);
          device.close();
        },
      };
    },

    planRoutes(options: TunInboundOptions, deviceName: string): RoutePlan {
      return planDarwinRoutes(options, deviceName);
    },

    /**
     * Records the plan in the utun's state file, adds the routes, then points the system
     * resolver at the plan's DNS addresses. `plan.warnings` are the caller's to log
     * (src/tun/setup.ts does).
     */
    installRoutes(plan: RoutePlan, device: TunDevice): InstalledRoutes {
      const wrong = plan.routes.find((r) => r.device !== "" && r.device !== device.name);
      if (wrong) {
        throw new TypeError(
          `Route plan for "${wrong.device}" cannot be installed on TUN device "${device.name}"`,
        );
      }
      if (plan.routes.length === 0) return { remove() {} };
      const state = new StateFile(dir(), device.name, pid);
      const record = (routes: readonly PlannedRoute[]) =>
        state.update((s) => {
          s.routes = routes.map((r) => ({
            prefix: formatPrefix(r.prefix),
            gateway: r.gateway ? formatIp(r.gateway) : "",
          }));
        });
      record(plan.routes);
      let handle: { remove(): void };
      try {
        handle = installDarwinRoutes(sys(), plan);
      } catch (err) {
        state.remove();
        throw err;
      }
      // The routes installed now (replaceRoutes changes them); `remove()` deletes these.
      let current: PlannedRoute[] = [...plan.routes];
      let replaced = false;
      const guard = guards.get(device.name);
      if (guard) guard.routes = plan.routes;
      let dns: SystemDns | null = null;
      let store: DynamicStore | null = null;
      if (plan.dns && plan.dns.servers.length > 0) {
        try {
          store = openStore(`tunbox-${device.name}`, { sessionKeys: true });
          const addresses = guard?.addresses ?? [];
          dns = applySystemDns(
            store,
            state,
            device.name,
            addresses,
            plan.dns.servers,
            plan.dns.bypass,
          );
          const delay = hooks.dnsCheckDelayMs ?? 1000;
          if (delay >= 0) checkResolverLater(store, dns, delay);
        } catch (err) {
          log.error(
            "could not point the system resolver at {servers}: {error}. DNS queries keep going " +
              "to the network's resolvers (they may bypass the TUN); set dns_mode to disabled " +
              "to silence this",
            { servers: plan.dns.servers.map(formatIp).join(", "), error: String(err) },
          );
          store?.close();
          store = null;
        }
      }
      flush();
      let installed = true;
      return {
        remove() {
          if (!installed) return;
          installed = false;
          try {
            dns?.restore();
          } finally {
            store?.close();
            if (guard) guard.routes = [];
            if (replaced) deleteDarwinRoutes(sys(), current);
            else handle.remove();
            state.remove();
            flush();
          }
        },
        /**
         * New routes are recorded in the state file, then added; then the old ones are deleted
         * and the record shrinks to what is installed. The resolver's ExcludedRoutes keep the
         * `route_exclude_address` of the start.
         */
        replaceRoutes(routes) {
          if (!installed) throw new Error(`the routes of ${device.name} were removed`);
          const key = (r: PlannedRoute) =>
            `${formatPrefix(r.prefix)} ${r.gateway ? formatIp(r.gateway) : ""}`;
          const { add: toAdd, remove: toRemove } = diffRoutes(current, routes, key);
          if (toAdd.length === 0 && toRemove.length === 0) return { added: 0, removed: 0 };
          replaced = true;
          record([...current, ...toAdd]);
          try {
            if (toAdd.length > 0) {
              installDarwinRoutes(sys(), { routes: toAdd, rules: [], warnings: [] });
            }
          } catch (err) {
            record(current);
            throw err;
          }
          current = [...current, ...toAdd];
          deleteDarwinRoutes(sys(), toRemove);
          const gone = new Set(toRemove.map(key));
          current = current.filter((r) => !gone.has(key(r)));
          record(current);
          if (guard) guard.routes = current;
          flush();
          return { added: toAdd.length, removed: toRemove.length };
        },
      };
    },

    /**
     * Undoes what killed runs left (their state files: DNS settings and routes), then deletes
     * routes of ours whose interface is gone. On macOS the kernel drops every route through a
     * utun when the process holding it dies, so routes are rarely left; DNS settings made
     * without session keys would be. Routes through a utun another process still holds (a
     * tunbox or sing-box still running) are reported and left alone, and opening the same utun
     * will then fail with "in use". `removeDevice` has nothing to do on macOS: a utun cannot
     * outlive its descriptor.
     */
    cleanupStale(options: TunInboundOptions, removeDevice = false): string[] {
      const removed = recoverState();
      const name = options.interface_name ?? "";
      if (removeDevice && name !== "" && sys().if_nametoindex(name) !== 0 && !guards.has(name)) {
        log.warn(
          "{name} exists, so a running program holds it (a tunbox or sing-box?); " +
            "it goes away when that program exits",
          { name },
        );
      }
      const planned = planDarwinRoutes(options, "").routes;
      if (planned.length === 0) return removed;
      const dump = parseRouteDump(readRouteDump(sys()));
      return [
        ...removed,
        ...deleteStaleRoutes(sys(), dump, planned, (route, iface) =>
          log.warn(
            "{route} through {iface} is still installed: another program holds {iface} " +
              "(a tunbox or sing-box still running?); left in place",
            { route, iface },
          )),
      ];
    },

    defaultInterface(exclude?: string): NetworkInterface | null {
      return darwinDefaultInterface(sys(), notOurs(exclude));
    },

    networkSnapshot(exclude?: string): NetworkSnapshot {
      return darwinNetworkSnapshot(sys(), notOurs(exclude));
    },

    /**
     * Follows the routing socket (`network_monitor.ts`): network changes are reported through
     * `onChange`; sleep and messages about our utuns run their checks and repairs.
     */
    watchNetwork(onChange: (change: NetworkChange) => void, exclude?: string): () => void {
      const libc = sys();
      const keep = notOurs(exclude);
      const monitor = monitorDarwinNetwork(
        libc,
        {
          snapshot: () => darwinNetworkSnapshot(libc, keep),
          onChange,
          onTunCheck: (reason) => {
            for (const guard of guards.values()) {
              const repairs = guard.check();
              if (repairs.length > 0) {
                log.warn("{name} needed repair ({reason}): {repairs}", {
                  name: guard.name,
                  reason,
                  repairs: repairs.join("; "),
                });
                flush();
              } else {
                log.debug("{name} checked ({reason}): all in place", { name: guard.name, reason });
              }
            }
          },
          tunIndex: () => {
            const g = exclude ? guards.get(exclude) : guards.values().next().value;
            return g?.index ?? 0;
          },
        },
        hooks.clock,
      );
      return () => monitor.stop();
    },

    interfaceIndex(name: string): number {
      const index = sys().if_nametoindex(name);
      if (index === 0) throw new RangeError(`Interface "${name}" does not exist`);
      return index;
    },

    bindToInterface(fd: number, family: 4 | 6, iface: NetworkInterface): void {
      const value = new Uint8Array(4);
      new DataView(value.buffer).setUint32(0, iface.index, true);
      const [level, option, optName] = family === 6
        ? [IPPROTO_IPV6, IPV6_BOUND_IF, "IPV6_BOUND_IF"]
        : [IPPROTO_IP, IP_BOUND_IF, "IP_BOUND_IF"];
      if (sys().setsockopt(fd, level, option, value, 4) < 0) {
        throw new SysError(
          `bind socket ${fd} to interface "${iface.name}" (${optName} ${iface.index})`,
          sys().errno(),
          "darwin",
        );
      }
    },

    findProcess(network: "tcp" | "udp", source: { addr: Uint8Array; port: number }) {
      processes ??= new DarwinProcessFinder(sys());
      return processes.find(network, source);
    },

    userId(name: string): number | null {
      return sys().userId(name);
    },

    setMark(fd: number, mark: number): void {
      throw new TypeError(
        `Cannot set routing mark 0x${mark.toString(16)} on socket ${fd}: routing marks are ` +
          `Linux-only (on macOS use bind_interface or auto_detect_interface)`,
      );
    },
  };
}

/** Whether process `pid` exists (`kill(pid, 0)`: EPERM means it exists but is not ours). */
export function processAlive(libc: DarwinLibc, pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (libc.kill(pid, 0) === 0) return true;
  return libc.errno() === DARWIN_ERRNO.EPERM;
}

/** RTM_DELETE for each recorded route (gone already is fine); one line per route deleted. */
function deleteRecordedRoutes(
  libc: DarwinLibc,
  routes: readonly { prefix: string; gateway: string }[],
  device: string,
): string[] {
  const done: string[] = [];
  if (routes.length === 0) return done;
  const fd = libc.socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC);
  if (fd < 0) {
    log.warn("cannot open a routing socket to remove {device}'s routes: errno {errno}", {
      device,
      errno: libc.errno(),
    });
    return done;
  }
  try {
    let seq = 0;
    for (const r of [...routes].reverse()) {
      const prefix = parsePrefix(r.prefix), gateway = parseIp(r.gateway);
      if (!prefix || !gateway) continue;
      const msg = routeMessage(RTM.DELETE, prefix, gateway, ++seq);
      if (libc.write(fd, msg, msg.length) === msg.length) {
        done.push(`route ${r.prefix} via ${r.gateway} (left by a killed run on ${device})`);
      } else if (libc.errno() !== DARWIN_ERRNO.ESRCH) {
        log.warn("delete route {prefix} failed: errno {errno}", {
          prefix: r.prefix,
          errno: libc.errno(),
        });
      }
    }
  } finally {
    libc.close(fd);
  }
  return done;
}

/**
 * After configd has had time to apply the change, logs whether the system resolver is now the
 * TUN's (what the first-run checklist tells a user to look for).
 */
function checkResolverLater(store: DynamicStore, dns: SystemDns, delayMs: number): void {
  const timer = setTimeout(() => {
    try {
      const now = currentResolvers(store);
      if (dns.servers.every((s) => now.includes(s))) {
        log.info("system DNS: macOS now resolves through {servers}", {
          servers: now.join(", "),
        });
      } else {
        log.warn(
          "system DNS: macOS still resolves through {now}, not {servers}; another VPN or a " +
            "configuration profile may own DNS (see `scutil --dns`)",
          { now: now.join(", ") || "nothing", servers: dns.servers.join(", ") },
        );
      }
    } catch (err) {
      log.debug("checking the system resolver failed: {error}", { error: String(err) });
    }
  }, delayMs);
  Deno.unrefTimer(timer);
}
