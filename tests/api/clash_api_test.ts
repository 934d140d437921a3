// The Clash API subset: record conversion (sing-box's connection shape), the handler's
// routes, secret and CORS, a real listener, and its wiring into Box.

import assert from "node:assert/strict";
import {
  ClashApi,
  clashHandler,
  parseController,
  toClashConnection,
} from "../../src/api/clash_api.ts";
import type { ClashApiOptions } from "../../src/config/types.ts";
import { loadConfig } from "../../src/config/load.ts";
import { Box } from "../../src/box.ts";
import { ConnectionHub } from "../../src/conn/hub.ts";
import type { ConnRecord } from "../../src/conn/record.ts";
import { connRecord as rec } from "../_helpers/conn_record.ts";
import denoJson from "../../deno.json" with { type: "json" };

const OPTS: ClashApiOptions = { access_control_allow_origin: [] };

/** A hub holding `closed` as closed and `live` as live connections of one fake worker. */
function hubWith(closed: ConnRecord[] = [], live: ConnRecord[] = []): ConnectionHub {
  const hub = new ConnectionHub();
  const link = hub.attach({ name: "test", post: () => {} });
  hub.receive(link, {
    type: "conns",
    report: { opened: [...live, ...closed], updates: [], closed },
  });
  return hub;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("`toClashConnection()` has sing-box's shape with string ports and RFC 3339 times", () => {
  const c = toClashConnection(
    rec({
      network: "udp",
      domain: "example.com",
      error: "reset",
      end: Date.UTC(2025, 0, 2, 3, 4, 6),
    }),
  );
  assert.deepEqual(c, {
    id: "17",
    metadata: {
      network: "udp",
      type: "tun/tun-in",
      sourceIP: "198.18.0.1",
      destinationIP: "203.0.113.10",
      sourcePort: "40312",
      destinationPort: "80",
      host: "example.com",
      dnsMode: "normal",
      processPath: "",
    },
    upload: 100,
    download: 4096,
    start: "2025-01-02T03:04:05.000Z",
    chains: ["proxy"],
    rule: "final",
    rulePayload: "",
    end: "2025-01-02T03:04:06.000Z",
    error: "reset",
  });
  assert.deepEqual(toClashConnection(rec({ outbound: "", chain: [] })).chains, []);
  assert.deepEqual(
    toClashConnection(rec({ action: "reject", outbound: "", chain: [] })).chains,
    ["reject"],
  );
  assert.equal(
    toClashConnection(rec({ ruleIndex: 0, rule: "ip_is_private=true => route(direct)" })).rule,
    "ip_is_private=true => route(direct)",
  );
});

Deno.test("`parseController()` reads host:port, [v6]:port and :port; rejects the rest", () => {
  assert.deepEqual(parseController("127.0.0.1:9090"), { hostname: "127.0.0.1", port: 9090 });
  assert.deepEqual(parseController("[::1]:9091"), { hostname: "::1", port: 9091 });
  assert.deepEqual(parseController(":9092"), { hostname: "0.0.0.0", port: 9092 });
  for (const bad of ["127.0.0.1", "127.0.0.1:", "h:99999", "h:x"]) {
    assert.throws(() => parseController(bad), RangeError, bad);
  }
});

Deno.test("/connections lists live connections and the closed ring with totals", async () => {
  const h = clashHandler(OPTS, hubWith([rec({ id: 1 })], [rec({ id: 2, upload: 5, download: 7 })]));
  const body = await (await h(new Request("http://x/connections"))).json();
  assert.deepEqual(body.connections.map((c: { id: string }) => c.id), ["2"]);
  assert.deepEqual(body.closed.map((c: { id: string }) => c.id), ["1"]);
  assert.equal(body.uploadTotal, 105);
  assert.equal(body.downloadTotal, 4103);
  assert.ok(body.memory > 0);
});

Deno.test("the handler serves /, /version and /connections; 404 and 405 otherwise", async () => {
  const h = clashHandler(OPTS, hubWith([rec()]));
  const get = (path: string, init?: RequestInit) => h(new Request(`http://x${path}`, init));
  assert.deepEqual(await (await get("/")).json(), { hello: "clash" });
  assert.deepEqual(await (await get("/version")).json(), {
    version: `tunbox ${denoJson.version}`,
    premium: true,
    meta: true,
  });
  const conns = await (await get("/connections")).json();
  assert.equal(conns.uploadTotal, 100);
  assert.equal(conns.downloadTotal, 4096);
  assert.equal(conns.closed[0].metadata.destinationIP, "203.0.113.10");
  const missing = await get("/nothing");
  assert.equal(missing.status, 404);
  assert.match((await missing.json()).message, /\/nothing/);
  assert.equal((await get("/", { method: "DELETE" })).status, 405);
  assert.equal((await get("/")).headers.get("access-control-allow-origin"), "*");
});

Deno.test("the handler checks the secret (Bearer header or ?token=)", async () => {
  const h = clashHandler({ ...OPTS, secret: "s3" }, hubWith());
  const no = await h(new Request("http://x/version"));
  assert.equal(no.status, 401);
  assert.deepEqual(await no.json(), { message: "Unauthorized" });
  const wrong = await h(
    new Request("http://x/version", { headers: { authorization: "Bearer x" } }),
  );
  assert.equal(wrong.status, 401);
  const bearer = await h(
    new Request("http://x/version", { headers: { authorization: "Bearer s3" } }),
  );
  assert.equal(bearer.status, 200);
  assert.equal((await h(new Request("http://x/version?token=s3"))).status, 200);
});

Deno.test("the handler answers CORS for listed origins and preflights", async () => {
  const h = clashHandler({
    access_control_allow_origin: ["http://ui.local"],
    access_control_allow_private_network: true,
  }, hubWith());
  const ok = await h(new Request("http://x/", { headers: { origin: "http://ui.local" } }));
  assert.equal(ok.headers.get("access-control-allow-origin"), "http://ui.local");
  const other = await h(new Request("http://x/", { headers: { origin: "http://evil" } }));
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  const pre = await h(new Request("http://x/connections", { method: "OPTIONS" }));
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-private-network"), "true");
});

Deno.test("`ClashApi.start()` listens; a taken port names the address", async () => {
  const port = freePort();
  const api = ClashApi.start({ ...OPTS, external_controller: `127.0.0.1:${port}` }, hubWith());
  try {
    assert.equal(api.address, `127.0.0.1:${port}`);
    const r = await fetch(`http://127.0.0.1:${port}/version`);
    assert.equal((await r.json()).version, `tunbox ${denoJson.version}`);
    assert.throws(
      () => ClashApi.start({ ...OPTS, external_controller: `127.0.0.1:${port}` }, hubWith()),
      new RegExp(`^Error: start clash-api: listen 127.0.0.1:${port} failed: `),
    );
  } finally {
    await api.close();
  }
  await assert.rejects(fetch(`http://127.0.0.1:${port}/version`));
});

Deno.test({
  name: "`Box` starts the API from experimental.clash_api and stops it on close",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const api = freePort();
    const socks = freePort();
    const config = {
      log: { level: "error" },
      inbounds: [{ type: "socks", tag: "in", listen: "127.0.0.1", listen_port: socks }],
      outbounds: [{ type: "direct", tag: "direct" }],
      experimental: { clash_api: { external_controller: `127.0.0.1:${api}` } },
    };
    const loaded = await loadConfig([{
      type: "text",
      name: "test.json",
      text: JSON.stringify(config),
    }]);
    assert.deepEqual(loaded.errors, []);
    const box = await Box.create({
      options: loaded.options!,
      configPaths: [],
      workingDirectory: Deno.cwd(),
      dryRun: false,
    });
    try {
      await box.start();
      const r = await fetch(`http://127.0.0.1:${api}/connections`);
      const body = await r.json();
      assert.deepEqual(body.closed, []);
      assert.equal(body.uploadTotal, 0);
    } finally {
      await box.close();
    }
    await assert.rejects(fetch(`http://127.0.0.1:${api}/`));
  },
});
