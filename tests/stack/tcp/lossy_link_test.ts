/**
 * Two stacks (one active open, one passive) exchanging data in both directions through a
 * simulated link that loses, reorders and duplicates packets, as smoltcp's netsim test does.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import type { CloseReason, TcpConnection } from "../../../src/stack/tcp/connection.ts";
import { TcpStack } from "../../../src/stack/tcp/stack.ts";
import { Dispatcher } from "../../../src/stack/dispatch.ts";
import type { TcpTunables } from "../../../src/stack/tcp/config.ts";

/** xorshift32 for reproducible randomness. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

interface LinkParams {
  loss: number;
  reorder: number;
  duplicate: number;
  delayMs: number;
  /** Extra delay range for reordered packets. */
  jitterMs: number;
}

class Link {
  private q: Array<{ at: number; to: 0 | 1; p: Uint8Array; n: number }> = [];
  private n = 0;
  delivered = 0;
  lost = 0;
  constructor(private readonly prm: LinkParams, private readonly rand: () => number) {}
  send(now: number, to: 0 | 1, p: Uint8Array): void {
    if (this.rand() < this.prm.loss) {
      this.lost++;
      return;
    }
    const copies = this.rand() < this.prm.duplicate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      let at = now + this.prm.delayMs;
      if (this.rand() < this.prm.reorder) at += this.rand() * this.prm.jitterMs;
      this.q.push({ at, to, p: p.slice(), n: this.n++ });
    }
    this.q.sort((a, b) => a.at - b.at || a.n - b.n);
  }
  nextAt(): number {
    return this.q.length ? this.q[0]!.at : Infinity;
  }
  popDue(now: number): Array<{ to: 0 | 1; p: Uint8Array }> {
    let i = 0;
    while (i < this.q.length && this.q[i]!.at <= now) i++;
    this.delivered += i;
    return this.q.splice(0, i);
  }
}

/** An application endpoint: sends `toSend`, collects what arrives, closes when done. */
class App {
  received: Uint8Array;
  got = 0;
  sent = 0;
  fin = false;
  closed: CloseReason | null = null;
  conn: TcpConnection | null = null;
  /** When set, data is only partly consumed, exercising the receive buffer and pull(). */
  stingy = false;
  private rand: () => number;

  constructor(readonly toSend: Uint8Array, expect: number, seed: number) {
    this.received = new Uint8Array(expect);
    this.rand = rng(seed);
  }

  handler() {
    return {
      onData: (v: Uint8Array) => {
        let k = v.length;
        if (this.stingy && this.rand() < 0.3) k = Math.floor(v.length * this.rand());
        ok(this.got + k <= this.received.length, "more data than sent");
        this.received.set(v.subarray(0, k), this.got);
        this.got += k;
        return k;
      },
      onEstablished: () => this.pump(),
      onWritable: () => this.pump(),
      onFin: () => {
        this.fin = true;
      },
      onClose: (r: CloseReason) => {
        this.closed = r;
      },
    };
  }

  pump(): void {
    const c = this.conn;
    if (!c) return;
    while (this.sent < this.toSend.length) {
      const n = c.writeWith((dst) => {
        const k = Math.min(
          dst.length,
          this.toSend.length - this.sent,
          1 + Math.floor(this.rand() * 40000),
        );
        dst.set(this.toSend.subarray(this.sent, this.sent + k));
        return k;
      });
      if (n === 0) return;
      this.sent += n;
    }
    c.shutdownWrite();
  }

  /** Drains buffered data now and then (the relay's socket became writable again). */
  tick(): void {
    if (this.conn && this.conn.readableBytes > 0 && this.rand() < 0.5) this.conn.pull();
  }
}

