/**
 * The original destination of a connection the kernel's NAT redirected to a local listener
 * (iptables `-j REDIRECT`, nftables `redirect to`), for the `redirect` inbound, as sing-box's
 * `common/redir/redir_linux.go`: `getsockopt(SOL_IP, SO_ORIGINAL_DST)` returns the conntrack
 * entry's original destination as a `sockaddr_in`; IPv6 uses `getsockopt(SOL_IPV6,
 * IP6T_SO_ORIGINAL_DST)` and a `sockaddr_in6`. Both option numbers are 80
 * (`<linux/netfilter_ipv4.h>`, `<linux/netfilter_ipv6/ip6_tables.h>`).
 *
 * ```ts
 * const to = originalDestination(acceptedFd, 4); // { addr: 203.0.113.10, port: 80 }
 * ```
 *
 * @module
 */

import { decodeSockaddr, type SockAddr, SOCKADDR_STORAGE_SIZE } from "../../../ffi/sockaddr.ts";
import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { SysError } from "../../../ffi/errno.ts";

/** `SOL_IP`. */
export const SOL_IP = 0;
/** `SOL_IPV6`. */
export const SOL_IPV6 = 41;
/** `SO_ORIGINAL_DST` (and `IP6T_SO_ORIGINAL_DST`). */
export const SO_ORIGINAL_DST = 80;

/**
 * The destination the client connected to before NAT redirected it, for the accepted socket
 * `fd` of a listener of `family` (a client's IPv4 connection on a dual-stack IPv6 socket is
 * `family` 4: its conntrack entry is IPv4). Throws (ENOENT) when no NAT entry exists.
 */
export function originalDestination(fd: number, family: 4 | 6): SockAddr {
  const buf = new Uint8Array(SOCKADDR_STORAGE_SIZE);
  const len = new Uint32Array([family === 4 ? 16 : 28]);
  const level = family === 4 ? SOL_IP : SOL_IPV6;
  const rc = linuxLibc().getsockopt(fd, level, SO_ORIGINAL_DST, buf, new Uint8Array(len.buffer));
  if (rc < 0) {
    throw new SysError(`read the original destination of fd ${fd} (SO_ORIGINAL_DST)`, linuxErrno());
  }
  const sa = decodeSockaddr(buf, "linux");
  if (!sa) throw new Error(`read the original destination of fd ${fd}: not an IP address`);
  return sa;
}
