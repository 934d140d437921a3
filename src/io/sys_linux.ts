/**
 * Linux implementation of the reactor's system calls (see `sys.ts` for the contract): glibc
 * through FFI, epoll for readiness, an eventfd to wake a loop from another thread.
 * Every function is synchronous; errno is read right after the call on this thread.
 *
 * Return conventions on hot paths (no exceptions for the expected cases):
 * - `fdRead`/`fdWrite`/`sockRecvFrom`/`sockSendTo`/`spliceFd`: bytes (≥ 0; read 0 = EOF), or
 *   {@linkcode WOULD_BLOCK}; any other failure throws {@linkcode SysError} naming the action.
 *
 * @module
 */

import { linuxErrno, linuxLibc } from "../../ffi/linux/libc.ts";
import { E, SysError } from "../../ffi/errno.ts";
import {
  decodeSockaddr,
  encodeSockaddr,
  type SockAddr,
  SOCKADDR_STORAGE_SIZE,
} from "../../ffi/sockaddr.ts";
import { formatIp } from "../net/ip.ts";

/** Returned by non-blocking calls that would block (EAGAIN/EWOULDBLOCK). */
export const WOULD_BLOCK: number = -1;

/** `splice(2)` exists (socket-to-socket relays can skip userspace copies). */
export const HAS_SPLICE: boolean = true;

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;
const O_NONBLOCK = 0x800;
const O_CLOEXEC = 0x80000;

/** Socket option levels and names (Linux). */
export const SOL_SOCKET: number = 1;
export const SO_REUSEADDR: number = 2;
export const SO_ERROR: number = 4;
export const SO_SNDBUF: number = 7;
export const SO_RCVBUF: number = 8;
export const SO_KEEPALIVE: number = 9;
export const SO_REUSEPORT: number = 15;
export const IPPROTO_IP: number = 0;
export const IPPROTO_TCP: number = 6;
export const IPPROTO_IPV6: number = 41;
export const TCP_NODELAY: number = 1;
export const TCP_KEEPIDLE: number = 4;
export const TCP_KEEPINTVL: number = 5;
export const TCP_FASTOPEN_CONNECT: number = 30;
export const IPV6_V6ONLY: number = 26;
export const IP_FREEBIND: number = 15;
export const IP_BIND_ADDRESS_NO_PORT: number = 24;

export const SHUT_RD: number = 0;
export const SHUT_WR: number = 1;
export const SHUT_RDWR: number = 2;

const MSG_PEEK = 2;
const MSG_NOSIGNAL = 0x4000;

const SPLICE_F_MOVE = 1;
const SPLICE_F_NONBLOCK = 2;

function libc() {
  return linuxLibc();
}

function fail(action: string): never {
  throw new SysError(action, linuxErrno());
}

function describe(sa: SockAddr): string {
  return sa.addr.length === 16
    ? `[${formatIp(sa.addr)}]:${sa.port}`
    : `${formatIp(sa.addr)}:${sa.port}`;
}

const scratchAddr = new Uint8Array(SOCKADDR_STORAGE_SIZE);
const scratchLen = new Uint32Array(1);
const scratchLenBytes = new Uint8Array(scratchLen.buffer);
const scratchInt = new Int32Array(1);
const scratchIntBytes = new Uint8Array(scratchInt.buffer);

