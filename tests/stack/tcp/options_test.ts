/** Window scaling, timestamps and PAWS, MSS, IPv6, keepalive and idle timers. */
import { deepEqual, equal, ok } from "node:assert/strict";
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from "../../../src/wire/tcp.ts";
import { bytes, Harness, Recorder } from "./_harness.ts";

const A = TCP_ACK;

Deno.test("window scaling: our window is advertised shifted, the peer's is applied", () => {
  const t = new Harness({ recvBufferSize: 1 << 20 });
  const { conn, iss, irs, synAck } = t.establish({ windowScale: 2, window: 1000, mss: 1000 });
  equal(synAck.windowScale, 5); // 1 MiB >> 5 = 32768
  // The handshake ACK's window 1000 is scaled by 4: 4000 bytes may be sent.
  conn.write(bytes(10000));
  equal(t.recv().reduce((n, o) => n + o.tcp.payload.length, 0), 4000);
  t.send({ seq: irs + 1, ack: iss + 1, flags: TCP_ACK | TCP_PSH, payload: bytes(100) });
  t.tick(40);
  const ack = t.recv().at(-1)!.tcp;
  equal(ack.ack, irs + 101);
  // Everything was consumed, but the right edge only moves in steps of at least one MSS
  // (receiver SWS avoidance), so the window still ends where the last one did.
  equal(ack.window, Math.ceil(((1 << 20) - 100) / 32));
});

Deno.test("window scaling: without the peer's option neither side scales", () => {
  const t = new Harness({ recvBufferSize: 1 << 20 });
  const { iss, irs, synAck } = t.establish({ window: 1000 });
  equal(synAck.windowScale, null);
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, payload: bytes(10) });
  t.tick(40);
  t.recvOne({ window: 65535 });
});

Deno.test("window scaling: a shrinking buffer is advertised in scaled units", () => {
  const t = new Harness({ recvBufferSize: 1 << 16 });
  const h = new Recorder();
  h.consume = () => 0;
  const { iss, irs, synAck } = t.establish({ windowScale: 0, mss: 1460 }, h);
  equal(synAck.windowScale, 1); // 65536 does not fit 16 bits
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, payload: bytes(1460) });
  t.send({ seq: irs + 1461, ack: iss + 1, flags: A, payload: bytes(1460) });
  t.recvOne({ ack: irs + 2921, window: (65536 - 2920) >>> 1 });
});

Deno.test("timestamps: negotiated when offered; every segment echoes TS.Recent", () => {
  const t = new Harness({ timestamps: true });
  t.now = 5000;
  t.send({ seq: 1000, flags: TCP_SYN, mss: 1460, timestamp: { tsVal: 777, tsEcr: 0 } });
  const conn = t.syns.pop()!.accept(new Recorder())!;
  const sa = t.recvOne({ flags: TCP_SYN | TCP_ACK });
  ok(sa.timestamp);
  equal(sa.timestamp.tsEcr, 777);
  const ourTs = sa.timestamp.tsVal;
  t.send({ seq: 1001, ack: sa.seq + 1, flags: A, timestamp: { tsVal: 800, tsEcr: ourTs } });
  equal(conn.state, "ESTABLISHED");
  t.tick(100);
  conn.write(bytes(10));
  const d = t.recvOne();
  deepEqual(d.timestamp, { tsVal: ourTs + 100, tsEcr: 800 });
  // MSS leaves room for the 12-byte option: 1460 - 12 per segment.
  conn.write(bytes(3000));
  equal(t.recv()[0]!.tcp.payload.length, 1448);
});

Deno.test("PAWS: a segment with an older timestamp is dropped and answered (RFC 7323 §5)", () => {
  const t = new Harness({ timestamps: true });
  t.send({ seq: 1000, flags: TCP_SYN, timestamp: { tsVal: 1000, tsEcr: 0 } });
  const h = new Recorder();
  t.syns.pop()!.accept(h);
  const sa = t.recvOne();
  t.send({ seq: 1001, ack: sa.seq + 1, flags: A, timestamp: { tsVal: 1005, tsEcr: 0 } });
  t.send({
    seq: 1001,
    ack: sa.seq + 1,
    flags: A,
    payload: bytes(10),
    timestamp: { tsVal: 1010, tsEcr: 0 },
  });
  equal(h.data.length, 10);
  t.send({
    seq: 1011,
    ack: sa.seq + 1,
    flags: A,
    payload: bytes(10),
    timestamp: { tsVal: 900, tsEcr: 0 },
  });
  equal(h.data.length, 10);
  const ack = t.recvOne({ ack: 1011 });
  equal(ack.timestamp?.tsEcr, 1010);
});

