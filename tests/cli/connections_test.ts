// `tunbox connections`: the table's columns, order, widths and speeds, and the command against
// a real API listener (`--once`, `--json`, the config's address and secret, a wrong secret).

import assert from "node:assert/strict";
import { ClashApi, type ClashConnections, toClashConnection } from "../../src/api/clash_api.ts";
import { LogFeed } from "../../src/api/logs.ts";
import { renderTable, shortBytes, speedsBetween } from "../../src/cli/connections.ts";
import { ConnectionHub } from "../../src/conn/hub.ts";
import { Router } from "../../src/route/router.ts";
import { connRecord } from "../_helpers/conn_record.ts";
import { config } from "../dns/_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

function snap(conns: ReturnType<typeof connRecord>[], up = 0, down = 0): ClashConnections {
  return {
    uploadTotal: up,
    downloadTotal: down,
    memory: 50 << 20,
    connections: conns.map(toClashConnection),
    closed: [],
  };
}

Deno.test("`shortBytes()` fits in five characters with binary units", () => {
  assert.deepEqual([0, 999, 1536, 10 * 1024 * 1024, 5.5 * 2 ** 30].map(shortBytes), [
    "0B",
    "999B",
    "1.5K",
    "10M",
    "5.5G",
  ]);
});

Deno.test("`renderTable()` lists the busiest first with rule, chain and speeds, within the width", () => {
  const a = connRecord({ id: 1, domain: "a.example", download: 1000, chain: ["hk", "proxy"] });
  const b = connRecord({
    id: 2,
    destinationPort: 443,
    download: 5000,
    rule: "port=443 => route(direct)",
  });
  const prev = snap([{ ...a, download: 0 }, { ...b, download: 0 }], 0, 0);
  const next = snap([a, b], 200, 6000);
  const speeds = speedsBetween(prev, next, 2);
  assert.equal(speeds.down.get("2"), 2500);
  assert.equal(speeds.totalDown, 3000);
  const now = Date.UTC(2025, 0, 2, 3, 5, 10);
  const lines = renderTable(next, speeds, 160, Infinity, now);
  assert.match(
    lines[0]!,
    /^2 connection\(s\) {3}↑ 100B\/s ↓ 2\.9K\/s {3}total ↑ 200B ↓ 5\.9K {3}memory 50M$/,
  );
  assert.match(lines[1]!, /^ID +NET +DESTINATION +RULE +CHAIN +↑\/s +↓\/s +↑ +↓ +AGE$/);
  assert.match(
    lines[2]!,
    /^2 +tcp +203\.0\.113\.10:443 +port=443 => route\(direct\) +proxy +0B +2\.4K +100B +4\.9K +1m05$/,
  );
  assert.match(lines[3]!, /^1 +tcp +a\.example:80 +final +proxy>hk /);
  for (const l of lines) assert.ok(l.length <= 160, l);
  const cut = renderTable(next, speeds, 120, Infinity, now);
  assert.match(cut[2]!, / port=443 => route\(di… /, "a long rule is cut with an ellipsis");
  const narrow = renderTable(next, speeds, 60, 1, now);
  assert.equal(narrow.length, 4, "summary, header, one row, the rest counted");
  assert.equal(narrow[3], "… 1 more");
  for (const l of narrow) assert.ok(l.length <= 60, l);
});

Deno.test({
  name: "`tunbox connections --once` prints the live table from a running API; 401s are named",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const hub = new ConnectionHub();
    const link = hub.attach({ name: "w", post: () => {} });
    hub.receive(link, {
      type: "conns",
      report: {
        opened: [connRecord({ id: 42, domain: "video.example", chain: ["hk", "proxy"] })],
        updates: [],
        closed: [],
      },
    });
    const options = config({ outbounds: [{ type: "direct", tag: "direct" }] });
    const api = ClashApi.start({
      external_controller: "127.0.0.1:0",
      secret: "k",
      access_control_allow_origin: [],
    }, {
      options,
      workingDirectory: Deno.cwd(),
      connections: hub,
      logs: new LogFeed(),
      router: new Router({ rules: [], outbounds: options.outbounds }),
      mode: () => "",
      modes: () => [],
      setMode: () => undefined,
      selected: () => undefined,
      select: () => false,
      workerCall: () => Promise.reject(new Error("none")),
      flushDns: () => {},
      flushFakeIp: () => {},
    });
    const dir = await Deno.makeTempDir();
    try {
      const tunbox = (...args: string[]) =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `${ROOT}main.ts`, "connections", ...args],
          cwd: dir,
          stdout: "piped",
          stderr: "piped",
        }).output();
      const dec = new TextDecoder();
      const table = await tunbox("--api", api.address, "--secret", "k", "--once");
      assert.equal(table.code, 0, dec.decode(table.stderr));
      const out = dec.decode(table.stdout);
      assert.match(out, /^1 connection\(s\)/);
      assert.match(out, /\n42 +tcp +video\.example:80 +final +proxy>hk/);
      // From the config: external_controller and secret.
      await Deno.writeTextFile(
        `${dir}/config.json`,
        JSON.stringify({
          outbounds: [{ type: "direct", tag: "direct" }],
          experimental: { clash_api: { external_controller: api.address, secret: "k" } },
        }),
      );
      const json = await tunbox("--json");
      assert.equal(json.code, 0, dec.decode(json.stderr));
      assert.deepEqual(
        JSON.parse(dec.decode(json.stdout)).connections.map((c: { id: string }) => c.id),
        ["42"],
      );
      const wrong = await tunbox("--api", api.address, "--secret", "nope", "--once");
      assert.equal(wrong.code, 1);
      assert.match(dec.decode(wrong.stderr), /refused the secret \(401\)/);
    } finally {
      await api.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
