/**
 * Living with a real network (issue 20), end to end in throwaway namespaces: tunbox started
 * before its SOCKS server, and (below) network changes during downloads, honest ping and
 * reloads that keep flows.
 */

import assert from "node:assert/strict";
import { CAN_RUN_E2E, FAR, HOST_SOCKS_EGRESS, SeedWorld } from "./_world.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "tunbox started before the SOCKS server waits for it: no connection refused",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const w = await SeedWorld.start("mixed", "danted", [], undefined, undefined, "tunbox-first");
    try {
      const tunbox = w.tunbox!;
      await tunbox.waitFor(/waiting up to 5\.0 s for local proxy outbound\/socks\[v2rayu-proxy\]/);
      // A client keeps fetching through everything that follows: before the routes are in, its
      // connections go straight out; after, through the TUN and the SOCKS server.
      const results: { ok: boolean; at: number; body: string; error: string }[] = [];
      let done = false;
      const client = (async () => {
        while (!done) {
          const r = await w.curl(["--connect-timeout", "3", `http://${FAR.web}/ip`], 5);
          results.push({ ok: r.code === 0, at: Date.now(), body: r.stdout, error: r.stderr });
          await sleep(50);
        }
      })();
      await sleep(1500);
      assert.ok(!/tunbox started/.test(tunbox.stderr + tunbox.stdout), "started before the proxy");
      const socksUp = Date.now();
      await w.startSocks("danted");
      await tunbox.waitFor(/tunbox started/);
      await sleep(2000);
      done = true;
      await client;
      const log = tunbox.stderr + tunbox.stdout;
      const waiting = log.search(/waiting up to .* local proxy/);
      const ready = log.search(
        /local proxy outbound\/socks\[v2rayu-proxy\] at 127\.0\.0\.1:1080 is ready after \d+\.\d\d s/,
      );
      const routes = log.search(/TUN device utun8 is up/);
      assert.ok(waiting >= 0 && ready > waiting && routes > ready, log.slice(-3000));
      const failed = results.filter((r) => !r.ok);
      assert.deepEqual(failed, [], `failed fetches (SOCKS up at ${socksUp})`);
      const viaSocks = results.filter((r) => r.body === HOST_SOCKS_EGRESS);
      assert.ok(viaSocks.length >= 5, `fetches through the SOCKS server: ${viaSocks.length}`);
      assert.ok(viaSocks.every((r) => r.at > socksUp));
    } finally {
      await w.close();
    }
  },
});

Deno.test({
  name: "a local SOCKS server that stops: connections fail fast with one clear log line",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const w = await SeedWorld.start("mixed", "danted");
    try {
      const first = await w.curl([`http://${FAR.web}/ip`]);
      assert.equal(first.stdout, HOST_SOCKS_EGRESS, first.stderr);
      await w.stopSocks();
      for (let i = 0; i < 3; i++) {
        const r = await w.curl(["--connect-timeout", "5", `http://${FAR.web}/ip`], 10);
        assert.notEqual(r.code, 0);
        assert.ok(r.ms < 1000, `failed after ${r.ms.toFixed(0)} ms`);
      }
      const tunbox = w.tunbox!;
      await tunbox.waitFor(
        /socks outbound "v2rayu-proxy": server 127\.0\.0\.1:1080 is down \(.*\); new connections through it fail until it is back/,
      );
      await w.startSocks("danted");
      const back = await w.curl([`http://${FAR.web}/ip`]);
      assert.equal(back.stdout, HOST_SOCKS_EGRESS, back.stderr);
      await tunbox.waitFor(/socks outbound "v2rayu-proxy": server 127\.0\.0\.1:1080 is back/);
      const log = tunbox.stderr + tunbox.stdout;
      // One warning per worker at most (each worker has its own outbound), not one per connection.
      const warnings = log.match(/server 127\.0\.0\.1:1080 is down/g) ?? [];
      assert.ok(warnings.length <= 2, `${warnings.length} warnings`);
    } finally {
      await w.close();
    }
  },
});
