/**
 * Darwin (macOS) kernel constants used by the utun, interface-address, routing-socket and
 * bound-socket code. Each value is checked against the xnu headers named beside it
 * (apple-oss-distributions/xnu); `tests/ffi/darwin/proof_table_test.ts` checks every value
 * against the header text, naming the header and line, and the ioctl numbers are computed by
 * the `_IOW`/`_IOWR` macros of `bsd/sys/ioccom.h` (`ioccom.ts`).
 *
 * These are Darwin's values on every architecture (arm64 and x86_64 use the same numbers);
 * several differ from Linux (AF_INET6, O_NONBLOCK, SOL_SOCKET, EAGAIN, ...).
 *
 * @module
 */

import { _IOW, _IOWR } from "./ioccom.ts";
import { CTL_INFO, IFALIASREQ, IFREQ, IN6_ALIASREQ, IN6_IFREQ } from "./layouts.ts";

// ---------------------------------------------------------------------------------------------
// Address families and socket types — bsd/sys/socket.h
// ---------------------------------------------------------------------------------------------

export const AF_UNSPEC = 0;
export const AF_INET = 2;
/** Darwin's AF_INET6 (Linux uses 10). */
export const AF_INET6 = 30;
/** Routing sockets; also PF_ROUTE, the second sysctl level for NET_RT_DUMP. */
export const AF_ROUTE = 17;
export const PF_ROUTE = AF_ROUTE;
/** Link-level sockaddr (`sockaddr_dl`, bsd/net/if_dl.h). */
export const AF_LINK = 18;
/** Kernel system domain (kernel controls, kernel events). */
export const AF_SYSTEM = 32;
export const PF_SYSTEM = AF_SYSTEM;

export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;

/** bsd/sys/socket.h: the socket-level option level (Linux uses 1). */
export const SOL_SOCKET = 0xffff;
/** socket.h: SOL_SOCKET option names (all differ from Linux). */
export const SO_REUSEADDR = 0x0004;
/** socket.h: permit sending to a broadcast address. */
export const SO_BROADCAST = 0x0020;
export const SO_KEEPALIVE = 0x0008;
/** socket.h: `struct linger` with the time in ticks (`SO_LINGER_SEC` 0x1080 takes seconds). */
export const SO_LINGER = 0x0080;
export const SO_REUSEPORT = 0x0200;
export const SO_SNDBUF = 0x1001;
export const SO_RCVBUF = 0x1002;
export const SO_ERROR = 0x1007;
/** socket.h: Apple's per-socket "no SIGPIPE on EPIPE" (Linux passes MSG_NOSIGNAL per call). */
export const SO_NOSIGPIPE = 0x1022;
/** socket.h: `recv` flag: look at the data without consuming it. */
export const MSG_PEEK = 0x2;
/** socket.h: `shutdown(2)`'s `how`. */
export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;

// ---------------------------------------------------------------------------------------------
// Kernel control (utun) — bsd/sys/sys_domain.h, bsd/sys/kern_control.h, bsd/net/if_utun.h
// ---------------------------------------------------------------------------------------------

/** sys_domain.h: kernel control protocol, the `protocol` argument of socket(PF_SYSTEM, ...). */
export const SYSPROTO_CONTROL = 2;
/** sys_domain.h: `ss_sysaddr` of a `sockaddr_ctl`. */
export const AF_SYS_CONTROL = 2;
/** kern_control.h: length of `ctl_info.ctl_name`. */
export const MAX_KCTL_NAME = 96;
/** if_utun.h: the name the utun kernel control registers. */
export const UTUN_CONTROL_NAME = "com.apple.net.utun_control";
/** if_utun.h: getsockopt(SYSPROTO_CONTROL, UTUN_OPT_IFNAME) returns the interface name. */
export const UTUN_OPT_IFNAME = 2;
/** Bytes before the IP header on every utun read and write: a big-endian u32 address family. */
export const UTUN_HEADER_SIZE = 4;

// ---------------------------------------------------------------------------------------------
// ioctl numbers, computed by the `_IOW`/`_IOWR` macros of bsd/sys/ioccom.h (`ioccom.ts`) from
// the struct sizes in `layouts.ts`, as the C headers compute them.
// ---------------------------------------------------------------------------------------------

