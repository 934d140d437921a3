/**
 * A hand-built `sysctl({CTL_NET, PF_ROUTE, 0, AF_UNSPEC, NET_RT_DUMP, 0})` result, as xnu's
 * `sysctl_dumpentry` writes it: back-to-back `rt_msghdr` records (type RTM_GET), each followed
 * by its DST, GATEWAY and NETMASK sockaddrs padded to 4 bytes. Interfaces: en0 = 6, en5 = 12.
 *
 * @module
 */

import { hex, zeros } from "./_hex.ts";

/** Header fields common to the records below: pid, seq, errno @16..27, use @28, inits @32. */
function header(
  msglen: string,
  index: string,
  flags: string,
  use = "00 00 00 00",
): string {
  return [
    msglen, // @0 rtm_msglen
    "05 04", // @2 rtm_version 5, rtm_type RTM_GET (dump records)
    index, // @4 rtm_index
    "00 00", // @6 padding
    flags, // @8 rtm_flags
    "07 00 00 00", // @12 rtm_addrs DST|GATEWAY|NETMASK
    "00 00 00 00", // @16 rtm_pid
    "00 00 00 00", // @20 rtm_seq
    "00 00 00 00", // @24 rtm_errno
    use, // @28 rtm_use
    "00 00 00 00", // @32 rtm_inits
    "00 00 00 00", // @36 rmx_locks
    "dc 05 00 00", // @40 rmx_mtu 1500
    zeros(48), // @44 the other 12 rt_metrics fields
  ].join(" ");
}

/**
 * Record A (128 bytes): `default 10.0.0.1 UGScI en5` — an interface-scoped IPv4 default.
 * Flags UP|GATEWAY|STATIC|PRCLONING|IFSCOPE = 0x01010803.
 */
export const RECORD_SCOPED_DEFAULT_EN5 = hex(
  header("80 00", "0c 00", "03 08 01 01"),
  "10 02 00 00 00 00 00 00", // @92 DST sockaddr_in 0.0.0.0
  zeros(8),
  "10 02 00 00 0a 00 00 01", // @108 GATEWAY 10.0.0.1
  zeros(8),
  "00 00 00 00", // @124 NETMASK: sa_len 0 (the radix tree's empty mask), padded to 4
);

/**
 * Record B (128 bytes): `default 192.168.1.1 UGScg en0` — the system's IPv4 default route.
 * Flags UP|GATEWAY|STATIC|PRCLONING|RTF_GLOBAL = 0x40010803; rtm_use 123456.
 */
export const RECORD_DEFAULT_EN0 = hex(
  header("80 00", "06 00", "03 08 01 40", "40 e2 01 00"),
  "10 02 00 00 00 00 00 00", // @92 DST 0.0.0.0
  zeros(8),
  "10 02 00 00 c0 a8 01 01", // @108 GATEWAY 192.168.1.1
  zeros(8),
  "00 00 00 00", // @124 NETMASK: empty
);

/**
 * Record C (136 bytes): `192.168.1 link#6 UCS en0` — the LAN route, gateway a sockaddr_dl.
 * Flags UP|CLONING|STATIC = 0x901.
 */
export const RECORD_LINK_ROUTE_EN0 = hex(
  header("88 00", "06 00", "01 09 00 00"),
  "10 02 00 00 c0 a8 01 00", // @92 DST 192.168.1.0
  zeros(8),
  "14 12 06 00 06 00 00 00", // @108 GATEWAY sockaddr_dl: len 20, AF_LINK 18, index 6, IFT_ETHER,
  zeros(12), //                   nlen 0, alen 0, slen 0, sdl_data[12]
  "07 ff ff ff ff ff ff 00", // @128 NETMASK trimmed to sa_len 7 (family/port bytes are 0xff in
  //                               radix masks): 255.255.255.0, 1 byte padding
);

/**
 * Record D (152 bytes): `default fe80::1%en0 UGc en0` — the IPv6 default route, gateway with
 * the KAME-embedded scope (fe80:6::1). Flags UP|GATEWAY|STATIC|PRCLONING = 0x10803.
 */
export const RECORD_IPV6_DEFAULT_EN0 = hex(
  header("98 00", "06 00", "03 08 01 00"),
  "1c 1e 00 00 00 00 00 00", // @92 DST sockaddr_in6 ::
  zeros(16),
  "00 00 00 00",
  "1c 1e 00 00 00 00 00 00", // @120 GATEWAY fe80:6::1
  "fe 80 00 06 00 00 00 00 00 00 00 00 00 00 00 01",
  "00 00 00 00",
  "02 1e 00 00", // @148 NETMASK: sa_len 2, AF_INET6, all zero
);

/** The four records back to back (544 bytes), scoped default first. */
export const ROUTE_DUMP = new Uint8Array([
  ...RECORD_SCOPED_DEFAULT_EN5,
  ...RECORD_DEFAULT_EN0,
  ...RECORD_LINK_ROUTE_EN0,
  ...RECORD_IPV6_DEFAULT_EN0,
]);
