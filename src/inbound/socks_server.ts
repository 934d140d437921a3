/**
 * The SOCKS server side of the `socks` and `mixed` inbounds: SOCKS5 (RFC 1928) with no
 * authentication or username/password (RFC 1929), CONNECT and UDP ASSOCIATE; SOCKS4 and 4a
 * CONNECT. BIND is answered with "command not supported".
 *
 * UDP ASSOCIATE opens a UDP socket on the listen address (the address the client reached us at
 * when listening on 0.0.0.0/::) and replies with it. Datagrams are accepted only from the
 * control connection's client address; the first one becomes an
 * {@linkcode InboundPacketConnection} (its destination routes the association) and every
 * datagram is then sent through the handler's flow with its own destination; replies come back
 * wrapped in the RFC 1928 §7 header. The association ends with the control connection, the
 * flow, or `udp_timeout` of silence.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import { UdpSocket, WOULD_BLOCK } from "../io/socket.ts";
import type { Stream } from "../io/stream.ts";
import type { Timer } from "../io/timer_queue.ts";
import { readExact, withDeadline, writeAll } from "../io/handshake_io.ts";
import {
  ATYP_DOMAIN,
  CMD_CONNECT,
  CMD_UDP_ASSOCIATE,
  decodeSocksAddr,
  decodeUdpHeader,
  encodeSocksAddr,
  encodeUdpHeader,
  hex,
  kindToRep,
  METHOD_NO_AUTH,
  METHOD_NONE_ACCEPTABLE,
  METHOD_USERPASS,
  REP,
  SOCKS4,
  SOCKS4_GRANTED,
  SOCKS4_REJECTED,
  SOCKS5,
  socksAddrLength,
  socksAddrRest,
} from "../outbound/socks_wire.ts";
import {
  type Destination,
  formatDestination,
  type OutboundErrorKind,
  type UdpFlow,
} from "../outbound/types.ts";
import { formatSockAddr } from "../io/socket.ts";
import { checkUser, type ServerContext } from "./server_context.ts";
import type { AcceptedClient, InboundConnection, InboundRequest } from "./types.ts";

const log = getLogger(["tunbox", "inbound"]);
const decoder = new TextDecoder();
const ZERO_V4: SockAddr = { addr: new Uint8Array(4), port: 0 };

/** A client's request that the server could not serve. */
class ClientError extends Error {
  override name = "ClientError";
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Strips `::ffff:` from IPv4-mapped addresses so v4 and mapped forms compare equal. */
function unmapped(addr: Uint8Array): Uint8Array {
  if (addr.length !== 16) return addr;
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return addr;
  if (addr[10] !== 0xff || addr[11] !== 0xff) return addr;
  return addr.subarray(12);
}

function socks5Reply(rep: number, bound: SockAddr): Uint8Array {
  const out = new Uint8Array(3 + socksAddrLength(bound));
  out[0] = SOCKS5;
  out[1] = rep;
  out[2] = 0;
  encodeSocksAddr(bound, out, 3);
  return out;
}

/** The peer of a stream that has no socket underneath (never for listener connections). */
const UNKNOWN_PEER = { addr: new Uint8Array(4), port: 0 };

/**
 * Serves one SOCKS connection (the first byte, 4 or 5, is still unread). Resolves when the
 * request has been handed to the handler or refused.
 *
 * ```ts
 * serveSocks(accepted, ctx); // ctx: the router handler, users, timeouts (server_context.ts)
 * ```
 */
export async function serveSocks(sock: Stream, ctx: ServerContext): Promise<void> {
  const source = sock.peerAddr() ?? UNKNOWN_PEER;
  const id = ctx.nextId();
  const untrack = ctx.track(sock);
  let parsed: { version: 4 | 5; request: InboundRequest; cmd: number } | null;
  try {
    parsed = await withDeadline(
      ctx.reactor,
      sock,
      ctx.handshakeTimeoutMs,
      `SOCKS handshake from ${formatSockAddr(source)}`,
      () => readRequest(sock, ctx, id, source),
    );
  } catch (error) {
    log.debug("[{id}] inbound/{type}[{tag}]: {error}", {
      id,
      type: ctx.inboundType,
      tag: ctx.tag,
      error: String(error instanceof Error ? error.message : error),
    });
    untrack();
    sock.close();
    return;
  }
  if (!parsed) {
    untrack();
    sock.close();
    return;
  }
  const { version, request, cmd } = parsed;
  log.info("[{id}] inbound/{type}[{tag}]: {protocol} {network} from {source} to {dest}", {
    id,
    type: ctx.inboundType,
    tag: ctx.tag,
    protocol: request.protocol,
    network: request.network,
    source: formatSockAddr(source),
    dest: formatDestination(request.destination),
  });
  if (cmd === CMD_UDP_ASSOCIATE) {
    untrack();
    try {
      new UdpAssociation(sock, ctx, request);
    } catch (error) {
      log.warn("[{id}] inbound/{type}[{tag}]: UDP ASSOCIATE failed: {error}", {
        id,
        type: ctx.inboundType,
        tag: ctx.tag,
        error: String(error),
      });
      await writeAll(sock, socks5Reply(REP.GENERAL_FAILURE, ZERO_V4), "reply").catch(() => {});
      sock.close();
    }
    return;
  }
  let settled = false;
  const conn: InboundConnection = {
    request,
    accept: async (bound?: SockAddr): Promise<AcceptedClient> => {
      if (settled) throw new Error("accept/reject called twice");
      settled = true;
      untrack();
      const reply = version === 5
        ? socks5Reply(REP.SUCCEEDED, bound ?? ZERO_V4)
        : socks4Reply(SOCKS4_GRANTED, bound);
      try {
        await writeAll(sock, reply, "send SOCKS reply");
      } catch (error) {
        sock.close();
        throw error;
      }
      return { client: sock, upstreamFirst: null };
    },
    reject: (kind: OutboundErrorKind, reason?: unknown) => {
      if (settled) return;
      settled = true;
      untrack();
      log.debug("[{id}] inbound/{type}[{tag}]: rejected ({kind}): {reason}", {
        id,
        type: ctx.inboundType,
        tag: ctx.tag,
        kind,
        reason: String(reason instanceof Error ? reason.message : reason ?? ""),
      });
      const reply = version === 5
        ? socks5Reply(kindToRep(kind), ZERO_V4)
        : socks4Reply(SOCKS4_REJECTED, undefined);
      writeAll(sock, reply, "send SOCKS failure reply").catch(() => {}).finally(() => sock.close());
    },
  };
  ctx.handler.onConnection(conn);
}

function socks4Reply(code: number, bound: SockAddr | undefined): Uint8Array {
  const out = new Uint8Array(8);
  out[1] = code;
  if (bound && bound.addr.length === 4) {
    out[2] = bound.port >> 8;
    out[3] = bound.port & 0xff;
    out.set(bound.addr, 4);
  }
  return out;
}

/** Reads the greeting, authentication and request; null when the client was refused. */
async function readRequest(
  sock: Stream,
  ctx: ServerContext,
  id: number,
  source: SockAddr,
): Promise<{ version: 4 | 5; request: InboundRequest; cmd: number } | null> {
  const one = new Uint8Array(1);
  await readExact(sock, one, "read SOCKS version");
  const base = {
    id,
    inbound: ctx.tag,
    inboundType: ctx.inboundType,
    source,
  };
  if (one[0] === SOCKS4) return await readSocks4(sock, ctx, base);
  if (one[0] !== SOCKS5) throw new ClientError(`unknown SOCKS version byte 0x${hex(one[0])}`);
  // Greeting: NMETHODS METHODS...
  await readExact(sock, one, "read SOCKS5 method count");
  const methods = new Uint8Array(one[0]!);
  await readExact(sock, methods, "read SOCKS5 methods");
  const wanted = ctx.users.length > 0 ? METHOD_USERPASS : METHOD_NO_AUTH;
  if (!methods.includes(wanted)) {
    await writeAll(sock, new Uint8Array([SOCKS5, METHOD_NONE_ACCEPTABLE]), "refuse methods");
    throw new ClientError(
      `client offered methods [${[...methods].map(hex).join(",")}], needed 0x${hex(wanted)}`,
    );
  }
  await writeAll(sock, new Uint8Array([SOCKS5, wanted]), "select method");
  let user = "";
  if (wanted === METHOD_USERPASS) {
    const head = new Uint8Array(2);
    await readExact(sock, head, "read RFC 1929 header");
    const name = new Uint8Array(head[1]!);
    await readExact(sock, name, "read user name");
    await readExact(sock, one, "read password length");
    const pass = new Uint8Array(one[0]!);
    await readExact(sock, pass, "read password");
    user = decoder.decode(name);
    const ok = checkUser(ctx.users, user, decoder.decode(pass));
    await writeAll(sock, new Uint8Array([1, ok ? 0 : 1]), "send authentication status");
    if (!ok) throw new ClientError(`authentication failed for user "${user}"`);
  }
  // Request: VER CMD RSV ATYP (+ first address byte).
  const req = new Uint8Array(4 + 1 + 255 + 2);
  await readExact(sock, req.subarray(0, 5), "read SOCKS5 request");
  if (req[0] !== SOCKS5) throw new ClientError(`request version byte 0x${hex(req[0])}`);
  const cmd = req[1]!;
  const atyp = req[3]!;
  let dest: Destination;
  try {
    const rest = socksAddrRest(atyp, req[4]!) - (atyp === ATYP_DOMAIN ? 0 : 1);
    if (atyp !== 1 && atyp !== 3 && atyp !== 4) throw new SyntaxError("bad ATYP");
    await readExact(sock, req.subarray(5, 5 + rest), "read SOCKS5 request address");
    dest = decodeSocksAddr(req, 3, 5 + rest)!.dest;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    await writeAll(sock, socks5Reply(REP.ADDRESS_TYPE_NOT_SUPPORTED, ZERO_V4), "reply");
    throw new ClientError(`unknown address type 0x${hex(atyp)}`);
  }
  if (cmd !== CMD_CONNECT && cmd !== CMD_UDP_ASSOCIATE) {
    await writeAll(sock, socks5Reply(REP.COMMAND_NOT_SUPPORTED, ZERO_V4), "reply");
    throw new ClientError(`command 0x${hex(cmd)} not supported`);
  }
  return {
    version: 5,
    cmd,
    request: {
      ...base,
      network: cmd === CMD_CONNECT ? "tcp" : "udp",
      destination: dest,
      user,
      protocol: "socks5",
    },
  };
}

async function readZeroTerminated(sock: Stream, what: string): Promise<string> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  for (;;) {
    await readExact(sock, one, what);
    if (one[0] === 0) return decoder.decode(new Uint8Array(bytes));
    if (bytes.length >= 255) throw new ClientError(`${what}: longer than 255 bytes`);
    bytes.push(one[0]!);
  }
}

