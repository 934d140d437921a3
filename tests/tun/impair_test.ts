import assert from "node:assert/strict";
import { Impairment, parseImpair } from "../../src/tun/impair.ts";
import type { Reactor } from "../../src/io/reactor.ts";

/** A reactor stand-in with a manual timer list (the impairment only schedules timeouts). */
function fakeReactor() {
  const timers: { fn: () => void; cancelled: boolean }[] = [];
  const reactor = {
    setTimeout(_ms: number, fn: () => void) {
      const t = { fn, cancelled: false };
      timers.push(t);
      return { deadline: 0, cancel: () => (t.cancelled = true) };
    },
  } as unknown as Reactor;
  return { reactor, fire: () => timers.splice(0).forEach((t) => t.cancelled || t.fn()) };
}

Deno.test("`parseImpair()` reads percentages, delay and seed, and rejects bad items", () => {
  assert.deepEqual(parseImpair("loss=5%,reorder=25%,duplicate=1%,delay=2ms,seed=9"), {
    loss: 0.05,
    reorder: 0.25,
    duplicate: 0.01,
    delayMs: 2,
    seed: 9,
  });
  assert.throws(() => parseImpair("loss=5"), /needs a percentage \(loss=5%\)/);
  assert.throws(() => parseImpair("jitter=5%"), /cannot parse "jitter=5%"/);
  assert.throws(() => parseImpair("loss=150%"), /over 100%/);
});

Deno.test("`Impairment` drops, duplicates and reorders at about the configured rates", () => {
  const { reactor, fire } = fakeReactor();
  const out: number[] = [];
  const imp = new Impairment(
    parseImpair("loss=5%,reorder=25%,duplicate=1%,seed=42"),
    reactor,
    (p) => out.push(p[0]! | (p[1]! << 8)),
  );
  const n = 20000;
  for (let i = 0; i < n; i++) imp.input(new Uint8Array([i & 0xff, i >> 8]));
  fire();
  assert.ok(Math.abs(imp.dropped / n - 0.05) < 0.01, `dropped ${imp.dropped}`);
  assert.ok(imp.duplicated > 100 && imp.duplicated < 320, `duplicated ${imp.duplicated}`);
  assert.ok(imp.reordered > 3500, `reordered ${imp.reordered}`);
  assert.equal(out.length, n - imp.dropped + imp.duplicated);
  // Every delivered packet is one that was sent, and some arrive out of order.
  let inversions = 0;
  for (let i = 1; i < out.length; i++) if (out[i]! < out[i - 1]!) inversions++;
  assert.ok(inversions > 1000, `inversions ${inversions}`);
});

Deno.test("`Impairment` releases a held packet on its timer when nothing follows", () => {
  const { reactor, fire } = fakeReactor();
  const out: number[] = [];
  const imp = new Impairment(parseImpair("reorder=100%,seed=1"), reactor, (p) => out.push(p[0]!));
  imp.input(new Uint8Array([7]));
  assert.deepEqual(out, []);
  fire();
  assert.deepEqual(out, [7]);
});

Deno.test("`Impairment` duplicates the packet as read even when the first delivery rewrites it", () => {
  // The system stack's NAT rewrites each delivered packet in place: the duplicate must still be
  // the packet read from the TUN, as netem's is, not the rewritten one.
  const { reactor } = fakeReactor();
  const seen: number[][] = [];
  const imp = new Impairment(parseImpair("duplicate=100%,seed=3"), reactor, (p) => {
    seen.push([...p]);
    p.fill(0xee);
  });
  const buf = new Uint8Array([1, 2, 3]);
  imp.input(buf.subarray(0, 3));
  assert.deepEqual(seen, [[1, 2, 3], [1, 2, 3]]);
  assert.equal(imp.duplicated, 1);
});
