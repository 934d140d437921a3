/**
 * Sizes and field offsets of the Darwin kernel structs tunbox builds and reads, for 64-bit
 * processes (arm64 and x86_64 share them). The encoders in `structs.ts` write fields only at
 * these offsets, and the ioctl numbers in `constants.ts` take their sizes from here.
 *
 * Every value is checked by `tests/ffi/darwin/proof_table_test.ts`, which parses the struct
 * definitions quoted from the xnu headers (with their `#if`s and `#pragma pack`s) and lays them
 * out by the LP64 C rules; the header and line of each struct are named there and below.
 *
 * @module
 */

/** `struct ctl_info` — bsd/sys/kern_control.h. */
export const CTL_INFO = { size: 100, ctl_id: 0, ctl_name: 4 } as const;

/** `struct sockaddr_ctl` — bsd/sys/kern_control.h. */
export const SOCKADDR_CTL = {
  size: 32,
  sc_len: 0,
  sc_family: 1,
  ss_sysaddr: 2,
  sc_id: 4,
  sc_unit: 8,
  sc_reserved: 12,
} as const;

/**
 * `struct ifreq` — bsd/net/if.h: a 16-byte name and a 16-byte union (8-aligned) that is read as
 * `ifru_flags` (short), `ifru_mtu` (int), ...
 */
export const IFREQ = { size: 32, ifr_name: 0, ifr_ifru: 16 } as const;

/** `struct ifaliasreq` — bsd/net/if.h (SIOCAIFADDR). */
export const IFALIASREQ = {
  size: 64,
  ifra_name: 0,
  ifra_addr: 16,
  ifra_broadaddr: 32,
  ifra_mask: 48,
} as const;

/** `struct in6_addrlifetime` — bsd/netinet6/in6_var.h (`time_t` is 8 bytes). */
export const IN6_ADDRLIFETIME = {
  size: 24,
  ia6t_expire: 0,
  ia6t_preferred: 8,
  ia6t_vltime: 16,
  ia6t_pltime: 20,
} as const;

/** `struct in6_aliasreq` — bsd/netinet6/in6_var.h (SIOCAIFADDR_IN6). */
export const IN6_ALIASREQ = {
  size: 128,
  ifra_name: 0,
  ifra_addr: 16,
  ifra_dstaddr: 44,
  ifra_prefixmask: 72,
  ifra_flags: 100,
  ifra_lifetime: 104,
} as const;

/** `struct in6_ifreq` — bsd/netinet6/in6_var.h (only its size is used: SIOCDIFADDR_IN6). */
export const IN6_IFREQ = { size: 288, ifr_name: 0, ifr_ifru: 16 } as const;

/** `struct sockaddr_in` — bsd/netinet/in.h. */
export const SOCKADDR_IN = {
  size: 16,
  sin_len: 0,
  sin_family: 1,
  sin_port: 2,
  sin_addr: 4,
  sin_zero: 8,
} as const;

/** `struct sockaddr_in6` — bsd/netinet6/in6.h. */
export const SOCKADDR_IN6 = {
  size: 28,
  sin6_len: 0,
  sin6_family: 1,
  sin6_port: 2,
  sin6_flowinfo: 4,
  sin6_addr: 8,
  sin6_scope_id: 24,
} as const;

/**
 * `struct sockaddr_dl` — bsd/net/if_dl.h (20 bytes; longer in routing messages when the name
 * and link-level address need more than `sdl_data`'s 12 bytes).
 */
export const SOCKADDR_DL = {
  size: 20,
  sdl_len: 0,
  sdl_family: 1,
  sdl_index: 2,
  sdl_type: 4,
  sdl_nlen: 5,
  sdl_alen: 6,
  sdl_slen: 7,
  sdl_data: 8,
} as const;

/** `struct rt_metrics` — bsd/net/route.h (14 × u_int32_t). */
export const RT_METRICS = { size: 56, rmx_locks: 0, rmx_mtu: 4 } as const;

/** `struct rt_msghdr` — bsd/net/route.h: routing-socket messages and NET_RT_DUMP records. */
export const RT_MSGHDR = {
  size: 92,
  rtm_msglen: 0,
  rtm_version: 2,
  rtm_type: 3,
  rtm_index: 4,
  rtm_flags: 8,
  rtm_addrs: 12,
  rtm_pid: 16,
  rtm_seq: 20,
  rtm_errno: 24,
  rtm_use: 28,
  rtm_inits: 32,
  rtm_rmx: 36,
} as const;

/** `struct if_msghdr` — bsd/net/if.h: RTM_IFINFO on the routing socket. */
export const IF_MSGHDR = {
  size: 112,
  ifm_msglen: 0,
  ifm_version: 2,
  ifm_type: 3,
  ifm_addrs: 4,
  ifm_flags: 8,
  ifm_index: 12,
  ifm_data: 16,
} as const;

