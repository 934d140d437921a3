/**
 * The demo's deterministic download: the far server and the client generate the same bytes
 * from a seed, so a transfer is checked by SHA-256 without storing anything.
 *
 * @module
 */

/** `size` bytes of a xorshift32 sequence started from `seed` (little-endian words). */
export function demoPayload(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let x = (seed >>> 0) || 1;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    dv.setUint32(i, x, true);
  }
  for (; i < size; i++) out[i] = i & 0xff;
  return out;
}

/** Lower-case hex SHA-256 of `data`. */
export async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
