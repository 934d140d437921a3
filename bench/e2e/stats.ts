/**
 * Summary statistics for latency samples and repeated runs.
 *
 * @module
 */

/** Percentiles and moments of a set of samples, in the samples' unit. */
export interface Summary {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

/**
 * The `p`-th percentile (0–100) of ascending-sorted `sorted`, by linear interpolation between
 * the two closest ranks (the method of NumPy's default and Excel's `PERCENTILE.INC`).
 *
 * @throws {RangeError} when `sorted` is empty or `p` is outside 0–100.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError("Cannot take a percentile of no samples");
  if (!(p >= 0 && p <= 100)) throw new RangeError(`Percentile ${p} is outside 0–100`);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

/**
 * Summarizes `samples` (any order; not modified).
 *
 * @throws {RangeError} when `samples` is empty.
 */
export function summarize(samples: ArrayLike<number>): Summary {
  if (samples.length === 0) throw new RangeError("Cannot summarize no samples");
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    mean: sum / sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
  };
}

/** The median of `values` (any order), or `undefined` for none. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  return percentile(Float64Array.from(values).sort(), 50);
}
