/** RangeSet, RecvBuffer (out-of-order reassembly), SendBuffer, RttEstimator, NewReno, TimerHeap. */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { RangeSet } from "../../../src/stack/range_set.ts";
import { RecvBuffer } from "../../../src/stack/tcp/recv_buffer.ts";
import { SendBuffer } from "../../../src/stack/tcp/send_buffer.ts";
import { BufferPool } from "../../../src/stack/tcp/buffer_pool.ts";
import { RttEstimator } from "../../../src/stack/tcp/rtt.ts";
import { NewReno } from "../../../src/stack/tcp/congestion.ts";
import { type TimerEntry, TimerHeap } from "../../../src/stack/tcp/timers.ts";
import { SackReceiver, SackScoreboard } from "../../../src/stack/tcp/sack.ts";

function ranges(r: RangeSet): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < r.count; i++) out.push([r.startAt(i), r.endAt(i)]);
  return out;
}

Deno.test("`RangeSet.add()` merges overlapping and adjacent ranges", () => {
  const r = new RangeSet(8);
  r.add(10, 20);
  r.add(30, 40);
  r.add(20, 25);
  deepEqual(ranges(r), [[10, 25], [30, 40]]);
  r.add(5, 35);
  deepEqual(ranges(r), [[5, 40]]);
  r.add(50, 60);
  r.add(0, 1);
  deepEqual(ranges(r), [[0, 1], [5, 40], [50, 60]]);
  equal(r.totalLen(), 46);
  equal(r.lenAbove(38), 12);
});

Deno.test("`RangeSet.add()` refuses a range beyond capacity and changes nothing", () => {
  const r = new RangeSet(2);
  ok(r.add(0, 1));
  ok(r.add(5, 6));
  ok(!r.add(10, 11));
  deepEqual(ranges(r), [[0, 1], [5, 6]]);
  ok(r.add(1, 5)); // merging needs no new slot
  deepEqual(ranges(r), [[0, 6]]);
});

Deno.test("`RangeSet.shift()` drops and clips ranges below the new origin", () => {
  const r = new RangeSet(4);
  r.add(0, 5);
  r.add(8, 12);
  r.add(20, 30);
  r.shift(10);
  deepEqual(ranges(r), [[0, 2], [10, 20]]);
});

Deno.test("`RangeSet.gapFrom()` finds holes below a limit", () => {
  const r = new RangeSet(4);
  r.add(10, 20);
  r.add(30, 40);
  const g = { start: 0, end: 0 };
  ok(r.gapFrom(0, 40, g));
  deepEqual(g, { start: 0, end: 10 });
  ok(r.gapFrom(15, 40, g));
  deepEqual(g, { start: 20, end: 30 });
  ok(!r.gapFrom(30, 40, g));
});

/** Feeds segments of `data` into a receive buffer the way the connection does. */
function reassemble(data: Uint8Array, segs: Array<[number, number]>, cap: number): Uint8Array {
  const rb = new RecvBuffer(cap, 64);
  const out: number[] = [];
  let rcvNxt = 0;
  for (const [s, e] of segs) {
    // Trim to [rcvNxt, rcvNxt + free) as the state machine does.
    const start = Math.max(s, rcvNxt);
    const end = Math.min(e, rcvNxt + rb.free);
    if (end <= start) continue;
    if (start > rcvNxt) {
      rb.insert(start - rcvNxt, data, start, end - start);
      continue;
    }
    rcvNxt += (end - start) + rb.append(data, start, end - start);
    // The application reads everything.
    while (rb.len > 0) {
      const v = rb.readable();
      out.push(...v);
      rb.consume(v.length);
    }
  }
  return new Uint8Array(out);
}

