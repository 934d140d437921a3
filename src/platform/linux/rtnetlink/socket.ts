/**
 * An rtnetlink client over `socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE)` made
 * through FFI: requests with ACK, dumps, and link/address/route/rule operations.
 *
 * Every call is synchronous: the kernel answers rtnetlink requests at once, and a receive
 * timeout (SO_RCVTIMEO, 5 s) bounds every wait so nothing can hang. A socket belongs to the
 * network namespace of the thread that created it.
 *
 * Messages are composed by the pure encoders in `encode.ts` and read by the decoders in
 * `decode.ts`; the objects are in `types.ts`.
 *
 * @module
 */

import { linuxErrno, linuxLibc } from "../../../../ffi/linux/libc.ts";
import { E, SysError } from "../../../../ffi/errno.ts";
import {
  AF_NETLINK,
  AF_UNSPEC,
  attrString,
  buildMessage,
  decodeNlMsgErr,
  encodeFibRuleHdr,
  encodeIfAddrMsg,
  encodeIfInfoMsg,
  encodeRtMsg,
  encodeSockaddrNl,
  IFLA_IFNAME,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NETLINK_ROUTE,
  type NetlinkMessage,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  parseMessages,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_DELRULE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_GETRULE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTM_NEWRULE,
  SOCKADDR_NL_SIZE,
  SOL_NETLINK,
} from "../../../../ffi/linux/netlink.ts";
import {
  MSG_DONTWAIT,
  SO_RCVBUF,
  SO_RCVTIMEO,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOL_SOCKET,
  TIMEVAL_SIZE,
} from "../../../../ffi/linux/constants.ts";
import { formatPrefix, type Prefix } from "../../../net/ip.ts";
import {
  type AddressInfo,
  describeRoute,
  type LinkInfo,
  type RequestBody,
  type RouteInfo,
  type RouteSpec,
  type RuleInfo,
  type RuleSpec,
} from "./types.ts";
import {
  encodeAddress,
  encodeLinkChange,
  encodeLinkNamespace,
  encodeRoute,
  encodeRule,
  encodeRuleDeleteByPriority,
  encodeVethCreate,
  familyCode,
} from "./encode.ts";
import { decodeAddress, decodeLink, decodeRoute, decodeRule } from "./decode.ts";

/**
 * A failed netlink request: names the action, the errno and, when the kernel sent an extended
 * ack, its explanation: `add route 0.0.0.0/0 table 2022 dev tun0 failed: EEXIST (File exists)`.
 */
export class NetlinkError extends SysError {
  override name = "NetlinkError";
  /** NLMSGERR_ATTR_MSG, when present. */
  readonly kernelMessage: string | undefined;
  constructor(action: string, errno: number, kernelMessage?: string) {
    super(action, errno);
    this.kernelMessage = kernelMessage;
    if (kernelMessage) this.message = `${this.message}: ${kernelMessage}`;
  }
}

/** Options for {@linkcode RtNetlink}. */
export interface RtNetlinkOptions {
  /** Multicast groups (RTMGRP_* bitmask) to join; 0 for a request socket. */
  groups?: number;
  /** Receive timeout for requests, milliseconds (default 5000). */
  timeoutMs?: number;
  /** Make the socket non-blocking (for event monitors driven by poll). */
  nonblocking?: boolean;
  /** SO_RCVBUF in bytes (default 1 MiB for a socket with groups, the system default otherwise). */
  receiveBufferBytes?: number;
}

const RECV_BUFFER_SIZE = 64 * 1024;

/** An rtnetlink socket. Close it with {@linkcode RtNetlink.close} (or `using`). */
export class RtNetlink implements Disposable {
  /** The socket fd (for poll). */
  readonly fd: number;
  #seq: number;
  #buf = new Uint8Array(RECV_BUFFER_SIZE);
  #closed = false;