/** Creates a non-blocking, close-on-exec TCP or UDP socket. */
export function sockCreate(family: 4 | 6, kind: "tcp" | "udp"): number {
  const type = (kind === "tcp" ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const fd = libc().socket(family === 4 ? AF_INET : AF_INET6, type, 0);
  if (fd < 0) fail(`create ${kind} IPv${family} socket`);
  return fd;
}

/** `setsockopt` with an int value. */
export function sockSetInt(
  fd: number,
  level: number,
  name: number,
  value: number,
  what: string,
): void {
  scratchInt[0] = value;
  if (libc().setsockopt(fd, level, name, scratchIntBytes, 4) < 0) fail(`set ${what}=${value}`);
}

/** `setsockopt` with raw bytes. */
export function sockSetBytes(
  fd: number,
  level: number,
  name: number,
  value: Uint8Array,
  what: string,
): void {
  if (libc().setsockopt(fd, level, name, value, value.length) < 0) fail(`set ${what}`);
}

/** Reads and clears `SO_ERROR` (the result of a non-blocking connect). */
export function sockTakeError(fd: number): number {
  scratchInt[0] = 0;
  scratchLen[0] = 4;
  if (libc().getsockopt(fd, SOL_SOCKET, SO_ERROR, scratchIntBytes, scratchLenBytes) < 0) {
    return linuxErrno();
  }
  return scratchInt[0]!;
}

/** Binds to an address (port 0 = any). */
export function sockBind(fd: number, sa: SockAddr): void {
  const len = encodeSockaddr(sa, scratchAddr);
  if (libc().bind(fd, scratchAddr, len) < 0) fail(`bind to ${describe(sa)}`);
}

/** Starts a non-blocking connect. Returns 0 when connected at once, or the errno (EINPROGRESS...). */
export function sockConnect(fd: number, sa: SockAddr): number {
  const len = encodeSockaddr(sa, scratchAddr);
  if (libc().connect(fd, scratchAddr, len) === 0) return 0;
  return linuxErrno();
}

export function sockListen(fd: number, backlog: number): void {
  if (libc().listen(fd, backlog) < 0) fail(`listen on fd ${fd}`);
}

/** Accepts one connection (non-blocking, close-on-exec). Returns -1 when none is pending. */
export function sockAccept(fd: number): number {
  scratchLen[0] = SOCKADDR_STORAGE_SIZE;
  const c = libc().accept4(fd, scratchAddr, scratchLenBytes, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c >= 0) return c;
  const err = linuxErrno();
  if (err === E.EAGAIN || err === E.ECONNABORTED || err === E.EINTR) return -1;
  if (err === E.EMFILE || err === E.ENFILE) throw new SysError(`accept on fd ${fd}`, err);
  throw new SysError(`accept on fd ${fd}`, err);
}

/** The address the socket is bound to. */
export function sockLocalAddr(fd: number): SockAddr {
  scratchLen[0] = SOCKADDR_STORAGE_SIZE;
  if (libc().getsockname(fd, scratchAddr, scratchLenBytes) < 0) fail(`getsockname on fd ${fd}`);
  const sa = decodeSockaddr(scratchAddr);
  if (!sa) throw new TypeError(`getsockname on fd ${fd} returned a non-IP address`);
  return sa;
}

/** The connected peer's address. */
export function sockPeerAddr(fd: number): SockAddr {
  scratchLen[0] = SOCKADDR_STORAGE_SIZE;
  if (libc().getpeername(fd, scratchAddr, scratchLenBytes) < 0) fail(`getpeername on fd ${fd}`);
  const sa = decodeSockaddr(scratchAddr);
  if (!sa) throw new TypeError(`getpeername on fd ${fd} returned a non-IP address`);
  return sa;
}

/** Reads into `buf`: bytes read, 0 at EOF, or WOULD_BLOCK. */
export function fdRead(fd: number, buf: Uint8Array): number {
  const n = Number(libc().read(fd, buf, BigInt(buf.length)));
  if (n >= 0) return n;
  const err = linuxErrno();
  if (err === E.EAGAIN || err === E.EINTR) return WOULD_BLOCK;
  throw new SysError(`read from fd ${fd}`, err);
}

/** Peeks at pending socket bytes without consuming them. */
export function sockPeek(fd: number, buf: Uint8Array): number {
  const n = Number(libc().recv(fd, buf, BigInt(buf.length), MSG_PEEK));
  if (n >= 0) return n;
  const err = linuxErrno();
  if (err === E.EAGAIN || err === E.EINTR) return WOULD_BLOCK;
  throw new SysError(`peek on fd ${fd}`, err);
}

/** Writes `buf` to a file descriptor (TUN): bytes written, or WOULD_BLOCK. */
export function fdWrite(fd: number, buf: Uint8Array): number {
  const n = Number(libc().write(fd, buf, BigInt(buf.length)));
  if (n >= 0) return n;
  const err = linuxErrno();
  if (err === E.EAGAIN || err === E.EINTR) return WOULD_BLOCK;
  throw new SysError(`write to fd ${fd}`, err);
}

/** Sends on a connected socket without SIGPIPE: bytes written, or WOULD_BLOCK. */
export function sockSend(fd: number, buf: Uint8Array): number {
  const n = Number(libc().send(fd, buf, BigInt(buf.length), MSG_NOSIGNAL));
  if (n >= 0) return n;
  const err = linuxErrno();
  if (err === E.EAGAIN || err === E.EINTR) return WOULD_BLOCK;
  throw new SysError(`send on fd ${fd}`, err);
}

/** Sends one datagram to `sa`: bytes sent, or WOULD_BLOCK. */
export function sockSendTo(fd: number, buf: Uint8Array, sa: SockAddr): number {
  const len = encodeSockaddr(sa, scratchAddr);
  const n = Number(libc().sendto(fd, buf, BigInt(buf.length), MSG_NOSIGNAL, scratchAddr, len));
  if (n >= 0) return n;
  const err = linuxErrno();
  if (err === E.EAGAIN || err === E.EINTR || err === E.ENOBUFS) return WOULD_BLOCK;
  throw new SysError(`send datagram to ${describe(sa)}`, err);
}

/**
 * Receives one datagram; the sender's address is decoded into `from` (a fresh address array).
 * Returns bytes received or WOULD_BLOCK.
 */
export function sockRecvFrom(fd: number, buf: Uint8Array, from: SockAddr): number {
  scratchLen[0] = SOCKADDR_STORAGE_SIZE;
  const n = Number(libc().recvfrom(fd, buf, BigInt(buf.length), 0, scratchAddr, scratchLenBytes));
  if (n < 0) {
    const err = linuxErrno();
    if (err === E.EAGAIN || err === E.EINTR) return WOULD_BLOCK;
    throw new SysError(`receive datagram on fd ${fd}`, err);
  }
  const sa = decodeSockaddr(scratchAddr);
  if (sa) {
    from.addr = sa.addr;
    from.port = sa.port;
  }
  return n;
}

export function sockShutdown(fd: number, how: number): void {
  // ENOTCONN after the peer reset is expected and harmless.
  libc().shutdown(fd, how);
}

const UNSPEC_ADDR = new Uint8Array(16); // sa_family AF_UNSPEC (0)

/**
 * Breaks a TCP connection from outside its owner: `connect(AF_UNSPEC)` runs the kernel's
 * `tcp_disconnect`, which sends a reset, sets `ECONNRESET` on the socket and wakes epoll, so the
 * owner's next read fails as if the peer had reset it. On a UDP socket it dissolves the
 * association (a no-op for unconnected sockets); callers also `shutdown` those.
 */
export function sockDisconnect(fd: number): void {
  libc().connect(fd, UNSPEC_ADDR, UNSPEC_ADDR.length);
}

export function fdClose(fd: number): void {
  libc().close(fd);
}

/** Creates a non-blocking pipe for `splice`; returns [readFd, writeFd]. */
export function pipeCreate(): [number, number] {
  const fds = new Int32Array(2);
  if (libc().pipe2(new Uint8Array(fds.buffer), O_NONBLOCK | O_CLOEXEC) < 0) fail("create pipe");
  return [fds[0]!, fds[1]!];
}

/** Moves up to `len` bytes between fds in the kernel: bytes moved, 0 at EOF, or WOULD_BLOCK. */
export function spliceFd(from: number, to: number, len: number): number {
  const n = Number(
    libc().splice(from, null, to, null, BigInt(len), SPLICE_F_MOVE | SPLICE_F_NONBLOCK),
  );
  if (n >= 0) return n;
  const err = linuxErrno();
  if (err === E.EAGAIN || err === E.EINTR) return WOULD_BLOCK;
  throw new SysError(`splice fd ${from} to fd ${to}`, err);
}

const one = new BigUint64Array([1n]);
const oneBytes = new Uint8Array(one.buffer);
const drainBuf = new Uint8Array(8);

/** An eventfd that wakes a reactor loop from another thread. */
export class Waker {
  /** Registered for EV_READ in the loop's epoll set. */
  readonly fd: number;
  /** What other threads pass to {@linkcode signalWaker} (the same eventfd on Linux). */
  readonly signalFd: number;

  constructor() {
    const fd = libc().eventfd(0, O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) fail("create eventfd");
    this.fd = this.signalFd = fd;
  }

  /** Clears the counter after a wake-up. */
  drain(): void {
    libc().read(this.fd, drainBuf, 8n);
  }

  close(): void {
    fdClose(this.fd);
  }
}

/** Signals a waker from any thread (writes 1 to the eventfd). */
export function signalWaker(signalFd: number): void {
  libc().write(signalFd, oneBytes, 8n);
}

// ---------------------------------------------------------------------------------------------
// epoll
// ---------------------------------------------------------------------------------------------

export const EV_READ: number = 0x001; // EPOLLIN
export const EV_WRITE: number = 0x004; // EPOLLOUT
export const EV_ERROR: number = 0x008; // EPOLLERR
export const EV_HUP: number = 0x010; // EPOLLHUP
export const EV_RDHUP: number = 0x2000; // EPOLLRDHUP

const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;
const EPOLL_CLOEXEC = 0x80000;
/** `struct epoll_event` is packed (12 bytes) on x86_64 and naturally aligned (16) elsewhere. */
const EVENT_SIZE = Deno.build.arch === "x86_64" ? 12 : 16;
const DATA_OFFSET = Deno.build.arch === "x86_64" ? 4 : 8;

/** An epoll set. `wait` fills `readyFds`/`readyEvents` and returns the count. */
export class Poller {
  readonly fd: number;
  readonly readyFds: Int32Array;
  readonly readyEvents: Uint32Array;
  #buf: Uint8Array;
  #view: DataView;
  #ctl = new Uint8Array(16);
  #ctlView = new DataView(this.#ctl.buffer);

  constructor(readonly capacity = 256) {
    const fd = libc().epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) fail("create epoll set");
    this.fd = fd;
    this.#buf = new Uint8Array(EVENT_SIZE * capacity);
    this.#view = new DataView(this.#buf.buffer);
    this.readyFds = new Int32Array(capacity);
    this.readyEvents = new Uint32Array(capacity);
  }

  #ctlCall(op: number, fd: number, events: number, action: string): void {
    this.#ctlView.setUint32(0, events, true);
    this.#ctlView.setUint32(DATA_OFFSET, fd, true);
    this.#ctlView.setUint32(DATA_OFFSET + 4, 0, true);
    if (libc().epoll_ctl(this.fd, op, fd, this.#ctl) < 0) fail(`${action} fd ${fd} in epoll set`);
  }

  add(fd: number, events: number): void {
    this.#ctlCall(EPOLL_CTL_ADD, fd, events, "add");
  }

  modify(fd: number, events: number): void {
    this.#ctlCall(EPOLL_CTL_MOD, fd, events, "modify");
  }

  remove(fd: number): void {
    // ENOENT/EBADF when the fd was already closed is harmless.
    this.#ctlView.setUint32(0, 0, true);
    libc().epoll_ctl(this.fd, EPOLL_CTL_DEL, fd, this.#ctl);
  }

  /** Waits up to `timeoutMs` (0 = poll, -1 = forever); returns the number of ready fds. */
  wait(timeoutMs: number): number {
    const n = libc().epoll_wait(this.fd, this.#buf, this.capacity, timeoutMs);
    if (n < 0) {
      const err = linuxErrno();
      if (err === E.EINTR) return 0;
      throw new SysError("epoll_wait", err);
    }
    const view = this.#view;
    for (let i = 0; i < n; i++) {
      const off = i * EVENT_SIZE;
      this.readyEvents[i] = view.getUint32(off, true);
      this.readyFds[i] = view.getInt32(off + DATA_OFFSET, true);
    }
    return n;
  }

  close(): void {
    fdClose(this.fd);
  }
}

/**
 * Raises the soft open-files limit (RLIMIT_NOFILE) to the hard limit, as Go programs such as
 * sing-box do at start: every proxied connection holds descriptors. Returns the limits before
 * and after, or null when they cannot be read.
 */
export function raiseOpenFilesLimit(): { from: number; to: number } | null {
  const lim = new BigUint64Array(2);
  const bytes = new Uint8Array(lim.buffer);
  if (libc().getrlimit(7, bytes) < 0) return null;
  const soft = lim[0]!, hard = lim[1]!;
  const want = hard;
  if (soft >= want) return { from: Number(soft), to: Number(soft) };
  lim[0] = want;
  if (libc().setrlimit(7, bytes) < 0) return { from: Number(soft), to: Number(soft) };
  return { from: Number(soft), to: Number(want) };
}
