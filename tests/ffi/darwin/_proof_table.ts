/**
 * What the macOS code assumes about the kernel, one row per fact, next to the xnu header that
 * decides it: every constant, ioctl number, errno value, struct size and field offset used by
 * `ffi/darwin/`, `src/platform/darwin/` and the macOS backend of `src/io/`.
 *
 * `_gen_xnu_excerpts.ts` copies the lines these rows name out of an xnu checkout into
 * `_xnu_excerpts.ts`; `proof_table_test.ts` evaluates the header text (expanding the header's own
 * macros, laying structs out by the LP64 rules) and compares it with the value tunbox uses.
 *
 * @module
 */

import * as C from "../../../ffi/darwin/constants.ts";
import * as L from "../../../ffi/darwin/layouts.ts";
import * as IOC from "../../../ffi/darwin/ioccom.ts";
import * as SYS from "../../../src/io/sys_darwin.ts";
import { type ErrnoName, errnoName } from "../../../ffi/errno.ts";
import { AF_INET as SOCKADDR_AF_INET } from "../../../ffi/sockaddr.ts";
import * as SCF from "../../../ffi/darwin/system_configuration.ts";

/** One `#define` and the value tunbox uses for it. */
export interface ConstantRow {
  /** The macro's name in the header. */
  macro: string;
  header: string;
  /** tunbox's value (a string for string macros). */
  value: number | string;
  /** Where tunbox keeps it, for the test name (e.g. `constants.ts RTM.ADD`). */
  ours: string;
  /** Which `#define` of the macro in the header (0 = first) when there are several. */
  nth?: number;
}

/** One struct and the layout tunbox uses for it (`size` and top-level field offsets). */
export interface StructRow {
  struct: string;
  header: string;
  layout: Readonly<Record<string, number>>;
  ours: string;
}

const row = (header: string, ours: string) => (macro: string, value: number | string) => ({
  macro,
  header,
  value,
  ours,
});

const socket = row("bsd/sys/socket.h", "ffi/darwin/constants.ts");
const route = row("bsd/net/route.h", "ffi/darwin/constants.ts");
const fcntl = row("bsd/sys/fcntl.h", "ffi/darwin/constants.ts");
const poll = row("bsd/sys/poll.h", "ffi/darwin/constants.ts");
const ioccom = row("bsd/sys/ioccom.h", "ffi/darwin/ioccom.ts");
const sysDarwin = row("bsd/sys/poll.h", "src/io/sys_darwin.ts");

/** The errno names tunbox's Darwin table (ffi/errno.ts) maps, each checked both ways. */
const ERRNO_NAMES: ErrnoName[] = [
  "EPERM",
  "ENOENT",
  "ESRCH",
  "EINTR",
  "EIO",
  "ENXIO",
  "EBADF",
  "ENOMEM",
  "EACCES",
  "EFAULT",
  "EBUSY",
  "EEXIST",
  "ENODEV",
  "EINVAL",
  "ENFILE",
  "EMFILE",
  "ENOSPC",
  "EPIPE",
  "ERANGE",
  "EAGAIN",
  "EINPROGRESS",
  "EALREADY",
  "ENOTSOCK",
  "EMSGSIZE",
  "ENOPROTOOPT",
  "EPROTONOSUPPORT",
  "EOPNOTSUPP",
  "EAFNOSUPPORT",
  "EADDRINUSE",
  "EADDRNOTAVAIL",
  "ENETDOWN",
  "ENETUNREACH",
  "ECONNABORTED",
  "ECONNRESET",
  "ENOBUFS",
  "EISCONN",
  "ENOTCONN",
  "ETIMEDOUT",
  "ECONNREFUSED",
  "EHOSTUNREACH",
];

/**
 * The value tunbox's Darwin errno table gives `name`: found by searching the table for the
 * number whose name is `name` (so a duplicate or a wrong number both fail).
 */
function darwinErrno(name: ErrnoName): number {
  for (let n = 1; n < 200; n++) if (errnoName(n, "darwin") === name) return n;
  return -1;
}

