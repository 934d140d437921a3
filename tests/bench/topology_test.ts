import assert from "node:assert/strict";
import { diffLines } from "../../bench/e2e/topology.ts";

Deno.test("`diffLines()` is empty for equal snapshots, ignoring blank lines and trailing spaces", () => {
  assert.deepEqual(
    diffLines("0: from all lookup local\n32766: x \n", "0: from all lookup local\n\n32766: x\n"),
    [],
  );
});

Deno.test("`diffLines()` names the rules left behind and the ones removed", () => {
  const before = "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n";
  const after = "0:\tfrom all lookup local\n9000:\tfrom all to 198.18.0.0/30 lookup 2022\n";
  assert.deepEqual(diffLines(before, after), [
    "- 32766:\tfrom all lookup main",
    "+ 9000:\tfrom all to 198.18.0.0/30 lookup 2022",
  ]);
});

Deno.test("`diffLines()` counts duplicated lines", () => {
  assert.deepEqual(diffLines("a\n", "a\na\n"), ["+ a"]);
});
