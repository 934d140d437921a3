import assert from "node:assert/strict";

/**
 * The layering rule of docs/architecture.md ("Layers point one way, with no import cycles"),
 * checked on the source: every import between two folders of `src/` (type imports too) is an
 * edge, and the folder graph has no cycle.
 */

const SRC = new URL("../src/", import.meta.url).pathname;

/** `src/<folder>/...` → `<folder>`; files directly in `src/` are the composition roots ("."). */
function folderOf(path: string): string {
  const rel = path.slice(SRC.length);
  const slash = rel.indexOf("/");
  return slash < 0 ? "." : rel.slice(0, slash);
}

function* sourceFiles(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}${e.name}`;
    if (e.isDirectory) yield* sourceFiles(`${p}/`);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

/** Relative specifiers of every `import`/`export ... from` and dynamic `import()` in `text`. */
function importSpecifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) out.push(m[1]!);
  return out;
}

/** Folder → folders it imports, with one file that does, for the message. */
function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    if (from === ".") continue; // box.ts and friends compose everything
    const dir = file.slice(0, file.lastIndexOf("/") + 1);
    for (const spec of importSpecifiers(Deno.readTextFileSync(file))) {
      const target = new URL(spec, `file://${dir}`).pathname;
      if (!target.startsWith(SRC)) continue; // ffi/, npm
      const to = folderOf(target);
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, file.slice(SRC.length));
      graph.set(from, edges);
    }
  }
  return graph;
}

/** A cycle of the graph as `a -> b (file) -> ... -> a`, or null. */
function findCycle(graph: Map<string, Map<string, string>>): string | null {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (v: string): string | null => {
    state.set(v, "open");
    stack.push(v);
    for (const w of (graph.get(v) ?? new Map()).keys()) {
      if (state.get(w) === "open") {
        const loop = stack.slice(stack.indexOf(w));
        return [...loop, w].map((f, i) => i === 0 ? f : `${f} (${graph.get(loop[i - 1]!)!.get(f)})`)
          .join(" -> ");
      }
      if (!state.has(w)) {
        const found = visit(w);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(v, "done");
    return null;
  };
  for (const v of graph.keys()) {
    if (state.has(v)) continue;
    const found = visit(v);
    if (found) return found;
  }
  return null;
}

Deno.test("`importSpecifiers()` finds static, type, re-export and dynamic imports", () => {
  const text = [
    'import { a } from "./a.ts";',
    'import type { B } from "../b/mod.ts";',
    'export { c } from "./c.ts";',
    'const d = await import("../d/d.ts");',
    'import x from "npm:x";',
  ].join("\n");
  assert.deepEqual(importSpecifiers(text), ["./a.ts", "../b/mod.ts", "./c.ts", "../d/d.ts"]);
});

Deno.test("src/ folders import each other without a cycle", () => {
  const graph = folderGraph();
  assert.ok((graph.get("stack")?.size ?? 0) > 0, "the scan found stack/'s imports");
  assert.equal(findCycle(graph), null);
  // stack/ depends only on wire/.
  assert.deepEqual([...graph.get("stack")!.keys()], ["wire"]);
});