export const CONSTANT_ROWS: ConstantRow[] = [
  // Address families, socket types, socket options — bsd/sys/socket.h
  socket("AF_UNSPEC", C.AF_UNSPEC),
  socket("AF_INET", C.AF_INET),
  { ...socket("AF_INET", SOCKADDR_AF_INET), ours: "ffi/sockaddr.ts" },
  socket("AF_INET6", C.AF_INET6),
  socket("AF_ROUTE", C.AF_ROUTE),
  socket("PF_ROUTE", C.PF_ROUTE),
  socket("AF_LINK", C.AF_LINK),
  socket("AF_SYSTEM", C.AF_SYSTEM),
  socket("PF_SYSTEM", C.PF_SYSTEM),
  socket("SOCK_STREAM", C.SOCK_STREAM),
  socket("SOCK_DGRAM", C.SOCK_DGRAM),
  socket("SOCK_RAW", C.SOCK_RAW),
  socket("SOL_SOCKET", C.SOL_SOCKET),
  socket("SO_REUSEADDR", C.SO_REUSEADDR),
  socket("SO_KEEPALIVE", C.SO_KEEPALIVE),
  // The first definition is the one in effect (the second is for strict POSIX builds).
  socket("SO_LINGER", C.SO_LINGER),
  socket("SO_REUSEPORT", C.SO_REUSEPORT),
  socket("SO_SNDBUF", C.SO_SNDBUF),
  socket("SO_RCVBUF", C.SO_RCVBUF),
  socket("SO_ERROR", C.SO_ERROR),
  socket("SO_NOSIGPIPE", C.SO_NOSIGPIPE),
  socket("MSG_PEEK", C.MSG_PEEK),
  socket("SHUT_RD", C.SHUT_RD),
  socket("SHUT_WR", C.SHUT_WR),
  socket("SHUT_RDWR", C.SHUT_RDWR),
  socket("NET_RT_DUMP", C.NET_RT_DUMP),
  socket("NET_RT_IFLIST2", C.NET_RT_IFLIST2),
  // The reactor's copies (src/io/sys_darwin.ts re-exports these from constants.ts).
  { ...socket("SOL_SOCKET", SYS.SOL_SOCKET), ours: "src/io/sys_darwin.ts" },
  { ...socket("SO_LINGER", SYS.SO_LINGER), ours: "src/io/sys_darwin.ts" },
  { ...socket("SO_ERROR", SYS.SO_ERROR), ours: "src/io/sys_darwin.ts" },
  // Kernel control and utun — bsd/sys/sys_domain.h, bsd/sys/kern_control.h, bsd/net/if_utun.h
  row("bsd/sys/sys_domain.h", "ffi/darwin/constants.ts")("SYSPROTO_CONTROL", C.SYSPROTO_CONTROL),
  row("bsd/sys/sys_domain.h", "ffi/darwin/constants.ts")("AF_SYS_CONTROL", C.AF_SYS_CONTROL),
  row("bsd/sys/kern_control.h", "ffi/darwin/constants.ts")("MAX_KCTL_NAME", C.MAX_KCTL_NAME),
  row("bsd/sys/kern_control.h", "ffi/darwin/constants.ts")("CTLIOCGINFO", C.CTLIOCGINFO),
  row("bsd/net/if_utun.h", "ffi/darwin/constants.ts")("UTUN_CONTROL_NAME", C.UTUN_CONTROL_NAME),
  row("bsd/net/if_utun.h", "ffi/darwin/constants.ts")("UTUN_OPT_IFNAME", C.UTUN_OPT_IFNAME),
  // Interface ioctls — bsd/sys/sockio.h, bsd/netinet6/in6_var.h
  row("bsd/sys/sockio.h", "ffi/darwin/constants.ts")("SIOCSIFMTU", C.SIOCSIFMTU),
  row("bsd/sys/sockio.h", "ffi/darwin/constants.ts")("SIOCGIFMTU", C.SIOCGIFMTU),
  row("bsd/sys/sockio.h", "ffi/darwin/constants.ts")("SIOCSIFFLAGS", C.SIOCSIFFLAGS),
  row("bsd/sys/sockio.h", "ffi/darwin/constants.ts")("SIOCGIFFLAGS", C.SIOCGIFFLAGS),
  row("bsd/sys/sockio.h", "ffi/darwin/constants.ts")("SIOCAIFADDR", C.SIOCAIFADDR),
  row("bsd/sys/sockio.h", "ffi/darwin/constants.ts")("SIOCDIFADDR", C.SIOCDIFADDR),
  row("bsd/netinet6/in6_var.h", "ffi/darwin/constants.ts")("SIOCAIFADDR_IN6", C.SIOCAIFADDR_IN6),
  row("bsd/netinet6/in6_var.h", "ffi/darwin/constants.ts")("SIOCDIFADDR_IN6", C.SIOCDIFADDR_IN6),
  row("bsd/netinet6/in6_var.h", "ffi/darwin/constants.ts")("IN6_IFF_NODAD", C.IN6_IFF_NODAD),
  row("bsd/netinet6/in6_var.h", "ffi/darwin/constants.ts")("IN6_IFF_SECURED", C.IN6_IFF_SECURED),
  row("bsd/netinet6/nd6.h", "ffi/darwin/constants.ts")(
    "ND6_INFINITE_LIFETIME",
    C.ND6_INFINITE_LIFETIME,
  ),
  row("bsd/net/if.h", "ffi/darwin/constants.ts")("IFF_UP", C.IFF_UP),
  row("bsd/net/if.h", "ffi/darwin/constants.ts")("IFF_POINTOPOINT", C.IFF_POINTOPOINT),
  row("bsd/net/if.h", "ffi/darwin/constants.ts")("IFF_RUNNING", C.IFF_RUNNING),
  row("bsd/net/if.h", "ffi/darwin/constants.ts")("IFNAMSIZ", C.IFNAMSIZ),
  // Routing sockets — bsd/net/route.h
  route("RTM_VERSION", C.RTM_VERSION),
  ...Object.entries(C.RTM).map(([k, v]) => ({
    ...route(`RTM_${k}`, v),
    ours: `constants.ts RTM.${k}`,
  })),
  ...Object.entries(C.RTA).map(([k, v]) => ({
    ...route(`RTA_${k}`, v),
    ours: `constants.ts RTA.${k}`,
  })),
  ...Object.entries(C.RTAX).map(([k, v]) => ({
    ...route(`RTAX_${k}`, v),
    ours: `constants.ts RTAX.${k}`,
  })),
  route("RTAX_MAX", C.RTAX_MAX),
  ...Object.entries(C.RTF).map(([k, v]) => ({
    ...route(`RTF_${k}`, v),
    ours: `constants.ts RTF.${k}`,
  })),
  row("bsd/sys/sysctl.h", "ffi/darwin/constants.ts")("CTL_NET", C.CTL_NET),
  // Socket options — bsd/netinet/in.h, bsd/netinet6/in6.h, bsd/netinet/tcp.h
  row("bsd/netinet/in.h", "ffi/darwin/constants.ts")("IPPROTO_IP", C.IPPROTO_IP),
  row("bsd/netinet/in.h", "ffi/darwin/constants.ts")("IPPROTO_TCP", C.IPPROTO_TCP),
  row("bsd/netinet/in.h", "ffi/darwin/constants.ts")("IPPROTO_UDP", C.IPPROTO_UDP),
  row("bsd/netinet/in.h", "ffi/darwin/constants.ts")("IPPROTO_IPV6", C.IPPROTO_IPV6),
  row("bsd/netinet/in.h", "ffi/darwin/constants.ts")("IP_BOUND_IF", C.IP_BOUND_IF),
  row("bsd/netinet6/in6.h", "ffi/darwin/constants.ts")("IPV6_BOUND_IF", C.IPV6_BOUND_IF),
  row("bsd/netinet6/in6.h", "ffi/darwin/constants.ts")("IPV6_V6ONLY", C.IPV6_V6ONLY),
  row("bsd/netinet/tcp.h", "ffi/darwin/constants.ts")("TCP_NODELAY", C.TCP_NODELAY),
  row("bsd/netinet/tcp.h", "ffi/darwin/constants.ts")("TCP_KEEPALIVE", C.TCP_KEEPALIVE),
  { ...row("bsd/netinet/tcp.h", "src/io/sys_darwin.ts")("TCP_KEEPALIVE", SYS.TCP_KEEPIDLE) },
  row("bsd/netinet/tcp.h", "ffi/darwin/constants.ts")("TCP_KEEPINTVL", C.TCP_KEEPINTVL),
  // Files and polling — bsd/sys/fcntl.h, bsd/sys/poll.h
  fcntl("O_RDONLY", C.O_RDONLY),
  fcntl("O_RDWR", C.O_RDWR),
  fcntl("O_NONBLOCK", C.O_NONBLOCK),
  fcntl("O_CLOEXEC", C.O_CLOEXEC),
  fcntl("F_GETFD", C.F_GETFD),
  fcntl("F_SETFD", C.F_SETFD),
  fcntl("F_GETFL", C.F_GETFL),
  fcntl("F_SETFL", C.F_SETFL),
  fcntl("FD_CLOEXEC", C.FD_CLOEXEC),
  poll("POLLIN", C.POLLIN),
  poll("POLLOUT", C.POLLOUT),
  poll("POLLERR", C.POLLERR),
  poll("POLLHUP", C.POLLHUP),
  poll("POLLNVAL", C.POLLNVAL),
  // The reactor's readiness bits on macOS are poll's bits.
  sysDarwin("POLLIN", SYS.EV_READ),
  sysDarwin("POLLOUT", SYS.EV_WRITE),
  sysDarwin("POLLERR", SYS.EV_ERROR),
  sysDarwin("POLLHUP", SYS.EV_HUP),
  // Resource limits — bsd/sys/resource.h, bsd/sys/syslimits.h
  row("bsd/sys/resource.h", "ffi/darwin/constants.ts")("RLIMIT_NOFILE", C.RLIMIT_NOFILE),
  row("bsd/sys/syslimits.h", "ffi/darwin/constants.ts")("OPEN_MAX", C.OPEN_MAX),
  // Socket lists (pcblist_n) and process paths — socketvar.h, in_pcb.h, proc_info.h
  row("bsd/sys/socketvar.h", "ffi/darwin/constants.ts")("XSO_SOCKET", C.XSO_SOCKET),
  row("bsd/sys/socketvar.h", "ffi/darwin/constants.ts")("XSO_INPCB", C.XSO_INPCB),
  row("bsd/netinet/in_pcb.h", "ffi/darwin/constants.ts")("INP_IPV4", C.INP_IPV4),
  row("bsd/netinet/in_pcb.h", "ffi/darwin/constants.ts")("INP_IPV6", C.INP_IPV6),
  row("bsd/sys/proc_info.h", "ffi/darwin/constants.ts")(
    "PROC_PIDPATHINFO_MAXSIZE",
    C.PROC_PIDPATHINFO_MAXSIZE,
  ),
  // ioctl encoding — bsd/sys/ioccom.h
  ioccom("IOCPARM_MASK", IOC.IOCPARM_MASK),
  ioccom("IOC_VOID", IOC.IOC_VOID),
  ioccom("IOC_OUT", IOC.IOC_OUT),
  ioccom("IOC_IN", IOC.IOC_IN),
  ioccom("IOC_INOUT", IOC.IOC_INOUT),
  // errno — bsd/sys/errno.h
  ...ERRNO_NAMES.map((name) => ({
    macro: name,
    header: "bsd/sys/errno.h",
    value: darwinErrno(name),
    ours: "ffi/errno.ts",
    // errno.h defines EOPNOTSUPP twice: as ENOTSUP (45) for pre-UNIX03 builds, and as 102 under
    // `__DARWIN_UNIX03 || KERNEL`. 64-bit macOS is UNIX03-only (see the cdefs.h text rows), and
    // the kernel itself returns 102.
    ...(name === "EOPNOTSUPP" ? { nth: 1 } : {}),
  })),
  ...Object.entries(C.DARWIN_ERRNO).map(([name, value]) => ({
    macro: name,
    header: "bsd/sys/errno.h",
    value,
    ours: "constants.ts DARWIN_ERRNO",
  })),
];

