/**
 * The socket lists macOS returns for `sysctlbyname("net.inet.tcp.pcblist_n")` and
 * `"net.inet.udp.pcblist_n"` (xnu `bsd/netinet/in_pcblist.c`, `get_pcblist_n`), read as pure
 * functions over the bytes.
 *
 * A list is an `xinpgen`, then per socket a run of records, each starting with its
 * `u_int32_t` length and kind and each placed at `ROUNDUP64` of the previous record's length
 * (`ADVANCE64`): `xinpcb_n` (`XSO_INPCB`), `xsocket_n` (`XSO_SOCKET`), two `xsockbuf_n`, an
 * `xsockstat_n` and, in TCP lists, an `xtcpcb_n`; a last `xinpgen` ends it. The walk follows
 * the records' own lengths rather than a fixed stride, so it reads both the 80-byte `xsocket_n`
 * of macOS 12 and earlier and the 104-byte one of macOS 13 and later (sing-box picks a stride
 * from `kern.osrelease` instead), and user-space flows the kernel appends in the same format.
 *
 * | record | bytes | fields read (offset) |
 * |---|---|---|
 * | xinpgen | 24 | xig_len u32 @0 |
 * | xinpcb_n | 104 | xi_len @0, xi_kind @4, xi_inpp u64 @8, inp_lport be16 @18, inp_vflag u8 @44, local address @64 (IPv4 at @76) |
 * | xsocket_n | 104 (80 before macOS 13) | xso_len @0, xso_kind @4, xso_so u64 @8, so_uid @64, so_last_pid @68 |
 *
 * Every size and offset is in `layouts.ts` and proven against the xnu headers by
 * `tests/ffi/darwin/proof_table_test.ts`.
 *
 * @example
 * ```ts
 * const sockets = parsePcbList(bytes, n); // n bytes from sysctlbyname("net.inet.tcp.pcblist_n")
 * // [{ localPort: 52044, v4: Uint8Array [192, 168, 1, 5], v6: null, pid: 812, uid: 501 }, ...]
 * ```
 *
 * @module
 */

import { INP_IPV4, INP_IPV6, XSO_INPCB, XSO_SOCKET } from "./constants.ts";
import { IN_ADDR_4IN6, XINPCB_N, XINPGEN, XSOCKET_N } from "./layouts.ts";

/** `ROUNDUP64(x)` of in_pcblist.c: `x` rounded up to a multiple of 8. */
export function roundup64(x: number): number {
  return (x + 7) & ~7;
}

/** One socket of a list: its local port and addresses, last process and owner. */
export interface PcbSocket {
  /** Local port (host order). */
  localPort: number;
  /** The local IPv4 address when the socket carries IPv4 (`INP_IPV4`), else null. */
  v4: Uint8Array | null;
  /** The local IPv6 address when the socket carries IPv6 (`INP_IPV6`), else null. */
  v6: Uint8Array | null;
  /** `so_last_pid`: the last process that used the socket. */
  pid: number;
  /**
   * `so_uid`, the uid of the socket's credentials; -1 for a user-space flow (no kernel socket:
   * the kernel leaves `so_uid` 0 there, which would read as root).
   */
  uid: number;
}

/**
 * The sockets of a pcblist_n list (`len` bytes of `buf`). Records of other kinds are skipped;
 * a socket counts once both its `xinpcb_n` and its `xsocket_n` are inside the bytes, so a
 * truncated or garbled list yields the complete sockets before the damage and nothing after.
 */
export function parsePcbList(buf: Uint8Array, len: number = buf.byteLength): PcbSocket[] {
  const end = Math.min(len, buf.byteLength);
  const out: PcbSocket[] = [];
  if (end < XINPGEN.size) return out;
  const dv = new DataView(buf.buffer, buf.byteOffset, end);
  const first = dv.getUint32(XINPGEN.xig_len, true);
  if (first < XINPGEN.size) return out;
  let pending:
    | { localPort: number; v4: Uint8Array | null; v6: Uint8Array | null; inpp: bigint }
    | null = null;
  for (let at = roundup64(first); at + 8 <= end;) {
    const recLen = dv.getUint32(at, true);
    // The closing xinpgen (24 bytes, no kind) — every socket record is longer.
    if (recLen <= XINPGEN.size) break;
    if (at + recLen > end) break; // truncated
    const kind = dv.getUint32(at + 4, true);
    if (kind === XSO_INPCB && recLen >= XINPCB_N.size) {
      const vflag = buf[at + XINPCB_N.inp_vflag]!;
      const laddr = at + XINPCB_N.inp_dependladdr;
      pending = {
        localPort: dv.getUint16(at + XINPCB_N.inp_lport, false),
        v4: vflag & INP_IPV4
          ? buf.slice(laddr + IN_ADDR_4IN6.ia46_addr4, laddr + IN_ADDR_4IN6.ia46_addr4 + 4)
          : null,
        v6: vflag & INP_IPV6 ? buf.slice(laddr, laddr + 16) : null,
        inpp: dv.getBigUint64(at + XINPCB_N.xi_inpp, true),
      };
    } else if (kind === XSO_SOCKET && pending !== null && recLen >= XSOCKET_N.so_last_pid + 4) {
      const userland = pending.inpp === 0n && dv.getBigUint64(at + XSOCKET_N.xso_so, true) === 0n;
      out.push({
        localPort: pending.localPort,
        v4: pending.v4,
        v6: pending.v6,
        pid: dv.getInt32(at + XSOCKET_N.so_last_pid, true),
        uid: userland ? -1 : dv.getUint32(at + XSOCKET_N.so_uid, true),
      });
      pending = null;
    }
    at += roundup64(recLen);
  }
  return out;
}
