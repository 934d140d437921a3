import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import fc from "fast-check";
import { pseudoHeaderSum } from "../../src/wire/checksum.ts";
import { IcmpPacket, ICMPV4_ECHO_REQUEST } from "../../src/wire/icmp.ts";
import { UdpPacket } from "../../src/wire/udp.ts";
import { IcmpRepr, UdpRepr } from "../_helpers/packets.ts";

const A = new Uint8Array([192, 0, 2, 1]), B = new Uint8Array([198, 51, 100, 7]);

Deno.test("`UdpPacket.check()` validates the length field", () => {
  const b = new Uint8Array(12);
  const p = new UdpPacket(b);
  p.setLengthField(7);
  assertEquals(p.check(), "malformed");
  p.setLengthField(13);
  assertEquals(p.check(), "truncated");
  p.setLengthField(10);
  assertEquals(p.check(), null);
  assertEquals(p.payload().length, 2);
  assertEquals(new UdpPacket(b, 0, 7).check(), "truncated");
});

Deno.test("`UdpPacket.fillChecksum()` never stores zero and zero means none on IPv4 only", () => {
  const r = new UdpRepr(1, 2, new Uint8Array([0xff, 0xff]));
  const p = new UdpPacket(new Uint8Array(r.bufferLen()));
  r.emit(p, 0);
  assert(p.checksum() !== 0);
  assert(p.verifyChecksum(0));
  p.setChecksum(0);
  assert(p.verifyChecksum(12345));
  assert(!p.verifyChecksum(12345, false));
});

Deno.test("`UdpRepr` round-trips (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 65535 }),
      fc.integer({ min: 0, max: 65535 }),
      fc.uint8Array({ maxLength: 300 }),
      (s, d, payload) => {
        const r = new UdpRepr(s, d, payload);
        const ps = pseudoHeaderSum(A, B, 17, r.bufferLen());
        const p = new UdpPacket(new Uint8Array(r.bufferLen()));
        r.emit(p, ps);
        assertEquals(UdpRepr.parse(p, ps, false), r);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("`IcmpPacket` reads an echo request", () => {
  const r = new IcmpRepr(ICMPV4_ECHO_REQUEST, 0, (0x1234 << 16) | 7, new Uint8Array([1, 2, 3]));
  const p = new IcmpPacket(new Uint8Array(r.bufferLen()));
  r.emit(p, 0);
  assertEquals(p.check(), null);
  assertEquals(p.echoIdent(), 0x1234);
  assertEquals(p.echoSeqNo(), 7);
  assert(p.verifyChecksum());
  assertEquals(new IcmpPacket(new Uint8Array(7)).check(), "truncated");
});

Deno.test("`IcmpRepr` round-trips for ICMPv4 and ICMPv6 (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      fc.nat({ max: 0xffffffff }),
      fc.uint8Array({ maxLength: 200 }),
      fc.boolean(),
      (type, code, rest, data, v6) => {
        const r = new IcmpRepr(type, code, rest, data);
        const ps = v6 ? pseudoHeaderSum(A, B, 58, r.bufferLen()) : 0;
        const p = new IcmpPacket(new Uint8Array(r.bufferLen()));
        r.emit(p, ps);
        assertEquals(IcmpRepr.parse(p, ps), r);
      },
    ),
    { numRuns: 300 },
  );
});