const layout = (struct: string, header: string, l: Readonly<Record<string, number>>) => ({
  struct,
  header,
  layout: l,
  ours: "ffi/darwin/layouts.ts",
});

export const STRUCT_ROWS: StructRow[] = [
  layout("ctl_info", "bsd/sys/kern_control.h", L.CTL_INFO),
  layout("sockaddr_ctl", "bsd/sys/kern_control.h", L.SOCKADDR_CTL),
  layout("ifreq", "bsd/net/if.h", L.IFREQ),
  layout("ifaliasreq", "bsd/net/if.h", L.IFALIASREQ),
  layout("in6_addrlifetime", "bsd/netinet6/in6_var.h", L.IN6_ADDRLIFETIME),
  layout("in6_aliasreq", "bsd/netinet6/in6_var.h", L.IN6_ALIASREQ),
  layout("in6_ifreq", "bsd/netinet6/in6_var.h", L.IN6_IFREQ),
  layout("sockaddr_in", "bsd/netinet/in.h", L.SOCKADDR_IN),
  layout("sockaddr_in6", "bsd/netinet6/in6.h", L.SOCKADDR_IN6),
  layout("sockaddr_dl", "bsd/net/if_dl.h", L.SOCKADDR_DL),
  layout("rt_metrics", "bsd/net/route.h", L.RT_METRICS),
  layout("rt_msghdr", "bsd/net/route.h", L.RT_MSGHDR),
  layout("if_msghdr", "bsd/net/if.h", L.IF_MSGHDR),
  layout("if_msghdr2", "bsd/net/if.h", L.IF_MSGHDR2),
  layout("if_data", "bsd/net/if_var.h", L.IF_DATA),
  layout("if_data64", "bsd/net/if_var.h", L.IF_DATA64),
  layout("ifa_msghdr", "bsd/net/if.h", L.IFA_MSGHDR),
  layout("pollfd", "bsd/sys/poll.h", L.POLLFD),
  layout("linger", "bsd/sys/socket.h", L.LINGER),
  layout("rlimit", "bsd/sys/resource.h", L.RLIMIT),
  layout("xinpgen", "bsd/netinet/in_pcb.h", L.XINPGEN),
  layout("xinpcb_n", "bsd/netinet/in_pcb.h", L.XINPCB_N),
  layout("in_addr_4in6", "bsd/netinet/in_pcb.h", L.IN_ADDR_4IN6),
  layout("xsocket_n", "bsd/sys/socketvar.h", L.XSOCKET_N),
  layout("xsockbuf_n", "bsd/sys/socketvar.h", L.XSOCKBUF_N),
  layout("xsockstat_n", "bsd/sys/socketvar.h", L.XSOCKSTAT_N),
  layout("xtcpcb_n", "bsd/netinet/tcp_var.h", L.XTCPCB_N),
];

