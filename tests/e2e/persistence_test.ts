/**
 * `experimental.cache_file` across real restarts of `tunbox run`: a FakeIP address handed out
 * before a restart (graceful, then a crash) still reaches its domain after it, and a selector
 * starts on the member stored in the cache file rather than its `default`.
 */

import assert from "node:assert/strict";
import { CacheFile } from "../../src/store/cache_file.ts";
import { CAN_RUN_E2E, FAR, HOST_DIRECT, HOST_SOCKS_EGRESS, SeedWorld } from "./_world.ts";

/** A resolver address the host "uses": nothing answers there; tunbox hijacks the queries. */
const SYSTEM_RESOLVER = "192.0.2.53";

Deno.test({
  name: "cache_file keeps FakeIP mappings and the selector's choice across tunbox restarts",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const stateDir = await Deno.makeTempDir({ prefix: "tunbox-state-" });
    const cachePath = `${stateDir}/cache.db`;
    // The stored choice the selector must start on (its default is the SOCKS proxy).
    const seed = CacheFile.open({ enabled: true, path: cachePath }, "/");
    seed.storeSelected("pick", "direct");
    seed.storeMode("direct"); // restored case-insensitively as "Direct"
    seed.close();
    let config: Record<string, unknown> = {};
    const w = await SeedWorld.start(
      "mixed",
      "danted",
      [
        { protocol: "dns", action: "hijack-dns" },
        { domain_suffix: ["fake.example"], outbound: "direct" },
        { domain: ["pick.example"], outbound: "pick" },
        { clash_mode: "Direct", domain: ["mode.example"], outbound: "direct" },
      ],
      (c) => {
        c.dns = {
          servers: [
            { tag: "far", type: "udp", server: FAR.dns, detour: "direct" },
            { tag: "fake", type: "fakeip", inet4_range: "198.19.0.0/16" },
          ],
          rules: [{ domain_suffix: ["fake.example"], server: "fake" }],
          final: "far",
        };
        (c.outbounds as unknown[]).push({
          type: "selector",
          tag: "pick",
          outbounds: ["v2rayu-proxy", "direct"],
          default: "v2rayu-proxy",
        });
        c.experimental = {
          cache_file: { enabled: true, path: cachePath, store_fakeip: true },
          clash_api: { default_mode: "Rule" },
        };
        config = c;
      },
    ).catch(async (e) => {
      await Deno.remove(stateDir, { recursive: true });
      throw e;
    });
    try {
      const dig = async (name: string) => {
        const r = await w.exec([
          "dig",
          `@${SYSTEM_RESOLVER}`,
          "+time=3",
          "+tries=1",
          "+short",
          name,
          "A",
        ]);
        return r.stdout.trim();
      };
      const fetchVia = (fake: string) =>
        w.curl(["--resolve", `web.fake.example:80:${fake}`, "http://web.fake.example/ip"], 10);

      let fake = "";
      /** Where `pick` sends a connection: the far side reports the source it saw. */
      const viaPick = () =>
        w.curl(["--resolve", `pick.example:80:${FAR.web}`, "http://pick.example/ip"], 10);

      await t.step("the selector starts on the stored member, not its default", async () => {
        const r = await viaPick();
        assert.equal(r.code, 0, r.stderr + w.tunbox!.stderr.slice(-1500));
        assert.equal(r.stdout, HOST_DIRECT, "stored choice: direct (default would be SOCKS)");
      });

      /** Where a connection to mode.example goes: direct only in the Clash mode "Direct". */
      const viaMode = () =>
        w.curl(["--resolve", `mode.example:80:${FAR.web}`, "http://mode.example/ip"], 10);

      await t.step("the Clash mode stored in the cache file is in force at start", async () => {
        assert.match(w.tunbox!.stderr, /clash mode: Direct \(modes: Rule, Direct\)/);
        const r = await viaMode();
        assert.equal(r.code, 0, r.stderr + w.tunbox!.stderr.slice(-1500));
        assert.equal(r.stdout, HOST_DIRECT, "clash_mode Direct matched");
      });

      await t.step("a FakeIP domain gets a fake address and reaches its domain", async () => {
        fake = await dig("web.fake.example");
        assert.match(fake, /^198\.19\.\d+\.\d+$/);
        const r = await fetchVia(fake);
        assert.equal(r.code, 0, r.stderr + w.tunbox!.stderr.slice(-1500));
        assert.equal(r.stdout, HOST_DIRECT);
      });

      await t.step(
        "after a clean restart the old fake address still reaches its domain",
        async () => {
          assert.equal((await w.stopTunbox("SIGTERM")).code, 0);
          const stored = CacheFile.open({ enabled: true, path: cachePath }, "/");
          assert.equal(stored.fakeIpLoadDomain("web.fake.example", false)?.join("."), fake);
          stored.close();
          await w.startTunbox();
          assert.match(w.tunbox!.stderr, /restored 1 FakeIP mapping\(s\) from the cache file/);
          const r = await fetchVia(fake); // no DNS query in between
          assert.equal(r.code, 0, r.stderr + w.tunbox!.stderr.slice(-1500));
          assert.equal(r.stdout, HOST_DIRECT);
          const again = await dig("web.fake.example");
          assert.equal(again, fake, w.tunbox!.stderr.slice(-4000));
        },
      );

      await t.step("after a crash, mappings made a second before it survive too", async () => {
        const other = await dig("other.fake.example");
        assert.match(other, /^198\.19\.\d+\.\d+$/);
        assert.notEqual(other, fake);
        await new Promise((r) => setTimeout(r, 2500)); // the 1 s save has run
        await w.stopTunbox("SIGKILL");
        await w.startTunbox();
        assert.match(w.tunbox!.stderr, /restored 2 FakeIP mapping\(s\)/);
        const r = await w.curl(
          ["--resolve", `other.fake.example:80:${other}`, "http://other.fake.example/ip"],
          10,
        );
        assert.equal(r.code, 0, r.stderr + w.tunbox!.stderr.slice(-1500));
        assert.equal(r.stdout, HOST_DIRECT);
      });

      await t.step(
        "without the cache file: the old address is refused, defaults return",
        async () => {
          await w.stopTunbox("SIGTERM");
          config.experimental = { clash_api: { default_mode: "Rule" } };
          await Deno.writeTextFile(w.configPath, JSON.stringify(config, null, 2));
          await w.startTunbox();
          const r = await fetchVia(fake);
          assert.notEqual(r.code, 0, "no mapping: refused");
          assert.match(w.tunbox!.stderr, /missing fakeip record/);
          // And the selector is back on its default, the mode on default_mode: SOCKS for both.
          const via = await viaPick();
          assert.equal(via.stdout, HOST_SOCKS_EGRESS, via.stderr);
          const mode = await viaMode();
          assert.equal(mode.stdout, HOST_SOCKS_EGRESS, mode.stderr);
        },
      );
    } finally {
      await w.close();
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
