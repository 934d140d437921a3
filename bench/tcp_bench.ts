/**
 * One TCP flow through the userspace stack against an in-memory peer, in both directions:
 *
 * - receive: the peer sends data segments (as the local kernel would write them to the TUN);
 *   the application consumes them straight from the packet (the zero-copy path); the stack ACKs.
 * - send: the application fills the send ring in place (`writeWith`, as `read(2)` into it would);
 *   the stack segments, copies each payload into its packet buffer and emits; the peer ACKs every
 *   second segment.
 *
 * With 64 KiB segments (TUN MTU 65535) and with 1500-byte segments, with and without TCP
 * checksums (virtio-net offload lets the kernel skip them). Prints Gbps and packets/s:
 * `deno run -A bench/tcp_bench.ts` (or `deno bench -A bench/tcp_bench.ts` for Deno's table).
 *
 * @module
 */

import { pseudoHeaderSum } from "../src/wire/checksum.ts";
import { Ipv4Packet } from "../src/wire/ipv4.ts";
import { TCP_ACK, TCP_PSH, TCP_SYN, TcpPacket } from "../src/wire/tcp.ts";
import { TcpStack } from "../src/stack/tcp/stack.ts";
import { Dispatcher } from "../src/stack/dispatch.ts";
import type { TcpConnection } from "../src/stack/tcp/connection.ts";
import { Ipv4Repr, TcpRepr } from "../tests/_helpers/packets.ts";

const CLIENT = new Uint8Array([10, 0, 0, 2]);
const SERVER = new Uint8Array([93, 184, 216, 34]);

function packet(r: TcpRepr, csum: boolean): Uint8Array {
  const tl = r.bufferLen();
  const b = new Uint8Array(20 + tl);
  new Ipv4Repr({ src: CLIENT, dst: SERVER, protocol: 6, payloadLen: tl, dontFrag: true }).emit(
    new Ipv4Packet(b),
  );
  r.emit(new TcpPacket(b, 20), csum ? pseudoHeaderSum(CLIENT, SERVER, 6, tl) : null);
  return b;
}

function setU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

function getU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

interface Setup {
  stack: TcpStack;
  /** The worker's entry point in front of the stack. */
  input: Dispatcher;
  conn: TcpConnection;
  irs: number;
  iss: number;
  out: Uint8Array[];
}

const sink = new Uint8Array(65536);
/** Consumers: take the view as is (zero copy), or copy it out as a socket write(2) would. */
const CONSUMERS = {
  inPlace: (v: Uint8Array) => v.length,
  copy: (v: Uint8Array) => {
    sink.set(v);
    return v.length;
  },
};

/** Handshake with a peer offering window scale 7, SACK and timestamps (as Linux does). */
function setup(
  mtu: number,
  checksums: boolean,
  onEmit: (p: Uint8Array) => void,
  onData: (v: Uint8Array) => number = CONSUMERS.inPlace,
): Setup {
  let conn: TcpConnection | null = null;
  const out: Uint8Array[] = [];
  let capture = true;
  const stack = new TcpStack({
    mtu,
    computeChecksums: checksums,
    recvBufferSize: 1 << 20,
    sendBufferSize: 1 << 20,
    emit: (p, len) => capture ? out.push(p.slice(0, len)) : onEmit(p.subarray(0, len)),
    onSyn: (f) => {
      conn = f.accept({ onData });
    },
  });
  const input = new Dispatcher({ tcp: stack });
  const irs = 1000;
  input.input(
    packet(
      new TcpRepr({
        srcPort: 40000,
        dstPort: 443,
        seq: irs,
        flags: TCP_SYN,
        window: 65535,
        mss: mtu - 40,
        windowScale: 7,
        sackPermitted: true,
        timestamp: { tsVal: 1, tsEcr: 0 },
      }),
      true,
    ),
    0,
  );
  const synAck = TcpRepr.parse(new TcpPacket(out[0]!, 20));
  if (typeof synAck === "string") throw new Error(synAck);
  const iss = synAck.seq;
  input.input(
    packet(
      new TcpRepr({
        srcPort: 40000,
        dstPort: 443,
        seq: irs + 1,
        ack: iss + 1,
        flags: TCP_ACK,
        window: 65535,
        timestamp: { tsVal: 2, tsEcr: synAck.timestamp!.tsVal },
      }),
      true,
    ),
    0,
  );
  capture = false;
  return { stack, input, conn: conn!, irs, iss, out };
}

interface Result {
  gbps: number;
  pps: number;
}

