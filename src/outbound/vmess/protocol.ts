/**
 * VMess (AEAD header, `alter_id` 0) wire pieces: the user key, the nested-HMAC KDF, the auth
 * id, request header encoding (and reading, as a server: {@linkcode openRequest}) and response
 * header keys, as V2Ray and sing-vmess define them.
 *
 * ```
 * request  = authId(16) ‖ seal(len) (18) ‖ connection nonce (8) ‖ seal(header)
 * header   = 1 ‖ body IV (16) ‖ body key (16) ‖ response check (1) ‖ option ‖
 *            padding<<4|security ‖ 0 ‖ command ‖ port ‖ address ‖ padding ‖ FNV-1a-32
 * response = seal(len) ‖ seal(check ‖ option ‖ command ‖ command length ‖ command)
 * ```
 *
 * @module
 */

import nodeCrypto from "node:crypto";
import { AeadError, createSyncAead, TAG_LENGTH } from "../../crypto/aead.ts";
import type { Destination } from "../types.ts";

export const VERSION = 1;
export const SECURITY_AES_128_GCM = 3;
export const SECURITY_CHACHA20_POLY1305 = 4;
export const SECURITY_NONE = 5;
export const COMMAND_TCP = 1;
export const COMMAND_UDP = 2;
export const OPTION_CHUNK_STREAM = 1;
export const OPTION_CHUNK_MASKING = 4;
export const OPTION_GLOBAL_PADDING = 8;
export const OPTION_AUTHENTICATED_LENGTH = 16;

const te = new TextEncoder();

/**
 * The 16 bytes of a user id: a UUID, or any other string mapped to a name-based UUID (v5 in
 * the nil namespace), as sing-vmess and Xray accept it.
 */
export function parseUserId(id: string): Uint8Array {
  const hex = id.replace(/-/g, "");
  if (/^[0-9a-fA-F]{32}$/.test(hex) && (id.length === 32 || id.length === 36)) {
    const out = new Uint8Array(16);
    for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  const h = nodeCrypto.createHash("sha1").update(new Uint8Array(16)).update(te.encode(id)).digest();
  const out = new Uint8Array(h.subarray(0, 16));
  out[6] = (out[6]! & 0x0f) | 0x50;
  out[8] = (out[8]! & 0x3f) | 0x80;
  return out;
}

/** The VMess command key: MD5(user id ‖ "c48619fe-8f02-49e0-b9e9-edf763e17e21"). */
export function commandKey(userId: Uint8Array): Uint8Array {
  return new Uint8Array(
    nodeCrypto.createHash("md5").update(userId).update("c48619fe-8f02-49e0-b9e9-edf763e17e21")
      .digest(),
  );
}

type Hash = (data: Uint8Array) => Uint8Array;
const BLOCK = 64;

function hmacOver(parent: Hash, key: Uint8Array): Hash {
  const k = new Uint8Array(BLOCK);
  k.set(key.length > BLOCK ? parent(key) : key);
  const ipad = k.map((b) => b ^ 0x36);
  const opad = k.map((b) => b ^ 0x5c);
  return (data) => {
    const inner = new Uint8Array(BLOCK + data.length);
    inner.set(ipad);
    inner.set(data, BLOCK);
    const ih = parent(inner);
    const outer = new Uint8Array(BLOCK + ih.length);
    outer.set(opad);
    outer.set(ih, BLOCK);
    return parent(outer);
  };
}

const KDF_ROOT: Hash = (data) =>
  new Uint8Array(nodeCrypto.createHmac("sha256", "VMess AEAD KDF").update(data).digest());

/**
 * VMess AEAD KDF: HMAC-SHA256 keyed "VMess AEAD KDF", re-keyed as an HMAC whose hash is the
 * previous HMAC for `salt` and each `path` element, applied to `key` (32 bytes out).
 */
export function kdf(key: Uint8Array, salt: string, ...path: Uint8Array[]): Uint8Array {
  let h = hmacOver(KDF_ROOT, te.encode(salt));
  for (const p of path) h = hmacOver(h, p);
  return h(key);
}

/** FNV-1a, 32 bits. */
export function fnv1a32(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE). */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function aesEcb(key: Uint8Array, block: Uint8Array, decrypt = false): Uint8Array {
  const f = decrypt ? nodeCrypto.createDecipheriv : nodeCrypto.createCipheriv;
  const c = f("aes-128-ecb", key, null);
  c.setAutoPadding(false);
  return new Uint8Array(c.update(block));
}

/** The 16-byte auth id: AES(KDF(cmdKey, "AES Auth ID Encryption"), time ‖ random ‖ CRC32). */
export function authId(cmdKey: Uint8Array, unixSeconds: number, random4: Uint8Array): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, BigInt(unixSeconds));
  b.set(random4, 8);
  dv.setUint32(12, crc32(b.subarray(0, 12)));
  return aesEcb(kdf(cmdKey, "AES Auth ID Encryption").subarray(0, 16), b);
}

