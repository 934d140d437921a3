import assert from "node:assert/strict";
import fc from "fast-check";
import { checksum, pseudoHeaderSumAt } from "../../src/wire/checksum.ts";
import {
  createNatMemory,
  NAT_PORT_BASE,
  NAT_PORT_COUNT,
  NatTable,
} from "../../src/stack/nat_table.ts";
import { type NatFamily, NatVerdict, SystemNat } from "../../src/stack/nat.ts";

const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04, PSH = 0x08;

interface Seg {
  src: number[];
  dst: number[];
  sport: number;
  dport: number;
  flags: number;
  payload?: Uint8Array;
}

/** Builds an IPv4 or IPv6 TCP segment with valid checksums; returns [packet, l4Off]. */
function segment(s: Seg): [Uint8Array, number] {
  const v6 = s.src.length === 16;
  const ipLen = v6 ? 40 : 20;
  const payload = s.payload ?? new Uint8Array(0);
  const tcpLen = 20 + payload.length;
  const p = new Uint8Array(ipLen + tcpLen);
  const dv = new DataView(p.buffer);
  if (v6) {
    p[0] = 0x60;
    dv.setUint16(4, tcpLen);
    p[6] = 6;
    p[7] = 64;
    p.set(s.src, 8);
    p.set(s.dst, 24);
  } else {
    p[0] = 0x45;
    dv.setUint16(2, p.length);
    p[6] = 0x40;
    p[8] = 64;
    p[9] = 6;
    p.set(s.src, 12);
    p.set(s.dst, 16);
    dv.setUint16(10, checksum(p, 0, 20));
  }
  const t = ipLen;
  dv.setUint16(t, s.sport);
  dv.setUint16(t + 2, s.dport);
  dv.setUint32(t + 4, 1000);
  dv.setUint32(t + 8, (s.flags & ACK) ? 2000 : 0);
  p[t + 12] = 5 << 4;
  p[t + 13] = s.flags;
  dv.setUint16(t + 14, 65535);
  p.set(payload, t + 20);
  const pseudo = pseudoHeaderSumAt(p, v6 ? 8 : 12, v6 ? 24 : 16, v6 ? 16 : 4, 6, tcpLen);
  dv.setUint16(t + 16, checksum(p, t, p.length, pseudo));
  return [p, t];
}

/** Asserts the IPv4 header checksum (if any) and the TCP checksum verify to zero. */
function assertChecksumsValid(p: Uint8Array, l4Off: number): void {
  const v6 = (p[0]! >> 4) === 6;
  if (!v6) assert.equal(checksum(p, 0, 20), 0, "IPv4 header checksum");
  const pseudo = pseudoHeaderSumAt(p, v6 ? 8 : 12, v6 ? 24 : 16, v6 ? 16 : 4, 6, p.length - l4Off);
  assert.equal(checksum(p, l4Off, p.length, pseudo), 0, "TCP checksum");
}

function field(p: Uint8Array, off: number, len: number): number[] {
  return [...p.subarray(off, off + len)];
}

function port(p: Uint8Array, off: number): number {
  return (p[off]! << 8) | p[off + 1]!;
}

const A4 = [198, 18, 0, 1], B4 = [198, 18, 0, 2];
const fam4: NatFamily = {
  tunAddr: new Uint8Array(A4),
  peerAddr: new Uint8Array(B4),
  listenPort: 4444,
};
const A6 = [0xfd, 0, ...new Array(13).fill(0), 1];
const B6 = [0xfd, 0, ...new Array(13).fill(0), 2];
const fam6: NatFamily = {
  tunAddr: new Uint8Array(A6),
  peerAddr: new Uint8Array(B6),
  listenPort: 6666,
};
const S4 = [198, 18, 0, 1], D4 = [203, 0, 113, 10];

function nat(workers = 1, index = 0, memory = createNatMemory(), timeoutMs = 300_000): SystemNat {
  return new SystemNat(new NatTable(memory, index, workers, timeoutMs), fam4, fam6);
}

