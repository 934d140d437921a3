/**
 * TUN/TAP constants from `include/uapi/linux/if_tun.h` and `virtio_net.h`.
 *
 * The ioctl numbers use the generic `_IOC` encoding of x86, arm, arm64 and riscv (the targets
 * tunbox supports); mips, powerpc and sparc encode them differently.
 *
 * @module
 */

/** Path of the TUN clone device. */
export const TUN_CLONE_PATH = "/dev/net/tun";

/** `_IOW('T', 202, int)`: create or attach; arg `struct ifreq*` (name + flags). */
export const TUNSETIFF = 0x400454ca;
/** `_IOW('T', 203, int)`: arg int by value. */
export const TUNSETPERSIST = 0x400454cb;
/** `_IOR('T', 207, unsigned int)`: arg `u32*`, receives the supported IFF_* flags. */
export const TUNGETFEATURES = 0x800454cf;
/** `_IOW('T', 208, unsigned int)`: arg unsigned int by value (TUN_F_* mask). */
export const TUNSETOFFLOAD = 0x400454d0;
/** `_IOR('T', 210, unsigned int)`: arg `struct ifreq*`, receives name + flags. */
export const TUNGETIFF = 0x800454d2;
/** `_IOW('T', 216, int)`: arg `int*`, the virtio_net_hdr size. */
export const TUNSETVNETHDRSZ = 0x400454d8;
/** `_IOW('T', 217, int)`: arg `struct ifreq*` with IFF_ATTACH_QUEUE / IFF_DETACH_QUEUE. */
export const TUNSETQUEUE = 0x400454d9;

/** TUNSETIFF flags (`ifr_flags`). */
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_NAPI = 0x0010;
export const IFF_NAPI_FRAGS = 0x0020;
export const IFF_NO_CARRIER = 0x0040;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_ATTACH_QUEUE = 0x0200;
export const IFF_DETACH_QUEUE = 0x0400;
export const IFF_PERSIST = 0x0800;
export const IFF_NO_PI = 0x1000;
export const IFF_ONE_QUEUE = 0x2000;
export const IFF_VNET_HDR = 0x4000;
export const IFF_TUN_EXCL = 0x8000;

/** TUNSETOFFLOAD bits. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

/** `sizeof(struct virtio_net_hdr)`: the prefix of every packet with IFF_VNET_HDR. */
export const VIRTIO_NET_HDR_LEN = 10;

/** `virtio_net_hdr.flags`: the L4 checksum is partial (pseudo-header sum; see `csum_start`). */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
/** `virtio_net_hdr.flags`: the checksum was verified. */
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
/** `virtio_net_hdr.gso_type` values. */
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;
