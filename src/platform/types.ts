/**
 * What the TUN inbound and the socket factory need from an operating system. Linux implements
 * it with `/dev/net/tun` + rtnetlink (`src/platform/linux/`), macOS with utun + `PF_ROUTE`
 * (`src/platform/darwin/`). Everything here is synchronous FFI underneath; methods that wait
 * for the kernel are still synchronous because the kernel answers netlink/route requests at once.
 *
 * @module
 */

import type { Prefix, TunInboundOptions } from "../config/types.ts";

/** What to create: derived from the tun inbound's options by the TUN inbound. */
export interface TunDeviceConfig {
  /** Requested name; empty means "pick one" (Linux `tun%d`, macOS next free `utunN`). */
  name: string;
  mtu: number;
  /** Every prefix in `address`, IPv4 and IPv6. */
  addresses: Prefix[];
  /** Number of queues (Linux IFF_MULTI_QUEUE); 1 elsewhere. */
  queues: number;
  /**
   * Linux IFF_VNET_HDR: every packet carries a 10-byte virtio_net_hdr, and the device is asked
   * for checksum and TCP segmentation offload (see {@linkcode TunDevice.offload}).
   */
  vnetHdr: boolean;
}

/** An open TUN device. Closing the last fd destroys it (routes through it go with it). */
export interface TunDevice {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  /** Non-blocking fds, one per queue. Each packet read/written is one IP packet. */
  readonly fds: readonly number[];
  /**
   * Bytes before the IP header on every read and write: 0 (Linux), 10 (Linux with vnet_hdr),
   * 4 (macOS address-family header, big-endian AF_INET/AF_INET6).
   */
  readonly packetOffset: number;
  /**
   * Linux with `vnetHdr`, when the kernel took TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6: reads may
   * be TCP segments of up to 64 KiB (any MTU) with partial checksums, described by their
   * virtio_net_hdr, and writes may be too. False elsewhere.
   */
  readonly offload: boolean;
  close(): void;
}

/** One route the platform installs (for dry-run output, tests and exact removal). */
export interface PlannedRoute {
  prefix: Prefix;
  /** Linux routing table id; undefined on macOS. */
  table?: number;
  /** Output interface name. */
  device: string;
  gateway?: Uint8Array;
  /** Human-readable form in the style of `ip route` / `netstat -rn`. */
  text: string;
}

/** One policy rule (Linux only). */
export interface PlannedRule {
  family: 4 | 6;
  priority: number;
  /** Human-readable form in the style of `ip rule`, e.g. "9000: from all to 172.19.0.0/30 lookup 2022". */
  text: string;
}

/** Everything auto_route would install, computed without touching the system. */
export interface RoutePlan {
  routes: PlannedRoute[];
  rules: PlannedRule[];
  /**
   * The system resolver pointed at these addresses while the TUN runs (macOS, `dns_mode`
   * native/hijack with auto_route); absent where the platform leaves DNS alone.
   */
  dns?: {
    servers: Uint8Array[];
    /**
     * Prefixes that must keep using the physical network while the resolver change makes the
     * TUN's service primary (`route_exclude_address`).
     */
    bypass: Prefix[];
  };
  /** Non-fatal notes (e.g. "strict_route has no effect on macOS"). */
  warnings: string[];
}

/** What {@linkcode Platform.installRoutes} installed, to change or remove exactly that. */
export interface InstalledRoutes {
  /** Removes what was installed (rules, routes, DNS settings). Idempotent. */
  remove(): void;
  /**
   * Makes the installed routes equal `routes` (a new plan's routes; rules unchanged): adds the
   * missing ones first, then deletes those no longer planned, so no destination is without a
   * route in between. Absent where the platform cannot change routes in place.
   */
  replaceRoutes?(routes: readonly PlannedRoute[]): { added: number; removed: number };
}

export interface NetworkInterface {
  name: string;
  index: number;
}

/** One interface as {@linkcode NetworkSnapshot} lists it. */
export interface InterfaceState extends NetworkInterface {
  /** Administratively up and (where the OS says so) running. */
  up: boolean;
  /** Every address on the interface with its prefix length (`192.168.1.20/24`). */
  addresses: Prefix[];
}

/** A route of the main routing table through an interface (default routes left out). */
export interface InterfaceRoute {
  /** Output interface name. */
  interface: string;
  prefix: Prefix;
}

