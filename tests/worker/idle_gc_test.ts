import assert from "node:assert/strict";
import { IdleGc, idleGc } from "../../src/worker/idle_gc.ts";

const MiB = 1024 * 1024;

/** A heap whose reading the test sets; `gc()` drops it to `live`. */
function fakeHeap(used: number, live: number) {
  const h = {
    used,
    live,
    collections: 0,
    gc: () => {
      h.collections++;
      h.used = h.live;
    },
  };
  return h;
}

Deno.test("`IdleGc.tick()` collects once the heap grew and then stayed quiet for the ticks asked", () => {
  const h = fakeHeap(16 * MiB, 16 * MiB);
  const idle = new IdleGc(h.gc, () => h.used, { growthBytes: 8 * MiB, quietTicks: 3 });
  h.used = 40 * MiB; // the burst: not quiet
  assert.equal(idle.tick(), false);
  assert.equal(idle.tick(), false); // quiet 1
  assert.equal(idle.tick(), false); // quiet 2
  assert.equal(idle.tick(), true); // quiet 3: 24 MiB over the base
  assert.equal(h.collections, 1);
  assert.equal(h.used, 16 * MiB);
  for (let i = 0; i < 10; i++) assert.equal(idle.tick(), false); // nothing grew since
  assert.equal(h.collections, 1);
});

Deno.test("`IdleGc.tick()` leaves a growing heap alone, and one that grew less than the threshold", () => {
  const h = fakeHeap(16 * MiB, 16 * MiB);
  const idle = new IdleGc(h.gc, () => h.used, { growthBytes: 8 * MiB, quietTicks: 2 });
  for (let i = 0; i < 10; i++) {
    h.used += 2 * MiB; // allocating: never quiet
    assert.equal(idle.tick(), false);
  }
  const small = fakeHeap(16 * MiB, 16 * MiB);
  const calm = new IdleGc(small.gc, () => small.used, { growthBytes: 8 * MiB, quietTicks: 2 });
  small.used = 23 * MiB;
  for (let i = 0; i < 10; i++) assert.equal(calm.tick(), false);
  assert.equal(small.collections + h.collections, 0);
});

Deno.test("`IdleGc.tick()` takes a collection V8 made itself as the new base", () => {
  const h = fakeHeap(30 * MiB, 10 * MiB);
  const idle = new IdleGc(h.gc, () => h.used, { growthBytes: 8 * MiB, quietTicks: 1 });
  h.used = 12 * MiB; // V8 collected: 12 is the base now
  assert.equal(idle.tick(), false);
  h.used = 19 * MiB; // 7 MiB over the new base
  idle.tick();
  assert.equal(idle.tick(), false);
  h.used = 20 * MiB;
  assert.equal(idle.tick(), true);
});

Deno.test("`idleGc()` is undefined without V8's gc and collects this isolate's heap with it", () => {
  const g = globalThis as { gc?: unknown };
  const saved = g.gc;
  try {
    delete g.gc;
    assert.equal(idleGc(), undefined);
    let calls = 0;
    g.gc = () => calls++;
    const idle = idleGc({ growthBytes: 0, quietTicks: 1, quietBytes: Number.MAX_SAFE_INTEGER });
    assert.ok(idle);
    assert.equal(idle.tick(), true);
    assert.equal(calls, 1);
  } finally {
    if (saved === undefined) delete g.gc;
    else g.gc = saved;
  }
});
