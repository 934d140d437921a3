/** SYN-RECEIVED: the handshake after the application accepted. */
import { equal, ok } from "node:assert/strict";
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from "../../../src/wire/tcp.ts";
import { bytes, Harness, Recorder } from "./_harness.ts";

function accepted(t: Harness, syn: Parameters<Harness["send"]>[0]) {
  t.send(syn);
  const h = new Recorder();
  const conn = t.syns.pop()!.accept(h)!;
  const sa = t.recvOne({ flags: TCP_SYN | TCP_ACK, ack: syn.seq + 1 });
  return { conn, h, iss: sa.seq, sa };
}

Deno.test("SYN-RECEIVED: the SYN-ACK carries our MSS (MTU - 40) and echoes offered options", () => {
  const t = new Harness({ mtu: 9000 });
  const { conn, sa } = accepted(t, {
    seq: 1000,
    flags: TCP_SYN,
    mss: 1460,
    windowScale: 7,
    sackPermitted: true,
  });
  equal(conn.state, "SYN-RECEIVED");
  equal(sa.mss, 8960);
  equal(sa.windowScale, 3); // 256 KiB >> 2 is 65536, one too many for 16 bits
  equal(sa.sackPermitted, true);
  equal(sa.window, 65535); // SYN windows are never scaled
});

Deno.test("SYN-RECEIVED: options the SYN did not offer are not offered back", () => {
  const t = new Harness();
  const { sa } = accepted(t, { seq: 1000, flags: TCP_SYN });
  equal(sa.windowScale, null);
  equal(sa.sackPermitted, false);
  equal(sa.timestamp, null);
});

Deno.test("SYN-RECEIVED: IPv6 uses MSS = MTU - 60", () => {
  const t = new Harness({ mtu: 1500 }, 6);
  const { sa } = accepted(t, { seq: 1000, flags: TCP_SYN });
  equal(sa.mss, 1440);
});

Deno.test("SYN-RECEIVED: the ACK of our SYN enters ESTABLISHED", () => {
  const t = new Harness();
  const { conn, h, iss } = accepted(t, { seq: 1000, flags: TCP_SYN });
  t.send({ seq: 1001, ack: iss + 1, flags: TCP_ACK });
  equal(conn.state, "ESTABLISHED");
  equal(h.established, 1);
  t.recvNone();
});

Deno.test("SYN-RECEIVED: data on the handshake ACK is delivered", () => {
  const t = new Harness();
  const { conn, h, iss } = accepted(t, { seq: 1000, flags: TCP_SYN });
  t.send({ seq: 1001, ack: iss + 1, flags: TCP_ACK | TCP_PSH, payload: bytes(5) });
  equal(conn.state, "ESTABLISHED");
  equal(h.data.length, 5);
});

Deno.test("SYN-RECEIVED: an unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST>", () => {
  const t = new Harness();
  const { conn, iss } = accepted(t, { seq: 1000, flags: TCP_SYN });
  t.send({ seq: 1001, ack: iss + 50, flags: TCP_ACK });
  t.recvOne({ seq: iss + 50, flags: TCP_RST });
  equal(conn.state, "SYN-RECEIVED");
});

Deno.test("SYN-RECEIVED: a retransmitted SYN repeats the SYN-ACK", () => {
  const t = new Harness();
  const { iss } = accepted(t, { seq: 1000, flags: TCP_SYN });
  t.send({ seq: 1000, flags: TCP_SYN });
  t.recvOne({ seq: iss, ack: 1001, flags: TCP_SYN | TCP_ACK });
});

Deno.test("SYN-RECEIVED: the SYN-ACK is retransmitted with doubling timeouts, then RST", () => {
  const t = new Harness({ synAckRetries: 3 });
  const { conn, h, iss } = accepted(t, { seq: 1000, flags: TCP_SYN });
  t.tick(999);
  t.recvNone();
  t.tick(1); // 1 s
  t.recvOne({ seq: iss, flags: TCP_SYN | TCP_ACK });
  t.tick(1999);
  t.recvNone();
  t.tick(1); // +2 s
  t.recvOne({ seq: iss, flags: TCP_SYN | TCP_ACK });
  t.tick(4000); // +4 s
  t.recvOne({ seq: iss, flags: TCP_SYN | TCP_ACK });
  t.tick(8000); // retries exhausted
  t.recvOne({ flags: TCP_RST });
  equal(conn.state, "CLOSED");
  equal(h.closed, "timeout");
  equal(t.stack.connectionCount, 0);
});

Deno.test("SYN-RECEIVED: an exact RST ends the flow with 'reset'", () => {
  const t = new Harness();
  const { conn, h } = accepted(t, { seq: 1000, flags: TCP_SYN });
  t.send({ seq: 1001, flags: TCP_RST });
  equal(conn.state, "CLOSED");
  equal(h.closed, "reset");
  t.recvNone();
});

Deno.test("SYN-RECEIVED: shutdownWrite() before the ACK sends FIN after the handshake", () => {
  const t = new Harness();
  const { conn, iss } = accepted(t, { seq: 1000, flags: TCP_SYN });
  conn.write(bytes(10));
  conn.shutdownWrite();
  t.recvNone();
  t.send({ seq: 1001, ack: iss + 1, flags: TCP_ACK });
  equal(conn.state, "FIN-WAIT-1");
  const [d, ...rest] = t.recv();
  ok(d);
  equal(d.tcp.payload.length, 10);
  equal(d.tcp.flags, TCP_ACK | TCP_PSH | 1);
  equal(rest.length, 0);
});
