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
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_LEN,
} from "../../ffi/linux/if_tun.ts";

/** The macOS utun header size. */
const UTUN = 4;
/** The Linux virtio_net_hdr size (IFF_VNET_HDR). */
export const VNET_HDR_LEN = VIRTIO_NET_HDR_LEN;

/**
 * True when the virtio_net_hdr at the start of `frame` marks the packet's TCP/UDP checksum as
 * partial (VIRTIO_NET_HDR_F_NEEDS_CSUM: the field holds the pseudo-header sum; the kernel sets it
 * on what it sends through a TUN with checksum offload, and completes it on what it takes back
 * with the same flag). A segmentation-offload packet (gso_type TCPV4/TCPV6) always has it.
 */
export function vnetPartialChecksum(frame: Uint8Array): boolean {
  return (frame[0]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
}

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

/**
 * Fills the virtio_net_hdr at the start of `frame` for the TCP packet after it (IPv4 without
 * options or IPv6 without extension headers, as tunbox builds them) whose checksum field holds
 * the pseudo-header sum: NEEDS_CSUM with `csum_start` at the TCP header and `csum_offset` 16,
 * and with `segmentSize` > 0 segmentation (gso_type TCPV4/TCPV6, `gso_size` `segmentSize`,
 * `hdr_len` the IP and TCP headers). Fields are little-endian (the kernel's legacy virtio
 * byte order on little-endian hosts, every target tunbox builds for).
 *
 * ```ts
 * setVnetTcpHeader(frame, 1448); // frame = 10-byte header + a 64 KiB IPv4/TCP packet
 * // frame[0..10) = [1, 1, hdr_len, 0xa8, 0x05, 20, 0, 16, 0]   (hdr_len = 20 + TCP header)
 * ```
 */
export function setVnetTcpHeader(frame: Uint8Array, segmentSize: number): void {
  const ip = VNET_HDR_LEN;
  const v6 = frame[ip]! >> 4 === 6;
  const l4 = v6 ? 40 : (frame[ip]! & 0x0f) * 4;
  const hdrLen = l4 + (frame[ip + l4 + 12]! >> 4) * 4;
  frame[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  frame[1] = segmentSize > 0
    ? (v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4)
    : VIRTIO_NET_HDR_GSO_NONE;
  frame[2] = segmentSize > 0 ? hdrLen & 0xff : 0;
  frame[3] = segmentSize > 0 ? hdrLen >> 8 : 0;
  frame[4] = segmentSize & 0xff;
  frame[5] = segmentSize >> 8;
  frame[6] = l4 & 0xff;
  frame[7] = l4 >> 8;
  frame[8] = 16;
  frame[9] = 0;
}
