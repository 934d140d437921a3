/**
 * `struct sockaddr_in` / `sockaddr_in6` encoding for Linux and Darwin.
 *
 * Linux: `sa_family` is a u16 at offset 0. Darwin (BSD): `sa_len` u8 at 0, `sa_family` u8 at 1.
 * AF_INET6 is 10 on Linux and 30 on Darwin. Ports and addresses are network byte order.
 *
 * @module
 */

export const AF_INET = 2;
export const AF_INET6 = Deno.build.os === "darwin" ? 30 : 10;
export const SOCKADDR_IN_SIZE = 16;
export const SOCKADDR_IN6_SIZE = 28;
/** Large enough for any address family we read back (sockaddr_storage is 128). */
export const SOCKADDR_STORAGE_SIZE = 128;

/** A socket address: 4- or 16-byte IP plus port. */
export interface SockAddr {
  addr: Uint8Array;
  port: number;
  /** IPv6 scope id (interface index), 0 when unset. */
  scopeId?: number;
}

/** Encodes into `out` (or a new buffer) and returns the length to pass as `socklen_t`. */
export function encodeSockaddr(
  sa: SockAddr,
  out: Uint8Array = new Uint8Array(SOCKADDR_IN6_SIZE),
  os: string = Deno.build.os,
): number {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const v6 = sa.addr.length === 16;
  const size = v6 ? SOCKADDR_IN6_SIZE : SOCKADDR_IN_SIZE;
  out.fill(0, 0, size);
  if (os === "darwin") {
    dv.setUint8(0, size);
    dv.setUint8(1, v6 ? 30 : AF_INET);
  } else {
    dv.setUint16(0, v6 ? 10 : AF_INET, true);
  }
  dv.setUint16(2, sa.port, false);
  if (v6) {
    out.set(sa.addr, 8);
    dv.setUint32(24, sa.scopeId ?? 0, true);
  } else {
    out.set(sa.addr, 4);
  }
  return size;
}

/** Decodes a sockaddr written by the kernel; returns null for other families. */
export function decodeSockaddr(
  buf: Uint8Array,
  os: string = Deno.build.os,
): SockAddr | null {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const family = os === "darwin" ? dv.getUint8(1) : dv.getUint16(0, true);
  const port = dv.getUint16(2, false);
  if (family === AF_INET) return { addr: buf.slice(4, 8), port };
  if (family === (os === "darwin" ? 30 : 10)) {
    return { addr: buf.slice(8, 24), port, scopeId: dv.getUint32(24, true) };
  }
  return null;
}
