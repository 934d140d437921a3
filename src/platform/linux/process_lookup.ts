/**
 * Which local process owns a connection, for `process_name`/`process_path`/`user_id` rules and
 * `route.find_process` (sing-box's Linux searcher does the same two steps):
 *
 * 1. The socket: a `SOCK_DIAG_BY_FAMILY` dump over `NETLINK_SOCK_DIAG`, filtered by the flow's
 *    source port (the kernel skips sockets whose local port differs), gives the socket's owner
 *    uid and inode (`inet_diag_msg`).
 * 2. The process: the `/proc/<pid>/fd/*` link that reads `socket:[<inode>]`; its
 *    `/proc/<pid>/exe` is the path. Processes found recently are searched first, so a browser
 *    opening connection after connection costs a few directory reads, not a walk of `/proc`.
 *
 * Everything is synchronous (a netlink dump is answered at once; 1 s receive timeout).
 *
 * Layouts (`include/uapi/linux/inet_diag.h`, `sock_diag.h`), host-endian except ports and
 * addresses (network order):
 *
 * | struct | size | fields (offset) |
 * |---|---|---|
 * | inet_diag_req_v2 | 56 | family u8 @0, protocol u8 @1, ext u8 @2, pad @3, states u32 @4, id @8 |
 * | inet_diag_sockid | 48 | sport be16 @0, dport be16 @2, src 16 B @4, dst 16 B @20, if u32 @36, cookie 2×u32 @40 |
 * | inet_diag_msg | 72 | family u8 @0, state @1, timer @2, retrans @3, id @4, expires u32 @52, rqueue @56, wqueue @60, uid @64, inode @68 |
 *
 * @example
 * ```ts
 * const finder = new LinuxProcessFinder();
 * const p = finder.find("tcp", { addr: new Uint8Array([127, 0, 0, 1]), port: 40312 });
 * // p?.path === "/usr/bin/curl", p?.uid === 1000
 * ```
 * @module
 */

import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { SysError } from "../../../ffi/errno.ts";
import {
  AF_NETLINK,
  buildMessage,
  decodeNlMsgErr,
  encodeSockaddrNl,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  parseMessages,
  SOCKADDR_NL_SIZE,
} from "../../../ffi/linux/netlink.ts";
import {
  SO_RCVTIMEO,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_SOCKET,
  TIMEVAL_SIZE,
} from "../../../ffi/linux/constants.ts";
import { listDir, readLink } from "./procfs.ts";
import { pickBoundSocket } from "../bound_socket.ts";
import type { ProcessInfo } from "../types.ts";

/** `NETLINK_SOCK_DIAG` (netlink protocol 4). */
export const NETLINK_SOCK_DIAG = 4;
/** `SOCK_DIAG_BY_FAMILY` message type. */
export const SOCK_DIAG_BY_FAMILY = 20;
/** `sizeof(struct inet_diag_req_v2)`. */
export const INET_DIAG_REQ_V2_SIZE = 56;
/** `sizeof(struct inet_diag_msg)`. */
export const INET_DIAG_MSG_SIZE = 72;

const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** The request body: every socket of `family`/`protocol` whose local port is `port`. */
export function encodeInetDiagRequest(family: 4 | 6, network: "tcp" | "udp", port: number) {
  const out = new Uint8Array(INET_DIAG_REQ_V2_SIZE);
  const dv = new DataView(out.buffer);
  out[0] = family === 4 ? AF_INET : AF_INET6;
  out[1] = network === "tcp" ? IPPROTO_TCP : IPPROTO_UDP;
  dv.setUint32(4, 0xffffffff, true); // every TCP state
  dv.setUint16(8, port, false); // id.sport, network order; dport 0 = any
  // id.cookie = INET_DIAG_NOCOOKIE (~0, ~0)
  dv.setUint32(48, 0xffffffff, true);
  dv.setUint32(52, 0xffffffff, true);
  return out;
}

/** One socket of a dump: its local address and port, owner uid and inode. */
export interface DiagSocket {
  family: 4 | 6;
  localAddr: Uint8Array;
  localPort: number;
  uid: number;
  inode: number;
}

/** Reads an `inet_diag_msg` payload; null when it is too short. */
export function decodeInetDiagMsg(p: Uint8Array): DiagSocket | null {
  if (p.byteLength < INET_DIAG_MSG_SIZE) return null;
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const family = p[0] === AF_INET ? 4 : 6;
  return {
    family,
    localPort: dv.getUint16(4, false),
    localAddr: p.slice(8, 8 + (family === 4 ? 4 : 16)),
    uid: dv.getUint32(64, true),
    inode: dv.getUint32(68, true),
  };
}

/** `addr` as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
function mapped(addr: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(addr, 12);
  return out;
}

/**
 * Picks the socket bound to `addr`:`port` among a dump's: an exact address first, else one
 * bound to the wildcard address (an unconnected UDP socket). Sockets without an inode
 * (TIME_WAIT, orphaned) belong to no process and are skipped: a new connection may reuse the
 * local port of one that is still in TIME_WAIT towards another peer.
 */
export function pickSocket(
  sockets: readonly DiagSocket[],
  addr: Uint8Array,
  port: number,
): DiagSocket | null {
  return pickBoundSocket(
    sockets,
    addr,
    (s) => (s.localPort === port && s.inode !== 0 ? s.localAddr : null),
  );
}

