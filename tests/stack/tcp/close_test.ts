/** FIN handling, half-close, simultaneous close, TIME-WAIT, RST in every state, abort. */
import { deepEqual, equal, ok } from "node:assert/strict";
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from "../../../src/wire/tcp.ts";
import type { TcpConnection } from "../../../src/stack/tcp/connection.ts";
import { bytes, Harness, Recorder } from "./_harness.ts";

const A = TCP_ACK;
const FA = TCP_FIN | TCP_ACK;

Deno.test("CLOSE-WAIT: the peer's FIN is acknowledged at once and reported after the data", () => {
  const t = new Harness();
  const { conn, h, iss, irs } = t.establish();
  t.send({ seq: irs + 1, ack: iss + 1, flags: FA | TCP_PSH, payload: bytes(10) });
  t.recvOne({ seq: iss + 1, ack: irs + 12, flags: A });
  equal(conn.state, "CLOSE-WAIT");
  equal(h.data.length, 10);
  equal(h.fins, 1);
  equal(h.closed, null);
});

Deno.test("LAST-ACK: shutdownWrite() in CLOSE-WAIT sends FIN; its ACK closes", () => {
  const t = new Harness();
  const { conn, h, iss, irs } = t.establish();
  t.send({ seq: irs + 1, ack: iss + 1, flags: FA });
  t.recv();
  conn.shutdownWrite();
  equal(conn.state, "LAST-ACK");
  t.recvOne({ seq: iss + 1, ack: irs + 2, flags: FA });
  t.send({ seq: irs + 2, ack: iss + 2, flags: A });
  equal(conn.state, "CLOSED");
  equal(h.closed, "closed");
  equal(h.closes, 1);
  equal(t.stack.connectionCount, 0);
});

Deno.test("CLOSE-WAIT: data can still be sent after the peer half-closed", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish();
  t.send({ seq: irs + 1, ack: iss + 1, flags: FA });
  t.recv();
  conn.write(bytes(100));
  t.recvOne({ seq: iss + 1, ack: irs + 2, payload: bytes(100) });
  t.send({ seq: irs + 2, ack: iss + 101, flags: A });
  conn.shutdownWrite();
  t.recvOne({ seq: iss + 101, flags: FA });
});

Deno.test("CLOSE-WAIT: onFin waits until buffered data is consumed", () => {
  const t = new Harness();
  const h = new Recorder();
  h.consume = () => 0;
  const { conn, iss, irs } = t.establish({}, h);
  t.send({ seq: irs + 1, ack: iss + 1, flags: FA, payload: bytes(20) });
  equal(conn.state, "CLOSE-WAIT");
  equal(h.fins, 0);
  h.consume = (v) => v.length;
  conn.pull();
  equal(h.data.length, 20);
  equal(h.fins, 1);
});

Deno.test("a FIN beyond a hole takes effect when the hole fills", () => {
  const t = new Harness();
  const { conn, h, iss, irs } = t.establish();
  t.send({ seq: irs + 11, ack: iss + 1, flags: FA, payload: bytes(10, 10) });
  equal(conn.state, "ESTABLISHED");
  t.recvOne({ ack: irs + 1 });
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, payload: bytes(10) });
  equal(conn.state, "CLOSE-WAIT");
  t.recvOne({ ack: irs + 22 });
  deepEqual(h.data, [...bytes(20)]);
  equal(h.fins, 1);
});

Deno.test("FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED after 2 MSL", () => {
  const t = new Harness({ mslMs: 1000 });
  const { conn, h, iss, irs } = t.establish();
  conn.shutdownWrite();
  equal(conn.state, "FIN-WAIT-1");
  t.recvOne({ seq: iss + 1, ack: irs + 1, flags: FA });
  t.send({ seq: irs + 1, ack: iss + 2, flags: A });
  equal(conn.state, "FIN-WAIT-2");
  // Half-close: the peer may still send data.
  t.send({ seq: irs + 1, ack: iss + 2, flags: A | TCP_PSH, payload: bytes(5) });
  equal(h.data.length, 5);
  t.send({ seq: irs + 6, ack: iss + 2, flags: FA });
  equal(conn.state, "TIME-WAIT");
  t.recvOne({ seq: iss + 2, ack: irs + 7, flags: A });
  equal(h.fins, 1);
  equal(h.closed, "closed");
  equal(t.stack.connectionCount, 1);
  t.tick(1999);
  equal(conn.state, "TIME-WAIT");
  t.tick(1);
  equal(conn.state, "CLOSED");
  equal(t.stack.connectionCount, 0);
  equal(h.closes, 1);
});

