import assert from "node:assert/strict";
import { workerCount } from "../../src/worker/tun_inbound.ts";

Deno.test("`workerCount()`: one worker up to 2 cores, the cores up to 4 above, one on macOS", () => {
  const saved = Deno.env.get("TUNBOX_WORKERS");
  Deno.env.delete("TUNBOX_WORKERS");
  try {
    assert.deepEqual([1, 2, 3, 4, 8, 64].map((c) => workerCount("linux", c)), [1, 1, 3, 4, 4, 4]);
    assert.equal(workerCount("darwin", 8), 1);
    Deno.env.set("TUNBOX_WORKERS", "6");
    assert.equal(workerCount("linux", 2), 6, "TUNBOX_WORKERS wins");
    Deno.env.set("TUNBOX_WORKERS", "zero");
    assert.equal(workerCount("linux", 2), 1, "an unreadable value is ignored");
  } finally {
    if (saved === undefined) Deno.env.delete("TUNBOX_WORKERS");
    else Deno.env.set("TUNBOX_WORKERS", saved);
  }
});
