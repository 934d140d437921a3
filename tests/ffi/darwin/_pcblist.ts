/**
 * Builds `pcblist_n` sysctl answers byte by byte, as xnu's `get_pcblist_n`
 * (bsd/netinet/in_pcblist.c) writes them: an `xinpgen`, per socket an `xinpcb_n`, `xsocket_n`,
 * two `xsockbuf_n`, an `xsockstat_n` (and for TCP an `xtcpcb_n`), each at `ROUNDUP64` of the
 * previous one's size with its length and kind, then a closing `xinpgen`. Sizes and offsets are
 * the proven ones of `ffi/darwin/layouts.ts`; the socket record is 104 bytes (macOS 13 and
 * later) or 80 (`oldSocket`, macOS 12 and earlier).
 *
 * @module
 */

import {
  IN_ADDR_4IN6,
  XINPCB_N,
  XINPGEN,
  XSOCKBUF_N,
  XSOCKET_N,
  XSOCKSTAT_N,
  XTCPCB_N,
} from "../../../ffi/darwin/layouts.ts";

/** One socket to list. */
export interface FakePcb {
  lport: number;
  /** 4 bytes: an IPv4 socket (`INP_IPV4`); 16: IPv6 (`INP_IPV6`). */
  laddr: Uint8Array;
  /** A dual-stack IPv6 socket bound to `::` (both flags, all-zero address). */
  dualStack?: boolean;
  fport?: number;
  pid: number;
  uid: number;
  /** A user-space (Skywalk) flow: no kernel pcb or socket handle, `so_uid` left 0. */
  userland?: boolean;
}

const rup8 = (n: number) => (n + 7) & ~7;

/** The bytes of one socket's records (`tcp`: with the `xtcpcb_n`). */
export function pcbItem(p: FakePcb, tcp: boolean, oldSocket = false): Uint8Array {
  const socketSize = oldSocket ? XSOCKET_N.so_e_pid + 4 : XSOCKET_N.size;
  const sizes = [
    [XINPCB_N.size, 0x10],
    [socketSize, 0x1],
    [XSOCKBUF_N.size, 0x2],
    [XSOCKBUF_N.size, 0x4],
    [XSOCKSTAT_N.size, 0x8],
    ...(tcp ? [[XTCPCB_N.size, 0x20]] : []),
  ] as const;
  const total = sizes.reduce((n, [size]) => n + rup8(size), 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  let at = 0;
  const starts: number[] = [];
  for (const [size, kind] of sizes) {
    starts.push(at);
    dv.setUint32(at, size, true);
    dv.setUint32(at + 4, kind, true);
    at += rup8(size);
  }
  const [inp, so] = starts as [number, number];
  if (!p.userland) {
    dv.setBigUint64(inp + XINPCB_N.xi_inpp, 0xfeed_0000_0000_1000n + BigInt(inp), true);
  }
  dv.setUint16(inp + XINPCB_N.inp_fport, p.fport ?? 443, false);
  dv.setUint16(inp + XINPCB_N.inp_lport, p.lport, false);
  const laddr = inp + XINPCB_N.inp_dependladdr;
  if (p.laddr.length === 4) {
    out[inp + XINPCB_N.inp_vflag] = 0x1;
    out.set(p.laddr, laddr + IN_ADDR_4IN6.ia46_addr4);
  } else {
    out[inp + XINPCB_N.inp_vflag] = p.dualStack ? 0x3 : 0x2;
    out.set(p.laddr, laddr);
  }
  // A foreign address that differs from the local one, so reading the wrong union shows.
  out.fill(0xaa, inp + XINPCB_N.inp_dependfaddr, inp + XINPCB_N.inp_dependfaddr + 16);
  if (!p.userland) {
    dv.setBigUint64(so + XSOCKET_N.xso_so, 0xfeed_0000_0000_2000n + BigInt(so), true);
    dv.setUint32(so + XSOCKET_N.so_uid, p.uid, true);
  }
  dv.setInt32(so + XSOCKET_N.so_last_pid, p.pid, true);
  dv.setInt32(so + XSOCKET_N.so_e_pid, p.pid + 100000, true);
  return out;
}

/** A whole list: `xinpgen`, the sockets' records, the closing `xinpgen`. */
export function pcbList(pcbs: readonly FakePcb[], tcp: boolean, oldSocket = false): Uint8Array {
  const items = pcbs.map((p) => pcbItem(p, tcp, oldSocket));
  const gen = (count: number) => {
    const g = new Uint8Array(XINPGEN.size);
    const dv = new DataView(g.buffer);
    dv.setUint32(XINPGEN.xig_len, XINPGEN.size, true);
    dv.setUint32(XINPGEN.xig_count, count, true);
    dv.setBigUint64(XINPGEN.xig_gen, 77n, true);
    dv.setBigUint64(XINPGEN.xig_sogen, 99n, true);
    return g;
  };
  const parts = [gen(pcbs.length), ...items, gen(pcbs.length)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
