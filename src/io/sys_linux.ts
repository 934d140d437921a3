/**
 * Linux backend of the reactor's system calls (see `sys.ts` for the contract): glibc through
 * FFI, epoll for readiness, an eventfd to wake a loop from another thread, `splice`. The socket
 * and fd wrappers are the shared POSIX ones (`sys_posix.ts`) with Linux's constants and
 * `SOCK_NONBLOCK | SOCK_CLOEXEC`, `accept4`, `pipe2` and `MSG_NOSIGNAL`.
 *
 * @module
 */

import { linuxErrno, linuxLibc } from "../../ffi/linux/libc.ts";
import { E, SysError } from "../../ffi/errno.ts";
import { type DatagramBatch, MMSGHDR_SIZE } from "./datagram_batch.ts";
import {
  describeSockAddr,
  type PosixSys,
  posixSys,
  type PosixTarget,
  WOULD_BLOCK,
} from "./sys_posix.ts";

export { WOULD_BLOCK };

/** `splice(2)` exists (socket-to-socket relays can skip userspace copies). */
export const HAS_SPLICE: boolean = true;

const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;
const O_NONBLOCK = 0x800;
const O_CLOEXEC = 0x80000;

/** Socket option levels and names (Linux). */
export const SOL_SOCKET: number = 1;
export const SO_REUSEADDR: number = 2;
export const SO_BROADCAST: number = 6;
export const SO_ERROR: number = 4;
export const SO_SNDBUF: number = 7;
export const SO_RCVBUF: number = 8;
export const SO_KEEPALIVE: number = 9;
export const SO_REUSEPORT: number = 15;
export const SO_LINGER: number = 13;
export const IPPROTO_IP: number = 0;
export const IPPROTO_TCP: number = 6;
export const IPPROTO_IPV6: number = 41;
export const TCP_NODELAY: number = 1;
export const TCP_KEEPIDLE: number = 4;
export const TCP_KEEPINTVL: number = 5;
export const TCP_FASTOPEN_CONNECT: number = 30;
/** On a listener: the queue length of pending TCP Fast Open requests (`<netinet/tcp.h>`). */
export const TCP_FASTOPEN: number = 23;
export const IPV6_V6ONLY: number = 26;
export const IP_FREEBIND: number = 15;
export const IP_BIND_ADDRESS_NO_PORT: number = 24;

export const SHUT_RD: number = 0;
export const SHUT_WR: number = 1;
export const SHUT_RDWR: number = 2;

const MSG_NOSIGNAL = 0x4000;

const SPLICE_F_MOVE = 1;
const SPLICE_F_NONBLOCK = 2;

const libc = linuxLibc;

function fail(action: string): never {
  throw new SysError(action, linuxErrno());
}

/** What the shared POSIX wrappers need to know about Linux. */
export const LINUX_TARGET: PosixTarget = {
  os: "linux",
  libc,
  errno: linuxErrno,
  AF_INET6: 10,
  SOL_SOCKET,
  SO_ERROR,
  socketTypeFlags: SOCK_NONBLOCK | SOCK_CLOEXEC,
  sendFlags: MSG_NOSIGNAL,
  accept: (fd, addr, len) => libc().accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC),
  pipe() {
    const fds = new Int32Array(2);
    if (libc().pipe2(new Uint8Array(fds.buffer), O_NONBLOCK | O_CLOEXEC) < 0) fail("create pipe");
    return [fds[0]!, fds[1]!];
  },
  RLIMIT_NOFILE: 7,
};

/** The shared POSIX socket and fd wrappers with Linux's constants (`sys.ts` exports them). */
export const POSIX: PosixSys = posixSys(LINUX_TARGET);
const { fdClose } = POSIX;

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

/**
 * Receives up to `batch.capacity` datagrams with one `recvmmsg`: how many (the batch's
 * `count`), or WOULD_BLOCK when none is waiting.
 */
export function sockRecvBatch(fd: number, batch: DatagramBatch): number {
  batch.prepareReceive();
  const n = libc().recvmmsg(fd, batch.headers, batch.capacity, 0, null);
  if (n >= 0) {
    batch.received(n);
    return n;
  }
  const err = linuxErrno();
  batch.count = 0;
  if (err === E.EAGAIN || err === E.EINTR) return WOULD_BLOCK;
  throw new SysError(`receive datagrams on fd ${fd}`, err);
}

/**
 * Sends the batch's datagrams from index `from` with one `sendmmsg`: how many went (the kernel
 * may stop early; call again from there), or WOULD_BLOCK (EAGAIN, ENOBUFS) for the first one.
 * Any other failure of the first one throws, naming it.
 */
export function sockSendBatch(fd: number, batch: DatagramBatch, from = 0): number {
  const n = libc().sendmmsg(
    fd,
    batch.headers.subarray(from * MMSGHDR_SIZE),
    batch.count - from,
    MSG_NOSIGNAL,
  );
  if (n >= 0) return n;
  const err = linuxErrno();
  if (err === E.EAGAIN || err === E.EINTR || err === E.ENOBUFS) return WOULD_BLOCK;
  throw new SysError(`send datagram to ${describeSockAddr(batch.destination(from))}`, err);
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
    return this.#collect(n);
  }

  /**
   * `wait` on Deno's blocking pool, so the calling thread's event loop runs meanwhile. Call no
   * other `wait` until it settles. errno is lost on the other thread, so a failure is checked
   * again with a synchronous poll, which throws what it finds (an interrupted wait finds none).
   */
  async waitAsync(timeoutMs: number): Promise<number> {
    const n = await libc().epoll_wait_nonblocking(this.fd, this.#buf, this.capacity, timeoutMs);
    return n < 0 ? this.wait(0) : this.#collect(n);
  }

  #collect(n: number): number {
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
