/** ESTABLISHED: data both ways, acknowledgments, windows, RST and SYN handling. */
import { deepEqual, equal, ok } from "node:assert/strict";
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from "../../../src/wire/tcp.ts";
import { bytes, Harness, Recorder } from "./_harness.ts";

const A = TCP_ACK;
const AP = TCP_ACK | TCP_PSH;

Deno.test("ESTABLISHED: in-order data reaches onData straight from the packet (zero copy)", () => {
  const t = new Harness();
  const { h, iss, irs } = t.establish();
  const pkt = t.packet({ seq: irs + 1, ack: iss + 1, flags: AP, payload: bytes(100) });
  t.input(pkt);
  equal(h.offers.length, 1);
  equal(h.offers[0]!.buffer, pkt.buffer);
  deepEqual(h.data, [...bytes(100)]);
});

Deno.test("ESTABLISHED: a lone segment is acknowledged after the delayed-ACK timeout", () => {
  const t = new Harness({ delayedAckMs: 40 });
  const { iss, irs } = t.establish();
  t.send({ seq: irs + 1, ack: iss + 1, flags: AP, payload: bytes(100) });
  t.recvNone();
  t.tick(39);
  t.recvNone();
  t.tick(1);
  t.recvOne({ seq: iss + 1, ack: irs + 101, flags: A, window: 65535 });
});

Deno.test("ESTABLISHED: every second full-sized segment is acknowledged at once", () => {
  const t = new Harness();
  const { iss, irs } = t.establish();
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, payload: bytes(1460) });
  t.recvNone();
  t.send({ seq: irs + 1461, ack: iss + 1, flags: A, payload: bytes(1460) });
  t.recvOne({ ack: irs + 2921, flags: A });
});

Deno.test("ESTABLISHED: out-of-order data is acknowledged at once with a SACK block", () => {
  const t = new Harness();
  const { h, iss, irs } = t.establish({ sackPermitted: true });
  t.send({ seq: irs + 101, ack: iss + 1, flags: A, payload: bytes(100, 100) });
  t.recvOne({ ack: irs + 1, sackBlocks: [[irs + 101, irs + 201]] });
  equal(h.data.length, 0);
  t.send({ seq: irs + 301, ack: iss + 1, flags: A, payload: bytes(100, 300) });
  // The block with the most recent segment comes first (RFC 2018 §4).
  t.recvOne({ ack: irs + 1, sackBlocks: [[irs + 301, irs + 401], [irs + 101, irs + 201]] });
  // Filling the first hole delivers 0..200 and is acknowledged at once.
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, payload: bytes(100, 0) });
  t.recvOne({ ack: irs + 201, sackBlocks: [[irs + 301, irs + 401]] });
  deepEqual(h.data, [...bytes(200)]);
  t.send({ seq: irs + 201, ack: iss + 1, flags: A, payload: bytes(100, 200) });
  t.recvOne({ ack: irs + 401, sackBlocks: [] });
  deepEqual(h.data, [...bytes(400)]);
});

Deno.test("ESTABLISHED: overlapping and duplicate segments are reassembled once", () => {
  const t = new Harness();
  const { h, iss, irs } = t.establish();
  t.send({ seq: irs + 51, ack: iss + 1, flags: A, payload: bytes(100, 50) });
  t.send({ seq: irs + 51, ack: iss + 1, flags: A, payload: bytes(100, 50) });
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, payload: bytes(80, 0) });
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, payload: bytes(200, 0) });
  deepEqual(h.data, [...bytes(200)]);
});

Deno.test("ESTABLISHED: an old duplicate segment is answered with an ACK", () => {
  const t = new Harness();
  const { iss, irs } = t.establish();
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, payload: bytes(10) });
  t.tick(40);
  t.recv();
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, payload: bytes(10) });
  t.recvOne({ seq: iss + 1, ack: irs + 11, flags: A });
});

