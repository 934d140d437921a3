import { deepEqual, equal, ok } from "node:assert/strict";
import { Dispatcher, type UdpDatagram } from "../../src/stack/dispatch.ts";
import { type PendingFlow, TcpStack } from "../../src/stack/tcp/stack.ts";
import { TCP_SYN } from "../../src/wire/tcp.ts";
import { C4, C6, echo, fragment4, fragment6, ip, S4, S6, tcp, udp } from "./_packets.ts";

function setup(opts: { verifyChecksums?: boolean } = {}) {
  const out: Uint8Array[] = [];
  const syns: PendingFlow[] = [];
  const udps: Array<
    { v: number; src: number[]; dst: number[]; sp: number; dp: number; data: number[] }
  > = [];
  const stack = new TcpStack({
    emit: (p, len) => out.push(p.slice(0, len)),
    onSyn: (f) => syns.push(f),
  });
  const d = new Dispatcher({
    tcp: stack,
    emit: (p) => out.push(p.slice()),
    onUdp: (u: UdpDatagram) =>
      udps.push({
        v: u.version,
        src: [...u.srcAddr()],
        dst: [...u.dstAddr()],
        sp: u.srcPort,
        dp: u.dstPort,
        data: [...u.payload()],
      }),
    ...opts,
  });
  return { d, out, syns, udps, stack };
}

Deno.test("`Dispatcher` routes TCP to the stack (IPv4 and IPv6)", () => {
  const { d, syns } = setup();
  d.input(tcp(4, { flags: TCP_SYN }), 0);
  d.input(tcp(6, { flags: TCP_SYN }), 0);
  equal(syns.length, 2);
  equal(syns[0]!.version, 4);
  equal(syns[1]!.version, 6);
  equal(d.stats.tcp, 2);
});

Deno.test("`Dispatcher` hands UDP datagrams over with addresses, ports and payload", () => {
  const { d, udps } = setup();
  d.input(udp(4, new Uint8Array([1, 2, 3]), 5353, 53), 0);
  d.input(udp(6, new Uint8Array([4]), 1000, 443), 0);
  deepEqual(udps[0], { v: 4, src: [...C4], dst: [...S4], sp: 5353, dp: 53, data: [1, 2, 3] });
  deepEqual(udps[1], { v: 6, src: [...C6], dst: [...S6], sp: 1000, dp: 443, data: [4] });
});

Deno.test("`Dispatcher` trims link padding to the IP length", () => {
  const { d, udps } = setup();
  const p = udp(4, new Uint8Array([1, 2]));
  const padded = new Uint8Array(p.length + 10).fill(0xee);
  padded.set(p);
  d.input(padded, 0);
  deepEqual(udps[0]!.data, [1, 2]);
});

Deno.test("`Dispatcher` answers ICMP echo requests through emit", () => {
  const { d, out } = setup();
  d.input(echo(4, new Uint8Array([5])), 0);
  d.input(echo(6, new Uint8Array([6])), 0);
  equal(out.length, 2);
  equal(out[0]![20], 0);
  equal(out[1]![40], 129);
  equal(d.stats.icmpEchoReplies, 2);
});

Deno.test("`Dispatcher` reassembles fragmented UDP over IPv4 and IPv6", () => {
  const { d, udps } = setup();
  const data = new Uint8Array(5000).map((_, i) => i & 0xff);
  for (const f of fragment4(udp(4, data), 1480).reverse()) d.input(f, 0);
  for (const f of fragment6(udp(6, data), 1232)) d.input(f, 0);
  equal(udps.length, 2);
  deepEqual(udps[0]!.data, [...data]);
  deepEqual(udps[1]!.data, [...data]);
  equal(
    d.stats.fragments,
    fragment4(udp(4, data), 1480).length + fragment6(udp(6, data), 1232).length,
  );
});

Deno.test("`Dispatcher` counts malformed packets by reason and never throws", () => {
  const { d } = setup();
  d.input(new Uint8Array(0), 0);
  d.input(new Uint8Array([0x55, 0, 0]), 0);
  d.input(new Uint8Array(19).fill(0x45), 0);
  const long = udp(4, new Uint8Array(4));
  long[3] = 200; // total length beyond the buffer
  d.input(long, 0);
  const badUdp = udp(4, new Uint8Array(4));
  badUdp[25] = 100; // UDP length beyond the IP payload
  d.input(badUdp, 0);
  const v6 = udp(6, new Uint8Array(4));
  v6[5] = 200;
  d.input(v6, 0);
  equal(d.stats.malformed, 6);
  equal(d.stats.errors, 0);
});

Deno.test("`Dispatcher` drops unhandled protocols and ICMP types", () => {
  const { d } = setup();
  d.input(ip(4, 47, new Uint8Array(20)), 0); // GRE
  const ts = echo(4, new Uint8Array(4));
  ts[20] = 13;
  d.input(ts, 0);
  d.input(ip(6, 58, new Uint8Array([135, 0, 0, 0, 0, 0, 0, 0])), 0); // neighbour solicitation
  equal(d.stats.unhandled, 3);
});

Deno.test("`Dispatcher` verifies UDP checksums when asked", () => {
  const { d, udps } = setup({ verifyChecksums: true });
  const p = udp(4, new Uint8Array([1, 2, 3]));
  p[p.length - 1] = p[p.length - 1]! ^ 0xff;
  d.input(p, 0);
  equal(udps.length, 0);
  equal(d.stats.badChecksum, 1);
  d.input(udp(4, new Uint8Array([1, 2, 3])), 0);
  equal(udps.length, 1);
});

Deno.test("`Dispatcher` catches a throwing callback and counts it", () => {
  const d = new Dispatcher({
    onUdp: () => {
      throw new Error("boom");
    },
  });
  d.input(udp(4, new Uint8Array(1)), 0);
  equal(d.stats.errors, 1);
  ok(d.lastError instanceof Error);
});

Deno.test("`Dispatcher` hands echo requests to `onIcmpEcho` instead of answering them", () => {
  const seen: [number, number, number, number][] = [];
  const out: Uint8Array[] = [];
  const d = new Dispatcher({
    emit: (p) => out.push(p),
    onIcmpEcho: (p, v, l4Off, l4End, srcOff) => seen.push([v, l4End - l4Off, p[l4Off]!, srcOff]),
  });
  d.input(echo(4, new Uint8Array([5])), 0);
  d.input(echo(6, new Uint8Array([6, 7])), 0);
  const reply = echo(4, new Uint8Array([5]));
  reply[20] = 0; // an echo reply from the application: not ours to route
  d.input(reply, 0);
  equal(out.length, 0);
  deepEqual(seen, [[4, 9, 8, 12], [6, 10, 128, 8]]);
  equal(d.stats.icmpEchoRequests, 2);
  equal(d.stats.unhandled, 1);
});
