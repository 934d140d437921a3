/**
 * macOS backend of the reactor's system calls (see `sys.ts` for the contract): libSystem
 * through FFI, `poll(2)` for readiness, a pipe to wake a loop from another thread, no `splice`.
 * The socket and fd wrappers are the shared POSIX ones (`sys_posix.ts`) with Darwin's constants;
 * what macOS lacks is done per socket: `fcntl` for O_NONBLOCK and FD_CLOEXEC (no SOCK_NONBLOCK,
 * no `accept4`, no `pipe2`) and `SO_NOSIGPIPE` (no MSG_NOSIGNAL).
 *
 * @module
 */

import { darwinErrno, darwinSocketLibc } from "../../ffi/darwin/socket_libc.ts";
import { loadDarwinLibc } from "../../ffi/darwin/libc.ts";
import {
  AF_INET6,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  O_NONBLOCK,
  OPEN_MAX,
  RLIMIT_NOFILE,
} from "../../ffi/darwin/constants.ts";
import { POLLFD } from "../../ffi/darwin/layouts.ts";
import { E, SysError } from "../../ffi/errno.ts";
import { encodeSockaddr, type SockAddr, SOCKADDR_STORAGE_SIZE } from "../../ffi/sockaddr.ts";
import type { DatagramBatch } from "./datagram_batch.ts";
import { type PosixSys, posixSys, type PosixTarget, WOULD_BLOCK } from "./sys_posix.ts";

export { WOULD_BLOCK };
export const HAS_SPLICE: boolean = false;

export {
  IP_BOUND_IF,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPV6_BOUND_IF,
  IPV6_V6ONLY,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SO_BROADCAST,
  SO_ERROR,
  SO_KEEPALIVE,
  SO_LINGER,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SOL_SOCKET,
  TCP_KEEPINTVL,
  TCP_NODELAY,
} from "../../ffi/darwin/constants.ts";
import {
  SHUT_RDWR,
  SO_ERROR,
  SO_NOSIGPIPE,
  SOL_SOCKET,
  TCP_KEEPALIVE,
} from "../../ffi/darwin/constants.ts";

/** macOS calls the idle time before keep-alive probes TCP_KEEPALIVE. */
export const TCP_KEEPIDLE: number = TCP_KEEPALIVE;
/** Linux-only options: callers check the OS before using them. */
export const TCP_FASTOPEN_CONNECT: number = -1;
export const TCP_FASTOPEN: number = -1;
export const IP_FREEBIND: number = -1;
export const IP_BIND_ADDRESS_NO_PORT: number = -1;

const libc = darwinSocketLibc;

function fail(action: string): never {
  throw new SysError(action, darwinErrno());
}

const one = new Int32Array([1]);
const oneBytes = new Uint8Array(one.buffer);

/** Makes `fd` non-blocking and close-on-exec (fcntl is variadic: use the arm64-safe wrapper). */
function makeNonBlocking(fd: number, what: string): void {
  const c = loadDarwinLibc();
  const flags = c.fcntl(fd, F_GETFL, 0);
  if (flags < 0 || c.fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) fail(`set O_NONBLOCK on ${what}`);
  if (c.fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) fail(`set FD_CLOEXEC on ${what}`);
}

/** What the shared POSIX wrappers need to know about macOS. */
export const DARWIN_TARGET: PosixTarget = {
  os: "darwin",
  libc,
  errno: darwinErrno,
  AF_INET6,
  SOL_SOCKET,
  SO_ERROR,
  socketTypeFlags: 0,
  sendFlags: 0,
  prepareSocket(fd, what) {
    makeNonBlocking(fd, what);
    // Writing to a socket the peer closed raises SIGPIPE unless the socket opts out.
    if (libc().setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, oneBytes, 4) < 0) {
      fail(`set SO_NOSIGPIPE on ${what}`);
    }
  },
  accept: (fd, addr, len) => libc().accept(fd, addr, len),
  pipe() {
    const fds = new Int32Array(2);
    if (libc().pipe(new Uint8Array(fds.buffer)) < 0) fail("create pipe");
    try {
      for (const fd of fds) makeNonBlocking(fd, `pipe fd ${fd}`);
    } catch (error) {
      for (const fd of fds) libc().close(fd);
      throw error;
    }
    return [fds[0]!, fds[1]!];
  },
  RLIMIT_NOFILE,
  // setrlimit refuses a soft limit above OPEN_MAX even when the hard limit is unlimited.
  maxOpenFiles: BigInt(OPEN_MAX),
};

/** The shared POSIX socket and fd wrappers with Darwin's constants (`sys.ts` exports them). */
export const POSIX: PosixSys = posixSys(DARWIN_TARGET);
const { fdClose, pipeCreate } = POSIX;

/**
 * Breaks a connection from outside its owner. XNU's `connect(AF_UNSPEC)` does not disconnect
 * TCP, so this shuts both directions down: the owner's next read sees end of stream.
 */
export function sockDisconnect(fd: number): void {
  libc().shutdown(fd, SHUT_RDWR);
}

/** macOS has no splice(2): callers check {@linkcode HAS_SPLICE} and copy instead. */
export function spliceFd(from: number, to: number, _len: number): number {
  throw new SysError(`splice fd ${from} to fd ${to}`, E.EOPNOTSUPP);
}

/**
 * macOS has no `recvmmsg`: one `recvfrom` per slot until none is waiting. How many (the batch's
 * `count`), or WOULD_BLOCK when none was.
 */
