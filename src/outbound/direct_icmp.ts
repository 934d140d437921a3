/**
 * ICMP echo from this host for the `direct` outbound: one {@linkcode IcmpSocket} per echo flow
 * (source, destination, identifier), bound and marked like the outbound's other sockets so it
 * never loops back into the TUN, and tracked for network changes. The application's requests
 * are sent as they came; replies get the application's identifier back:
 *
 * - datagram socket: the kernel replaces the identifier with the socket's own and delivers only
 *   replies carrying it, so every echo reply read is ours;
 * - raw socket: the identifier is replaced here by one unique in this worker, and only echo
 *   replies carrying it are taken (a raw socket sees every ICMP message from the destination).
 *
 * @module
 */

import { IcmpSocket } from "../io/icmp_socket.ts";
import {
  checksum,
  ICMPV4_ECHO_REPLY,
  ICMPV4_ECHO_REQUEST,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
} from "../wire/mod.ts";
import type { DirectDialer } from "./direct_dialer.ts";
import { type DialMeta, type IcmpFlow, toOutboundError } from "./types.ts";

/** Identifiers for raw sockets, unique per worker (wraps at 16 bits). */
let nextWireId = (Math.random() * 0xffff) | 0;

/** An echo flow through a direct dialer (see the module doc). */
export class DirectIcmpFlow implements IcmpFlow {
  onReply: ((message: Uint8Array) => void) | null = null;
  readonly #sock: IcmpSocket;
  readonly #v4: boolean;
  readonly #wireId: number;
  /** The application's identifier (from its last request). */
  #appId = 0;
  #out = new Uint8Array(0);

  constructor(dialer: DirectDialer, destination: Uint8Array, meta: DialMeta) {
    const family = destination.length === 4 ? 4 : 6;
    const opts = dialer.socketOptions(family, destination, "udp");
    try {
      this.#sock = IcmpSocket.open(dialer.ctx.reactor, destination, opts);
    } catch (error) {
      throw toOutboundError(
        error,
        `${dialer.name}: [${meta.id}] open ICMP socket`,
        "unreachable",
      );
    }
    dialer.ctx.sockets?.add(this.#sock, "udp", opts.bindInterface);
    this.#v4 = family === 4;
    nextWireId = (nextWireId + 1) & 0xffff;
    this.#wireId = nextWireId;
    this.#sock.onMessage = (m) => this.#message(m);
  }

  get closed(): boolean {
    return this.#sock.closed;
  }

  /** True when the system gave a raw socket (tests). */
  get raw(): boolean {
    return this.#sock.raw;
  }

  send(message: Uint8Array): void {
    if (message.length < 8) return;
    const type = message[0]!;
    if (type !== (this.#v4 ? ICMPV4_ECHO_REQUEST : ICMPV6_ECHO_REQUEST)) return;
    this.#appId = (message[4]! << 8) | message[5]!;
    let out = message;
    if (this.#sock.raw) {
      if (this.#out.length < message.length) this.#out = new Uint8Array(message.length);
      out = this.#out.subarray(0, message.length);
      out.set(message);
      out[4] = this.#wireId >>> 8;
      out[5] = this.#wireId;
      out[2] = 0;
      out[3] = 0;
      // ICMPv4's checksum is ours to fill on a raw socket; the kernel fills ICMPv6's.
      if (this.#v4) {
        const c = checksum(out, 0, out.length);
        out[2] = c >>> 8;
        out[3] = c;
      }
    }
    this.#sock.send(out);
  }

  #message(m: Uint8Array): void {
    if (m[0] !== (this.#v4 ? ICMPV4_ECHO_REPLY : ICMPV6_ECHO_REPLY) || m[1] !== 0) return;
    if (this.#sock.raw && ((m[4]! << 8) | m[5]!) !== this.#wireId) return;
    m[4] = this.#appId >>> 8;
    m[5] = this.#appId;
    this.onReply?.(m);
  }

  close(): void {
    this.#sock.close();
  }
}
