import { deepEqual, equal, ok } from "node:assert/strict";
import { echoReplyInPlace, hostUnreachable } from "../../src/stack/icmp_echo.ts";
import { checksum, pseudoHeaderSumAt } from "../../src/wire/checksum.ts";
import { Ipv4Packet } from "../../src/wire/ipv4.ts";
import { C4, C6, echo, S4, S6 } from "./_packets.ts";

Deno.test("`echoReplyInPlace()` answers an ICMPv4 echo request", () => {
  const req = echo(4, new Uint8Array([1, 2, 3]), C4, S4);
  const rep = echoReplyInPlace(req, 4, 20, req.length);
  ok(rep);
  equal(rep.buffer, req.buffer);
  const ip = new Ipv4Packet(rep);
  ok(ip.verifyChecksum());
  deepEqual([...ip.srcAddr()], [...S4]);
  deepEqual([...ip.dstAddr()], [...C4]);
  equal(ip.ttl(), 64);
  equal(rep[20], 0);
  equal(checksum(rep, 20, rep.length), 0);
  deepEqual([...rep.subarray(24)], [0x42, 0x42, 0, 1, 1, 2, 3]);
});

Deno.test("`echoReplyInPlace()` answers an ICMPv6 echo request (pseudo-header checksum)", () => {
  const req = echo(6, new Uint8Array(56).fill(7), C6, S6);
  const rep = echoReplyInPlace(req, 6, 40, req.length);
  ok(rep);
  equal(rep[40], 129);
  deepEqual([...rep.subarray(8, 24)], [...S6]);
  deepEqual([...rep.subarray(24, 40)], [...C6]);
  const len = rep.length - 40;
  equal(checksum(rep, 40, rep.length, pseudoHeaderSumAt(rep, 8, 24, 16, 58, len)), 0);
});

Deno.test("`echoReplyInPlace()` strips IPv4 options", () => {
  const plain = echo(4, new Uint8Array([9]), C4, S4);
  const req = new Uint8Array(plain.length + 4);
  req.set(plain.subarray(0, 20));
  req.set([1, 1, 1, 0], 20); // NOP NOP NOP EOL
  req.set(plain.subarray(20), 24);
  const p = new Ipv4Packet(req);
  p.setHeaderLen(24);
  p.setTotalLen(req.length);
  p.fillChecksum();
  const rep = echoReplyInPlace(req, 4, 24, req.length);
  ok(rep);
  equal(rep.length, plain.length);
  ok(new Ipv4Packet(rep).verifyChecksum());
  equal(checksum(rep, 20, rep.length), 0);
});

Deno.test("`echoReplyInPlace()` ignores other types, multicast and short messages", () => {
  const req = echo(4, new Uint8Array(4), C4, S4);
  req[20] = 13; // timestamp request
  equal(echoReplyInPlace(req, 4, 20, req.length), null);
  const mc = echo(4, new Uint8Array(4), C4, new Uint8Array([224, 0, 0, 1]));
  equal(echoReplyInPlace(mc, 4, 20, mc.length), null);
  const bc = echo(4, new Uint8Array(4), C4, new Uint8Array([255, 255, 255, 255]));
  equal(echoReplyInPlace(bc, 4, 20, bc.length), null);
  const v6mc = echo(6, new Uint8Array(4), C6, new Uint8Array(16).fill(0xff));
  equal(echoReplyInPlace(v6mc, 6, 40, v6mc.length), null);
  equal(echoReplyInPlace(req, 4, 20, 27), null);
});

Deno.test("`hostUnreachable()` quotes the IPv4 header and 8 bytes, and as much IPv6 as fits 1280", () => {
  const v4 = new Uint8Array(20 + 100).map((_, i) => i);
  v4[0] = 0x45;
  const out = new Uint8Array(1280);
  const n4 = hostUnreachable(v4, 4, 20, v4.length, out);
  equal(n4, 8 + 28);
  deepEqual([...out.subarray(0, 8)], [3, 1, 0, 0, 0, 0, 0, 0]);
  deepEqual(out.subarray(8, n4), v4.subarray(0, 28));
  // A read buffer longer than the packet: nothing past `end` is quoted.
  equal(hostUnreachable(v4, 4, 20, 24, out), 8 + 24);
  const v6 = new Uint8Array(2000).map((_, i) => i & 0xff);
  const n6 = hostUnreachable(v6, 6, 40, v6.length, out);
  equal(n6, 1240, "40-byte IPv6 header + 1240 = the minimum MTU");
  deepEqual([out[0], out[1]], [1, 3]);
  deepEqual(out.subarray(8, n6), v6.subarray(0, 1232));
});
