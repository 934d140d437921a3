/**
 * Thin, allocation-light wrappers over the socket and fd system calls the reactor needs, for the
 * running OS: `sys_linux.ts` (glibc, epoll, eventfd, splice) or `sys_darwin.ts` (libSystem,
 * poll, pipe). The socket and fd wrappers are written once in `sys_posix.ts`, parameterised by
 * each OS's libc, errno reader and constants (each OS file's `POSIX`); the OS files hold only
 * what differs. Both export the same names; this module picks one at load time. Every function is synchronous; errno is
 * read right after the call on the calling thread.
 *
 * Return conventions on hot paths (no exceptions for the expected cases):
 * - `fdRead`/`fdWrite`/`sockSend`/`sockRecvFrom`/`sockSendTo`/`spliceFd`: bytes (≥ 0; read 0 =
 *   EOF), or {@linkcode WOULD_BLOCK}; any other failure throws `SysError` naming the action.
 * - readiness bits (`EV_*`) have epoll's values on both OSes (poll's values coincide).
 *
 * @module
 */

import * as linux from "./sys_linux.ts";
import * as darwin from "./sys_darwin.ts";

/** An fd set with readiness waits (epoll on Linux, poll on macOS). */
export interface Poller {
  /** The epoll fd on Linux; -1 where the set has no fd. */
  readonly fd: number;
  readonly readyFds: Int32Array;
  readonly readyEvents: Uint32Array;
  add(fd: number, events: number): void;
  modify(fd: number, events: number): void;
  remove(fd: number): void;
  /** Waits up to `timeoutMs` (0 = poll, -1 = forever); returns how many fds are ready. */
  wait(timeoutMs: number): number;
  /**
   * The same wait on another thread (a `nonblocking` FFI call), so this thread's event loop
   * runs meanwhile; no other wait may start until it settles. Adding or modifying an fd while
   * it is in flight must also wake it (macOS's poll(2) reads the set only when it starts).
   */
  waitAsync(timeoutMs: number): Promise<number>;
  close(): void;
}

/** Wakes a reactor loop from another thread (eventfd on Linux, pipe on macOS). */
export interface Waker {
  /** Register for EV_READ in the loop. */
  readonly fd: number;
  /** Pass to other threads, which call {@linkcode signalWaker} with it. */
  readonly signalFd: number;
  drain(): void;
  close(): void;
}

type Impl = Omit<typeof linux, "Poller" | "Waker" | "LINUX_TARGET"> & {
  Poller: new (capacity?: number) => Poller;
  Waker: new () => Waker;
};

const impl: Impl = Deno.build.os === "darwin" ? darwin : linux;

export const {
  WOULD_BLOCK,
  HAS_SPLICE,
  SOL_SOCKET,
  SO_REUSEADDR,
  SO_BROADCAST,
  SO_ERROR,
  SO_SNDBUF,
  SO_RCVBUF,
  SO_KEEPALIVE,
  SO_REUSEPORT,
  SO_LINGER,
  IPPROTO_IP,
  IPPROTO_TCP,
  IPPROTO_IPV6,
  TCP_NODELAY,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
  TCP_FASTOPEN_CONNECT,
  TCP_FASTOPEN,
  IPV6_V6ONLY,
  IP_FREEBIND,
  IP_BIND_ADDRESS_NO_PORT,
  SHUT_RD,
  SHUT_WR,
  SHUT_RDWR,
  EV_READ,
  EV_WRITE,
  EV_ERROR,
  EV_HUP,
  EV_RDHUP,
  sockDisconnect,
  spliceFd,
  sockRecvBatch,
  sockSendBatch,
  signalWaker,
} = impl;

export const {
  sockCreate,
  sockSetInt,
  sockSetBytes,
  sockTakeError,
  sockBind,
  sockConnect,
  sockListen,
  sockAccept,
  sockLocalAddr,
  sockPeerAddr,
  fdRead,
  sockPeek,
  fdWrite,
  sockSend,
  sockSendTo,
  sockRecvFrom,
  sockShutdown,
  sockCreateIcmp,
  fdClose,
  pipeCreate,
  raiseOpenFilesLimit,
} = impl.POSIX;

export const Poller: new (capacity?: number) => Poller = impl.Poller;
export const Waker: new () => Waker = impl.Waker;
