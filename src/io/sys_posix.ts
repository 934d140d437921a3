/**
 * The socket and fd wrappers both reactor backends share, written once against POSIX calls and
 * parameterised by what differs per OS ({@linkcode PosixTarget}): the libc symbols, the errno
 * reader, a few constants, how a socket becomes non-blocking and close-on-exec, and how
 * `accept` and `pipe` do the same. `sys_linux.ts` and `sys_darwin.ts` hold only the differences
 * (epoll vs poll, eventfd vs pipe wakers, splice, the constants) and each export its
 * {@linkcode posixSys} object as `POSIX`, whose functions `sys.ts` exports.
 *
 * ```ts
 * const sys = posixSys(LINUX_TARGET);
 * const fd = sys.sockCreate(4, "tcp");
 * ```
 *
 * Return conventions on hot paths (no exceptions for the expected cases):
 * - `fdRead`/`fdWrite`/`sockSend`/`sockRecvFrom`/`sockSendTo`/`sockPeek`: bytes (≥ 0; read 0 =
 *   EOF), or {@linkcode WOULD_BLOCK}; any other failure throws {@linkcode SysError} naming the
 *   action.
 *
 * @module
 */

import { E, SysError } from "../../ffi/errno.ts";
import {
  decodeSockaddr,
  encodeSockaddr,
  type SockAddr,
  SOCKADDR_STORAGE_SIZE,
} from "../../ffi/sockaddr.ts";
import { formatIp } from "../net/ip.ts";

/** Returned by non-blocking calls that would block (EAGAIN/EWOULDBLOCK). */
export const WOULD_BLOCK = -1;

/** The libc calls the shared wrappers make; both glibc and libSystem declare them like this. */
export interface PosixLibc {
  close(fd: number): number;
  read(fd: number, buf: Uint8Array, n: number | bigint): number | bigint;
  write(fd: number, buf: Uint8Array, n: number | bigint): number | bigint;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  listen(fd: number, backlog: number): number;
  shutdown(fd: number, how: number): number;
  getsockopt(fd: number, level: number, name: number, val: Uint8Array, len: Uint8Array): number;
  setsockopt(fd: number, level: number, name: number, val: Uint8Array, len: number): number;
  getsockname(fd: number, addr: Uint8Array, len: Uint8Array): number;
  getpeername(fd: number, addr: Uint8Array, len: Uint8Array): number;
  send(fd: number, buf: Uint8Array, n: number | bigint, flags: number): number | bigint;
  recv(fd: number, buf: Uint8Array, n: number | bigint, flags: number): number | bigint;
  sendto(
    fd: number,
    buf: Uint8Array,
    n: number | bigint,
    flags: number,
    to: Uint8Array,
    len: number,
  ): number | bigint;
  recvfrom(
    fd: number,
    buf: Uint8Array,
    n: number | bigint,
    flags: number,
    from: Uint8Array,
    len: Uint8Array,
  ): number | bigint;
  getrlimit(resource: number, rlim: Uint8Array): number;
  setrlimit(resource: number, rlim: Uint8Array): number;
}