Deno.test("`SystemNat` rewrites a SYN to B:natport → A:listener with valid checksums", () => {
  const n = nat();
  const [p, l4] = segment({
    src: S4,
    dst: D4,
    sport: 40000,
    dport: 80,
    flags: SYN,
    payload: new Uint8Array([1, 2, 3]),
  });
  assert.equal(n.process(p, l4, p.length, 4, 0), NatVerdict.Forward);
  assert.deepEqual(field(p, 12, 4), B4);
  assert.deepEqual(field(p, 16, 4), A4);
  assert.equal(port(p, l4), NAT_PORT_BASE);
  assert.equal(port(p, l4 + 2), 4444);
  assertChecksumsValid(p, l4);
  assert.deepEqual(n.table.flow(NAT_PORT_BASE), {
    family: 4,
    src: new Uint8Array(S4),
    srcPort: 40000,
    dst: new Uint8Array(D4),
    dstPort: 80,
  });
});

Deno.test("`SystemNat` maps later segments of a flow to the same port and reverses replies", () => {
  const n = nat();
  const [syn, l4] = segment({ src: S4, dst: D4, sport: 40000, dport: 80, flags: SYN });
  n.process(syn, l4, syn.length, 4, 0);
  const [data] = segment({
    src: S4,
    dst: D4,
    sport: 40000,
    dport: 80,
    flags: ACK | PSH,
    payload: new TextEncoder().encode("GET /"),
  });
  assert.equal(n.process(data, l4, data.length, 4, 1), NatVerdict.Forward);
  assert.equal(port(data, l4), NAT_PORT_BASE);
  assertChecksumsValid(data, l4);
  // The kernel listener answers A:4444 → B:natport.
  const [reply] = segment({
    src: A4,
    dst: B4,
    sport: 4444,
    dport: NAT_PORT_BASE,
    flags: SYN | ACK,
    payload: new Uint8Array(100).fill(7),
  });
  assert.equal(n.process(reply, l4, reply.length, 4, 2), NatVerdict.Forward);
  assert.deepEqual(field(reply, 12, 4), D4);
  assert.deepEqual(field(reply, 16, 4), S4);
  assert.equal(port(reply, l4), 80);
  assert.equal(port(reply, l4 + 2), 40000);
  assertChecksumsValid(reply, l4);
});

Deno.test("`SystemNat` drops non-SYN segments of unknown flows and replies to unknown ports", () => {
  const n = nat();
  const [ack, l4] = segment({ src: S4, dst: D4, sport: 40001, dport: 80, flags: ACK });
  assert.equal(n.process(ack, l4, ack.length, 4, 0), NatVerdict.Drop);
  const [reply] = segment({ src: A4, dst: B4, sport: 4444, dport: 12345, flags: ACK });
  assert.equal(n.process(reply, l4, reply.length, 4, 0), NatVerdict.Drop);
  assert.equal(n.dropped, 2);
  assert.equal(n.table.size, 0);
});

Deno.test("`SystemNat` keeps one session for a duplicated SYN and drops its own rewritten SYN read back", () => {
  const n = nat();
  const [syn, l4] = segment({ src: S4, dst: D4, sport: 40000, dport: 80, flags: SYN });
  const twin = syn.slice();
  assert.equal(n.process(syn, l4, syn.length, 4, 0), NatVerdict.Forward);
  // A duplicate as netem makes it (the packet as the application sent it): the same session.
  assert.equal(n.process(twin, l4, twin.length, 4, 0), NatVerdict.Forward);
  assert.equal(port(twin, l4), NAT_PORT_BASE);
  // The rewritten SYN (B:natport → A:4444) read again: a loop, never a second session.
  assert.equal(n.process(syn, l4, syn.length, 4, 1), NatVerdict.Drop);
  assert.equal(n.table.size, 1);
  assert.equal(n.table.flow(NAT_PORT_BASE + 1), null);
});

Deno.test("`SystemNat` lets another worker translate a reply and names the owner's queue for it", () => {
  const memory = createNatMemory();
  const w0 = nat(2, 0, memory);
  const w1 = nat(2, 1, memory);
  const [syn, l4] = segment({ src: S4, dst: D4, sport: 40000, dport: 443, flags: SYN });
  w0.process(syn, l4, syn.length, 4, 0);
  const natPort = port(syn, l4);
  assert.ok(natPort >= w0.table.firstPort && natPort <= w0.table.lastPort);
  const [reply] = segment({ src: A4, dst: B4, sport: 4444, dport: natPort, flags: SYN | ACK });
  assert.equal(w1.process(reply, l4, reply.length, 4, 0), NatVerdict.Forward);
  assert.deepEqual(field(reply, 12, 4), D4);
  assert.equal(port(reply, l4 + 2), 40000);
  // The reply must go out on the owner's queue, so the kernel keeps the flow on worker 0.
  assert.equal(w1.writeTo, 0);
  assert.equal(w1.table.ownerOf(natPort), 0);
  // Worker 1 allocates from its own slice.
  const [syn2] = segment({ src: S4, dst: D4, sport: 40002, dport: 443, flags: SYN });
  w1.process(syn2, l4, syn2.length, 4, 0);
  assert.equal(port(syn2, l4), w1.table.firstPort);
  assert.equal(w1.writeTo, 1);
  assert.equal(w0.table.ownerOf(65535), 1);
  assert.ok(w1.table.firstPort > w0.table.lastPort);
  assert.equal(w1.table.lastPort, 65535);
});

