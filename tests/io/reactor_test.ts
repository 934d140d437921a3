import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { MAX_BLOCK_MS, Reactor } from "../../src/io/reactor.ts";

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
