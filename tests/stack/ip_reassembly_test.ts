import { deepEqual, equal, ok } from "node:assert/strict";
import fc from "fast-check";
import { IpReassembler } from "../../src/stack/ip_reassembly.ts";
import { Ipv4Packet } from "../../src/wire/ipv4.ts";
import { fragment4, fragment6, udp } from "./_packets.ts";

function payload(n: number, seed = 0): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 7 + seed) & 0xff);
}

Deno.test("`IpReassembler` rebuilds an IPv4 datagram from fragments in any order", () => {
  const whole = udp(4, payload(3000));
  const frags = fragment4(whole, 1200);
  equal(frags.length, 3);
  const r = new IpReassembler();
  equal(r.inputIpv4(frags[2]!, 0), null);
  equal(r.inputIpv4(frags[0]!, 0), null);
  const out = r.inputIpv4(frags[1]!, 0);
  ok(out);
  deepEqual(out, whole);
  ok(new Ipv4Packet(out).verifyChecksum());
  equal(r.bytesHeld, 0);
  equal(r.count, 0);
  equal(r.stats.reassembled, 1);
});

Deno.test("`IpReassembler` rebuilds an IPv6 datagram and restores the next header", () => {
  const whole = udp(6, payload(2500));
  const frags = fragment6(whole, 1000);
  equal(frags.length, 3);
  const r = new IpReassembler();
  r.inputIpv6(frags[1]!, 40, 6, 0);
  r.inputIpv6(frags[0]!, 40, 6, 0);
  const out = r.inputIpv6(frags[2]!, 40, 6, 0);
  ok(out);
  deepEqual(out, whole);
});

Deno.test("`IpReassembler` keeps IPv6 headers before the fragment header", () => {
  const base = udp(6, payload(100));
  // Insert a hop-by-hop header (8 bytes, PadN) before UDP.
  const withHbh = new Uint8Array(base.length + 8);
  withHbh.set(base.subarray(0, 40));
  withHbh[6] = 0;
  withHbh.set([17, 0, 1, 4, 0, 0, 0, 0], 40);
  withHbh.set(base.subarray(40), 48);
  withHbh[5] = withHbh[5]! + 8;
  const frags = fragment6(withHbh, 64, 9, 48);
  const r = new IpReassembler();
  let out: Uint8Array | null = null;
  for (const f of frags) out = r.inputIpv6(f, 48, 40, 0) ?? out;
  ok(out);
  deepEqual(out, withHbh);
});

Deno.test("any order and duplication of fragments reassembles the datagram (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 9, max: 6000 }),
      fc.integer({ min: 1, max: 150 }),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 60 }),
      (len, units, v6, order) => {
        const whole = udp(v6 ? 6 : 4, payload(len, units));
        const frags = v6 ? fragment6(whole, units * 8) : fragment4(whole, units * 8);
        // A permutation of the fragments, then some duplicates.
        const idx = frags.map((_, i) => i);
        for (let i = idx.length - 1; i > 0; i--) {
          const j = (order[i % Math.max(1, order.length)] ?? i) % (i + 1);
          [idx[i], idx[j]] = [idx[j]!, idx[i]!];
        }
        for (const o of order.slice(0, 5)) idx.splice(o % (idx.length + 1), 0, o % frags.length);
        const r = new IpReassembler({ maxFragments: 1000 });
        let out: Uint8Array | null = null;
        for (const i of idx) {
          const f = frags[i]!;
          const got = v6 ? r.inputIpv6(f, 40, 6, 0) : r.inputIpv4(f, 0);
          if (got) out = got.slice();
        }
        if (frags.length === 1 && !v6) return; // not a fragment: never given to the reassembler
        deepEqual(out, whole);
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("`IpReassembler` drops a datagram that would exceed 65535 bytes", () => {
  const r = new IpReassembler();
  const f = fragment4(udp(4, payload(1000)), 512)[1]!;
  const p = new Ipv4Packet(f);
  p.setFragment(false, false, 65528);
  p.fillChecksum();
  equal(r.inputIpv4(f, 0), null);
  equal(r.stats.dropped, 1);
  equal(r.bytesHeld, 0);
});

Deno.test("`IpReassembler` drops non-final fragments whose size is not a multiple of 8", () => {
  const r = new IpReassembler();
  const f = fragment4(udp(4, payload(1000)), 512)[0]!;
  const short = f.slice(0, f.length - 3);
  new Ipv4Packet(short).setTotalLen(short.length);
  equal(r.inputIpv4(short, 0), null);
  equal(r.stats.dropped, 1);
});

Deno.test("`IpReassembler` discards IPv6 datagrams with overlapping fragments (RFC 5722)", () => {
  const whole = udp(6, payload(2000));
  const [a, b] = fragment6(whole, 1000);
  const overlap = b!.slice();
  overlap[40 + 3] = (992 & 0xf8) | 1; // offset 992 overlaps the first fragment's 1000 bytes
  overlap[40 + 2] = 992 >> 8;
  const r = new IpReassembler();
  r.inputIpv6(a!, 40, 6, 0);
  equal(r.inputIpv6(overlap, 40, 6, 0), null);
  equal(r.count, 0);
  equal(r.bytesHeld, 0);
});

Deno.test("`IpReassembler` expires incomplete datagrams after the timeout", () => {
  const r = new IpReassembler({ timeoutMs: 30000 });
  const [first] = fragment4(udp(4, payload(2000)), 1000);
  r.inputIpv4(first!, 1000);
  ok(r.bytesHeld > 0);
  equal(r.expire(30999), 31000);
  equal(r.count, 1);
  equal(r.expire(31000), Infinity);
  equal(r.count, 0);
  equal(r.bytesHeld, 0);
  equal(r.stats.timedOut, 1);
});

Deno.test("`IpReassembler` bounds memory and datagram count by evicting the oldest", () => {
  const r = new IpReassembler({ maxBytes: 64 * 1024, maxDatagrams: 8 });
  for (let id = 0; id < 100; id++) {
    const w = udp(4, payload(20000, id));
    w[4] = id >> 8;
    w[5] = id;
    new Ipv4Packet(w).fillChecksum();
    const frags = fragment4(w, 8000);
    r.inputIpv4(frags[0]!, id);
    r.inputIpv4(frags[2]!, id);
    ok(r.bytesHeld <= 64 * 1024, `held ${r.bytesHeld}`);
    ok(r.count <= 8);
  }
  ok(r.stats.evicted > 0);
});
