/**
 * Linux transparent-proxy sockets (the kernel's TPROXY target, `IP_TRANSPARENT`), for the
 * `tproxy` inbound, as sing-box's `common/redir/tproxy_linux.go`:
 *
 * - a TCP listener with `SO_REUSEADDR` and `IP_TRANSPARENT` (`IPV6_TRANSPARENT` too for IPv6):
 *   an accepted connection's local address is the client's original destination;
 * - a UDP socket with `IP_TRANSPARENT` and `IP_RECVORIGDSTADDR` (and the IPv6 pair): each
 *   datagram arrives with its original destination in an `IP_ORIGDSTADDR` control message, read
 *   with `recvmsg` ({@linkcode TproxyUdpReader});
 * - write-back sockets: UDP, `IP_TRANSPARENT`, bound to the original destination, so a reply
 *   leaves with the address the client sent to as its source.
 *
 * `IP_TRANSPARENT` needs `CAP_NET_ADMIN` (or `CAP_NET_RAW`). Every fd made here is
 * non-blocking and close-on-exec, and is closed on failure.
 *
 * @module
 */

import { decodeSockaddr, type SockAddr, SOCKADDR_STORAGE_SIZE } from "../../../ffi/sockaddr.ts";
import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { SysError } from "../../../ffi/errno.ts";
import {
  fdClose,
  IPPROTO_IPV6,
  IPV6_V6ONLY,
  SO_REUSEADDR,
  sockBind,
  sockCreate,
  sockListen,
  sockSetInt,
  SOL_SOCKET,
  WOULD_BLOCK,
} from "../../io/sys.ts";

/** `SOL_IP` / `IPPROTO_IP`. */
const SOL_IP = 0;
/** `<linux/in.h>` */
const IP_TRANSPARENT = 19;
const IP_RECVORIGDSTADDR = 20;
const IP_ORIGDSTADDR = 20;
/** `<linux/in6.h>` */
const IPV6_RECVORIGDSTADDR = 74;
const IPV6_ORIGDSTADDR = 74;
const IPV6_TRANSPARENT = 75;
const EAGAIN = 11;
const EINTR = 4;

/** Sets the transparent options a TPROXY socket of `family` needs. */
function makeTransparent(fd: number, family: 4 | 6, udp: boolean): void {
  sockSetInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  sockSetInt(fd, SOL_IP, IP_TRANSPARENT, 1, "IP_TRANSPARENT");
  if (family === 6) {
    sockSetInt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, 1, "IPV6_TRANSPARENT");
    // A socket on "::" also takes IPv4 traffic (as Go's listeners do).
    sockSetInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0, "IPV6_V6ONLY");
  }
  if (udp) {
    sockSetInt(fd, SOL_IP, IP_RECVORIGDSTADDR, 1, "IP_RECVORIGDSTADDR");
    if (family === 6) {
      sockSetInt(fd, IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, 1, "IPV6_RECVORIGDSTADDR");
    }
  }
}

function familyOf(sa: SockAddr): 4 | 6 {
  return sa.addr.length === 16 ? 6 : 4;
}

/** A listening transparent TCP socket on `local` (non-blocking); returns its fd. */
export function tproxyListenTcp(
  local: SockAddr,
  backlog = 4096,
  /** More options before binding (a listening inbound's listen fields). */
  prepare?: (fd: number, family: 4 | 6) => void,
): number {
  const family = familyOf(local);
  const fd = sockCreate(family, "tcp");
  try {
    makeTransparent(fd, family, false);
    prepare?.(fd, family);
    sockBind(fd, local);
    sockListen(fd, backlog);
  } catch (error) {
    fdClose(fd);
    throw error;
  }
  return fd;
}

/** A transparent UDP socket on `local` that reports each datagram's original destination. */
export function tproxyOpenUdp(
  local: SockAddr,
  prepare?: (fd: number, family: 4 | 6) => void,
): number {
  const family = familyOf(local);
  const fd = sockCreate(family, "udp");
  try {
    makeTransparent(fd, family, true);
    prepare?.(fd, family);
    sockBind(fd, local);
  } catch (error) {
    fdClose(fd);
    throw error;
  }
  return fd;
}

