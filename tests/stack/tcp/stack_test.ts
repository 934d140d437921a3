/** TcpStack-level behaviour: input validation, checksum modes, headroom, counters, memory. */
import { deepEqual, equal, ok } from "node:assert/strict";
import { TcpStack } from "../../../src/stack/tcp/stack.ts";
import { Dispatcher } from "../../../src/stack/dispatch.ts";
import { pseudoHeaderSumAt } from "../../../src/wire/checksum.ts";
import { TCP_ACK, TCP_SYN } from "../../../src/wire/tcp.ts";
import { bytes, Harness, Recorder } from "./_harness.ts";

Deno.test("`TcpStack.inputSegment()` counts and drops malformed segments; IP-level damage stops at the dispatcher", () => {
  const t = new Harness();
  const p = t.packet({ seq: 1, flags: TCP_SYN });
  p[20 + 12] = 0x40; // data offset 4 words (< 5)
  t.input(p);
  const q = t.packet({ seq: 1, flags: TCP_SYN });
  q[20 + 12] = 0xf0; // data offset 15 words, beyond the segment
  t.input(q);
  equal(t.stack.stats.malformed, 2);
  t.input(p.subarray(0, 30)); // IP total length beyond the buffer
  t.input(new Uint8Array([0x45]));
  t.input(new Uint8Array(0));
  equal(t.dispatcher.stats.malformed, 3);
  equal(t.stack.stats.malformed, 2, "never reached the stack");
  equal(t.syns.length, 0);
  t.recvNone();
});

Deno.test("`TcpStack.inputSegment()` verifies checksums only when asked", () => {
  for (const verify of [false, true]) {
    const t = new Harness({ verifyChecksums: verify });
    const p = t.packet({ seq: 1, flags: TCP_SYN });
    p[p.length - 1]! ^= 0xff; // corrupt the last option byte
    t.input(p);
    equal(t.syns.length, verify ? 0 : 1);
    equal(t.stack.stats.badChecksum, verify ? 1 : 0);
  }
});

Deno.test("checksum offload: without checksums the field holds 0 or the pseudo-header sum", () => {
  for (const pseudo of [false, true]) {
    const out: Uint8Array[] = [];
    const stack = new TcpStack({
      computeChecksums: false,
      pseudoHeaderChecksums: pseudo,
      headroom: 10,
      emit: (p, len) => out.push(p.subarray(0, len)),
      onSyn: (f) => void f.accept(new Recorder()),
    });
    const t = new Harness();
    new Dispatcher({ tcp: stack }).input(t.packet({ seq: 1, flags: TCP_SYN }), 0);
    const p = out[0]!;
    equal(p.byteOffset, 10); // headroom for a virtio-net header
    const field = (p[36]! << 8) | p[37]!;
    const len = p.length - 20;
    equal(field, pseudo ? pseudoHeaderSumAt(p, 12, 16, 4, 6, len) : 0);
  }
});

Deno.test("the zero-copy path never allocates a receive ring", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish();
  for (let i = 0; i < 50; i++) {
    t.send({ seq: irs + 1 + i * 1000, ack: iss + 1, flags: TCP_ACK, payload: bytes(1000) });
  }
  equal(conn.bytesReceived, 50000);
  const rb = (conn as unknown as { recvBuf: { ringBytes: number } }).recvBuf;
  equal(rb.ringBytes, 0);
});

Deno.test("the send ring is released once everything is acknowledged", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish();
  conn.write(bytes(100));
  const sb = conn as unknown as { sendBuf: { len: number; ringBytes: number } };
  equal(sb.sendBuf.len, 100);
  ok(sb.sendBuf.ringBytes > 0);
  t.send({ seq: irs + 1, ack: iss + 101, flags: TCP_ACK });
  equal(sb.sendBuf.len, 0);
  equal(sb.sendBuf.ringBytes, 0);
  // The next write allocates again and works.
  equal(conn.write(bytes(10, 7)), 10);
  deepEqual([...t.recv().at(-1)!.tcp.payload], [...bytes(10, 7)]);
});

Deno.test("stack counters and per-state counts follow connections", () => {
  const t = new Harness();
  const a = t.establish();
  t.cport++;
  t.send({ seq: 5000, flags: TCP_SYN });
  const b = t.syns.pop()!.accept(new Recorder())!;
  const counts = t.stack.connectionsByState();
  equal(counts.ESTABLISHED, 1);
  equal(counts["SYN-RECEIVED"], 1);
  equal(t.stack.connectionCount, 2);
  a.conn.abort();
  b.abort();
  equal(t.stack.connectionCount, 0);
  equal(t.stack.stats.connectionsOpened, 2);
  equal(t.stack.stats.connectionsClosed, 2);
  equal(t.stack.connectionsByState().ESTABLISHED, 0);
});

Deno.test("`TcpStack.destroy()` drops everything without sending", () => {
  const t = new Harness();
  const { h } = t.establish();
  t.cport++;
  t.send({ seq: 9, flags: TCP_SYN });
  t.recv();
  t.stack.destroy();
  t.recvNone();
  equal(t.stack.connectionCount, 0);
  equal(t.stack.pendingCount, 0);
  equal(h.closed, "aborted");
});
