// The worker's connection tracker: reports only what changed, finish is final, aborts reach the
// control or wait for it.

import assert from "node:assert/strict";
import { ConnIds } from "../../src/conn/ids.ts";
import { ConnTracker } from "../../src/conn/tracker.ts";
import { connRecord } from "../_helpers/conn_record.ts";

Deno.test("`ConnTracker.report()` has opens, moved counters and closes, then nothing", () => {
  const t = new ConnTracker();
  assert.equal(t.report(), null);
  const c = t.open(connRecord({ id: 1, upload: 0, download: 0 }));
  const counters = { up: 0, down: 0, abort() {} };
  c.control = counters;
  const first = t.report()!;
  assert.deepEqual(first.opened.map((r) => r.id), [1]);
  assert.deepEqual(first.updates, []);
  counters.up = 10;
  assert.deepEqual(t.report()!.updates, [1, 10, 0]);
  assert.equal(t.report(), null);
  counters.down = 4;
  t.finish(c, "reset by peer");
  t.finish(c, "twice"); // no effect
  const last = t.report()!;
  assert.deepEqual(last.updates, []);
  assert.deepEqual(last.closed.map((r) => [r.id, r.upload, r.download, r.error]), [
    [1, 10, 4, "reset by peer"],
  ]);
  assert.equal(t.size, 0);
  assert.equal(t.uploadClosed, 10);
  assert.equal(t.total, 1);
});

Deno.test("`ConnTracker.abort()` calls the control, or marks a connection still dialing", () => {
  const t = new ConnTracker();
  const dialing = t.open(connRecord({ id: 1 }));
  const running = t.open(connRecord({ id: 2 }));
  const aborted: string[] = [];
  running.control = { up: 0, down: 0, abort: (e) => aborted.push(e.message) };
  assert.equal(t.abortAll("bye"), 2);
  assert.deepEqual(aborted, ["bye"]);
  assert.equal(dialing.aborted?.message, "bye");
  assert.equal(t.abort(3, "x"), false);
});

Deno.test("`ConnTracker.refused()` reports a flow that was never live", () => {
  const t = new ConnTracker();
  t.refused(connRecord({ id: 5, action: "refused" }), "route failed: x");
  assert.equal(t.size, 0);
  assert.deepEqual(t.report()!.closed.map((r) => [r.id, r.error]), [[5, "route failed: x"]]);
});

Deno.test("`ConnIds` hands out increasing ids shared through memory", () => {
  const memory = new SharedArrayBuffer(8);
  const a = new ConnIds(memory), b = new ConnIds(memory);
  assert.deepEqual([a.next(), b.next(), a.next()], [1, 2, 3]);
});
