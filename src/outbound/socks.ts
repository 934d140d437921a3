/**
 * The `socks` outbound: a SOCKS5 (RFC 1928, RFC 1929 username/password) and SOCKS4/4a client.
 *
 * - TCP: CONNECT with an IPv4, IPv6 or domain address; the reply's variable-length BND.ADDR is
 *   read completely so nothing of it leaks into the tunnel. Failure replies map to
 *   {@linkcode OutboundError} kinds (0x02 → blocked, 0x03/0x04 → unreachable, 0x05 → refused,
 *   0x06 → timeout, other → protocol). The whole handshake is bounded by `connect_timeout`.
 * - UDP (SOCKS5 only): UDP ASSOCIATE over a control connection; datagrams go to the relay
 *   address the server returns (its own address when it answers 0.0.0.0/::, as sing-box PR#974),
 *   wrapped in the RFC 1928 §7 header; fragments are dropped; the association ends when the
 *   control connection closes.
 * - `udp_over_tcp` is sing-box's own protocol, which V2Ray/Xray servers do not speak: rejected at
 *   config time.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { SysError } from "../../ffi/errno.ts";
import type { SocksOutboundOptions } from "../config/types.ts";
import { type Stream, WOULD_BLOCK } from "../io/stream.ts";
import { parseIp } from "../net/ip.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS, resolveDestination } from "./direct_dialer.ts";
import { readExact, withDeadline, writeAll } from "../io/handshake_io.ts";
import type { OutboundEnv } from "./registry.ts";
import { ServerHealth } from "./server_health.ts";
import {
  ATYP_DOMAIN,
  ATYP_IPV4,
  ATYP_IPV6,
  CMD_CONNECT,
  CMD_UDP_ASSOCIATE,
  decodeSocksAddr,
  decodeUdpHeader,
  describeRep,
  encodeSocks4Request,
  encodeSocksAddr,
  encodeUdpHeader,
  hex,
  METHOD_NO_AUTH,
  METHOD_NONE_ACCEPTABLE,
  METHOD_USERPASS,
  repToKind,
  SOCKS4_GRANTED,
  SOCKS5,
  socksAddrLength,
  socksAddrRest,
} from "./socks_wire.ts";
import {
  type Destination,
  type DialContext,
  type Dialer,
  type DialMeta,
  formatDestination,
  type Outbound,
  OutboundError,
  toOutboundError,
  type UdpFlow,
} from "./types.ts";

import { isSupported, verdict } from "../config/support.ts";

const log = getLogger(["tunbox", "outbound"]);
const encoder = new TextEncoder();

/** The config-time message for `udp_over_tcp` (its verdict, which `check` reports). */
export const UDP_OVER_TCP_UNSUPPORTED = verdict("outbound.socks.udp_over_tcp").message;

/** A SOCKS proxy client. */
export class SocksOutbound implements Outbound {
  readonly type = "socks";
  readonly networks: ReadonlySet<"tcp" | "udp">;
  readonly version: "4" | "4a" | "5";
  readonly server: Destination;
  readonly name: string;
  readonly #dialer: Dialer;
  readonly #ctx: DialContext;
  readonly #timeoutMs: number;
  readonly #health: ServerHealth;
  readonly #viaDetour: boolean;
  readonly #user: Uint8Array | null;
  readonly #pass: Uint8Array | null;
  readonly #userId: string;

