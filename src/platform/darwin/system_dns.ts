/**
 * Points the macOS system resolver at tunbox's DNS address (198.18.0.2 for a 198.18.0.1/16
 * TUN) through the System Configuration dynamic store, so DNS cannot leave by another way.
 *
 * Why this shape (configd's IPMonitor, `Plugins/IPMonitor/ip_plugin.c`): the default resolver
 * is the DNS of the *primary* network service, and DNS learned from the network (DHCP on Wi-Fi)
 * is bound to that service's interface, so mDNSResponder sends those queries with the interface
 * scoped (`IP_BOUND_IF en0`): a scoped packet to the router, or to any address, goes out of
 * Wi-Fi whatever routes the TUN added. Changing Wi-Fi's DNS would therefore not be enough.
 * Instead tunbox publishes its own service, `tunbox-<utun>`, on the utun:
 *
 * - `State:/Network/Service/tunbox-utun8/IPv4`: `Addresses` and `SubnetMasks` of the TUN,
 *   `Router` its own address, `InterfaceName` utun8, `OverridePrimary` 1. IPMonitor ranks a
 *   service with `OverridePrimary` and a router first (`IPv4RouteListCreateWithDictionary`), so
 *   it becomes the primary service (VPN clients do the same); its default route is the utun,
 *   which the two /1 routes already are. `route_exclude_address` goes into `ExcludedRoutes`,
 *   which IPMonitor routes through the interface that is not the utun (and keeps doing so
 *   across network changes), so excluded destinations still leave by the physical network.
 *   `IPv6` likewise when the TUN has an IPv6 address. With `route_address` (part of the traffic
 *   only) the resolver is not changed: the primary service would capture everything.
 * - `State:/Network/Service/tunbox-utun8/DNS`: `ServerAddresses` the DNS addresses,
 *   `ConfirmedServiceID` the service's own ID (so IPMonitor trusts this State-only service and
 *   binds its queries to utun8: `merge_dns_servers`), and the previous `SearchDomains`.
 *
 * The session is opened with `kSCDynamicStoreUseSessionKeys`, so configd itself removes these
 * keys when tunbox exits, even when it is killed; the state file (`state_file.ts`) records each
 * key and the value it had before it is set, for `tunbox cleanup` and the next start to restore.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DynamicStore, Plist } from "../../../ffi/darwin/system_configuration.ts";
import { formatIp, type Prefix } from "../../net/ip.ts";
import { prefixMask } from "../../../ffi/darwin/structs.ts";
import type { StateFile, StoreChange } from "./state_file.ts";

const log = getLogger(["tunbox", "platform", "dns"]);

/** The dynamic-store key of the global DNS configuration configd publishes. */
export const GLOBAL_DNS_KEY = "State:/Network/Global/DNS";
/** The dynamic-store key naming the primary service and interface. */
export const GLOBAL_IPV4_KEY = "State:/Network/Global/IPv4";

/** The network service tunbox publishes for a utun. */
export function serviceId(device: string): string {
  return `tunbox-${device}`;
}

/** What tunbox writes to the dynamic store for a utun (pure; shown by tests and docs). */
export function systemDnsValues(
  device: string,
  addresses: readonly Prefix[],
  servers: readonly Uint8Array[],
  searchDomains: readonly string[] = [],
  bypass: readonly Prefix[] = [],
): Map<string, Plist> {
  const id = serviceId(device);
  const base = `State:/Network/Service/${id}`;
  const out = new Map<string, Plist>();
  const v4 = addresses.find((p) => p.addr.length === 4);
  const v6 = addresses.find((p) => p.addr.length === 16);
  if (v4) {
    const ipv4: { [k: string]: Plist } = {
      Addresses: [formatIp(v4.addr)],
      SubnetMasks: [formatIp(prefixMask(v4.bits, 4))],
      Router: formatIp(v4.addr),
      InterfaceName: device,
      OverridePrimary: 1,
    };
    const excluded = bypass.filter((p) => p.addr.length === 4).map((p) => ({
      DestinationAddress: formatIp(p.addr),
      SubnetMask: formatIp(prefixMask(p.bits, 4)),
    }));
    if (excluded.length > 0) ipv4.ExcludedRoutes = excluded;
    out.set(`${base}/IPv4`, ipv4);
  }
  if (v6) {
    const ipv6: { [k: string]: Plist } = {
      Addresses: [formatIp(v6.addr)],
      PrefixLength: [v6.bits],
      Router: formatIp(v6.addr),
      InterfaceName: device,
      OverridePrimary: 1,
    };
    const excluded = bypass.filter((p) => p.addr.length === 16).map((p) => ({
      DestinationAddress: formatIp(p.addr),
      PrefixLength: p.bits,
    }));
    if (excluded.length > 0) ipv6.ExcludedRoutes = excluded;
    out.set(`${base}/IPv6`, ipv6);
  }
  const dns: { [k: string]: Plist } = {
    ServerAddresses: servers.map(formatIp),
    ConfirmedServiceID: id,
  };
  if (searchDomains.length > 0) dns.SearchDomains = [...searchDomains];
  out.set(`${base}/DNS`, dns);
  return out;
}

