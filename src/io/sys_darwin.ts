/**
 * macOS implementation of the reactor's system calls (see `sys.ts` for the contract):
 * libSystem through FFI, `poll(2)` for readiness, a pipe to wake a loop from another thread.
 *
 * Differences from Linux handled here: sockets are made non-blocking and close-on-exec with
 * `fcntl` (no SOCK_NONBLOCK flag), SIGPIPE is suppressed per socket with `SO_NOSIGPIPE` (no
 * MSG_NOSIGNAL), there is no `accept4`, `eventfd`, `epoll` or `splice`.
 *
 * @module
 */

import { darwinErrno, darwinSocketLibc } from "../../ffi/darwin/socket_libc.ts";
import { loadDarwinLibc } from "../../ffi/darwin/libc.ts";
import { E, SysError } from "../../ffi/errno.ts";
import {
  decodeSockaddr,
  encodeSockaddr,
  type SockAddr,
  SOCKADDR_STORAGE_SIZE,
} from "../../ffi/sockaddr.ts";
import { formatIp } from "../net/ip.ts";

export const WOULD_BLOCK: number = -1;
export const HAS_SPLICE: boolean = false;

const AF_INET = 2;
const AF_INET6 = 30;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const FD_CLOEXEC = 1;
const O_NONBLOCK = 0x4;

export const SOL_SOCKET: number = 0xffff;
export const SO_REUSEADDR: number = 0x4;
export const SO_ERROR: number = 0x1007;
export const SO_SNDBUF: number = 0x1001;
export const SO_RCVBUF: number = 0x1002;
export const SO_KEEPALIVE: number = 0x8;
export const SO_REUSEPORT: number = 0x200;
const SO_NOSIGPIPE = 0x1022;
export const IPPROTO_IP: number = 0;
export const IPPROTO_TCP: number = 6;
export const IPPROTO_IPV6: number = 41;
export const TCP_NODELAY: number = 0x1;
/** macOS calls the idle time TCP_KEEPALIVE. */
export const TCP_KEEPIDLE: number = 0x10;
export const TCP_KEEPINTVL: number = 0x101;
/** Linux-only options: callers check the OS before using them. */
export const TCP_FASTOPEN_CONNECT: number = -1;
export const IP_FREEBIND: number = -1;
export const IP_BIND_ADDRESS_NO_PORT: number = -1;
export const IPV6_V6ONLY: number = 27;

export const SHUT_RD: number = 0;
export const SHUT_WR: number = 1;
export const SHUT_RDWR: number = 2;

const MSG_PEEK = 0x2;

function libc() {
  return darwinSocketLibc();
}

function fail(action: string): never {
  throw new SysError(action, darwinErrno());
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

/** Makes `fd` non-blocking and close-on-exec (fcntl is variadic: use the arm64-safe wrapper). */
function makeNonBlocking(fd: number, what: string): void {
  const c = loadDarwinLibc();
  const flags = c.fcntl(fd, F_GETFL, 0);
  if (flags < 0 || c.fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) fail(`set O_NONBLOCK on ${what}`);
  if (c.fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) fail(`set FD_CLOEXEC on ${what}`);
}

function noSigPipe(fd: number): void {
  scratchInt[0] = 1;
  libc().setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, scratchIntBytes, 4);
}

export function sockCreate(family: 4 | 6, kind: "tcp" | "udp"): number {
  const fd = libc().socket(
    family === 4 ? AF_INET : AF_INET6,
    kind === "tcp" ? SOCK_STREAM : SOCK_DGRAM,
    0,
  );
  if (fd < 0) fail(`create ${kind} IPv${family} socket`);
  try {
    makeNonBlocking(fd, `${kind} socket fd ${fd}`);
    noSigPipe(fd);
  } catch (error) {
    libc().close(fd);
    throw error;
  }
  return fd;
}

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

export function sockSetBytes(
  fd: number,
  level: number,
  name: number,
  value: Uint8Array,
  what: string,
): void {
  if (libc().setsockopt(fd, level, name, value, value.length) < 0) fail(`set ${what}`);
}

export function sockTakeError(fd: number): number {
  scratchInt[0] = 0;
  scratchLen[0] = 4;
  if (libc().getsockopt(fd, SOL_SOCKET, SO_ERROR, scratchIntBytes, scratchLenBytes) < 0) {
    return darwinErrno();
  }
  return scratchInt[0]!;
}

export function sockBind(fd: number, sa: SockAddr): void {
  const len = encodeSockaddr(sa, scratchAddr, "darwin");
  if (libc().bind(fd, scratchAddr, len) < 0) fail(`bind to ${describe(sa)}`);
}

