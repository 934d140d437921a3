/**
 * Fuzz: random and mutated packets (TCP with options, UDP, ICMP echo, IPv4/IPv6 fragments, IPv6
 * extension headers) through the dispatcher and the TCP stack, with applications that accept,
 * reject, read, refuse to read, write and close at random. Checks that no exception escapes, that
 * every emitted packet is well formed, and that state stays bounded (connections, pending SYNs,
 * buffered bytes, fragment memory).
 *
 * TUNBOX_FUZZ_ITERATIONS sets the number of packets (default 1,000,000); TUNBOX_FUZZ_SEED the seed.
 */
import { equal, ok } from "node:assert/strict";
import { Dispatcher } from "../../src/stack/dispatch.ts";
import { TcpStack } from "../../src/stack/tcp/stack.ts";
import type { TcpConnection } from "../../src/stack/tcp/connection.ts";
import { checksum, pseudoHeaderSumAt } from "../../src/wire/checksum.ts";
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TcpPacket } from "../../src/wire/tcp.ts";
import { echo, fragment4, fragment6, ip, tcp, udp } from "../stack/_packets.ts";
import { TcpRepr, type TcpReprInit } from "../_helpers/packets.ts";

const ITERATIONS = Number(Deno.env.get("TUNBOX_FUZZ_ITERATIONS") ?? 1_000_000);
const SEED = Number(Deno.env.get("TUNBOX_FUZZ_SEED") ?? 0x5eed);

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
  return {
    u32: next,
    int: (n: number) => next() % n,
    chance: (p: number) => next() / 0x100000000 < p,
  };
}

const LIMITS = {
  maxPendingSyns: 64,
  maxConnections: 200,
  recvBufferSize: 8192,
  sendBufferSize: 8192,
  maxOooRanges: 8,
};
const REASSEMBLY = { maxBytes: 256 * 1024, maxDatagrams: 32, timeoutMs: 30_000 };

