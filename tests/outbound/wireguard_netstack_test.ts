// The WireGuard client stack (src/outbound/wireguard/netstack.ts) against a server-side TcpStack,
// packets handed across by hand: the pure ACKs of a burst leave as one, and what must not wait
// (ACKs with SACK blocks, the flow's other packets) is not held.

import assert from "node:assert/strict";
import { ClientNetstack } from "../../src/outbound/wireguard/netstack.ts";
import { Dispatcher } from "../../src/stack/dispatch.ts";
import { type TcpConnection, TcpStack } from "../../src/stack/tcp/mod.ts";
import { readSome } from "../../src/io/stream.ts";
import { sleep, withReactor } from "./_helpers.ts";

const CLIENT = new Uint8Array([10, 99, 0, 2]);
const SERVER = new Uint8Array([10, 99, 0, 1]);
const MTU = 1420;
/** Payload per segment: the MSS less the timestamps option. */
const MSS = MTU - 40 - 12;

interface Tcp {
  t: number;
  flags: number;
  seq: number;
  ack: number;
  payload: number;
  sack: boolean;
}

/** The TCP fields of an IPv4 packet the client stack sent. */
function tcp(p: Uint8Array): Tcp {
  const t = (p[0]! & 15) * 4;
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const doff = (p[t + 12]! >> 4) * 4;
  let sack = false;
  for (let i = t + 20; i < t + doff;) {
    if (p[i] === 0) break;
    if (p[i] === 1) {
      i++;
      continue;
    }
    if (p[i] === 5) sack = true;
    i += p[i + 1]!;
  }
  return {
    t,
    flags: p[t + 13]!,
    seq: dv.getUint32(t + 4),
    ack: dv.getUint32(t + 8),
    payload: p.length - t - doff,
    sack,
  };
}

Deno.test("ClientNetstack sends one ACK for a burst of segments, holding none past the round", async () => {
  await withReactor(async (r) => {
    const fromClient: Uint8Array[] = [];
    const toClient: Uint8Array[] = [];
    const accepted: TcpConnection[] = [];
    const server = new TcpStack({
      mtu: MTU,
      emit: (p, len) => toClient.push(p.slice(0, len)),
      onSyn: (flow) => {
        const c = flow.accept({ onData: (v) => v.length });
        if (c) accepted.push(c);
      },
    });
    const serverIn = new Dispatcher({ tcp: server });
    const client = new ClientNetstack(r, [CLIENT], MTU, (p) => fromClient.push(p.slice()));
    const pump = async () => {
      for (let i = 0; i < 20; i++) {
        for (const p of fromClient.splice(0)) serverIn.input(p, r.now());
        for (const p of toClient.splice(0)) client.input(p);
        await sleep(r, 2);
      }
    };
    const connecting = client.connect(SERVER, 80, 5000);
    await pump();
    const stream = await connecting;
    assert.equal(accepted.length, 1, "the server accepted");
    const serverConn = accepted[0]!;
    fromClient.length = 0;

    // Eight full segments arrive together (one reactor round).
    const data = new Uint8Array(8 * MSS).map((_, i) => i & 0xff);
    assert.equal(serverConn.write(data), data.length);
    const burst = toClient.splice(0);
    assert.equal(burst.length, 8);
    const lastSeq = tcp(burst[7]!).seq + MSS;
    for (const p of burst) client.input(p);
    assert.equal(fromClient.length, 0, "pure ACKs wait for the end of the round");
    await Promise.resolve();
    const ackPackets = fromClient.splice(0);
    for (const p of ackPackets) serverIn.input(p, r.now());
    const acks = ackPackets.map(tcp);
    assert.deepEqual(
      acks.map((a) => [a.flags, a.payload, a.ack]),
      [[0x10, 0, lastSeq >>> 0]],
      "one ACK, for every byte of the burst",
    );
    assert.equal(client.acksCoalesced, 3);
    const got = new Uint8Array(data.length);
    let n = 0;
    while (n < data.length) n += await readSome(stream, got.subarray(n), "test read");
    assert.deepEqual(got, data);

    // A gap: the ACK with SACK blocks (the sender's loss signal) goes out at once.
    fromClient.length = 0;
    serverConn.write(data.subarray(0, 3 * MSS));
    const [s1, s2, s3] = toClient.splice(0);
    client.input(s1!);
    client.input(s3!);
    const now = fromClient.map(tcp);
    assert.ok(now.some((a) => a.sack), "the out-of-order segment is acknowledged at once");
    client.input(s2!);
    await Promise.resolve();
    const allPackets = fromClient.splice(0);
    for (const p of allPackets) serverIn.input(p, r.now());
    const all = allPackets.map(tcp);
    assert.equal(all.at(-1)!.ack, (tcp(s3!).seq + MSS) >>> 0, "the gap's fill is acknowledged");

    // The flow's own data leaves after the held ACK, within the same round.
    serverConn.write(data.subarray(0, 2 * MSS));
    for (const p of toClient.splice(0)) client.input(p);
    assert.equal(fromClient.length, 0);
    const writing = stream.write(new Uint8Array([1, 2, 3]));
    const order = fromClient.splice(0).map((p) => {
      const a = tcp(p);
      return [a.flags, a.payload, a.ack];
    });
    const ack = (lastSeq + 5 * MSS) >>> 0;
    assert.deepEqual(order, [[0x10, 0, ack], [0x18, 3, ack]]);
    await writing;

    stream.close();
    await pump();
    client.close();
    server.destroy();
  });
});