/** `struct if_msghdr2` — bsd/net/if.h: RTM_IFINFO2 records of NET_RT_IFLIST2. */
export const IF_MSGHDR2 = {
  size: 160,
  ifm_msglen: 0,
  ifm_version: 2,
  ifm_type: 3,
  ifm_addrs: 4,
  ifm_flags: 8,
  ifm_index: 12,
  ifm_data: 32,
} as const;

/** `struct if_data64` — bsd/net/if_var.h (`#pragma pack(4)`): inside `if_msghdr2`. */
export const IF_DATA64 = { size: 128, ifi_type: 0, ifi_mtu: 8 } as const;

/** `struct if_data` — bsd/net/if_var.h (`#pragma pack(4)`): inside `if_msghdr`. */
export const IF_DATA = { size: 96, ifi_type: 0, ifi_mtu: 8 } as const;

/** `struct ifa_msghdr` — bsd/net/if.h: RTM_NEWADDR/RTM_DELADDR and NET_RT_IFLIST2 addresses. */
export const IFA_MSGHDR = {
  size: 20,
  ifam_msglen: 0,
  ifam_version: 2,
  ifam_type: 3,
  ifam_addrs: 4,
  ifam_flags: 8,
  ifam_index: 12,
  ifam_metric: 16,
} as const;

/** `struct pollfd` — bsd/sys/poll.h. */
export const POLLFD = { size: 8, fd: 0, events: 4, revents: 6 } as const;

/** `struct linger` — bsd/sys/socket.h (SO_LINGER). */
export const LINGER = { size: 8, l_onoff: 0, l_linger: 4 } as const;

/** `struct rlimit` — bsd/sys/resource.h (`rlim_t` is 8 bytes). */
export const RLIMIT = { size: 16, rlim_cur: 0, rlim_max: 8 } as const;

// The socket lists of `sysctlbyname("net.inet.tcp.pcblist_n")` / `"net.inet.udp.pcblist_n"`
// (bsd/netinet/in_pcblist.c `get_pcblist_n`): an `xinpgen`, then per socket an `xinpcb_n`,
// `xsocket_n`, two `xsockbuf_n`, an `xsockstat_n` (and for TCP an `xtcpcb_n`), each starting
// with its `u_int32_t` length and kind and placed at `ROUNDUP64` of the previous one's size; a
// last `xinpgen` ends the list. All are declared under `#pragma pack(4)`.

/** `struct xinpgen` — bsd/netinet/in_pcb.h: the list's first and last record. */
export const XINPGEN = { size: 24, xig_len: 0, xig_count: 4, xig_gen: 8, xig_sogen: 16 } as const;

/**
 * `struct xinpcb_n` — bsd/netinet/in_pcb.h (`XSO_INPCB`): ports in network order; the local
 * address is a union of `in_addr_4in6` (IPv4 at +12) and `in6_addr`.
 */
export const XINPCB_N = {
  size: 104,
  xi_len: 0,
  xi_kind: 4,
  xi_inpp: 8,
  inp_fport: 16,
  inp_lport: 18,
  inp_vflag: 44,
  inp_dependfaddr: 48,
  inp_dependladdr: 64,
} as const;

/** `struct in_addr_4in6` — bsd/netinet/in_pcb.h: the IPv4 address after 12 bytes of padding. */
export const IN_ADDR_4IN6 = { size: 16, ia46_pad32: 0, ia46_addr4: 12 } as const;

/**
 * `struct xsocket_n` — bsd/sys/socketvar.h (`XSO_SOCKET`). 104 bytes since xnu-8792 (macOS 13);
 * 80 before (it ended after `so_e_pid`), with the same offsets up to there.
 */
export const XSOCKET_N = {
  size: 104,
  xso_len: 0,
  xso_kind: 4,
  xso_so: 8,
  so_uid: 64,
  so_last_pid: 68,
  so_e_pid: 72,
} as const;

/** `struct xsockbuf_n` — bsd/sys/socketvar.h (`XSO_RCVBUF` / `XSO_SNDBUF`). */
export const XSOCKBUF_N = { size: 32, xsb_len: 0, xsb_kind: 4 } as const;

/** `struct xsockstat_n` — bsd/sys/socketvar.h (`XSO_STATS`). */
export const XSOCKSTAT_N = { size: 136, xst_len: 0, xst_kind: 4, xst_tc_stats: 8 } as const;

/** `struct xtcpcb_n` — bsd/netinet/tcp_var.h (`XSO_TCPCB`, TCP lists only). */
export const XTCPCB_N = { size: 204, xt_len: 0, xt_kind: 4, t_state: 36 } as const;

/**
 * `struct passwd` — Libinfo lookup.subproj/pwd.h (`getpwnam`'s result; only `pw_uid` is read).
 */
export const PASSWD = { size: 72, pw_name: 0, pw_passwd: 8, pw_uid: 16, pw_gid: 20 } as const;
