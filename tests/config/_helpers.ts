/**
 * Test helpers for config tests.
 *
 * @module
 */

/**
 * `line:col` of the `n`th occurrence (1-based) of `needle` in `text`, computed independently of
 * the decoder, so a test states which token a diagnostic must point at.
 */
export function at(text: string, needle: string, n = 1): string {
  let i = -1;
  for (let k = 0; k < n; k++) {
    i = text.indexOf(needle, i + 1);
    if (i < 0) throw new Error(`${JSON.stringify(needle)} occurs fewer than ${n} times`);
  }
  const before = text.slice(0, i).split("\n");
  return `${before.length}:${before[before.length - 1]!.length + 1}`;
}
