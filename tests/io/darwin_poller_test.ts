/**
 * The macOS reactor backend's `poll(2)` set, run on Linux with glibc's `poll` (same `struct
 * pollfd` layout and POLL* bits), so its bookkeeping is tested without a Mac.
 */
import assert from "node:assert/strict";
import { Poller } from "../../src/io/sys_darwin.ts";
import { EV_READ, EV_WRITE } from "../../src/io/sys_linux.ts";

const libc = Deno.dlopen("libc.so.6", {
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  poll_async: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
});
const poll = (fds: Uint8Array, n: number, t: number) => libc.symbols.poll(fds, BigInt(n), t);
const pollAsync = (fds: Uint8Array, n: number, t: number) =>
  libc.symbols.poll_async(fds, BigInt(n), t);

function pair(): [number, number] {
  const sv = new Int32Array(2);
  assert.equal(libc.symbols.socketpair(1, 1 | 0x800, 0, new Uint8Array(sv.buffer)), 0);
  return [sv[0]!, sv[1]!];
}

function ready(p: Poller, timeout = 0): Map<number, number> {
  const n = p.wait(timeout);
  const out = new Map<number, number>();
  for (let i = 0; i < n; i++) out.set(p.readyFds[i]!, p.readyEvents[i]!);
  return out;
}

Deno.test("darwin `Poller` reports readiness per fd and follows interest changes", () => {
  const p = new Poller(16, poll);
  const [a, b] = pair();
  const [c, d] = pair();
  try {
    p.add(b, EV_READ);
    p.add(d, EV_READ);
    assert.deepEqual(ready(p), new Map());
    libc.symbols.write(a, new Uint8Array([1]), 1n);
    assert.deepEqual(ready(p), new Map([[b, EV_READ]]));
    p.modify(d, EV_READ | EV_WRITE);
    assert.deepEqual(ready(p), new Map([[b, EV_READ], [d, EV_WRITE]]));
    assert.throws(() => p.add(b, EV_READ), /EEXIST/);
  } finally {
    for (const fd of [a, b, c, d]) libc.symbols.close(fd);
  }
});

Deno.test("darwin `Poller` keeps the right fds after removing from the middle", () => {
  const p = new Poller(64, poll);
  const pairs = Array.from({ length: 40 }, pair);
  try {
    for (const [, r] of pairs) p.add(r, EV_READ);
    for (let i = 0; i < pairs.length; i += 3) p.remove(pairs[i]![1]);
    p.remove(12345); // unknown: ignored
    for (const [w] of pairs) libc.symbols.write(w, new Uint8Array([1]), 1n);
    const expected = pairs.filter((_, i) => i % 3 !== 0).map(([, r]) => r).sort((x, y) => x - y);
    assert.deepEqual([...ready(p).keys()].sort((x, y) => x - y), expected);
    // Re-adding a removed fd works.
    p.add(pairs[0]![1], EV_READ);
    assert.ok(ready(p).has(pairs[0]![1]));
  } finally {
    for (const [w, r] of pairs) {
      libc.symbols.close(w);
      libc.symbols.close(r);
    }
  }
});

Deno.test("darwin `Poller.waitAsync()` waits on another thread and drops results when the set changed meanwhile", async () => {
  const p = new Poller(16, poll, pollAsync);
  const [a, b] = pair();
  const [c, d] = pair();
  try {
    p.add(b, EV_READ);
    // The event loop runs while the poll waits: a timer writes to the watched socket.
    setTimeout(() => libc.symbols.write(a, new Uint8Array([1]), 1n), 5);
    const t0 = performance.now();
    const n = await p.waitAsync(2000);
    assert.ok(performance.now() - t0 < 1000, "woken by the write, not the timeout");
    assert.equal(n, 1);
    assert.deepEqual([p.readyFds[0], p.readyEvents[0]], [b, EV_READ]);
    // Adding an fd during the wait: slots may move, so that wait reports nothing, and the
    // next one (which sees the new set) reports both.
    const pending = p.waitAsync(50);
    p.add(d, EV_READ);
    libc.symbols.write(c, new Uint8Array([1]), 1n);
    assert.equal(await pending, 0);
    assert.deepEqual(ready(p), new Map([[b, EV_READ], [d, EV_READ]]));
  } finally {
    for (const fd of [a, b, c, d]) libc.symbols.close(fd);
  }
});
