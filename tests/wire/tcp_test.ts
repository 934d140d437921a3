import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import fc from "fast-check";
import { pseudoHeaderSum } from "../../src/wire/checksum.ts";
import {
  emitTcpOptions,
  parseTcpOptions,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_SYN,
  TcpOptions,
  tcpOptionsLen,
  TcpPacket,
} from "../../src/wire/tcp.ts";
import { TcpRepr } from "../_helpers/packets.ts";

// A Linux SYN: ports 46712 -> 80, seq 0x01020304, MSS 1460, SACK-permitted, TS, NOP, WS 7.
const SYN = new Uint8Array([
  0xb6,
  0x78,
  0x00,
  0x50,
  0x01,
  0x02,
  0x03,
  0x04,
  0,
  0,
  0,
  0,
  0xa0,
  0x02,
  0xfa,
  0xf0,
  0,
  0,
  0,
  0,
  0x02,
  0x04,
  0x05,
  0xb4,
  0x04,
  0x02,
  0x08,
  0x0a,
  0x00,
  0x00,
  0x10,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x01,
  0x03,
  0x03,
  0x07,
]);

Deno.test("`TcpPacket` reads a SYN and its options", () => {
  const p = new TcpPacket(SYN);
  assertEquals(p.check(), null);
  assertEquals(p.srcPort(), 46712);
  assertEquals(p.dstPort(), 80);
  assertEquals(p.seq(), 0x01020304);
  assertEquals(p.headerLen(), 40);
  assert(p.syn() && !p.ackFlag() && !p.fin() && !p.rst());
  assertEquals(p.window(), 64240);
  assertEquals(p.segmentLen(), 1);
  const o = new TcpOptions();
  p.parseOptions(o);
  assertEquals(o.mss, 1460);
  assertEquals(o.windowScale, 7);
  assert(o.sackPermitted);
  assert(o.hasTimestamp);
  assertEquals(o.tsVal, 0x1000);
  assertEquals(o.tsEcr, 0);
});

Deno.test("`TcpPacket` views a segment inside a larger buffer", () => {
  const big = new Uint8Array(100);
  big.set(SYN, 30);
  const p = new TcpPacket(big, 30, 30 + SYN.length);
  assertEquals(p.check(), null);
  assertEquals(p.dstPort(), 80);
  assertEquals(p.payloadLen(), 0);
  p.setDstPort(443);
  assertEquals(big[32], 0x01);
  assertEquals(big[33], 0xbb);
});

Deno.test("`TcpPacket.check()` rejects bad data offsets and option lengths", () => {
  assertEquals(new TcpPacket(SYN.subarray(0, 19)).check(), "truncated");
  const small = SYN.slice();
  small[12] = 0x40;
  assertEquals(new TcpPacket(small).check(), "malformed");
  const past = SYN.slice(0, 36); // data offset says 40
  assertEquals(new TcpPacket(past).check(), "truncated");
  const zeroLen = SYN.slice();
  zeroLen[21] = 0; // MSS option length 0 would loop forever
  assertEquals(new TcpPacket(zeroLen).check(), "malformed");
  const overrun = SYN.slice();
  overrun[39] = 3;
  overrun[38] = 9; // WS length 9 runs past the header
  overrun[37] = 3;
  assertEquals(new TcpPacket(overrun).check(), "malformed");
});

Deno.test("`parseTcpOptions()` skips unknown options and stops at EOL", () => {
  const o = new TcpOptions();
  const b = new Uint8Array([30, 4, 9, 9, 2, 4, 0x10, 0x00, 0, 3, 3, 9]);
  parseTcpOptions(b, 0, b.length, o);
  assertEquals(o.mss, 0x1000);
  assertEquals(o.windowScale, -1); // after EOL
});

Deno.test("`parseTcpOptions()` ignores options with the wrong length for their kind", () => {
  const o = new TcpOptions();
  const b = new Uint8Array([2, 3, 5, 8, 5, 0, 0, 0, 0]);
  parseTcpOptions(b, 0, b.length, o);
  assertEquals(o.mss, 0);
  assertEquals(o.hasTimestamp, false);
});

Deno.test("`parseTcpOptions()` clamps window scale to 14 (RFC 7323 §2.3)", () => {
  const o = new TcpOptions();
  parseTcpOptions(new Uint8Array([3, 3, 20, 0]), 0, 4, o);
  assertEquals(o.windowScale, 14);
});

Deno.test("`parseTcpOptions()` reads SACK blocks", () => {
  const buf = new Uint8Array(40);
  const n = emitTcpOptions(buf, 0, 0, -1, false, true, 7, 8, [10, 20, 30, 40, 50, 60], 3);
  assertEquals(n, tcpOptionsLen(0, -1, false, true, 3));
  assertEquals(n, 40);
  const o = new TcpOptions();
  parseTcpOptions(buf, 0, n, o);
  assertEquals(o.sackCount, 3);
  assertEquals([...o.sackBlocks.subarray(0, 6)], [10, 20, 30, 40, 50, 60]);
  assertEquals(o.tsVal, 7);
  assertEquals(o.tsEcr, 8);
});

Deno.test("`TcpRepr` emits a segment with a valid checksum", () => {
  const src = new Uint8Array([10, 0, 0, 1]), dst = new Uint8Array([10, 0, 0, 2]);
  const payload = new TextEncoder().encode("hello");
  const r = new TcpRepr({
    srcPort: 1,
    dstPort: 2,
    seq: 100,
    ack: 200,
    flags: TCP_ACK | TCP_PSH,
    window: 1000,
    payload,
  });
  const p = new TcpPacket(new Uint8Array(r.bufferLen()));
  const ps = pseudoHeaderSum(src, dst, 6, r.bufferLen());
  r.emit(p, ps);
  assert(p.verifyChecksum(ps));
  assertEquals(TcpRepr.parse(p, ps), r);
  p.buffer[p.buffer.length - 1]! ^= 1;
  assertEquals(TcpRepr.parse(p, ps), "checksum");
});

const seq32 = fc.nat({ max: 0xffffffff });

Deno.test("`TcpRepr` round-trips with any option combination (property)", () => {
  fc.assert(
    fc.property(
      fc.record({
        srcPort: fc.integer({ min: 0, max: 65535 }),
        dstPort: fc.integer({ min: 0, max: 65535 }),
        seq: seq32,
        ack: seq32,
        flags: fc.constantFrom(TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK, TCP_ACK | TCP_FIN, 0xff),
        window: fc.integer({ min: 0, max: 65535 }),
        urgent: fc.integer({ min: 0, max: 65535 }),
        mss: fc.option(fc.integer({ min: 1, max: 65535 })),
        windowScale: fc.option(fc.integer({ min: 0, max: 14 })),
        sackPermitted: fc.boolean(),
        timestamp: fc.option(fc.record({ tsVal: seq32, tsEcr: seq32 })),
        payload: fc.uint8Array({ maxLength: 64 }),
      }),
      fc.array(fc.tuple(seq32, seq32), { maxLength: 4 }),
      (init, sack) => {
        const r = new TcpRepr({ ...init, sackBlocks: sack });
        if (r.headerLen() > 60) return; // not representable
        const p = new TcpPacket(new Uint8Array(r.bufferLen()));
        r.emit(p, 0);
        assertEquals(TcpRepr.parse(p, 0), r);
      },
    ),
    { numRuns: 500 },
  );
});
