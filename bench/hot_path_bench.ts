/**
 * The packet hot path as production runs it, a fixed number of packets per case, reporting what
 * does not depend on the machine's load:
 *
 * - **bytes allocated per packet** on the V8 heap (the young generation's growth over the run,
 *   with a young generation large enough that no scavenge happens during it), the figure the
 *   "no per-packet allocation" rule is checked against;
 * - packets per second (indicative only on a busy machine);
 * - with `valgrind --tool=callgrind`, the instruction count: run a case with `--n N` and `--n 2N`
 *   and divide the difference by N for instructions per packet (repeatable under load).
 *
 * Cases: the userspace TCP receiving 64 KiB and 1448-byte segments (application consumes in
 * place), sending 64 KiB segments (the peer ACKs every second one), the system stack's NAT
 * rewrite (forward and return), and a UDP datagram. Every packet enters through
 * {@linkcode Dispatcher.input}, the worker's entry point.
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc,--max-semi-space-size=64 bench/hot_path_bench.ts
 * deno run -A bench/hot_path_bench.ts --case tcp-receive-1448 --n 20000 --json
 * ```
 *
 * @module
 */

import v8 from "node:v8";
import { Dispatcher, type UdpDatagram } from "../src/stack/dispatch.ts";
import { NatVerdict, SystemNat } from "../src/stack/nat.ts";
import { createNatMemory, NatTable } from "../src/stack/nat_table.ts";
import type { TcpConnection } from "../src/stack/tcp/connection.ts";
import { TcpStack } from "../src/stack/tcp/stack.ts";
import { get32, set32 } from "../src/wire/ip.ts";
import { TCP_ACK, TCP_PSH, TCP_SYN } from "../src/wire/tcp.ts";
import { tcpPacket, udpPacket } from "../tests/_helpers/packets.ts";

const CLIENT = new Uint8Array([10, 0, 0, 2]);
const SERVER = new Uint8Array([93, 184, 216, 34]);
const TUN_A = new Uint8Array([198, 18, 0, 1]);
const TUN_B = new Uint8Array([198, 18, 0, 2]);

/** One case: `prepare` builds state and returns the per-packet step (called `n` times). */
interface Case {
  name: string;
  prepare(): (i: number) => void;
}

/** A userspace TCP connection after the handshake, every packet through a Dispatcher. */
function established(mtu: number, onEmit: (p: Uint8Array, len: number) => void) {
  let conn: TcpConnection | null = null;
  let synAck: Uint8Array | null = null;
  const stack = new TcpStack({
    mtu,
    computeChecksums: false,
    emit: (p, len) => synAck === null ? (synAck = p.slice(0, len)) : onEmit(p, len),
    onSyn: (f) => {
      conn = f.accept({ onData: (v) => v.length });
    },
  });
  const d = new Dispatcher({ tcp: stack });
  const irs = 1000;
  const base = { srcPort: 40000, dstPort: 443, src: CLIENT, dst: SERVER };
  d.input(
    tcpPacket({
      ...base,
      seq: irs,
      flags: TCP_SYN,
      window: 65535,
      mss: mtu - 40,
      windowScale: 7,
      sackPermitted: true,
      timestamp: { tsVal: 1, tsEcr: 0 },
    }),
    0,
  );
  const iss = get32(synAck!, 24);
  d.input(
    tcpPacket({
      ...base,
      seq: irs + 1,
      ack: iss + 1,
      flags: TCP_ACK,
      window: 65535,
      timestamp: { tsVal: 2, tsEcr: 0 },
    }),
    0,
  );
  return { stack, d, conn: conn! as TcpConnection, irs, iss, base };
}

function tcpReceive(mtu: number, seg: number): Case {
  return {
    name: `tcp-receive-${seg === 1448 ? "1448" : "64k"}`,
    prepare() {
      // The application consumes every segment in place, so the window stays open.
      const s = established(mtu, () => {});
      const tpl = tcpPacket({
        ...s.base,
        seq: 0,
        ack: s.iss + 1,
        flags: TCP_ACK | TCP_PSH,
        window: 65535,
        timestamp: { tsVal: 3, tsEcr: 0 },
        payload: new Uint8Array(seg),
      });
      let seq = s.irs + 1;
      let now = 1;
      return (i) => {
        set32(tpl, 24, seq);
        s.d.input(tpl, now);
        seq = (seq + seg) >>> 0;
        if ((i & 31) === 31) {
          now++;
          s.stack.poll(now);
        }
      };
    },
  };
}

