import assert from "node:assert/strict";
import fc from "fast-check";
import { median, percentile, summarize } from "../../bench/e2e/stats.ts";

Deno.test("`percentile()` interpolates between the closest ranks", () => {
  const s = [10, 20, 30, 40];
  assert.equal(percentile(s, 0), 10);
  assert.equal(percentile(s, 100), 40);
  assert.equal(percentile(s, 50), 25);
  // rank 0.99 * 3 = 2.97 → 30 + 0.97 * 10
  assert.ok(Math.abs(percentile(s, 99) - 39.7) < 1e-9);
});

Deno.test("`percentile()` of one sample is that sample", () => {
  assert.equal(percentile([7], 50), 7);
  assert.equal(percentile([7], 99), 7);
});

Deno.test("`percentile()` rejects no samples and p outside 0–100", () => {
  assert.throws(() => percentile([], 50), RangeError);
  assert.throws(() => percentile([1], 101), RangeError);
  assert.throws(() => percentile([1], -1), RangeError);
  assert.throws(() => percentile([1], NaN), RangeError);
});

Deno.test("`summarize()` sorts a copy and reports min, max, mean and percentiles", () => {
  const samples = [5, 1, 4, 2, 3];
  const s = summarize(samples);
  assert.deepEqual(samples, [5, 1, 4, 2, 3]);
  assert.equal(s.count, 5);
  assert.equal(s.min, 1);
  assert.equal(s.max, 5);
  assert.equal(s.mean, 3);
  assert.equal(s.p50, 3);
  assert.ok(Math.abs(s.p99 - 4.96) < 1e-9);
});

Deno.test("`summarize()` percentiles are ordered and within min–max for any samples", () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }),
      (xs) => {
        const s = summarize(xs);
        return s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max;
      },
    ),
  );
});

Deno.test("`median()` of an even count averages the middle pair; none gives undefined", () => {
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([]), undefined);
});
