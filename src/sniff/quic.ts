/**
 * QUIC Initial sniffer: the TLS ClientHello's server name from a client's Initial packets.
 *
 * Per datagram: every coalesced long-header packet is examined; Initial packets of QUIC v1
 * (RFC 9000/9001), v2 (RFC 9369) and draft-29 are decrypted with keys derived from their
 * Destination Connection ID, their frames are read (PADDING, PING, ACK, CRYPTO,
 * CONNECTION_CLOSE; anything else means "not a client Initial"), and the CRYPTO data is
 * reassembled by offset. When the ClientHello is complete the result is `quic` with the SNI;
 * when it continues in a later datagram (large post-quantum key shares do this) the answer is
 * `need-more` and the {@linkcode QuicSniffState} carries the fragments to the next call.
 *
 * Crypto uses WebCrypto only: HKDF-Extract/Expand-Label as HMAC-SHA-256 (`crypto.subtle.sign`),
 * header protection as AES-128-ECB on one block, computed as the first block of AES-CBC with a
 * zero IV (CBC with IV 0 encrypts block 1 as E(k, sample)), payload as AES-128-GCM.
 *
 * Client guess (sing-box `common/sniff/quic.go`, on the frames of the packet that completed the
 * ClientHello): one frame only → `firefox`; CRYPTO then only PADDING with Safari's GREASE
 * pattern (2 versions and 5 groups, both led by GREASE) or its single-suite hello → `safari`;
 * only PADDING then one CRYPTO last → `quic-go`; several CRYPTO frames or a PING → `chromium`;
 * otherwise `unknown`. A ClientHello spread over several datagrams is `chromium`, as in
 * sing-box. (sing-box's extra uQUIC fingerprint check is not reproduced.)
 *
 * @module
 */

import { matched, NEED_MORE, noMatch, type SniffResult } from "./result.ts";
import { type ClientHelloInfo, parseHandshakeClientHello } from "./tls.ts";

/** QUIC versions with Initial protection this sniffer knows. */
export const QUIC_V1 = 0x00000001;
export const QUIC_V2 = 0x6b3343cf;
export const QUIC_DRAFT29 = 0xff00001d;

interface VersionParams {
  salt: Uint8Array;
  keyLabel: string;
  ivLabel: string;
  hpLabel: string;
  /** Long-header packet type bits of an Initial packet. */
  initialType: number;
}

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

const VERSIONS = new Map<number, VersionParams>([
  [QUIC_V1, {
    salt: hex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
    keyLabel: "quic key",
    ivLabel: "quic iv",
    hpLabel: "quic hp",
    initialType: 0,
  }],
  [QUIC_V2, {
    salt: hex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
    keyLabel: "quicv2 key",
    ivLabel: "quicv2 iv",
    hpLabel: "quicv2 hp",
    initialType: 1,
  }],
  [QUIC_DRAFT29, {
    salt: hex("afbfec289993d24c9e9786f19c6111e04390a899"),
    keyLabel: "quic key",
    ivLabel: "quic iv",
    hpLabel: "quic hp",
    initialType: 0,
  }],
]);

/** Client Initial keys for one connection ID. */
export interface InitialKeys {
  key: Uint8Array;
  iv: Uint8Array;
  hp: Uint8Array;
}

interface ImportedKeys {
  dcid: string;
  version: number;
  aead: CryptoKey;
  iv: Uint8Array;
  hp: CryptoKey;
}

/** State kept between datagrams of one flow while a ClientHello is incomplete. */
export interface QuicSniffState {
  /** CRYPTO data by offset, from every Initial seen so far. */
  fragments: { offset: number; data: Uint8Array }[];
  /** A previous datagram ended with an incomplete ClientHello. */
  pending: boolean;
  /** Keys of the last connection ID (Initials of one flow share it). */
  keys: ImportedKeys | null;
}

/** Fresh state for a flow. */
export function newQuicSniffState(): QuicSniffState {
  return { fragments: [], pending: false, keys: null };
}

