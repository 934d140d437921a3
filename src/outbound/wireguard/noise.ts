/**
 * WireGuard's cryptography and messages (the whitepaper, §5): the Noise_IKpsk2 handshake as the
 * initiator, MAC1/MAC2 and cookie replies, and transport keys. Primitives come from libraries:
 * X25519 and BLAKE2s from `@noble`, ChaCha20-Poly1305 from `node:crypto`, XChaCha20-Poly1305
 * (cookies only) from `@noble/ciphers`.
 *
 * ```ts
 * const hs = createInitiation(keys, localIndex, now, cookie);   // 148 bytes to send
 * const session = consumeResponse(keys, hs, response);          // null when it is not ours
 * ```
 *
 * @module
 */

import { x25519 } from "@noble/curves/ed25519.js";
import { blake2s } from "@noble/hashes/blake2.js";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { type Aead, createSyncAead } from "../../crypto/aead.ts";

export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT = 4;
export const INITIATION_SIZE = 148;
export const RESPONSE_SIZE = 92;
export const COOKIE_REPLY_SIZE = 64;
/** Transport header: type, receiver index, counter. */
export const TRANSPORT_HEADER = 16;

const te = new TextEncoder();
const CONSTRUCTION = te.encode("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s");
const IDENTIFIER = te.encode("WireGuard v1 zx2c4 Jason@zx2c4.com");
const LABEL_MAC1 = te.encode("mac1----");
const LABEL_COOKIE = te.encode("cookie--");

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** HASH: BLAKE2s-256. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  return blake2s(cat(...parts));
}

/** MAC: keyed BLAKE2s with a 16-byte output. */
export function mac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return blake2s(data, { key, dkLen: 16 });
}

/** HMAC-BLAKE2s-256 (RFC 2104 over BLAKE2s, block size 64). */
export function hmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  const k = new Uint8Array(64);
  k.set(key.length > 64 ? blake2s(key) : key);
  const ipad = k.map((b) => b ^ 0x36);
  const opad = k.map((b) => b ^ 0x5c);
  return blake2s(cat(opad, blake2s(cat(ipad, data))));
}

/** KDF_n (the whitepaper's HKDF with HMAC-BLAKE2s). */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const t0 = hmac(key, input);
  const out: Uint8Array[] = [];
  let prev: Uint8Array = new Uint8Array(0);
  for (let i = 1; i <= n; i++) {
    prev = hmac(t0, cat(prev, new Uint8Array([i])));
    out.push(prev);
  }
  return out;
}

const ZERO_NONCE = new Uint8Array(12);

function aeadSeal(key: Uint8Array, plain: Uint8Array, aad: Uint8Array): Uint8Array {
  return createSyncAead("chacha20-poly1305", key).sealSync(ZERO_NONCE, plain, aad);
}

function aeadOpen(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  return createSyncAead("chacha20-poly1305", key).openSync(ZERO_NONCE, sealed, aad);
}

/** The public key of a Curve25519 private key. */
export function publicKey(privateKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(privateKey);
}

function dh(priv: Uint8Array, pub: Uint8Array): Uint8Array {
  return x25519.getSharedSecret(priv, pub);
}

/** TAI64N of `ms` (Unix milliseconds): 8-byte seconds + 2^62 + 10, 4-byte nanoseconds. */
export function tai64n(ms: number): Uint8Array {
  const out = new Uint8Array(12);
  const dv = new DataView(out.buffer);
  const secs = Math.floor(ms / 1000);
  dv.setBigUint64(0, 0x400000000000000an + BigInt(secs));
  dv.setUint32(8, (ms - secs * 1000) * 1_000_000);
  return out;
}

/** Our keys and the peer's. */
export interface PeerKeys {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  peerPublicKey: Uint8Array;
  /** 32 bytes (zeros when not configured). */
  presharedKey: Uint8Array;
}

/** The handshake state kept between sending an initiation and its response. */
export interface Initiation {
  message: Uint8Array;
  localIndex: number;
  ephemeralPrivate: Uint8Array;
  chainKey: Uint8Array;
  hash: Uint8Array;
  /** MAC1 of the message (a cookie reply to it is sealed with it as AAD). */
  mac1: Uint8Array;
}

/** An established session's keys. */
export interface SessionKeys {
  localIndex: number;
  remoteIndex: number;
  send: Aead;
  receive: Aead;
}