  constructor(readonly tag: string, options: SocksOutboundOptions, env: OutboundEnv) {
    this.name = `socks outbound "${tag}"`;
    if (options.udp_over_tcp?.enabled && !isSupported("outbound.socks.udp_over_tcp")) {
      throw new TypeError(UDP_OVER_TCP_UNSUPPORTED);
    }
    this.version = options.version ?? "5";
    if (this.version !== "5" && options.network === "udp") {
      throw new TypeError(`network "udp" needs SOCKS version 5 (version is "${this.version}")`);
    }
    this.networks = new Set(
      options.network ? [options.network] : this.version === "5" ? ["tcp", "udp"] : ["tcp"],
    );
    const addr = parseIp(options.server);
    this.server = addr
      ? { addr, port: options.server_port }
      : { domain: options.server, port: options.server_port };
    this.#user = options.username !== undefined ? encoder.encode(options.username) : null;
    this.#pass = this.#user ? encoder.encode(options.password ?? "") : null;
    if (this.#user && this.#pass && (this.#user.length > 255 || this.#pass.length > 255)) {
      throw new RangeError("username and password must each be at most 255 bytes (RFC 1929)");
    }
    this.#userId = options.username ?? "";
    this.#dialer = env.dialer(this.name, options);
    this.#viaDetour = options.detour !== undefined;
    this.#ctx = env.ctx;
    this.#timeoutMs = options.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#health = new ServerHealth(this.name, formatDestination(this.server));
  }