Deno.test("`SystemNat` rewrites IPv6 segments with a valid checksum", () => {
  const n = nat();
  const S6 = [0xfd, 0, ...new Array(13).fill(0), 1];
  const D6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 0x10];
  const [syn, l4] = segment({ src: S6, dst: D6, sport: 50000, dport: 443, flags: SYN });
  assert.equal(n.process(syn, l4, syn.length, 6, 0), NatVerdict.Forward);
  assert.deepEqual(field(syn, 8, 16), B6);
  assert.deepEqual(field(syn, 24, 16), A6);
  assert.equal(port(syn, l4 + 2), 6666);
  assertChecksumsValid(syn, l4);
  const [reply] = segment({
    src: A6,
    dst: B6,
    sport: 6666,
    dport: port(syn, l4),
    flags: SYN | ACK,
  });
  n.process(reply, l4, reply.length, 6, 0);
  assert.deepEqual(field(reply, 8, 16), D6);
  assert.deepEqual(field(reply, 24, 16), S6);
  assertChecksumsValid(reply, l4);
});

Deno.test("`SystemNat` pre-match can reset a SYN before a port is allocated", () => {
  const memory = createNatMemory();
  const n = new SystemNat(new NatTable(memory, 0, 1, 300_000), fam4, null, () => NatVerdict.Reset);
  const [syn, l4] = segment({ src: S4, dst: D4, sport: 40000, dport: 80, flags: SYN });
  assert.equal(n.process(syn, l4, syn.length, 4, 0), NatVerdict.Reset);
  assert.equal(n.table.size, 0);
  const [syn6] = segment({ src: A6, dst: B6, sport: 1, dport: 2, flags: SYN });
  assert.equal(
    n.process(syn6, 40, syn6.length, 6, 0),
    NatVerdict.Drop,
    "no IPv6 family configured",
  );
});

Deno.test("`NatTable` skips ports in use and reports exhaustion of its slice", () => {
  // Many workers make small slices: 55536 / 5000 ≈ 11 ports each.
  const memory = createNatMemory();
  const n = new SystemNat(new NatTable(memory, 3, 5000, 300_000), fam4, null);
  const capacity = n.table.capacity;
  const seen = new Set<number>();
  for (let i = 0; i < capacity; i++) {
    const [syn, l4] = segment({ src: S4, dst: D4, sport: 1000 + i, dport: 80, flags: SYN });
    assert.equal(n.process(syn, l4, syn.length, 4, 0), NatVerdict.Forward);
    seen.add(port(syn, l4));
  }
  assert.equal(seen.size, capacity);
  const [extra, l4] = segment({ src: S4, dst: D4, sport: 999, dport: 80, flags: SYN });
  assert.equal(n.process(extra, l4, extra.length, 4, 0), NatVerdict.Exhausted);
  // Free one by idle expiry, then allocation finds it.
  assert.equal(n.table.expire(400_000), capacity);
  assert.equal(n.process(extra, l4, extra.length, 4, 400_001), NatVerdict.Forward);
});

Deno.test("`NatTable.expire` frees idle, reset and fully closed sessions at the right times", () => {
  const n = nat(1, 0, createNatMemory(), 60_000);
  const open = (sport: number) => {
    const [syn, l4] = segment({ src: S4, dst: D4, sport, dport: 80, flags: SYN });
    n.process(syn, l4, syn.length, 4, 0);
    return port(syn, l4);
  };
  const idle = open(1), reset = open(2), closed = open(3), halfClosed = open(4);
  const [rst, l4] = segment({ src: S4, dst: D4, sport: 2, dport: 80, flags: RST | ACK });
  n.process(rst, l4, rst.length, 4, 0);
  const [finC] = segment({ src: S4, dst: D4, sport: 3, dport: 80, flags: FIN | ACK });
  n.process(finC, l4, finC.length, 4, 0);
  const [finS] = segment({ src: A4, dst: B4, sport: 4444, dport: closed, flags: FIN | ACK });
  n.process(finS, l4, finS.length, 4, 0);
  const [finHalf] = segment({ src: S4, dst: D4, sport: 4, dport: 80, flags: FIN | ACK });
  n.process(finHalf, l4, finHalf.length, 4, 0);

  assert.equal(n.table.expire(1_000), 0);
  assert.equal(n.table.expire(2_000), 1);
  assert.equal(n.table.has(reset), false);
  assert.equal(n.table.expire(10_000), 1);
  assert.equal(n.table.has(closed), false);
  assert.equal(n.table.has(halfClosed), true);
  assert.equal(n.table.expire(60_000), 2);
  assert.equal(n.table.has(idle), false);
  assert.equal(n.table.has(halfClosed), false);
  assert.equal(n.table.size, 0);
});

