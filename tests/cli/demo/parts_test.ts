// The demo's parts on their own: requirement sentence, payload, far services (HTTP and DNS),
// the small HTTP client, the embedded configs (they must load), dispatch and child commands.

import assert from "node:assert/strict";
import { demoRequirement } from "../../../src/cli/demo/run.ts";
import { demoPayload, sha256Hex } from "../../../src/cli/demo/payload.ts";
import { farDnsAnswer, farHttpHandler } from "../../../src/cli/demo/far.ts";
import { httpGet } from "../../../src/cli/demo/http_get.ts";
import { socksConfig, tunConfig } from "../../../src/cli/demo/config.ts";
import { tunboxCommand } from "../../../src/cli/demo/procs.ts";
import { demoDispatch } from "../../../src/cli/demo.ts";
import { findConnection } from "../../../src/cli/demo/client.ts";
import { TOPOLOGY } from "../../../src/cli/demo/topology.ts";
import { loadConfig } from "../../../src/config/load.ts";
import { decodePacket, encodePacket } from "../../../src/net/dns/packet.ts";
import { toClashConnection } from "../../../src/api/clash_api.ts";
import { connRecord } from "../../_helpers/conn_record.ts";

Deno.test("`demoRequirement()` says in one sentence what is missing", () => {
  const yes = () => true;
  assert.equal(demoRequirement("linux", 0, yes), null);
  const mac = demoRequirement("darwin", 0, yes)!;
  assert.match(mac, /^tunbox demo needs Linux .*darwin\.$/);
  const user = demoRequirement("linux", 1000, yes)!;
  assert.match(user, /^tunbox demo needs root .*sudo deno task demo\)\.$/);
  assert.match(demoRequirement("linux", 0, () => false)!, /needs \/dev\/net\/tun/);
  for (const s of [mac, user]) assert.equal(s.split(". ").length, 1, "one sentence");
});

Deno.test("`demoPayload()` is deterministic per seed and sized exactly", async () => {
  const a = demoPayload(1027, 7);
  assert.equal(a.length, 1027);
  assert.deepEqual(a, demoPayload(1027, 7));
  assert.notDeepEqual(demoPayload(64, 7), demoPayload(64, 8));
  // First xorshift32 word from 7: 7 ^ 7<<13 = 0xe007; ^ >>>17 keeps it; ^ <<5 = 0x1ce0e7.
  assert.equal(new DataView(a.buffer).getUint32(0, true), 0x1ce0e7);
  assert.equal(
    await sha256Hex(new Uint8Array(0)),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});

Deno.test("`farHttpHandler()` serves /file with x-peer, /ip, and 404", async () => {
  const file = farHttpHandler(new Request("http://x/file?size=5000&seed=3"), "10.0.0.9");
  assert.equal(file.headers.get("x-peer"), "10.0.0.9");
  assert.deepEqual(new Uint8Array(await file.arrayBuffer()), demoPayload(5000, 3));
  assert.equal(await farHttpHandler(new Request("http://x/ip"), "10.0.0.9").text(), "10.0.0.9");
  assert.equal(farHttpHandler(new Request("http://x/nope"), "p").status, 404);
  assert.equal(farHttpHandler(new Request("http://x/file?size=-1"), "p").status, 400);
});

Deno.test("`farDnsAnswer()` answers A questions with the configured address", () => {
  const q = encodePacket({
    id: 4242,
    type: "query",
    flags: 0x0100,
    questions: [{ type: "A", name: "demo.tunbox.test" }],
  });
  const r = decodePacket(farDnsAnswer(q, "203.0.113.10")!);
  assert.equal(r.id, 4242);
  assert.equal(r.type, "response");
  assert.deepEqual(r.answers?.map((a) => [a.name, a.type, a.data]), [
    ["demo.tunbox.test", "A", "203.0.113.10"],
  ]);
  const aaaa = encodePacket({ id: 1, type: "query", questions: [{ type: "AAAA", name: "x" }] });
  assert.deepEqual(decodePacket(farDnsAnswer(aaaa, "203.0.113.10")!).answers, []);
  assert.equal(farDnsAnswer(new Uint8Array([1, 2]), "203.0.113.10"), null);
});

Deno.test("`httpGet()` fetches a body, reports its port, and stops a stream on time", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req, info) => farHttpHandler(req, (info.remoteAddr as Deno.NetAddr).hostname),
  );
  try {
    const port = server.addr.port;
    const r = await httpGet("127.0.0.1", port, "/file?size=300000&seed=5", { keepBody: true });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-peer"), "127.0.0.1");
    assert.deepEqual(r.body, demoPayload(300000, 5));
    assert.ok(r.localPort > 0 && r.localPort !== port);
    const started = performance.now();
    const s = await httpGet("127.0.0.1", port, "/stream", { stopAfterMs: 300 });
    const took = performance.now() - started;
    assert.ok(s.bodyBytes > 256 * 1024, `streamed ${s.bodyBytes} bytes`);
    assert.ok(took >= 250 && took < 3000, `stopped after ${took} ms`);
    await assert.rejects(httpGet("127.0.0.1", 1, "/"), Deno.errors.ConnectionRefused);
  } finally {
    await server.shutdown();
  }
});

Deno.test("the embedded configs load without errors or warnings", async () => {
  for (const [name, config] of [["tun", tunConfig()], ["socks", socksConfig()]] as const) {
    const r = await loadConfig([{ type: "text", name, text: JSON.stringify(config) }]);
    assert.deepEqual(r.errors.map((e) => e.format()), [], name);
    assert.deepEqual(r.warnings.map((e) => e.format()), [], name);
  }
  const tun = (await loadConfig([{
    type: "text",
    name: "tun",
    text: JSON.stringify(tunConfig()),
  }])).options!;
  assert.equal(tun.experimental.clash_api?.external_controller, TOPOLOGY.apiAddress);
  assert.equal(tun.route.final, "proxy");
});

Deno.test("`findConnection()` matches network and client port", () => {
  const c = toClashConnection(connRecord({
    id: 1,
    network: "udp",
    sourcePort: 5353,
    destinationIp: "203.0.113.53",
    destinationPort: 53,
  }));
  assert.equal(findConnection([c], { network: "udp", localPort: 5353 }), c);
  assert.equal(findConnection([c], { network: "tcp", localPort: 5353 }), undefined);
  assert.equal(findConnection([c], { network: "udp" }), undefined);
});

Deno.test("`tunboxCommand()` runs main.ts from source with this checkout's deno.json", () => {
  const cmd = tunboxCommand(["--netns", "/proc/1/fd/3", "demo", "far"]);
  assert.equal(cmd[0], Deno.execPath());
  assert.deepEqual(cmd.slice(1, 4), ["run", "-A", "--config"]);
  assert.match(cmd[4]!, /\/deno\.json$/);
  assert.match(cmd[5]!, /\/main\.ts$/);
  assert.deepEqual(cmd.slice(6), ["--netns", "/proc/1/fd/3", "demo", "far"]);
});

Deno.test("`demoDispatch()` leaves other commands alone and rejects unknown parts", async () => {
  assert.equal(await demoDispatch(["run", "-c", "x.json"]), undefined);
  assert.equal(await demoDispatch([]), undefined);
  assert.equal(await demoDispatch(["demo", "--help"]), 0);
  assert.equal(await demoDispatch(["demo", "bogus"]), 2);
});