  async #connectServer(meta: DialMeta): Promise<Stream> {
    try {
      const sock = await this.#dialer.dialTcp(this.server, meta);
      this.#health.ok();
      return sock;
    } catch (error) {
      const e = toOutboundError(
        error,
        `${this.name}: connect to server ${formatDestination(this.server)}`,
        "refused",
      );
      this.#health.failed(e);
      throw e;
    }
  }

  /** Runs `step` on a fresh server connection within the handshake deadline. */
  async #handshake<T>(
    meta: DialMeta,
    what: string,
    step: (sock: Stream) => Promise<T>,
  ): Promise<{ sock: Stream; result: T }> {
    const sock = await this.#connectServer(meta);
    try {
      const result = await withDeadline(
        this.#ctx.reactor,
        sock,
        this.#timeoutMs,
        `${what} handshake with ${formatDestination(this.server)}`,
        () => step(sock),
      );
      return { sock, result };
    } catch (error) {
      sock.close();
      throw toOutboundError(error, `${this.name}: ${what}`);
    }
  }

  async dialTcp(dest: Destination, meta: DialMeta): Promise<Stream> {
    if (!this.networks.has("tcp")) {
      throw new OutboundError("blocked", `${this.name}: TCP is disabled (network is "udp")`);
    }
    const what = `CONNECT ${formatDestination(dest)}`;
    if (this.version === "5") {
      const { sock } = await this.#handshake(meta, what, (s) => this.#socks5(s, CMD_CONNECT, dest));
      return sock;
    }
    let target = dest;
    if (dest.addr?.length === 16) {
      throw new OutboundError(
        "unreachable",
        `${this.name}: ${what}: SOCKS${this.version} cannot carry an IPv6 destination`,
      );
    }
    if (!dest.addr && this.version === "4") {
      // SOCKS4 carries IPv4 only: resolve here (SOCKS4a would let the server resolve).
      const addrs = await resolveDestination(dest, this.#ctx, "ipv4_only", `${this.name}: ${what}`);
      target = { addr: addrs[0]!, port: dest.port };
    }
    const { sock } = await this.#handshake(meta, what, (s) => this.#socks4(s, target));
    return sock;
  }

  async openUdp(meta: DialMeta): Promise<UdpFlow> {
    if (this.version !== "5") {
      throw new OutboundError("protocol", `${this.name}: SOCKS${this.version} has no UDP`);
    }
    if (!this.networks.has("udp")) {
      throw new OutboundError("blocked", `${this.name}: UDP is disabled (network is "tcp")`);
    }
    const request: Destination = { addr: new Uint8Array(4), port: 0 };
    const { sock, result: bound } = await this.#handshake(
      meta,
      "UDP ASSOCIATE",
      (s) => this.#socks5(s, CMD_UDP_ASSOCIATE, request),
    );
    let relay: Destination = bound;
    if (bound.addr && bound.addr.every((b) => b === 0)) {
      // The server answered 0.0.0.0/:: ("my address"): use the address we reached it at.
      const peer = this.#viaDetour ? null : sock.peerAddr();
      relay = peer ? { addr: peer.addr, port: bound.port } : { ...this.server, port: bound.port };
    }
    let inner: UdpFlow;
    try {
      inner = await this.#dialer.openUdp(meta);
    } catch (error) {
      sock.close();
      throw toOutboundError(error, `${this.name}: open UDP socket`);
    }
    log.debug("[{id}] {name}: UDP ASSOCIATE relay {relay}", {
      id: meta.id,
      name: this.name,
      relay: formatDestination(relay),
    });
    return new SocksUdpFlow(this.name, sock, inner, relay);
  }

  /** Greeting, optional RFC 1929 authentication, request; returns BND.ADDR:BND.PORT. */
  async #socks5(sock: Stream, cmd: number, dest: Destination): Promise<Destination> {
    const user = this.#user, pass = this.#pass;
    await writeAll(
      sock,
      user
        ? new Uint8Array([SOCKS5, 2, METHOD_NO_AUTH, METHOD_USERPASS])
        : new Uint8Array([SOCKS5, 1, METHOD_NO_AUTH]),
      "send SOCKS5 greeting",
    );
    const head = new Uint8Array(2);
    await readExact(sock, head, "read SOCKS5 method selection");
    if (head[0] !== SOCKS5) {
      throw new OutboundError(
        "protocol",
        `server answered the greeting with version byte 0x${hex(head[0])}, expected 0x05`,
      );
    }
    const method = head[1]!;
    if (method === METHOD_USERPASS) {
      if (!user || !pass) {
        throw new OutboundError(
          "auth",
          "server requires username/password authentication, but no username is configured",
        );
      }
      const msg = new Uint8Array(3 + user.length + pass.length);
      msg[0] = 1;
      msg[1] = user.length;
      msg.set(user, 2);
      msg[2 + user.length] = pass.length;
      msg.set(pass, 3 + user.length);
      await writeAll(sock, msg, "send SOCKS5 username/password");
      try {
        await readExact(sock, head, "read SOCKS5 authentication status");
      } catch (error) {
        // V2Ray closes the connection instead of answering a failure status.
        if (!(error instanceof SysError)) throw error;
        throw new OutboundError(
          "auth",
          `server closed the connection after username/password (${error.message})`,
          { cause: error },
        );
      }
      if (head[1] !== 0) {
        throw new OutboundError(
          "auth",
          `server rejected username/password (status 0x${hex(head[1])})`,
        );
      }
    } else if (method === METHOD_NONE_ACCEPTABLE) {
      throw new OutboundError(
        "auth",
        `server accepted none of the offered methods (${
          user ? "none, username/password" : "none"
        })`,
      );
    } else if (method !== METHOD_NO_AUTH) {
      throw new OutboundError(
        "protocol",
        `server selected method 0x${hex(method)}, which was not offered`,
      );
    }
    const req = new Uint8Array(3 + socksAddrLength(dest));
    req[0] = SOCKS5;
    req[1] = cmd;
    req[2] = 0;
    encodeSocksAddr(dest, req, 3);
    await writeAll(sock, req, "send SOCKS5 request");
    const reply = new Uint8Array(4 + 1 + 255 + 2);
    await readExact(sock, reply.subarray(0, 5), "read SOCKS5 reply");
    if (reply[0] !== SOCKS5) {
      throw new OutboundError(
        "protocol",
        `server replied with version byte 0x${hex(reply[0])}, expected 0x05`,
      );
    }
    const rep = reply[1]!;
    if (rep !== 0) {
      throw new OutboundError(repToKind(rep), `server replied ${describeRep(rep)}`);
    }
    const atyp = reply[3]!;
    if (atyp !== ATYP_IPV4 && atyp !== ATYP_IPV6 && atyp !== ATYP_DOMAIN) {
      throw new OutboundError(
        "protocol",
        `server replied with unknown address type 0x${hex(atyp)}`,
      );
    }
    // reply[4] is the first address byte, or the domain length.
    const rest = socksAddrRest(atyp, reply[4]!) - (atyp === ATYP_DOMAIN ? 0 : 1);
    await readExact(sock, reply.subarray(5, 5 + rest), "read SOCKS5 reply address");
    const bound = decodeSocksAddr(reply, 3, 5 + rest);
    if (!bound) throw new OutboundError("protocol", "server sent a truncated reply address");
    return bound.dest;
  }

  async #socks4(sock: Stream, dest: Destination): Promise<void> {
    const request = encodeSocks4Request(dest, this.#userId);
    await writeAll(sock, request, `send SOCKS${this.version} request`);
    const reply = new Uint8Array(8);
    await readExact(sock, reply, `read SOCKS${this.version} reply`);
    if (reply[0] !== 0 && reply[0] !== 4) {
      throw new OutboundError(
        "protocol",
        `server replied with version byte 0x${hex(reply[0])}, expected 0x00`,
      );
    }
    const cd = reply[1]!;
    if (cd === SOCKS4_GRANTED) return;
    if (cd >= 0x5b && cd <= 0x5d) {
      throw new OutboundError("refused", `server rejected the request (code 0x${hex(cd)})`);
    }
    throw new OutboundError("protocol", `server replied with unknown code 0x${hex(cd)}`);
  }

  close(): void {}
}

