// The main thread's connection hub: live view from worker reports, counters, the closed ring,
// refresh rounds with sequence numbers, aborts sent to the owning worker, detach.

import assert from "node:assert/strict";
import { ConnectionHub, type HubToWorker, type WorkerLink } from "../../src/conn/hub.ts";
import type { ConnReport } from "../../src/conn/tracker.ts";
import { connRecord } from "../_helpers/conn_record.ts";

class FakeWorker implements WorkerLink {
  readonly sent: HubToWorker[] = [];
  constructor(readonly name: string) {}
  post(msg: HubToWorker): void {
    this.sent.push(msg);
  }
}

function report(over: Partial<ConnReport> = {}): { type: "conns"; report: ConnReport } {
  return { type: "conns", report: { opened: [], updates: [], closed: [], ...over } };
}

Deno.test("`ConnectionHub` keeps live records with reported counters and a closed ring", () => {
  const hub = new ConnectionHub(3);
  const w = hub.attach(new FakeWorker("w0"));
  hub.receive(w, report({ opened: [connRecord({ id: 1, upload: 0, download: 0 })] }));
  hub.receive(w, report({ updates: [1, 10, 20, 99, 1, 1] })); // 99 is unknown: ignored
  let snap = hub.snapshot();
  assert.deepEqual(snap.live.map((c) => [c.id, c.upload, c.download]), [[1, 10, 20]]);
  assert.equal(snap.uploadTotal, 10);
  assert.equal(snap.downloadTotal, 20);
  hub.receive(w, report({ closed: [connRecord({ id: 1, upload: 11, download: 21, end: 5 })] }));
  for (let id = 2; id <= 6; id++) {
    hub.receive(w, report({ closed: [connRecord({ id, upload: 1, download: 1, end: 5 })] }));
  }
  snap = hub.snapshot();
  assert.deepEqual(snap.live, []);
  assert.deepEqual(snap.closed.map((c) => c.id), [4, 5, 6], "the last 3, oldest first");
  assert.equal(snap.uploadTotal, 16, "totals keep connections that left the ring");
  assert.equal(snap.downloadTotal, 26);
  assert.equal(hub.receive(w, { type: "stats" }), false, "not a connection report");
});

Deno.test("`ConnectionHub.snapshot()` returns copies", () => {
  const hub = new ConnectionHub();
  const w = hub.attach(new FakeWorker("w0"));
  hub.receive(w, report({ opened: [connRecord({ id: 1 })] }));
  hub.snapshot().live[0]!.upload = 12345;
  assert.equal(hub.snapshot().live[0]!.upload, 100);
  assert.equal(hub.get(1)?.id, 1);
  assert.equal(hub.get(2), undefined);
});

Deno.test("`ConnectionHub.refresh()` asks every worker and resolves when all answered", async () => {
  const hub = new ConnectionHub();
  const a = new FakeWorker("a"), b = new FakeWorker("b");
  hub.attach(a);
  hub.attach(b);
  let done = false;
  const p = hub.refresh(5000).then(() => done = true);
  assert.deepEqual(a.sent, [{ type: "conn-report", seq: 1 }]);
  assert.deepEqual(b.sent, [{ type: "conn-report", seq: 1 }]);
  assert.equal(hub.refresh(5000), hub.refresh(5000), "concurrent callers share one round");
  hub.receive(a, { ...report(), seq: 1 });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(done, false, "b has not answered");
  hub.receive(b, { ...report({ opened: [connRecord({ id: 3 })] }), seq: 1 });
  await p;
  assert.equal(hub.liveCount, 1);
});

Deno.test("`ConnectionHub.refresh()` gives up on a silent worker after the timeout", async () => {
  const hub = new ConnectionHub();
  hub.attach(new FakeWorker("silent"));
  const t0 = performance.now();
  await hub.refresh(30);
  const waited = performance.now() - t0;
  assert.ok(waited >= 25 && waited < 1000, `waited ${waited} ms`);
});

Deno.test("`ConnectionHub.abort()` goes to the worker that owns the connection", () => {
  const hub = new ConnectionHub();
  const a = new FakeWorker("a"), b = new FakeWorker("b");
  hub.attach(a);
  hub.attach(b);
  hub.receive(b, report({ opened: [connRecord({ id: 7 })] }));
  assert.equal(hub.abort(7, "closed from the API"), true);
  assert.deepEqual(a.sent, []);
  assert.deepEqual(b.sent, [{ type: "conn-abort", ids: [7], reason: "closed from the API" }]);
  assert.equal(hub.abort(8), false);
  assert.equal(hub.abortAll("all"), 1);
  assert.deepEqual(a.sent, [{ type: "conn-abort", ids: null, reason: "all" }]);
});

Deno.test("`ConnectionHub.detach()` closes a stopped worker's connections", async () => {
  const hub = new ConnectionHub();
  const a = new FakeWorker("a"), b = new FakeWorker("b");
  hub.attach(a);
  hub.attach(b);
  hub.receive(a, report({ opened: [connRecord({ id: 1 })] }));
  hub.receive(b, report({ opened: [connRecord({ id: 2 })] }));
  const waiting = hub.refresh(5000);
  hub.receive(b, { ...report(), seq: 1 });
  hub.detach(a); // a will never answer: the refresh must not wait for it
  await waiting;
  const snap = hub.snapshot();
  assert.deepEqual(snap.live.map((c) => c.id), [2]);
  assert.deepEqual(snap.closed.map((c) => [c.id, c.error]), [[1, "worker stopped"]]);
  assert.equal(hub.receive(a, report({ opened: [connRecord({ id: 3 })] })), true);
  assert.equal(hub.liveCount, 1, "reports of a detached worker are ignored");
});
