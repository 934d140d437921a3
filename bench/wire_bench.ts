/**
 * Micro benchmarks of the packet code: checksum throughput (GB/s), view parsing and Repr
 * parse/emit (ops/s), and flow-table lookups (numeric hash vs. string key).
 *
 * `deno bench -A bench/wire_bench.ts` for Deno's table; `deno run -A bench/wire_bench.ts` prints
 * GB/s and ops/s directly.
 *
 * @module
 */

import { checksum, onesSum, pseudoHeaderSum } from "../src/wire/checksum.ts";
import { Ipv4Packet } from "../src/wire/ipv4.ts";
import { TCP_ACK, TcpOptions, TcpPacket } from "../src/wire/tcp.ts";
import { FlowNode, FlowTable } from "../src/stack/flow_table.ts";
import { Ipv4Repr, TcpRepr } from "../tests/_helpers/packets.ts";

const big = new Uint8Array(65536 + 8);
for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;

const src = new Uint8Array([10, 0, 0, 2]), dst = new Uint8Array([93, 184, 216, 34]);
const tcpRepr = new TcpRepr({
  srcPort: 40000,
  dstPort: 443,
  seq: 12345,
  ack: 67890,
  flags: TCP_ACK,
  window: 65535,
  timestamp: { tsVal: 1, tsEcr: 2 },
  sackBlocks: [[100, 200]],
  payload: new Uint8Array(1448),
});
const tcpLen = tcpRepr.bufferLen();
const packet = new Uint8Array(20 + tcpLen);
new Ipv4Repr({ src, dst, protocol: 6, payloadLen: tcpLen }).emit(new Ipv4Packet(packet));
tcpRepr.emit(new TcpPacket(packet, 20), pseudoHeaderSum(src, dst, 6, tcpLen));

const ipView = new Ipv4Packet(packet);
const tcpView = new TcpPacket(packet, 20);
const opts = new TcpOptions();

function strKey(p: Uint8Array, port: number): string {
  return String.fromCharCode(
    (p[12]! << 8) | p[13]!,
    (p[14]! << 8) | p[15]!,
    (p[16]! << 8) | p[17]!,
    (p[18]! << 8) | p[19]!,
    port,
    443,
  );
}

// Flow tables with 10,000 flows: numeric hash + chain vs. string key.
const N = 10000;
const table = new FlowTable<FlowNode>(0x9e3779b9);
const strMap = new Map<string, FlowNode>();
const keyPackets: Uint8Array[] = [];
const arena = new Uint8Array(N * 24); // one buffer, as packets in a read batch
for (let i = 0; i < N; i++) {
  const p = arena.subarray(i * 24, i * 24 + 24);
  p.set([10, 0, i >> 8, i & 0xff], 12);
  p.set([93, 184, 216, 34], 16);
  const n = new FlowNode();
  n.setTupleFrom(p, 4, 12, 16, 40000 + (i % 1000), 443);
  table.insert(n);
  strMap.set(strKey(p, 40000 + (i % 1000)), n);
  keyPackets.push(p);
}
let k = 0;

Deno.bench("checksum 1500 B", { group: "checksum" }, () => {
  onesSum(big, 0, 1500);
});
Deno.bench("checksum 64 KiB", { group: "checksum", baseline: true }, () => {
  onesSum(big, 0, 65536);
});
Deno.bench("checksum 64 KiB, odd offset", { group: "checksum" }, () => {
  onesSum(big, 1, 65537);
});
Deno.bench("IPv4+TCP view check and field reads", { group: "parse" }, () => {
  ipView.reset(packet);
  if (ipView.check() !== null) throw new Error("bad");
  tcpView.reset(packet, 20, ipView.totalLen());
  if (tcpView.check() !== null) throw new Error("bad");
  tcpView.parseOptions(opts);
  if (tcpView.seq() + tcpView.ack() + tcpView.window() + opts.tsVal === -1) throw new Error("x");
});
Deno.bench("TcpRepr.parse", { group: "parse" }, () => {
  TcpRepr.parse(tcpView.reset(packet, 20, packet.length));
});
Deno.bench("TcpRepr.emit with checksum (1448 B payload)", { group: "emit" }, () => {
  tcpRepr.emit(new TcpPacket(packet, 20), pseudoHeaderSum(src, dst, 6, tcpLen));
});
Deno.bench("flow lookup: numeric hash", { group: "flow" }, () => {
  const i = k++ % N;
  table.lookup(keyPackets[i]!, 4, 12, 16, 40000 + (i % 1000), 443);
});
Deno.bench("flow lookup: string key", { group: "flow" }, () => {
  const i = k++ % N;
  strMap.get(strKey(keyPackets[i]!, 40000 + (i % 1000)));
});

function rate(fn: () => void, ms = 400): number {
  // Warm up long enough for the optimizing compiler to finish.
  const w0 = performance.now();
  while (performance.now() - w0 < 200) for (let i = 0; i < 200; i++) fn();
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
    t = performance.now();
  }
  return n / ((t - t0) / 1000);
}

if (import.meta.main) {
  const gb = (size: number, f: () => void) => ((rate(f) * size) / 1e9).toFixed(2);
  console.log(`checksum 1500 B:       ${gb(1500, () => onesSum(big, 0, 1500))} GB/s`);
  console.log(`checksum 64 KiB:       ${gb(65536, () => onesSum(big, 0, 65536))} GB/s`);
  console.log(`checksum 64 KiB odd:   ${gb(65536, () => onesSum(big, 1, 65537))} GB/s`);
  console.log(`checksum() 64 KiB:     ${gb(65536, () => checksum(big, 0, 65536))} GB/s`);
  const ops = (f: () => void) => (rate(f) / 1e6).toFixed(2) + " M/s";
  console.log(`IPv4+TCP view parse:   ${
    ops(() => {
      ipView.reset(packet).check();
      tcpView.reset(packet, 20, packet.length).check();
      tcpView.parseOptions(opts);
    })
  }`);
  console.log(
    `TcpRepr.parse:         ${ops(() => TcpRepr.parse(tcpView.reset(packet, 20, packet.length)))}`,
  );
  console.log(
    `TcpRepr.emit+checksum: ${
      ops(() => tcpRepr.emit(new TcpPacket(packet, 20), pseudoHeaderSum(src, dst, 6, tcpLen)))
    }`,
  );
  console.log(`Ipv4Repr.parse+emit:   ${
    ops(() => {
      const r = Ipv4Repr.parse(ipView.reset(packet));
      if (typeof r !== "string") r.emit(ipView);
    })
  }`);
  for (const flows of [16, N]) {
    let j = 0;
    console.log(`flow lookup (hash, ${flows} flows):   ${
      ops(() => {
        const i = j++ % flows;
        table.lookup(keyPackets[i]!, 4, 12, 16, 40000 + (i % 1000), 443);
      })
    }`);
    console.log(`flow lookup (string, ${flows} flows): ${
      ops(() => {
        const i = j++ % flows;
        const p = keyPackets[i]!;
        strMap.get(strKey(p, 40000 + (i % 1000)));
      })
    }`);
  }
}
