/**
 * AEAD ciphers for the proxy protocols (shadowsocks, VMess, WireGuard): AES-GCM and
 * ChaCha20-Poly1305 with 12-byte nonces and 16-byte tags, sealed output = ciphertext ‖ tag.
 *
 * The primitives are the runtime's, never hand-written:
 *
 * - ChaCha20-Poly1305: `node:crypto` (synchronous). Measured on the 2-core VM (loaded): about
 *   300–450 MB/s on 16 KiB, with a fixed cost of 5–20 µs per call.
 * - AES-GCM: WebCrypto for bulk data (asynchronous; Deno's WebCrypto uses the CPU's AES
 *   instructions: 16 KiB in 40–60 µs, 400–500 MB/s with a few calls in flight), and
 *   `node:crypto` for the small synchronous pieces (length fields, headers), whose AES-GCM runs
 *   in software at about 60 MB/s (too slow for bulk, fine for 18 bytes).
 *
 * - Both, when the system's OpenSSL libcrypto loads (Linux, `ffi/libcrypto.ts`): its EVP
 *   interface through FFI, synchronous, with the CPU's AES instructions. Deno's `node:crypto`
 *   AES-GCM has none (the figures above), so this is what makes the AES protocols fast; the
 *   runtime's path stays for systems without it (macOS) and for `TUNBOX_OPENSSL=0`.
 *
 * So {@linkcode Aead.seal}/{@linkcode Aead.open} may return a promise (AES-GCM) or bytes
 * (ChaCha20-Poly1305); callers that keep order queue either ({@linkcode FramedStream}).
 * {@linkcode Aead.sealSync}/{@linkcode Aead.openSync} are always synchronous.
 *
 * ```ts
 * const aead = await createAead("aes-128-gcm", key);
 * const sealed = await aead.seal(nonce, plaintext);   // ciphertext ‖ 16-byte tag
 * const plain = aead.openSync(nonce, sealed);         // throws AeadError when forged
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import nodeCrypto from "node:crypto";
import {
  EVP_CTRL_AEAD_GET_TAG,
  EVP_CTRL_AEAD_SET_TAG,
  type Libcrypto,
  libcrypto,
} from "../../ffi/libcrypto.ts";
import { carveBytes } from "../io/carve.ts";

/** The AEAD algorithms tunbox's protocols use. */
export type AeadAlgorithm = "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";

/** Key length in bytes of each algorithm. */
export const AEAD_KEY_LENGTH: Record<AeadAlgorithm, number> = {
  "aes-128-gcm": 16,
  "aes-256-gcm": 32,
  "chacha20-poly1305": 32,
};

/** Every algorithm here appends a 16-byte tag. */
export const TAG_LENGTH = 16;
/** Every algorithm here takes a 12-byte nonce. */
export const NONCE_LENGTH = 12;

/** A message failed authentication (wrong key, or forged or corrupted bytes). */
export class AeadError extends Error {
  override name = "AeadError";
}

