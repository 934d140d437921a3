// The Clash API against the JSON shapes public dashboards read (yacd, metacubexd, zashboard),
// written from the Clash/mihomo API documentation and sing-box's `experimental/clashapi`: every
// route through a fake backend, the secret (Bearer; `?token=` on WebSockets only), CORS, the
// WebSocket and chunked streams on a real listener, and the UI files.

import assert from "node:assert/strict";
import {
  type ApiBackend,
  ClashApi,
  ClashApiHandler,
  parseController,
  toClashConnection,
} from "../../src/api/clash_api.ts";
import { LogFeed } from "../../src/api/logs.ts";
import { DASHBOARD_FILES } from "../../src/api/ui.ts";
import { scanDynamicLoads } from "../../scripts/compile.ts";
import { type WorkerCall, WorkerCallFailed } from "../../src/api/worker_calls.ts";
import type { ClashApiOptions, Options } from "../../src/config/types.ts";
import { ConnectionHub, type HubToWorker } from "../../src/conn/hub.ts";
import type { ConnRecord } from "../../src/conn/record.ts";
import { encodePacket } from "../../src/net/dns/packet.ts";
import { setClashModeSource } from "../../src/route/clash_mode.ts";
import { Router } from "../../src/route/router.ts";
import { connRecord as rec } from "../_helpers/conn_record.ts";
import { config } from "../dns/_helpers.ts";
import denoJson from "../../deno.json" with { type: "json" };

const OPTIONS: Options = config({
  inbounds: [
    { type: "mixed", tag: "mixed-in", listen: "127.0.0.1", listen_port: 7890 },
    { type: "tun", tag: "tun-in", address: ["172.19.0.1/30"], stack: "mixed" },
  ],
  outbounds: [
    { type: "selector", tag: "proxy", outbounds: ["hk", "jp", "direct"] },
    { type: "urltest", tag: "auto", outbounds: ["hk", "jp"] },
    { type: "socks", tag: "hk", server: "127.0.0.1", server_port: 1080 },
    { type: "http", tag: "jp", server: "127.0.0.1", server_port: 8080 },
    { type: "direct", tag: "direct" },
    { type: "block", tag: "block" },
  ],
  route: {
    rules: [
      { ip_is_private: true, outbound: "direct" },
      { type: "logical", mode: "or", rules: [{ port: 81 }, { port: 82 }], action: "reject" },
      { clash_mode: "Global", outbound: "proxy" },
    ],
    final: "proxy",
  },
  experimental: { clash_api: { external_controller: "127.0.0.1:0", default_mode: "Rule" } },
});

interface FakeBackend extends ApiBackend {
  calls: WorkerCall[];
  posted: HubToWorker[];
  flushed: string[];
  answer: (call: WorkerCall) => Promise<unknown>;
  currentMode: string;
  choices: Map<string, string>;
}

function backend(live: ConnRecord[] = [], closed: ConnRecord[] = []): FakeBackend {
  const hub = new ConnectionHub();
  const posted: HubToWorker[] = [];
  const link = hub.attach({ name: "w0", post: (m) => posted.push(m) });
  hub.receive(link, {
    type: "conns",
    report: { opened: [...live, ...closed], updates: [], closed },
  });
  const router = new Router({
    rules: OPTIONS.route.rules,
    outbounds: OPTIONS.outbounds,
    final: "proxy",
  });
  const b: FakeBackend = {
    options: OPTIONS,
    workingDirectory: Deno.cwd(),
    connections: hub,
    logs: new LogFeed(),
    router,
    calls: [],
    posted,
    flushed: [],
    currentMode: "Rule",
    choices: new Map([["proxy", "hk"]]),
    answer: (call) =>
      Promise.resolve(call.kind === "groups" ? { auto: { now: "jp", delays: { jp: 42 } } } : 7),
    mode: () => b.currentMode,
    modes: () => ["Rule", "Global", "Direct"],
    setMode(mode) {
      const found = b.modes().find((m) => m.toLowerCase() === mode.toLowerCase());
      if (found) b.currentMode = found;
      return found;
    },
    selected: (g) => b.choices.get(g),
    select(g, m) {
      if (g !== "proxy" || !["hk", "jp", "direct"].includes(m)) return false;
      b.choices.set(g, m);
      return true;
    },
    workerCall(call) {
      b.calls.push(call);
      return b.answer(call);
    },
    flushDns: () => b.flushed.push("dns"),
    flushFakeIp: () => b.flushed.push("fakeip"),
  };
  return b;
}