/** The resolvers configd currently uses (`State:/Network/Global/DNS` ServerAddresses). */
export function currentResolvers(store: DynamicStore): string[] {
  const g = store.get(GLOBAL_DNS_KEY);
  const servers = g !== null && typeof g === "object" && !Array.isArray(g)
    ? g.ServerAddresses
    : undefined;
  return Array.isArray(servers) ? servers.filter((s): s is string => typeof s === "string") : [];
}

/** Puts back what `changes` recorded (null originals are removed); returns what it did. */
export function restoreStore(store: DynamicStore, changes: readonly StoreChange[]): string[] {
  const done: string[] = [];
  for (const c of [...changes].reverse()) {
    try {
      if (c.original === null) {
        if (store.get(c.key) === null) continue; // already gone (configd dropped session keys)
        store.remove(c.key);
        done.push(`removed ${c.key}`);
      } else {
        store.set(c.key, c.original);
        done.push(`restored ${c.key}`);
      }
    } catch (err) {
      log.warn("restoring {key} failed: {error}", { key: c.key, error: String(err) });
    }
  }
  return done;
}

/** The system resolver pointed at the TUN; `restore()` puts everything back (once). */
export interface SystemDns {
  readonly servers: readonly string[];
  /** The resolvers in use before tunbox changed them (for the log and the checklist). */
  readonly previous: readonly string[];
  restore(): void;
}

/**
 * Records the current values of every key it will set in `state` (written to disk first), then
 * sets them. On a failure part-way, what was set is restored and the error thrown.
 */
export function applySystemDns(
  store: DynamicStore,
  state: StateFile,
  device: string,
  addresses: readonly Prefix[],
  servers: readonly Uint8Array[],
  bypass: readonly Prefix[] = [],
): SystemDns {
  const previous = currentResolvers(store);
  const globalDns = store.get(GLOBAL_DNS_KEY);
  const search = globalDns !== null && typeof globalDns === "object" &&
      !Array.isArray(globalDns) && Array.isArray(globalDns.SearchDomains)
    ? globalDns.SearchDomains.filter((s): s is string => typeof s === "string")
    : [];
  const values = systemDnsValues(device, addresses, servers, search, bypass);
  const changes: StoreChange[] = [...values.keys()].map((key) => ({
    key,
    original: store.get(key),
  }));
  state.update((s) => {
    s.dns = { store: changes };
  });
  const set: StoreChange[] = [];
  try {
    for (const c of changes) {
      store.set(c.key, values.get(c.key)!);
      set.push(c);
    }
  } catch (err) {
    restoreStore(store, set);
    state.update((s) => delete s.dns);
    throw err;
  }
  const shown = servers.map(formatIp);
  log.info("system DNS: resolver {servers} on {device} (was {previous})", {
    servers: shown.join(", "),
    device,
    previous: previous.join(", ") || "none",
  });
  let active = true;
  return {
    servers: shown,
    previous,
    restore() {
      if (!active) return;
      active = false;
      restoreStore(store, changes);
      state.update((s) => delete s.dns);
      log.info("system DNS: restored (resolvers now chosen by macOS again)");
    },
  };
}