const FRAME_PADDING = 0x00;
const FRAME_PING = 0x01;
const FRAME_ACK = 0x02;
const FRAME_ACK_ECN = 0x03;
const FRAME_CRYPTO = 0x06;
const FRAME_CONNECTION_CLOSE = 0x1c;
/** Upper bound for reassembled CRYPTO data (Go's maxHandshake + header). */
const MAX_CRYPTO = 65536 + 4;
/** Most CRYPTO fragments kept per flow (retransmissions and tiny frames cannot grow it). */
const MAX_FRAGMENTS = 256;

/**
 * Sniffs one UDP payload. Pass the same `state` for the following datagrams of a flow after a
 * `need-more`. Never rejects on malformed input.
 */
export async function sniffQuic(
  datagram: Uint8Array,
  state: QuicSniffState = newQuicSniffState(),
): Promise<SniffResult> {
  let pos = 0;
  let sawInitial = false;
  let lastFrames: number[] = [];
  let failure = "";
  while (pos < datagram.length) {
    const hdr = parseLongHeader(datagram, pos);
    if (typeof hdr === "string") {
      if (pos === 0) return noMatch(hdr);
      break; // trailing short-header packet or junk after coalesced packets
    }
    pos = hdr.end;
    if (hdr.type !== hdr.params.initialType) continue; // 0-RTT / Handshake / Retry: skip
    const plain = await decryptInitial(datagram, hdr, state);
    if (plain === null) {
      failure = "QUIC Initial did not decrypt";
      continue;
    }
    const frames = readFrames(plain, state);
    if (frames === null) return noMatch("unexpected frame in QUIC Initial");
    sawInitial = true;
    lastFrames = frames;
  }
  if (!sawInitial) return noMatch(failure || "no client QUIC Initial in datagram");
  if (state.fragments.length > MAX_FRAGMENTS) return noMatch("too many CRYPTO fragments");
  const stream = reassemble(state.fragments);
  if (stream === null) return noMatch("CRYPTO data too large");
  const hello = parseHandshakeClientHello(stream);
  if (hello === null) return noMatch("CRYPTO data is not a ClientHello");
  if (hello === "need-more") {
    state.pending = true;
    return NEED_MORE;
  }
  const client = state.pending ? "chromium" : guessClient(lastFrames, hello);
  return matched("quic", hello.serverName, client);
}

interface LongHeader {
  params: VersionParams;
  version: number;
  type: number;
  dcid: Uint8Array;
  /** Offset of the packet number field. */
  pnOffset: number;
  /** End of this packet (pnOffset + Length). */
  end: number;
  start: number;
}

function parseLongHeader(d: Uint8Array, start: number): LongHeader | string {
  if (d.length - start < 7) return "too short for a QUIC long header";
  const b0 = d[start]!;
  if ((b0 & 0x80) === 0 || (b0 & 0x40) === 0) return "not a QUIC long header";
  const version = ((d[start + 1]! << 24) | (d[start + 2]! << 16) | (d[start + 3]! << 8) |
    d[start + 4]!) >>> 0;
  const params = VERSIONS.get(version);
  if (!params) return "unknown QUIC version";
  const type = (b0 & 0x30) >> 4;
  let p = start + 5;
  const dcidLen = d[p++]!;
  if (dcidLen === 0 || dcidLen > 20) return "bad QUIC destination connection ID length";
  if (p + dcidLen >= d.length) return "truncated QUIC header";
  const dcid = d.subarray(p, p + dcidLen);
  p += dcidLen;
  const scidLen = d[p++]!;
  if (scidLen > 20) return "bad QUIC source connection ID length";
  p += scidLen;
  if (p > d.length) return "truncated QUIC header";
  const isInitial = type === params.initialType;
  if (isInitial) {
    const token = readVarint(d, p);
    if (token === null) return "truncated QUIC header";
    p = token.next + token.value;
    if (p > d.length) return "truncated QUIC token";
  } else if (isRetry(type, version)) {
    return "QUIC Retry packet";
  }
  const length = readVarint(d, p);
  if (length === null) return "truncated QUIC header";
  const pnOffset = length.next;
  const end = pnOffset + length.value;
  if (end > d.length) return "QUIC packet longer than the datagram";
  if (isInitial && length.value < 4 + 16) return "QUIC Initial too short to sample";
  return { params, version, type, dcid, pnOffset, end, start };
}

function isRetry(type: number, version: number): boolean {
  return version === QUIC_V2 ? type === 0 : type === 3;
}