/** What differs between the OSes for the shared wrappers. */
export interface PosixTarget {
  /** `ffi/sockaddr.ts` layout: "linux" (u16 family) or "darwin" (`sa_len` + u8 family). */
  os: "linux" | "darwin";
  /** Opens libc on first use (once per thread). */
  libc(): PosixLibc;
  /** The calling thread's errno, read right after a failed call. */
  errno(): number;
  AF_INET6: number;
  SOL_SOCKET: number;
  SO_ERROR: number;
  /** Or-ed into `socket()`'s type (Linux SOCK_NONBLOCK|SOCK_CLOEXEC; 0 where unsupported). */
  socketTypeFlags: number;
  /** Flags of `send`/`sendto` (Linux MSG_NOSIGNAL; 0 where SO_NOSIGPIPE does that per socket). */
  sendFlags: number;
  /**
   * Finishes a socket made by `socket()` or `accept()` (macOS: O_NONBLOCK, FD_CLOEXEC,
   * SO_NOSIGPIPE); throws naming `what` on failure. Absent where `socket()` flags suffice.
   */
  prepareSocket?: (fd: number, what: string) => void;
  /**
   * Accepts one connection into a non-blocking, close-on-exec fd, writing the peer address and
   * its length into `addr`/`len`: the fd, or -1 with errno set.
   */
  accept(fd: number, addr: Uint8Array, len: Uint8Array): number;
  /** A non-blocking, close-on-exec pipe; throws on failure. */
  pipe(): [number, number];
  /** RLIMIT_NOFILE's number (Linux 7, macOS 8). */
  RLIMIT_NOFILE: number;
  /** The largest soft open-files limit the OS accepts (macOS OPEN_MAX 10240), if any. */
  maxOpenFiles?: bigint;
}

const MSG_PEEK = 0x2; // the same on Linux and macOS

