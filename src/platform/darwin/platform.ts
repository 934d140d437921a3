/**
 * The macOS {@linkcode Platform}: utun devices, `PF_ROUTE` split routes, the default interface
 * from `NET_RT_DUMP`, and sockets bound with `IP_BOUND_IF` / `IPV6_BOUND_IF`.
 *
 * Everything goes through a {@linkcode DarwinLibc}, loaded from libSystem on first use, or
 * handed in by tests (which run on Linux against a recording fake).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { SysError } from "../../../ffi/errno.ts";
import {
  IP_BOUND_IF,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_BOUND_IF,
} from "../../../ffi/darwin/constants.ts";
import { type DarwinLibc, loadDarwinLibc } from "../../../ffi/darwin/libc.ts";
import { parseRouteDump } from "../../../ffi/darwin/structs.ts";
import type { TunInboundOptions } from "../../config/types.ts";
import { diffNetwork } from "../network_change.ts";
import type {
  NetworkChange,
  NetworkInterface,
  NetworkSnapshot,
  Platform,
  RoutePlan,
  TunDevice,
} from "../types.ts";
import { darwinDefaultInterface, readRouteDump, watchRoutingChanges } from "./default_interface.ts";
import { darwinNetworkSnapshot } from "./network_snapshot.ts";
import { planDarwinRoutes } from "./route_plan.ts";
import { deleteStaleRoutes, installDarwinRoutes } from "./route_socket.ts";
import { openUtun } from "./utun.ts";

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

  return {
    os: "darwin",

    checkPrivileges(): void {
      if (sys().geteuid() !== 0) throw new PrivilegeError(DARWIN_PRIVILEGE_MESSAGE);
    },

    openTun(config): TunDevice {
      return openUtun(sys(), config);
    },

    planRoutes(options: TunInboundOptions, deviceName: string): RoutePlan {
      return planDarwinRoutes(options, deviceName);
    },

    /** `plan.warnings` are the caller's to log (src/tun/setup.ts does). */
    installRoutes(plan: RoutePlan, device: TunDevice): { remove(): void } {
      const wrong = plan.routes.find((r) => r.device !== "" && r.device !== device.name);
      if (wrong) {
        throw new TypeError(
          `Route plan for "${wrong.device}" cannot be installed on TUN device "${device.name}"`,
        );
      }
      if (plan.routes.length === 0) return { remove() {} };
      const handle = installDarwinRoutes(sys(), plan);
      flush();
      let installed = true;
      return {
        remove() {
          if (!installed) return;
          installed = false;
          handle.remove();
          flush();
        },
      };
    },

    /**
     * On macOS a crashed run leaves no routes behind: closing the utun fd (the kernel does it
     * when the process dies) destroys the interface, and the kernel drops every route through
     * it. What can remain is a route of ours whose interface is gone but which the kernel kept
     * (deleted here), or routes of a utun that another process still holds (a tunbox or
     * sing-box still running): those are reported and left alone, and opening the same utun
     * will then fail with "in use". `removeDevice` has nothing to do on macOS: a utun cannot
     * outlive its descriptor, so an existing `interface_name` belongs to a running process
     * (reported, not touched).
     */
    cleanupStale(options: TunInboundOptions, removeDevice = false): string[] {
      const name = options.interface_name ?? "";
      if (removeDevice && name !== "" && sys().if_nametoindex(name) !== 0) {
        log.warn(
          "{name} exists, so a running program holds it (a tunbox or sing-box?); " +
            "it goes away when that program exits",
          { name },
        );
      }
      const planned = planDarwinRoutes(options, "").routes;
      if (planned.length === 0) return [];
      const dump = parseRouteDump(readRouteDump(sys()));
      return deleteStaleRoutes(sys(), dump, planned, (route, iface) =>
        log.warn(
          "{route} through {iface} is still installed: another program holds {iface} " +
            "(a tunbox or sing-box still running?); left in place",
          { route, iface },
        ));
    },

    defaultInterface(exclude?: string): NetworkInterface | null {
      return darwinDefaultInterface(sys(), exclude);
    },

    networkSnapshot(exclude?: string): NetworkSnapshot {
      return darwinNetworkSnapshot(sys(), exclude);
    },

    /**
     * The routing socket wakes a re-check after each burst of messages; each re-check takes a
     * snapshot and reports what `diffNetwork` finds (the default interface it returns is what
     * `watchRoutingChanges` logs).
     */
    watchNetwork(onChange: (change: NetworkChange) => void, exclude?: string): () => void {
      const libc = sys();
      let last = darwinNetworkSnapshot(libc, exclude);
      const watch = watchRoutingChanges(libc, () => {}, () => {
        const next = darwinNetworkSnapshot(libc, exclude);
        const change = diffNetwork(last, next);
        last = next;
        if (change) onChange(change);
        return next.defaultInterface;
      });
      return () => watch.stop();
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

    setMark(fd: number, mark: number): void {
      throw new TypeError(
        `Cannot set routing mark 0x${mark.toString(16)} on socket ${fd}: routing marks are ` +
          `Linux-only (on macOS use bind_interface or auto_detect_interface)`,
      );
    },
  };
}
