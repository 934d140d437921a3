/**
 * Test helper: plain FFI sockets and TUN fd I/O with waits bounded by `poll`, plus a hand-built
 * IPv4/UDP packet with its checksums. Synchronous, so it can run inside `Netns.run()`.
 */

import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { SysError } from "../../../ffi/errno.ts";
import { decodeSockaddr, encodeSockaddr, SOCKADDR_STORAGE_SIZE } from "../../../ffi/sockaddr.ts";

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;
const POLLIN = 1;

/** Opens a non-blocking UDP socket (IPv4 or IPv6). */
export function udpSocket(family: 4 | 6 = 4): number {
  const fd = linuxLibc().socket(
    family === 4 ? AF_INET : AF_INET6,
    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
    0,
  );
  if (fd < 0) throw new SysError("socket(UDP)", linuxErrno());
  return fd;
}

/** Binds a socket to addr:port. */
export function bindTo(fd: number, addr: Uint8Array, port: number): void {
  const sa = new Uint8Array(28);
  const len = encodeSockaddr({ addr, port }, sa, "linux");
  if (linuxLibc().bind(fd, sa, len) < 0) throw new SysError(`bind socket ${fd}`, linuxErrno());
}

/** The local port of a bound socket. */
export function localPort(fd: number): number {
  const sa = new Uint8Array(SOCKADDR_STORAGE_SIZE);
  const len = new Uint32Array([sa.byteLength]);
  if (linuxLibc().getsockname(fd, sa, new Uint8Array(len.buffer)) < 0) {
    throw new SysError("getsockname", linuxErrno());
  }
  return decodeSockaddr(sa, "linux")!.port;
}

/** Sends one datagram. */
export function sendTo(fd: number, data: Uint8Array, addr: Uint8Array, port: number): void {
  const sa = new Uint8Array(28);
  const len = encodeSockaddr({ addr, port }, sa, "linux");
  const n = linuxLibc().sendto(fd, data, BigInt(data.byteLength), 0, sa, len);
  if (Number(n) < 0) throw new SysError(`sendto port ${port}`, linuxErrno());
}

/** Waits up to `timeoutMs` for `fd` to become readable (synchronous poll). */
export function waitReadable(fd: number, timeoutMs: number): boolean {
  const pfd = new Uint8Array(8);
  const dv = new DataView(pfd.buffer);
  dv.setInt32(0, fd, true);
  dv.setInt16(4, POLLIN, true);
  const n = linuxLibc().poll(pfd, 1n, timeoutMs);
  if (n < 0) throw new SysError("poll", linuxErrno());
  return n > 0;
}

/** Receives one datagram (waiting up to `timeoutMs`), or null on timeout. */
export function recvFrom(
  fd: number,
  timeoutMs = 2000,
): { data: Uint8Array; addr: Uint8Array; port: number } | null {
  if (!waitReadable(fd, timeoutMs)) return null;
  const buf = new Uint8Array(65536);
  const sa = new Uint8Array(SOCKADDR_STORAGE_SIZE);
  const len = new Uint32Array([sa.byteLength]);
  const n = Number(
    linuxLibc().recvfrom(fd, buf, BigInt(buf.byteLength), 0, sa, new Uint8Array(len.buffer)),
  );
  if (n < 0) throw new SysError("recvfrom", linuxErrno());
  const from = decodeSockaddr(sa, "linux")!;
  return { data: buf.slice(0, n), addr: from.addr, port: from.port };
}

/**
 * Reads frames from a TUN fd until a packet matches (or the timeout). `offset`: the bytes before
 * each packet (`TunDevice.packetOffset`: 10 with a virtio_net_hdr); the packet is handed on
 * without them, as `{ prefix, pkt }`.
 */
export function readTunFrameUntil(
  fd: number,
  offset: number,
  match: (pkt: Uint8Array) => boolean,
  timeoutMs = 3000,
): { prefix: Uint8Array; pkt: Uint8Array } | null {
  const deadline = Date.now() + timeoutMs;
  const buf = new Uint8Array(offset + 65536);
  while (Date.now() < deadline) {
    if (!waitReadable(fd, Math.max(1, deadline - Date.now()))) continue;
    const n = Number(linuxLibc().read(fd, buf, BigInt(buf.byteLength)));
    if (n < 0) {
      const e = linuxErrno();
      if (e === 11) continue;
      throw new SysError("read TUN fd", e);
    }
    if (n <= offset) continue;
    const pkt = buf.slice(offset, n);
    if (match(pkt)) return { prefix: buf.slice(0, offset), pkt };
  }
  return null;
}