/** The shared wrappers for one OS; see the module comment for the conventions. */
export function posixSys(t: PosixTarget) {
  const { os, errno, AF_INET6, SOL_SOCKET, SO_ERROR, sendFlags } = t;
  const AF_INET = 2;
  const SOCK_STREAM = 1;
  const SOCK_DGRAM = 2;
  const SOCK_RAW = 3;
  const IPPROTO_ICMP = 1;
  const IPPROTO_ICMPV6 = 58;
  let lib: PosixLibc | undefined;
  const libc = (): PosixLibc => lib ??= t.libc();

  const fail = (action: string): never => {
    throw new SysError(action, errno());
  };
  /** bytes, or WOULD_BLOCK on EAGAIN/EINTR (and `soft`), or a SysError naming `action`. */
  const result = (n: number, action: string, soft = -1): number => {
    if (n >= 0) return n;
    const err = errno();
    if (err === E.EAGAIN || err === E.EINTR || err === soft) return WOULD_BLOCK;
    throw new SysError(action, err);
  };

  const scratchAddr = new Uint8Array(SOCKADDR_STORAGE_SIZE);
  const scratchLen = new Uint32Array(1);
  const scratchLenBytes = new Uint8Array(scratchLen.buffer);
  const scratchInt = new Int32Array(1);
  const scratchIntBytes = new Uint8Array(scratchInt.buffer);

  const addrOf = (fd: number, peer: boolean): SockAddr => {
    const what = peer ? "getpeername" : "getsockname";
    scratchLen[0] = SOCKADDR_STORAGE_SIZE;
    const r = peer
      ? libc().getpeername(fd, scratchAddr, scratchLenBytes)
      : libc().getsockname(fd, scratchAddr, scratchLenBytes);
    if (r < 0) fail(`${what} on fd ${fd}`);
    const sa = decodeSockaddr(scratchAddr, os);
    if (!sa) throw new TypeError(`${what} on fd ${fd} returned a non-IP address`);
    return sa;
  };

  const prepare = (fd: number, what: string): number => {
    if (!t.prepareSocket) return fd;
    try {
      t.prepareSocket(fd, what);
    } catch (error) {
      libc().close(fd);
      throw error;
    }
    return fd;
  };

  return {
    /** Creates a non-blocking, close-on-exec TCP or UDP socket. */
    sockCreate(family: 4 | 6, kind: "tcp" | "udp"): number {
      const type = (kind === "tcp" ? SOCK_STREAM : SOCK_DGRAM) | t.socketTypeFlags;
      const fd = libc().socket(family === 4 ? AF_INET : AF_INET6, type, 0);
      if (fd < 0) fail(`create ${kind} IPv${family} socket`);
      return prepare(fd, `${kind} socket fd ${fd}`);
    },

    /** `setsockopt` with an int value. */
    sockSetInt(fd: number, level: number, name: number, value: number, what: string): void {
      scratchInt[0] = value;
      if (libc().setsockopt(fd, level, name, scratchIntBytes, 4) < 0) {
        fail(`set ${what}=${value}`);
      }
    },

    /** `setsockopt` with raw bytes. */
    sockSetBytes(fd: number, level: number, name: number, value: Uint8Array, what: string): void {
      if (libc().setsockopt(fd, level, name, value, value.length) < 0) fail(`set ${what}`);
    },

    /** Reads and clears `SO_ERROR` (the result of a non-blocking connect). */
    sockTakeError(fd: number): number {
      scratchInt[0] = 0;
      scratchLen[0] = 4;
      if (libc().getsockopt(fd, SOL_SOCKET, SO_ERROR, scratchIntBytes, scratchLenBytes) < 0) {
        return errno();
      }
      return scratchInt[0]!;
    },

    /** Binds to an address (port 0 = any). */
    sockBind(fd: number, sa: SockAddr): void {
      const len = encodeSockaddr(sa, scratchAddr, os);
      if (libc().bind(fd, scratchAddr, len) < 0) fail(`bind to ${describeSockAddr(sa)}`);
    },

    /** Starts a non-blocking connect: 0 when connected at once, or the errno (EINPROGRESS...). */
    sockConnect(fd: number, sa: SockAddr): number {
      const len = encodeSockaddr(sa, scratchAddr, os);
      if (libc().connect(fd, scratchAddr, len) === 0) return 0;
      return errno();
    },

    sockListen(fd: number, backlog: number): void {
      if (libc().listen(fd, backlog) < 0) fail(`listen on fd ${fd}`);
    },

    /** Accepts one connection (non-blocking, close-on-exec). Returns -1 when none is pending. */
    sockAccept(fd: number): number {
      scratchLen[0] = SOCKADDR_STORAGE_SIZE;
      const c = t.accept(fd, scratchAddr, scratchLenBytes);
      if (c < 0) {
        const err = errno();
        if (err === E.EAGAIN || err === E.ECONNABORTED || err === E.EINTR) return -1;
        throw new SysError(`accept on fd ${fd}`, err);
      }
      return prepare(c, `accepted socket fd ${c}`);
    },

    /** The address the socket is bound to. */
    sockLocalAddr(fd: number): SockAddr {
      return addrOf(fd, false);
    },

    /** The connected peer's address. */
    sockPeerAddr(fd: number): SockAddr {
      return addrOf(fd, true);
    },

    /** Reads into `buf` (its first `len` bytes): bytes read, 0 at EOF, or WOULD_BLOCK. */
    fdRead(fd: number, buf: Uint8Array, len: number = buf.length): number {
      return result(Number(libc().read(fd, buf, len)), `read from fd ${fd}`);
    },

    /** Peeks at pending socket bytes without consuming them. */
    sockPeek(fd: number, buf: Uint8Array): number {
      return result(
        Number(libc().recv(fd, buf, buf.length, MSG_PEEK)),
        `peek on fd ${fd}`,
      );
    },

    /**
     * Writes `buf` (its first `len` bytes) to a file descriptor (TUN): bytes written, or
     * WOULD_BLOCK.
     */
    fdWrite(fd: number, buf: Uint8Array, len: number = buf.length): number {
      return result(Number(libc().write(fd, buf, len)), `write to fd ${fd}`);
    },

    /** Sends on a connected socket without SIGPIPE: bytes written, or WOULD_BLOCK. */
    sockSend(fd: number, buf: Uint8Array): number {
      return result(
        Number(libc().send(fd, buf, buf.length, sendFlags)),
        `send on fd ${fd}`,
      );
    },

    /** Sends one datagram to `sa`: bytes sent, or WOULD_BLOCK (also on ENOBUFS). */
    sockSendTo(fd: number, buf: Uint8Array, sa: SockAddr): number {
      const len = encodeSockaddr(sa, scratchAddr, os);
      const n = Number(libc().sendto(fd, buf, buf.length, sendFlags, scratchAddr, len));
      return n >= 0 ? n : result(n, `send datagram to ${describeSockAddr(sa)}`, E.ENOBUFS);
    },

    /**
     * Receives one datagram; the sender's address is decoded into `from` (a fresh address
     * array). Returns bytes received or WOULD_BLOCK.
     */
    sockRecvFrom(fd: number, buf: Uint8Array, from: SockAddr): number {
      scratchLen[0] = SOCKADDR_STORAGE_SIZE;
      const n = Number(
        libc().recvfrom(fd, buf, buf.length, 0, scratchAddr, scratchLenBytes),
      );
      if (n < 0) return result(n, `receive datagram on fd ${fd}`);
      const sa = decodeSockaddr(scratchAddr, os);
      if (sa) {
        from.addr = sa.addr;
        from.port = sa.port;
      }
      return n;
    },

    sockShutdown(fd: number, how: number): void {
      // ENOTCONN after the peer reset is expected and harmless.
      libc().shutdown(fd, how);
    },

    /**
     * Creates a non-blocking, close-on-exec ICMP socket for echo requests: `SOCK_DGRAM` (the
     * unprivileged "ping socket": on Linux when the process's group is in
     * `net.ipv4.ping_group_range`, always on macOS; the kernel fills checksums and, on Linux,
     * the echo identifier) or `SOCK_RAW` (root / CAP_NET_RAW; IPv4 reads include the IP
     * header). Throws `SysError` (EACCES when a ping socket is not allowed, EPERM for raw
     * without the privilege).
     */
    sockCreateIcmp(family: 4 | 6, raw: boolean): number {
      const type = (raw ? SOCK_RAW : SOCK_DGRAM) | t.socketTypeFlags;
      const proto = family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
      const fd = libc().socket(family === 4 ? AF_INET : AF_INET6, type, proto);
      const what = `${raw ? "raw" : "datagram"} ICMP${family === 6 ? "v6" : ""} socket`;
      if (fd < 0) fail(`create ${what}`);
      try {
        t.prepareSocket?.(fd, `${what} fd ${fd}`);
      } catch (error) {
        libc().close(fd);
        throw error;
      }
      return fd;
    },

    fdClose(fd: number): void {
      libc().close(fd);
    },

    /** A non-blocking, close-on-exec pipe: [readFd, writeFd]. */
    pipeCreate(): [number, number] {
      return t.pipe();
    },

    /**
     * Raises the soft open-files limit (RLIMIT_NOFILE) to the hard limit (capped where the OS
     * caps it), as Go programs such as sing-box do at start: every proxied connection holds
     * descriptors. Returns the limits before and after, or null when they cannot be read.
     */
    raiseOpenFilesLimit(): { from: number; to: number } | null {
      const lim = new BigUint64Array(2);
      const bytes = new Uint8Array(lim.buffer);
      if (libc().getrlimit(t.RLIMIT_NOFILE, bytes) < 0) return null;
      const soft = lim[0]!, hard = lim[1]!;
      const want = t.maxOpenFiles !== undefined && hard > t.maxOpenFiles ? t.maxOpenFiles : hard;
      if (soft >= want) return { from: Number(soft), to: Number(soft) };
      lim[0] = want;
      if (libc().setrlimit(t.RLIMIT_NOFILE, bytes) < 0) {
        return { from: Number(soft), to: Number(soft) };
      }
      return { from: Number(soft), to: Number(want) };
    },
  };
}

/** The wrappers {@linkcode posixSys} makes for one OS. */
export type PosixSys = ReturnType<typeof posixSys>;

/** `addr:port` or `[addr]:port`. */
export function describeSockAddr(sa: SockAddr): string {
  return sa.addr.length === 16
    ? `[${formatIp(sa.addr)}]:${sa.port}`
    : `${formatIp(sa.addr)}:${sa.port}`;
}