Deno.test("TIME-WAIT: a retransmitted FIN is acknowledged and restarts 2 MSL", () => {
  const t = new Harness({ mslMs: 1000 });
  const { conn, iss, irs } = t.establish();
  conn.shutdownWrite();
  t.recv();
  t.send({ seq: irs + 1, ack: iss + 2, flags: FA });
  t.recvOne({ ack: irs + 2 });
  t.tick(1500);
  t.send({ seq: irs + 1, ack: iss + 2, flags: FA });
  t.recvOne({ seq: iss + 2, ack: irs + 2, flags: A });
  t.tick(1999);
  equal(conn.state, "TIME-WAIT");
  t.tick(1);
  equal(conn.state, "CLOSED");
});

Deno.test("TIME-WAIT: a new SYN with a higher sequence number opens a new connection", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish();
  conn.shutdownWrite();
  t.recv();
  t.send({ seq: irs + 1, ack: iss + 2, flags: FA });
  t.recv();
  equal(conn.state, "TIME-WAIT");
  t.send({ seq: irs + 100000, flags: TCP_SYN });
  equal(conn.state, "CLOSED");
  equal(t.syns.length, 1);
});

Deno.test("simultaneous close: FIN-WAIT-1 → CLOSING → TIME-WAIT", () => {
  const t = new Harness();
  const { conn, h, iss, irs } = t.establish();
  conn.shutdownWrite();
  t.recvOne({ seq: iss + 1, flags: FA });
  // The peer's FIN crosses ours: it does not acknowledge our FIN.
  t.send({ seq: irs + 1, ack: iss + 1, flags: FA });
  equal(conn.state, "CLOSING");
  t.recvOne({ seq: iss + 2, ack: irs + 2, flags: A });
  t.send({ seq: irs + 2, ack: iss + 2, flags: A });
  equal(conn.state, "TIME-WAIT");
  equal(h.closed, "closed");
});

Deno.test("FIN-WAIT-1: a FIN that also acknowledges ours goes straight to TIME-WAIT", () => {
  const t = new Harness();
  const { conn, iss, irs } = t.establish();
  conn.shutdownWrite();
  t.recv();
  t.send({ seq: irs + 1, ack: iss + 2, flags: FA });
  equal(conn.state, "TIME-WAIT");
  t.recvOne({ ack: irs + 2, flags: A });
});

Deno.test("FIN after data: a reply and FIN written inside onData go out as one segment", () => {
  const t = new Harness();
  const h = new Recorder();
  let c: TcpConnection | null = null;
  h.consume = (v) => {
    c!.write(bytes(50));
    c!.shutdownWrite();
    return v.length;
  };
  const { conn, iss, irs } = t.establish({}, h);
  c = conn;
  t.send({ seq: irs + 1, ack: iss + 1, flags: A | TCP_PSH, payload: bytes(10) });
  // Output is deferred until the segment is processed: data, FIN and the ACK share a segment.
  t.recvOne({ seq: iss + 1, ack: irs + 11, flags: FA | TCP_PSH, payload: bytes(50) });
  equal(conn.state, "FIN-WAIT-1");
});

Deno.test("write() after shutdownWrite() accepts nothing", () => {
  const t = new Harness();
  const { conn } = t.establish();
  conn.shutdownWrite();
  equal(conn.write(bytes(10)), 0);
  equal(conn.sendSpace(), 0);
  equal(conn.writeWith(() => 5), 0);
});