/** Structs the rows' structs contain, excerpted so their sizes come from the headers too. */
export const HELPER_STRUCTS: { struct: string; header: string }[] = [
  { struct: "sockaddr", header: "bsd/sys/socket.h" },
  { struct: "in_addr", header: "bsd/netinet/in.h" },
  { struct: "in6_addr", header: "bsd/netinet6/in6.h" },
  { struct: "timeval32", header: "bsd/sys/_types/_timeval32.h" },
  { struct: "ifdevmtu", header: "bsd/net/if.h" },
  { struct: "ifkpi", header: "bsd/net/if.h" },
  { struct: "in6_ifstat", header: "bsd/netinet6/in6_var.h" },
  { struct: "icmp6_ifstat", header: "bsd/netinet6/in6_var.h" },
  { struct: "data_stats", header: "bsd/sys/socketvar.h" },
];

/** Macros the rows' values and structs expand through. */
export const HELPER_DEFINES: { macro: string; header: string }[] = [
  ...["_IOC", "_IO", "_IOR", "_IOW", "_IOWR"].map((macro) => ({
    macro,
    header: "bsd/sys/ioccom.h",
  })),
  { macro: "IF_NAMESIZE", header: "bsd/net/if.h" },
  { macro: "IF_DATA_TIMEVAL", header: "bsd/net/if_var.h" },
  { macro: "_STRUCT_TIMEVAL32", header: "bsd/sys/_types/_timeval32.h" },
  { macro: "SCOPE6_ID_MAX", header: "bsd/netinet6/scope6_var.h" },
  { macro: "ROUNDUP32", header: "bsd/net/rtsock.c" },
  { macro: "SO_TC_STATS_MAX", header: "bsd/sys/socketvar.h" },
  { macro: "TCPT_NTIMERS_EXT", header: "bsd/netinet/tcp_timer.h" },
  { macro: "ROUNDUP64", header: "bsd/netinet/in_pcblist.c" },
  { macro: "P2ROUNDUP", header: "bsd/sys/mcache.h" },
  { macro: "MAXPATHLEN", header: "bsd/sys/param.h" },
  { macro: "PATH_MAX", header: "bsd/sys/syslimits.h" },
];