export function run(
  label: string,
  seed: number,
  link: LinkParams,
  sizes: [number, number],
  tun: Partial<TcpTunables>,
  stingy = false,
  v6 = false,
): void {
  const rand = rng(seed);
  const net = new Link(link, rand);
  let now = 0;
  const dataA = new Uint8Array(sizes[0]).map((_, i) => (i * 7 + (i >> 11)) & 0xff);
  const dataB = new Uint8Array(sizes[1]).map((_, i) => (i * 13 + (i >> 9) + 1) & 0xff);
  const appA = new App(dataA, sizes[1], seed + 1);
  const appB = new App(dataB, sizes[0], seed + 2);
  appA.stingy = appB.stingy = stingy;
  let r = seed;
  const random32 = () => (r = (Math.imul(r, 1664525) + 1013904223) >>> 0);
  const a: TcpStack = new TcpStack({
    ...tun,
    random32,
    emit: (p, len) => net.send(now, 1, p.subarray(0, len)),
    onSyn: () => {
      throw new Error("A got a SYN");
    },
  });
  const b: TcpStack = new TcpStack({
    ...tun,
    random32,
    emit: (p, len) => net.send(now, 0, p.subarray(0, len)),
    onSyn: (f) => {
      appB.conn = f.accept(appB.handler(), now);
    },
  });
  // Each end reads packets through a dispatcher, as a worker reads its TUN queue.
  const inA = new Dispatcher({ tcp: a });
  const inB = new Dispatcher({ tcp: b });
  const addrA = v6 ? new Uint8Array(16).fill(0xa) : new Uint8Array([10, 0, 0, 1]);
  const addrB = v6 ? new Uint8Array(16).fill(0xb) : new Uint8Array([10, 0, 0, 2]);
  appA.conn = a.connect(
    { localAddr: addrA, localPort: 40000, remoteAddr: addrB, remotePort: 443 },
    appA.handler(),
    now,
  );
  const limit = 600_000;
  let lastLog = -1e9;
  const dbg = (c: TcpConnection | null) => {
    if (!c) return "-";
    return `${c.state} sent=${c.bytesSent} rcvd=${c.bytesReceived} rtx=${c.retransmits} readable=${c.readableBytes} buffered=${c.bufferedBytes()}`;
  };
  while (now < limit) {
    if (Deno.env.get("SIMDEBUG") && now - lastLog > 1000) {
      lastLog = now;
      console.log(now.toFixed(1), "A:", dbg(appA.conn), "| B:", dbg(appB.conn));
    }
    if (appA.closed && appB.closed && a.connectionCount === 0 && b.connectionCount === 0) break;
    const next = Math.min(net.nextAt(), a.poll(now), b.poll(now));
    if (next === Infinity) {
      // Nothing scheduled: the readers drain what they left buffered, then it is over.
      const left = (appA.conn?.readableBytes ?? 0) + (appB.conn?.readableBytes ?? 0);
      if (left === 0) break;
      appA.conn?.pull();
      appB.conn?.pull();
      continue;
    }
    now = Math.max(now, next);
    for (const { to, p } of net.popDue(now)) (to === 0 ? inA : inB).input(p, now);
    a.poll(now);
    b.poll(now);
    appA.tick();
    appB.tick();
    appA.pump();
    appB.pump();
  }
  const msg =
    `${label}: t=${now} A{sent ${appA.sent} got ${appA.got} ${appA.closed} ${appA.conn?.state}} B{sent ${appB.sent} got ${appB.got} ${appB.closed} ${appB.conn?.state}}`;
  equal(appB.got, dataA.length, msg);
  equal(appA.got, dataB.length, msg);
  ok(appA.fin && appB.fin, msg);
  deepEqual(appB.received, dataA, msg);
  deepEqual(appA.received, dataB, msg);
  equal(appA.closed, "closed", msg);
  equal(appB.closed, "closed", msg);
  equal(a.connectionCount + b.connectionCount, 0, msg);
}

export const LOSSY: LinkParams = {
  loss: 0.05,
  reorder: 0.25,
  duplicate: 0.01,
  delayMs: 1,
  jitterMs: 4,
};
const CLEAN: LinkParams = { loss: 0, reorder: 0, duplicate: 0, delayMs: 1, jitterMs: 0 };

Deno.test("two stacks exchange 1 MB each way over a clean link", () => {
  run("clean", 7, CLEAN, [1 << 20, 1 << 20], { mtu: 1500 });
});

Deno.test("two stacks exchange 3 MB through 5% loss, 25% reorder, 1% duplication (SACK, TS)", () => {
  run("lossy", 11, LOSSY, [3 << 20, 1 << 20], { mtu: 1500 });
});

Deno.test("the lossy transfer also completes without SACK and timestamps (NewReno)", () => {
  run("newreno", 13, LOSSY, [2 << 20, 512 << 10], { mtu: 1500, sack: false, timestamps: false });
});

Deno.test("the lossy transfer completes with small buffers and a stingy reader (IPv6)", () => {
  run(
    "stingy",
    17,
    LOSSY,
    [1 << 20, 1 << 20],
    {
      mtu: 1500,
      recvBufferSize: 16384,
      sendBufferSize: 8192,
    },
    true,
    true,
  );
});

Deno.test("the lossy transfer completes with 64 KiB segments (MTU 65535)", () => {
  run("jumbo", 19, LOSSY, [4 << 20, 1 << 20], { mtu: 65535 });
});

Deno.test("lossy transfers complete for 24 more seeds across all configurations", () => {
  for (let seed = 100; seed < 124; seed++) {
    const k = seed % 4;
    const small: [number, number] = [256 << 10, 128 << 10];
    if (k === 0) run("sweep-sack", seed, LOSSY, small, { mtu: 1500 });
    if (k === 1) run("sweep-newreno", seed, LOSSY, small, { mtu: 1500, sack: false });
    if (k === 2) {
      run(
        "sweep-stingy",
        seed,
        LOSSY,
        small,
        {
          mtu: 1500,
          recvBufferSize: 4096,
          sendBufferSize: 4096,
        },
        true,
        seed % 8 === 2,
      );
    }
    if (k === 3) run("sweep-jumbo", seed, { ...LOSSY, loss: 0.1 }, [1 << 20, 64 << 10], {});
  }
});