Deno.test("close() discards unread data, keeps acknowledging, and sends FIN", () => {
  const t = new Harness();
  const h = new Recorder();
  h.consume = () => 0;
  const { conn, iss, irs } = t.establish({}, h);
  t.send({ seq: irs + 1, ack: iss + 1, flags: A, payload: bytes(100) });
  conn.close();
  equal(conn.readableBytes, 0);
  const segs = t.recv().map((o) => o.tcp);
  ok(segs.some((s) => s.flags & TCP_FIN));
  t.send({ seq: irs + 101, ack: iss + 2, flags: A, payload: bytes(100) });
  t.tick(40);
  t.recvOne({ ack: irs + 201 });
  equal(h.offers.length, 1);
});

Deno.test("FIN-WAIT-2 after close() is reset when the peer never finishes", () => {
  const t = new Harness({ finWait2TimeoutMs: 3000 });
  const { conn, h, iss, irs } = t.establish();
  conn.close();
  t.recv();
  t.send({ seq: irs + 1, ack: iss + 2, flags: A });
  equal(conn.state, "FIN-WAIT-2");
  t.tick(3000);
  t.recvOne({ flags: TCP_RST });
  equal(h.closed, "timeout");
});

Deno.test("abort() sends <SEQ=SND.NXT><CTL=RST> and reports 'aborted'", () => {
  const t = new Harness();
  const { conn, h, iss } = t.establish();
  conn.write(bytes(10));
  t.recv();
  conn.abort();
  t.recvOne({ seq: iss + 11, flags: TCP_RST });
  equal(h.closed, "aborted");
  equal(conn.state, "CLOSED");
  equal(t.stack.connectionCount, 0);
});

Deno.test("abort() inside onData stops processing and sends RST", () => {
  const t = new Harness();
  const h = new Recorder();
  let c: TcpConnection | null = null;
  h.consume = () => {
    c!.abort();
    return 0;
  };
  const { conn, iss, irs } = t.establish({}, h);
  c = conn;
  t.send({ seq: irs + 1, ack: iss + 1, flags: FA, payload: bytes(10) });
  t.recvOne({ flags: TCP_RST });
  equal(h.closed, "aborted");
  equal(h.fins, 0);
});

// RST with the exact sequence number closes the connection in every synchronized state.
type Setup = (t: Harness, c: TcpConnection, iss: number, irs: number) => number;
const states: Array<[string, Setup]> = [
  ["ESTABLISHED", (_t, _c, _iss, irs) => irs + 1],
  ["FIN-WAIT-1", (t, c, _iss, irs) => {
    c.shutdownWrite();
    t.recv();
    return irs + 1;
  }],
  ["FIN-WAIT-2", (t, c, iss, irs) => {
    c.shutdownWrite();
    t.send({ seq: irs + 1, ack: iss + 2, flags: A });
    return irs + 1;
  }],
  ["CLOSE-WAIT", (t, _c, iss, irs) => {
    t.send({ seq: irs + 1, ack: iss + 1, flags: FA });
    return irs + 2;
  }],
  ["CLOSING", (t, c, iss, irs) => {
    c.shutdownWrite();
    t.send({ seq: irs + 1, ack: iss + 1, flags: FA });
    return irs + 2;
  }],
  ["LAST-ACK", (t, c, iss, irs) => {
    t.send({ seq: irs + 1, ack: iss + 1, flags: FA });
    c.shutdownWrite();
    return irs + 2;
  }],
  ["TIME-WAIT", (t, c, iss, irs) => {
    c.shutdownWrite();
    t.send({ seq: irs + 1, ack: iss + 2, flags: FA });
    return irs + 2;
  }],
];
for (const [name, setup] of states) {
  Deno.test(`${name}: an exact RST closes the connection; a near miss gets a challenge ACK`, () => {
    const t = new Harness();
    const { conn, h, iss, irs } = t.establish();
    const rcvNxt = setup(t, conn, iss, irs);
    equal(conn.state, name);
    t.recv();
    if (name !== "TIME-WAIT") {
      t.send({ seq: rcvNxt + 5, flags: TCP_RST });
      t.recvOne({ flags: A, ack: rcvNxt });
      equal(conn.state, name);
    }
    t.send({ seq: rcvNxt, flags: TCP_RST });
    equal(conn.state, "CLOSED");
    equal(t.stack.connectionCount, 0);
    equal(h.closes, 1);
    t.recvNone();
  });
}
