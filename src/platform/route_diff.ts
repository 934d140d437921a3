/**
 * What changes installed routes into a new plan's routes (a tun's `route_address_set` after its
 * rule-set changed), for the platforms' `InstalledRoutes.replaceRoutes`.
 *
 * ```ts
 * const { add, remove } = diffRoutes(installed, planned, (r) => r.text);
 * ```
 *
 * @module
 */

import type { PlannedRoute } from "./types.ts";

/**
 * The routes of `want` missing from `have` (each once, in `want`'s order) and the routes of
 * `have` that `want` lacks, routes being the same when `key` says so.
 */
export function diffRoutes(
  have: readonly PlannedRoute[],
  want: readonly PlannedRoute[],
  key: (r: PlannedRoute) => string,
): { add: PlannedRoute[]; remove: PlannedRoute[] } {
  const wanted = new Set(want.map(key));
  const seen = new Set(have.map(key));
  const add = want.filter((r) => {
    const k = key(r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return { add, remove: have.filter((r) => !wanted.has(key(r))) };
}