const MAX_UDP = 65535;

/**
 * A SOCKS5 UDP association: wraps each datagram for the relay and unwraps replies. Owns the
 * control connection and the inner (usually direct) UDP flow.
 */
export class SocksUdpFlow implements UdpFlow {
  onPacket: ((payload: Uint8Array, from: Destination) => void) | null = null;
  onClose: ((reason?: Error) => void) | null = null;
  #dropped = 0;
  #out = new Uint8Array(MAX_UDP + 3 + 1 + 1 + 255 + 2);
  #closed = false;

  constructor(
    readonly name: string,
    readonly control: Stream,
    readonly inner: UdpFlow,
    /** Where wrapped datagrams go. */
    readonly relay: Destination,
  ) {
    const scratch = new Uint8Array(512);
    control.onReadable = () => {
      let n: number;
      try {
        n = control.read(scratch);
      } catch (error) {
        this.#end(toOutboundError(error, `${name}: UDP association control connection`, "refused"));
        return;
      }
      if (n === WOULD_BLOCK) return;
      if (n === 0) {
        this.#end(
          new OutboundError(
            "refused",
            `${name}: UDP association ended: server closed the control connection`,
          ),
        );
      }
      // Anything else on the control connection has no meaning after the reply: ignore it.
    };
    control.wantRead(true);
    inner.onPacket = (data, from) => this.#receive(data, from);
    inner.onClose = (reason) => this.#end(reason);
  }

  get dropped(): number {
    return this.#dropped + this.inner.dropped;
  }

  #receive(data: Uint8Array, from: Destination): void {
    const relay = this.relay;
    if (relay.addr && from.addr && (from.port !== relay.port || !sameAddr(from.addr, relay.addr))) {
      this.#dropped++; // not from the relay
      return;
    }
    const header = decodeUdpHeader(data, data.length);
    if (!header || header.frag !== 0) {
      this.#dropped++; // malformed, or a fragment (not supported, as in sing-box)
      return;
    }
    this.onPacket?.(data.subarray(header.payloadOffset), header.dest);
  }

  send(payload: Uint8Array, dest: Destination): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    let off: number;
    try {
      off = encodeUdpHeader(dest, this.#out);
    } catch {
      this.#dropped++;
      return;
    }
    if (off + payload.length > MAX_UDP) {
      this.#dropped++;
      return;
    }
    this.#out.set(payload, off);
    this.inner.send(this.#out.subarray(0, off + payload.length), this.relay);
  }

  #end(reason?: Error): void {
    if (this.#closed) return;
    this.close();
    this.onClose?.(reason);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.control.close();
    this.inner.onPacket = null;
    this.inner.onClose = null;
    this.inner.close();
  }
}

function sameAddr(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Registry factory for `socks`. */
export function createSocksOutbound(options: SocksOutboundOptions, env: OutboundEnv): Outbound {
  return new SocksOutbound(options.tag, options, env);
}