function tcpSend(mtu: number): Case {
  return {
    name: "tcp-send-64k",
    prepare() {
      let highest = 0, sinceAck = 0;
      const acks: number[] = [];
      const s = established(mtu, (p, plen) => {
        const hl = (p[32]! >> 4) * 4;
        const len = plen - 20 - hl;
        if (len > 0) {
          highest = (get32(p, 24) + len) >>> 0;
          if (++sinceAck >= 2) {
            sinceAck = 0;
            acks.push(highest);
          }
        }
      });
      const ack = tcpPacket({
        ...s.base,
        seq: s.irs + 1,
        ack: 0,
        flags: TCP_ACK,
        window: 65535,
        timestamp: { tsVal: 4, tsEcr: 0 },
      });
      const fill = (dst: Uint8Array) => dst.length; // as if read(2) filled it
      let now = 1;
      return (i) => {
        s.conn.writeWith(fill);
        while (acks.length > 0) {
          set32(ack, 28, acks.shift()!);
          s.d.input(ack, now);
        }
        if (sinceAck > 0) {
          set32(ack, 28, highest);
          sinceAck = 0;
          s.d.input(ack, now);
        }
        if ((i & 31) === 31) {
          now++;
          s.stack.poll(now);
        }
      };
    },
  };
}

const natCase: Case = {
  name: "nat-rewrite-1448",
  prepare() {
    const table = new NatTable(createNatMemory(), 0, 1, 300_000);
    const nat = new SystemNat(table, { tunAddr: TUN_A, peerAddr: TUN_B, listenPort: 7777 }, null);
    const d = new Dispatcher({
      tcp: {
        inputSegment(buf, _v, _s, _d, l4Off, l4End, now) {
          // As SystemStack.inputSegment does.
          if (nat.process(buf, l4Off, l4End, 4, now) !== NatVerdict.Forward) {
            throw new Error("dropped");
          }
        },
      },
    });
    const payload = new Uint8Array(1448);
    const syn = tcpPacket({
      src: CLIENT,
      dst: SERVER,
      srcPort: 40000,
      dstPort: 443,
      seq: 1,
      flags: TCP_SYN,
    });
    d.input(syn, 0);
    const port = (syn[20]! << 8) | syn[21]!;
    const fwd = tcpPacket({
      src: CLIENT,
      dst: SERVER,
      srcPort: 40000,
      dstPort: 443,
      seq: 2,
      ack: 1,
      flags: TCP_ACK,
      payload,
    });
    const ret = tcpPacket({
      src: TUN_A,
      dst: TUN_B,
      srcPort: 7777,
      dstPort: port,
      seq: 2,
      ack: 1,
      flags: TCP_ACK,
      payload,
    });
    // Rewriting in place turns a forward packet into a return-path one's mirror image; keep
    // pristine copies and restore the 40 header bytes each time.
    const fwd0 = fwd.slice(0, 40), ret0 = ret.slice(0, 40);
    return (i) => {
      if ((i & 1) === 0) {
        fwd.set(fwd0);
        d.input(fwd, i);
      } else {
        ret.set(ret0);
        d.input(ret, i);
      }
    };
  },
};

const udpCase: Case = {
  name: "udp-datagram-512",
  prepare() {
    let bytes = 0;
    const d = new Dispatcher({
      onUdp: (u: UdpDatagram) => {
        bytes += u.payloadLen + u.srcPort;
      },
    });
    const p = udpPacket({
      src: CLIENT,
      dst: SERVER,
      srcPort: 5353,
      dstPort: 53,
      payload: new Uint8Array(512),
    });
    return () => d.input(p, 0);
  },
};

const CASES: Case[] = [
  tcpReceive(65535, 65483),
  tcpReceive(1500, 1448),
  tcpSend(65535),
  natCase,
  udpCase,
];

function youngUsed(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_used_size ??
    0;
}

interface CaseResult {
  name: string;
  packets: number;
  /** Bytes allocated on the V8 heap per step; null when a scavenge ran during the count. */
  bytesPerPacket: number | null;
  packetsPerSecond: number;
}

/** Runs `c` for `n` steps after `warmup` steps. */
export function runCase(c: Case, n: number, warmup: number): CaseResult {
  const step = c.prepare();
  for (let i = 0; i < warmup; i++) step(i);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = youngUsed();
  const t0 = performance.now();
  for (let i = warmup; i < warmup + n; i++) step(i);
  const ms = performance.now() - t0;
  const after = youngUsed();
  return {
    name: c.name,
    packets: n,
    bytesPerPacket: gc && after >= before ? (after - before) / n : null,
    packetsPerSecond: n / (ms / 1000),
  };
}

if (import.meta.main) {
  const args = Deno.args;
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const n = Number(opt("--n") ?? 20_000);
  const only = opt("--case");
  const warmup = Number(opt("--warmup") ?? 5_000);
  const json = args.includes("--json");
  const picked = CASES.filter((c) => only === undefined || c.name === only);
  if (picked.length === 0) {
    throw new TypeError(`--case: unknown "${only}" (${CASES.map((c) => c.name).join(", ")})`);
  }
  if (!(globalThis as { gc?: unknown }).gc && !json) {
    console.error(
      "allocation counts need --v8-flags=--expose-gc,--max-semi-space-size=64 (shown as ?)",
    );
  }
  for (const c of picked) {
    const r = runCase(c, n, warmup);
    if (json) console.log(JSON.stringify(r));
    else {
      console.log(
        `${r.name.padEnd(20)} ${
          r.bytesPerPacket === null ? "?" : r.bytesPerPacket.toFixed(1)
        } B allocated/packet  ${(r.packetsPerSecond / 1000).toFixed(0)} kpkt/s`,
      );
    }
  }
}