Deno.test("timestamps: RTT samples from the echo set the RTO even for retransmissions", () => {
  const t = new Harness({ timestamps: true, minRtoMs: 10 });
  t.send({ seq: 1000, flags: TCP_SYN, timestamp: { tsVal: 1, tsEcr: 0 } });
  const conn = t.syns.pop()!.accept(new Recorder())!;
  const sa = t.recvOne();
  t.tick(100);
  // The echo says the SYN-ACK left 100 ms ago: SRTT 100, RTTVAR 50, RTO 300.
  t.send({
    seq: 1001,
    ack: sa.seq + 1,
    flags: A,
    timestamp: { tsVal: 2, tsEcr: sa.timestamp!.tsVal },
  });
  conn.write(bytes(10));
  t.recv();
  t.tick(299);
  t.recvNone();
  t.tick(1);
  equal(t.recv().length, 1);
});

Deno.test("MSS: segments never exceed the peer's MSS; a missing option means 536", () => {
  const t = new Harness();
  const { conn } = t.establish({ mss: null });
  conn.write(bytes(2000));
  deepEqual(t.recv().map((o) => o.tcp.payload.length), [536, 536, 536, 392]);
});

Deno.test("MSS: our segment size is also capped by our MTU", () => {
  const t = new Harness({ mtu: 1280 });
  const { conn } = t.establish({ mss: 9000 });
  conn.write(bytes(3000));
  deepEqual(t.recv().map((o) => o.tcp.payload.length), [1240, 1240, 520]);
});

Deno.test("IPv6: handshake, data both ways and close", () => {
  const t = new Harness({}, 6);
  const { conn, h, iss, irs } = t.establish({ mss: 1440 });
  t.send({ seq: irs + 1, ack: iss + 1, flags: A | TCP_PSH, payload: bytes(300) });
  equal(h.data.length, 300);
  conn.write(bytes(2000));
  const out = t.recv();
  equal(out[0]!.version, 6);
  deepEqual(out.map((o) => o.tcp.payload.length), [1440, 560]);
  deepEqual([...out[0]!.dst], [...t.client]);
  conn.abort();
  t.recvOne({ flags: TCP_RST });
});

Deno.test("keepalive: idle connections are probed with SND.UNA-1, then reset", () => {
  const t = new Harness({ keepaliveIdleMs: 10000, keepaliveIntervalMs: 1000, keepaliveCount: 2 });
  const { h, iss, irs } = t.establish();
  t.tick(9999);
  t.recvNone();
  t.tick(1);
  t.recvOne({ seq: iss, ack: irs + 1, flags: A });
  // An answer resets the idle clock.
  t.send({ seq: irs + 1, ack: iss + 1, flags: A });
  t.tick(9999);
  t.recvNone();
  t.tick(1);
  t.recvOne({ seq: iss });
  t.tick(1000);
  t.recvOne({ seq: iss });
  t.tick(1000);
  t.recvOne({ flags: TCP_RST });
  equal(h.closed, "timeout");
});

Deno.test("idle timeout: a connection with no traffic is reset", () => {
  const t = new Harness({ idleTimeoutMs: 30000 });
  const { conn, h, iss, irs } = t.establish();
  t.tick(20000);
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, payload: bytes(1) });
  t.tick(40); // our delayed ACK is the last activity
  t.recvOne({ ack: irs + 2 });
  t.tick(29999);
  equal(conn.state, "ESTABLISHED");
  t.recv();
  t.tick(1);
  t.recvOne({ flags: TCP_RST });
  equal(h.closed, "timeout");
});

Deno.test("delayed ACK: a reply written within the delay carries the ACK", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish();
  t.send({ seq: irs + 1, ack: iss + 1, flags: A | TCP_PSH, payload: bytes(10) });
  t.tick(10);
  conn.write(bytes(20));
  t.recvOne({ ack: irs + 11, payload: bytes(20) });
  t.tick(100);
  t.recvNone();
});

Deno.test("poll() reports the next deadline", () => {
  const t = new Harness({ delayedAckMs: 40 });
  const { iss, irs } = t.establish();
  equal(t.tick(0), Infinity);
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, payload: bytes(10) });
  equal(t.tick(0), t.now + 40);
});
