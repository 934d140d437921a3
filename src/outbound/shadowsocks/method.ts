/**
 * Shadowsocks methods and keys: the AEAD ciphers of SIP004 (`aes-128-gcm`, `aes-256-gcm`,
 * `chacha20-ietf-poly1305`), the SIP022 "2022" ciphers (`2022-blake3-*`), and `none`.
 *
 * - AEAD: the master key is OpenSSL's `EVP_BytesToKey(MD5)` of the password; each direction of
 *   a connection (and each UDP packet) uses `HKDF-SHA1(key, salt, "ss-subkey")`.
 * - 2022: the password is one or more base64 keys separated by `:` (identity PSKs for relays,
 *   then the user PSK); a key longer than the method's is reduced with SHA-256 (sing-box does
 *   the same); each session key is `BLAKE3-derive_key("shadowsocks 2022 session subkey",
 *   PSK ‖ salt)`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import nodeCrypto from "node:crypto";
import { blake3 } from "@noble/hashes/blake3.js";
import type { AeadAlgorithm } from "../../crypto/aead.ts";
import {
  shadowsocksMethodFeature,
  shadowsocksPasswordProblem,
} from "../../config/decode_outbound.ts";
import { verdict } from "../../config/support.ts";

/** A method tunbox implements. */
export interface ShadowsocksMethod {
  readonly name: string;
  /** `aead` (SIP004), `2022` (SIP022) or `none` (plain). */
  readonly kind: "aead" | "2022" | "none";
  /** The AEAD (absent for `none`). */
  readonly aead: AeadAlgorithm | null;
  /** Key and salt length in bytes. */
  readonly keyLength: number;
}

const METHODS: Record<string, ShadowsocksMethod> = {
  "aes-128-gcm": { name: "aes-128-gcm", kind: "aead", aead: "aes-128-gcm", keyLength: 16 },
  "aes-256-gcm": { name: "aes-256-gcm", kind: "aead", aead: "aes-256-gcm", keyLength: 32 },
  "chacha20-ietf-poly1305": {
    name: "chacha20-ietf-poly1305",
    kind: "aead",
    aead: "chacha20-poly1305",
    keyLength: 32,
  },
  "2022-blake3-aes-128-gcm": {
    name: "2022-blake3-aes-128-gcm",
    kind: "2022",
    aead: "aes-128-gcm",
    keyLength: 16,
  },
  "2022-blake3-aes-256-gcm": {
    name: "2022-blake3-aes-256-gcm",
    kind: "2022",
    aead: "aes-256-gcm",
    keyLength: 32,
  },
  "2022-blake3-chacha20-poly1305": {
    name: "2022-blake3-chacha20-poly1305",
    kind: "2022",
    aead: "chacha20-poly1305",
    keyLength: 32,
  },
  "none": { name: "none", kind: "none", aead: null, keyLength: 0 },
};

/** The methods tunbox implements. */
export const SHADOWSOCKS_METHODS: readonly string[] = Object.keys(METHODS);

/** The method named `name`; throws a TypeError with the method's verdict otherwise. */
export function shadowsocksMethod(name: string): ShadowsocksMethod {
  const m = METHODS[name];
  if (m) return m;
  const id = shadowsocksMethodFeature(name);
  throw new TypeError(
    id
      ? verdict(id).message
      : `unknown shadowsocks method ${JSON.stringify(name)} (one of ${
        SHADOWSOCKS_METHODS.map((x) => `"${x}"`).join(", ")
      })`,
  );
}

/** OpenSSL's `EVP_BytesToKey` with MD5 and no salt: the SIP004 master key of a password. */
export function evpBytesToKey(password: string, keyLength: number): Uint8Array {
  const pass = new TextEncoder().encode(password);
  const out = new Uint8Array(keyLength);
  let prev = new Uint8Array(0);
  let off = 0;
  while (off < keyLength) {
    const h = nodeCrypto.createHash("md5");
    h.update(prev);
    h.update(pass);
    prev = new Uint8Array(h.digest());
    const take = Math.min(prev.length, keyLength - off);
    out.set(prev.subarray(0, take), off);
    off += take;
  }
  return out;
}

const SS_SUBKEY = Buffer.from("ss-subkey");

/** SIP004 per-session subkey: `HKDF-SHA1(key, salt, "ss-subkey")`. */
export function aeadSubkey(key: Uint8Array, salt: Uint8Array): Uint8Array {
  return new Uint8Array(nodeCrypto.hkdfSync("sha1", key, salt, SS_SUBKEY, key.length));
}

const SESSION_CONTEXT = new TextEncoder().encode("shadowsocks 2022 session subkey");
const IDENTITY_CONTEXT = new TextEncoder().encode("shadowsocks 2022 identity subkey");

function deriveKey(context: Uint8Array, a: Uint8Array, b: Uint8Array, length: number) {
  const material = new Uint8Array(a.length + b.length);
  material.set(a, 0);
  material.set(b, a.length);
  return blake3(material, { context, dkLen: length });
}

/** SIP022 session subkey: `BLAKE3-derive_key("shadowsocks 2022 session subkey", psk ‖ salt)`. */
export function sessionSubkey(psk: Uint8Array, salt: Uint8Array): Uint8Array {
  return deriveKey(SESSION_CONTEXT, psk, salt, psk.length);
}

/** SIP022 identity subkey (extended identity headers). */
export function identitySubkey(psk: Uint8Array, salt: Uint8Array): Uint8Array {
  return deriveKey(IDENTITY_CONTEXT, psk, salt, psk.length);
}

/** The first 16 bytes of BLAKE3(psk): what an identity header carries for the next PSK. */
export function pskHash(psk: Uint8Array): Uint8Array {
  return blake3(psk).subarray(0, 16);
}

/** The keys of a method: the master key (AEAD) or the PSK list (2022, user PSK last). */
export interface ShadowsocksKeys {
  readonly method: ShadowsocksMethod;
  /** AEAD: `[master key]`; 2022: identity PSKs then the user PSK; none: `[]`. */
  readonly keys: readonly Uint8Array[];
}

/** Derives the keys of `method` from the configured password; throws a TypeError if invalid. */
export function shadowsocksKeys(method: ShadowsocksMethod, password: string): ShadowsocksKeys {
  const problem = shadowsocksPasswordProblem(method.name, password);
  if (problem) throw new TypeError(problem);
  if (method.kind === "none") return { method, keys: [] };
  if (method.kind === "aead") return { method, keys: [evpBytesToKey(password, method.keyLength)] };
  const keys = password.split(":").map((p) => {
    const raw = new Uint8Array(Buffer.from(p, "base64"));
    if (raw.length === method.keyLength) return raw;
    // Longer keys are reduced as sing-box does.
    return new Uint8Array(nodeCrypto.createHash("sha256").update(raw).digest())
      .subarray(0, method.keyLength);
  });
  return { method, keys };
}
