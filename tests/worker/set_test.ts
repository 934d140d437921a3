import assert from "node:assert/strict";
import { WorkerSet } from "../../src/worker/set.ts";
import type { MainToWorker } from "../../src/worker/protocol.ts";

const PAYLOAD = { tag: "geosite-cn", rules: [] };

Deno.test("WorkerSet.applyRuleSet() resolves only when every worker has the set in use", async () => {
  const workers = new WorkerSet();
  const sent: { handle: number; msg: MainToWorker }[] = [];
  const handles = [0, 1].map((i) =>
    workers.attach(`worker ${i}`, (msg) => sent.push({ handle: i, msg }))
  );
  let done = false;
  const applied = workers.applyRuleSet(PAYLOAD).then(() => (done = true));
  const ruleSets = sent.filter((s) => s.msg.type === "rule-set");
  assert.deepEqual(ruleSets.map((s) => s.handle), [0, 1]);
  const seq = (ruleSets[0]!.msg as { seq?: number }).seq!;
  assert.equal((ruleSets[1]!.msg as { seq?: number }).seq, seq);

  workers.receive(handles[0]!, { type: "rule-set-applied", seq });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(done, false, "one of two workers answered");
  workers.receive(handles[1]!, { type: "rule-set-applied", seq: seq + 1 });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(done, false, "an answer to another update does not count");
  workers.receive(handles[1]!, { type: "rule-set-applied", seq });
  await applied;
  assert.equal(done, true);
  workers.close();
});

Deno.test("WorkerSet.applyRuleSet() stops waiting for a silent worker after the timeout", async () => {
  const workers = new WorkerSet();
  workers.attach("silent worker", () => {});
  const start = performance.now();
  await workers.applyRuleSet(PAYLOAD, 50);
  assert.ok(performance.now() - start >= 45);
  workers.close();
});

Deno.test("WorkerSet.applyRuleSet() with no workers resolves at once", async () => {
  const workers = new WorkerSet();
  const first = await Promise.race([
    workers.applyRuleSet(PAYLOAD).then(() => "applied"),
    new Promise((r) => setTimeout(() => r("still waiting"), 20)),
  ]);
  assert.equal(first, "applied");
  workers.close();
});
