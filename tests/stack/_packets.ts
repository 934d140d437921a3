/** Packet builders shared by the stack tests (dispatch, reassembly, fuzz). */
import { pseudoHeaderSum } from "../../src/wire/checksum.ts";
import { IcmpPacket } from "../../src/wire/icmp.ts";
import { Ipv4Packet } from "../../src/wire/ipv4.ts";
import { Ipv6Packet } from "../../src/wire/ipv6.ts";
import { TcpPacket } from "../../src/wire/tcp.ts";
import { UdpPacket } from "../../src/wire/udp.ts";
import {
  IcmpRepr,
  Ipv4Repr,
  Ipv6Repr,
  TcpRepr,
  type TcpReprInit,
  UdpRepr,
} from "../_helpers/packets.ts";

export const C4 = new Uint8Array([10, 0, 0, 2]);
export const S4 = new Uint8Array([198, 51, 100, 9]);
export const C6 = new Uint8Array([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
export const S6 = new Uint8Array([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);

/** Wraps an upper-layer message in an IP header. */
export function ip(
  version: 4 | 6,
  proto: number,
  l4: Uint8Array,
  src: Uint8Array = version === 4 ? C4 : S6,
  dst: Uint8Array = version === 4 ? S4 : C6,
  ident = 1,
): Uint8Array {
  const hl = version === 4 ? 20 : 40;
  const b = new Uint8Array(hl + l4.length);
  if (version === 4) {
    new Ipv4Repr({ src, dst, protocol: proto, payloadLen: l4.length, ident }).emit(
      new Ipv4Packet(b),
    );
  } else {
    new Ipv6Repr({ src, dst, nextHeader: proto, payloadLen: l4.length }).emit(new Ipv6Packet(b));
  }
  b.set(l4, hl);
  return b;
}

export function udp(
  version: 4 | 6,
  payload: Uint8Array,
  sport = 5353,
  dport = 53,
  src: Uint8Array = version === 4 ? C4 : C6,
  dst: Uint8Array = version === 4 ? S4 : S6,
): Uint8Array {
  const r = new UdpRepr(sport, dport, payload);
  const l4 = new Uint8Array(r.bufferLen());
  r.emit(new UdpPacket(l4), pseudoHeaderSum(src, dst, 17, l4.length));
  return ip(version, 17, l4, src, dst);
}

export function tcp(
  version: 4 | 6,
  init: Partial<TcpReprInit> & { flags: number },
  src: Uint8Array = version === 4 ? C4 : C6,
  dst: Uint8Array = version === 4 ? S4 : S6,
): Uint8Array {
  const r = new TcpRepr({ srcPort: 40000, dstPort: 443, seq: 1, ...init });
  const l4 = new Uint8Array(r.bufferLen());
  r.emit(new TcpPacket(l4), pseudoHeaderSum(src, dst, 6, l4.length));
  return ip(version, 6, l4, src, dst);
}

export function echo(
  version: 4 | 6,
  data: Uint8Array,
  src: Uint8Array = version === 4 ? C4 : C6,
  dst: Uint8Array = version === 4 ? S4 : S6,
): Uint8Array {
  const r = new IcmpRepr(version === 4 ? 8 : 128, 0, (0x4242 << 16) | 1, data);
  const l4 = new Uint8Array(r.bufferLen());
  r.emit(new IcmpPacket(l4), version === 4 ? 0 : pseudoHeaderSum(src, dst, 58, l4.length));
  return ip(version, version === 4 ? 1 : 58, l4, src, dst);
}

/** Splits an IPv4 packet into fragments carrying at most `size` payload bytes (a multiple of 8). */
export function fragment4(packet: Uint8Array, size: number): Uint8Array[] {
  const hl = (packet[0]! & 15) * 4;
  const payload = packet.subarray(hl);
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const n = Math.min(size, payload.length - off);
    const f = new Uint8Array(hl + n);
    f.set(packet.subarray(0, hl));
    f.set(payload.subarray(off, off + n), hl);
    const p = new Ipv4Packet(f);
    p.setTotalLen(hl + n);
    p.setFragment(false, off + n < payload.length, off);
    p.fillChecksum();
    out.push(f);
  }
  return out;
}

/**
 * Splits an IPv6 packet (no extension headers, or with `unfrag` bytes of them kept in front) into
 * fragments with a fragment header, at most `size` payload bytes each.
 */
export function fragment6(packet: Uint8Array, size: number, ident = 7, unfrag = 40): Uint8Array[] {
  // Find the next-header byte naming the first fragmentable header.
  let field = 6;
  for (let off = 40; off < unfrag;) {
    field = off;
    off += (packet[off + 1]! + 1) * 8;
  }
  const firstNext = packet[field]!;
  const payload = packet.subarray(unfrag);
  const out: Uint8Array[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const n = Math.min(size, payload.length - off);
    const f = new Uint8Array(unfrag + 8 + n);
    f.set(packet.subarray(0, unfrag));
    f[field] = 44;
    f[unfrag] = firstNext;
    f[unfrag + 2] = off >> 8;
    f[unfrag + 3] = (off & 0xf8) | (off + n < payload.length ? 1 : 0);
    f[unfrag + 4] = ident >>> 24;
    f[unfrag + 5] = ident >>> 16;
    f[unfrag + 6] = ident >>> 8;
    f[unfrag + 7] = ident;
    f.set(payload.subarray(off, off + n), unfrag + 8);
    const pl = f.length - 40;
    f[4] = pl >> 8;
    f[5] = pl;
    out.push(f);
  }
  return out;
}
