// Segmentation offload on the userspace stack's output: new data leaves as super segments of up
// to 64 KiB standing for MSS-sized segments, with partial (pseudo-header) checksums, as a Linux
// TUN with TUN_F_TSO4/TSO6 takes them; retransmissions stay one segment each.

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { pseudoHeaderSumAt } from "../../../src/wire/checksum.ts";
import { TCP_ACK as A, TCP_PSH } from "../../../src/wire/tcp.ts";
import { TcpStack } from "../../../src/stack/tcp/stack.ts";
import { bytes, Harness } from "./_harness.ts";

const OFFLOAD = {
  mtu: 1500,
  computeChecksums: false,
  pseudoHeaderChecksums: true,
  segmentationOffload: true,
};

for (const version of [4, 6] as const) {
  Deno.test(`segmentation offload: write() leaves as one super segment per cwnd, IPv${version}`, () => {
    const t = new Harness(OFFLOAD, version);
    const { conn, iss, irs } = t.establish({ mss: 1400, windowScale: 7, window: 65535 });
    equal(conn.write(bytes(100_000)), 100_000);
    // The initial window is 10 segments (RFC 6928): one packet of 14,000 bytes cut by 1,400.
    const first = t.recvOffloaded();
    deepEqual(first.map((e) => [e.out.tcp.seq - iss, e.out.tcp.payload.length, e.segmentSize]), [
      [1, 14_000, 1400],
    ]);
    deepEqual([...first[0]!.out.tcp.payload], [...bytes(14_000)]);
    // One ACK of it opens cwnd by 2 MSS (RFC 5681 §3.1 with byte counting, RFC 3465 L = 2*SMSS):
    // the next super segment is 16,800 bytes, the whole window.
    t.send({ seq: irs + 1, ack: iss + 1 + 14_000, flags: A, window: 65535 });
    const second = t.recvOffloaded();
    deepEqual(second.map((e) => [e.out.tcp.seq - iss, e.out.tcp.payload.length, e.segmentSize]), [
      [14_001, 16_800, 1400],
    ]);
    deepEqual([...second[0]!.out.tcp.payload], [...bytes(16_800, 14_000)]);
  });
}

Deno.test("segmentation offload: the checksum field is the pseudo-header sum of the packet", () => {
  const t = new Harness(OFFLOAD);
  const raw: Uint8Array[] = [];
  const stack = new TcpStack({
    ...OFFLOAD,
    emit: (p, len) => void raw.push(p.slice(0, len)),
    onSyn: (f) =>
      void f.accept({
        onData: (v) => v.length,
        onEstablished() {},
        onWritable() {},
        onFin() {},
        onClose() {},
      }),
    timestamps: false,
  });
  const syn = t.packet({ seq: 1000, flags: 0x02, mss: 1400, window: 65535 });
  stack.inputSegment(syn, 4, 12, 16, 20, syn.length, 0);
  equal(raw.length, 1);
  const synAck = raw[0]!;
  const tcpLen = synAck.length - 20;
  const field = (synAck[36]! << 8) | synAck[37]!;
  equal(field, pseudoHeaderSumAt(synAck, 12, 16, 4, 6, tcpLen));
});

Deno.test("segmentation offload: a segment of at most the MSS goes with segment size 0", () => {
  const t = new Harness(OFFLOAD);
  const { conn, iss } = t.establish({ mss: 1400, windowScale: 7 });
  conn.write(bytes(1400));
  const got = t.recvOffloaded();
  deepEqual(
    got.map((e) => [e.out.tcp.seq - iss, e.out.tcp.payload.length, e.out.tcp.flags, e.segmentSize]),
    [
      [1, 1400, A | TCP_PSH, 0],
    ],
  );
});

Deno.test("segmentation offload: a super segment never exceeds a 65,535-byte IP packet", () => {
  const t = new Harness({ ...OFFLOAD, mtu: 9000, sendBufferSize: 1 << 20 }, 6);
  const { conn, iss, irs } = t.establish({ mss: 8940, windowScale: 7 });
  conn.write(bytes(400_000));
  let acked = 0;
  const sizes: number[] = [];
  for (let round = 0; round < 4; round++) {
    for (const e of t.recvOffloaded()) {
      const len = e.out.tcp.payload.length;
      sizes.push(len);
      ok(40 + 20 + len <= 65535, `IPv6 packet of ${40 + 20 + len} bytes`);
      if (len > 8940) equal(e.segmentSize, 8940);
      acked += len;
    }
    t.send({ seq: irs + 1, ack: iss + 1 + acked, flags: A, window: 65535 });
  }
  // Seven 8,940-byte segments fill a packet (62,580 bytes); an eighth would not fit.
  ok(sizes.includes(62_580), `sizes ${sizes}`);
});

Deno.test("`TcpStack` refuses segmentation offload with full checksums", () => {
  throws(
    () =>
      new TcpStack({
        emit() {},
        onSyn() {},
        segmentationOffload: true,
      }),
    /TCP segmentation offload needs partial checksums/,
  );
});