/**
 * Reads packets from a TUN fd until one matches (or the timeout), as {@linkcode readTunFrameUntil}
 * does; a checksum the virtio_net_hdr marks partial is completed, as the kernel would.
 */
export function readTunUntil(
  fd: number,
  match: (pkt: Uint8Array) => boolean,
  timeoutMs = 3000,
  offset = 0,
): Uint8Array | null {
  const got = readTunFrameUntil(fd, offset, match, timeoutMs);
  if (got === null) return null;
  if (offset === 10) completeVnetChecksum(got.prefix, got.pkt);
  return got.pkt;
}

/**
 * Completes the checksum of `pkt` in place when its virtio_net_hdr has NEEDS_CSUM: the
 * complement of the sum from `csum_start` on, stored at `csum_start + csum_offset` (0 becomes
 * 0xffff, as UDP needs). Returns whether the header asked for it.
 */
export function completeVnetChecksum(header: Uint8Array, pkt: Uint8Array): boolean {
  if ((header[0]! & 1) === 0) return false;
  const start = header[6]! | (header[7]! << 8);
  const at = start + (header[8]! | (header[9]! << 8));
  const c = ~sum16(pkt.subarray(start)) & 0xffff;
  const v = c === 0 ? 0xffff : c;
  pkt[at] = v >> 8;
  pkt[at + 1] = v & 0xff;
  return true;
}

/** Writes one packet to a TUN fd, after `offset` zero bytes (an all-zero virtio_net_hdr). */
export function writeTun(fd: number, pkt: Uint8Array, offset = 0): void {
  const frame = new Uint8Array(offset + pkt.byteLength);
  frame.set(pkt, offset);
  const n = Number(linuxLibc().write(fd, frame, BigInt(frame.byteLength)));
  if (n !== frame.byteLength) throw new SysError("write TUN fd", linuxErrno());
}

/** Closes an fd. */
export function closeFd(fd: number): void {
  linuxLibc().close(fd);
}

/** RFC 1071 one's-complement sum folded to 16 bits (not complemented). */
function sum16(data: Uint8Array, initial = 0): number {
  let s = initial;
  for (let i = 0; i + 1 < data.length; i += 2) s += (data[i]! << 8) | data[i + 1]!;
  if (data.length % 2) s += data[data.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Builds an IPv4/UDP packet with correct IPv4 header and UDP checksums. */
export function buildIpv4Udp(
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  payload: Uint8Array,
): Uint8Array {
  const udpLen = 8 + payload.length;
  const pkt = new Uint8Array(20 + udpLen);
  const dv = new DataView(pkt.buffer);
  pkt[0] = 0x45; // version 4, IHL 5
  dv.setUint16(2, pkt.length); // total length
  dv.setUint16(4, 0x1234); // id
  dv.setUint16(6, 0x4000); // DF
  pkt[8] = 64; // TTL
  pkt[9] = 17; // UDP
  pkt.set(src, 12);
  pkt.set(dst, 16);
  dv.setUint16(10, ~sum16(pkt.subarray(0, 20)) & 0xffff);
  dv.setUint16(20, sport);
  dv.setUint16(22, dport);
  dv.setUint16(24, udpLen);
  pkt.set(payload, 28);
  const pseudo = new Uint8Array(12);
  pseudo.set(src, 0);
  pseudo.set(dst, 4);
  pseudo[9] = 17;
  new DataView(pseudo.buffer).setUint16(10, udpLen);
  let c = ~sum16(pkt.subarray(20), sum16(pseudo)) & 0xffff;
  if (c === 0) c = 0xffff;
  dv.setUint16(26, c);
  return pkt;
}

/** Verifies an IPv4 header checksum and UDP checksum (true when both are right). */
export function ipv4UdpChecksumsOk(pkt: Uint8Array): boolean {
  if (sum16(pkt.subarray(0, 20)) !== 0xffff) return false;
  const udpLen = new DataView(pkt.buffer, pkt.byteOffset).getUint16(24);
  const pseudo = new Uint8Array(12);
  pseudo.set(pkt.subarray(12, 16), 0);
  pseudo.set(pkt.subarray(16, 20), 4);
  pseudo[9] = 17;
  new DataView(pseudo.buffer).setUint16(10, udpLen);
  return sum16(pkt.subarray(20, 20 + udpLen), sum16(pseudo)) === 0xffff;
}
