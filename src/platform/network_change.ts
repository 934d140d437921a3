/**
 * What a network change did, computed the same way on every OS from two
 * {@linkcode NetworkSnapshot}s: the default interface moved, an interface went down or away, an
 * address disappeared. The platform monitors (`linux/network_monitor.ts`, the macOS routing
 * socket) only decide _when_ to take a new snapshot; {@linkcode diffNetwork} decides _what_
 * changed, so both report the same things in the same words.
 *
 * ```ts
 * const change = diffNetwork(before, after);
 * if (change) for (const line of change.descriptions) log.info(line);
 * ```
 *
 * @module
 */

import { formatIp, formatPrefix } from "../net/ip.ts";
import type { NetworkChange, NetworkInterface, NetworkSnapshot } from "./types.ts";

function sameInterface(a: NetworkInterface | null, b: NetworkInterface | null): boolean {
  return a === b || (a !== null && b !== null && a.name === b.name && a.index === b.index);
}

function addressKey(addr: Uint8Array): string {
  return formatIp(addr);
}

/**
 * The change from `before` to `after`, or null when nothing tunbox acts on changed: the default
 * interface is the same, no interface that was up is down or gone, no address disappeared.
 * Added interfaces and addresses are described but are no change by themselves (nothing bound
 * to them can exist yet), except when they make a new default interface.
 */
export function diffNetwork(before: NetworkSnapshot, after: NetworkSnapshot): NetworkChange | null {
  const descriptions: string[] = [];
  const defaultInterfaceChanged = !sameInterface(before.defaultInterface, after.defaultInterface);
  if (defaultInterfaceChanged) {
    descriptions.push(
      `default interface ${before.defaultInterface?.name ?? "none"} -> ${
        after.defaultInterface?.name ?? "none"
      }`,
    );
  }
  const now = new Map(after.interfaces.map((i) => [i.index, i]));
  const lostInterfaces: NetworkInterface[] = [];
  const lostAddresses: Uint8Array[] = [];
  const present = new Set<string>();
  for (const i of after.interfaces) for (const a of i.addresses) present.add(addressKey(a.addr));
  for (const old of before.interfaces) {
    const cur = now.get(old.index);
    if (old.up && (!cur || !cur.up || cur.name !== old.name)) {
      lostInterfaces.push({ name: old.name, index: old.index });
      descriptions.push(`interface ${old.name} ${cur && cur.name === old.name ? "down" : "gone"}`);
    }
    for (const a of old.addresses) {
      if (present.has(addressKey(a.addr))) continue;
      lostAddresses.push(a.addr);
      descriptions.push(`address ${formatPrefix(a)} removed from ${old.name}`);
    }
  }
  if (!defaultInterfaceChanged && lostInterfaces.length === 0 && lostAddresses.length === 0) {
    return null;
  }
  return {
    defaultInterface: after.defaultInterface,
    defaultInterfaceChanged,
    lostInterfaces,
    lostAddresses,
    descriptions,
  };
}