/**
 * The machine's network as tunbox cares about it: the default interface, every interface with
 * its addresses, and the routes through them. Used at start to refuse a TUN address that
 * collides with a local network (`src/tun/collisions.ts`) and, compared with the previous one,
 * to tell what a network change did (`src/platform/network_change.ts`).
 */
export interface NetworkSnapshot {
  defaultInterface: NetworkInterface | null;
  interfaces: InterfaceState[];
  routes: InterfaceRoute[];
}

/**
 * What changed between two {@linkcode NetworkSnapshot}s (made by `diffNetwork()` in
 * `src/platform/network_change.ts`, the same on every OS).
 */
export interface NetworkChange {
  /** The default interface now (null: none). */
  defaultInterface: NetworkInterface | null;
  /** The default interface's name or index differs from the previous snapshot. */
  defaultInterfaceChanged: boolean;
  /** Interfaces that were up and are now down or gone: sockets bound to them are dead. */
  lostInterfaces: NetworkInterface[];
  /** Local addresses that were assigned and are gone: sockets bound to them are dead. */
  lostAddresses: Uint8Array[];
  /** One short line per change for the log, e.g. `default interface eth0 -> wlan0`. */
  descriptions: string[];
}

/** The local process that owns a connection's socket (`process_name`/`user_id` rules). */
export interface ProcessInfo {
  /** 0 when the socket was found but no process holds it any more. */
  pid: number;
  uid: number;
  /** The executable's path (`/proc/<pid>/exe`); "" when unknown. */
  path: string;
}

/** The OS layer. One instance per process (per Worker when used from one). */
export interface Platform {
  readonly os: "linux" | "darwin";
  /** Throws with one sentence (e.g. "run with sudo") when the process lacks the privilege. */
  checkPrivileges(): void;
  /**
   * Why `name` cannot name a TUN device on this OS, or null when it can (Linux: the kernel's
   * interface-name rule, with one `%d` allowed; macOS: `utun` and a unit number).
   */
  tunNameProblem(name: string): string | null;
  openTun(config: TunDeviceConfig): TunDevice;
  /** Pure: what `installRoutes` would do for these options and device name. */
  planRoutes(options: TunInboundOptions, deviceName: string): RoutePlan;
  /** Installs the plan; on failure undoes what it did and throws. Returns an undo handle. */
  installRoutes(plan: RoutePlan, device: TunDevice): InstalledRoutes;
  /**
   * Removes leftovers of a crashed run for these options (stale rules, routes) and returns one
   * description per removal. With `removeDevice` (the `cleanup` command) it also deletes a
   * leftover TUN device named `interface_name` where the OS keeps one.
   */
  cleanupStale(options: TunInboundOptions, removeDevice?: boolean): string[];
  defaultInterface(exclude?: string): NetworkInterface | null;
  /**
   * The default interface, every interface with its addresses, and the main table's routes,
   * leaving out the interface named `exclude` (our own TUN).
   */
  networkSnapshot(exclude?: string): NetworkSnapshot;
  /**
   * Follows the network (links, addresses, routes) and calls `onChange` within a second of
   * anything that changes the default interface, takes an interface down or removes an address
   * (not for the initial state). `exclude` (our own TUN) is ignored. Returns a stop function.
   */
  watchNetwork(onChange: (change: NetworkChange) => void, exclude?: string): () => void;
  interfaceIndex(name: string): number;
  /** The interface's link-layer (MAC) address, or null when it has none or it is unknown. */
  hardwareAddress?(name: string): Uint8Array | null;
  /** Binds a socket to an interface so its traffic bypasses the TUN routes. */
  bindToInterface(fd: number, family: 4 | 6, iface: NetworkInterface): void;
  /**
   * The process owning the local socket `source` of a flow this machine opened, or null when
   * none is found. Only on systems where tunbox looks processes up (Linux).
   */
  findProcess?(
    network: "tcp" | "udp",
    source: { addr: Uint8Array; port: number },
  ): ProcessInfo | null;
  /**
   * A user's uid by name, for `user` rule items, from the system's user database (macOS:
   * `getpwnam`, which knows directory users that `/etc/passwd` lacks); null when there is no
   * such user. Absent: `/etc/passwd` is read.
   */
  userId?(name: string): number | null;
  /** Linux SO_MARK; throws on platforms without marks. */
  setMark(fd: number, mark: number): void;
}