/**
 * Typedefs the structs use, down to the C base types. arm64 (bsd/arm/_types.h) and x86_64
 * (bsd/i386/_types.h) are both listed where the machine header decides; they agree.
 */
export const TYPEDEFS: { name: string; header: string }[] = [
  { name: "__uint8_t", header: "bsd/arm/_types.h" },
  { name: "__uint16_t", header: "bsd/arm/_types.h" },
  { name: "__int32_t", header: "bsd/arm/_types.h" },
  { name: "__uint32_t", header: "bsd/arm/_types.h" },
  { name: "__uint64_t", header: "bsd/arm/_types.h" },
  { name: "__darwin_time_t", header: "bsd/arm/_types.h" },
  { name: "__darwin_socklen_t", header: "bsd/arm/_types.h" },
  { name: "__uint8_t", header: "bsd/i386/_types.h" },
  { name: "__uint16_t", header: "bsd/i386/_types.h" },
  { name: "__int32_t", header: "bsd/i386/_types.h" },
  { name: "__uint32_t", header: "bsd/i386/_types.h" },
  { name: "__uint64_t", header: "bsd/i386/_types.h" },
  { name: "__darwin_time_t", header: "bsd/i386/_types.h" },
  { name: "__darwin_socklen_t", header: "bsd/i386/_types.h" },
  { name: "__darwin_pid_t", header: "bsd/sys/_types.h" },
  { name: "u_char", header: "bsd/sys/_types/_u_char.h" },
  { name: "u_short", header: "bsd/sys/_types/_u_short.h" },
  { name: "u_int", header: "bsd/sys/_types/_u_int.h" },
  { name: "u_int8_t", header: "bsd/sys/_types/_u_int8_t.h" },
  { name: "u_int16_t", header: "bsd/sys/_types/_u_int16_t.h" },
  { name: "u_int32_t", header: "bsd/sys/_types/_u_int32_t.h" },
  { name: "u_int64_t", header: "bsd/sys/_types/_u_int64_t.h" },
  { name: "int32_t", header: "bsd/sys/_types/_int32_t.h" },
  { name: "u_quad_t", header: "bsd/sys/types.h" },
  { name: "caddr_t", header: "bsd/sys/_types/_caddr_t.h" },
  { name: "time_t", header: "bsd/sys/_types/_time_t.h" },
  { name: "pid_t", header: "bsd/sys/_types/_pid_t.h" },
  { name: "socklen_t", header: "bsd/sys/_types/_socklen_t.h" },
  { name: "sa_family_t", header: "bsd/sys/_types/_sa_family_t.h" },
  { name: "in_port_t", header: "bsd/sys/_types/_in_port_t.h" },
  { name: "in_addr_t", header: "bsd/sys/_types/_in_addr_t.h" },
  { name: "rlim_t", header: "bsd/sys/resource.h" },
  { name: "nfds_t", header: "bsd/sys/poll.h" },
  { name: "__darwin_uid_t", header: "bsd/sys/_types.h" },
  { name: "uid_t", header: "bsd/sys/_types/_uid_t.h" },
  { name: "uintptr_t", header: "bsd/sys/_types/_uintptr_t.h" },
  { name: "inp_gen_t", header: "bsd/netinet/in_pcb.h" },
  { name: "so_gen_t", header: "bsd/sys/socketvar.h" },
  { name: "tcp_seq", header: "bsd/netinet/tcp.h" },
  { name: "tcp_cc", header: "bsd/netinet/tcp.h" },
  { name: "__darwin_gid_t", header: "bsd/sys/_types.h" },
  { name: "gid_t", header: "bsd/sys/_types/_gid_t.h" },
];

