/**
 * OpenSSL's libcrypto (the EVP AEAD interface), loaded with `Deno.dlopen` when the system has
 * it: on Linux `libcrypto.so.3` (OpenSSL 3, every current distribution) or `libcrypto.so`. Deno's
 * own `node:crypto` AES-GCM runs without the CPU's AES instructions (about 150 MB/s on 16 KiB,
 * plus a fixed 6 µs per call), which caps the AES protocols; OpenSSL's EVP uses AES-NI/ARMv8-CE
 * and costs well under a microsecond per call through FFI. The primitives stay OpenSSL's.
 *
 * macOS is left out on purpose: its `/usr/lib/libcrypto.dylib` is not a public API (the process
 * aborts when it is loaded), so macOS keeps `node:crypto`/WebCrypto.
 *
 * Every symbol is synchronous and none is variadic (`EVP_CIPHER_CTX_ctrl` takes a fixed
 * `void *`); lengths are C `int`s.
 *
 * ```ts
 * const lib = libcrypto(); // null when the system has no usable libcrypto
 * ```
 *
 * @module
 */

/** The symbols table, with each one's C prototype. */
export const LIBCRYPTO_SYMBOLS = {
  /** EVP_CIPHER_CTX *EVP_CIPHER_CTX_new(void) */
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  /** void EVP_CIPHER_CTX_free(EVP_CIPHER_CTX *ctx) */
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  /** const EVP_CIPHER *EVP_aes_128_gcm(void) */
  EVP_aes_128_gcm: { parameters: [], result: "pointer" },
  /** const EVP_CIPHER *EVP_aes_256_gcm(void) */
  EVP_aes_256_gcm: { parameters: [], result: "pointer" },
  /** const EVP_CIPHER *EVP_chacha20_poly1305(void) */
  EVP_chacha20_poly1305: { parameters: [], result: "pointer" },
  /**
   * int EVP_CipherInit_ex(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *type, ENGINE *impl,
   *   const unsigned char *key, const unsigned char *iv, int enc)
   */
  EVP_CipherInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  /** int EVP_CipherUpdate(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl, const unsigned char *in, int inl) */
  EVP_CipherUpdate: { parameters: ["pointer", "buffer", "buffer", "buffer", "i32"], result: "i32" },
  /** int EVP_CipherFinal_ex(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl) */
  EVP_CipherFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  /** int EVP_CIPHER_CTX_ctrl(EVP_CIPHER_CTX *ctx, int type, int arg, void *ptr) */
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
} as const;

/** `EVP_CTRL_AEAD_GET_TAG` (= `EVP_CTRL_GCM_GET_TAG`, `<openssl/evp.h>`). */
export const EVP_CTRL_AEAD_GET_TAG = 0x10;
/** `EVP_CTRL_AEAD_SET_TAG` (= `EVP_CTRL_GCM_SET_TAG`). */
export const EVP_CTRL_AEAD_SET_TAG = 0x11;

/** The loaded library's functions. */
export type Libcrypto = Deno.DynamicLibrary<typeof LIBCRYPTO_SYMBOLS>["symbols"];

/** Library names tried in order, per OS. */
export const LIBCRYPTO_NAMES: Record<string, readonly string[]> = {
  linux: ["libcrypto.so.3", "libcrypto.so"],
};

let loaded: Libcrypto | null | undefined;

/**
 * libcrypto's symbols, loaded once per thread; null when this OS has none tunbox may use, when
 * none loads, or when `TUNBOX_OPENSSL=0` turns it off (benchmarks compare both paths).
 */
export function libcrypto(): Libcrypto | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  let disabled = false;
  try {
    disabled = Deno.env.get("TUNBOX_OPENSSL") === "0";
  } catch {
    // No env permission: use it.
  }
  if (disabled) return null;
  for (const name of LIBCRYPTO_NAMES[Deno.build.os] ?? []) {
    try {
      loaded = Deno.dlopen(name, LIBCRYPTO_SYMBOLS).symbols;
      return loaded;
    } catch {
      // Try the next name.
    }
  }
  return null;
}