Deno.test("reassembly of any permutation, duplication and overlap yields the bytes (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3000 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 700 })), { maxLength: 40 }),
      fc.integer({ min: 0, max: 1 << 30 }),
      (len, extra, seed) => {
        const data = new Uint8Array(len).map((_, i) => (i * 31 + seed) & 0xff);
        // Cover every byte with contiguous chunks, then add random overlapping ones.
        const segs: Array<[number, number]> = [];
        for (let s = 0; s < len;) {
          const n = 1 + ((s * 7 + seed) % 500);
          segs.push([s, Math.min(len, s + n)]);
          s += n;
        }
        for (const [a, n] of extra) {
          const s = a % len;
          segs.push([s, Math.min(len, s + n)]);
        }
        // Shuffle deterministically, with duplicates.
        let x = seed | 1;
        const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
        for (let i = segs.length - 1; i > 0; i--) {
          const j = Math.floor(rnd() * (i + 1));
          [segs[i], segs[j]] = [segs[j]!, segs[i]!];
        }
        if (segs.length > 0 && rnd() < 0.5) segs.push(segs[0]!);
        // Capacity >= len, so every byte fits while holes are pending.
        const got = reassemble(data, segs, 4096);
        deepEqual(got, data);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("`RecvBuffer` wraps around the ring", () => {
  const rb = new RecvBuffer(1024, 4);
  const a = new Uint8Array(900).fill(1);
  rb.append(a, 0, 900);
  rb.consume(900);
  const b = new Uint8Array(500).map((_, i) => i & 0xff);
  rb.append(b, 0, 500);
  const first = rb.readable();
  equal(first.length, 124);
  rb.consume(124);
  const second = rb.readable();
  equal(second.length, 376);
  deepEqual([...first, ...second], [...b]);
});

Deno.test("`RecvBuffer.acceptAfterDirect()` keeps out-of-order data aligned", () => {
  const rb = new RecvBuffer(1024, 4);
  const data = new Uint8Array(300).map((_, i) => i);
  ok(rb.insert(200, data, 200, 100)); // bytes 200..300 early
  // 0..200 arrive; the application consumed 150 straight from the packet.
  const merged = rb.acceptAfterDirect(150, data, 150, 50);
  equal(merged, 100);
  equal(rb.len, 150);
  deepEqual([...rb.readable()], [...data.subarray(150, 300)]);
});

Deno.test("`RecvBuffer` refuses out-of-order data beyond its space or range limit", () => {
  const rb = new RecvBuffer(1024, 2);
  const d = new Uint8Array(2000);
  ok(!rb.insert(1000, d, 0, 100));
  ok(rb.insert(10, d, 0, 1));
  ok(rb.insert(20, d, 0, 1));
  ok(!rb.insert(30, d, 0, 1));
  throws(() => new RecvBuffer(1000, 1), RangeError);
});

Deno.test("`RecvBuffer` allocates its ring only when data must be kept", () => {
  const rb = new RecvBuffer(1024, 4);
  equal(rb.ringBytes, 0);
  rb.acceptAfterDirect(500, new Uint8Array(0), 0, 0);
  equal(rb.ringBytes, 0);
  rb.append(new Uint8Array(10), 0, 10);
  ok(rb.ringBytes > 0);
  rb.consume(10);
  rb.releaseIfEmpty();
  equal(rb.ringBytes, 0);
});

Deno.test("`SendBuffer` writes, acknowledges and copies out across the wrap", () => {
  const sb = new SendBuffer(1024);
  equal(sb.write(new Uint8Array(1000).fill(7)), 1000);
  sb.ack(900);
  equal(sb.free, 924);
  const data = new Uint8Array(600).map((_, i) => i & 0xff);
  equal(sb.write(data), 600);
  const out = new Uint8Array(600);
  sb.copyOut(100, out, 0, 600);
  deepEqual(out, data);
  equal(sb.write(new Uint8Array(1000)), 324);
  equal(sb.free, 0);
  equal(sb.writable().length, 0);
});

Deno.test("`SendBuffer.writable()` exposes contiguous free space for in-place fills", () => {
  const sb = new SendBuffer(1024);
  const r = sb.writable();
  equal(r.length, 1024);
  r.fill(3, 0, 10);
  sb.commit(10);
  const o = new Uint8Array(10);
  sb.copyOut(0, o, 0, 10);
  deepEqual([...o], new Array(10).fill(3));
  sb.ack(10);
  equal(sb.len, 0);
  equal(sb.writable().length, 1024);
});

Deno.test("`RttEstimator` follows RFC 6298: first sample, smoothing, bounds, backoff", () => {
  const r = new RttEstimator(1000, 200, 60000);
  equal(r.rto(), 1000);
  r.sample(100); // SRTT 100, RTTVAR 50 -> RTO 300
  equal(r.srtt, 100);
  equal(r.rttvar, 50);
  equal(r.rto(), 300);
  r.sample(300); // RTTVAR = .75*50 + .25*200 = 87.5, SRTT = 125
  equal(r.rttvar, 87.5);
  equal(r.srtt, 125);
  equal(r.rto(), 475);
  r.backoff();
  equal(r.rto(), 950);
  r.sample(1); // a sample clears the backoff
  equal(r.backoffs, 0);
  equal(r.rto(), r.srtt + 4 * r.rttvar);
  const floor = new RttEstimator(1000, 200, 60000);
  floor.sample(1);
  equal(floor.rto(), 200); // RFC 6298 §2.4 lower bound
  const cap = new RttEstimator(1000, 200, 3000);
  for (let i = 0; i < 10; i++) cap.backoff();
  equal(cap.rto(), 3000);
});

Deno.test("`NewReno` grows in slow start and congestion avoidance, halves on loss", () => {
  const c = new NewReno();
  c.init(1000);
  equal(c.cwnd, 10000);
  c.onAck(1000);
  equal(c.cwnd, 11000);
  c.onEnterRecovery(12000, false);
  equal(c.ssthresh, 6000);
  equal(c.cwnd, 9000);
  c.onDupAckInRecovery();
  equal(c.cwnd, 10000);
  c.onPartialAck(3000);
  equal(c.cwnd, 8000);
  c.onExitRecovery(4000);
  equal(c.cwnd, 5000);
  // Congestion avoidance: one MSS per cwnd of data acknowledged.
  c.cwnd = 6000;
  c.onAck(3000);
  equal(c.cwnd, 6000);
  c.onAck(3000);
  equal(c.cwnd, 7000);
  c.onRetransmitTimeout(7000);
  equal(c.cwnd, 1000);
  equal(c.ssthresh, 3500);
});

Deno.test("`TimerHeap` orders by deadline and supports moving and removing entries", () => {
  const h = new TimerHeap<TimerEntry & { name: string }>();
  const mk = (name: string) => ({ name, heapIndex: -1, heapKey: 0 });
  const a = mk("a"), b = mk("b"), c = mk("c"), d = mk("d");
  h.set(a, 50);
  h.set(b, 10);
  h.set(c, 30);
  h.set(d, 40);
  equal(h.peekKey(), 10);
  h.set(b, 60);
  h.remove(c);
  deepEqual([h.pop()!.name, h.pop()!.name, h.pop()!.name], ["d", "a", "b"]);
  equal(h.peekKey(), Infinity);
  equal(a.heapIndex, -1);
});

Deno.test("`TimerHeap` stays a heap under random operations (property)", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(20), fc.nat(1000), fc.boolean())), (ops) => {
      const h = new TimerHeap<TimerEntry>();
      const items = Array.from({ length: 21 }, () => ({ heapIndex: -1, heapKey: 0 }));
      const model = new Map<number, number>();
      for (const [i, k, rm] of ops) {
        if (rm) {
          h.remove(items[i]!);
          model.delete(i);
        } else {
          h.set(items[i]!, k);
          model.set(i, k);
        }
      }
      const popped: number[] = [];
      while (h.size) popped.push(h.pop()!.heapKey);
      deepEqual(popped, [...model.values()].sort((x, y) => x - y));
    }),
    { numRuns: 200 },
  );
});

