/**
 * Which local process owns a connection on macOS, for `process_name`/`process_path`/`user`/
 * `user_id` rules and `route.find_process` (sing-box's darwin searcher takes the same steps):
 *
 * 1. The socket: `sysctlbyname("net.inet.tcp.pcblist_n")` (or `udp`) lists every socket of the
 *    protocol (`ffi/darwin/pcblist.ts` reads it); the one bound to the flow's source address and
 *    port gives `so_last_pid` (the last process that used it) and `so_uid`.
 * 2. The process: `proc_pidpath(pid)` gives its executable's path.
 *
 * Both calls are synchronous and need no privileges for the caller's own sockets (tunbox runs as
 * root, so it sees every socket). One list is read per lookup (a few hundred KiB on a busy Mac),
 * into a buffer kept between lookups.
 *
 * @example
 * ```ts
 * const finder = new DarwinProcessFinder(loadDarwinLibc());
 * finder.find("tcp", { addr: new Uint8Array([192, 168, 1, 20]), port: 52044 });
 * // { pid: 812, uid: 501, path: "/Applications/Safari.app/Contents/MacOS/Safari" }
 * ```
 * @module
 */

import { SysError } from "../../../ffi/errno.ts";
import { DARWIN_ERRNO, PROC_PIDPATHINFO_MAXSIZE } from "../../../ffi/darwin/constants.ts";
import { type DarwinLibc, fromCString } from "../../../ffi/darwin/libc.ts";
import { parsePcbList, type PcbSocket } from "../../../ffi/darwin/pcblist.ts";
import { isV4Mapped, unmap } from "../../net/ip.ts";
import { pickBoundSocket } from "../bound_socket.ts";
import type { ProcessInfo } from "../types.ts";

/** The sysctl names of the socket lists (bsd/netinet/tcp_subr.c, udp_usrreq.c). */
export const PCBLIST_SYSCTL = {
  tcp: "net.inet.tcp.pcblist_n",
  udp: "net.inet.udp.pcblist_n",
} as const;

/**
 * The socket bound to `addr`:`port` (4 or 16 address bytes) among a list's: an exact local
 * address first, else one bound to the wildcard address (an unconnected UDP socket). An IPv4
 * address matches sockets carrying IPv4 (`INP_IPV4`, dual-stack IPv6 sockets included), or an
 * IPv6 socket bound to its v4-mapped form.
 */
export function pickPcbSocket(
  sockets: readonly PcbSocket[],
  addr: Uint8Array,
  port: number,
): PcbSocket | null {
  return pickBoundSocket(sockets, addr, (s) => {
    if (s.localPort !== port) return null;
    if (addr.length === 16) return s.v6;
    return s.v4 ?? (s.v6 !== null && isV4Mapped(s.v6) ? unmap(s.v6) : null);
  });
}

/** Finds the owner of local sockets through the pcblist_n sysctls and `proc_pidpath`. */
export class DarwinProcessFinder {
  readonly #libc: DarwinLibc;
  #buf = new Uint8Array(64 * 1024);
  readonly #len = new BigUint64Array(1);
  readonly #path = new Uint8Array(PROC_PIDPATHINFO_MAXSIZE);

  constructor(libc: DarwinLibc) {
    this.#libc = libc;
  }

  /** The process owning the local socket `source` of a `network` flow, or null. */
  find(network: "tcp" | "udp", source: { addr: Uint8Array; port: number }): ProcessInfo | null {
    const sock = pickPcbSocket(this.sockets(network), source.addr, source.port);
    if (!sock) return null;
    return { pid: sock.pid, uid: sock.uid, path: sock.pid > 0 ? this.pathOf(sock.pid) : "" };
  }

  /** Every socket of `network`'s list. */
  sockets(network: "tcp" | "udp"): PcbSocket[] {
    const name = PCBLIST_SYSCTL[network];
    const what = `list ${network} sockets (sysctl ${name})`;
    for (let attempt = 0;; attempt++) {
      this.#len[0] = 0n;
      if (this.#libc.sysctlbyname(name, null, this.#len) < 0) {
        throw new SysError(what, this.#libc.errno(), "darwin");
      }
      // The kernel's estimate already has room for an eighth more sockets.
      const need = Number(this.#len[0]);
      if (need > this.#buf.byteLength) this.#buf = new Uint8Array(need);
      this.#len[0] = BigInt(this.#buf.byteLength);
      if (this.#libc.sysctlbyname(name, this.#buf, this.#len) === 0) {
        return parsePcbList(this.#buf, Number(this.#len[0]));
      }
      const errno = this.#libc.errno();
      // ENOMEM: more sockets appeared between the two calls; ask again.
      if (errno !== DARWIN_ERRNO.ENOMEM || attempt >= 2) throw new SysError(what, errno, "darwin");
    }
  }

  /** The executable path of `pid` ("" when the process is gone). */
  pathOf(pid: number): string {
    const n = this.#libc.proc_pidpath(pid, this.#path);
    return n > 0 ? fromCString(this.#path.subarray(0, n)) : "";
  }
}