/** Free-text facts: a header line that must say what tunbox relies on. */
export const TEXT_ROWS: { header: string; contains: string; fact: string }[] = [
  {
    header: "bsd/sys/errno.h",
    contains: "#if __DARWIN_UNIX03 || defined(KERNEL)",
    fact: "EOPNOTSUPP is 102 where __DARWIN_UNIX03 is set or in the kernel",
  },
  {
    header: "bsd/sys/cdefs.h",
    contains: "#  elif __DARWIN_ONLY_UNIX_CONFORMANCE",
    fact: "__DARWIN_ONLY_UNIX_CONFORMANCE makes __DARWIN_UNIX03 1",
  },
  {
    header: "bsd/sys/cdefs.h",
    contains: "#ifdef XNU_PLATFORM_MacOSX",
    fact: "cdefs.h sets the conformance macros per platform; the next rows are macOS's",
  },
  {
    header: "bsd/sys/cdefs.h",
    contains: "#elif defined(__x86_64__)",
    fact: "macOS on x86_64 (and, in the #else after it, arm64) is UNIX03-only",
  },
  {
    header: "bsd/net/if_utun.c",
    contains: "The userland ABI requires the first four bytes have the protocol family",
    fact: "every utun read and write starts with a 4-byte address family",
  },
  {
    header: "bsd/net/if_utun.c",
    contains: "in network byte order: swap them",
    fact: "the utun address family is big-endian",
  },
  {
    header: "bsd/net/if_utun.c",
    contains: "#define UTUN_HEADER_SIZE(_pcb) (sizeof(u_int32_t) +",
    fact: "the utun header is a u_int32_t (UTUN_HEADER_SIZE 4 without UTUN_FLAGS_ENABLE_PROC_UUID)",
  },
  // Socket lists: what src/platform/darwin/process_lookup.ts and ffi/darwin/pcblist.ts rely on.
  {
    header: "bsd/netinet/tcp_subr.c",
    contains: "SYSCTL_PROC(_net_inet_tcp, OID_AUTO, pcblist_n,",
    fact: 'the TCP socket list is the sysctl "net.inet.tcp.pcblist_n"',
  },
  {
    header: "bsd/netinet/udp_usrreq.c",
    contains: "SYSCTL_PROC(_net_inet_udp, OID_AUTO, pcblist_n,",
    fact: 'the UDP socket list is the sysctl "net.inet.udp.pcblist_n"',
  },
  {
    header: "bsd/netinet/in_pcblist.c",
    contains: "xig.xig_len = sizeof(xig);",
    fact: "a pcblist_n list starts (and ends) with an xinpgen whose xig_len is its size",
  },
  {
    header: "bsd/netinet/in_pcblist.c",
    contains: "size_t item_size = ROUNDUP64(sizeof(struct xinpcb_n)) +",
    fact: "each socket's records are sized ROUNDUP64(sizeof ...) each",
  },
  {
    header: "bsd/netinet/in_pcblist.c",
    contains: "ADVANCE64(xi, sizeof(*xi));",
    fact: "each record follows the previous one at ROUNDUP64 of its size (ADVANCE64)",
  },
  {
    header: "bsd/netinet/in_pcblist.c",
    contains: "xinp->xi_len = sizeof(struct xinpcb_n);",
    fact: "an xinpcb_n record's xi_len is its size",
  },
  {
    header: "bsd/netinet/in_pcblist.c",
    contains: "xso->xso_len = sizeof(struct xsocket_n);",
    fact: "an xsocket_n record's xso_len is its size (also when the pcb has no socket)",
  },
  {
    header: "bsd/netinet/in_pcblist.c",
    contains: "xsb->xsb_len = sizeof(struct xsockbuf_n);",
    fact: "an xsockbuf_n record's xsb_len is its size (also without a socket)",
  },
  {
    header: "bsd/netinet/in_pcblist.c",
    contains: "xst->xst_len = sizeof(struct xsockstat_n);",
    fact: "an xsockstat_n record's xst_len is its size",
  },
  {
    header: "bsd/netinet/in_pcblist.c",
    contains: "xt->xt_len = sizeof(struct xtcpcb_n);",
    fact: "an xtcpcb_n record's xt_len is its size",
  },
  {
    header: "bsd/netinet/in_pcblist.c",
    contains: "xso->so_uid = kauth_cred_getuid(so->so_cred);",
    fact: "so_uid is the uid of the socket's credentials",
  },
  {
    header: "bsd/netinet/in_pcblist.c",
    contains: "xso->so_last_pid = so->last_pid;",
    fact: "so_last_pid is the last process that used the socket",
  },
  {
    header: "bsd/net/ntstat.c",
    contains: "as per get_pcblist_n() even though the vast majority of fields are unused.",
    fact: "user-space flows (Skywalk) are listed in the same records, with no socket handle",
  },
  {
    header: "bsd/net/ntstat.c",
    contains: "xso->so_last_pid = desc->pid;",
    fact: "a user-space flow's record carries its pid (so_uid is left 0)",
  },
  {
    header: "libsyscall/wrappers/libproc/libproc.h",
    contains: "int proc_pidpath(int pid, void * buffer, uint32_t  buffersize)",
    fact: "proc_pidpath is (int, void *, uint32_t) -> int, not variadic",
  },
  {
    header: "libsyscall/wrappers/libproc/libproc.c",
    contains: "if (buffersize > PROC_PIDPATHINFO_MAXSIZE) {",
    fact: "proc_pidpath refuses a buffer larger than PROC_PIDPATHINFO_MAXSIZE",
  },
  {
    header: "libsyscall/wrappers/libproc/libproc.c",
    contains: "retval = __proc_info(PROC_INFO_CALL_PIDINFO, pid, PROC_PIDPATHINFO, (uint64_t)0,",
    fact: "proc_pidpath fills the buffer through proc_info(PROC_PIDPATHINFO) (then returns " +
      "strlen of it, or 0 when that failed)",
  },
  {
    header: "bsd/sys/sysctl.h",
    contains: "int     sysctlbyname(const char *, void *__sized_by(*oldlenp), size_t *oldlenp,",
    fact: "sysctlbyname is (const char *, void *, size_t *, void *, size_t) -> int, not variadic",
  },
];

