/**
 * A crash during a transfer (SIGKILL: tunbox cannot clean up), then a new start and a normal
 * stop: the namespace's rules and routes must equal the snapshot from before the first start.
 * The TUN device dies with the process (and its routes with it); the policy rules survive a
 * crash and are swept by the next start (sing-tun's behaviour).
 */

import assert from "node:assert/strict";
import { CAN_RUN_E2E, FAR, SeedWorld, type Stack } from "./_world.ts";

for (const stack of ["system", "gvisor"] as Stack[]) {
  Deno.test({
    name: `SIGKILL during a transfer (${stack} stack), then start and stop: namespace restored`,
    ignore: !CAN_RUN_E2E,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const w = await SeedWorld.start(stack, "danted");
      try {
        // A slow 200 MB download keeps a flow busy while tunbox is killed.
        const transfer = w.curl([
          "--limit-rate",
          "5M",
          "-o",
          "/dev/null",
          `http://${FAR.web}/file?size=${200 << 20}&seed=3`,
        ], 5);
        await new Promise((r) => setTimeout(r, 1500));
        const killed = await w.stopTunbox("SIGKILL");
        assert.equal(killed.signal, "SIGKILL");
        const r = await transfer;
        assert.notEqual(r.code, 0, "the transfer broke with the crash");
        const crashed = await w.host.snapshot();
        assert.notEqual(crashed.rules4, w.before!.rules4, "a crash leaves the policy rules behind");

        await w.startTunbox();
        const ok = await w.curl([`http://${FAR.web}/small`]);
        assert.equal(ok.stdout, "ok", ok.stderr);
        assert.equal((await w.stopTunbox("SIGTERM")).code, 0);
        const after = await w.host.snapshot();
        assert.equal(after.rules4, w.before!.rules4);
        assert.equal(after.rules6, w.before!.rules6);
        assert.equal(after.routes4, w.before!.routes4);
        assert.equal(after.routes6, w.before!.routes6);
      } finally {
        await w.close();
      }
    },
  });
}
