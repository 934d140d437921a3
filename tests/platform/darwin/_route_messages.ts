/**
 * Encoders for the routing messages xnu sends and the NET_RT_IFLIST2 records it dumps, laid out
 * by `ffi/darwin/layouts.ts` (proven against the headers): `if_msghdr` (RTM_IFINFO),
 * `if_msghdr2` (RTM_IFINFO2), `ifa_msghdr` (RTM_NEWADDR/RTM_DELADDR), `rt_msghdr` (route
 * changes and dump records), each followed by its sockaddrs padded to 4 bytes.
 *
 * @module
 */

import { RTM, RTM_VERSION } from "../../../ffi/darwin/constants.ts";
import {
  IF_DATA,
  IF_DATA64,
  IF_MSGHDR,
  IF_MSGHDR2,
  IFA_MSGHDR,
} from "../../../ffi/darwin/layouts.ts";
import {
  encodeRouteMessage,
  encodeSockaddrDl,
  encodeSockaddrInet,
  prefixMask,
  roundup32,
  type RouteAddrs,
  RTAX_SLOTS,
} from "../../../ffi/darwin/structs.ts";
import { concatBytes } from "../../_helpers/bytes.ts";

/** A header of `size` bytes with `fields` ([offset, bytes, value]) and the sockaddrs after it. */
function message(
  size: number,
  type: number,
  fields: [number, 1 | 2 | 4, number][],
  addrs: RouteAddrs,
  addrsOffset: number,
): Uint8Array {
  let bits = 0, total = size;
  RTAX_SLOTS.forEach((slot, i) => {
    const sa = addrs[slot];
    if (!sa) return;
    bits |= 1 << i;
    total += roundup32(sa.length);
  });
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, total, true);
  dv.setUint8(2, RTM_VERSION);
  dv.setUint8(3, type);
  dv.setInt32(addrsOffset, bits, true);
  for (const [off, n, v] of fields) {
    if (n === 1) dv.setUint8(off, v);
    else if (n === 2) dv.setUint16(off, v, true);
    else dv.setInt32(off, v, true);
  }
  let off = size;
  for (const slot of RTAX_SLOTS) {
    const sa = addrs[slot];
    if (!sa) continue;
    out.set(sa, off);
    off += roundup32(sa.length);
  }
  return out;
}

/** RTM_IFINFO for interface `index` with `flags` (what xnu sends when a link changes). */
export function ifInfo(index: number, flags: number, mtu = 1500): Uint8Array {
  return message(
    IF_MSGHDR.size,
    RTM.IFINFO,
    [[IF_MSGHDR.ifm_flags, 4, flags], [IF_MSGHDR.ifm_index, 2, index], [
      IF_MSGHDR.ifm_data + IF_DATA.ifi_mtu,
      4,
      mtu,
    ]],
    {},
    IF_MSGHDR.ifm_addrs,
  );
}

/** An RTM_IFINFO2 record of NET_RT_IFLIST2 with the interface's `sockaddr_dl`. */
export function ifInfo2(index: number, name: string, flags: number, mtu = 1500): Uint8Array {
  return message(
    IF_MSGHDR2.size,
    RTM.IFINFO2,
    [[IF_MSGHDR2.ifm_flags, 4, flags], [IF_MSGHDR2.ifm_index, 2, index], [
      IF_MSGHDR2.ifm_data + IF_DATA64.ifi_mtu,
      4,
      mtu,
    ]],
    { ifp: encodeSockaddrDl(index, name, 0xff) },
    IF_MSGHDR2.ifm_addrs,
  );
}

/**
 * RTM_NEWADDR / RTM_DELADDR of `addr/bits` on interface `index`, as xnu writes it: a netmask
 * trimmed of its trailing zero bytes (family byte left 0), then the address.
 */
export function ifAddr(
  type: typeof RTM.NEWADDR | typeof RTM.DELADDR,
  index: number,
  addr: Uint8Array,
  bits: number,
): Uint8Array {
  const full = encodeSockaddrInet(prefixMask(bits, addr.length as 4 | 16));
  const addrOff = addr.length === 4 ? 4 : 8;
  let len = full.length;
  while (len > addrOff && full[len - 1] === 0) len--;
  const mask = full.slice(0, len);
  mask[0] = len;
  mask[1] = 0;
  return message(
    IFA_MSGHDR.size,
    type,
    [[IFA_MSGHDR.ifam_index, 2, index], [IFA_MSGHDR.ifam_flags, 4, 0]],
    { netmask: mask, ifa: encodeSockaddrInet(addr) },
    IFA_MSGHDR.ifam_addrs,
  );
}

/** A route record (RTM_GET in dumps, RTM_ADD/RTM_DELETE on the socket) through `index`. */
export function routeRecord(
  type: number,
  index: number,
  flags: number,
  dst: Uint8Array,
  bits: number,
  gateway: Uint8Array,
): Uint8Array {
  return encodeRouteMessage({
    type,
    flags,
    seq: 0,
    index,
    addrs: {
      dst: encodeSockaddrInet(dst),
      gateway: gateway.length === 0 ? encodeSockaddrDl(index) : encodeSockaddrInet(gateway),
      netmask: encodeSockaddrInet(prefixMask(bits, dst.length as 4 | 16)),
    },
  });
}

/** Concatenates records into one sysctl result or one read. */
export function concat(parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts);
}
