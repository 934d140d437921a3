/**
 * A reactor ICMP socket connected to one destination, for echo requests sent from this host
 * (the `direct` outbound's ping): an unprivileged datagram "ping socket" where the system allows
 * it (Linux: the process's group in `net.ipv4.ping_group_range`; macOS: always), else a raw
 * socket (root / CAP_NET_RAW). Either way a message read is the ICMP message alone (the IPv4
 * header a raw socket delivers is cut off), and `connect` makes the kernel deliver only what
 * comes from the destination.
 *
 * With a datagram socket the kernel replaces the echo identifier with the socket's own and
 * delivers only replies carrying it; with a raw socket every ICMP message from the destination
 * arrives, so the owner matches the identifier itself (see `src/outbound/direct_icmp.ts`).
 *
 * @module
 */

import { SysError } from "../../ffi/errno.ts";
import type { Reactor } from "./reactor.ts";
import { applySocketOptions, type SocketOptions } from "./socket.ts";
import {
  EV_READ,
  fdClose,
  fdRead,
  fdWrite,
  sockConnect,
  sockCreateIcmp,
  WOULD_BLOCK,
} from "./sys.ts";

/** Which kind of ICMP socket the system gave us last time, per family (tried in this order). */
const preferRaw: Record<4 | 6, boolean> = { 4: false, 6: false };

/** Messages read per readiness event. */
const READ_BUDGET = 32;

/** A connected, non-blocking ICMP socket (see the module doc). */
export class IcmpSocket {
  /** Called with each ICMP message received; the bytes are valid only during the call. */
  onMessage: ((message: Uint8Array) => void) | null = null;
  /** Called once, after `close()` released the fd (see `TcpSocket.onClose`). */
  onClose: (() => void) | null = null;
  #closed = false;
  readonly #buf = new Uint8Array(65536);

  private constructor(
    readonly reactor: Reactor,
    readonly fd: number,
    readonly family: 4 | 6,
    /** True for a raw socket (the identifier is not rewritten by the kernel). */
    readonly raw: boolean,
  ) {
    reactor.add(fd, EV_READ, () => this.#readable());
  }

  /**
   * Opens a socket to `dest` with the binding and mark of `opts`: a datagram socket first, a
   * raw one when that is not allowed (remembered per family). Throws `SysError` when neither
   * can be made.
   */
  static open(reactor: Reactor, dest: Uint8Array, opts: SocketOptions = {}): IcmpSocket {
    const family = dest.length === 4 ? 4 : 6;
    let lastError: unknown;
    for (const raw of preferRaw[family] ? [true] : [false, true]) {
      let fd: number;
      try {
        fd = sockCreateIcmp(family, raw);
      } catch (error) {
        lastError = error;
        if (
          !raw && error instanceof SysError && (error.code === "EACCES" || error.code === "EPERM")
        ) {
          preferRaw[family] = true;
          continue;
        }
        throw error;
      }
      try {
        applySocketOptions(fd, family, opts, "udp");
        const err = sockConnect(fd, { addr: dest, port: 0 });
        if (err !== 0) throw new SysError("connect ICMP socket", err);
        return new IcmpSocket(reactor, fd, family, raw);
      } catch (error) {
        fdClose(fd);
        throw error;
      }
    }
    throw lastError;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #readable(): void {
    const buf = this.#buf;
    for (let i = 0; i < READ_BUDGET && !this.#closed; i++) {
      let n: number;
      try {
        n = fdRead(this.fd, buf);
      } catch {
        // An ICMP error queued for this socket (ECONNREFUSED, EHOSTUNREACH): the request is
        // lost, which the application sees as a timeout, as it would on the real network.
        continue;
      }
      if (n === WOULD_BLOCK || n <= 0) return;
      let off = 0;
      if (this.raw && this.family === 4) {
        off = (buf[0]! & 0x0f) * 4;
        if (n < off + 8) continue;
      } else if (n < 8) continue;
      this.onMessage?.(buf.subarray(off, n));
    }
  }

  /** Sends one ICMP message; false when the socket buffer is full or the send failed. */
  send(message: Uint8Array): boolean {
    if (this.#closed) return false;
    try {
      return fdWrite(this.fd, message) !== WOULD_BLOCK;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.reactor.remove(this.fd);
    fdClose(this.fd);
    this.onClose?.();
  }
}
