import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import fc from "fast-check";
import { ipv4OptionsValid, Ipv4Packet } from "../../src/wire/ipv4.ts";
import { Ipv4Repr } from "../_helpers/packets.ts";

// A captured IPv4 header: 10.0.0.1 -> 10.0.0.2, TCP, total length 40, DF, TTL 64.
const SAMPLE = new Uint8Array([
  0x45,
  0x00,
  0x00,
  0x28,
  0x1c,
  0x46,
  0x40,
  0x00,
  0x40,
  0x06,
  0x00,
  0x00,
  10,
  0,
  0,
  1,
  10,
  0,
  0,
  2,
  ...new Array(20).fill(0),
]);

Deno.test("`Ipv4Packet` reads every field of a header", () => {
  const p = new Ipv4Packet(SAMPLE.slice());
  p.fillChecksum();
  assertEquals(p.check(), null);
  assertEquals(p.version(), 4);
  assertEquals(p.headerLen(), 20);
  assertEquals(p.totalLen(), 40);
  assertEquals(p.ident(), 0x1c46);
  assert(p.dontFrag());
  assert(!p.moreFrags());
  assertEquals(p.fragOffset(), 0);
  assert(!p.isFragment());
  assertEquals(p.ttl(), 64);
  assertEquals(p.protocol(), 6);
  assertEquals([...p.srcAddr()], [10, 0, 0, 1]);
  assertEquals([...p.dstAddr()], [10, 0, 0, 2]);
  assertEquals(p.payload().length, 20);
  assert(p.verifyChecksum());
  p.setTtl(63);
  assert(!p.verifyChecksum());
});

Deno.test("`Ipv4Packet.check()` rejects short buffers, bad versions and lengths", () => {
  assertEquals(new Ipv4Packet(SAMPLE.subarray(0, 19)).check(), "truncated");
  const v6 = SAMPLE.slice();
  v6[0] = 0x65;
  assertEquals(new Ipv4Packet(v6).check(), "malformed");
  const ihl4 = SAMPLE.slice();
  ihl4[0] = 0x44;
  assertEquals(new Ipv4Packet(ihl4).check(), "malformed");
  const long = SAMPLE.slice();
  long[3] = 41;
  assertEquals(new Ipv4Packet(long).check(), "truncated");
  const short = SAMPLE.slice();
  short[3] = 19;
  assertEquals(new Ipv4Packet(short).check(), "malformed");
  const ihl15 = SAMPLE.slice();
  ihl15[0] = 0x4f;
  assertEquals(new Ipv4Packet(ihl15).check(), "malformed");
});

Deno.test("`Ipv4Packet.payload()` ignores link padding after the total length", () => {
  const padded = new Uint8Array(64);
  padded.set(SAMPLE);
  const p = new Ipv4Packet(padded);
  assertEquals(p.check(), null);
  assertEquals(p.payload().length, 20);
});

Deno.test("`ipv4OptionsValid()` walks NOP/EOL and rejects bad lengths", () => {
  assert(ipv4OptionsValid(new Uint8Array([1, 1, 1, 0])));
  assert(ipv4OptionsValid(new Uint8Array([0x94, 4, 0, 0]))); // router alert
  assert(!ipv4OptionsValid(new Uint8Array([0x94, 1, 0, 0])));
  assert(!ipv4OptionsValid(new Uint8Array([0x94, 9, 0, 0])));
  assert(!ipv4OptionsValid(new Uint8Array([1, 1, 1, 0x94])));
});

Deno.test("`Ipv4Repr.parse()` rejects malformed options and, when asked, bad checksums", () => {
  const b = new Uint8Array(24);
  const repr = new Ipv4Repr({
    src: new Uint8Array([1, 2, 3, 4]),
    dst: new Uint8Array([5, 6, 7, 8]),
    protocol: 17,
    payloadLen: 0,
    options: new Uint8Array([0x94, 7, 0, 0]),
  });
  repr.emit(new Ipv4Packet(b));
  assertEquals(Ipv4Repr.parse(new Ipv4Packet(b)), "malformed");
  const good = new Uint8Array(20);
  new Ipv4Repr({ ...repr, options: new Uint8Array(0) }).emit(new Ipv4Packet(good));
  good[8] = 1;
  assertEquals(Ipv4Repr.parse(new Ipv4Packet(good), true), "checksum");
  assert(Ipv4Repr.parse(new Ipv4Packet(good)) instanceof Ipv4Repr);
});

const addr4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const options4 = fc.nat(9).map((words) => {
  // Valid options: NOPs then EOL padding.
  const o = new Uint8Array(words * 4).fill(1);
  if (o.length > 0) o[o.length - 1] = 0;
  return o;
});

Deno.test("`Ipv4Repr` round-trips through `emit()` and `parse()` (property)", () => {
  fc.assert(
    fc.property(
      addr4,
      addr4,
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 65535 - 60 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 65535 }),
      fc.boolean(),
      fc.boolean(),
      fc.integer({ min: 0, max: 0x1fff }),
      fc.integer({ min: 0, max: 255 }),
      options4,
      (src, dst, protocol, payloadLen, ttl, ident, df, mf, off8, tos, options) => {
        const repr = new Ipv4Repr({
          src,
          dst,
          protocol,
          payloadLen,
          ttl,
          ident,
          dontFrag: df,
          moreFrags: mf,
          fragOffset: off8 * 8,
          dscpEcn: tos,
          options,
        });
        const buf = new Uint8Array(repr.bufferLen());
        const pkt = new Ipv4Packet(buf);
        repr.emit(pkt);
        assert(pkt.verifyChecksum());
        assertEquals(Ipv4Repr.parse(pkt, true), repr);
      },
    ),
    { numRuns: 300 },
  );
});
