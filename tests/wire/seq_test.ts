import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  seqAdd,
  seqDiff,
  seqGe,
  seqGt,
  seqInRange,
  seqLe,
  seqLt,
  seqMax,
  seqMin,
} from "../../src/wire/seq.ts";

Deno.test("`seqLt()` compares across the 2^32 wrap", () => {
  assert(seqLt(0xffffff00, 0x10));
  assert(!seqLt(0x10, 0xffffff00));
  assert(seqGt(5, 0xfffffffb));
  assert(seqLe(7, 7) && seqGe(7, 7) && !seqLt(7, 7) && !seqGt(7, 7));
});

Deno.test("`seqAdd()` wraps modulo 2^32 and accepts negative steps", () => {
  assertEquals(seqAdd(0xffffffff, 1), 0);
  assertEquals(seqAdd(0, -1), 0xffffffff);
  assertEquals(seqDiff(3, 0xfffffffe), 5);
  assertEquals(seqDiff(0xfffffffe, 3), -5);
});

Deno.test("`seqMax()`/`seqMin()` pick by sequence order, not numeric order", () => {
  assertEquals(seqMax(0xfffffff0, 4), 4);
  assertEquals(seqMin(0xfffffff0, 4), 0xfffffff0);
});

Deno.test("`seqInRange()` is half-open and works across the wrap", () => {
  assert(seqInRange(0xfffffffe, 0xfffffff0, 0x10));
  assert(seqInRange(0x0f, 0xfffffff0, 0x10));
  assert(!seqInRange(0x10, 0xfffffff0, 0x10));
  assert(!seqInRange(5, 5, 5));
});
