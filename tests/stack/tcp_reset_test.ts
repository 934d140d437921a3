import assert from "node:assert/strict";
import { checksum, pseudoHeaderSumAt } from "../../src/wire/checksum.ts";
import { resetInPlace } from "../../src/stack/tcp_reset.ts";

function syn(v6: boolean, options = 0, payload = 0): [Uint8Array, number] {
  const ipLen = v6 ? 40 : 20;
  const hl = 20 + options;
  const p = new Uint8Array(ipLen + hl + payload);
  const dv = new DataView(p.buffer);
  if (v6) {
    p[0] = 0x60;
    dv.setUint16(4, hl + payload);
    p[6] = 6;
    p[7] = 64;
    p.set([0xfd, ...new Array(14).fill(0), 1], 8);
    p.set([0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), 9], 24);
  } else {
    p[0] = 0x45;
    dv.setUint16(2, p.length);
    p[8] = 64;
    p[9] = 6;
    p.set([198, 18, 0, 1], 12);
    p.set([203, 0, 113, 30], 16);
  }
  dv.setUint16(ipLen, 40123);
  dv.setUint16(ipLen + 2, 80);
  dv.setUint32(ipLen + 4, 0xfffffff0);
  p[ipLen + 12] = (hl / 4) << 4;
  p[ipLen + 13] = 0x02;
  return [p, ipLen];
}

function assertValid(r: Uint8Array, v6: boolean): void {
  if (!v6) assert.equal(checksum(r, 0, 20), 0);
  const t = v6 ? 40 : 20;
  const ps = pseudoHeaderSumAt(r, v6 ? 8 : 12, v6 ? 24 : 16, v6 ? 16 : 4, 6, 20);
  assert.equal(checksum(r, t, t + 20, ps), 0);
}

Deno.test("`resetInPlace()` refuses an IPv4 SYN with RST|ACK, ACK = SEQ + 1, swapped endpoints", () => {
  const [p, l4] = syn(false, 12);
  const r = p.subarray(0, resetInPlace(p, l4, p.length, 4));
  const dv = new DataView(r.buffer, r.byteOffset);
  assert.equal(r.length, 40);
  assert.equal(dv.getUint16(2), 40, "IPv4 total length");
  assert.deepEqual([...r.subarray(12, 16)], [203, 0, 113, 30]);
  assert.deepEqual([...r.subarray(16, 20)], [198, 18, 0, 1]);
  assert.equal(dv.getUint16(20), 80);
  assert.equal(dv.getUint16(22), 40123);
  assert.equal(dv.getUint32(24), 0, "SEQ = 0");
  assert.equal(dv.getUint32(28), 0xfffffff1, "ACK = SEG.SEQ + 1 (SYN counts one)");
  assert.equal(r[33], 0x14, "RST|ACK");
  assert.equal(r[32]! >> 4, 5, "no options");
  assertValid(r, false);
});

Deno.test("`resetInPlace()` acknowledges SYN payload and wraps the sequence space (IPv6)", () => {
  const [pkt, l4] = syn(true, 0, 10);
  // In a read buffer longer than the packet: only the segment up to its end counts.
  const p = new Uint8Array(pkt.length + 100).fill(0xee);
  p.set(pkt);
  const r = p.subarray(0, resetInPlace(p, l4, pkt.length, 6));
  const dv = new DataView(r.buffer, r.byteOffset);
  assert.equal(r.length, 60);
  assert.equal(dv.getUint16(4), 20, "IPv6 payload length");
  assert.equal(r[8], 0x20, "source is the old destination");
  assert.equal(dv.getUint32(48), (0xfffffff0 + 11) >>> 0);
  assertValid(r, true);
});
