/** Retransmission: RTO timing (RFC 6298), Karn's rule, fast retransmit/recovery, SACK, persist. */
import { deepEqual, equal } from "node:assert/strict";
import { TCP_ACK, TCP_PSH, TCP_RST } from "../../../src/wire/tcp.ts";
import { bytes, Harness } from "./_harness.ts";

const A = TCP_ACK;
const AP = TCP_ACK | TCP_PSH;

function seqs(t: Harness, iss: number): Array<[number, number]> {
  return t.recv().map((o) => [o.tcp.seq - iss, o.tcp.payload.length]);
}

Deno.test("RTO: unacknowledged data is retransmitted with the timeout doubling each time", () => {
  const t = new Harness({ minRtoMs: 200 });
  const { conn, iss } = t.establish();
  conn.write(bytes(100));
  t.recvOne({ seq: iss + 1 });
  const expect = [200, 400, 800, 1600, 3200];
  for (const gap of expect) {
    t.tick(gap - 1);
    t.recvNone();
    t.tick(1);
    t.recvOne({ seq: iss + 1, flags: AP, payload: bytes(100) });
  }
  equal(conn.retransmits, 5);
});

Deno.test("RTO: the timeout never exceeds maxRtoMs", () => {
  const t = new Harness({ minRtoMs: 200, maxRtoMs: 1000, maxRetries: 20 });
  const { conn } = t.establish();
  conn.write(bytes(1));
  t.recv();
  for (const gap of [200, 400, 800, 1000, 1000]) {
    t.tick(gap - 1);
    t.recvNone();
    t.tick(1);
    equal(t.recv().length, 1);
  }
});

Deno.test("RTO: the first RTO before any measurement is initialRtoMs (RFC 6298 §2.1)", () => {
  const t = new Harness({ initialRtoMs: 1000 });
  t.send({ seq: 1000, flags: 2 });
  t.syns[0]!.accept({ onData: (v) => v.length });
  t.recv();
  t.tick(999);
  t.recvNone();
  t.tick(1);
  equal(t.recv().length, 1);
});

Deno.test("Karn: an ACK of retransmitted data gives no RTT sample; the backed-off RTO stays", () => {
  const t = new Harness({ minRtoMs: 200 });
  const { conn, iss, irs } = t.establish();
  conn.write(bytes(10));
  t.recv();
  t.tick(200); // retransmission; RTO backs off to 400
  t.recv();
  t.tick(50);
  t.send({ seq: irs + 1, ack: iss + 11, flags: A });
  conn.write(bytes(10));
  t.recvOne({ seq: iss + 11 });
  t.tick(399);
  t.recvNone(); // still 400, not a sample-based 200
  t.tick(1);
  t.recvOne({ seq: iss + 11 });
  // A prompt ACK of fresh data is a valid sample: the RTO returns to the 200 ms floor.
  t.send({ seq: irs + 1, ack: iss + 21, flags: A });
  conn.write(bytes(10));
  t.recv();
  t.tick(5);
  t.send({ seq: irs + 1, ack: iss + 31, flags: A });
  conn.write(bytes(10));
  t.recv();
  t.tick(199);
  t.recvNone();
  t.tick(1);
  t.recvOne({ seq: iss + 31 });
});

Deno.test("RTO: after maxRetries timeouts the connection is reset with 'timeout'", () => {
  const t = new Harness({ minRtoMs: 200, maxRetries: 3 });
  const { conn, h } = t.establish();
  conn.write(bytes(10));
  t.recv();
  for (const gap of [200, 400, 800]) {
    t.tick(gap);
    equal(t.recv().length, 1);
  }
  t.tick(1600);
  t.recvOne({ flags: TCP_RST });
  equal(h.closed, "timeout");
  equal(t.stack.connectionCount, 0);
});

Deno.test("RTO: a timeout collapses cwnd to one segment and goes back to SND.UNA", () => {
  const t = new Harness({ minRtoMs: 200 });
  const { conn, iss, irs } = t.establish({ mss: 1000 });
  conn.write(bytes(5000));
  equal(t.recv().length, 5);
  t.tick(200);
  deepEqual(seqs(t, iss), [[1, 1000]]);
  // The ACK of that segment lets two more go (slow start from one segment).
  t.send({ seq: irs + 1, ack: iss + 1001, flags: A });
  deepEqual(seqs(t, iss), [[1001, 1000], [2001, 1000]]);
});

