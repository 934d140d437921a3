/** SYN-SENT: the active open used by tests and future outbound use. */
import { equal, ok, throws } from "node:assert/strict";
import { TCP_ACK, TCP_RST, TCP_SYN } from "../../../src/wire/tcp.ts";
import { CLIENT4, CPORT, Harness, Recorder, SERVER4, SPORT } from "./_harness.ts";

/** The harness's "client" is the peer here: our stack connects from SERVER4:SPORT to CLIENT4:CPORT. */
function open(t: Harness) {
  const h = new Recorder();
  const conn = t.stack.connect(
    { localAddr: SERVER4, localPort: SPORT, remoteAddr: CLIENT4, remotePort: CPORT },
    h,
  );
  const syn = t.recvOne({ flags: TCP_SYN });
  return { conn, h, iss: syn.seq, syn };
}

Deno.test("SYN-SENT: connect() sends SYN with MSS, window scale, SACK-permitted", () => {
  const t = new Harness({ mtu: 1500 });
  const { conn, syn } = open(t);
  equal(conn.state, "SYN-SENT");
  equal(syn.mss, 1460);
  equal(syn.windowScale, 3);
  ok(syn.sackPermitted);
});

Deno.test("SYN-SENT: a SYN-ACK completes the handshake with an ACK", () => {
  const t = new Harness();
  const { conn, h, iss } = open(t);
  t.send({ seq: 5000, ack: iss + 1, flags: TCP_SYN | TCP_ACK, mss: 1460 });
  equal(conn.state, "ESTABLISHED");
  equal(h.established, 1);
  t.recvOne({ seq: iss + 1, ack: 5001, flags: TCP_ACK });
});

Deno.test("SYN-SENT: a RST with an acceptable ACK means 'refused'", () => {
  const t = new Harness();
  const { conn, h, iss } = open(t);
  t.send({ seq: 0, ack: iss + 1, flags: TCP_RST | TCP_ACK });
  equal(conn.state, "CLOSED");
  equal(h.closed, "refused");
});

Deno.test("SYN-SENT: an unacceptable ACK gets a RST and the SYN stays outstanding", () => {
  const t = new Harness();
  const { conn, iss } = open(t);
  t.send({ seq: 5000, ack: iss + 99, flags: TCP_SYN | TCP_ACK });
  t.recvOne({ seq: iss + 99, flags: TCP_RST });
  equal(conn.state, "SYN-SENT");
});

Deno.test("SYN-SENT: a bare SYN is a simultaneous open (SYN-RECEIVED, SYN-ACK)", () => {
  const t = new Harness();
  const { conn, iss } = open(t);
  t.send({ seq: 5000, flags: TCP_SYN });
  equal(conn.state, "SYN-RECEIVED");
  t.recvOne({ seq: iss, ack: 5001, flags: TCP_SYN | TCP_ACK });
  t.send({ seq: 5001, ack: iss + 1, flags: TCP_ACK });
  equal(conn.state, "ESTABLISHED");
});

Deno.test("SYN-SENT: the SYN is retransmitted, then the attempt times out", () => {
  const t = new Harness({ synAckRetries: 2 });
  const { h, iss } = open(t);
  t.tick(1000);
  t.recvOne({ seq: iss, flags: TCP_SYN });
  t.tick(2000);
  t.recvOne({ seq: iss, flags: TCP_SYN });
  t.tick(4000);
  t.recvNone();
  equal(h.closed, "timeout");
});

Deno.test("connect() refuses a tuple in use", () => {
  const t = new Harness();
  open(t);
  throws(() =>
    t.stack.connect(
      { localAddr: SERVER4, localPort: SPORT, remoteAddr: CLIENT4, remotePort: CPORT },
      new Recorder(),
    ), RangeError);
});