/** The peer sends `seg`-byte segments; the application consumes them in place. */
export function receive(
  mtu: number,
  seg: number,
  checksums: boolean,
  ms = 1000,
  copy = false,
  maxBytes = Infinity,
): Result {
  let acked = 0, wnd = 0;
  const s = setup(mtu, checksums, (p) => {
    acked = getU32(p, 28);
    wnd = ((p[34]! << 8) | p[35]!) << 3;
  }, copy ? CONSUMERS.copy : CONSUMERS.inPlace);
  const tpl = packet(
    new TcpRepr({
      srcPort: 40000,
      dstPort: 443,
      seq: 0,
      ack: s.iss + 1,
      flags: TCP_ACK | TCP_PSH,
      window: 65535,
      timestamp: { tsVal: 3, tsEcr: 0 },
      payload: new Uint8Array(seg),
    }),
    false, // the kernel's checksum is trusted, never verified
  );
  let seq = s.irs + 1;
  acked = seq;
  wnd = 1 << 20;
  let bytes = 0, pkts = 0, now = 1;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms && bytes < maxBytes) {
    for (let i = 0; i < 64; i++) {
      if (((seq + seg - acked) | 0) > wnd) break; // respect the advertised window
      setU32(tpl, 24, seq);
      s.input.input(tpl, now);
      seq = (seq + seg) >>> 0;
      bytes += seg;
      pkts++;
    }
    now += 1;
    s.stack.poll(now); // delayed ACKs
    t = performance.now();
  }
  const secs = (t - t0) / 1000;
  return { gbps: (bytes * 8) / secs / 1e9, pps: pkts / secs };
}

/** The application fills the send ring; the peer ACKs every second segment. */
export function send(mtu: number, checksums: boolean, ms = 1000, maxBytes = Infinity): Result {
  let highest = 0, pkts = 0, bytes = 0, sinceAck = 0;
  const acks: number[] = [];
  const s = setup(mtu, checksums, (p) => {
    const hl = (p[32]! >> 4) * 4;
    const len = p.length - 20 - hl;
    if (len > 0) {
      highest = (getU32(p, 24) + len) >>> 0;
      pkts++;
      bytes += len;
      if (++sinceAck >= 2) {
        sinceAck = 0;
        acks.push(highest);
      }
    }
  });
  const ack = packet(
    new TcpRepr({
      srcPort: 40000,
      dstPort: 443,
      seq: s.irs + 1,
      ack: 0,
      flags: TCP_ACK,
      window: 65535,
      timestamp: { tsVal: 4, tsEcr: 0 },
    }),
    false,
  );
  const fill = (dst: Uint8Array) => dst.length; // as if read(2) filled it
  let now = 1;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms && bytes < maxBytes) {
    for (let i = 0; i < 16; i++) {
      s.conn.writeWith(fill);
      while (acks.length > 0) {
        setU32(ack, 28, acks.shift()!);
        s.input.input(ack, now);
      }
      if (sinceAck > 0 && acks.length === 0) {
        // Flush the peer's pending ACK when the sender stalls.
        setU32(ack, 28, highest);
        sinceAck = 0;
        s.input.input(ack, now);
      }
    }
    now += 1;
    s.stack.poll(now);
    t = performance.now();
  }
  const secs = (t - t0) / 1000;
  return { gbps: (bytes * 8) / secs / 1e9, pps: pkts / secs };
}

const MIB64 = 64 * 1024 * 1024;
for (const [mtu, seg] of [[65535, 65483], [1500, 1448]] as const) {
  for (const cs of [true, false]) {
    const label = `MTU ${mtu}, checksums ${cs ? "on" : "off"}, 64 MiB`;
    Deno.bench(`receive ${label}`, { group: "receive" }, () => {
      receive(mtu, seg, cs, Infinity, false, MIB64);
    });
    Deno.bench(`send ${label}`, { group: "send" }, () => {
      send(mtu, cs, Infinity, MIB64);
    });
  }
}

if (import.meta.main) {
  const fmt = (r: Result) =>
    `${r.gbps.toFixed(2).padStart(6)} Gbps ${(r.pps / 1000).toFixed(0).padStart(6)} kpkt/s`;
  for (const [mtu, seg] of [[65535, 65483], [1500, 1448]] as const) {
    for (const cs of [true, false]) {
      receive(mtu, seg, cs, 300); // warm up
      send(mtu, cs, 300);
      const label = `MTU ${String(mtu).padStart(5)} (${seg} B segments), checksums ${
        cs ? "on " : "off"
      }`;
      console.log(
        `${label}: receive ${fmt(receive(mtu, seg, cs))} | receive+copy ${
          fmt(receive(mtu, seg, cs, 1000, true))
        } | send ${fmt(send(mtu, cs))}`,
      );
    }
  }
}
