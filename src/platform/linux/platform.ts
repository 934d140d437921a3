/**
 * The Linux {@linkcode Platform}: `/dev/net/tun` devices, rtnetlink routes and rules
 * (sing-tun's auto_route), default-interface discovery, network snapshots and a change monitor, and loop avoidance with
 * `SO_BINDTOIFINDEX`/`SO_BINDTODEVICE` and `SO_MARK`.
 *
 * Every method that talks to the kernel opens a short-lived netlink socket, so it acts on the
 * network namespace of the calling thread at the time of the call; the instance holds no
 * resources and needs no closing.
 *
 * @module
 */

import { interfaceNameProblem } from "../../../ffi/linux/ifreq.ts";
import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { SysError } from "../../../ffi/errno.ts";
import type { TunInboundOptions } from "../../config/types.ts";
import type {
  InstalledRoutes,
  NetworkChange,
  NetworkInterface,
  NetworkSnapshot,
  Platform,
  RoutePlan,
  TunDevice,
  TunDeviceConfig,
} from "../types.ts";
import { cleanupStaleState, installRoutes, planRoutes } from "./auto_route.ts";
import { findDefaultInterface } from "./default_interface.ts";
import { readNetworkSnapshot, watchNetwork } from "./network_monitor.ts";
import { checkLinuxPrivileges } from "./privileges.ts";
import { withRtNetlink } from "./rtnetlink/mod.ts";
import { bindSocketToInterface, setSocketMark } from "./socket_options.ts";
import { isTunLink, openTun } from "./tun.ts";
import { LinuxProcessFinder } from "./process_lookup.ts";

/** The Linux platform. */
export class LinuxPlatform implements Platform {
  readonly os = "linux" as const;

  checkPrivileges(): void {
    checkLinuxPrivileges();
  }

  tunNameProblem(name: string): string | null {
    return interfaceNameProblem(name, true);
  }

  openTun(config: TunDeviceConfig): TunDevice {
    return openTun(config);
  }

  planRoutes(options: TunInboundOptions, deviceName: string): RoutePlan {
    return planRoutes(options, deviceName);
  }

  installRoutes(plan: RoutePlan, device: TunDevice): InstalledRoutes {
    return installRoutes(plan, device);
  }

  /**
   * Removes stale rules (priorities [index, index+10]) and routes (our table); with
   * `removeDevice`, also a leftover TUN device named `interface_name` (never a non-TUN one).
   */
  cleanupStale(options: TunInboundOptions, removeDevice = false): string[] {
    return withRtNetlink((nl) => {
      const removed = cleanupStaleState(nl, options);
      const name = options.interface_name;
      if (removeDevice && name) {
        const link = nl.getLink(name);
        if (link && isTunLink(link)) {
          nl.deleteLink(link.index, name);
          removed.push(`TUN device "${name}"`);
        }
      }
      return removed;
    });
  }

  defaultInterface(exclude?: string): NetworkInterface | null {
    return withRtNetlink((nl) => findDefaultInterface(nl, exclude));
  }

  networkSnapshot(exclude?: string): NetworkSnapshot {
    return withRtNetlink((nl) => readNetworkSnapshot(nl, exclude));
  }

  watchNetwork(onChange: (change: NetworkChange) => void, exclude?: string): () => void {
    const watch = watchNetwork(onChange, exclude === undefined ? {} : { exclude });
    return () => watch.stop();
  }

  /** The interface's index; throws SysError (ENODEV) naming it when there is none. */
  interfaceIndex(name: string): number {
    const index = linuxLibc().if_nametoindex(new TextEncoder().encode(name + "\0"));
    if (index === 0) throw new SysError(`find interface "${name}"`, linuxErrno());
    return index;
  }

  hardwareAddress(name: string): Uint8Array | null {
    return withRtNetlink((nl) => nl.getLink(name)?.address ?? null);
  }

  #processes: LinuxProcessFinder | null = null;

  findProcess(network: "tcp" | "udp", source: { addr: Uint8Array; port: number }) {
    this.#processes ??= new LinuxProcessFinder();
    return this.#processes.find(network, source);
  }

  bindToInterface(fd: number, _family: 4 | 6, iface: NetworkInterface): void {
    bindSocketToInterface(fd, iface);
  }

  setMark(fd: number, mark: number): void {
    setSocketMark(fd, mark);
  }
}

/** Creates the Linux platform. */
export function createPlatform(): Platform {
  return new LinuxPlatform();
}