async function readSocks4(
  sock: Stream,
  ctx: ServerContext,
  base: Pick<InboundRequest, "id" | "inbound" | "inboundType" | "source">,
): Promise<{ version: 4; request: InboundRequest; cmd: number } | null> {
  const head = new Uint8Array(7); // CD DSTPORT(2) DSTIP(4)
  await readExact(sock, head, "read SOCKS4 request");
  const userId = await readZeroTerminated(sock, "read SOCKS4 user id");
  const port = (head[1]! << 8) | head[2]!;
  const ip = head.slice(3, 7);
  const is4a = ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0;
  const dest: Destination = is4a
    ? { domain: await readZeroTerminated(sock, "read SOCKS4a domain"), port }
    : { addr: ip, port };
  if (head[0] !== CMD_CONNECT) {
    await writeAll(sock, socks4Reply(SOCKS4_REJECTED, undefined), "reply");
    throw new ClientError(`SOCKS4 command 0x${hex(head[0])} not supported`);
  }
  if (ctx.users.length > 0 && !ctx.users.some((u) => u.username === userId)) {
    await writeAll(sock, socks4Reply(SOCKS4_REJECTED, undefined), "reply");
    throw new ClientError(`SOCKS4 user id "${userId}" is not a configured user`);
  }
  return {
    version: 4,
    cmd: CMD_CONNECT,
    request: {
      ...base,
      network: "tcp",
      destination: dest,
      user: userId,
      protocol: is4a ? "socks4a" : "socks4",
    },
  };
}