export function sockConnect(fd: number, sa: SockAddr): number {
  const len = encodeSockaddr(sa, scratchAddr, "darwin");
  if (libc().connect(fd, scratchAddr, len) === 0) return 0;
  return darwinErrno();
}

export function sockListen(fd: number, backlog: number): void {
  if (libc().listen(fd, backlog) < 0) fail(`listen on fd ${fd}`);
}

export function sockAccept(fd: number): number {
  scratchLen[0] = SOCKADDR_STORAGE_SIZE;
  const c = libc().accept(fd, scratchAddr, scratchLenBytes);
  if (c < 0) {
    const err = darwinErrno();
    if (err === E.EAGAIN || err === E.ECONNABORTED || err === E.EINTR) return -1;
    throw new SysError(`accept on fd ${fd}`, err);
  }
  try {
    makeNonBlocking(c, `accepted socket fd ${c}`);
    noSigPipe(c);
  } catch (error) {
    libc().close(c);
    throw error;
  }
  return c;
}

function addrOf(fd: number, peer: boolean): SockAddr {
  scratchLen[0] = SOCKADDR_STORAGE_SIZE;
  const r = peer
    ? libc().getpeername(fd, scratchAddr, scratchLenBytes)
    : libc().getsockname(fd, scratchAddr, scratchLenBytes);
  const what = peer ? "getpeername" : "getsockname";
  if (r < 0) fail(`${what} on fd ${fd}`);
  const sa = decodeSockaddr(scratchAddr, "darwin");
  if (!sa) throw new TypeError(`${what} on fd ${fd} returned a non-IP address`);
  return sa;
}

export function sockLocalAddr(fd: number): SockAddr {
  return addrOf(fd, false);
}

export function sockPeerAddr(fd: number): SockAddr {
  return addrOf(fd, true);
}

function result(n: number, action: string): number {
  if (n >= 0) return n;
  const err = darwinErrno();
  if (err === E.EAGAIN || err === E.EINTR) return WOULD_BLOCK;
  throw new SysError(action, err);
}

export function fdRead(fd: number, buf: Uint8Array): number {
  return result(Number(libc().read(fd, buf, BigInt(buf.length))), `read from fd ${fd}`);
}

export function sockPeek(fd: number, buf: Uint8Array): number {
  return result(Number(libc().recv(fd, buf, BigInt(buf.length), MSG_PEEK)), `peek on fd ${fd}`);
}

export function fdWrite(fd: number, buf: Uint8Array): number {
  return result(Number(libc().write(fd, buf, BigInt(buf.length))), `write to fd ${fd}`);
}

export function sockSend(fd: number, buf: Uint8Array): number {
  return result(Number(libc().send(fd, buf, BigInt(buf.length), 0)), `send on fd ${fd}`);
}

export function sockSendTo(fd: number, buf: Uint8Array, sa: SockAddr): number {
  const len = encodeSockaddr(sa, scratchAddr, "darwin");
  const n = Number(libc().sendto(fd, buf, BigInt(buf.length), 0, scratchAddr, len));
  if (n < 0 && darwinErrno() === E.ENOBUFS) return WOULD_BLOCK;
  return result(n, `send datagram to ${describe(sa)}`);
}

export function sockRecvFrom(fd: number, buf: Uint8Array, from: SockAddr): number {
  scratchLen[0] = SOCKADDR_STORAGE_SIZE;
  const n = result(
    Number(libc().recvfrom(fd, buf, BigInt(buf.length), 0, scratchAddr, scratchLenBytes)),
    `receive datagram on fd ${fd}`,
  );
  if (n === WOULD_BLOCK) return n;
  const sa = decodeSockaddr(scratchAddr, "darwin");
  if (sa) {
    from.addr = sa.addr;
    from.port = sa.port;
  }
  return n;
}

export function sockShutdown(fd: number, how: number): void {
  libc().shutdown(fd, how);
}

/**
 * Breaks a connection from outside its owner. XNU's `connect(AF_UNSPEC)` does not disconnect
 * TCP, so this shuts both directions down: the owner's next read sees end of stream.
 */
export function sockDisconnect(fd: number): void {
  libc().shutdown(fd, SHUT_RDWR);
}

export function fdClose(fd: number): void {
  libc().close(fd);
}

export function pipeCreate(): [number, number] {
  const fds = new Int32Array(2);
  if (libc().pipe(new Uint8Array(fds.buffer)) < 0) fail("create pipe");
  for (const fd of fds) makeNonBlocking(fd, `pipe fd ${fd}`);
  return [fds[0]!, fds[1]!];
}

/** macOS has no splice(2): callers check {@linkcode HAS_SPLICE} and copy instead. */
export function spliceFd(from: number, to: number, _len: number): number {
  throw new SysError(`splice fd ${from} to fd ${to}`, E.EOPNOTSUPP);
}