Deno.test("`SackReceiver.fill()` puts the most recent block first, then the rest", () => {
  const s = new SackReceiver();
  const ooo = new RangeSet(8);
  ooo.add(100, 200);
  ooo.add(300, 400);
  ooo.add(500, 600);
  s.noteReceived(1000 + 300);
  s.noteReceived(1000 + 500);
  const out = new Uint32Array(8);
  equal(s.fill(1000, ooo, out, 3), 3);
  deepEqual([...out.subarray(0, 6)], [1500, 1600, 1300, 1400, 1100, 1200]);
});

Deno.test("`SackScoreboard` records blocks above SND.UNA and ignores D-SACKs", () => {
  const sb = new SackScoreboard(8);
  const blocks = new Uint32Array([50, 100, 200, 300, 900, 1000]);
  sb.update(blocks, 3, 100, 1000); // [50,100) is below SND.UNA
  equal(sb.sackedBytes(), 200);
  equal(sb.highestSacked(), 900);
  ok(sb.isSacked(100));
  sb.onAck(150);
  equal(sb.sackedBytes(), 150);
});

Deno.test("`BufferPool` recycles rings up to its free-list bound", () => {
  const p = new BufferPool(2);
  const a = p.alloc(1024), b = p.alloc(1024), c = p.alloc(1024);
  equal(p.inUse, 3);
  p.free(a);
  p.free(b);
  p.free(c); // beyond maxFree: dropped
  equal(p.freeBytes(), 2048);
  const d = p.alloc(1024);
  ok(d === b || d === a);
  equal(p.alloc(4096).length, 4096);
});