const MAX_QUEUED = 64;
const MAX_DATAGRAM = 65535;

/** One UDP ASSOCIATE: the control connection, the relay socket, and the handler's flow. */
class UdpAssociation {
  #udp: UdpSocket;
  #client: SockAddr | null = null;
  #clientHost: Uint8Array;
  #flow: UdpFlow | null = null;
  #state: "new" | "pending" | "active" | "closed" = "new";
  #queue: { payload: Uint8Array; dest: Destination }[] = [];
  #buf = new Uint8Array(MAX_DATAGRAM);
  #out = new Uint8Array(MAX_DATAGRAM + 3 + 1 + 1 + 255 + 2);
  #from: SockAddr = { addr: new Uint8Array(4), port: 0 };
  #timer: Timer | null = null;
  #last: number;
  #untrack: () => void;

  constructor(
    readonly control: Stream,
    readonly ctx: ServerContext,
    readonly request: InboundRequest,
  ) {
    const local = control.localAddr() ?? { addr: new Uint8Array(ctx.listen.length), port: 0 };
    const unspecified = ctx.listen.every((b) => b === 0);
    const bindAddr = unspecified ? local.addr : ctx.listen;
    this.#clientHost = unmapped(request.source.addr);
    this.#udp = UdpSocket.open(ctx.reactor, bindAddr.length === 4 ? 4 : 6, {}, {
      addr: bindAddr,
      port: 0,
    });
    this.#last = ctx.reactor.now();
    this.#untrack = ctx.track(this);
    const bound = this.#udp.localAddr();
    this.#udp.onReadable = () => this.#receive();
    const scratch = new Uint8Array(256);
    control.onReadable = () => {
      let n: number;
      try {
        n = control.read(scratch);
      } catch {
        n = 0;
      }
      if (n === 0) this.close("control connection closed");
    };
    control.onHangup = () => this.close("control connection failed");
    writeAll(control, socks5Reply(REP.SUCCEEDED, bound), "send UDP ASSOCIATE reply").then(
      () => control.wantRead(true),
      () => this.close("client went away before the reply"),
    );
    this.#armTimer(ctx.udpTimeoutMs);
    log.debug("[{id}] inbound/{type}[{tag}]: UDP relay on {addr}", {
      id: request.id,
      type: ctx.inboundType,
      tag: ctx.tag,
      addr: formatSockAddr(bound),
    });
  }

  #armTimer(ms: number): void {
    this.#timer = this.ctx.reactor.setTimeout(ms, () => {
      if (this.#state === "closed") return;
      const idle = this.ctx.reactor.now() - this.#last;
      if (idle >= this.ctx.udpTimeoutMs) this.close("idle timeout");
      else this.#armTimer(this.ctx.udpTimeoutMs - idle);
    });
  }

  #receive(): void {
    const buf = this.#buf, from = this.#from;
    for (let i = 0; i < 64 && this.#state !== "closed"; i++) {
      let n: number;
      try {
        n = this.#udp.recvFrom(buf, from);
      } catch {
        return;
      }
      if (n === WOULD_BLOCK) return;
      if (!bytesEqual(unmapped(from.addr), this.#clientHost)) continue; // not our client
      if (this.#client === null) this.#client = { addr: from.addr, port: from.port };
      else if (this.#client.port !== from.port || !bytesEqual(this.#client.addr, from.addr)) {
        continue; // another socket of the same host
      }
      const header = decodeUdpHeader(buf, n);
      if (!header || header.frag !== 0) continue;
      this.#last = this.ctx.reactor.now();
      const payload = buf.subarray(header.payloadOffset, n);
      if (this.#state === "active") {
        this.#flow!.send(payload, header.dest);
      } else if (this.#queue.length < MAX_QUEUED) {
        this.#queue.push({ payload: payload.slice(), dest: header.dest });
        if (this.#state === "new") this.#open(header.dest);
      }
    }
  }

  #open(dest: Destination): void {
    this.#state = "pending";
    const request: InboundRequest = { ...this.request, destination: dest };
    let settled = false;
    this.ctx.handler.onPacketConnection({
      request,
      accept: (flow: UdpFlow) => {
        if (settled) return;
        settled = true;
        if (this.#state === "closed") {
          flow.close();
          return;
        }
        this.#flow = flow;
        this.#state = "active";
        flow.onPacket = (payload, from) => this.#reply(payload, from);
        flow.onClose = (reason) =>
          this.close(`upstream ended${reason ? `: ${reason.message}` : ""}`);
        for (const p of this.#queue) flow.send(p.payload, p.dest);
        this.#queue = [];
      },
      reject: (kind: OutboundErrorKind, reason?: unknown) => {
        if (settled) return;
        settled = true;
        this.close(
          `rejected (${kind}): ${reason instanceof Error ? reason.message : reason ?? ""}`,
        );
      },
    });
  }

  #reply(payload: Uint8Array, from: Destination): void {
    const client = this.#client;
    if (!client || this.#state === "closed") return;
    this.#last = this.ctx.reactor.now();
    const off = encodeUdpHeader(from, this.#out);
    if (off + payload.length > MAX_DATAGRAM) return;
    this.#out.set(payload, off);
    try {
      this.#udp.sendTo(this.#out.subarray(0, off + payload.length), client);
    } catch { /* client gone: the control connection will tell */ }
  }

  close(reason = "closed"): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#untrack();
    this.#timer?.cancel();
    log.debug("[{id}] inbound/{type}[{tag}]: UDP association ended: {reason}", {
      id: this.request.id,
      type: this.ctx.inboundType,
      tag: this.ctx.tag,
      reason,
    });
    this.#udp.close();
    this.control.onReadable = this.control.onHangup = null;
    this.control.close();
    const flow = this.#flow;
    this.#flow = null;
    if (flow) {
      flow.onPacket = flow.onClose = null;
      flow.close();
    }
    this.#queue = [];
  }
}