const API: ClashApiOptions = { access_control_allow_origin: [] };

function handlerFor(b: ApiBackend, options: Partial<ClashApiOptions> = {}) {
  const h = new ClashApiHandler({ ...API, ...options }, b);
  return (path: string, init: RequestInit = {}) => h.handle(new Request(`http://x${path}`, init));
}

async function bodyOf(r: Response): Promise<unknown> {
  return await r.json();
}

Deno.test("`toClashConnection()` has sing-box's shape: string ports, RFC 3339, carrier-first chains", () => {
  const c = toClashConnection(
    rec({
      network: "udp",
      domain: "example.com",
      chain: ["hk", "proxy"],
      outbound: "proxy",
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
      inboundName: "tun-in",
      sniffHost: "example.com",
    },
    upload: 100,
    download: 4096,
    start: "2025-01-02T03:04:05.000Z",
    chains: ["hk", "proxy"],
    rule: "final",
    rulePayload: "",
    end: "2025-01-02T03:04:06.000Z",
    error: "reset",
  });
  assert.deepEqual(toClashConnection(rec({ chain: [], action: "reject" })).chains, ["reject"]);
  assert.equal(
    toClashConnection(rec({ destinationIp: "", destinationHost: "dns.example" })).metadata.host,
    "dns.example",
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

Deno.test("GET /, /version, /configs have the Clash shapes; / in a browser goes to /ui/", async () => {
  const get = handlerFor(backend());
  assert.deepEqual(await bodyOf(await get("/")), { hello: "clash" });
  const html = await get("/", { headers: { accept: "text/html,application/xhtml+xml" } });
  assert.equal(html.status, 307);
  assert.equal(html.headers.get("location"), "http://x/ui/");
  assert.deepEqual(await bodyOf(await get("/version")), {
    version: `tunbox ${denoJson.version}`,
    premium: true,
    meta: true,
  });
  assert.deepEqual(await bodyOf(await get("/configs")), {
    port: 0,
    "socks-port": 0,
    "redir-port": 0,
    "tproxy-port": 0,
    "mixed-port": 7890,
    "allow-lan": false,
    "bind-address": "*",
    mode: "Rule",
    "mode-list": ["Rule", "Global", "Direct"],
    modes: ["Rule", "Global", "Direct"],
    "log-level": "info",
    ipv6: true,
    tun: { enable: true, stack: "mixed" },
  });
});

Deno.test("PATCH /configs switches the mode (case-insensitive); PUT is accepted; bad bodies are 400", async () => {
  const b = backend();
  const call = handlerFor(b);
  assert.equal(
    (await call("/configs", { method: "PATCH", body: '{"mode":"global"}' })).status,
    204,
  );
  assert.equal(b.currentMode, "Global");
  assert.equal((await call("/configs", { method: "PATCH", body: '{"mode":"nope"}' })).status, 204);
  assert.equal(b.currentMode, "Global", "an unknown mode changes nothing (sing-box)");
  const bad = await call("/configs", { method: "PATCH", body: "not json" });
  assert.equal(bad.status, 400);
  assert.deepEqual(await bodyOf(bad), { message: "Body invalid" });
  assert.equal((await call("/configs", { method: "PUT", body: "{}" })).status, 204);
});

Deno.test("GET /proxies lists GLOBAL first, Clash type names, groups with now/all, UDP support", async () => {
  const b = backend();
  const body = await bodyOf(await handlerFor(b)("/proxies")) as {
    proxies: Record<string, Record<string, unknown>>;
  };
  const p = body.proxies;
  assert.deepEqual(Object.keys(p), ["GLOBAL", "proxy", "auto", "hk", "jp", "direct", "block"]);
  assert.deepEqual(p.GLOBAL, {
    type: "Fallback",
    name: "GLOBAL",
    udp: true,
    history: [],
    alive: true,
    all: ["proxy", "auto", "hk", "jp"],
    now: "proxy",
  });
  assert.deepEqual(p.proxy, {
    type: "Selector",
    name: "proxy",
    udp: true,
    history: [],
    alive: false,
    now: "hk",
    all: ["hk", "jp", "direct"],
  });
  assert.equal(p.auto!.type, "URLTest");
  assert.equal(p.auto!.now, "jp", "a urltest's choice comes from the workers");
  assert.deepEqual((p.jp!.history as { delay: number }[]).map((h) => h.delay), [42]);
  assert.equal(p.jp!.udp, false, "HTTP proxies carry no UDP");
  assert.equal(p.hk!.type, "SOCKS");
  assert.equal(p.direct!.type, "Direct");
  assert.equal(p.block!.type, "Reject");
  assert.deepEqual(b.calls, [{ kind: "groups" }]);
});

Deno.test("PUT /proxies/{name} selects a selector's member; errors are sing-box's", async () => {
  const b = backend();
  const call = handlerFor(b);
  const put = (name: string, body: string) => call(`/proxies/${name}`, { method: "PUT", body });
  assert.equal((await put("proxy", '{"name":"jp"}')).status, 204);
  assert.equal(b.choices.get("proxy"), "jp");
  const p = await bodyOf(await call("/proxies/proxy")) as { now: string };
  assert.equal(p.now, "jp");
  const notMember = await put("proxy", '{"name":"auto"}');
  assert.equal(notMember.status, 400);
  assert.deepEqual(await bodyOf(notMember), { message: "Selector update error: not found" });
  const notSelector = await put("auto", '{"name":"hk"}');
  assert.equal(notSelector.status, 400);
  assert.deepEqual(await bodyOf(notSelector), { message: "Must be a Selector" });
  assert.equal((await put("proxy", "{}")).status, 400);
  const missing = await call("/proxies/nothing");
  assert.equal(missing.status, 404);
  assert.deepEqual(await bodyOf(missing), { message: "Resource not found" });
  assert.equal((await call("/proxies/%70roxy")).status, 200, "names are percent-decoded");
});

Deno.test("GET /proxies/{name}/delay answers {delay}, 504 on timeout, 503 on failure, 400 without timeout", async () => {
  const b = backend();
  const get = handlerFor(b);
  const url = encodeURIComponent("http://192.0.2.1/generate_204");
  assert.deepEqual(await bodyOf(await get(`/proxies/hk/delay?url=${url}&timeout=2000`)), {
    delay: 7,
  });
  assert.deepEqual(b.calls.at(-1), {
    kind: "delay",
    tag: "hk",
    url: "http://192.0.2.1/generate_204",
    timeoutMs: 2000,
  });
  const listed = await bodyOf(await get("/proxies/hk")) as { history: { delay: number }[] };
  assert.deepEqual(listed.history.map((h) => h.delay), [7], "the result joins the history");
  b.answer = () => Promise.reject(new WorkerCallFailed("Timeout", true));
  const slow = await get(`/proxies/hk/delay?timeout=100`);
  assert.equal(slow.status, 504);
  assert.deepEqual(await bodyOf(slow), { message: "Timeout" });
  b.answer = () => Promise.reject(new WorkerCallFailed("connection refused"));
  const down = await get(`/proxies/hk/delay?timeout=100`);
  assert.equal(down.status, 503);
  assert.deepEqual(await bodyOf(down), { message: "An error occurred in the delay test" });
  assert.equal((await get("/proxies/hk/delay")).status, 400);
  assert.equal((await get("/proxies/hk/delay?timeout=x")).status, 400);
});

Deno.test("GET /group lists groups; /group/{name}/delay answers member delays", async () => {
  const b = backend();
  const get = handlerFor(b);
  const groups = await bodyOf(await get("/group")) as { proxies: { name: string }[] };
  assert.deepEqual(groups.proxies.map((g) => g.name), ["proxy", "auto"]);
  assert.equal((await get("/group/hk")).status, 404, "not a group");
  b.answer = () => Promise.resolve({ hk: 12, direct: 1 });
  assert.deepEqual(await bodyOf(await get("/group/proxy/delay?timeout=3000")), {
    hk: 12,
    direct: 1,
  });
  assert.equal(b.calls.at(-1)!.kind, "group-delay");
});

Deno.test("/connections: live and closed, totals; DELETE one or all reaches the owning worker", async () => {
  const b = backend([rec({ id: 2, upload: 5, download: 7 })], [rec({ id: 1 })]);
  const call = handlerFor(b);
  const body = await bodyOf(await call("/connections")) as {
    connections: { id: string }[];
    closed: { id: string }[];
    uploadTotal: number;
    downloadTotal: number;
    memory: number;
  };
  assert.deepEqual(body.connections.map((c) => c.id), ["2"]);
  assert.deepEqual(body.closed.map((c) => c.id), ["1"]);
  assert.equal(body.uploadTotal, 105);
  assert.equal(body.downloadTotal, 4103);
  assert.ok(body.memory > 0);
  assert.equal((await call("/connections/2", { method: "DELETE" })).status, 204);
  assert.equal((await call("/connections/999", { method: "DELETE" })).status, 204);
  assert.equal((await call("/connections", { method: "DELETE" })).status, 204);
  const aborts = b.posted.filter((m) => m.type === "conn-abort");
  assert.deepEqual(aborts, [
    { type: "conn-abort", ids: [2], reason: "closed from the Clash API" },
    { type: "conn-abort", ids: null, reason: "closed from the Clash API" },
  ]);
});

Deno.test("GET /rules has {type, payload, proxy}; /rules/explain shows the decision and trace", async () => {
  const b = backend();
  const get = handlerFor(b);
  assert.deepEqual(await bodyOf(await get("/rules")), {
    rules: [
      { type: "default", payload: "ip_is_private=true", proxy: "route(direct)" },
      { type: "logical", payload: "port=81 || port=82", proxy: "reject" },
      { type: "default", payload: "clash_mode=Global", proxy: "route(proxy)" },
    ],
  });
  const ex = await bodyOf(await get("/rules/explain?destination=203.0.113.5:82")) as {
    decision: Record<string, unknown>;
    steps: { index: number; matched: boolean }[];
  };
  assert.deepEqual(ex.decision, {
    action: "reject",
    ruleIndex: 1,
    rule: "port=81 || port=82 => reject",
  });
  assert.deepEqual(ex.steps.map((s) => [s.index, s.matched]), [[0, false], [1, true]]);
  // Rules read this thread's mode (the Box points it at the shared state).
  b.currentMode = "Global";
  setClashModeSource(() => b.currentMode);
  const global = await bodyOf(await get("/rules/explain?destination=example.com:443")) as {
    decision: Record<string, unknown>;
  };
  setClashModeSource(() => "");
  assert.deepEqual(global.decision, {
    action: "route",
    ruleIndex: 2,
    rule: "clash_mode=Global => route(proxy)",
    outbound: "proxy",
  });
  assert.equal((await get("/rules/explain?destination=")).status, 400);
});

Deno.test("GET /dns/query answers through a worker in miekg/dns's JSON shape", async () => {
  const b = backend();
  b.answer = () =>
    Promise.resolve(encodePacket({
      type: "response",
      id: 1,
      flags: 0x8180,
      questions: [{ name: "example.com", type: "A", class: "IN" }],
      answers: [
        { name: "example.com", type: "CNAME", ttl: 60, data: "web.example.com" },
        { name: "web.example.com", type: "A", ttl: 30, data: "192.0.2.8" },
      ],
    }));
  const get = handlerFor(b);
  assert.deepEqual(await bodyOf(await get("/dns/query?name=example.com")), {
    Status: 0,
    Question: [{ Name: "example.com.", Qtype: 1, Qclass: 1 }],
    Server: "internal",
    TC: false,
    RD: true,
    RA: true,
    AD: false,
    CD: false,
    Answer: [
      { name: "example.com.", type: 5, TTL: 60, data: "web.example.com." },
      { name: "web.example.com.", type: 1, TTL: 30, data: "192.0.2.8" },
    ],
  });
  assert.deepEqual(b.calls.at(-1), { kind: "dns-query", name: "example.com", qtype: 1 });
  await get("/dns/query?name=example.com&type=AAAA");
  assert.deepEqual(b.calls.at(-1), { kind: "dns-query", name: "example.com", qtype: 28 });
  const bad = await get("/dns/query?name=example.com&type=NOPE");
  assert.equal(bad.status, 400);
  assert.deepEqual(await bodyOf(bad), { message: "invalid query type" });
});

Deno.test("POST /cache/fakeip/flush and /cache/dns/flush; /providers are empty", async () => {
  const b = backend();
  const call = handlerFor(b);
  assert.equal((await call("/cache/fakeip/flush", { method: "POST" })).status, 204);
  assert.equal((await call("/cache/dns/flush", { method: "POST" })).status, 204);
  assert.deepEqual(b.flushed, ["fakeip", "dns"]);
  assert.deepEqual(await bodyOf(await call("/providers/proxies")), { providers: {} });
  assert.deepEqual(await bodyOf(await call("/providers/rules")), { providers: {} });
  assert.equal((await call("/cache/fakeip/flush")).status, 404, "GET is not a flush");
});

Deno.test("the secret: 401 without it or with a wrong one; ?token= only for WebSockets", async () => {
  const call = handlerFor(backend(), { secret: "s3cret" });
  const no = await call("/version");
  assert.equal(no.status, 401);
  assert.deepEqual(await bodyOf(no), { message: "Unauthorized" });
  assert.equal((await call("/version", { headers: { authorization: "Bearer nope" } })).status, 401);
  assert.equal((await call("/version", { headers: { authorization: "s3cret" } })).status, 401);
  assert.equal(
    (await call("/version", { headers: { authorization: "Bearer s3cret" } })).status,
    200,
  );
  assert.equal((await call("/version?token=s3cret")).status, 401, "not on plain requests");
  const ws = await call("/traffic?token=wrong", { headers: { upgrade: "websocket" } });
  assert.equal(ws.status, 401);
  const ui = await call("/ui/");
  assert.equal(ui.status, 200, "the UI's files need no secret (it asks for one)");
});

Deno.test("CORS: listed origins, preflights with private network access", async () => {
  const call = handlerFor(backend(), {
    access_control_allow_origin: ["http://ui.local"],
    access_control_allow_private_network: true,
  });
  const ok = await call("/version", { headers: { origin: "http://ui.local" } });
  assert.equal(ok.headers.get("access-control-allow-origin"), "http://ui.local");
  const other = await call("/version", { headers: { origin: "http://evil" } });
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  const pre = await call("/connections", {
    method: "OPTIONS",
    headers: {
      origin: "http://ui.local",
      "access-control-request-method": "DELETE",
      "access-control-request-headers": "authorization",
      "access-control-request-private-network": "true",
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "http://ui.local");
  assert.equal(pre.headers.get("access-control-allow-methods"), "GET, POST, PUT, PATCH, DELETE");
  assert.equal(pre.headers.get("access-control-allow-headers"), "authorization");
  assert.equal(pre.headers.get("access-control-allow-private-network"), "true");
  const any = handlerFor(backend());
  assert.equal(
    (await any("/version", { headers: { origin: "http://a" } })).headers.get(
      "access-control-allow-origin",
    ),
    "*",
  );
});

Deno.test("/ui/ serves the built-in dashboard; /ui redirects; paths cannot leave the root", async () => {
  const get = handlerFor(backend());
  const index = await get("/ui/");
  assert.equal(index.status, 200);
  assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(await index.text(), /<title>tunbox<\/title>/);
  assert.equal(
    (await get("/ui/app.js")).headers.get("content-type"),
    "text/javascript; charset=utf-8",
  );
  const redirect = await get("/ui");
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get("location"), "http://x/ui/");
  assert.equal((await get("/ui/%2e%2e/deno.json")).status, 404);
  assert.equal((await get("/ui/nothing.js")).status, 404);
});

Deno.test("`external_ui` serves a directory; an empty one falls back to the built-in dashboard", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/ui/assets`, { recursive: true });
    await Deno.writeTextFile(`${dir}/ui/index.html`, "<h1>yacd</h1>");
    await Deno.writeTextFile(`${dir}/ui/assets/a.css`, "b{}");
    await Deno.writeTextFile(`${dir}/secret.txt`, "no");
    const b = { ...backend(), workingDirectory: dir };
    const get = handlerFor(b, { external_ui: "ui" });
    assert.equal(await (await get("/ui/")).text(), "<h1>yacd</h1>");
    const css = await get("/ui/assets/a.css");
    assert.equal(css.headers.get("content-type"), "text/css; charset=utf-8");
    assert.equal(await css.text(), "b{}");
    assert.equal((await get("/ui/../secret.txt")).status, 404);
    assert.equal((await get("/ui/%2E%2E%2Fsecret.txt")).status, 404);
    await Deno.mkdir(`${dir}/empty`);
    const fallback = handlerFor(b, { external_ui: "empty" });
    assert.match(await (await fallback("/ui/")).text(), /<title>tunbox<\/title>/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Opens a WebSocket and collects its first `n` messages (parsed). */
function wsMessages(url: string, n: number, timeoutMs = 5000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const got: unknown[] = [];
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`timed out with ${got.length} of ${n} messages from ${url}`));
    }, timeoutMs);
    ws.onmessage = (e) => {
      got.push(JSON.parse(e.data));
      if (got.length === n) {
        clearTimeout(timer);
        ws.close();
        resolve(got);
      }
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error(`WebSocket ${url} failed`));
    };
  });
}

Deno.test({
  name: "WebSocket streams: /traffic, /memory, /logs, /connections?interval; chunked /traffic",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const b = backend([rec({ id: 4 })]);
    const api = ClashApi.start({ ...API, external_controller: "127.0.0.1:0", secret: "k" }, b);
    const base = `ws://${api.address}`;
    try {
      const [traffic] = await wsMessages(`${base}/traffic?token=k`, 1);
      assert.deepEqual(traffic, { up: 0, down: 0 });
      const memory = await wsMessages(`${base}/memory?token=k`, 2) as { inuse: number }[];
      assert.deepEqual(memory[0], { inuse: 0, oslimit: 0 }, "sing-box starts the chart at 0");
      assert.ok(memory[1]!.inuse > 0);
      const conns = await wsMessages(`${base}/connections?interval=200&token=k`, 2) as {
        connections: { id: string }[];
      }[];
      assert.deepEqual(conns.map((c) => c.connections.map((x) => x.id)), [["4"], ["4"]]);
      const logs = wsMessages(`${base}/logs?level=warning&token=k`, 2);
      await new Promise((r) => setTimeout(r, 200));
      const t = Date.now();
      b.logs.push(
        { level: "info", message: "tun: hidden below warning", time: t },
        { level: "warning", message: "dns: slow server", time: t },
        { level: "error", message: "conn: [3] refused", time: t },
      );
      assert.deepEqual(await logs, [
        { type: "warning", payload: "dns: slow server" },
        { type: "error", payload: "conn: [3] refused" },
      ]);
      await assert.rejects(wsMessages(`${base}/traffic?token=wrong`, 1, 2000), /failed/);
      const res = await fetch(`http://${api.address}/traffic`, {
        headers: { authorization: "Bearer k" },
      });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      const { value } = await reader.read();
      assert.equal(value, '{"up":0,"down":0}\n');
      await reader.cancel();
      assert.equal(
        (await fetch(`http://${api.address}/logs?level=loud`, {
          headers: { authorization: "Bearer k" },
        })).status,
        400,
      );
    } finally {
      await api.close();
    }
  },
});

Deno.test("`ClashApi.start()` names a taken address; close() ends open streams", async () => {
  const b = backend();
  const api = ClashApi.start({ ...API, external_controller: "127.0.0.1:0" }, b);
  try {
    assert.throws(
      () => ClashApi.start({ ...API, external_controller: api.address }, b),
      new RegExp(`^Error: start clash-api: listen ${api.address} failed: `),
    );
    const ws = new WebSocket(`ws://${api.address}/logs`);
    const closed = new Promise((resolve) => ws.onclose = resolve);
    await new Promise((resolve) => ws.onopen = resolve);
    await api.close();
    await closed;
  } finally {
    await api.close();
  }
});

Deno.test("the built-in dashboard's files are in the compile's include list (embedded)", async () => {
  const scan = await scanDynamicLoads();
  const root = new URL("../../", import.meta.url).pathname;
  for (const url of Object.values(DASHBOARD_FILES)) {
    assert.ok(scan.includes.includes(url.pathname.slice(root.length)), url.pathname);
  }
});
