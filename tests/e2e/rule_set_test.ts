/**
 * Remote rule-sets end to end, in namespaces: a binary rule-set served by an HTTP server in the
 * far namespace is downloaded through the SOCKS outbound (`download_detour`), and routes
 * matching domains (by sniffed TLS SNI) and IPs direct, the rest through the proxy. After a
 * restart with the HTTP server stopped, the copy kept in `experimental.cache_file` is used.
 */

import assert from "node:assert/strict";
import { CAN_RUN_E2E, FAR, HOST_DIRECT, HOST_SOCKS_EGRESS, SeedWorld } from "./_world.ts";
import { emptyHeadlessRule } from "../../src/config/decode_rule_set.ts";
import { writeSrs } from "../../src/ruleset/srs.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const RULES_HOST = "203.0.113.40";
const DIRECT_IP = "203.0.113.60";

Deno.test({
  name:
    "remote rule-set downloaded through SOCKS routes by SNI and IP; the cache survives a restart",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    let cacheDir = "";
    const w = await SeedWorld.start(
      "mixed",
      "danted",
      [{ rule_set: ["direct-set"], outbound: "direct" }],
      (config) => {
        const route = config.route as Record<string, unknown>;
        // This test is about the set, not sniffing under load: a parallel test run can keep
        // curl from sending its ClientHello within the default 300 ms.
        for (const r of route.rules as Record<string, unknown>[]) {
          if (r.action === "sniff") r.timeout = "5s";
        }
        route.rule_set = [{
          type: "remote",
          tag: "direct-set",
          format: "binary",
          url: `http://${RULES_HOST}:8080/direct.srs`,
          download_detour: "v2rayu-proxy",
          update_interval: "1h",
        }];
        cacheDir = Deno.makeTempDirSync({ prefix: "tunbox-e2e-cache-" });
        config.experimental = { cache_file: { enabled: true, path: `${cacheDir}/cache.db` } };
      },
      undefined,
      "socks-first",
      async (world) => {
        // Before tunbox starts: the rule-set file and its server in the far namespace.
        const srs = writeSrs([
          { ...emptyHeadlessRule(), domain_suffix: ["ruleset.example"] },
          { ...emptyHeadlessRule(), ip_cidr: [`${DIRECT_IP}/32`] },
        ], 2);
        await Deno.writeFile(`${world.dir}/direct.srs`, srs);
        for (const a of [RULES_HOST, DIRECT_IP]) {
          await world.far.ip("addr", "add", `${a}/32`, "dev", "lo");
        }
        const server = world.spawnFar("rule-set server", [
          Deno.execPath(),
          "run",
          "-A",
          `${ROOT}tests/e2e/_rule_set_server.ts`,
          "--listen",
          `${RULES_HOST}:8080`,
          "--dir",
          world.dir,
          "--ip",
          `${DIRECT_IP}:80`,
        ]);
        await server.waitFor(/ready/);
      },
    );
    try {
      await t.step("the set is downloaded through the SOCKS outbound", async () => {
        await w.tunbox!.waitFor(/updated rule-set "direct-set" \(2 rules\)/, 20_000);
        const log = JSON.parse(
          (await w.far.exec(["curl", "-sS", "-m", "5", `http://${RULES_HOST}:8080/log`])).stdout,
        ) as { path: string; from: string; status: number }[];
        assert.deepEqual(
          log.filter((e) => e.path === "/direct.srs").map((e) => [e.from, e.status]),
          [[HOST_SOCKS_EGRESS, 200]],
        );
      });

      await t.step("a domain in the set (TLS SNI) goes direct, others through SOCKS", async () => {
        const before = (await w.tlsLog()).length;
        for (const name of ["www.ruleset.example", "other.example"]) {
          await w.curl(["-k", "--resolve", `${name}:443:${FAR.web}`, `https://${name}/`], 10);
        }
        const log = (await w.tlsLog()).slice(before).map((e) => e.from);
        assert.deepEqual(log, [HOST_DIRECT, HOST_SOCKS_EGRESS]);
      });

      await t.step("an IP in the set goes direct, others through SOCKS", async () => {
        assert.equal((await w.curl([`http://${DIRECT_IP}/ip`])).stdout, HOST_DIRECT);
        assert.equal((await w.curl([`http://${FAR.web}/ip`])).stdout, HOST_SOCKS_EGRESS);
      });

      await t.step("restarted with the HTTP server gone, the cached set is used", async () => {
        const status = await w.stopTunbox("SIGTERM");
        assert.equal(status.code, 0, w.tunbox!.stderr.slice(-2000));
        await w.far.exec(["ip", "addr", "del", `${RULES_HOST}/32`, "dev", "lo"]);
        await w.startTunbox();
        await w.tunbox!.waitFor(/loaded rule-set "direct-set" from the cache/);
        assert.equal((await w.curl([`http://${DIRECT_IP}/ip`])).stdout, HOST_DIRECT);
        assert.equal((await w.curl([`http://${FAR.web}/ip`])).stdout, HOST_SOCKS_EGRESS);
        // The refreshed download is not due for an hour, and would fail: still running.
        assert.ok(w.tunbox!.running);
      });
    } finally {
      await w.close();
      if (cacheDir) await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
    }
  },
});