Deno.test("ESTABLISHED: unconsumed data shrinks the window; never more is acked than buffered", () => {
  const t = new Harness({ recvBufferSize: 4096 });
  const h = new Recorder();
  h.consume = () => 0;
  const { conn, iss, irs } = t.establish({}, h);
  t.send({ seq: irs + 1, ack: iss + 1, flags: AP, payload: bytes(3000) });
  t.tick(40);
  t.recvOne({ ack: irs + 3001, window: 1096 });
  equal(conn.readableBytes, 3000);
  // 2000 more: only 1096 fit; the ACK covers exactly what is buffered, with a zero window.
  t.send({ seq: irs + 3001, ack: iss + 1, flags: AP, payload: bytes(2000, 3000) });
  t.recvOne({ ack: irs + 4097, window: 0 });
  equal(conn.readableBytes, 4096);
  // A zero-window probe is answered with the same ACK and window.
  t.send({ seq: irs + 4097, ack: iss + 1, flags: A, payload: bytes(1, 4096) });
  t.recvOne({ ack: irs + 4097, window: 0 });
  // The application drains: a window update goes out and the data arrives in order.
  h.consume = (v) => v.length;
  equal(conn.pull(), 4096);
  t.recvOne({ ack: irs + 4097, window: 4096 });
  deepEqual(h.data, [...bytes(4096)]);
});

Deno.test("ESTABLISHED: after a refusal no data is offered until pull()", () => {
  const t = new Harness();
  const h = new Recorder();
  h.consume = (v) => Math.min(v.length, 10);
  const { conn, iss, irs } = t.establish({}, h);
  t.send({ seq: irs + 1, ack: iss + 1, flags: AP, payload: bytes(100) });
  equal(h.offers.length, 1);
  t.send({ seq: irs + 101, ack: iss + 1, flags: AP, payload: bytes(100, 100) });
  equal(h.offers.length, 1);
  equal(conn.readableBytes, 190);
  h.consume = (v) => v.length;
  equal(conn.pull(), 190);
  deepEqual(h.data, [...bytes(200)]);
  t.send({ seq: irs + 201, ack: iss + 1, flags: AP, payload: bytes(5, 200) });
  equal(h.data.length, 205);
});

Deno.test("ESTABLISHED: pull() with a custom consumer drains buffered data", () => {
  const t = new Harness();
  const h = new Recorder();
  h.consume = () => 0;
  const { conn, iss, irs } = t.establish({}, h);
  t.send({ seq: irs + 1, ack: iss + 1, flags: AP, payload: bytes(50) });
  const got: number[] = [];
  const n = conn.pull((v) => {
    got.push(...v.subarray(0, 20));
    return 20;
  });
  equal(n, 20);
  equal(conn.readableBytes, 30);
  deepEqual(got, [...bytes(20)]);
});

Deno.test("ESTABLISHED: write() is segmented by MSS with PSH on the last segment", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish({ mss: 1000 });
  equal(conn.write(bytes(2500)), 2500);
  const segs = t.recv().map((o) => o.tcp);
  deepEqual(segs.map((s) => [s.seq - iss, s.payload.length, s.flags]), [
    [1, 1000, A],
    [1001, 1000, A],
    [2001, 500, AP],
  ]);
  equal(segs[0]!.ack, irs + 1);
  deepEqual([...segs[1]!.payload], [...bytes(1000, 1000)]);
});

Deno.test("ESTABLISHED: the initial congestion window is 10 segments (RFC 6928)", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish({ mss: 1460 });
  conn.write(bytes(30000));
  equal(t.recv().length, 10);
  // An ACK of two segments opens cwnd by 2*MSS in slow start and lets the window slide.
  t.send({ seq: irs + 1, ack: iss + 1 + 2920, flags: A });
  equal(t.recv().length, 4);
});

Deno.test("ESTABLISHED: sending stops at the peer's window", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish({ window: 1000 });
  conn.write(bytes(5000));
  const segs = t.recv().map((o) => o.tcp);
  equal(segs.length, 1);
  equal(segs[0]!.payload.length, 1000);
  t.send({ seq: irs + 1, ack: iss + 1001, flags: A, window: 3000 });
  // Two full segments fit; the 80-byte remnant waits (sender SWS avoidance, RFC 9293 §3.8.6.2.1).
  equal(t.recv().reduce((n, o) => n + o.tcp.payload.length, 0), 2920);
  t.send({ seq: irs + 1, ack: iss + 3921, flags: A, window: 3000 });
  equal(t.recv().reduce((n, o) => n + o.tcp.payload.length, 0), 1080);
});