export function sockRecvBatch(fd: number, batch: DatagramBatch): number {
  batch.count = 0;
  const from: SockAddr = { addr: new Uint8Array(0), port: 0 };
  for (let i = 0; i < batch.capacity; i++) {
    const at = i * batch.slotSize;
    const n = POSIX.sockRecvFrom(fd, batch.data.subarray(at, at + batch.slotSize), from);
    if (n === WOULD_BLOCK) break;
    batch.lengths[i] = n;
    const name = batch.names.subarray(i * SOCKADDR_STORAGE_SIZE);
    encodeSockaddr(from, name);
    batch.count = i + 1;
  }
  return batch.count === 0 ? WOULD_BLOCK : batch.count;
}

/** macOS has no `sendmmsg`: one `sendto` per datagram, as {@linkcode sockSendBatch} on Linux. */
export function sockSendBatch(fd: number, batch: DatagramBatch, from = 0): number {
  let i = from;
  for (; i < batch.count; i++) {
    let n: number;
    try {
      n = POSIX.sockSendTo(fd, batch.payload(i), batch.destination(i));
    } catch (error) {
      if (i === from) throw error;
      break; // as sendmmsg: the ones before it went; the caller's next call meets this error
    }
    if (n === WOULD_BLOCK) break;
  }
  return i === from && from < batch.count ? WOULD_BLOCK : i - from;
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

/** Signals a waker from any thread (writes one byte to its pipe). */
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

/** `struct pollfd` (proven against bsd/sys/poll.h; Linux's is the same). */
const { size: SIZE, fd: FD, events: EVENTS, revents: REVENTS } = POLLFD;

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
  /** Set while `waitAsync` is in flight; a change of the set meanwhile sets `changed`. */
  #flight: { changed: boolean } | null = null;

  /**
   * `pollFn` and `pollAsyncFn` replace libSystem's `poll` and its `nonblocking` form (tests run
   * this class on Linux, whose `struct pollfd` and POLL* bits are the same).
   */
  constructor(
    readonly capacity = 256,
    readonly pollFn: (fds: Uint8Array, nfds: number, timeoutMs: number) => number = (f, n, t) =>
      libc().poll(f, n, t),
    readonly pollAsyncFn: (fds: Uint8Array, nfds: number, timeoutMs: number) => Promise<number> = (
      f,
      n,
      t,
    ) => loadDarwinLibc().pollAsync(f, n, t),
  ) {
    this.readyFds = new Int32Array(capacity);
    this.readyEvents = new Uint32Array(capacity);
    this.#fds = new Uint8Array(SIZE * 64);
    this.#view = new DataView(this.#fds.buffer);
  }

  add(fd: number, events: number): void {
    if (this.#flight) this.#flight.changed = true;
    if (this.#slot.has(fd)) throw new SysError(`add fd ${fd} in poll set`, E.EEXIST);
    if ((this.#count + 1) * SIZE > this.#fds.length) {
      const bigger = new Uint8Array(this.#fds.length * 2);
      bigger.set(this.#fds);
      this.#fds = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    const i = this.#count++;
    this.#slot.set(fd, i);
    this.#view.setInt32(i * SIZE + FD, fd, true);
    this.#view.setInt16(i * SIZE + EVENTS, events & 0xffff, true);
    this.#view.setInt16(i * SIZE + REVENTS, 0, true);
  }

  modify(fd: number, events: number): void {
    const i = this.#slot.get(fd);
    if (i === undefined) throw new SysError(`modify fd ${fd} in poll set`, E.ENOENT);
    if (this.#flight) this.#flight.changed = true;
    this.#view.setInt16(i * SIZE + EVENTS, events & 0xffff, true);
  }

  remove(fd: number): void {
    const i = this.#slot.get(fd);
    if (i === undefined) return;
    if (this.#flight) this.#flight.changed = true;
    this.#slot.delete(fd);
    const last = --this.#count;
    if (i !== last) {
      this.#fds.copyWithin(i * SIZE, last * SIZE, last * SIZE + SIZE);
      this.#slot.set(this.#view.getInt32(i * SIZE + FD, true), i);
    }
  }

  wait(timeoutMs: number): number {
    const n = this.pollFn(this.#fds, this.#count, timeoutMs);
    if (n < 0) {
      const err = darwinErrno();
      if (err === E.EINTR) return 0;
      throw new SysError("poll", err);
    }
    return this.#collect(n);
  }

  /**
   * `wait` on Deno's blocking pool, so the calling thread's event loop runs meanwhile. Call no
   * other `wait` until it settles. The kernel reads the set when the call starts: whoever adds
   * or modifies an fd meanwhile must also wake the poll (the reactor signals its waker). When
   * the set changed meanwhile, slots may have moved, so the results are dropped (0 ready: the
   * caller polls again, and level-triggered readiness is still there). errno is lost on the
   * other thread, so a failure is checked again with a synchronous poll.
   */
  async waitAsync(timeoutMs: number): Promise<number> {
    const flight = this.#flight = { changed: false };
    // The buffer stays referenced here until the call returns, even if `add` replaces it.
    const fds = this.#fds;
    let n: number;
    try {
      n = await this.pollAsyncFn(fds, this.#count, timeoutMs);
    } finally {
      this.#flight = null;
    }
    if (flight.changed) return 0;
    return n < 0 ? this.wait(0) : this.#collect(n);
  }

  #collect(n: number): number {
    let ready = 0;
    for (let i = 0; i < this.#count && ready < n && ready < this.capacity; i++) {
      const revents = this.#view.getInt16(i * SIZE + REVENTS, true) & 0xffff;
      if (revents === 0) continue;
      this.readyFds[ready] = this.#view.getInt32(i * SIZE + FD, true);
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