/** Decrypts an auth id (tests, and a server): returns its timestamp, or null on a bad CRC. */
export function openAuthId(cmdKey: Uint8Array, id: Uint8Array): number | null {
  const b = aesEcb(kdf(cmdKey, "AES Auth ID Encryption").subarray(0, 16), id, true);
  const dv = new DataView(b.buffer);
  if (dv.getUint32(12) !== crc32(b.subarray(0, 12))) return null;
  return Number(dv.getBigUint64(0));
}

/** VMess address: port first, then type 1 (IPv4), 2 (domain), 3 (IPv6). */
export function encodeVmessAddr(dest: Destination): Uint8Array {
  if (dest.addr) {
    const out = new Uint8Array(3 + dest.addr.length);
    out[0] = dest.port >> 8;
    out[1] = dest.port & 0xff;
    out[2] = dest.addr.length === 4 ? 1 : 3;
    out.set(dest.addr, 3);
    return out;
  }
  const name = te.encode(dest.domain ?? "");
  if (name.length > 255) throw new RangeError(`domain "${dest.domain}" is longer than 255 bytes`);
  const out = new Uint8Array(4 + name.length);
  out[0] = dest.port >> 8;
  out[1] = dest.port & 0xff;
  out[2] = 2;
  out[3] = name.length;
  out.set(name, 4);
  return out;
}

/** The request header (before sealing), FNV-1a appended. */
export function encodeRequestHeader(h: {
  bodyIv: Uint8Array;
  bodyKey: Uint8Array;
  responseCheck: number;
  option: number;
  security: number;
  command: number;
  dest: Destination;
  padding: Uint8Array;
}): Uint8Array {
  const addr = encodeVmessAddr(h.dest);
  const out = new Uint8Array(1 + 16 + 16 + 1 + 1 + 1 + 1 + 1 + addr.length + h.padding.length + 4);
  let o = 0;
  out[o++] = VERSION;
  out.set(h.bodyIv, o);
  o += 16;
  out.set(h.bodyKey, o);
  o += 16;
  out[o++] = h.responseCheck;
  out[o++] = h.option;
  out[o++] = (h.padding.length << 4) | h.security;
  out[o++] = 0;
  out[o++] = h.command;
  out.set(addr, o);
  o += addr.length;
  out.set(h.padding, o);
  o += h.padding.length;
  new DataView(out.buffer).setUint32(o, fnv1a32(out.subarray(0, o)));
  return out;
}

/** A request header as the server reads it ({@linkcode openRequest}). */
export interface OpenedRequest {
  /** Unix seconds from the auth id. */
  time: number;
  bodyIv: Uint8Array;
  bodyKey: Uint8Array;
  responseCheck: number;
  option: number;
  security: number;
  command: number;
  dest: Destination;
  paddingLength: number;
  /** Bytes of `buf` the request took (the body follows). */
  length: number;
}

