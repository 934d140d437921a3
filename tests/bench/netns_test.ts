import assert from "node:assert/strict";
import { tail } from "../../bench/e2e/netns.ts";

Deno.test("`tail()` keeps the last non-empty lines joined with ' | '", () => {
  assert.equal(tail("a\n\nb\nc\nd\n", 2), "c | d");
});

Deno.test("`tail()` strips terminal colour codes", () => {
  assert.equal(tail("\x1b[0m\x1b[1m\x1b[31merror\x1b[0m: boom\n"), "error: boom");
});

Deno.test("`tail()` cuts long output from the front and marks the cut", () => {
  const t = tail("x".repeat(1000), 8, 100);
  assert.equal(t.length, 101);
  assert.ok(t.startsWith("…"));
});
