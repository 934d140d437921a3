/** CLOSED/LISTEN behaviour: segments for unknown flows and SYNs awaiting the application. */
import { equal, ok } from "node:assert/strict";
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from "../../../src/wire/tcp.ts";
import { bytes, CLIENT4, CPORT, Harness, Recorder, SERVER4, SPORT } from "./_harness.ts";

Deno.test("CLOSED: an ACK for an unknown flow gets <SEQ=SEG.ACK><CTL=RST>", () => {
  const t = new Harness();
  t.send({ seq: 500, ack: 7777, flags: TCP_ACK, payload: bytes(10) });
  t.recvOne({ seq: 7777, ack: 0, flags: TCP_RST });
  equal(t.stack.stats.resetsSent, 1);
});

Deno.test("CLOSED: a segment without ACK gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>", () => {
  const t = new Harness();
  t.send({ seq: 500, flags: TCP_FIN | TCP_PSH, payload: bytes(10) });
  t.recvOne({ seq: 0, ack: 511, flags: TCP_RST | TCP_ACK });
});

Deno.test("CLOSED: a RST for an unknown flow is discarded", () => {
  const t = new Harness();
  t.send({ seq: 500, flags: TCP_RST });
  t.send({ seq: 500, ack: 1, flags: TCP_RST | TCP_ACK });
  t.recvNone();
});

Deno.test("CLOSED: a SYN-ACK for an unknown flow gets a RST", () => {
  const t = new Harness();
  t.send({ seq: 500, ack: 42, flags: TCP_SYN | TCP_ACK });
  t.recvOne({ seq: 42, flags: TCP_RST });
});

Deno.test("the RST for an unknown flow swaps addresses and ports", () => {
  const t = new Harness();
  t.send({ seq: 1, ack: 2, flags: TCP_ACK });
  const [o] = t.recv();
  ok(o);
  equal(o.src.join("."), SERVER4.join("."));
  equal(o.dst.join("."), CLIENT4.join("."));
  equal(o.tcp.srcPort, SPORT);
  equal(o.tcp.dstPort, CPORT);
});

Deno.test("LISTEN: a SYN calls onSyn with the 4-tuple and sends nothing yet", () => {
  const t = new Harness();
  t.send({ seq: 1000, flags: TCP_SYN, mss: 1460 });
  equal(t.syns.length, 1);
  const f = t.syns[0]!;
  equal(f.version, 4);
  equal([...f.srcAddr].join("."), "10.0.0.2");
  equal(f.srcPort, CPORT);
  equal([...f.dstAddr].join("."), "93.184.216.34");
  equal(f.dstPort, SPORT);
  ok(f.pending);
  t.recvNone();
  equal(t.stack.pendingCount, 1);
});

Deno.test("LISTEN: retransmitted SYNs of a pending flow are absorbed", () => {
  const t = new Harness();
  t.send({ seq: 1000, flags: TCP_SYN });
  t.tick(1000);
  t.send({ seq: 1000, flags: TCP_SYN });
  t.tick(2000);
  t.send({ seq: 1000, flags: TCP_SYN });
  equal(t.syns.length, 1);
  equal(t.stack.stats.synsAbsorbed, 2);
  t.recvNone();
});

Deno.test("LISTEN: reject() answers the SYN with RST,ACK (connection refused)", () => {
  const t = new Harness();
  t.send({ seq: 1000, flags: TCP_SYN });
  const f = t.syns[0]!;
  f.reject();
  t.recvOne({ seq: 0, ack: 1001, flags: TCP_RST | TCP_ACK });
  ok(!f.pending);
  equal(f.accept(new Recorder()), null);
  equal(t.stack.pendingCount, 0);
  // The tuple is free again: a new SYN is a new flow.
  t.send({ seq: 5000, flags: TCP_SYN });
  equal(t.syns.length, 2);
});

Deno.test("LISTEN: drop() forgets the SYN silently", () => {
  const t = new Harness();
  t.send({ seq: 1000, flags: TCP_SYN });
  t.syns[0]!.drop();
  t.recvNone();
  equal(t.stack.pendingCount, 0);
});

Deno.test("LISTEN: a RST from the client cancels the pending flow", () => {
  const t = new Harness();
  t.send({ seq: 1000, flags: TCP_SYN });
  t.send({ seq: 1001, flags: TCP_RST });
  const f = t.syns[0]!;
  ok(!f.pending);
  equal(f.accept(new Recorder()), null);
  t.recvNone();
});

Deno.test("LISTEN: SYNs beyond maxPendingSyns are dropped", () => {
  const t = new Harness({ maxPendingSyns: 3 });
  for (let i = 0; i < 5; i++) {
    t.cport = 40000 + i;
    t.send({ seq: 1000, flags: TCP_SYN });
  }
  equal(t.syns.length, 3);
  equal(t.stack.stats.synsDropped, 2);
  t.recvNone();
});

Deno.test("LISTEN: a pending flow expires after synTimeoutMs", () => {
  const t = new Harness({ synTimeoutMs: 5000 });
  t.send({ seq: 1000, flags: TCP_SYN });
  equal(t.tick(0), 5000);
  t.tick(4999);
  ok(t.syns[0]!.pending);
  t.tick(1);
  ok(!t.syns[0]!.pending);
  equal(t.stack.stats.pendingExpired, 1);
  equal(t.tick(0), Infinity);
});

Deno.test("LISTEN: accept() inside onSyn answers at once", () => {
  const t = new Harness();
  const h = new Recorder();
  t.onSyn = (f) => void f.accept(h);
  t.send({ seq: 1000, flags: TCP_SYN });
  t.recvOne({ flags: TCP_SYN | TCP_ACK, ack: 1001 });
  equal(t.stack.connectionCount, 1);
});