/** RFC 9000 §16 variable-length integer. */
function readVarint(d: Uint8Array, p: number): { value: number; next: number } | null {
  if (p >= d.length) return null;
  const first = d[p]!;
  const len = 1 << (first >> 6);
  if (p + len > d.length) return null;
  let v = first & 0x3f;
  for (let i = 1; i < len; i++) v = v * 256 + d[p + i]!;
  return { value: v, next: p + len };
}

async function decryptInitial(
  d: Uint8Array,
  h: LongHeader,
  state: QuicSniffState,
): Promise<Uint8Array | null> {
  const keys = await keysFor(h, state);
  const sample = d.subarray(h.pnOffset + 4, h.pnOffset + 20);
  const mask = await aesBlock(keys.hp, sample);
  const first = d[h.start]! ^ (mask[0]! & 0x0f);
  const pnLen = (first & 0x03) + 1;
  // AAD: the header with the first byte and packet number unprotected.
  const aad = d.slice(h.start, h.pnOffset + pnLen);
  aad[0] = first;
  let pn = 0;
  for (let i = 0; i < pnLen; i++) {
    const b = d[h.pnOffset + i]! ^ mask[1 + i]!;
    aad[h.pnOffset - h.start + i] = b;
    pn = pn * 256 + b;
  }
  const nonce = keys.iv.slice();
  for (let i = 0; i < 4; i++) nonce[11 - i]! ^= (pn >>> (8 * i)) & 0xff;
  const ciphertext = d.subarray(h.pnOffset + pnLen, h.end);
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 },
      keys.aead,
      bufferSource(ciphertext),
    );
    return new Uint8Array(plain);
  } catch {
    return null;
  }
}

async function keysFor(h: LongHeader, state: QuicSniffState): Promise<ImportedKeys> {
  const id = toHex(h.dcid);
  const cached = state.keys;
  if (cached && cached.dcid === id && cached.version === h.version) return cached;
  const raw = await deriveClientInitialKeys(h.version, h.dcid);
  const keys: ImportedKeys = {
    dcid: id,
    version: h.version,
    aead: await crypto.subtle.importKey("raw", bufferSource(raw.key), "AES-GCM", false, [
      "decrypt",
    ]),
    iv: raw.iv,
    hp: await crypto.subtle.importKey("raw", bufferSource(raw.hp), "AES-CBC", false, ["encrypt"]),
  };
  state.keys = keys;
  return keys;
}

/**
 * Derives the client Initial key, IV and header-protection key for a Destination Connection
 * ID (RFC 9001 §5.2; RFC 9369 §3.3.1 for v2). Throws `RangeError` for an unknown version.
 */
export async function deriveClientInitialKeys(
  version: number,
  dcid: Uint8Array,
): Promise<InitialKeys> {
  const params = VERSIONS.get(version);
  if (!params) {
    throw new RangeError(`Cannot derive QUIC Initial keys for version 0x${version.toString(16)}`);
  }
  const initial = await hmacSha256(params.salt, dcid);
  const client = await expandLabel(initial, "client in", 32);
  return {
    key: await expandLabel(client, params.keyLabel, 16),
    iv: await expandLabel(client, params.ivLabel, 12),
    hp: await expandLabel(client, params.hpLabel, 16),
  };
}

async function hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    bufferSource(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, bufferSource(data)));
}

/** TLS 1.3 HKDF-Expand-Label with an empty context, for lengths up to 32 (one HMAC block). */
async function expandLabel(secret: Uint8Array, label: string, length: number): Promise<Uint8Array> {
  const full = "tls13 " + label;
  const info = new Uint8Array(2 + 1 + full.length + 1 + 1);
  info[0] = length >> 8;
  info[1] = length & 0xff;
  info[2] = full.length;
  for (let i = 0; i < full.length; i++) info[3 + i] = full.charCodeAt(i);
  info[3 + full.length] = 0; // context length
  info[4 + full.length] = 1; // HKDF-Expand block counter
  return (await hmacSha256(secret, info)).subarray(0, length);
}

/** AES-ECB of one block: the first block of AES-CBC with a zero IV. */
async function aesBlock(key: CryptoKey, block: Uint8Array): Promise<Uint8Array> {
  const out = await crypto.subtle.encrypt(
    { name: "AES-CBC", iv: new Uint8Array(16) },
    key,
    bufferSource(block),
  );
  return new Uint8Array(out, 0, 16);
}