Deno.test("ESTABLISHED: writeWith() fills the send ring in place", () => {
  const t = new Harness({ sendBufferSize: 4096 });
  const { conn } = t.establish();
  let size = 0;
  const n = conn.writeWith((dst) => {
    size = dst.length;
    dst.set(bytes(100));
    return 100;
  });
  equal(size, 4096);
  equal(n, 100);
  deepEqual([...t.recvOne().payload], [...bytes(100)]);
  equal(conn.sendSpace(), 3996);
});

Deno.test("ESTABLISHED: onWritable follows an ACK that frees a full send buffer", () => {
  const t = new Harness({ sendBufferSize: 2048 });
  const { conn, h, iss, irs } = t.establish();
  equal(conn.write(bytes(3000)), 2048);
  equal(conn.sendSpace(), 0);
  t.recv();
  equal(h.writables, 0);
  t.send({ seq: irs + 1, ack: iss + 1 + 1000, flags: A });
  equal(h.writables, 1);
  equal(conn.sendSpace(), 1000);
});

Deno.test("ESTABLISHED: an ACK for unsent data is answered with an ACK and ignored", () => {
  const t = new Harness();
  const { conn, h, iss, irs } = t.establish();
  t.send({ seq: irs + 1, ack: iss + 500, flags: AP, payload: bytes(10) });
  t.recvOne({ seq: iss + 1, ack: irs + 1, flags: A });
  equal(h.data.length, 0);
  equal(conn.state, "ESTABLISHED");
});

Deno.test("ESTABLISHED: a RST with the exact sequence number resets", () => {
  const t = new Harness();
  const { conn, h, irs } = t.establish();
  conn.write(bytes(10));
  t.recv();
  t.send({ seq: irs + 1, flags: TCP_RST });
  equal(conn.state, "CLOSED");
  equal(h.closed, "reset");
  equal(t.stack.connectionCount, 0);
  t.recvNone();
});

Deno.test("ESTABLISHED: a RST inside the window but not exact gets a challenge ACK (RFC 5961)", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish();
  t.send({ seq: irs + 100, flags: TCP_RST });
  t.recvOne({ seq: iss + 1, ack: irs + 1, flags: A });
  equal(conn.state, "ESTABLISHED");
});

Deno.test("ESTABLISHED: a RST outside the window is ignored", () => {
  const t = new Harness();
  const { conn, irs } = t.establish();
  t.send({ seq: irs + 1_000_000, flags: TCP_RST });
  t.recvNone();
  equal(conn.state, "ESTABLISHED");
});

Deno.test("ESTABLISHED: a SYN gets a challenge ACK and changes nothing (RFC 5961 §4)", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish();
  t.send({ seq: irs + 1, flags: TCP_SYN });
  t.recvOne({ seq: iss + 1, ack: irs + 1, flags: A });
  equal(conn.state, "ESTABLISHED");
});

Deno.test("ESTABLISHED: segments outside the window are answered with an ACK", () => {
  const t = new Harness();
  const { h, iss, irs } = t.establish();
  t.send({ seq: irs + 1 + 300000, ack: iss + 1, flags: A, payload: bytes(10) });
  t.recvOne({ ack: irs + 1, flags: A });
  equal(h.data.length, 0);
});

Deno.test("ESTABLISHED: per-connection counters track bytes and segments", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish({ mss: 1000 });
  t.send({ seq: irs + 1, ack: iss + 1, flags: AP, payload: bytes(300) });
  conn.write(bytes(1500));
  equal(conn.bytesReceived, 300);
  equal(conn.bytesSent, 1500);
  equal(conn.segmentsSent, 3); // SYN-ACK and two data segments
  equal(conn.retransmits, 0);
  ok(conn.segmentsReceived >= 2);
  equal(t.stack.connectionsByState().ESTABLISHED, 1);
});

Deno.test("ESTABLISHED: data filling half the offered window is acknowledged at once", () => {
  const t = new Harness({ recvBufferSize: 2048 });
  const { iss, irs } = t.establish({ mss: 1460 });
  // The handshake ACK offered 2048 bytes; 1100 is more than half: no delayed ACK.
  t.send({ seq: irs + 1, ack: iss + 1, flags: AP, payload: bytes(1100) });
  t.recvOne({ ack: irs + 1101 });
});
