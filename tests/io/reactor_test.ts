import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { EV_READ, MAX_BLOCK_MS, Reactor } from "../../src/io/reactor.ts";
import { fdClose, fdRead, fdWrite, pipeCreate, signalWaker } from "../../src/io/sys.ts";

Deno.test("`Reactor.holdAwake()` counts holds and releases each once", () => {
  const r = new Reactor();
  try {
    const a = r.holdAwake();
    const b = r.holdAwake();
    assert.equal(r.awakeHolds, 2);
    a();
    a();
    assert.equal(r.awakeHolds, 1);
    b();
    assert.equal(r.awakeHolds, 0);
  } finally {
    r.close();
  }
});

/** Runs a chain of `steps` setImmediate callbacks, each busy for 1 ms; resolves the time taken. */
function immediateChain(steps: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const step = (left: number) => {
      const until = performance.now() + 1;
      while (performance.now() < until) { /* work outside the reactor */ }
      if (left === 0) resolve(performance.now() - t0);
      else setImmediate(() => step(left - 1));
    };
    setImmediate(() => step(steps));
  });
}

Deno.test("`Reactor.holdAwake()` lets work queued outside the reactor run without idle waits", async () => {
  const r = new Reactor();
  const loop = r.run();
  try {
    // Idle, with nothing registered, the loop sleeps up to MAX_BLOCK_MS between yields: a chain
    // of 10 immediates needs about 10 sleeps. Held awake, it runs back to back.
    const release = r.holdAwake();
    const held = await immediateChain(10);
    release();
    const idle = await immediateChain(10);
    assert.ok(idle >= 5 * MAX_BLOCK_MS, `idle chain took only ${idle.toFixed(1)} ms`);
    assert.ok(held < idle / 2, `held ${held.toFixed(1)} ms vs idle ${idle.toFixed(1)} ms`);
  } finally {
    r.stop();
    await loop;
    r.close();
  }
});

Deno.test("`Reactor` lets a macrotask queued by a handler run before the loop sleeps", async () => {
  const r = new Reactor();
  const [rd, wr] = pipeCreate();
  let rounds = 0;
  r.afterRound = () => rounds++;
  let handledIn = -1;
  let ranIn = -1;
  const ran = new Promise<void>((resolve) => {
    r.add(rd, EV_READ, () => {
      fdRead(rd, new Uint8Array(8));
      handledIn = rounds;
      // Deno ops and timers complete in macrotasks like this one; a busy loop may defer them
      // for a while, but not into an idle wait of up to MAX_BLOCK_MS.
      setImmediate(() => {
        ranIn = rounds;
        resolve();
      });
    });
  });
  const loop = r.run();
  try {
    fdWrite(wr, new Uint8Array([1]));
    await ran;
    // The handler's round, then at most the spin's round, then the yield.
    assert.ok(ranIn - handledIn <= 2, `ran ${ranIn - handledIn} rounds after its handler`);
  } finally {
    r.stop();
    await loop;
    r.remove(rd);
    fdClose(rd);
    fdClose(wr);
    r.close();
  }
});

Deno.test("`Reactor` takes a full event-loop turn after a wake-up: a message to its idle worker is handled at once", async () => {
  // Deno delivers a worker's messages only on a full event-loop turn, which an idle reactor
  // takes at most every 100 ms; the wake fd the sender signals asks for one right away.
  const worker = new Worker(new URL("../fixtures/reactor_worker.ts", import.meta.url), {
    type: "module",
  });
  const replies: unknown[] = [];
  let notify = () => {};
  worker.onmessage = (e) => {
    replies.push(e.data);
    notify();
  };
  const next = () =>
    new Promise<unknown>((resolve) => {
      if (replies.length > 0) return resolve(replies.shift());
      notify = () => resolve(replies.shift());
    });
  try {
    const { wakeFd } = await next() as { wakeFd: number };
    await new Promise((r) => setTimeout(r, 300)); // past the worker's start-up
    const took: number[] = [];
    for (let i = 0; i < 15; i++) {
      await new Promise((r) => setTimeout(r, 20)); // the worker's loop is asleep again
      const t0 = performance.now();
      worker.postMessage(i);
      signalWaker(wakeFd);
      assert.equal(await next(), i);
      took.push(performance.now() - t0);
    }
    // Before, 10 to 15 of the 15 replies came after 100 ms; a busy machine may delay a few.
    const slow = took.filter((ms) => ms >= MAX_BLOCK_MS);
    assert.ok(
      slow.length <= 3,
      `${slow.length} of 15 replies after >= ${MAX_BLOCK_MS} ms: ${took}`,
    );
  } finally {
    worker.postMessage("stop");
    worker.terminate();
  }
});
