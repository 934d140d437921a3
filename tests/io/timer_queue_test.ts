import assert from "node:assert/strict";
import { TimerQueue } from "../../src/io/timer_queue.ts";

Deno.test("`TimerQueue` runs due timers in deadline order, ties in insertion order", () => {
  const q = new TimerQueue();
  const ran: string[] = [];
  q.schedule(30, () => ran.push("c"));
  q.schedule(10, () => ran.push("a"));
  q.schedule(20, () => ran.push("b1"));
  q.schedule(20, () => ran.push("b2"));
  q.schedule(99, () => ran.push("late"));
  assert.equal(q.runDue(25), 3);
  assert.deepEqual(ran, ["a", "b1", "b2"]);
  assert.equal(q.nextDeadline(), 30);
  q.runDue(30);
  assert.deepEqual(ran, ["a", "b1", "b2", "c"]);
});

Deno.test("`TimerQueue` skips cancelled timers and reports the next live deadline", () => {
  const q = new TimerQueue();
  const ran: number[] = [];
  const t1 = q.schedule(5, () => ran.push(5));
  q.schedule(7, () => ran.push(7));
  t1.cancel();
  t1.cancel();
  assert.equal(q.nextDeadline(), 7);
  q.runDue(100);
  assert.deepEqual(ran, [7]);
  assert.equal(q.nextDeadline(), Infinity);
});

Deno.test("`TimerQueue` keeps heap order under many random inserts", () => {
  const q = new TimerQueue();
  const out: number[] = [];
  const values = Array.from({ length: 2000 }, (_, i) => (i * 7919) % 1009);
  for (const v of values) q.schedule(v, () => out.push(v));
  q.runDue(Infinity);
  assert.deepEqual(out, [...values].sort((a, b) => a - b));
});

Deno.test("`TimerQueue` lets a callback schedule a timer that is due in the same run", () => {
  const q = new TimerQueue();
  const ran: string[] = [];
  q.schedule(1, () => {
    ran.push("first");
    q.schedule(2, () => ran.push("second"));
  });
  q.runDue(5);
  assert.deepEqual(ran, ["first", "second"]);
});

Deno.test("`TimerQueue` drops cancelled timers once they outnumber live ones", () => {
  const q = new TimerQueue();
  const ran: number[] = [];
  const keep = [10, 20, 30].map((d) => q.schedule(d, () => ran.push(d)));
  const gone = Array.from(
    { length: 5000 },
    (_, i) => q.schedule(1_000_000 + i, () => ran.push(-1)),
  );
  for (const t of gone) t.cancel();
  assert.equal(q.live, 3);
  assert.ok(q.size < 3000, `heap holds ${q.size} entries after 5000 cancellations`);
  // Cancelling from inside a callback may rebuild the heap under runDue.
  const more = Array.from({ length: 3000 }, (_, i) => q.schedule(2_000_000 + i, () => {}));
  q.schedule(15, () => more.forEach((t) => t.cancel()));
  assert.equal(q.runDue(100), 4);
  assert.deepEqual(ran, [10, 20, 30]);
  assert.equal(q.nextDeadline(), Infinity);
  assert.equal(q.live, 0);
  void keep;
});