/**
 * A UDP socket bound to `source` (any address, thanks to `IP_TRANSPARENT`) to send replies
 * that seem to come from it. Returns its fd.
 */
export function tproxyWriteBack(source: SockAddr): number {
  const family = familyOf(source);
  const fd = sockCreate(family, "udp");
  try {
    sockSetInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    if (family === 6) sockSetInt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, 1, "IPV6_TRANSPARENT");
    else sockSetInt(fd, SOL_IP, IP_TRANSPARENT, 1, "IP_TRANSPARENT");
    sockBind(fd, source);
  } catch (error) {
    fdClose(fd);
    throw error;
  }
  return fd;
}

// struct msghdr (LP64): name*, namelen u32 (+4), iov*, iovlen u64, control*, controllen u64,
// flags i32 (+4) = 56 bytes. struct iovec: base*, len u64. struct cmsghdr: len u64, level i32,
// type i32, data (8-aligned).
const MSGHDR_SIZE = 56;
const CONTROL_SIZE = 256;

/**
 * Reads datagrams with their original destination from a socket made by
 * {@linkcode tproxyOpenUdp}. One reader per socket; its buffers are reused.
 */
export class TproxyUdpReader {
  readonly #name = new Uint8Array(SOCKADDR_STORAGE_SIZE);
  readonly #control = new Uint8Array(CONTROL_SIZE);
  readonly #iov = new Uint8Array(16);
  readonly #msg = new Uint8Array(MSGHDR_SIZE);
  readonly #msgView = new DataView(this.#msg.buffer);
  readonly #iovView = new DataView(this.#iov.buffer);
  #bound: Uint8Array | null = null;

  constructor(readonly fd: number) {
    const v = this.#msgView;
    v.setBigUint64(0, ptr(this.#name), true);
    v.setBigUint64(16, ptr(this.#iov), true);
    v.setBigUint64(24, 1n, true);
    v.setBigUint64(32, ptr(this.#control), true);
  }

  /**
   * Receives one datagram into `buf`: the sender lands in `from`, the original destination in
   * `to`. Returns bytes received, or WOULD_BLOCK. A datagram without the control message
   * (should not happen on a TPROXY socket) gives `to.port === 0`.
   */
  recv(buf: Uint8Array, from: SockAddr, to: SockAddr): number {
    if (this.#bound !== buf) {
      this.#iovView.setBigUint64(0, ptr(buf), true);
      this.#bound = buf;
    }
    this.#iovView.setBigUint64(8, BigInt(buf.length), true);
    const v = this.#msgView;
    v.setUint32(8, SOCKADDR_STORAGE_SIZE, true);
    v.setBigUint64(40, BigInt(CONTROL_SIZE), true);
    v.setInt32(48, 0, true);
    const n = Number(linuxLibc().recvmsg(this.fd, this.#msg, 0));
    if (n < 0) {
      const err = linuxErrno();
      if (err === EAGAIN || err === EINTR) return WOULD_BLOCK;
      throw new SysError(`receive datagram on fd ${this.fd}`, err);
    }
    const sa = decodeSockaddr(this.#name, "linux");
    if (sa) {
      from.addr = sa.addr;
      from.port = sa.port;
    }
    to.port = 0;
    const controlLen = Number(v.getBigUint64(40, true));
    const c = new DataView(this.#control.buffer, 0, Math.min(controlLen, CONTROL_SIZE));
    for (let off = 0; off + 16 <= c.byteLength;) {
      const len = Number(c.getBigUint64(off, true));
      const level = c.getInt32(off + 8, true);
      const type = c.getInt32(off + 12, true);
      if (len < 16) break;
      if (
        (level === SOL_IP && type === IP_ORIGDSTADDR) ||
        (level === IPPROTO_IPV6 && type === IPV6_ORIGDSTADDR)
      ) {
        const data = this.#control.subarray(off + 16, off + len);
        const dst = decodeSockaddr(data, "linux");
        if (dst) {
          to.addr = dst.addr;
          to.port = dst.port;
        }
        break;
      }
      off += (len + 7) & ~7;
    }
    return n;
  }
}

function ptr(buf: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
}