/** Which Apple open-source repository a row quotes. */
export type Repo = "xnu" | "configd" | "CF" | "Libinfo";

/** Where each repository is mirrored for `_gen_xnu_excerpts.ts` and the quote check. */
export const REPO_NAMES: Record<Repo, string> = {
  xnu: "apple-oss-distributions/xnu",
  configd: "apple-oss-distributions/configd",
  CF: "apple-oss-distributions/CF",
  Libinfo: "apple-oss-distributions/Libinfo",
};

/** A struct quoted from a repository other than xnu (laid out with xnu's typedefs). */
export interface OtherStructRow extends StructRow {
  repo: Repo;
}

export const OTHER_STRUCT_ROWS: OtherStructRow[] = [
  {
    repo: "Libinfo",
    struct: "passwd",
    header: "lookup.subproj/pwd.h",
    layout: L.PASSWD,
    ours: "ffi/darwin/layouts.ts",
  },
];

/** A C enum constant (`NAME = value,`) and the value tunbox uses. */
export interface EnumRow {
  repo: Repo;
  header: string;
  name: string;
  value: number;
  ours: string;
}

export const ENUM_ROWS: EnumRow[] = [
  {
    repo: "CF",
    header: "CFString.h",
    name: "kCFStringEncodingUTF8",
    value: SCF.kCFStringEncodingUTF8,
    ours: "ffi/darwin/system_configuration.ts",
  },
  {
    repo: "CF",
    header: "CFNumber.h",
    name: "kCFNumberSInt64Type",
    value: SCF.kCFNumberSInt64Type,
    ours: "ffi/darwin/system_configuration.ts",
  },
  {
    repo: "CF",
    header: "CFNumber.h",
    name: "kCFNumberFloat64Type",
    value: SCF.kCFNumberFloat64Type,
    ours: "ffi/darwin/system_configuration.ts",
  },
  {
    repo: "configd",
    header: "SystemConfiguration.fproj/SystemConfiguration.h",
    name: "kSCStatusNoKey",
    value: SCF.kSCStatusNoKey,
    ours: "ffi/darwin/system_configuration.ts",
  },
];

