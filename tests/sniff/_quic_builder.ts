/**
 * A client Initial packet encoder for QUIC sniffer tests (RFC 9001 §5; RFC 9369 for v2),
 * written against WebCrypto independently of the sniffer's decoder. Checked against the RFC
 * 9001 Appendix A.2 packet byte for byte in quic_test.ts.
 */

import { deriveClientInitialKeys, QUIC_V2 } from "../../src/sniff/quic.ts";

/** RFC 9000 §16 variable-length integer, smallest encoding (or a forced length). */
export function varint(v: number, forceLen?: 1 | 2 | 4 | 8): number[] {
  const len = forceLen ?? (v < 64 ? 1 : v < 16384 ? 2 : v < 2 ** 30 ? 4 : 8);
  const out: number[] = [];
  let x = v;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = x % 256;
    x = Math.floor(x / 256);
  }
  out[0]! |= ({ 1: 0, 2: 0x40, 4: 0x80, 8: 0xc0 } as Record<number, number>)[len]!;
  return out;
}

/** A CRYPTO frame. */
export function cryptoFrame(offset: number, data: Uint8Array): number[] {
  return [0x06, ...varint(offset), ...varint(data.length), ...data];
}

export interface InitialOptions {
  version?: number;
  dcid?: Uint8Array;
  scid?: Uint8Array;
  token?: Uint8Array;
  packetNumber?: number;
  pnLength?: 1 | 2 | 3 | 4;
  /** Frames (plaintext payload). */
  payload: Uint8Array | number[];
  /** Pad the plaintext with PADDING frames to this many bytes. */
  padTo?: number;
  /** Force the Length field encoding size (RFC A.2 uses 2). */
  lengthFieldSize?: 1 | 2 | 4 | 8;
}

/** Builds and protects one client Initial packet. */
export async function encodeInitial(o: InitialOptions): Promise<Uint8Array> {
  const version = o.version ?? 1;
  const dcid = o.dcid ?? Uint8Array.from([0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08]);
  const scid = o.scid ?? new Uint8Array(0);
  const token = o.token ?? new Uint8Array(0);
  const pn = o.packetNumber ?? 2;
  const pnLen = o.pnLength ?? 4;
  const plain = [...o.payload];
  while (o.padTo !== undefined && plain.length < o.padTo) plain.push(0);
  const initialType = version === QUIC_V2 ? 1 : 0;
  const first = 0xc0 | (initialType << 4) | (pnLen - 1);
  const length = pnLen + plain.length + 16;
  const header = [
    first,
    (version >>> 24) & 0xff,
    (version >>> 16) & 0xff,
    (version >>> 8) & 0xff,
    version & 0xff,
    dcid.length,
    ...dcid,
    scid.length,
    ...scid,
    ...varint(token.length),
    ...token,
    ...varint(length, o.lengthFieldSize),
  ];
  const pnOffset = header.length;
  for (let i = pnLen - 1; i >= 0; i--) header.push((pn >>> (8 * i)) & 0xff);
  const keys = await deriveClientInitialKeys(version, dcid);
  const nonce = keys.iv.slice();
  for (let i = 0; i < 4; i++) nonce[11 - i]! ^= (pn >>> (8 * i)) & 0xff;
  const aead = await crypto.subtle.importKey("raw", keys.key.slice(), "AES-GCM", false, [
    "encrypt",
  ]);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: new Uint8Array(header), tagLength: 128 },
      aead,
      new Uint8Array(plain),
    ),
  );
  const packet = new Uint8Array(header.length + sealed.length);
  packet.set(header);
  packet.set(sealed, header.length);
  // Header protection: AES-ECB(hp, sample) via the first block of AES-CTR with the sample as
  // the counter (a different construction from the decoder's CBC trick).
  const hp = await crypto.subtle.importKey("raw", keys.hp.slice(), "AES-CTR", false, ["encrypt"]);
  const sample = packet.slice(pnOffset + 4, pnOffset + 20);
  const mask = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-CTR", counter: sample, length: 64 },
      hp,
      new Uint8Array(16),
    ),
  );
  packet[0]! ^= mask[0]! & 0x0f;
  for (let i = 0; i < pnLen; i++) packet[pnOffset + i]! ^= mask[1 + i]!;
  return packet;
}

/** Concatenates byte arrays (coalesced packets in one datagram). */
export { concatBytes } from "../_helpers/bytes.ts";
