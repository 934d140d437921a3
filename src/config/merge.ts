/**
 * Merging several config documents the way sing-box's `badjson.MergeJSON` does when it is given
 * more than one `-c`/`-C` source. Each later document is merged into the result so far:
 *
 * - object into object: key by key, recursively; keys new to the result are appended;
 * - anything into a list: the list grows (a later list is concatenated, a later single value is
 *   appended), so `inbounds`, `outbounds` and `route.rules` from several files add up;
 * - anything into a scalar: the value already there stays (sing-box keeps the earlier value);
 * - a non-object into an object: an error ("cannot merge ... into an object").
 *
 * Nodes keep their own positions, so errors found after merging still point at the file, line
 * and column each value came from.
 *
 * @module
 */

import type { Diagnostics } from "./diagnostic.ts";
import { describe, type JsonNode, type JsonObject } from "./jsonc.ts";

/** Merges `next` into `base` (which is modified and returned), reporting conflicts to `diag`. */
export function mergeInto(base: JsonNode, next: JsonNode, diag: Diagnostics, path = ""): JsonNode {
  switch (base.kind) {
    case "array":
      if (next.kind === "array") base.items.push(...next.items);
      else base.items.push(next);
      return base;
    case "object":
      if (next.kind !== "object") {
        diag.error(
          next.pos,
          path || "(root)",
          `cannot merge ${
            describe(next)
          } into the object at ${base.pos.file}:${base.pos.line}:${base.pos.column}`,
        );
        return base;
      }
      mergeObject(base, next, diag, path);
      return base;
    default:
      return base;
  }
}

function mergeObject(base: JsonObject, next: JsonObject, diag: Diagnostics, path: string): void {
  for (const p of next.props) {
    const existing = base.props.find((q) => q.key === p.key);
    if (existing) {
      existing.value = mergeInto(existing.value, p.value, diag, joinPath(path, p.key));
    } else {
      base.props.push({ key: p.key, keyPos: p.keyPos, value: p.value });
    }
  }
}

/** Appends an object key to a JSON path (`a.b`, or `a["odd key"]`). */
export function joinPath(path: string, key: string): string {
  const part = /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;
  if (path === "") return part.startsWith("[") ? part : part;
  return part.startsWith("[") ? path + part : `${path}.${part}`;
}

/** Appends a list index to a JSON path. */
export function indexPath(path: string, i: number): string {
  return `${path}[${i}]`;
}