/** Builds a handshake initiation (§5.4.2); `cookie` (16 bytes) sets MAC2. */
export function createInitiation(
  keys: PeerKeys,
  localIndex: number,
  nowMs: number,
  cookie: Uint8Array | null,
  ephemeralPrivate: Uint8Array = x25519.utils.randomSecretKey(),
): Initiation {
  let c = hash(CONSTRUCTION);
  let h = hash(c, IDENTIFIER);
  h = hash(h, keys.peerPublicKey);
  const ePub = x25519.getPublicKey(ephemeralPrivate);
  [c] = kdf(1, c, ePub) as [Uint8Array];
  h = hash(h, ePub);
  let k: Uint8Array;
  [c, k] = kdf(2, c, dh(ephemeralPrivate, keys.peerPublicKey)) as [Uint8Array, Uint8Array];
  const encStatic = aeadSeal(k, keys.publicKey, h);
  h = hash(h, encStatic);
  [c, k] = kdf(2, c, dh(keys.privateKey, keys.peerPublicKey)) as [Uint8Array, Uint8Array];
  const encTime = aeadSeal(k, tai64n(nowMs), h);
  h = hash(h, encTime);
  const msg = new Uint8Array(INITIATION_SIZE);
  const dv = new DataView(msg.buffer);
  msg[0] = MESSAGE_INITIATION;
  dv.setUint32(4, localIndex, true);
  msg.set(ePub, 8);
  msg.set(encStatic, 40);
  msg.set(encTime, 88);
  const mac1 = mac(hash(LABEL_MAC1, keys.peerPublicKey), msg.subarray(0, 116));
  msg.set(mac1, 116);
  if (cookie) msg.set(mac(cookie, msg.subarray(0, 132)), 132);
  return { message: msg, localIndex, ephemeralPrivate, chainKey: c, hash: h, mac1 };
}

/**
 * Consumes a handshake response (§5.4.3) to `init`; returns the session keys, or null when the
 * message is not a valid response to it (wrong MAC1, keys or authentication).
 */
export function consumeResponse(
  keys: PeerKeys,
  init: Initiation,
  msg: Uint8Array,
): SessionKeys | null {
  if (msg.length !== RESPONSE_SIZE || msg[0] !== MESSAGE_RESPONSE) return null;
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  if (dv.getUint32(8, true) !== init.localIndex) return null;
  const expected = mac(hash(LABEL_MAC1, keys.publicKey), msg.subarray(0, 60));
  if (!sameBytes(expected, msg.subarray(60, 76))) return null;
  const ePub = msg.subarray(12, 44);
  let c = init.chainKey;
  let h = init.hash;
  [c] = kdf(1, c, ePub) as [Uint8Array];
  h = hash(h, ePub);
  [c] = kdf(1, c, dh(init.ephemeralPrivate, ePub)) as [Uint8Array];
  [c] = kdf(1, c, dh(keys.privateKey, ePub)) as [Uint8Array];
  const [c2, t, k] = kdf(3, c, keys.presharedKey) as [Uint8Array, Uint8Array, Uint8Array];
  c = c2;
  h = hash(h, t);
  try {
    aeadOpen(k, msg.subarray(44, 60), h);
  } catch {
    return null;
  }
  const [send, receive] = kdf(2, c, new Uint8Array(0)) as [Uint8Array, Uint8Array];
  return {
    localIndex: init.localIndex,
    remoteIndex: dv.getUint32(4, true),
    send: createSyncAead("chacha20-poly1305", send),
    receive: createSyncAead("chacha20-poly1305", receive),
  };
}

/** Opens a cookie reply (§5.4.7) to the message whose MAC1 was `mac1`; null when invalid. */
export function consumeCookieReply(
  keys: PeerKeys,
  mac1: Uint8Array,
  msg: Uint8Array,
): Uint8Array | null {
  if (msg.length !== COOKIE_REPLY_SIZE || msg[0] !== MESSAGE_COOKIE_REPLY) return null;
  const key = hash(LABEL_COOKIE, keys.peerPublicKey);
  try {
    return xchacha20poly1305(key, msg.subarray(8, 32), mac1).decrypt(msg.subarray(32, 64));
  } catch {
    return null;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/**
 * The largest transport counter tunbox sends or accepts: counters are plain numbers (exact up
 * to 2^53; BigInt arithmetic cost microseconds per packet), and a session is replaced after two
 * minutes, long before it could count that far.
 */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/** The nonce of transport counter `n` (at most {@linkcode MAX_COUNTER}): 4 zero bytes, then `n` little-endian. */
export function counterNonce(out: Uint8Array, n: number): Uint8Array {
  writeCounter(out, 4, n);
  return out;
}

/** Writes counter `n` as 8 little-endian bytes at `off`. */
export function writeCounter(out: Uint8Array, off: number, n: number): void {
  const lo = n >>> 0, hi = Math.floor(n / 0x1_0000_0000);
  out[off] = lo;
  out[off + 1] = lo >>> 8;
  out[off + 2] = lo >>> 16;
  out[off + 3] = lo >>> 24;
  out[off + 4] = hi;
  out[off + 5] = hi >>> 8;
  out[off + 6] = hi >>> 16;
  out[off + 7] = hi >>> 24;
}

/** Reads the 8 little-endian counter bytes at `off`; -1 above {@linkcode MAX_COUNTER}. */
export function readCounter(b: Uint8Array, off: number): number {
  const lo = (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
  const hi = (b[off + 4]! | (b[off + 5]! << 8) | (b[off + 6]! << 16) | (b[off + 7]! << 24)) >>> 0;
  if (hi > 0x1f_ffff) return -1;
  return hi * 0x1_0000_0000 + lo;
}
