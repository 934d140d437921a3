import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  type UdpEvictReason,
  UdpReplyBuilder,
  UdpSessionTable,
} from "../../src/stack/udp_sessions.ts";
import { checksum, pseudoHeaderSumAt } from "../../src/wire/checksum.ts";
import { Ipv4Packet } from "../../src/wire/ipv4.ts";
import { Ipv6Packet } from "../../src/wire/ipv6.ts";
import { UdpPacket } from "../../src/wire/udp.ts";
import { C4, C6, S4, S6, udp } from "./_packets.ts";

Deno.test("`UdpSessionTable` keys sessions by client endpoint only (full cone)", () => {
  const t = new UdpSessionTable<string>({ seed: 1 });
  const p1 = udp(4, new Uint8Array(4), 5000, 53);
  const s = t.create(p1, 4, 12, 5000, "sock", 0);
  // The same client port to another destination finds the same session.
  const p2 = udp(4, new Uint8Array(4), 5000, 443, C4, new Uint8Array([1, 1, 1, 1]));
  equal(t.lookup(p2, 4, 12, 5000, 1), s);
  equal(t.lookup(p2, 4, 12, 5001, 1), undefined);
  deepEqual([...s.clientAddr], [...C4]);
  equal(s.clientPort, 5000);
  equal(t.get(C4, 5000, 2), s);
  equal(t.size, 1);
});

Deno.test("`UdpSessionTable` keeps IPv4 and IPv6 clients apart", () => {
  const t = new UdpSessionTable<number>({ seed: 2 });
  const a = t.create(C4, 4, 0, 7, 1, 0);
  const b = t.create(C6, 6, 0, 7, 2, 0);
  equal(t.get(C4, 7, 0), a);
  equal(t.get(C6, 7, 0), b);
});

Deno.test("`UdpSessionTable` expires idle sessions after udp_timeout", () => {
  const evicted: Array<[number, UdpEvictReason]> = [];
  const t = new UdpSessionTable<number>({
    timeoutMs: 300_000,
    onEvict: (s, r) => evicted.push([s.value, r]),
    seed: 3,
  });
  const a = t.create(C4, 4, 0, 1, 1, 0);
  t.create(C4, 4, 0, 2, 2, 1000);
  t.touch(a, 200_000);
  equal(t.expire(299_999), 301_000);
  equal(t.expire(301_000), 500_000);
  deepEqual(evicted, [[2, "timeout"]]);
  equal(t.expire(500_000), Infinity);
  equal(t.size, 0);
});

Deno.test("`UdpSessionTable` evicts the least recently used session at capacity", () => {
  const evicted: number[] = [];
  const t = new UdpSessionTable<number>({
    capacity: 3,
    onEvict: (s, r) => r === "capacity" && evicted.push(s.value),
    seed: 4,
  });
  for (let i = 1; i <= 3; i++) t.create(C4, 4, 0, i, i, i);
  t.get(C4, 1, 10); // 1 is now the most recent
  t.create(C4, 4, 0, 4, 4, 11);
  deepEqual(evicted, [2]);
  deepEqual([...t.values()].map((s) => s.value), [3, 1, 4]);
  t.delete(t.get(C4, 3, 12)!);
  equal(t.size, 2);
});

Deno.test("`UdpReplyBuilder` writes IPv4 + UDP around a payload placed in advance", () => {
  const b = new UdpReplyBuilder({ headroom: 10 });
  const area = b.payloadArea(4);
  area.set([1, 2, 3, 4, 5]);
  const pkt = b.finish(4, C4, 5000, S4, 53, 5);
  equal(pkt.byteOffset, 10);
  equal(pkt.length, 33);
  const ip = new Ipv4Packet(pkt);
  equal(ip.check(), null);
  ok(ip.verifyChecksum());
  deepEqual([...ip.srcAddr()], [...S4]);
  deepEqual([...ip.dstAddr()], [...C4]);
  const u = new UdpPacket(pkt, 20);
  equal(u.srcPort(), 53);
  equal(u.dstPort(), 5000);
  ok(u.verifyChecksum(pseudoHeaderSumAt(pkt, 12, 16, 4, 17, 13), false));
  deepEqual([...u.payload()], [1, 2, 3, 4, 5]);
});

Deno.test("`UdpReplyBuilder` writes IPv6 replies with the mandatory checksum", () => {
  const b = new UdpReplyBuilder();
  const pkt = b.build(6, C6, 4000, S6, 443, new Uint8Array(100).fill(9));
  const ip = new Ipv6Packet(pkt);
  equal(ip.check(), null);
  equal(ip.nextHeader(), 17);
  equal(checksum(pkt, 40, pkt.length, pseudoHeaderSumAt(pkt, 8, 24, 16, 17, 108)), 0);
  ok(new UdpPacket(pkt, 40).checksum() !== 0);
});

Deno.test("`UdpReplyBuilder` leaves the checksum 0 when told, and rejects oversized replies", () => {
  const b = new UdpReplyBuilder({ computeChecksums: false });
  const pkt = b.build(4, C4, 1, S4, 2, new Uint8Array(3));
  equal(new UdpPacket(pkt, 20).checksum(), 0);
  throws(() => b.finish(4, C4, 1, S4, 2, 70000), RangeError);
  throws(() => b.finish(6, C4, 1, S4, 2, 10), TypeError);
  equal(UdpReplyBuilder.maxPayload(4), 65507);
});