Deno.test("fast retransmit: the third duplicate ACK retransmits; a full ACK ends recovery", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish({ mss: 1000 });
  conn.write(bytes(5000));
  equal(t.recv().length, 5);
  t.send({ seq: irs + 1, ack: iss + 1001, flags: A });
  t.send({ seq: irs + 1, ack: iss + 1001, flags: A });
  t.send({ seq: irs + 1, ack: iss + 1001, flags: A });
  t.recvNone();
  t.send({ seq: irs + 1, ack: iss + 1001, flags: A });
  deepEqual(seqs(t, iss), [[1001, 1000]]);
  equal(conn.retransmits, 1);
  t.send({ seq: irs + 1, ack: iss + 5001, flags: A });
  t.recvNone();
  equal(conn.write(bytes(1000)), 1000);
  equal(t.recv().length, 1);
});

Deno.test("NewReno: a partial ACK retransmits the next hole at once (RFC 6582)", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish({ mss: 1000 });
  conn.write(bytes(5000));
  t.recv();
  // Segments 2 and 4 were lost.
  for (let i = 0; i < 4; i++) t.send({ seq: irs + 1, ack: iss + 1001, flags: A });
  deepEqual(seqs(t, iss), [[1001, 1000]]);
  t.send({ seq: irs + 1, ack: iss + 3001, flags: A });
  deepEqual(seqs(t, iss), [[3001, 1000]]);
  t.send({ seq: irs + 1, ack: iss + 5001, flags: A });
  equal(conn.retransmits, 2);
});

Deno.test("SACK: every hole below the highest SACK is retransmitted in one round", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish({ mss: 1000, sackPermitted: true });
  conn.write(bytes(5000));
  equal(t.recv().length, 5);
  // Segments 1 and 3 were lost; 2, 4 and 5 arrived.
  const s = (l: number, r: number): [number, number] => [iss + l, iss + r];
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, sackBlocks: [s(1001, 2001)] });
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, sackBlocks: [s(3001, 4001), s(1001, 2001)] });
  t.recvNone();
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, sackBlocks: [s(3001, 5001), s(1001, 2001)] });
  deepEqual(seqs(t, iss), [[1, 1000], [2001, 1000]]);
  t.send({ seq: irs + 1, ack: iss + 5001, flags: A });
  equal(conn.retransmits, 2);
  t.recvNone();
});

Deno.test("SACK: SACKed data is not retransmitted after a partial ACK", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish({ mss: 1000, sackPermitted: true });
  conn.write(bytes(6000));
  t.recv();
  const s = (l: number, r: number): [number, number] => [iss + l, iss + r];
  for (let i = 0; i < 3; i++) {
    t.send({ seq: irs + 1, ack: iss + 1, flags: A, sackBlocks: [s(2001, 6001)] });
  }
  // Holes: 1..1000 and 1001..2000 (the whole 2 KB below the first SACK).
  deepEqual(seqs(t, iss), [[1, 1000], [1001, 1000]]);
  t.send({ seq: irs + 1, ack: iss + 1001, flags: A, sackBlocks: [s(2001, 6001)] });
  t.recvNone();
  t.send({ seq: irs + 1, ack: iss + 6001, flags: A });
  equal(conn.retransmits, 2);
});

Deno.test("zero window: the persist timer probes with one byte and never gives up", () => {
  const t = new Harness({ minRtoMs: 200, maxRetries: 2 });
  const { conn, iss, irs } = t.establish({ window: 0 });
  conn.write(bytes(100));
  t.recvNone();
  t.tick(200);
  t.recvOne({ seq: iss + 1, payload: bytes(1) });
  // The peer still has no room.
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, window: 0 });
  for (const gap of [400, 800, 1600, 3200]) {
    t.tick(gap - 1);
    t.recvNone();
    t.tick(1);
    t.recvOne({ seq: iss + 1, payload: bytes(1) });
    t.send({ seq: irs + 1, ack: iss + 1, flags: A, window: 0 });
  }
  equal(conn.state, "ESTABLISHED");
  // The window opens: the rest goes out.
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, window: 1000 });
  deepEqual(seqs(t, iss), [[2, 99]]);
  t.send({ seq: irs + 1, ack: iss + 101, flags: A, window: 1000 });
  t.tick(10000);
  t.recvNone();
});

Deno.test("zero window: a probe the peer accepts moves SND.UNA and sending resumes", () => {
  const t = new Harness({ minRtoMs: 200 });
  const { conn, iss, irs } = t.establish({ window: 0 });
  conn.write(bytes(10));
  t.tick(200);
  t.recvOne({ seq: iss + 1, payload: bytes(1) });
  t.send({ seq: irs + 1, ack: iss + 2, flags: A, window: 500 });
  t.recvOne({ seq: iss + 2, payload: bytes(9, 1) });
});