Deno.test("send and receive rings go back to the pool when idle", () => {
  const pool = new BufferPool();
  const sb = new SendBuffer(1024, pool);
  sb.write(new Uint8Array(10));
  equal(pool.inUse, 1);
  sb.ack(10);
  sb.releaseIfEmpty();
  equal(pool.inUse, 0);
  const rb = new RecvBuffer(1024, 4, pool);
  rb.append(new Uint8Array(5), 0, 5);
  equal(pool.inUse, 1);
  rb.reset();
  equal(pool.inUse, 0);
  equal(pool.freeBytes(), 1024);
});

Deno.test("`RecvBuffer` starts its ring at 4 KiB and doubles it only as data is kept", () => {
  const pool = new BufferPool();
  const rb = new RecvBuffer(256 * 1024, 4, pool);
  equal(rb.free, 256 * 1024); // the window follows the capacity, not the ring
  const d = new Uint8Array(70000).map((_, i) => i & 0xff);
  rb.append(d, 0, 100);
  equal(rb.ringBytes, 4096);
  rb.append(d, 100, 4000);
  equal(rb.ringBytes, 8192);
  // Out of order, 60,000 bytes past RCV.NXT: the ring grows to hold up to its end.
  ok(rb.insert(60000, d, 64100, 1000));
  equal(rb.ringBytes, 65536);
  equal(pool.inUse, 1);
  equal(pool.freeBytes(), 4096 + 8192);
  equal(rb.free, 256 * 1024 - 4100);
  // The in-order bytes survived both moves, and the gap fills in place.
  rb.append(d, 4100, 60000);
  equal(rb.len, 65100);
  const got: number[] = [];
  while (rb.len > 0) {
    const v = rb.readable();
    got.push(...v);
    rb.consume(v.length);
  }
  deepEqual(got, [...d.subarray(0, 65100)]);
  rb.releaseIfEmpty();
  equal(rb.ringBytes, 0);
  rb.append(d, 0, 10);
  equal(rb.ringBytes, 4096); // back to the smallest size after release
});

