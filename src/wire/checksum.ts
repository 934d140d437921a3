/**
 * The Internet checksum (RFC 1071): full sums over byte ranges, pseudo-header sums for TCP, UDP
 * and ICMPv6 over IPv4 and IPv6, and RFC 1624 incremental updates for rewrites.
 *
 * Sums are kept *folded* (a 16-bit one's complement sum in `0..0xffff`, not yet complemented) so
 * they compose: `foldSum(a + b)` is the sum over both ranges when the first range has even length.
 * {@linkcode checksum} complements at the end.
 *
 * The full sum reads the buffer as little-endian 16-bit words through a `Uint16Array` with deferred
 * carry folding and swaps the result (the one's complement sum is byte-order independent,
 * RFC 1071 §2(B)); short ranges use a byte loop.
 *
 * @module
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Below this many bytes the byte loop beats creating a `Uint16Array` view. */
const SMALL = 96;

/** Folds an unfolded non-negative sum (up to 2^53) to 16 bits with end-around carry. */
export function foldSum(x: number): number {
  if (x > 0xffffffff) x = (x % 0x10000) + Math.floor(x / 0x10000);
  x = (x & 0xffff) + (x >>> 16);
  x = (x & 0xffff) + (x >>> 16);
  return x;
}

function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

function smallSum(b: Uint8Array, start: number, end: number): number {
  let acc = 0;
  let i = start;
  for (; i + 1 < end; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  if (i < end) acc += b[i]! << 8;
  return foldSum(acc);
}

/**
 * Returns the folded one's complement sum of `buf[start..end)` read as big-endian 16-bit words
 * (an odd final byte is padded with zero), without complementing it.
 */
export function onesSum(buf: Uint8Array, start = 0, end: number = buf.length): number {
  const len = end - start;
  if (len < SMALL || !LITTLE_ENDIAN) return smallSum(buf, start, end);
  const abs = buf.byteOffset + start;
  const head = abs & 1;
  let acc = head === 1 ? buf[start]! << 8 : 0;
  const words = (len - head) >>> 1;
  const u = new Uint16Array(buf.buffer, abs + head, words);
  let x = 0;
  let i = 0;
  const n8 = words & ~7;
  for (; i < n8; i += 8) {
    x += u[i]! + u[i + 1]! + u[i + 2]! + u[i + 3]! + u[i + 4]! + u[i + 5]! + u[i + 6]! + u[i + 7]!;
  }
  for (; i < words; i++) x += u[i]!;
  // Little-endian words weigh even positions of the region by 1; data positions of even parity
  // must weigh 256, so the region's sum is swapped when it starts at an even data position.
  const f = foldSum(x);
  acc += head === 1 ? f : swap16(f);
  const p = head + words * 2;
  if (p < len) acc += (p & 1) === 1 ? buf[start + p]! : buf[start + p]! << 8;
  return foldSum(acc);
}

/** Returns the Internet checksum of `buf[start..end)` plus an `initial` folded sum. */
export function checksum(
  buf: Uint8Array,
  start = 0,
  end: number = buf.length,
  initial = 0,
): number {
  return ~foldSum(initial + onesSum(buf, start, end)) & 0xffff;
}

/**
 * Returns the folded pseudo-header sum for TCP/UDP/ICMPv6 (RFC 9293 §3.1, RFC 768, RFC 8200
 * §8.1): source and destination addresses read from `buf` at `srcOff` and `dstOff` (`addrLen`
 * 4 or 16 bytes each), the protocol (next header) number, and the upper-layer length.
 */
export function pseudoHeaderSumAt(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  addrLen: number,
  protocol: number,
  length: number,
): number {
  let acc = protocol + (length & 0xffff) + (length >>> 16);
  for (let i = 0; i < addrLen; i += 2) {
    acc += (buf[srcOff + i]! << 8) | buf[srcOff + i + 1]!;
    acc += (buf[dstOff + i]! << 8) | buf[dstOff + i + 1]!;
  }
  return foldSum(acc);
}

/** {@linkcode pseudoHeaderSumAt} over two separate address arrays of equal length (4 or 16). */
export function pseudoHeaderSum(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  length: number,
): number {
  return foldSum(
    onesSumShort(src) + onesSumShort(dst) + protocol + (length & 0xffff) + (length >>> 16),
  );
}

function onesSumShort(b: Uint8Array): number {
  let acc = 0;
  for (let i = 0; i + 1 < b.length; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  return acc;
}

/**
 * RFC 1624 eqn. 3: the checksum after one 16-bit word of the covered data changes from
 * `oldWord` to `newWord`: `HC' = ~(~HC + ~m + m')`.
 */
export function updateChecksum16(hc: number, oldWord: number, newWord: number): number {
  return ~foldSum((~hc & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/**
 * RFC 1624 over an even-length run of bytes (an address, or address and port): the checksum after
 * the covered bytes `oldBytes[oldOff..oldOff+len)` are replaced by `newBytes[newOff..newOff+len)`.
 * Call it before overwriting when both ranges are in the same buffer.
 */
export function updateChecksumBytes(
  hc: number,
  oldBytes: Uint8Array,
  oldOff: number,
  newBytes: Uint8Array,
  newOff: number,
  len: number,
): number {
  let acc = ~hc & 0xffff;
  for (let i = 0; i < len; i += 2) {
    acc += ~((oldBytes[oldOff + i]! << 8) | oldBytes[oldOff + i + 1]!) & 0xffff;
    acc += (newBytes[newOff + i]! << 8) | newBytes[newOff + i + 1]!;
  }
  return ~foldSum(acc) & 0xffff;
}