const CLIENTS4 = [new Uint8Array([10, 0, 0, 2]), new Uint8Array([10, 0, 0, 3])];
const SERVER4 = new Uint8Array([93, 184, 216, 34]);
const CLIENT6 = new Uint8Array([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
const SERVER6 = new Uint8Array([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

Deno.test(`fuzz: ${ITERATIONS} random and mutated packets through dispatch and TCP`, () => {
  const r = rng(SEED);
  let now = 0;
  let emitted = 0;
  let conns: TcpConnection[] = [];
  const checkOut = (p: Uint8Array) => {
    emitted++;
    const v = p[0]! >> 4;
    ok(v === 4 || v === 6, "emitted packet version");
    if (v === 4) {
      equal(checksum(p, 0, 20), 0, "IPv4 header checksum");
      equal((p[2]! << 8) | p[3]!, p.length, "IPv4 total length");
      if (p[9] === 6) {
        equal(checksum(p, 20, p.length, pseudoHeaderSumAt(p, 12, 16, 4, 6, p.length - 20)), 0);
      }
    } else {
      equal(40 + ((p[4]! << 8) | p[5]!), p.length, "IPv6 payload length");
      if (p[6] === 6) {
        equal(checksum(p, 40, p.length, pseudoHeaderSumAt(p, 8, 24, 16, 6, p.length - 40)), 0);
      }
    }
    ok(p.length <= 65535);
  };
  const stack = new TcpStack({
    ...LIMITS,
    emit: (p, len) => checkOut(p.subarray(0, len)),
    random32: r.u32,
    onSyn: (f) => {
      const k = r.int(10);
      if (k < 6) {
        let c: TcpConnection | null = null;
        c = f.accept({
          onData: (v) => {
            const m = r.int(4);
            if (m === 0) return 0;
            if (m === 1) return r.int(v.length + 1);
            if (m === 2 && r.chance(0.05) && c) c.write(new Uint8Array(r.int(3000)));
            if (r.chance(0.01) && c) c.close();
            if (r.chance(0.005) && c) c.abort();
            return v.length;
          },
        });
        if (c) conns.push(c);
      } else if (k < 8) f.reject();
      else if (k < 9) f.drop();
      // else: left pending (expires)
    },
  });
  const d = new Dispatcher({ tcp: stack, emit: checkOut, onUdp: () => {}, reassembly: REASSEMBLY });

  // Seed corpus builders.
  const payload = () => {
    const n = r.chance(0.7) ? r.int(200) : r.int(3000);
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) b[i] = r.u32();
    return b;
  };
  const flagsList = [
    TCP_SYN,
    TCP_ACK,
    TCP_ACK | TCP_PSH,
    TCP_FIN | TCP_ACK,
    TCP_RST,
    TCP_RST | TCP_ACK,
    TCP_SYN | TCP_ACK,
    0,
    0xff,
  ];
  const tcpSeed = (): Uint8Array => {
    const v6 = r.chance(0.3);
    const conn = conns.length > 0 && r.chance(0.6) ? conns[r.int(conns.length)]! : null;
    const init: Partial<TcpReprInit> & { flags: number } = {
      srcPort: 40000 + r.int(12),
      dstPort: r.chance(0.5) ? 443 : 80,
      seq: r.u32(),
      ack: r.u32(),
      flags: flagsList[r.int(flagsList.length)]!,
      window: r.chance(0.1) ? 0 : r.int(65536),
    };
    let src: Uint8Array = v6 ? CLIENT6 : CLIENTS4[r.int(2)]!;
    let dst: Uint8Array = v6 ? SERVER6 : SERVER4;
    if (conn) {
      // Aim at a live connection with plausible sequence numbers.
      const c = conn as unknown as Record<string, number>;
      src = conn.remoteAddr;
      dst = conn.localAddr;
      init.srcPort = conn.remotePort;
      init.dstPort = conn.localPort;
      init.seq = (c.rcvNxt! + (r.chance(0.7) ? 0 : r.int(20000) - 10000)) >>> 0;
      init.ack = (c.sndUna! + (r.chance(0.7) ? r.int(3000) : r.int(200000) - 100000)) >>> 0;
    }
    if (r.chance(0.5)) init.payload = payload();
    if (r.chance(0.3)) init.mss = r.int(65536);
    if (r.chance(0.3)) init.windowScale = r.int(16);
    if (r.chance(0.3)) init.sackPermitted = true;
    if (r.chance(0.3)) init.timestamp = { tsVal: r.u32(), tsEcr: r.u32() };
    if (r.chance(0.2)) {
      const base = conn ? (conn as unknown as Record<string, number>).sndUna! : r.u32();
      init.sackBlocks = [[(base + r.int(5000)) >>> 0, (base + r.int(10000)) >>> 0]];
    }
    const rep = new TcpRepr({ srcPort: 1, dstPort: 2, seq: 0, ...init });
    if (rep.headerLen() > 60) rep.timestamp = null;
    const l4 = new Uint8Array(rep.bufferLen());
    const al = src.length;
    const tmp = new Uint8Array(2 * al);
    tmp.set(src);
    tmp.set(dst, al);
    rep.emit(new TcpPacket(l4), pseudoHeaderSumAt(tmp, 0, al, al, 6, l4.length));
    return ip(src.length === 16 ? 6 : 4, 6, l4, src, dst);
  };
  const seeds: Array<() => Uint8Array> = [
    tcpSeed,
    tcpSeed,
    tcpSeed,
    () => udp(r.chance(0.3) ? 6 : 4, payload(), r.int(65536), r.int(65536)),
    () => echo(r.chance(0.5) ? 6 : 4, payload()),
    () => ip(r.chance(0.5) ? 4 : 6, r.int(256), payload()),
    () => tcp(4, { flags: TCP_SYN, srcPort: 1000 + r.int(5000), seq: r.u32() }),
  ];
  let fragQueue: Uint8Array[] = [];
  const fragSeed = (): Uint8Array => {
    while (fragQueue.length === 0) {
      const v6 = r.chance(0.5);
      const whole = r.chance(0.5) ? udp(v6 ? 6 : 4, payload()) : tcpSeed();
      const size = 8 * (1 + r.int(100));
      fragQueue = whole[0]! >> 4 === 6 ? fragment6(whole, size, r.u32()) : fragment4(whole, size);
      // Shuffle, duplicate or lose some.
      fragQueue.sort(() => r.int(3) - 1);
      if (r.chance(0.3)) fragQueue.pop();
      if (r.chance(0.3) && fragQueue.length) fragQueue.push(fragQueue[0]!);
    }
    return fragQueue.pop()!;
  };

  const mutate = (p: Uint8Array): Uint8Array => {
    const n = r.int(4);
    for (let m = 0; m < n; m++) {
      switch (r.int(7)) {
        case 0: // bit flip
          if (p.length) p[r.int(p.length)]! ^= 1 << r.int(8);
          break;
        case 1: // interesting byte in the headers
          if (p.length) {
            p[r.int(Math.min(p.length, 80))] = [0, 1, 0x7f, 0x80, 0xff, 5, 15][r.int(7)]!;
          }
          break;
        case 2: // truncate
          p = p.subarray(0, r.int(p.length + 1));
          break;
        case 3: { // extend with junk
          const q = new Uint8Array(p.length + r.int(64));
          q.set(p);
          for (let i = p.length; i < q.length; i++) q[i] = r.u32();
          p = q;
          break;
        }
        case 4: // random 16-bit field
          if (p.length > 2) {
            const i = r.int(Math.min(p.length - 1, 70));
            p[i] = r.u32();
            p[i + 1] = r.u32();
          }
          break;
        case 5: // corrupt a length field
          if (p.length > 6) {
            const i = (p[0]! >> 4) === 6 ? 4 : 2;
            p[i] = r.int(256);
            p[i + 1] = r.int(256);
          }
          break;
        default: // random bytes
          for (let k = 0; k < 4 && p.length; k++) p[r.int(p.length)] = r.u32();
      }
    }
    return p;
  };

  let maxBuffered = 0;
  const started = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    let p: Uint8Array;
    const kind = r.int(100);
    if (kind < 8) {
      p = new Uint8Array(r.int(120));
      for (let k = 0; k < p.length; k++) p[k] = r.u32();
      if (p.length && r.chance(0.7)) p[0] = r.chance(0.5) ? 0x45 : 0x60;
    } else if (kind < 20) {
      p = fragSeed();
      if (r.chance(0.3)) p = mutate(p.slice());
    } else {
      p = seeds[r.int(seeds.length)]!();
      if (r.chance(0.6)) p = mutate(p);
    }
    d.input(p, now);
    if ((i & 63) === 0) {
      now += r.int(r.chance(0.05) ? 60_000 : 300);
      stack.poll(now);
      d.poll(now);
    }
    if ((i & 1023) === 0) {
      conns = conns.filter((c) => c.state !== "CLOSED");
      for (const c of conns) {
        if (r.chance(0.2)) c.pull();
        if (r.chance(0.1)) c.write(new Uint8Array(r.int(5000)));
        if (r.chance(0.02)) c.shutdownWrite();
      }
      // Per-connection invariants.
      for (const c of stack.connections()) {
        const x = c as unknown as {
          sndUna: number;
          sndNxt: number;
          sndMax: number;
          cc: { cwnd: number };
          sendBuf: { len: number; capacity: number };
          recvBuf: { len: number; capacity: number; ooo: { highestEnd(): number } };
        };
        ok(
          ((x.sndNxt - x.sndUna) | 0) >= 0 && ((x.sndMax - x.sndNxt) | 0) >= 0,
          "SND.UNA <= SND.NXT <= SND.MAX",
        );
        ok(
          x.sendBuf.len >= 0 && x.sendBuf.len <= x.sendBuf.capacity,
          "send buffer within capacity",
        );
        ok(
          x.recvBuf.len >= 0 && x.recvBuf.len + x.recvBuf.ooo.highestEnd() <= x.recvBuf.capacity,
          "receive buffer within capacity",
        );
        ok(c.state === "SYN-RECEIVED" || x.cc.cwnd > 0, "cwnd positive");
      }
      // Bounds.
      ok(stack.connectionCount <= LIMITS.maxConnections, "connections bounded");
      ok(stack.pendingCount <= LIMITS.maxPendingSyns, "pending SYNs bounded");
      const buffered = stack.bufferedBytes();
      maxBuffered = Math.max(maxBuffered, buffered);
      ok(
        buffered <= stack.connectionCount * (LIMITS.recvBufferSize + LIMITS.sendBufferSize),
        "buffered bytes bounded",
      );
      ok(d.reassembly.bytesHeld <= REASSEMBLY.maxBytes, "fragment memory bounded");
      ok(d.reassembly.count <= REASSEMBLY.maxDatagrams, "fragment count bounded");
      equal(d.stats.errors, 0, `exception in dispatch: ${d.lastError}`);
    }
  }
  // Let every timer run out: all state must drain.
  for (let k = 0; k < 50; k++) {
    now += 60_000;
    stack.poll(now);
    d.poll(now);
  }
  for (const c of conns) c.abort();
  equal(d.stats.errors, 0, `exception in dispatch: ${d.lastError}`);
  equal(stack.connectionCount, 0);
  equal(stack.pendingCount, 0);
  equal(d.reassembly.bytesHeld, 0);
  const secs = (performance.now() - started) / 1000;
  console.log(
    `fuzz: ${ITERATIONS} packets in ${secs.toFixed(1)} s; ${emitted} emitted; ` +
      `${stack.stats.connectionsOpened} connections; max buffered ${maxBuffered} B; ` +
      `dispatch ${JSON.stringify(d.stats)}; reassembly ${JSON.stringify(d.reassembly.stats)}`,
  );
});