Deno.test("`RecvBuffer` grows a wrapped ring keeping the byte order", () => {
  const rb = new RecvBuffer(1 << 16, 4);
  const d = new Uint8Array(9000).map((_, i) => (i * 7) & 0xff);
  rb.append(d, 0, 4000);
  rb.consume(3000); // head at 3000 of 4096
  rb.append(d, 4000, 2000); // wraps: 3000 bytes held
  equal(rb.ringBytes, 4096);
  rb.append(d, 6000, 3000); // 6000 held: grows to 8192
  equal(rb.ringBytes, 8192);
  equal(rb.readable().length, 6000);
  deepEqual([...rb.readable()], [...d.subarray(3000, 9000)]);
});

Deno.test("`RecvBuffer` never grows its ring past the capacity", () => {
  const rb = new RecvBuffer(2048, 4);
  rb.append(new Uint8Array(2048), 0, 2048);
  equal(rb.ringBytes, 2048);
  equal(rb.free, 0);
});

Deno.test("`SendBuffer` starts its ring at 4 KiB, doubles when full and frees it when acked", () => {
  const pool = new BufferPool();
  const sb = new SendBuffer(256 * 1024, pool);
  equal(sb.free, 256 * 1024);
  const d = new Uint8Array(20000).map((_, i) => (i * 3) & 0xff);
  equal(sb.write(d.subarray(0, 3000)), 3000);
  equal(sb.ringBytes, 4096);
  sb.ack(2000);
  equal(sb.write(d.subarray(3000, 5000)), 2000); // wraps inside 4 KiB
  equal(sb.ringBytes, 4096);
  equal(sb.writable().length, 1096);
  equal(sb.write(d.subarray(5000, 20000)), 15000); // 18,000 held: 32 KiB
  equal(sb.ringBytes, 32768);
  equal(sb.free, 256 * 1024 - 18000);
  const out = new Uint8Array(18000);
  sb.copyOut(0, out, 0, 18000);
  deepEqual(out, d.subarray(2000, 20000));
  equal(pool.inUse, 1);
  sb.ack(18000);
  sb.releaseIfEmpty();
  equal(sb.ringBytes, 0);
  equal(pool.inUse, 0);
  // 18,000 bytes were held: the next ring is offered at 32 KiB straight away.
  equal(sb.writable().length, 32768);
  sb.commit(100);
  sb.ack(100);
  sb.releaseIfEmpty();
  // Only 100 bytes held that time: back to 4 KiB.
  equal(sb.writable().length, 4096);
  equal(sb.ringBytes, 4096);
});

Deno.test("`SendBuffer` grows its offer only when the application fills all of it", () => {
  const sb = new SendBuffer(1 << 20);
  equal(sb.writable().length, 4096);
  sb.commit(1000); // less than offered: no growth
  sb.ack(1000);
  equal(sb.writable().length, 4096);
  sb.commit(4096); // all of it, though acknowledged before the next write
  sb.ack(4096);
  equal(sb.writable().length, 8192);
  sb.commit(8192);
  sb.ack(8192);
  equal(sb.writable().length, 16384);
  equal(sb.ringBytes, 16384);
});

Deno.test("`SendBuffer.writable()` grows a full ring for the next in-place fill", () => {
  const sb = new SendBuffer(16384);
  const r = sb.writable();
  equal(r.length, 4096);
  sb.commit(4096);
  const r2 = sb.writable();
  equal(sb.ringBytes, 8192);
  equal(r2.length, 4096);
  sb.commit(4096);
  equal(sb.writable().length, 8192);
  sb.commit(8192);
  equal(sb.free, 0);
  equal(sb.writable().length, 0);
  equal(sb.ringBytes, 16384);
});

Deno.test("`BufferPool` keeps at most `maxFreeBytes` in its free lists", () => {
  const p = new BufferPool(64, 10000);
  const a = p.alloc(4096), b = p.alloc(4096), c = p.alloc(8192);
  p.free(a);
  p.free(b);
  p.free(c); // 8192 more would exceed 10,000: dropped
  equal(p.freeBytes(), 8192);
  p.alloc(4096);
  equal(p.freeBytes(), 4096);
  equal(p.inUse, 1);
});
