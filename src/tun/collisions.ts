/**
 * TUN address collisions: a TUN address whose network overlaps a network this machine already
 * reaches (an interface address or a route of the main table) makes part of the LAN, a VPN or a
 * VM network unreachable the moment the TUN comes up. {@linkcode checkAddressCollisions} runs
 * before the device is opened, so a collision stops the start with nothing installed, and the
 * message names the interface and proposes a free range of the same size: first inside
 * 198.18.0.0/15 (RFC 2544, reserved for benchmarking, so no real network uses it; sing-box's
 * FakeIP default lives there too), then 172.19.0.0/16 (sing-box's TUN default); for IPv6 inside
 * fdfe:dcba:9876::/48 (sing-box's default ULA).
 *
 * ```ts
 * const snapshot = platform.networkSnapshot(options.interface_name);
 * checkAddressCollisions(options, snapshot); // throws AddressCollisionError
 * ```
 *
 * @module
 */

import type { TunInboundOptions } from "../config/types.ts";
import {
  bigIntToIp,
  formatPrefix,
  ipToBigInt,
  maskPrefix,
  nextIp,
  type Prefix,
  prefixContains,
} from "../net/ip.ts";
import type { NetworkSnapshot } from "../platform/mod.ts";

/** One overlap between a TUN address and a local network. */
export interface AddressCollision {
  /** The TUN address as configured. */
  tunAddress: Prefix;
  /** The interface whose address or route overlaps it. */
  interface: string;
  /** The overlapping network (masked). */
  network: Prefix;
  /** `address`: the interface has an address in that network; `route`: a route through it. */
  source: "address" | "route";
  /** The interface's own address, for `source` "address". */
  address?: Prefix;
}

/** Thrown when a TUN address collides; `message` names the interface and a free range. */
export class AddressCollisionError extends Error {
  override name = "AddressCollisionError";
  constructor(message: string, readonly collisions: AddressCollision[]) {
    super(message);
  }
}

/** True when the two prefixes share at least one address (same family). */
export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  if (a.addr.length !== b.addr.length) return false;
  return a.bits <= b.bits ? prefixContains(a, b.addr) : prefixContains(b, a.addr);
}

/** Every overlap of `addresses` with the snapshot's interface addresses and routes. */
export function findAddressCollisions(
  addresses: readonly Prefix[],
  snapshot: NetworkSnapshot,
): AddressCollision[] {
  const out: AddressCollision[] = [];
  for (const tunAddress of addresses) {
    const tunNet = maskPrefix(tunAddress);
    const seen = new Set<string>();
    for (const iface of snapshot.interfaces) {
      for (const a of iface.addresses) {
        const net = maskPrefix(a);
        if (!prefixesOverlap(tunNet, net)) continue;
        seen.add(`${iface.name} ${formatPrefix(net)}`);
        out.push({
          tunAddress,
          interface: iface.name,
          network: net,
          source: "address",
          address: a,
        });
      }
    }
    for (const r of snapshot.routes) {
      const net = maskPrefix(r.prefix);
      if (!prefixesOverlap(tunNet, net)) continue;
      // The connected route of an address already reported says nothing new.
      if (seen.has(`${r.interface} ${formatPrefix(net)}`)) continue;
      seen.add(`${r.interface} ${formatPrefix(net)}`);
      out.push({ tunAddress, interface: r.interface, network: net, source: "route" });
    }
  }
  return out;
}

const FREE_RANGES_V4: Prefix[] = [
  { addr: Uint8Array.of(198, 18, 0, 0), bits: 15 },
  { addr: Uint8Array.of(172, 19, 0, 0), bits: 16 },
];
const FREE_RANGES_V6: Prefix[] = [
  {
    addr: Uint8Array.of(0xfd, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    bits: 48,
  },
];
/** How many subnets of each range are tried. */
const MAX_CANDIDATES = 4096;

/**
 * A TUN address (first host of a free network) of `bits` length in the same family as `like`
 * that overlaps nothing in `taken`, or null. Networks larger than a whole range are not offered.
 */
export function suggestFreeAddress(
  like: Prefix,
  taken: readonly Prefix[],
): Prefix | null {
  const v4 = like.addr.length === 4;
  const total = v4 ? 32 : 128;
  for (const range of v4 ? FREE_RANGES_V4 : FREE_RANGES_V6) {
    const bits = Math.max(like.bits, range.bits);
    const step = 1n << BigInt(total - bits);
    const base = ipToBigInt(range.addr);
    const count = Math.min(MAX_CANDIDATES, 2 ** Math.min(30, bits - range.bits));
    for (let i = 0; i < count; i++) {
      const net: Prefix = { addr: bigIntToIp(base + step * BigInt(i), v4 ? 4 : 16), bits };
      if (taken.some((t) => prefixesOverlap(net, t))) continue;
      const host = bits >= total - 1 ? net.addr : nextIp(net.addr);
      return { addr: host, bits };
    }
  }
  return null;
}

/** Describes one collision: `10.77.0.0/24 on veth0 (address 10.77.0.1/24)`. */
function describe(c: AddressCollision): string {
  const what = c.source === "address" && c.address ? `address ${formatPrefix(c.address)}` : "route";
  return `${formatPrefix(c.network)} on ${c.interface} (${what})`;
}

/**
 * Throws {@linkcode AddressCollisionError} when an address of the tun inbound overlaps a local
 * network in `snapshot` (taken without the TUN itself), naming each interface and proposing a
 * free address of the same size per colliding address.
 */
export function checkAddressCollisions(
  options: TunInboundOptions,
  snapshot: NetworkSnapshot,
): void {
  const collisions = findAddressCollisions(options.address, snapshot);
  if (collisions.length === 0) return;
  const taken: Prefix[] = [
    ...snapshot.interfaces.flatMap((i) => i.addresses.map(maskPrefix)),
    ...snapshot.routes.map((r) => maskPrefix(r.prefix)),
  ];
  const tag = options.tag ? `tun inbound "${options.tag}"` : "tun inbound";
  const parts: string[] = [];
  for (const tunAddress of options.address) {
    const mine = collisions.filter((c) => c.tunAddress === tunAddress);
    if (mine.length === 0) continue;
    const free = suggestFreeAddress(tunAddress, taken);
    const advice = free
      ? `; use a free range instead, e.g. "address": ["${formatPrefix(free)}"]${
        free.addr.length === 4 && free.addr[0] === 198
          ? " (198.18.0.0/15 is reserved for benchmarking, so no real network uses it)"
          : ""
      }`
      : "; pick an address range no interface or route uses";
    parts.push(
      `address ${formatPrefix(tunAddress)} of ${tag} overlaps ${
        mine.map(describe).join(", ")
      }${advice}`,
    );
  }
  throw new AddressCollisionError(
    `Cannot start: ${parts.join("; ")}. Nothing was changed on this system.`,
    collisions,
  );
}