/** kern_control.h: `_IOWR('N', 3, struct ctl_info)` = 0xc0644e03. */
export const CTLIOCGINFO: number = _IOWR("N", 3, CTL_INFO.size);
/** sockio.h: `_IOW('i', 52, struct ifreq)` = 0x80206934. */
export const SIOCSIFMTU: number = _IOW("i", 52, IFREQ.size);
/** sockio.h: `_IOWR('i', 51, struct ifreq)` = 0xc0206933. */
export const SIOCGIFMTU: number = _IOWR("i", 51, IFREQ.size);
/** sockio.h: `_IOW('i', 16, struct ifreq)` = 0x80206910. */
export const SIOCSIFFLAGS: number = _IOW("i", 16, IFREQ.size);
/** sockio.h: `_IOWR('i', 17, struct ifreq)` = 0xc0206911. */
export const SIOCGIFFLAGS: number = _IOWR("i", 17, IFREQ.size);
/** sockio.h: `_IOW('i', 26, struct ifaliasreq)` = 0x8040691a. */
export const SIOCAIFADDR: number = _IOW("i", 26, IFALIASREQ.size);
/** sockio.h: `_IOW('i', 25, struct ifreq)` = 0x80206919. */
export const SIOCDIFADDR: number = _IOW("i", 25, IFREQ.size);
/** netinet6/in6_var.h: `_IOW('i', 26, struct in6_aliasreq)` = 0x8080691a. */
export const SIOCAIFADDR_IN6: number = _IOW("i", 26, IN6_ALIASREQ.size);
/** netinet6/in6_var.h: `_IOW('i', 25, struct in6_ifreq)` = 0x81206919. */
export const SIOCDIFADDR_IN6: number = _IOW("i", 25, IN6_IFREQ.size);

/** bsd/net/if.h: interface flag "up" (in `ifr_flags`, a short at offset 16 of ifreq). */
export const IFF_UP = 0x1;
/** bsd/net/if.h: point-to-point link (every utun). */
export const IFF_POINTOPOINT = 0x10;
/** bsd/net/if.h: resources allocated (the driver is ready). */
export const IFF_RUNNING = 0x40;
/** bsd/net/if.h: interface names are at most 15 characters plus a NUL. */
export const IFNAMSIZ = 16;

/** in6_var.h: do not run duplicate address detection on this address. */
export const IN6_IFF_NODAD = 0x0020;
/** in6_var.h: cryptographically generated (keeps the address out of privacy rotation). */
export const IN6_IFF_SECURED = 0x0400;
/** netinet6/nd6.h: a lifetime that never ends. */
export const ND6_INFINITE_LIFETIME = 0xffffffff;

// ---------------------------------------------------------------------------------------------
// Routing sockets — bsd/net/route.h
// ---------------------------------------------------------------------------------------------

/** route.h: the only `rtm_version` the kernel accepts and emits. */
export const RTM_VERSION = 5;

/** route.h: `rtm_type` values. */
export const RTM = {
  ADD: 0x1,
  DELETE: 0x2,
  CHANGE: 0x3,
  GET: 0x4,
  LOSING: 0x5,
  REDIRECT: 0x6,
  MISS: 0x7,
  LOCK: 0x8,
  RESOLVE: 0xb,
  NEWADDR: 0xc,
  DELADDR: 0xd,
  IFINFO: 0xe,
  NEWMADDR: 0xf,
  DELMADDR: 0x10,
  IFINFO2: 0x12,
  NEWMADDR2: 0x13,
  GET2: 0x14,
} as const;

/** route.h: `rtm_addrs` bits; the sockaddrs follow the header in this bit order. */
export const RTA = {
  DST: 0x1,
  GATEWAY: 0x2,
  NETMASK: 0x4,
  GENMASK: 0x8,
  IFP: 0x10,
  IFA: 0x20,
  AUTHOR: 0x40,
  BRD: 0x80,
} as const;

/** route.h: index of each sockaddr (bit position in `rtm_addrs`). */
export const RTAX = {
  DST: 0,
  GATEWAY: 1,
  NETMASK: 2,
  GENMASK: 3,
  IFP: 4,
  IFA: 5,
  AUTHOR: 6,
  BRD: 7,
} as const;
/** route.h: number of sockaddr slots. */
export const RTAX_MAX = 8;