/** One key of one algorithm. */
export interface Aead {
  readonly algorithm: AeadAlgorithm;
  /** True when {@linkcode seal}/{@linkcode open} of bulk data return promises (WebCrypto). */
  readonly bulkAsync: boolean;
  /** Encrypts `plaintext`; the result is ciphertext ‖ tag. Inputs may be reused at once. */
  seal(
    nonce: Uint8Array,
    plaintext: Uint8Array,
    aad?: Uint8Array,
  ): Uint8Array | Promise<Uint8Array>;
  /** Decrypts ciphertext ‖ tag; throws (or rejects with) {@linkcode AeadError} when forged. */
  open(nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** Synchronous {@linkcode seal}. */
  sealSync(nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array;
  /** Synchronous {@linkcode open}; throws {@linkcode AeadError}. */
  openSync(nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array;
  /**
   * {@linkcode sealSync} into `out` (at least `plaintext.length + 16` bytes): no allocation
   * where libcrypto is used. `out` may start at `plaintext`'s first byte (sealing in place), but
   * must not overlap it otherwise. Returns the bytes written (`plaintext.length + 16`).
   *
   * ```ts
   * const n = aead.sealInto(nonce, packet, datagram.subarray(16)); // ciphertext ‖ tag
   * ```
   */
  sealInto(nonce: Uint8Array, plaintext: Uint8Array, out: Uint8Array, aad?: Uint8Array): number;
  /**
   * {@linkcode openSync} into `out` (at least `sealed.length - 16` bytes), with the same
   * aliasing rule as {@linkcode sealInto}; returns the plaintext's length. Throws
   * {@linkcode AeadError} when forged (then `out` holds unauthenticated bytes: ignore them).
   */
  openInto(nonce: Uint8Array, sealed: Uint8Array, out: Uint8Array, aad?: Uint8Array): number;
}

function checkRoom(what: string, out: Uint8Array, need: number): void {
  if (out.length < need) {
    throw new RangeError(`${what}: output has ${out.length} bytes, needs ${need}`);
  }
}

function view(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The synchronous half, on `node:crypto`. */
class NodeAead {
  readonly #cipher: "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305";
  readonly #key: Buffer;

  constructor(readonly algorithm: AeadAlgorithm, key: Uint8Array) {
    this.#cipher = algorithm;
    this.#key = Buffer.from(key);
  }

  sealSync(nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
    // deno-lint-ignore no-explicit-any
    const c = nodeCrypto.createCipheriv(this.#cipher as any, this.#key, view(nonce), {
      authTagLength: TAG_LENGTH,
    }) as nodeCrypto.CipherGCM;
    if (aad && aad.length > 0) c.setAAD(view(aad));
    const body = c.update(view(plaintext));
    c.final();
    const tag = c.getAuthTag();
    if (body.length === 0) return new Uint8Array(tag);
    return concat(body, tag);
  }

  openSync(nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array {
    if (sealed.length < TAG_LENGTH) throw new AeadError("message shorter than its tag");
    const n = sealed.length - TAG_LENGTH;
    // deno-lint-ignore no-explicit-any
    const d = nodeCrypto.createDecipheriv(this.#cipher as any, this.#key, view(nonce), {
      authTagLength: TAG_LENGTH,
    }) as nodeCrypto.DecipherGCM;
    d.setAuthTag(view(sealed.subarray(n)));
    if (aad && aad.length > 0) d.setAAD(view(aad));
    const out = n > 0 ? d.update(view(sealed.subarray(0, n))) : new Uint8Array(0);
    try {
      d.final();
    } catch {
      throw new AeadError("message authentication failed");
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  sealInto(nonce: Uint8Array, plaintext: Uint8Array, out: Uint8Array, aad?: Uint8Array): number {
    checkRoom("seal", out, plaintext.length + TAG_LENGTH);
    const sealed = this.sealSync(nonce, plaintext, aad);
    out.set(sealed);
    return sealed.length;
  }

  openInto(nonce: Uint8Array, sealed: Uint8Array, out: Uint8Array, aad?: Uint8Array): number {
    checkRoom("open", out, sealed.length - TAG_LENGTH);
    const plain = this.openSync(nonce, sealed, aad);
    out.set(plain);
    return plain.length;
  }
}

class SyncAead extends NodeAead implements Aead {
  readonly bulkAsync = false;
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
    return this.sealSync(nonce, plaintext, aad);
  }
  open(nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array {
    return this.openSync(nonce, sealed, aad);
  }
}

/** `int *outl` for the EVP calls (one per thread; every call is synchronous). */
const OUT_LEN = new Uint8Array(4);
/** The tag of the message being opened (one per thread; every call is synchronous). */
const TAG = new Uint8Array(TAG_LENGTH);
/** Where `EVP_CipherFinal_ex` writes nothing (AEAD modes have no final block). */
const NO_OUT = new Uint8Array(16);

/** Frees the EVP contexts of an {@linkcode OpenSslAead} once it is garbage. */
const contexts = new FinalizationRegistry<{ lib: Libcrypto; ctx: Deno.PointerObject }>(
  ({ lib, ctx }) => lib.EVP_CIPHER_CTX_free(ctx),
);

/** An AEAD on OpenSSL's EVP interface: one context per direction, keyed once. */
class OpenSslAead implements Aead {
  readonly bulkAsync = false;
  readonly #lib: Libcrypto;
  readonly #seal: Deno.PointerObject;
  readonly #open: Deno.PointerObject;

  constructor(readonly algorithm: AeadAlgorithm, key: Uint8Array, lib: Libcrypto) {
    this.#lib = lib;
    const cipher = algorithm === "aes-128-gcm"
      ? lib.EVP_aes_128_gcm()
      : algorithm === "aes-256-gcm"
      ? lib.EVP_aes_256_gcm()
      : lib.EVP_chacha20_poly1305();
    this.#seal = this.#context(cipher, key, 1);
    this.#open = this.#context(cipher, key, 0);
  }

  #context(cipher: Deno.PointerValue, key: Uint8Array, enc: 0 | 1): Deno.PointerObject {
    const lib = this.#lib;
    const ctx = lib.EVP_CIPHER_CTX_new();
    if (ctx === null) throw new Error(`${this.algorithm}: EVP_CIPHER_CTX_new failed`);
    contexts.register(this, { lib, ctx });
    if (lib.EVP_CipherInit_ex(ctx, cipher, null, key, null, enc) !== 1) {
      throw new Error(`${this.algorithm}: EVP_CipherInit_ex refused the key`);
    }
    return ctx;
  }

  sealSync(nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
    const out = new Uint8Array(plaintext.length + TAG_LENGTH);
    this.#sealTo(nonce, plaintext, out, aad);
    return out;
  }

  sealInto(nonce: Uint8Array, plaintext: Uint8Array, out: Uint8Array, aad?: Uint8Array): number {
    checkRoom("seal", out, plaintext.length + TAG_LENGTH);
    return this.#sealTo(nonce, plaintext, out, aad);
  }

  #sealTo(nonce: Uint8Array, plaintext: Uint8Array, out: Uint8Array, aad?: Uint8Array): number {
    const lib = this.#lib, ctx = this.#seal, n = plaintext.length;
    if (
      lib.EVP_CipherInit_ex(ctx, null, null, null, nonce, -1) !== 1 ||
      (aad !== undefined && aad.length > 0 &&
        lib.EVP_CipherUpdate(ctx, null, OUT_LEN, aad, aad.length) !== 1) ||
      (n > 0 && lib.EVP_CipherUpdate(ctx, out, OUT_LEN, plaintext, n) !== 1) ||
      lib.EVP_CipherFinal_ex(ctx, NO_OUT, OUT_LEN) !== 1 ||
      lib.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LENGTH, out.subarray(n)) !== 1
    ) {
      throw new Error(`${this.algorithm}: seal failed in libcrypto`);
    }
    return n + TAG_LENGTH;
  }

  openSync(nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array {
    if (sealed.length < TAG_LENGTH) throw new AeadError("message shorter than its tag");
    const out = new Uint8Array(sealed.length - TAG_LENGTH);
    this.#openTo(nonce, sealed, out, aad);
    return out;
  }

  openInto(nonce: Uint8Array, sealed: Uint8Array, out: Uint8Array, aad?: Uint8Array): number {
    if (sealed.length < TAG_LENGTH) throw new AeadError("message shorter than its tag");
    checkRoom("open", out, sealed.length - TAG_LENGTH);
    return this.#openTo(nonce, sealed, out, aad);
  }

  #openTo(nonce: Uint8Array, sealed: Uint8Array, out: Uint8Array, aad?: Uint8Array): number {
    const lib = this.#lib, ctx = this.#open, n = sealed.length - TAG_LENGTH;
    // The tag is copied out before the ciphertext is decrypted (in place, its bytes may be
    // overwritten); no subarray views: one chunk of ~2 KB each costs them twice per chunk.
    for (let i = 0; i < TAG_LENGTH; i++) TAG[i] = sealed[n + i]!;
    if (
      lib.EVP_CipherInit_ex(ctx, null, null, null, nonce, -1) !== 1 ||
      lib.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LENGTH, TAG) !== 1 ||
      (aad !== undefined && aad.length > 0 &&
        lib.EVP_CipherUpdate(ctx, null, OUT_LEN, aad, aad.length) !== 1) ||
      // The first n bytes of `sealed` (the length bounds what libcrypto reads).
      (n > 0 && lib.EVP_CipherUpdate(ctx, out, OUT_LEN, sealed, n) !== 1)
    ) {
      throw new Error(`${this.algorithm}: open failed in libcrypto`);
    }
    if (lib.EVP_CipherFinal_ex(ctx, NO_OUT, OUT_LEN) !== 1) {
      throw new AeadError("message authentication failed");
    }
    return n;
  }

  seal(nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
    return this.sealSync(nonce, plaintext, aad);
  }

  open(nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array {
    return this.openSync(nonce, sealed, aad);
  }
}

/** Below this size the synchronous path is cheaper than a WebCrypto round trip. */
const ASYNC_MIN = 1024;

class AesGcmAead extends NodeAead implements Aead {
  readonly bulkAsync = true;
  constructor(algorithm: AeadAlgorithm, key: Uint8Array, readonly webKey: CryptoKey) {
    super(algorithm, key);
  }

  seal(
    nonce: Uint8Array,
    plaintext: Uint8Array,
    aad?: Uint8Array,
  ): Uint8Array | Promise<Uint8Array> {
    if (plaintext.length < ASYNC_MIN) return this.sealSync(nonce, plaintext, aad);
    // WebCrypto copies its inputs before returning, so the caller may reuse them.
    const params: AesGcmParams = { name: "AES-GCM", iv: nonce as Uint8Array<ArrayBuffer> };
    if (aad && aad.length > 0) params.additionalData = aad as Uint8Array<ArrayBuffer>;
    return crypto.subtle.encrypt(params, this.webKey, plaintext as Uint8Array<ArrayBuffer>)
      .then((b) => new Uint8Array(b));
  }

  open(nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array | Promise<Uint8Array> {
    if (sealed.length < ASYNC_MIN) return this.openSync(nonce, sealed, aad);
    const params: AesGcmParams = { name: "AES-GCM", iv: nonce as Uint8Array<ArrayBuffer> };
    if (aad && aad.length > 0) params.additionalData = aad as Uint8Array<ArrayBuffer>;
    return crypto.subtle.decrypt(params, this.webKey, sealed as Uint8Array<ArrayBuffer>).then(
      (b) => new Uint8Array(b),
      () => {
        throw new AeadError("message authentication failed");
      },
    );
  }
}

/** Makes an {@linkcode Aead} for `key` (which must have the algorithm's length). */
export async function createAead(algorithm: AeadAlgorithm, key: Uint8Array): Promise<Aead> {
  const want = AEAD_KEY_LENGTH[algorithm];
  if (key.length !== want) {
    throw new RangeError(`${algorithm} needs a ${want}-byte key, got ${key.length} bytes`);
  }
  const lib = libcrypto();
  if (lib) return new OpenSslAead(algorithm, key, lib);
  if (algorithm === "chacha20-poly1305") return new SyncAead(algorithm, key);
  const webKey = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    "AES-GCM",
    false,
    ["encrypt", "decrypt"],
  );
  return new AesGcmAead(algorithm, key, webKey);
}

/** A synchronous-only {@linkcode Aead} (per-packet keys, where importing a WebCrypto key costs more than it saves). */
export function createSyncAead(algorithm: AeadAlgorithm, key: Uint8Array): Aead {
  const want = AEAD_KEY_LENGTH[algorithm];
  if (key.length !== want) {
    throw new RangeError(`${algorithm} needs a ${want}-byte key, got ${key.length} bytes`);
  }
  const lib = libcrypto();
  return lib ? new OpenSslAead(algorithm, key, lib) : new SyncAead(algorithm, key);
}

/**
 * Opens one bulk chunk of a stream protocol (VMess, shadowsocks) into bytes of its own, like
 * {@linkcode Aead.open}, but without an allocation per chunk where the cipher is synchronous:
 * the plaintext goes to `space(n)`: by default {@linkcode carveBytes} (so the result stays the
 * caller's), or a stream's own receive room (`FramedStream.inSpace`). Throws, or rejects with,
 * {@linkcode AeadError} when forged.
 *
 * ```ts
 * // bytes (in place, in the stream's receive block), or a promise of them (WebCrypto)
 * this.queueIn(openChunk(aead, nonce, sealed, this.inSpace));
 * ```
 */
export function openChunk(
  aead: Aead,
  nonce: Uint8Array,
  sealed: Uint8Array,
  space: (n: number) => Uint8Array = carveBytes,
): Uint8Array | Promise<Uint8Array> {
  if (aead.bulkAsync) return aead.open(nonce, sealed);
  if (sealed.length < TAG_LENGTH) throw new AeadError("message shorter than its tag");
  const n = sealed.length - TAG_LENGTH;
  const out = space(n);
  aead.openInto(nonce, sealed, out);
  return out;
}

/**
 * Increments a little-endian counter nonce in place (shadowsocks AEAD, SIP004: the nonce starts
 * at zero and counts every seal/open).
 */
export function incrementLe(nonce: Uint8Array): void {
  for (let i = 0; i < nonce.length; i++) {
    nonce[i] = (nonce[i]! + 1) & 0xff;
    if (nonce[i] !== 0) return;
  }
}
