import { deepEqual as assertEquals } from "node:assert/strict";
import fc from "fast-check";
import {
  checkIpv6Options,
  Ipv6ExtHeader,
  Ipv6FragmentHeader,
  Ipv6Packet,
  newIpv6Walk,
  walkIpv6,
} from "../../src/wire/ipv6.ts";
import {
  Ipv6FragmentRepr,
  Ipv6OptionsRepr,
  Ipv6Repr,
  Ipv6RoutingRepr,
} from "../_helpers/packets.ts";

function header(next: number, payloadLen: number): Uint8Array {
  const b = new Uint8Array(40 + payloadLen);
  new Ipv6Repr({
    src: new Uint8Array(16).fill(1),
    dst: new Uint8Array(16).fill(2),
    nextHeader: next,
    payloadLen,
  }).emit(new Ipv6Packet(b));
  return b;
}

Deno.test("`Ipv6Packet` reads the fixed header", () => {
  const b = header(6, 20);
  b[1] = 0xa5; // traffic class low nibble a, flow label high nibble 5
  const p = new Ipv6Packet(b);
  assertEquals(p.check(), null);
  assertEquals(p.version(), 6);
  assertEquals(p.trafficClass(), 0x0a);
  assertEquals(p.flowLabel(), 0x50000);
  assertEquals(p.payloadLen(), 20);
  assertEquals(p.nextHeader(), 6);
  assertEquals(p.hopLimit(), 64);
  assertEquals(p.srcAddr()[0], 1);
  assertEquals(p.dstAddr()[15], 2);
});

Deno.test("`Ipv6Packet.check()` rejects short packets and wrong versions", () => {
  assertEquals(new Ipv6Packet(new Uint8Array(39)).check(), "truncated");
  const b = header(6, 20);
  assertEquals(new Ipv6Packet(b.subarray(0, 59)).check(), "truncated");
  b[0] = 0x40;
  assertEquals(new Ipv6Packet(b).check(), "malformed");
});

Deno.test("`walkIpv6()` walks hop-by-hop, routing, destination options and fragment", () => {
  // 40 fixed | HBH 8 | routing 8 | fragment 8 | dstopts 8 | TCP
  const b = header(0, 32 + 20);
  b.set([43, 0, 1, 4, 0, 0, 0, 0], 40); // HBH -> routing, PadN(4)
  b.set([44, 0, 0, 0, 0, 0, 0, 0], 48); // routing type 0, segments left 0 -> fragment
  b.set([60, 0, 0, 0, 0, 0, 0, 7], 56); // fragment (offset 0, M 0) -> dstopts
  b.set([6, 0, 1, 4, 0, 0, 0, 0], 64); // dstopts -> TCP
  const w = newIpv6Walk();
  assertEquals(walkIpv6(b, b.length, w), null);
  assertEquals(w.protocol, 6);
  assertEquals(w.offset, 72);
  assertEquals(w.fragHeader, 56);
  assertEquals(w.fragNextHeaderField, 48);
});

Deno.test("`walkIpv6()` stops after the fragment header of a non-first fragment", () => {
  const b = header(44, 8 + 16);
  b.set([6, 0, 0, 0x11, 0, 0, 0, 9], 40); // offset 16, M=1
  const w = newIpv6Walk();
  assertEquals(walkIpv6(b, b.length, w), null);
  assertEquals(w.protocol, 6);
  assertEquals(w.offset, 48);
  assertEquals(w.fragHeader, 40);
  assertEquals(w.fragNextHeaderField, 6);
});

Deno.test("`walkIpv6()` rejects a misplaced hop-by-hop header and truncated chains", () => {
  const b = header(60, 16);
  b.set([0, 0, 1, 4, 0, 0, 0, 0], 40); // dstopts -> HBH (not allowed here)
  b.set([6, 0, 1, 4, 0, 0, 0, 0], 48);
  assertEquals(walkIpv6(b, b.length, newIpv6Walk()), "malformed");
  const t = header(60, 8);
  t.set([6, 1], 40); // claims 16 bytes, has 8
  assertEquals(walkIpv6(t, t.length, newIpv6Walk()), "truncated");
  const two = header(44, 16);
  two.set([44, 0, 0, 0, 0, 0, 0, 1], 40);
  two.set([6, 0, 0, 0, 0, 0, 0, 1], 48);
  assertEquals(walkIpv6(two, two.length, newIpv6Walk()), "malformed");
});

Deno.test("`checkIpv6Options()` skips unknown 00-type options and refuses discard-type ones", () => {
  assertEquals(checkIpv6Options(new Uint8Array([0, 0x1e, 2, 0, 0, 0])), null);
  assertEquals(checkIpv6Options(new Uint8Array([0, 0x5e, 2, 0, 0, 0])), "unsupported");
  assertEquals(checkIpv6Options(new Uint8Array([1, 9, 0, 0, 0, 0])), "malformed");
  assertEquals(checkIpv6Options(new Uint8Array([0xc2, 4, 0, 1, 0, 0])), "unsupported");
});

const addr16 = fc.uint8Array({ minLength: 16, maxLength: 16 });

Deno.test("`Ipv6Repr` round-trips (property)", () => {
  fc.assert(
    fc.property(
      addr16,
      addr16,
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 2000 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 0xfffff }),
      (src, dst, nextHeader, payloadLen, hopLimit, trafficClass, flowLabel) => {
        const r = new Ipv6Repr({
          src,
          dst,
          nextHeader,
          payloadLen,
          hopLimit,
          trafficClass,
          flowLabel,
        });
        const p = new Ipv6Packet(new Uint8Array(r.bufferLen()));
        r.emit(p);
        assertEquals(Ipv6Repr.parse(p), r);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("extension header reprs round-trip (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.nat(5),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 0x1fff }),
      fc.boolean(),
      fc.nat({ max: 0xffffffff }),
      (next, units, rtype, segs, off8, more, ident) => {
        // Options: one PadN filling the header.
        const opts = new Uint8Array(units * 8 + 6);
        opts[0] = 1;
        opts[1] = opts.length - 2;
        const o = new Ipv6OptionsRepr(next, opts);
        const ob = new Ipv6ExtHeader(new Uint8Array(o.bufferLen()));
        o.emit(ob);
        assertEquals(Ipv6OptionsRepr.parse(ob), o);

        const rdata = new Uint8Array(units * 8 + 4).map((_, i) => i);
        const r = new Ipv6RoutingRepr(next, rtype, segs, rdata);
        const rb = new Ipv6ExtHeader(new Uint8Array(r.bufferLen()));
        r.emit(rb);
        assertEquals(Ipv6RoutingRepr.parse(rb), r);

        const f = new Ipv6FragmentRepr(next, off8 * 8, more, ident);
        const fb = new Ipv6FragmentHeader(new Uint8Array(8));
        f.emit(fb);
        assertEquals(Ipv6FragmentRepr.parse(fb), f);
      },
    ),
    { numRuns: 200 },
  );
});