  constructor(options: RtNetlinkOptions = {}) {
    const libc = linuxLibc();
    const type = SOCK_RAW | SOCK_CLOEXEC | (options.nonblocking ? SOCK_NONBLOCK : 0);
    const fd = libc.socket(AF_NETLINK, type, NETLINK_ROUTE);
    if (fd < 0) throw new SysError("open netlink socket (AF_NETLINK, NETLINK_ROUTE)", linuxErrno());
    this.fd = fd;
    try {
      const one = new Int32Array([1]);
      const oneBytes = new Uint8Array(one.buffer);
      // Best effort: extended ack messages and capped acks (kernel ≥ 4.12 / 4.3).
      libc.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, oneBytes, 4);
      libc.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, oneBytes, 4);
      const rcvbuf = options.receiveBufferBytes ?? (options.groups ? 1 << 20 : undefined);
      if (rcvbuf !== undefined) {
        const size = new Int32Array([rcvbuf]);
        libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, new Uint8Array(size.buffer), 4);
      }
      const tv = new BigInt64Array(2);
      const ms = options.timeoutMs ?? 5000;
      tv[0] = BigInt(Math.floor(ms / 1000));
      tv[1] = BigInt((ms % 1000) * 1000);
      if (
        libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, new Uint8Array(tv.buffer), TIMEVAL_SIZE) < 0
      ) {
        throw new SysError("set SO_RCVTIMEO on netlink socket", linuxErrno());
      }
      const sa = encodeSockaddrNl(0, options.groups ?? 0);
      if (libc.bind(fd, sa, SOCKADDR_NL_SIZE) < 0) {
        throw new SysError(
          `bind netlink socket (groups 0x${(options.groups ?? 0).toString(16)})`,
          linuxErrno(),
        );
      }
    } catch (e) {
      libc.close(fd);
      throw e;
    }
    this.#seq = Math.floor(Math.random() * 0x3fffffff) + 1;
  }

  /** Closes the socket (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    linuxLibc().close(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #send(msg: Uint8Array, action: string): void {
    const libc = linuxLibc();
    const to = encodeSockaddrNl(0, 0);
    for (;;) {
      const n = Number(libc.sendto(this.fd, msg, BigInt(msg.byteLength), 0, to, SOCKADDR_NL_SIZE));
      if (n >= 0) return;
      const errno = linuxErrno();
      if (errno === E.EINTR) continue;
      throw new SysError(`${action}: send netlink request`, errno);
    }
  }

  /** Receives one datagram; returns its messages (views into the receive buffer). */
  #recv(action: string, flags = 0): NetlinkMessage[] | null {
    const libc = linuxLibc();
    for (;;) {
      const n = Number(libc.recv(this.fd, this.#buf, BigInt(this.#buf.byteLength), flags));
      if (n >= 0) return parseMessages(this.#buf, n);
      const errno = linuxErrno();
      if (errno === E.EINTR) continue;
      if (errno === E.EAGAIN) {
        if (flags & MSG_DONTWAIT) return null;
        throw new SysError(`${action}: no netlink answer within the timeout`, E.ETIMEDOUT);
      }
      throw new SysError(`${action}: receive netlink answer`, errno);
    }
  }

  /**
   * Receives pending multicast messages without waiting; null when none. Throws SysError with
   * code "ENOBUFS" when the kernel dropped events (the caller must resync).
   */
  receiveEvents(): NetlinkMessage[] | null {
    const msgs = this.#recv("receive netlink events", MSG_DONTWAIT);
    return msgs?.map(copyMessage) ?? null;
  }

  /**
   * Sends a request with NLM_F_ACK and waits for its ACK. Messages that arrive before the ACK
   * with the same sequence number (e.g. an echo or a GET reply) are returned (copied).
   * Throws {@linkcode NetlinkError} naming `action` when the kernel refuses.
   */
  request(type: number, flags: number, req: RequestBody, action: string): NetlinkMessage[] {
    const seq = this.#nextSeq();
    const msg = buildMessage(
      { type, flags: flags | NLM_F_REQUEST | NLM_F_ACK, seq, pid: 0 },
      req.body,
      req.attrs,
    );
    this.#send(msg, action);
    const replies: NetlinkMessage[] = [];
    for (;;) {
      const msgs = this.#recv(action)!;
      for (const m of msgs) {
        if (m.header.seq !== seq) continue;
        if (m.header.type === NLMSG_ERROR) {
          const err = decodeNlMsgErr(m.payload, m.header.flags);
          if (err.errno !== 0) throw new NetlinkError(action, err.errno, err.message);
          return replies;
        }
        if (m.header.type === NLMSG_NOOP) continue;
        replies.push(copyMessage(m));
      }
    }
  }

  /**
   * Sends a dump request (NLM_F_DUMP) and collects every reply until NLMSG_DONE, across as many
   * datagrams as the kernel sends. Retries (up to 5 times) when the dump was interrupted by a
   * concurrent change (NLM_F_DUMP_INTR).
   */
  dump(type: number, req: RequestBody, action: string): NetlinkMessage[] {
    for (let attempt = 0;; attempt++) {
      const seq = this.#nextSeq();
      const msg = buildMessage(
        { type, flags: NLM_F_REQUEST | NLM_F_DUMP, seq, pid: 0 },
        req.body,
        req.attrs,
      );
      this.#send(msg, action);
      const out: NetlinkMessage[] = [];
      let interrupted = false;
      let done = false;
      while (!done) {
        for (const m of this.#recv(action)!) {
          if (m.header.seq !== seq) continue;
          if (m.header.flags & NLM_F_DUMP_INTR) interrupted = true;
          if (m.header.type === NLMSG_DONE) {
            if (m.payload.byteLength >= 4) {
              const err = new DataView(m.payload.buffer, m.payload.byteOffset, 4).getInt32(0, true);
              if (err < 0) throw new NetlinkError(action, -err);
            }
            done = true;
            break;
          }
          if (m.header.type === NLMSG_ERROR) {
            const err = decodeNlMsgErr(m.payload, m.header.flags);
            if (err.errno !== 0) throw new NetlinkError(action, err.errno, err.message);
            continue;
          }
          if (m.header.type === NLMSG_NOOP || m.header.type === NLMSG_OVERRUN) continue;
          out.push(copyMessage(m));
        }
      }
      if (!interrupted || attempt >= 4) return out;
    }
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    if (this.#seq === 0) this.#seq = 1;
    return this.#seq;
  }

  // -- links ----------------------------------------------------------------------------------

  /** All links. */
  listLinks(): LinkInfo[] {
    const req = {
      body: encodeIfInfoMsg({ family: AF_UNSPEC, type: 0, index: 0, flags: 0, change: 0 }),
      attrs: [],
    };
    return this.dump(RTM_GETLINK, req, "list links")
      .filter((m) => m.header.type === RTM_NEWLINK)
      .map((m) => decodeLink(m.payload));
  }

  /** The link with this name, or null when there is none. */
  getLink(name: string): LinkInfo | null {
    const req = {
      body: encodeIfInfoMsg({ family: AF_UNSPEC, type: 0, index: 0, flags: 0, change: 0 }),
      attrs: [attrString(IFLA_IFNAME, name)],
    };
    try {
      const replies = this.request(RTM_GETLINK, 0, req, `get link "${name}"`);
      const m = replies.find((r) => r.header.type === RTM_NEWLINK);
      return m ? decodeLink(m.payload) : null;
    } catch (e) {
      if (e instanceof NetlinkError && e.code === "ENODEV") return null;
      throw e;
    }
  }

  /** Sets a link up or down. */
  setLinkUp(index: number, up: boolean, name = `#${index}`): void {
    this.request(
      RTM_NEWLINK,
      0,
      encodeLinkChange(index, { up }),
      `set link "${name}" ${up ? "up" : "down"}`,
    );
  }

  /** Sets a link's MTU. */
  setLinkMtu(index: number, mtu: number, name = `#${index}`): void {
    this.request(RTM_NEWLINK, 0, encodeLinkChange(index, { mtu }), `set MTU ${mtu} on "${name}"`);
  }

  /** Deletes a link. */
  deleteLink(index: number, name = `#${index}`): void {
    const req = {
      body: encodeIfInfoMsg({ family: AF_UNSPEC, type: 0, index, flags: 0, change: 0 }),
      attrs: [],
    };
    this.request(RTM_DELLINK, 0, req, `delete link "${name}"`);
  }

  /**
   * Creates a veth pair: `name` in this socket's namespace, `peer` in the namespace behind
   * `peerNsFd` (or here too). Both ends start down. EEXIST when either name is taken.
   */
  createVeth(name: string, peer: string, peerNsFd?: number): void {
    this.request(
      RTM_NEWLINK,
      NLM_F_CREATE | NLM_F_EXCL,
      encodeVethCreate(name, peer, peerNsFd),
      `create veth pair "${name}" <-> "${peer}"${
        peerNsFd === undefined ? "" : ` (peer in namespace fd ${peerNsFd})`
      }`,
    );
  }

  /** Moves a link into the namespace behind `nsFd` (it leaves this socket's namespace). */
  moveLinkToNamespace(index: number, nsFd: number, name = `#${index}`): void {
    this.request(
      RTM_NEWLINK,
      0,
      encodeLinkNamespace(index, nsFd),
      `move link "${name}" to namespace fd ${nsFd}`,
    );
  }

  // -- addresses ------------------------------------------------------------------------------

  /** Adds an address (fails with EEXIST when present). */
  addAddress(index: number, prefix: Prefix, flags = 0, devName = `#${index}`): void {
    this.request(
      RTM_NEWADDR,
      NLM_F_CREATE | NLM_F_EXCL,
      encodeAddress(index, prefix, flags),
      `add address ${formatPrefix(prefix)} to "${devName}"`,
    );
  }

  /** Deletes an address. */
  deleteAddress(index: number, prefix: Prefix, devName = `#${index}`): void {
    this.request(
      RTM_DELADDR,
      0,
      encodeAddress(index, prefix),
      `delete address ${formatPrefix(prefix)} from "${devName}"`,
    );
  }

  /** All addresses of a family (or both). */
  listAddresses(family?: 4 | 6): AddressInfo[] {
    const req = {
      body: encodeIfAddrMsg({
        family: family ? familyCode(family) : AF_UNSPEC,
        prefixlen: 0,
        flags: 0,
        scope: 0,
        index: 0,
      }),
      attrs: [],
    };
    return this.dump(RTM_GETADDR, req, "list addresses")
      .filter((m) => m.header.type === RTM_NEWADDR)
      .map((m) => decodeAddress(m.payload))
      .filter((a): a is AddressInfo => a !== null && (!family || a.family === family));
  }

  // -- routes ---------------------------------------------------------------------------------

  /** Adds a route (EEXIST when present). */
  addRoute(spec: RouteSpec, devName?: string): void {
    this.request(
      RTM_NEWROUTE,
      NLM_F_CREATE | NLM_F_EXCL,
      encodeRoute(spec),
      `add route ${describeRoute(spec, devName)}`,
    );
  }

  /** Deletes a route (matching any scope and protocol). */
  deleteRoute(spec: RouteSpec, devName?: string): void {
    this.request(
      RTM_DELROUTE,
      0,
      encodeRoute(spec, true),
      `delete route ${describeRoute(spec, devName)}`,
    );
  }

  /** Routes of a family (or both), optionally only one table. */
  listRoutes(family?: 4 | 6, table?: number): RouteInfo[] {
    const req = {
      body: encodeRtMsg({
        family: family ? familyCode(family) : AF_UNSPEC,
        dstLen: 0,
        srcLen: 0,
        tos: 0,
        table: 0,
        protocol: 0,
        scope: 0,
        type: 0,
        flags: 0,
      }),
      attrs: [],
    };
    return this.dump(RTM_GETROUTE, req, "list routes")
      .filter((m) => m.header.type === RTM_NEWROUTE)
      .map((m) => decodeRoute(m.payload))
      .filter((r): r is RouteInfo =>
        r !== null && (!family || r.family === family) && (table === undefined || r.table === table)
      );
  }

  // -- rules ----------------------------------------------------------------------------------

  /** Adds a rule (EEXIST when an identical rule exists). */
  addRule(spec: RuleSpec, text?: string): void {
    this.request(
      RTM_NEWRULE,
      NLM_F_CREATE | NLM_F_EXCL,
      encodeRule(spec),
      `add rule ${text ?? `${spec.priority} (IPv${spec.family})`}`,
    );
  }

  /** Deletes the first rule matching every selector of `spec`. */
  deleteRule(spec: RuleSpec, text?: string): void {
    this.request(
      RTM_DELRULE,
      0,
      encodeRule(spec),
      `delete rule ${text ?? `${spec.priority} (IPv${spec.family})`}`,
    );
  }

  /** Deletes the first rule of `family` at `priority`. */
  deleteRuleAt(family: 4 | 6, priority: number): void {
    this.request(
      RTM_DELRULE,
      0,
      encodeRuleDeleteByPriority(family, priority),
      `delete IPv${family} rule at priority ${priority}`,
    );
  }

  /** Rules of a family (or both), in the kernel's order. */
  listRules(family?: 4 | 6): RuleInfo[] {
    const req = {
      body: encodeFibRuleHdr({
        family: family ? familyCode(family) : AF_UNSPEC,
        dstLen: 0,
        srcLen: 0,
        tos: 0,
        table: 0,
        action: 0,
        flags: 0,
      }),
      attrs: [],
    };
    return this.dump(RTM_GETRULE, req, "list rules")
      .filter((m) => m.header.type === RTM_NEWRULE)
      .map((m) => decodeRule(m.payload))
      .filter((r): r is RuleInfo => r !== null && (!family || r.family === family));
  }
}

function copyMessage(m: NetlinkMessage): NetlinkMessage {
  return { header: { ...m.header }, payload: m.payload.slice() };
}

/** Runs `fn` with a fresh request socket and closes it afterwards. */
export function withRtNetlink<T>(fn: (nl: RtNetlink) => T): T {
  const nl = new RtNetlink();
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}
