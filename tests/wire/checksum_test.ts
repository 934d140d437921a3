import { deepEqual as assertEquals } from "node:assert/strict";
import fc from "fast-check";
import {
  checksum,
  foldSum,
  onesSum,
  pseudoHeaderSum,
  pseudoHeaderSumAt,
  updateChecksum16,
  updateChecksumBytes,
} from "../../src/wire/checksum.ts";

/** Straightforward RFC 1071 reference: 16-bit big-endian words, end-around carry each step. */
function referenceSum(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i += 2) {
    const w = (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
    s += w;
    if (s > 0xffff) s = (s & 0xffff) + 1;
  }
  return s;
}

Deno.test("`onesSum()` matches the RFC 1071 example", () => {
  // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
  const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assertEquals(onesSum(b), 0xddf2);
  assertEquals(checksum(b), 0x220d);
});

Deno.test("`onesSum()` matches a reference at every alignment and length", () => {
  const big = new Uint8Array(70000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  for (const off of [0, 1, 2, 3, 5, 6, 7]) {
    for (const len of [0, 1, 2, 3, 95, 96, 97, 98, 1499, 1500, 4097, 65535, 65536]) {
      assertEquals(
        onesSum(big, off, off + len),
        referenceSum(big, off, off + len),
        `${off}/${len}`,
      );
    }
  }
});

Deno.test("`onesSum()` agrees with the reference for random buffers (property)", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 3000 }),
      fc.nat(7),
      (data, pad) => {
        const buf = new Uint8Array(data.length + pad);
        buf.set(data, pad);
        return onesSum(buf, pad, pad + data.length) === referenceSum(data, 0, data.length);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("`onesSum()` of all-0xff words folds to 0xffff, not 0", () => {
  const b = new Uint8Array(4096).fill(0xff);
  assertEquals(onesSum(b), 0xffff);
  assertEquals(checksum(b), 0);
});

Deno.test("`foldSum()` folds sums above 2^32", () => {
  assertEquals(foldSum(0x1_0000_0000), 1);
  assertEquals(foldSum(0xffff * 100000), 0xffff);
});

Deno.test("`pseudoHeaderSum()` and `pseudoHeaderSumAt()` agree for IPv4 and IPv6", () => {
  const a4 = new Uint8Array([10, 0, 0, 1]), b4 = new Uint8Array([192, 168, 1, 200]);
  const hdr = new Uint8Array(8);
  hdr.set(a4, 0);
  hdr.set(b4, 4);
  assertEquals(pseudoHeaderSum(a4, b4, 6, 1234), pseudoHeaderSumAt(hdr, 0, 4, 4, 6, 1234));
  // Reference: sum of addresses, zero+protocol, and length.
  assertEquals(
    pseudoHeaderSum(a4, b4, 6, 1234),
    foldSum(0x0a00 + 0x0001 + 0xc0a8 + 0x01c8 + 6 + 1234),
  );
  const a6 = new Uint8Array(16).map((_, i) => i * 17),
    b6 = new Uint8Array(16).map((_, i) => 255 - i);
  const h6 = new Uint8Array(32);
  h6.set(a6, 0);
  h6.set(b6, 16);
  assertEquals(pseudoHeaderSum(a6, b6, 17, 70000), pseudoHeaderSumAt(h6, 0, 16, 16, 17, 70000));
});

Deno.test("`updateChecksum16()` equals a full recomputation (RFC 1624, property)", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 2, maxLength: 200 }),
      fc.nat(),
      fc.integer({ min: 0, max: 0xffff }),
      (data, at, word) => {
        const buf = new Uint8Array(data.length + (data.length & 1));
        buf.set(data);
        const i = (at % (buf.length / 2)) * 2;
        const before = checksum(buf);
        const old = (buf[i]! << 8) | buf[i + 1]!;
        buf[i] = word >> 8;
        buf[i + 1] = word & 0xff;
        const full = checksum(buf);
        const inc = updateChecksum16(before, old, word);
        // 0x0000 and 0xffff are the same one's complement value.
        return inc === full || (inc ^ full) === 0xffff && (inc === 0 || full === 0);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("`updateChecksumBytes()` follows an address and port rewrite", () => {
  const seg = new Uint8Array(60);
  for (let i = 0; i < seg.length; i++) seg[i] = i * 7;
  const before = checksum(seg);
  const repl = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const updated = updateChecksumBytes(before, seg, 12, repl, 0, 6);
  seg.set(repl, 12);
  assertEquals(updated, checksum(seg));
});