/** route.h: `rtm_flags` bits. */
export const RTF = {
  UP: 0x1,
  GATEWAY: 0x2,
  HOST: 0x4,
  REJECT: 0x8,
  DYNAMIC: 0x10,
  MODIFIED: 0x20,
  DONE: 0x40,
  CLONING: 0x100,
  LLINFO: 0x400,
  STATIC: 0x800,
  BLACKHOLE: 0x1000,
  PRCLONING: 0x10000,
  WASCLONED: 0x20000,
  LOCAL: 0x200000,
  BROADCAST: 0x400000,
  MULTICAST: 0x800000,
  IFSCOPE: 0x1000000,
} as const;

// ---------------------------------------------------------------------------------------------
// sysctl — bsd/sys/sysctl.h, bsd/sys/socket.h
// ---------------------------------------------------------------------------------------------

/** sysctl.h: top-level "net". */
export const CTL_NET = 4;
/** socket.h: fifth level under {CTL_NET, PF_ROUTE, 0, af}: dump the routing table. */
export const NET_RT_DUMP = 1;
/** socket.h: fifth level: every interface (`if_msghdr2`) followed by its addresses. */
export const NET_RT_IFLIST2 = 6;

// ---------------------------------------------------------------------------------------------
// Socket options — bsd/netinet/in.h, bsd/netinet6/in6.h
// ---------------------------------------------------------------------------------------------

export const IPPROTO_IP = 0;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
/** netinet/in.h: int; bind the socket to an interface index (scoped routing). */
export const IP_BOUND_IF = 25;
/** netinet6/in6.h: int; the IPv6 form of IP_BOUND_IF. */
export const IPV6_BOUND_IF = 125;
/** netinet6/in6.h: bool; an AF_INET6 socket accepts IPv6 only. */
export const IPV6_V6ONLY = 27;
/** netinet/tcp.h: disable Nagle. */
export const TCP_NODELAY = 0x01;
/** netinet/tcp.h: idle seconds before keep-alive probes (Linux calls it TCP_KEEPIDLE). */
export const TCP_KEEPALIVE = 0x10;
/** netinet/tcp.h: seconds between keep-alive probes. */
export const TCP_KEEPINTVL = 0x101;

// ---------------------------------------------------------------------------------------------
// Resource limits — bsd/sys/resource.h, bsd/sys/syslimits.h
// ---------------------------------------------------------------------------------------------

/** resource.h: the open-files limit (Linux uses 7). */
export const RLIMIT_NOFILE = 8;
/** syslimits.h: the largest soft RLIMIT_NOFILE setrlimit accepts. */
export const OPEN_MAX = 10240;

// ---------------------------------------------------------------------------------------------
// Files and polling — bsd/sys/fcntl.h, bsd/sys/poll.h
// ---------------------------------------------------------------------------------------------

export const O_RDONLY = 0x0;
export const O_RDWR = 0x2;
/** fcntl.h: Darwin's O_NONBLOCK (Linux uses 0x800). */
export const O_NONBLOCK = 0x4;
/** fcntl.h: Darwin's O_CLOEXEC (Linux uses 0x80000). */
export const O_CLOEXEC = 0x1000000;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;

export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

// ---------------------------------------------------------------------------------------------
// Socket lists and process paths — bsd/sys/socketvar.h, bsd/netinet/in_pcb.h, bsd/sys/proc_info.h
// ---------------------------------------------------------------------------------------------

/** socketvar.h: the kind of an `xsocket_n` record in a pcblist_n list. */
export const XSO_SOCKET = 0x001;
/** socketvar.h: the kind of an `xinpcb_n` record (the first of each socket's records). */
export const XSO_INPCB = 0x010;
/** in_pcb.h: `inp_vflag` bit: the socket carries IPv4 (its address is `ia46_addr4`). */
export const INP_IPV4 = 0x1;
/** in_pcb.h: `inp_vflag` bit: the socket carries IPv6 (its address is `in6p_laddr`). */
export const INP_IPV6 = 0x2;
/** proc_info.h: the largest buffer `proc_pidpath` accepts (`4*MAXPATHLEN`). */
export const PROC_PIDPATHINFO_MAXSIZE = 4096;

// ---------------------------------------------------------------------------------------------
// errno values the Darwin platform code tests for — bsd/sys/errno.h
// ---------------------------------------------------------------------------------------------

export const DARWIN_ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  ENXIO: 6,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  EAGAIN: 35,
  ENETUNREACH: 51,
  ENOBUFS: 55,
  EOVERFLOW: 84,
} as const;