Deno.test("`NatTable` rejects memory of the wrong size", () => {
  assert.throws(() => new NatTable(new SharedArrayBuffer(16), 0, 1, 1000), RangeError);
  assert.equal(createNatMemory().byteLength % NAT_PORT_COUNT, 0);
});

function sameBytes(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

Deno.test("`SystemNat` keeps checksums valid for any IPv4 flow, flags and payload (property)", () => {
  const byte = fc.integer({ min: 0, max: 255 });
  fc.assert(
    fc.property(
      fc.array(byte, { minLength: 4, maxLength: 4 }),
      fc.array(byte, { minLength: 4, maxLength: 4 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.uint8Array({ maxLength: 300 }),
      (src, dst, sport, dport, payload) => {
        // A SYN that looks like the listener's own reply (A:P → B) is the return path, not a
        // new flow; every other SYN must be forwarded.
        fc.pre(!(sport === fam4.listenPort && sameBytes(src, A4) && sameBytes(dst, B4)));
        const n = nat();
        const [syn, l4] = segment({ src, dst, sport, dport, flags: SYN, payload });
        assert.equal(n.process(syn, l4, syn.length, 4, 0), NatVerdict.Forward);
        assertChecksumsValid(syn, l4);
        const [reply] = segment({
          src: A4,
          dst: B4,
          sport: 4444,
          dport: port(syn, l4),
          flags: ACK,
          payload,
        });
        assert.equal(n.process(reply, l4, reply.length, 4, 0), NatVerdict.Forward);
        assertChecksumsValid(reply, l4);
        assert.deepEqual(field(reply, 12, 4), dst);
        assert.deepEqual(field(reply, 16, 4), src);
        assert.equal(port(reply, l4), dport);
        assert.equal(port(reply, l4 + 2), sport);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("`NatTable.expire` files a busy session again instead of freeing it", () => {
  const n = nat(1, 0, createNatMemory(), 60_000);
  const [syn, l4] = segment({ src: S4, dst: D4, sport: 7, dport: 80, flags: SYN });
  n.process(syn, l4, syn.length, 4, 0);
  const p = port(syn, l4);
  const [data] = segment({ src: S4, dst: D4, sport: 7, dport: 80, flags: ACK });
  n.process(data, l4, data.length, 4, 50_000);
  assert.equal(n.table.expire(61_000), 0, "active 11 s ago");
  assert.equal(n.table.has(p), true);
  assert.equal(n.table.nextExpiry(), 110_000);
  assert.equal(n.table.expire(109_000), 0);
  assert.equal(n.table.expire(110_000), 1);
  assert.equal(n.table.size, 0);
  assert.equal(n.table.nextExpiry(), Infinity);
});

Deno.test("`NatTable.expire` frees a session a non-owner saw close at its next check", () => {
  const memory = createNatMemory();
  const owner = nat(2, 0, memory, 60_000);
  const other = nat(2, 1, memory, 60_000);
  const [syn, l4] = segment({ src: S4, dst: D4, sport: 8, dport: 80, flags: SYN });
  owner.process(syn, l4, syn.length, 4, 0);
  const p = port(syn, l4);
  // Both FINs seen by the other worker (a reply on its queue), RST flags too.
  const [rst] = segment({ src: A4, dst: B4, sport: 4444, dport: p, flags: RST | ACK });
  assert.equal(other.process(rst, l4, rst.length, 4, 1_000), NatVerdict.Forward);
  assert.equal(owner.table.expire(30_000), 0, "the owner has no early check for it");
  assert.equal(owner.table.expire(60_000), 1, "found dead at the idle check");
});

Deno.test("`NatTable.expire` looks only at sessions that are due, never at every session", () => {
  const n = nat(1, 0, createNatMemory(), 60_000);
  for (let sport = 1; sport <= 1000; sport++) {
    const [syn, l4] = segment({ src: S4, dst: D4, sport, dport: 80, flags: SYN });
    n.process(syn, l4, syn.length, 4, 0);
  }
  assert.equal(n.table.size, 1000);
  for (let t = 1_000; t <= 30_000; t += 1_000) assert.equal(n.table.expire(t), 0);
  assert.equal(n.table.expiryVisits, 0, "30 sweeps before anything is due look at nothing");
  // A reset session comes due after its 2 s grace: that one alone is looked at.
  const [rst, l4] = segment({ src: S4, dst: D4, sport: 5, dport: 80, flags: RST | ACK });
  n.process(rst, l4, rst.length, 4, 30_000);
  for (let t = 31_000; t < 60_000; t += 1_000) {
    assert.equal(n.table.expire(t), t === 32_000 ? 1 : 0);
  }
  assert.equal(n.table.expiryVisits, 1);
  assert.equal(n.table.expire(60_000), 999, "the idle timeout of the others");
  assert.equal(n.table.expiryVisits, 1001, "999 idle, and the reset one's stale idle check");
  assert.equal(n.table.size, 0);
});

/** Turns a segment's full TCP checksum into a partial one: the pseudo-header sum, as Linux sends. */
function makePartial(p: Uint8Array, l4Off: number): void {
  const v6 = (p[0]! >> 4) === 6;
  const ps = pseudoHeaderSumAt(p, v6 ? 8 : 12, v6 ? 24 : 16, v6 ? 16 : 4, 6, p.length - l4Off);
  new DataView(p.buffer).setUint16(l4Off + 16, ps);
}

Deno.test("`SystemNat` keeps a partial checksum partial: the new pseudo-header sum, completed valid (property)", () => {
  const byte = fc.integer({ min: 0, max: 255 });
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.array(byte, { minLength: 16, maxLength: 16 }),
      fc.array(byte, { minLength: 16, maxLength: 16 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.uint8Array({ maxLength: 300 }),
      (v6, src16, dst16, sport, dport, payload) => {
        const src = v6 ? src16 : src16.slice(0, 4);
        const dst = v6 ? dst16 : dst16.slice(0, 4);
        const fam = v6 ? fam6 : fam4;
        fc.pre(!(sport === fam.listenPort && sameBytes(src, v6 ? A6 : A4)));
        const n = nat();
        const [syn, l4] = segment({ src, dst, sport, dport, flags: SYN, payload });
        makePartial(syn, l4);
        assert.equal(n.process(syn, l4, syn.length, v6 ? 6 : 4, 0, true), NatVerdict.Forward);
        assertPartialThenValid(syn, l4);
        const [reply] = segment({
          src: v6 ? A6 : A4,
          dst: v6 ? B6 : B4,
          sport: fam.listenPort,
          dport: port(syn, l4),
          flags: ACK,
          payload,
        });
        makePartial(reply, l4);
        assert.equal(n.process(reply, l4, reply.length, v6 ? 6 : 4, 0, true), NatVerdict.Forward);
        assertPartialThenValid(reply, l4);
        assert.deepEqual(field(reply, v6 ? 8 : 12, src.length), dst);
        assert.equal(port(reply, l4 + 2), sport);
      },
    ),
    { numRuns: 300 },
  );
});

/**
 * Asserts the TCP checksum field is the pseudo-header sum of the rewritten packet (0 and 0xffff
 * are the same one's complement number), and that completing it as the kernel does yields a
 * valid checksum.
 */
function assertPartialThenValid(p: Uint8Array, l4Off: number): void {
  const v6 = (p[0]! >> 4) === 6;
  if (!v6) assert.equal(checksum(p, 0, 20), 0, "IPv4 header checksum");
  const ps = pseudoHeaderSumAt(p, v6 ? 8 : 12, v6 ? 24 : 16, v6 ? 16 : 4, 6, p.length - l4Off);
  const got = (p[l4Off + 16]! << 8) | p[l4Off + 17]!;
  assert.equal(got % 0xffff, ps % 0xffff, "partial checksum = new pseudo-header sum");
  const completed = p.slice();
  new DataView(completed.buffer).setUint16(l4Off + 16, checksum(completed, l4Off, p.length, 0));
  assertChecksumsValid(completed, l4Off);
}
