/**
 * The seed user's scenario end to end (issue 5, and issue 6 for every stack): everything the
 * host sends goes through the TUN to a SOCKS5 server on 127.0.0.1:1080, while private
 * addresses, the proxy server's own address and chosen domains go direct. Real clients (curl,
 * dig) and real SOCKS servers (dante, V2Ray) in throwaway namespaces; see `_world.ts`.
 */

import assert from "node:assert/strict";
import { payload, sha256Hex } from "./_payload.ts";
import {
  CAN_RUN_E2E,
  FAR,
  HOST_DIRECT,
  HOST_SOCKS_EGRESS,
  SeedWorld,
  type Stack,
} from "./_world.ts";

const STACKS: Stack[] = ["system", "gvisor", "mixed"];
const SIZE = 20 * 1024 * 1024;

for (const stack of STACKS) {
  Deno.test({
    // The default stack runs as tunbox runs on this machine's kind (2 cores): one worker, in
    // the main isolate; the others with two Deno Workers (the world's default).
    name: `seed scenario with danted (stack ${stack}, ${
      stack === "mixed" ? "one worker in process" : "two workers"
    })`,
    ignore: !CAN_RUN_E2E,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const w = await SeedWorld.start(
        stack,
        "danted",
        [],
        undefined,
        stack === "mixed" ? { TUNBOX_WORKERS: "1" } : undefined,
      );
      try {
        const started = w.tunbox!.stdout + w.tunbox!.stderr;
        assert.match(
          started,
          stack === "mixed"
            ? /with stack mixed and 1 worker\(s\) in the main isolate; TCP segmentation offload on\n/
            : new RegExp(`with stack ${stack} and 2 worker\\(s\\); TCP segmentation offload on\\n`),
        );
        await t.step(
          "curl without proxy settings fetches 20 MB through SOCKS, sha256 matching",
          async () => {
            const out = `${w.dir}/download.bin`;
            const r = await w.curl([
              "-o",
              out,
              "-w",
              "%{http_code}",
              `http://${FAR.web}/file?size=${SIZE}&seed=7`,
            ], 60);
            assert.equal(r.code, 0, r.stderr);
            assert.equal(r.stdout, "200");
            const got = await Deno.readFile(out);
            assert.equal(got.length, SIZE);
            assert.equal(await sha256Hex(got), await sha256Hex(payload(SIZE, 7)));
            const ip = await w.curl([`http://${FAR.web}/ip`]);
            assert.equal(
              ip.stdout,
              HOST_SOCKS_EGRESS,
              "the far side sees the SOCKS server's egress",
            );
          },
        );

        await t.step("100 parallel fetches all succeed", async () => {
          const urls = Array.from(
            { length: 100 },
            (_, i) => `http://${FAR.web}/file?size=65536&seed=${i + 1}`,
          );
          const r = await w.curl([
            "--parallel",
            "--parallel-max",
            "100",
            "-w",
            "%{http_code} %{size_download}\\n",
            ...urls.flatMap((u) => ["-o", "/dev/null", u]),
          ], 60);
          assert.equal(r.code, 0, r.stderr);
          const lines = r.stdout.trim().split("\n");
          assert.equal(lines.length, 100);
          for (const l of lines) assert.equal(l, "200 65536");
        });

        await t.step("dig reaches the far DNS server through UDP ASSOCIATE", async () => {
          const r = await w.exec([
            "dig",
            `@${FAR.dns}`,
            "+time=3",
            "+tries=2",
            "+short",
            "example.test",
            "A",
          ]);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          assert.equal(r.stdout.trim(), FAR.web);
        });

        await t.step(
          "a direct rule goes direct: the far side sees the host's own address",
          async () => {
            const r = await w.curl([`http://${FAR.server}/ip`]);
            assert.equal(r.code, 0, r.stderr);
            assert.equal(r.stdout, HOST_DIRECT);
          },
        );

        await t.step("a reject rule refuses at once", async () => {
          const r = await w.curl([`http://${FAR.rejected}/small`], 10);
          // curl exit 7: the SYN itself was refused (RST), as without tunbox.
          assert.equal(r.code, 7, r.stderr);
          assert.ok(r.ms < 2000, `refusal took ${r.ms} ms`);
        });

        await t.step("TLS SNI routes by domain", async () => {
          const before = (await w.tlsLog()).length;
          await w.curl([
            "-k",
            "--resolve",
            `www.direct.example:443:${FAR.web}`,
            "https://www.direct.example/",
          ], 10);
          await w.curl([
            "-k",
            "--resolve",
            `other.example:443:${FAR.web}`,
            "https://other.example/",
          ], 10);
          const blocked = await w.curl([
            "-k",
            "--resolve",
            `blocked.example:443:${FAR.web}`,
            "https://blocked.example/",
          ], 10);
          assert.notEqual(blocked.code, 0);
          const log = (await w.tlsLog()).slice(before).map((e) => e.from);
          assert.deepEqual(
            log,
            [HOST_DIRECT, HOST_SOCKS_EGRESS],
            "SNI direct.example direct, other via SOCKS, blocked never connects",
          );
        });

        await t.step("HTTP Host routes by domain", async () => {
          const direct = await w.curl(["-H", "Host: api.direct.example", `http://${FAR.web}/ip`]);
          assert.equal(direct.stdout, HOST_DIRECT);
          const proxied = await w.curl(["-H", "Host: other.example", `http://${FAR.web}/ip`]);
          assert.equal(proxied.stdout, HOST_SOCKS_EGRESS);
        });

        await t.step(
          "upstream SOCKS stopped: fast failure, tunbox keeps running; restarted: works",
          async () => {
            await w.stopSocks();
            const r = await w.curl([`http://${FAR.web}/small`], 10);
            assert.notEqual(r.code, 0);
            assert.ok(r.ms < 2000, `failure took ${r.ms} ms`);
            assert.ok(w.tunbox!.running, "tunbox still runs");
            await w.startSocks("danted");
            const again = await w.curl([`http://${FAR.web}/small`]);
            assert.equal(again.stdout, "ok", again.stderr);
          },
        );

        await t.step("a SOCKS server answering garbage fails only that connection", async () => {
          await w.stopSocks();
          await w.startSocks("garbage");
          const r = await w.curl([`http://${FAR.web}/small`], 10);
          assert.notEqual(r.code, 0);
          assert.ok(r.ms < 5000, `failure took ${r.ms} ms`);
          assert.ok(w.tunbox!.running, "tunbox still runs");
          await w.stopSocks();
          await w.startSocks("danted");
          const again = await w.curl([`http://${FAR.web}/small`]);
          assert.equal(again.stdout, "ok", again.stderr);
        });

        await t.step("SIGTERM restores the namespace's rules and routes", async () => {
          const status = await w.stopTunbox("SIGTERM");
          assert.equal(status.code, 0, w.tunbox!.stderr.slice(-2000));
          const after = await w.host.snapshot();
          assert.equal(after.rules4, w.before!.rules4);
          assert.equal(after.rules6, w.before!.rules6);
          assert.equal(after.routes4, w.before!.routes4);
          assert.equal(after.routes6, w.before!.routes6);
        });
      } finally {
        await w.close();
      }
    },
  });
}

Deno.test({
  name: "seed scenario with V2Ray's SOCKS inbound (UDP enabled)",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const w = await SeedWorld.start("mixed", "v2ray");
    try {
      await t.step("curl fetches 20 MB through V2Ray, sha256 matching", async () => {
        const out = `${w.dir}/download.bin`;
        const r = await w.curl(["-o", out, `http://${FAR.web}/file?size=${SIZE}&seed=9`], 60);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(await sha256Hex(await Deno.readFile(out)), await sha256Hex(payload(SIZE, 9)));
      });
      await t.step("dig through V2Ray's UDP ASSOCIATE", async () => {
        const r = await w.exec([
          "dig",
          `@${FAR.dns}`,
          "+time=3",
          "+tries=2",
          "+short",
          "v2ray.test",
          "A",
        ]);
        assert.equal(r.stdout.trim(), FAR.web, r.stdout + r.stderr);
      });
      await t.step("SIGTERM restores rules and routes", async () => {
        assert.equal((await w.stopTunbox()).code, 0);
        const after = await w.host.snapshot();
        assert.equal(after.rules4, w.before!.rules4);
        assert.equal(after.routes4, w.before!.routes4);
      });
    } finally {
      await w.close();
    }
  },
});
