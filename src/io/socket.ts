/**
 * Non-blocking sockets made through FFI and driven by a {@linkcode Reactor}.
 *
 * Sockets are created with `socket(2)` so that, before connecting, they can be bound to an
 * interface (`SO_BINDTOIFINDEX` on Linux, `IP_BOUND_IF` on macOS) or marked (`SO_MARK`): this is
 * how tunbox's own traffic avoids looping back into its TUN device.
 *
 * Two ways to use a socket:
 * - promise helpers (`readSome`, `writeAll`) for short handshakes (SOCKS, HTTP CONNECT);
 * - callbacks (`onReadable`/`onWritable` with `wantRead`/`wantWrite`) and the synchronous
 *   `read`/`write` for relays, where copying through promises would cost too much.
 *
 * @module
 */

import { E, SysError } from "../../ffi/errno.ts";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import { formatIp } from "../net/ip.ts";
import { EV_ERROR, EV_HUP, EV_RDHUP, EV_READ, EV_WRITE, type Reactor } from "./reactor.ts";
import type { Stream } from "./stream.ts";
import type { DatagramBatch } from "./datagram_batch.ts";
import {
  fdClose,
  fdRead,
  IP_BIND_ADDRESS_NO_PORT,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPV6_V6ONLY,
  SHUT_WR,
  SO_BROADCAST,
  SO_KEEPALIVE,
  SO_LINGER,
  SO_REUSEADDR,
  sockAccept,
  sockBind,
  sockConnect,
  sockCreate,
  sockListen,
  sockLocalAddr,
  sockPeek,
  sockPeerAddr,
  sockRecvBatch,
  sockRecvFrom,
  sockSend,
  sockSendBatch,
  sockSendTo,
  sockSetBytes,
  sockSetInt,
  sockShutdown,
  sockTakeError,
  SOL_SOCKET,
  TCP_FASTOPEN_CONNECT,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
  TCP_NODELAY,
  WOULD_BLOCK,
} from "./sys.ts";

export { WOULD_BLOCK };

/** An interface a socket binds to (the platform's `NetworkInterface` is one). */
export interface BoundInterface {
  name: string;
  index: number;
}

/**
 * What binds a socket to an interface or marks it: the OS-specific part of the socket options,
 * which the platform layer implements (`Platform` from `platform/mod.ts` is one).
 */
export interface SocketBinder {
  bindToInterface(fd: number, family: 4 | 6, iface: BoundInterface): void;
  setMark(fd: number, mark: number): void;
}

/** Formats `addr:port` (`[v6]:port`). */
export function formatSockAddr(sa: SockAddr): string {
  return sa.addr.length === 16
    ? `[${formatIp(sa.addr)}]:${sa.port}`
    : `${formatIp(sa.addr)}:${sa.port}`;
}

/** How a socket is made before it connects or binds. */
export interface SocketOptions {
  /** Bind to this interface so routes through the TUN are not used. */
  bindInterface?: BoundInterface;
  /** Linux SO_MARK. */
  mark?: number;
  /** Local address to bind (family must match the destination). */
  bindAddress?: Uint8Array;
  /** Linux IP_BIND_ADDRESS_NO_PORT with `bindAddress`. */
  bindAddressNoPort?: boolean;
  reuseAddr?: boolean;
  /** SO_BROADCAST (UDP): may send to a broadcast address (DHCP). */
  broadcast?: boolean;
  tcpFastOpen?: boolean;
  /** TCP keepalive idle time in ms (0/undefined = off). */
  keepAliveIdleMs?: number;
  keepAliveIntervalMs?: number;
  /** Default 5000 (sing-box's dial timeout). */
  connectTimeoutMs?: number;
  /** Needed for `bindInterface` and `mark`. */
  platform?: SocketBinder;
}

