import assert from "node:assert/strict";
import { Reactor } from "../../src/io/reactor.ts";
import { UdpSocket, WOULD_BLOCK } from "../../src/io/socket.ts";
import { DatagramBatch } from "../../src/io/datagram_batch.ts";
import { SysError } from "../../ffi/errno.ts";

const LOOPBACK = new Uint8Array([127, 0, 0, 1]);
const LOOPBACK6 = new Uint8Array(16).map((_, i) => (i === 15 ? 1 : 0));

function datagram(n: number, seed: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 31 + seed) & 0xff);
}

/** Loopback sockets on a reactor that is never run: the test calls the sockets itself. */
function sockets(family: 4 | 6, count: number): { r: Reactor; s: UdpSocket[] } {
  const r = new Reactor();
  const addr = family === 4 ? LOOPBACK : LOOPBACK6;
  const s = Array.from({ length: count }, () => UdpSocket.open(r, family, {}, { addr, port: 0 }));
  return { r, s };
}

/** Waits until `sock` has something to read (loopback delivery is immediate, but be fair). */
async function receiveAll(sock: UdpSocket, batch: DatagramBatch, calls: number[] = []) {
  const got: { bytes: Uint8Array; port: number; addr: Uint8Array }[] = [];
  for (let tries = 0; tries < 100; tries++) {
    const n = sock.recvBatch(batch);
    if (n === WOULD_BLOCK) {
      if (got.length > 0) break;
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    assert.ok(n > 0 && n <= batch.capacity, `${n} datagrams`);
    calls.push(n);
    for (let i = 0; i < n; i++) {
      const from = batch.peer(i)!;
      got.push({ bytes: batch.payload(i).slice(), port: from.port, addr: from.addr });
    }
  }
  return got;
}

for (const family of [4, 6] as const) {
  Deno.test(`\`sendBatch()\`/\`recvBatch()\` carry several datagrams per call to several peers (IPv${family})`, async () => {
    const { r, s: [a, b, c] } = sockets(family, 3);
    try {
      const out = new DatagramBatch(8, 2048);
      const sizes = [1, 100, 1420, 0, 2048];
      for (const [i, n] of sizes.entries()) assert.ok(out.add(datagram(n, i), b!.localAddr()));
      assert.ok(out.add(datagram(7, 50), c!.localAddr()));
      assert.ok(out.add(datagram(9, 51), c!.localAddr()));
      assert.equal(out.add(datagram(2049, 0), c!.localAddr()), false, "larger than a slot");
      assert.equal(a!.sendBatch(out), 7);

      // A batch smaller than what waits: several calls, in order.
      const calls: number[] = [];
      const got = await receiveAll(b!, new DatagramBatch(2, 4096), calls);
      assert.deepEqual(calls, [2, 2, 1], "datagrams per receive call");
      assert.deepEqual(got.map((g) => g.bytes), sizes.map((n, i) => datagram(n, i)));
      for (const g of got) {
        assert.equal(g.port, a!.localAddr().port);
        assert.deepEqual(g.addr, family === 4 ? LOOPBACK : LOOPBACK6);
      }
      const toC = await receiveAll(c!, new DatagramBatch(16, 64));
      assert.deepEqual(toC.map((g) => g.bytes), [datagram(7, 50), datagram(9, 51)]);
      assert.equal(b!.recvBatch(new DatagramBatch(4, 64)), WOULD_BLOCK);
    } finally {
      for (const s of [a, b, c]) s!.close();
      r.close();
    }
  });
}

Deno.test("`recvBatch()` passes nothing of a datagram larger than its slot, and the next one whole", async () => {
  const { r, s: [a, b] } = sockets(4, 2);
  try {
    assert.equal(a!.sendTo(datagram(20, 1), b!.localAddr()), 20);
    assert.equal(a!.sendTo(datagram(8, 2), b!.localAddr()), 8);
    const got = await receiveAll(b!, new DatagramBatch(4, 8));
    assert.deepEqual(got.map((g) => g.bytes), [new Uint8Array(0), datagram(8, 2)]);
  } finally {
    a!.close();
    b!.close();
    r.close();
  }
});

Deno.test("`sendBatch()` stops at a datagram the kernel refuses; sending from it names it", async () => {
  const { r, s: [a, b] } = sockets(4, 2);
  try {
    const out = new DatagramBatch(4, 64);
    out.add(datagram(5, 1), b!.localAddr());
    out.add(datagram(5, 2), { addr: LOOPBACK, port: 0 }); // port 0: EINVAL
    out.add(datagram(5, 3), b!.localAddr());
    assert.equal(a!.sendBatch(out), 1);
    assert.throws(() => a!.sendBatch(out, 1), (e: unknown) => {
      assert.ok(e instanceof SysError);
      assert.match(e.message, /^send datagram to 127\.0\.0\.1:0/);
      return true;
    });
    assert.equal(a!.sendBatch(out, 2), 1);
    const got = await receiveAll(b!, new DatagramBatch(4, 64));
    assert.deepEqual(got.map((g) => g.bytes), [datagram(5, 1), datagram(5, 3)]);
  } finally {
    a!.close();
    b!.close();
    r.close();
  }
});

Deno.test("`DatagramBatch` refuses sizes out of range and holds at most its capacity", () => {
  assert.throws(() => new DatagramBatch(0, 100), RangeError);
  assert.throws(() => new DatagramBatch(4, 65537), RangeError);
  const b = new DatagramBatch(2, 16);
  const to = { addr: LOOPBACK, port: 9 };
  assert.ok(b.add(new Uint8Array(16), to));
  assert.ok(b.add(new Uint8Array(3), to));
  assert.equal(b.add(new Uint8Array(1), to), false);
  assert.equal(b.count, 2);
  assert.deepEqual(b.destination(1), { addr: LOOPBACK, port: 9 });
  b.clear();
  assert.equal(b.count, 0);
});

Deno.test("`DatagramBatch.peer()` returns one object per sender while it repeats, a new one when it changes", async () => {
  const { r, s: [a, b, c] } = sockets(4, 3);
  try {
    for (const [from, seed] of [[a, 1], [a, 2], [b, 3], [a, 4]] as const) {
      from!.sendTo(datagram(4, seed), c!.localAddr());
    }
    const batch = new DatagramBatch(8, 64);
    for (let i = 0; i < 100 && batch.count < 4; i++) {
      if (c!.recvBatch(batch) === WOULD_BLOCK) await new Promise((res) => setTimeout(res, 5));
    }
    assert.equal(batch.count, 4);
    const peers = [0, 1, 2, 3].map((i) => batch.peer(i)!);
    assert.equal(peers[0], peers[1]);
    assert.notEqual(peers[1], peers[2]);
    assert.deepEqual(peers.map((p) => p.port), [
      a!.localAddr().port,
      a!.localAddr().port,
      b!.localAddr().port,
      a!.localAddr().port,
    ]);
  } finally {
    for (const s of [a, b, c]) s!.close();
    r.close();
  }
});