/**
 * Reads an AEAD request as a VMess server does (the inverse of what the client sends; tests
 * check real clients' requests with it): the auth id's CRC, the sealed length and header under
 * the KDF keys of `cmdKey`, the header's FNV-1a. Returns null while `buf` is too short; throws
 * `AeadError` or `RangeError` naming what does not check out.
 */
export function openRequest(cmdKey: Uint8Array, buf: Uint8Array): OpenedRequest | null {
  const lenEnd = 16 + 2 + TAG_LENGTH;
  if (buf.length < lenEnd + 8) return null;
  const id = buf.subarray(0, 16);
  const time = openAuthId(cmdKey, id);
  if (time === null) throw new AeadError("the auth id does not decrypt under this user's key");
  const connNonce = buf.subarray(lenEnd, lenEnd + 8);
  const headerKey = (salt: string) => kdf(cmdKey, salt, id, connNonce);
  const lenAead = createSyncAead(
    "aes-128-gcm",
    headerKey("VMess Header AEAD Key_Length").subarray(0, 16),
  );
  const len = lenAead.openSync(
    headerKey("VMess Header AEAD Nonce_Length").subarray(0, 12),
    buf.subarray(16, lenEnd),
    id,
  );
  const headerLength = (len[0]! << 8) | len[1]!;
  const end = lenEnd + 8 + headerLength + TAG_LENGTH;
  if (buf.length < end) return null;
  const h = createSyncAead("aes-128-gcm", headerKey("VMess Header AEAD Key").subarray(0, 16))
    .openSync(
      headerKey("VMess Header AEAD Nonce").subarray(0, 12),
      buf.subarray(lenEnd + 8, end),
      id,
    );
  const dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
  if (h.length < 42 || dv.getUint32(h.length - 4) !== fnv1a32(h.subarray(0, h.length - 4))) {
    throw new RangeError("the request header's FNV-1a checksum does not match");
  }
  if (h[0] !== VERSION) throw new RangeError(`request header version ${h[0]}`);
  const port = (h[38]! << 8) | h[39]!;
  const type = h[40]!;
  let dest: Destination, off: number;
  if (type === 1 || type === 3) {
    const n = type === 1 ? 4 : 16;
    dest = { addr: h.slice(41, 41 + n), port };
    off = 41 + n;
  } else if (type === 2) {
    const n = h[41]!;
    dest = { domain: new TextDecoder().decode(h.subarray(42, 42 + n)), port };
    off = 42 + n;
  } else throw new RangeError(`request address type ${type}`);
  const paddingLength = h[35]! >> 4;
  if (off + paddingLength + 4 !== h.length) {
    throw new RangeError(`request header of ${h.length} bytes does not end after its padding`);
  }
  return {
    time,
    bodyIv: h.slice(1, 17),
    bodyKey: h.slice(17, 33),
    responseCheck: h[33]!,
    option: h[34]!,
    security: h[35]! & 0x0f,
    command: h[37]!,
    dest,
    paddingLength,
    length: end,
  };
}

/** The body key and IV of responses: the first 16 bytes of SHA-256 of the request's. */
export function responseKeys(bodyKey: Uint8Array, bodyIv: Uint8Array) {
  const sha = (b: Uint8Array) =>
    new Uint8Array(nodeCrypto.createHash("sha256").update(b).digest()).subarray(0, 16);
  return { key: sha(bodyKey), iv: sha(bodyIv) };
}

/** ChaCha20-Poly1305 body key: MD5(key) ‖ MD5(MD5(key)). */
export function chachaBodyKey(key: Uint8Array): Uint8Array {
  const a = nodeCrypto.createHash("md5").update(key).digest();
  const b = nodeCrypto.createHash("md5").update(a).digest();
  const out = new Uint8Array(32);
  out.set(a);
  out.set(b, 16);
  return out;
}