/** A System Configuration string constant (`kSC... "Value"`) and where tunbox relies on it. */
export interface StringRow {
  repo: Repo;
  header: string;
  name: string;
  value: string;
}

const schema = (
  name: string,
  value: string,
  header = "SystemConfiguration.fproj/SCSchemaDefinitions.h",
) => ({
  repo: "configd" as const,
  header,
  name,
  value,
});

/**
 * The dynamic-store key parts and dictionary keys `src/platform/darwin/system_dns.ts` writes:
 * the test checks each is the string SystemConfiguration defines, and that the dictionaries
 * tunbox writes use no other key.
 */
export const STRING_ROWS: StringRow[] = [
  schema("kSCDynamicStoreDomainState", "State:"),
  schema("kSCCompNetwork", "Network"),
  schema("kSCCompService", "Service"),
  schema("kSCCompGlobal", "Global"),
  schema("kSCEntNetDNS", "DNS"),
  schema("kSCEntNetIPv4", "IPv4"),
  schema("kSCEntNetIPv6", "IPv6"),
  schema("kSCDynamicStorePropNetPrimaryService", "PrimaryService"),
  schema("kSCPropInterfaceName", "InterfaceName"),
  schema("kSCPropNetOverridePrimary", "OverridePrimary"),
  schema("kSCPropNetIPv4Addresses", "Addresses"),
  schema("kSCPropNetIPv4SubnetMasks", "SubnetMasks"),
  schema("kSCPropNetIPv4Router", "Router"),
  schema("kSCPropNetIPv6Addresses", "Addresses"),
  schema("kSCPropNetIPv6PrefixLength", "PrefixLength"),
  schema("kSCPropNetIPv6Router", "Router"),
  schema("kSCPropNetDNSServerAddresses", "ServerAddresses"),
  schema("kSCPropNetDNSSearchDomains", "SearchDomains"),
  schema(
    "kSCPropNetDNSConfirmedServiceID",
    "ConfirmedServiceID",
    "SystemConfiguration.fproj/SCSchemaDefinitionsPrivate.h",
  ),
  schema("kSCDynamicStoreUseSessionKeys", "UseSessionKeys", "SystemConfiguration.fproj/SCDOpen.c"),
  ...[
    ["kSCPropNetIPv4ExcludedRoutes", "ExcludedRoutes"],
    ["kSCPropNetIPv4RouteDestinationAddress", "DestinationAddress"],
    ["kSCPropNetIPv4RouteSubnetMask", "SubnetMask"],
    ["kSCPropNetIPv6ExcludedRoutes", "ExcludedRoutes"],
    ["kSCPropNetIPv6RouteDestinationAddress", "DestinationAddress"],
    ["kSCPropNetIPv6RoutePrefixLength", "PrefixLength"],
  ].map(([name, value]) =>
    schema(name!, value!, "SystemConfiguration.fproj/SCSchemaDefinitionsPrivate.h")
  ),
];

/** configd behaviour tunbox's DNS design rests on, quoted. */
export const CONFIGD_TEXT_ROWS: { repo: Repo; header: string; contains: string; fact: string }[] = [
  {
    repo: "configd",
    header: "Plugins/IPMonitor/ip_plugin.c",
    contains: "if (rank_assertion == NULL && get_override_primary(dict)) {",
    fact: "a service with a router and OverridePrimary is ranked first (the primary service)",
  },
  {
    repo: "configd",
    header: "Plugins/IPMonitor/ip_plugin.c",
    contains: "/* if no router is configured, demote the rank if necessary */",
    fact: "without a Router the service is never primary, so tunbox sets Router",
  },
  {
    repo: "configd",
    header: "Plugins/IPMonitor/ip_plugin.c",
    contains: "Here, we determine whether or not we want all queries for this DNS",
    fact: "DNS learned from a network is bound to its interface (why Wi-Fi DNS leaks)",
  },
  {
    repo: "configd",
    header: "Plugins/IPMonitor/ip_plugin.c",
    contains: "kSCPropNetDNSConfirmedServiceID,",
    fact: "ConfirmedServiceID equal to the service's ID makes a State-only service's DNS trusted",
  },
  {
    repo: "configd",
    header: "Plugins/IPMonitor/ip_plugin.c",
    contains: " *   interface, search for a route that *does not* go over the excluded",
    fact: "ExcludedRoutes are routed over an interface that is not the service's (the utun)",
  },
  {
    repo: "configd",
    header: "configd.tproj/_configclose.c",
    contains: "/* Remove any session keys */",
    fact: "configd removes a session's keys when the session closes",
  },
  {
    repo: "Libinfo",
    header: "lookup.subproj/pwd.h",
    contains: "struct passwd	*getpwnam(const char *);",
    fact: "getpwnam takes a name and returns a struct passwd pointer (NULL: no such user)",
  },
];