/** Reads the frames of a decrypted Initial; stores CRYPTO data. Null on a disallowed frame. */
function readFrames(p: Uint8Array, state: QuicSniffState): number[] | null {
  const types: number[] = [];
  let pos = 0;
  while (pos < p.length) {
    const type = p[pos++]!;
    types.push(type);
    switch (type) {
      case FRAME_PADDING:
      case FRAME_PING:
        break;
      case FRAME_ACK:
      case FRAME_ACK_ECN: {
        const fields = [0, 0, 0, 0]; // largest, delay, range count, first range
        for (let i = 0; i < 4; i++) {
          const v = readVarint(p, pos);
          if (v === null) return null;
          fields[i] = v.value;
          pos = v.next;
        }
        const ranges = fields[2]!;
        if (ranges > p.length) return null;
        for (let i = 0; i < ranges * 2 + (type === FRAME_ACK_ECN ? 3 : 0); i++) {
          const v = readVarint(p, pos);
          if (v === null) return null;
          pos = v.next;
        }
        break;
      }
      case FRAME_CRYPTO: {
        const offset = readVarint(p, pos);
        if (offset === null) return null;
        const length = readVarint(p, offset.next);
        if (length === null) return null;
        pos = length.next;
        if (pos + length.value > p.length) return null;
        if (offset.value + length.value > MAX_CRYPTO) return null;
        state.fragments.push({ offset: offset.value, data: p.slice(pos, pos + length.value) });
        pos += length.value;
        break;
      }
      case FRAME_CONNECTION_CLOSE: {
        const code = readVarint(p, pos);
        if (code === null) return null;
        const frame = readVarint(p, code.next);
        if (frame === null) return null;
        const reason = readVarint(p, frame.next);
        if (reason === null) return null;
        pos = reason.next + reason.value;
        if (pos > p.length) return null;
        break;
      }
      default:
        return null;
    }
  }
  return types;
}

/** The contiguous CRYPTO stream from offset 0 (possibly empty); null when over the limit. */
function reassemble(fragments: { offset: number; data: Uint8Array }[]): Uint8Array | null {
  const sorted = [...fragments].sort((a, b) => a.offset - b.offset);
  let end = 0;
  for (const f of sorted) {
    if (f.offset > end) break;
    end = Math.max(end, f.offset + f.data.length);
  }
  if (end > MAX_CRYPTO) return null;
  const out = new Uint8Array(end);
  for (const f of sorted) {
    if (f.offset >= end) break;
    out.set(f.data.subarray(0, Math.min(f.data.length, end - f.offset)), f.offset);
  }
  return out;
}

function guessClient(types: number[], hello: ClientHelloInfo): string {
  if (types.length === 1) return "firefox";
  const grease = (v: number | undefined) => v !== undefined && (v & 0x0f0f) === 0x0a0a;
  const allPadding = (list: number[]) => list.every((t) => t === FRAME_PADDING);
  if (types[0] === FRAME_CRYPTO && allPadding(types.slice(1))) {
    if (
      hello.versions.length === 2 && grease(hello.versions[0]) && hello.groups.length === 5 &&
      grease(hello.groups[0])
    ) return "safari";
    if (
      hello.cipherSuites.length === 1 && hello.cipherSuites[0] === 0x1302 &&
      hello.groups.length === 1 && hello.groups[0] === 0x001d &&
      hello.signatureAlgorithms.length === 1 && hello.signatureAlgorithms[0] === 0x0403
    ) return "safari";
  }
  if (types[types.length - 1] === FRAME_CRYPTO && allPadding(types.slice(0, -1))) return "quic-go";
  let crypto = 0, ping = 0;
  for (const t of types) {
    if (t === FRAME_CRYPTO) crypto++;
    else if (t === FRAME_PING) ping++;
  }
  if (crypto > 1 || ping > 0) return "chromium";
  return "unknown";
}

/** WebCrypto takes views over ArrayBuffer only: copy views of shared memory. */
function bufferSource(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u.buffer instanceof ArrayBuffer ? u as Uint8Array<ArrayBuffer> : u.slice();
}

function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}