/** Applies binding, mark and the TCP/UDP options to a fresh socket (throws on failure). */
export function applySocketOptions(
  fd: number,
  family: 4 | 6,
  opts: SocketOptions,
  kind: "tcp" | "udp",
): void {
  if (opts.bindInterface) {
    if (!opts.platform) throw new TypeError("Socket option bindInterface needs a platform");
    opts.platform.bindToInterface(fd, family, opts.bindInterface);
  }
  if (opts.mark !== undefined && opts.mark !== 0) {
    if (!opts.platform) throw new TypeError("Socket option mark needs a platform");
    opts.platform.setMark(fd, opts.mark);
  }
  if (opts.reuseAddr) sockSetInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  if (opts.broadcast) sockSetInt(fd, SOL_SOCKET, SO_BROADCAST, 1, "SO_BROADCAST");
  if (kind === "tcp") {
    sockSetInt(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
    if (opts.tcpFastOpen && Deno.build.os === "linux") {
      sockSetInt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1, "TCP_FASTOPEN_CONNECT");
    }
    if (opts.keepAliveIdleMs && opts.keepAliveIdleMs > 0) {
      sockSetInt(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
      if (Deno.build.os === "linux") {
        sockSetInt(
          fd,
          IPPROTO_TCP,
          TCP_KEEPIDLE,
          Math.max(1, Math.round(opts.keepAliveIdleMs / 1000)),
          "TCP_KEEPIDLE",
        );
        const interval = opts.keepAliveIntervalMs ?? 75_000;
        sockSetInt(
          fd,
          IPPROTO_TCP,
          TCP_KEEPINTVL,
          Math.max(1, Math.round(interval / 1000)),
          "TCP_KEEPINTVL",
        );
      }
    }
  }
  if (opts.bindAddress) {
    if (opts.bindAddressNoPort && kind === "tcp" && Deno.build.os === "linux") {
      sockSetInt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1, "IP_BIND_ADDRESS_NO_PORT");
    }
    sockBind(fd, { addr: opts.bindAddress, port: 0 });
  }
}

type Waiter = (() => void) | null;

const LINGER_ZERO = new Uint8Array(8); // struct linger { int l_onoff = 1; int l_linger = 0; }
new DataView(LINGER_ZERO.buffer).setInt32(0, 1, true);

/** A connected, non-blocking TCP socket registered with a reactor: the kernel-backed {@linkcode Stream}. */
export class TcpSocket implements Stream {
  /** Called when readable (or on error/hang-up) while `wantRead(true)` and no promise waits. */
  onReadable: (() => void) | null = null;
  /** Called when writable (or on error) while `wantWrite(true)` and no promise waits. */
  onWritable: (() => void) | null = null;
  /**
   * Called on an error or hang-up that nobody else consumed (no waiter, `wantRead` and
   * `wantWrite` off). epoll reports EPOLLERR/EPOLLHUP whatever the interest mask, so an owner
   * that is not reading or writing (a relay after half-close) should close the socket here;
   * otherwise the loop keeps seeing the event.
   */
  onHangup: (() => void) | null = null;
  /**
   * Called once, after `close()` released the fd: for a registry that tracks open sockets
   * (`BoundSockets`) to forget this one at once rather than holding it, and all it references,
   * until its next sweep.
   */
  onClose: (() => void) | null = null;
  #readWaiter: Waiter = null;
  #writeWaiter: Waiter = null;
  #wantRead = false;
  #wantWrite = false;
  #closed = false;
  #parked = false;

