/**
 * The bytes a TUN device puts before each IP packet (`TunDevice.packetOffset`): none on Linux,
 * a 10-byte `virtio_net_hdr` with `vnet_hdr`, and on macOS the utun's 4-byte big-endian address
 * family (AF_INET 2, Darwin's AF_INET6 30; `src/platform/darwin/utun.ts`). The engine reads and
 * writes through these two functions, so every utun read is checked and every write framed, for
 * IPv4 and IPv6 alike.
 *
 * ```ts
 * const ip = unframe(rx.subarray(0, n), 4); // null: not an IP packet its header announces
 * const frame = frameForTun(packet, 4, scratch); // [0, 0, 0, 2|30] + packet
 * ```
 *
 * @module
 */

import { setUtunHeader, utunPacketFamily } from "../platform/darwin/utun.ts";

/** The macOS utun header size. */
const UTUN = 4;

/**
 * The IP packet inside a frame read from the TUN, or null when it must be dropped: shorter than
 * its prefix, or (utun) a header that is not the packet's own address family.
 */
export function unframe(frame: Uint8Array, offset: number): Uint8Array | null {
  if (frame.length <= offset) return null;
  if (offset === UTUN) {
    const family = utunPacketFamily(frame);
    if (family === null || family !== frame[UTUN]! >> 4) return null;
  }
  return offset === 0 ? frame : frame.subarray(offset);
}

/**
 * The frame to write for `packet`: the prefix goes in the bytes before the packet when its
 * buffer has room there (no copy), else the packet is copied once into `scratch` (which must
 * hold `offset + packet.length` bytes). Null when the packet is neither IPv4 nor IPv6 and the
 * device needs its family (utun).
 */
export function frameForTun(
  packet: Uint8Array,
  offset: number,
  scratch: Uint8Array,
): Uint8Array | null {
  if (offset === 0) return packet;
  let out: Uint8Array;
  if (packet.byteOffset >= offset) {
    out = new Uint8Array(packet.buffer, packet.byteOffset - offset, packet.length + offset);
  } else {
    out = scratch.subarray(0, packet.length + offset);
    out.set(packet, offset);
  }
  if (offset === UTUN) return setUtunHeader(out) ? out : null;
  out.fill(0, 0, offset);
  return out;
}