/** Finds the owner of local sockets through `NETLINK_SOCK_DIAG` and `/proc`. */
export class LinuxProcessFinder implements Disposable {
  #fd = -1;
  #seq = 1;
  #buf = new Uint8Array(64 * 1024);
  /** Pids that owned a looked-up socket, most recent last (searched first, newest first). */
  #recent: number[] = [];
  readonly #recentMax: number;
  readonly #procRoot: string;

  /** `procRoot` is for tests (a directory laid out as `/proc`). */
  constructor(options: { recent?: number; procRoot?: string } = {}) {
    this.#recentMax = options.recent ?? 16;
    this.#procRoot = options.procRoot ?? "/proc";
  }

  /** The process owning the local socket `source` of a `network` flow, or null. */
  find(network: "tcp" | "udp", source: { addr: Uint8Array; port: number }): ProcessInfo | null {
    const sock = this.socketOf(network, source.addr, source.port);
    if (!sock) return null;
    const pid = this.pidOfInode(sock.inode);
    const path = pid === null ? "" : readLink(`${this.#procRoot}/${pid}/exe`) ?? "";
    return { pid: pid ?? 0, uid: sock.uid, path: path.replace(/ \(deleted\)$/, "") };
  }

  /** The local socket bound to `addr`:`port` (IPv4 ones also as v4-mapped IPv6). */
  socketOf(network: "tcp" | "udp", addr: Uint8Array, port: number): DiagSocket | null {
    if (addr.length === 4) {
      return pickSocket(this.#dump(4, network, port), addr, port) ??
        pickSocket(this.#dump(6, network, port), mapped(addr), port);
    }
    return pickSocket(this.#dump(6, network, port), addr, port);
  }

  /** The pid with a descriptor for socket `inode`, or null. */
  pidOfInode(inode: number): number | null {
    if (inode === 0) return null;
    const target = `socket:[${inode}]`;
    for (let i = this.#recent.length - 1; i >= 0; i--) {
      const pid = this.#recent[i]!;
      if (this.#hasLink(pid, target)) return this.#remember(pid);
    }
    let names: string[];
    try {
      names = listDir(this.#procRoot);
    } catch {
      return null;
    }
    for (const name of names) {
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(name);
      if (this.#recent.includes(pid)) continue;
      if (this.#hasLink(pid, target)) return this.#remember(pid);
    }
    return null;
  }

  /** Closes the netlink socket (idempotent). */
  close(): void {
    if (this.#fd >= 0) linuxLibc().close(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #remember(pid: number): number {
    const at = this.#recent.indexOf(pid);
    if (at >= 0) this.#recent.splice(at, 1);
    this.#recent.push(pid);
    if (this.#recent.length > this.#recentMax) this.#recent.shift();
    return pid;
  }

  #hasLink(pid: number, target: string): boolean {
    const dir = `${this.#procRoot}/${pid}/fd`;
    let fds: string[];
    try {
      fds = listDir(dir);
    } catch {
      return false; // the process ended, or is not ours to read
    }
    for (const fd of fds) if (readLink(`${dir}/${fd}`) === target) return true;
    return false;
  }

  #socket(): number {
    if (this.#fd >= 0) return this.#fd;
    const libc = linuxLibc();
    const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) {
      throw new SysError("open netlink socket (AF_NETLINK, NETLINK_SOCK_DIAG)", linuxErrno());
    }
    const tv = new BigInt64Array([1n, 0n]);
    libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, new Uint8Array(tv.buffer), TIMEVAL_SIZE);
    if (libc.bind(fd, encodeSockaddrNl(0, 0), SOCKADDR_NL_SIZE) < 0) {
      const errno = linuxErrno();
      libc.close(fd);
      throw new SysError("bind netlink socket (NETLINK_SOCK_DIAG)", errno);
    }
    this.#fd = fd;
    return fd;
  }

  #dump(family: 4 | 6, network: "tcp" | "udp", port: number): DiagSocket[] {
    const libc = linuxLibc();
    const fd = this.#socket();
    const seq = this.#seq++;
    const msg = buildMessage(
      { type: SOCK_DIAG_BY_FAMILY, flags: NLM_F_REQUEST | NLM_F_DUMP, seq, pid: 0 },
      encodeInetDiagRequest(family, network, port),
    );
    const what = `list ${network} sockets of port ${port} (sock_diag)`;
    if (libc.send(fd, msg, BigInt(msg.byteLength), 0) < 0) throw new SysError(what, linuxErrno());
    const out: DiagSocket[] = [];
    for (;;) {
      const n = libc.recv(fd, this.#buf, BigInt(this.#buf.byteLength), 0);
      if (n < 0) throw new SysError(what, linuxErrno());
      for (const m of parseMessages(this.#buf, n)) {
        if (m.header.seq !== seq) continue;
        if (m.header.type === NLMSG_DONE) return out;
        if (m.header.type === NLMSG_ERROR) {
          const err = decodeNlMsgErr(m.payload, m.header.flags);
          if (err.errno !== 0) throw new SysError(what, err.errno);
          return out;
        }
        if (m.header.type !== SOCK_DIAG_BY_FAMILY) continue;
        const s = decodeInetDiagMsg(m.payload);
        if (s) out.push(s);
      }
    }
  }
}