  constructor(readonly reactor: Reactor, readonly fd: number) {
    reactor.add(fd, 0, (events) => this.#handle(events));
  }

  get closed(): boolean {
    return this.#closed;
  }

  #handle(events: number): void {
    const bad = (events & (EV_ERROR | EV_HUP)) !== 0;
    if (events & (EV_READ | EV_RDHUP) || bad) {
      const w = this.#readWaiter;
      if (w) {
        this.#readWaiter = null;
        this.#updateInterest();
        w();
      } else if (this.#wantRead && this.onReadable) this.onReadable();
    }
    if (this.#closed) return;
    if (events & EV_WRITE || bad) {
      const w = this.#writeWaiter;
      if (w) {
        this.#writeWaiter = null;
        this.#updateInterest();
        w();
      } else if (this.#wantWrite && this.onWritable) this.onWritable();
    }
    if (
      bad && !this.#closed && !this.#readWaiter && !this.#writeWaiter && !this.#wantRead &&
      !this.#wantWrite
    ) {
      // Nobody is listening. epoll reports EPOLLHUP/EPOLLERR whatever the interest mask, so the
      // socket is parked (taken out of the epoll set) unless the owner acts on it now.
      this.onHangup?.();
      if (!this.#closed && !this.#wantRead && !this.#wantWrite) this.park();
    }
  }

  /**
   * Takes the socket out of the epoll set until someone wants to read or write it again: a
   * hang-up (peer closed both ways, or an error) keeps being reported otherwise, and would spin
   * the loop while the owner is not ready to read the EOF (backpressure). The hang-up is seen
   * again, as readability, when interest is set again.
   */
  park(): void {
    if (this.#closed || this.#parked) return;
    this.#parked = true;
    this.reactor.remove(this.fd);
  }

  #updateInterest(): void {
    if (this.#closed) return;
    const read = this.#wantRead || this.#readWaiter !== null;
    const write = this.#wantWrite || this.#writeWaiter !== null;
    const interest = (read ? EV_READ | EV_RDHUP : 0) | (write ? EV_WRITE : 0);
    if (this.#parked) {
      if (interest === 0) return;
      this.#parked = false;
      this.reactor.add(this.fd, interest, (events) => this.#handle(events));
      return;
    }
    this.reactor.setInterest(this.fd, interest);
  }

  /** Enables or disables `onReadable` callbacks (backpressure: disable when you cannot consume). */
  wantRead(on: boolean): void {
    if (this.#wantRead === on) return;
    this.#wantRead = on;
    this.#updateInterest();
  }

  wantWrite(on: boolean): void {
    if (this.#wantWrite === on) return;
    this.#wantWrite = on;
    this.#updateInterest();
  }

  /** Bytes read (> 0), 0 at EOF, or WOULD_BLOCK; throws SysError (e.g. ECONNRESET). */
  read(buf: Uint8Array): number {
    return fdRead(this.fd, buf);
  }

  /** Reads pending bytes without consuming them (for sniffing). */
  peek(buf: Uint8Array): number {
    return sockPeek(this.fd, buf);
  }

  /** Bytes written (≥ 0) or WOULD_BLOCK; throws SysError (e.g. EPIPE). */
  write(buf: Uint8Array): number {
    return sockSend(this.fd, buf);
  }

  /** Resolves when the socket is readable (or has an error/EOF to report). */
  readable(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`Socket fd ${this.fd} is closed`));
    return new Promise((resolve) => {
      this.#readWaiter = resolve;
      this.#updateInterest();
    });
  }

  writable(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`Socket fd ${this.fd} is closed`));
    return new Promise((resolve) => {
      this.#writeWaiter = resolve;
      this.#updateInterest();
    });
  }

  /** Reads at least one byte; resolves 0 at EOF. */
  async readSome(buf: Uint8Array): Promise<number> {
    for (;;) {
      // A socket closed while this waited (a timeout) must not be read: its fd number may
      // already belong to another socket.
      if (this.#closed) throw new SysError(`read from fd ${this.fd}`, E.EBADF);
      const n = this.read(buf);
      if (n !== WOULD_BLOCK) return n;
      await this.readable();
    }
  }

  /** Reads exactly `buf.length` bytes; throws on EOF first. */
  async readExact(buf: Uint8Array, what: string): Promise<void> {
    let off = 0;
    while (off < buf.length) {
      const n = await this.readSome(buf.subarray(off));
      if (n === 0) {
        throw new Error(`${what}: connection closed after ${off} of ${buf.length} bytes`);
      }
      off += n;
    }
  }

  /** Writes all of `buf`, waiting for writability as needed. */
  async writeAll(buf: Uint8Array): Promise<void> {
    let off = 0;
    while (off < buf.length) {
      if (this.#closed) throw new SysError(`write to fd ${this.fd}`, E.EBADF);
      const n = this.write(off === 0 ? buf : buf.subarray(off));
      if (n === WOULD_BLOCK) {
        await this.writable();
        continue;
      }
      off += n;
    }
  }

  localAddr(): SockAddr {
    return sockLocalAddr(this.fd);
  }

  peerAddr(): SockAddr {
    return sockPeerAddr(this.fd);
  }

  /** The pending socket error behind a hang-up (`SO_ERROR`), or null for a clean one. */
  hangupError(): Error | null {
    if (this.#closed) return null;
    const err = sockTakeError(this.fd);
    return err === 0 ? null : new SysError(`socket fd ${this.fd} hung up`, err);
  }

  /** Closes with a reset (`SO_LINGER` 0) instead of a FIN. */
  abort(): void {
    if (this.#closed) return;
    try {
      sockSetBytes(this.fd, SOL_SOCKET, SO_LINGER, LINGER_ZERO, "SO_LINGER");
    } catch { /* closing anyway */ }
    this.close();
  }

  /** Sends FIN after queued data (half-close). */
  shutdownWrite(): void {
    if (!this.#closed) sockShutdown(this.fd, SHUT_WR);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.reactor.remove(this.fd);
    fdClose(this.fd);
    // Wake promise waiters so handshakes fail instead of hanging.
    const r = this.#readWaiter, w = this.#writeWaiter;
    this.#readWaiter = this.#writeWaiter = null;
    r?.();
    w?.();
    this.onClose?.();
  }
}

/** Rejects with a timeout error after `ms` on the reactor's clock, running `onTimeout` first. */
export function withTimeout<T>(
  reactor: Reactor,
  promise: Promise<T>,
  ms: number,
  what: string,
  onTimeout: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = reactor.setTimeout(ms, () => {
      onTimeout();
      reject(new SysError(`${what} (after ${ms} ms)`, E.ETIMEDOUT));
    });
    promise.then((v) => {
      timer.cancel();
      resolve(v);
    }, (e) => {
      timer.cancel();
      reject(e);
    });
  });
}

/** Connects a non-blocking TCP socket to `dest` with the given options. */
export async function connectTcp(
  reactor: Reactor,
  dest: SockAddr,
  opts: SocketOptions = {},
): Promise<TcpSocket> {
  const family = dest.addr.length === 4 ? 4 : 6;
  const fd = sockCreate(family, "tcp");
  let sock: TcpSocket;
  try {
    applySocketOptions(fd, family, opts, "tcp");
    sock = new TcpSocket(reactor, fd);
  } catch (error) {
    fdClose(fd);
    throw error;
  }
  const what = `connect to ${formatSockAddr(dest)}`;
  const err = sockConnect(fd, dest);
  if (err !== 0 && err !== E.EINPROGRESS) {
    sock.close();
    throw new SysError(what, err);
  }
  if (err === E.EINPROGRESS) {
    const timeout = opts.connectTimeoutMs ?? 5000;
    try {
      await withTimeout(reactor, sock.writable(), timeout, what, () => sock.close());
    } catch (error) {
      sock.close();
      throw error;
    }
    if (sock.closed) throw new SysError(what, E.ECONNABORTED);
    const soErr = sockTakeError(fd);
    if (soErr !== 0) {
      sock.close();
      throw new SysError(what, soErr);
    }
  }
  return sock;
}

/** Creates a bound, listening, non-blocking TCP socket and returns its fd (any thread). */
export function listenTcpFd(
  local: SockAddr,
  backlog = 4096,
  /** Sets options on the socket before it is bound (a listening inbound's listen fields). */
  prepare?: (fd: number, family: 4 | 6) => void,
): number {
  const family = local.addr.length === 4 ? 4 : 6;
  const fd = sockCreate(family, "tcp");
  try {
    prepare?.(fd, family);
    sockSetInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    // "::" takes IPv4 too (as mapped addresses), as a Go/sing-box listener on "::" does; a
    // specific IPv6 address only IPv6.
    if (family === 6) {
      const dual = local.addr.every((b) => b === 0);
      sockSetInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual ? 0 : 1, "IPV6_V6ONLY");
    }
    sockBind(fd, local);
    sockListen(fd, backlog);
  } catch (error) {
    fdClose(fd);
    throw error;
  }
  return fd;
}

/** How long a listener stops accepting after running out of file descriptors. */
const LISTEN_PAUSE_MS = 200;

/** A listening TCP socket; `onAccept` receives each new connection. */
export class TcpListener {
  readonly fd: number;
  #closed = false;
  #owned = true;

  /**
   * Registers an existing listening fd (made by {@linkcode listenTcpFd}, possibly on another
   * thread and shared by several reactors). `close()` then only unregisters it: the fd's creator
   * closes it.
   */
  static adopt(reactor: Reactor, fd: number, onAccept: (sock: TcpSocket) => void): TcpListener {
    return new TcpListener(reactor, { addr: new Uint8Array(4), port: 0 }, onAccept, 0, fd);
  }

  constructor(
    readonly reactor: Reactor,
    local: SockAddr,
    readonly onAccept: (sock: TcpSocket) => void,
    backlog = 4096,
    adoptFd = -1,
    prepare?: (fd: number, family: 4 | 6) => void,
  ) {
    if (adoptFd >= 0) {
      this.fd = adoptFd;
      this.#owned = false;
      reactor.add(adoptFd, EV_READ, () => this.#acceptAll());
      return;
    }
    this.fd = listenTcpFd(local, backlog, prepare);
    reactor.add(this.fd, EV_READ, () => this.#acceptAll());
  }

  localAddr(): SockAddr {
    return sockLocalAddr(this.fd);
  }

  #acceptAll(): void {
    for (let i = 0; i < 64 && !this.#closed; i++) {
      let c: number;
      try {
        c = sockAccept(this.fd);
      } catch (error) {
        if (error instanceof SysError && (error.code === "EMFILE" || error.code === "ENFILE")) {
          this.#pause(error);
          return;
        }
        throw error;
      }
      if (c < 0) return;
      try {
        sockSetInt(c, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
      } catch { /* not fatal */ }
      this.onAccept(new TcpSocket(this.reactor, c));
    }
  }

  /**
   * Out of descriptors: pending connections stay in the kernel's backlog (level-triggered
   * readiness would otherwise spin); accepting resumes after a short pause.
   */
  #pause(error: SysError): void {
    this.reactor.setInterest(this.fd, 0);
    const now = this.reactor.now();
    if (now - this.#lastPauseLog > 10_000) {
      this.#lastPauseLog = now;
      this.onPause?.(error);
    }
    this.reactor.setTimeout(LISTEN_PAUSE_MS, () => {
      if (!this.#closed) this.reactor.setInterest(this.fd, EV_READ);
    });
  }

  /** Told (at most every 10 s) when accepting pauses for lack of file descriptors. */
  onPause: ((error: SysError) => void) | null = null;
  #lastPauseLog = -Infinity;

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.reactor.remove(this.fd);
    if (this.#owned) fdClose(this.fd);
  }
}

/** A non-blocking UDP socket registered with a reactor. */
export class UdpSocket {
  onReadable: (() => void) | null = null;
  /**
   * Called once, after `close()` released the fd: for a registry that tracks open sockets
   * (`BoundSockets`) to forget this one at once rather than holding it, and all it references,
   * until its next sweep.
   */
  onClose: (() => void) | null = null;
  #closed = false;
  readonly family: 4 | 6;

  private constructor(readonly reactor: Reactor, readonly fd: number, family: 4 | 6) {
    this.family = family;
    reactor.add(fd, EV_READ, (events) => {
      if (events & (EV_READ | EV_ERROR)) this.onReadable?.();
    });
  }

  /** Creates a UDP socket for `family`, applies options and binds (port 0 unless given). */
  static open(
    reactor: Reactor,
    family: 4 | 6,
    opts: SocketOptions = {},
    bind?: SockAddr,
  ): UdpSocket {
    const fd = sockCreate(family, "udp");
    try {
      // An explicit `bind` (address and port) replaces `opts.bindAddress`.
      const { bindAddress: _ignored, ...rest } = opts;
      applySocketOptions(fd, family, bind ? rest : opts, "udp");
      if (bind) sockBind(fd, bind);
    } catch (error) {
      fdClose(fd);
      throw error;
    }
    return new UdpSocket(reactor, fd, family);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes sent or WOULD_BLOCK. */
  sendTo(buf: Uint8Array, dest: SockAddr): number {
    return sockSendTo(this.fd, buf, dest);
  }

  /** Bytes received (the sender lands in `from`) or WOULD_BLOCK. */
  recvFrom(buf: Uint8Array, from: SockAddr): number {
    return sockRecvFrom(this.fd, buf, from);
  }

  /** Datagrams received into `batch` (one `recvmmsg` on Linux), or WOULD_BLOCK. */
  recvBatch(batch: DatagramBatch): number {
    return sockRecvBatch(this.fd, batch);
  }

  /**
   * Sends `batch`'s datagrams from index `from` (one `sendmmsg` on Linux): how many went, or
   * WOULD_BLOCK; throws a SysError naming the first one when it fails otherwise.
   */
  sendBatch(batch: DatagramBatch, from = 0): number {
    return sockSendBatch(this.fd, batch, from);
  }

  localAddr(): SockAddr {
    return sockLocalAddr(this.fd);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.reactor.remove(this.fd);
    fdClose(this.fd);
    this.onClose?.();
  }
}