const oneByte = new Uint8Array([1]);
const drainBuf = new Uint8Array(64);

/** A pipe that wakes a reactor loop from another thread. */
export class Waker {
  readonly fd: number;
  readonly signalFd: number;

  constructor() {
    [this.fd, this.signalFd] = pipeCreate();
  }

  drain(): void {
    while (Number(libc().read(this.fd, drainBuf, BigInt(drainBuf.length))) > 0) { /* empty */ }
  }

  close(): void {
    fdClose(this.fd);
    fdClose(this.signalFd);
  }
}

export function signalWaker(signalFd: number): void {
  libc().write(signalFd, oneByte, 1n);
}

// POLLIN/POLLOUT/POLLERR/POLLHUP have the same values as the epoll bits the reactor uses.
export const EV_READ: number = 0x001;
export const EV_WRITE: number = 0x004;
export const EV_ERROR: number = 0x008;
export const EV_HUP: number = 0x010;
/** No POLLRDHUP on macOS: EOF is seen as readability. */
export const EV_RDHUP: number = 0;

/** A `poll(2)` set with the same interface as the Linux epoll `Poller`. */
export class Poller {
  /** poll(2) has no set fd (epoll's is closed by `close()` on Linux). */
  readonly fd = -1;
  readonly readyFds: Int32Array;
  readonly readyEvents: Uint32Array;
  #fds: Uint8Array;
  #view: DataView;
  #count = 0;
  #slot = new Map<number, number>();

  /**
   * `pollFn` replaces libSystem's `poll` (tests run this class on Linux, whose `struct pollfd`
   * and POLL* bits are the same).
   */
  constructor(
    readonly capacity = 256,
    readonly pollFn: (fds: Uint8Array, nfds: number, timeoutMs: number) => number = (f, n, t) =>
      libc().poll(f, n, t),
  ) {
    this.readyFds = new Int32Array(capacity);
    this.readyEvents = new Uint32Array(capacity);
    this.#fds = new Uint8Array(8 * 64);
    this.#view = new DataView(this.#fds.buffer);
  }

  add(fd: number, events: number): void {
    if (this.#slot.has(fd)) throw new SysError(`add fd ${fd} in poll set`, E.EEXIST);
    if ((this.#count + 1) * 8 > this.#fds.length) {
      const bigger = new Uint8Array(this.#fds.length * 2);
      bigger.set(this.#fds);
      this.#fds = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    const i = this.#count++;
    this.#slot.set(fd, i);
    this.#view.setInt32(i * 8, fd, true);
    this.#view.setInt16(i * 8 + 4, events & 0xffff, true);
    this.#view.setInt16(i * 8 + 6, 0, true);
  }

  modify(fd: number, events: number): void {
    const i = this.#slot.get(fd);
    if (i === undefined) throw new SysError(`modify fd ${fd} in poll set`, E.ENOENT);
    this.#view.setInt16(i * 8 + 4, events & 0xffff, true);
  }

  remove(fd: number): void {
    const i = this.#slot.get(fd);
    if (i === undefined) return;
    this.#slot.delete(fd);
    const last = --this.#count;
    if (i !== last) {
      this.#fds.copyWithin(i * 8, last * 8, last * 8 + 8);
      this.#slot.set(this.#view.getInt32(i * 8, true), i);
    }
  }

  wait(timeoutMs: number): number {
    const n = this.pollFn(this.#fds, this.#count, timeoutMs);
    if (n < 0) {
      const err = darwinErrno();
      if (err === E.EINTR) return 0;
      throw new SysError("poll", err);
    }
    let ready = 0;
    for (let i = 0; i < this.#count && ready < n && ready < this.capacity; i++) {
      const revents = this.#view.getInt16(i * 8 + 6, true) & 0xffff;
      if (revents === 0) continue;
      this.readyFds[ready] = this.#view.getInt32(i * 8, true);
      this.readyEvents[ready] = revents;
      ready++;
    }
    return ready;
  }

  close(): void {
    this.#count = 0;
    this.#slot.clear();
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
  if (libc().getrlimit(8, bytes) < 0) return null;
  const soft = lim[0]!, hard = lim[1]!;
  // macOS rejects a soft limit above OPEN_MAX (10240) even when the hard limit is unlimited.
  const want = hard < 10240n ? hard : 10240n;
  if (soft >= want) return { from: Number(soft), to: Number(soft) };
  lim[0] = want;
  if (libc().setrlimit(8, bytes) < 0) return { from: Number(soft), to: Number(soft) };
  return { from: Number(soft), to: Number(want) };
}
