import assert from "node:assert/strict";
import type { OutboundOptions } from "../../src/config/types.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { TcpListener, type TcpSocket } from "../../src/io/socket.ts";
import { readExact, readSome, writeAll } from "../../src/io/handshake_io.ts";
import { builtinOutbounds, createOutbounds, OutboundRegistry } from "../../src/outbound/mod.ts";
import { SelectorOutbound } from "../../src/outbound/selector.ts";
import { UrlTestOutbound } from "../../src/outbound/urltest.ts";
import { BlockOutbound } from "../../src/outbound/block.ts";
import { SharedState } from "../../src/store/shared_state.ts";
import { OutboundError } from "../../src/outbound/types.ts";
import {
  dec,
  echoExact,
  echoServer,
  enc,
  httpServer,
  LOOPBACK,
  testContext,
  withReactor,
} from "./_helpers.ts";

function build(r: Reactor | null, options: OutboundOptions[]) {
  return createOutbounds(
    options,
    r ? testContext(r) : { reactor: null as never },
    {},
    builtinOutbounds(),
  );
}

Deno.test("`createOutbounds()` builds each type through the registry and skips legacy dns", () => {
  const outs = build(null, [
    { type: "direct", tag: "direct" },
    { type: "block", tag: "block" },
    { type: "dns", tag: "dns-out" },
    { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: 1080 },
    { type: "http", tag: "web", server: "127.0.0.1", server_port: 8080, headers: {} },
    { type: "selector", tag: "select", outbounds: ["proxy", "direct"] },
  ]);
  assert.deepEqual([...outs.keys()], ["direct", "block", "proxy", "web", "select"]);
  assert.deepEqual([...outs.values()].map((o) => o.type), [
    "direct",
    "block",
    "socks",
    "http",
    "selector",
  ]);
});

Deno.test("`createOutbounds()` reports unknown types, missing references and cycles with the index", () => {
  assert.throws(() => new OutboundRegistry().create({ type: "direct", tag: "d" }, null as never), {
    message: 'unknown outbound type "direct" (supported: )',
  });
  assert.throws(
    () =>
      build(null, [{
        type: "socks",
        tag: "p",
        server: "127.0.0.1",
        server_port: 1,
        detour: "nope",
      }]),
    { name: "TypeError", message: 'initialize outbound[0] ("p"): detour "nope" does not exist' },
  );
  assert.throws(
    () =>
      build(null, [
        { type: "direct", tag: "d" },
        { type: "selector", tag: "s", outbounds: ["d", "x"] },
      ]),
    { message: 'initialize outbound[1] ("s"): outbounds[1] "x" does not exist' },
  );
  assert.throws(
    () =>
      build(null, [
        { type: "socks", tag: "a", server: "127.0.0.1", server_port: 1, detour: "b" },
        { type: "socks", tag: "b", server: "127.0.0.1", server_port: 2, detour: "a" },
      ]),
    { message: /reference cycle: a → b → a/ },
  );
  assert.throws(
    () =>
      build(null, [
        { type: "direct", tag: "d" },
        { type: "selector", tag: "s", outbounds: ["d"], default: "z" },
      ]),
    { message: 'initialize outbound[1] ("s"): default "z" is not one of outbounds' },
  );
  assert.throws(
    () => build(null, [{ type: "direct", tag: "d" }, { type: "block", tag: "d" }]),
    { message: 'initialize outbound[1] ("d"): duplicate tag "d"' },
  );
});

Deno.test("block outbound fails every dial at once with kind blocked", async () => {
  const b = new BlockOutbound("block");
  await assert.rejects(b.dialTcp({ domain: "ads.example", port: 443 }), (e: unknown) => {
    assert.ok(e instanceof OutboundError);
    assert.equal(e.kind, "blocked");
    assert.equal(e.message, 'block outbound "block": connection to ads.example:443 blocked');
    return true;
  });
  await assert.rejects(b.openUdp(), { kind: "blocked" });
});

Deno.test("selector outbound delegates to default, then to the selected member", async () => {
  await withReactor(async (r) => {
    const echo = echoServer(r);
    const outs = build(r, [
      { type: "block", tag: "block" },
      { type: "direct", tag: "direct" },
      { type: "selector", tag: "select", outbounds: ["block", "direct"], default: "direct" },
    ]);
    const sel = outs.get("select") as SelectorOutbound;
    assert.equal(sel.selected, "direct");
    const sock = await sel.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 1 });
    assert.equal(dec.decode(await echoExact(sock, enc.encode("via direct"))), "via direct");
    sock.close();
    assert.equal(sel.select("nope"), false);
    assert.equal(sel.select("block"), true);
    await assert.rejects(sel.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 2 }), {
      kind: "blocked",
    });
    echo.close();
  });
});

Deno.test("selector outbounds of two workers follow the shared choice (restored, then switched)", () => {
  const options: OutboundOptions[] = [
    { type: "block", tag: "block" },
    { type: "direct", tag: "direct" },
    { type: "selector", tag: "select", outbounds: ["block", "direct"], default: "direct" },
  ];
  const main = SharedState.create(
    { outbounds: options, route: { rules: [] }, dns: { rules: [] }, experimental: {} } as never,
    { selected: new Map([["select", "block"]]) },
  );
  const worker = (n: number) => {
    const outs = createOutbounds(
      options,
      { reactor: null as never, selections: new SharedState(main.memory) },
      {},
      builtinOutbounds(),
    );
    return { n, sel: outs.get("select") as SelectorOutbound };
  };
  const [a, b] = [worker(1), worker(2)];
  assert.equal(a.sel.selected, "block", "restored from the cache file, not the default");
  assert.equal(a.sel.current.tag, "block");
  assert.equal(b.sel.select("direct"), true);
  assert.equal(a.sel.selected, "direct", "a switch in one worker is seen by the other");
  assert.equal(main.selected("select"), "direct");
  assert.equal(main.select("select", "block"), true);
  assert.equal(b.sel.current.tag, "block");
});

/** A SOCKS5 server that waits `delayMs` before answering, then relays to `target`. */
function slowSocks(r: Reactor, delayMs: number): TcpListener {
  return new TcpListener(r, { addr: LOOPBACK, port: 0 }, (sock: TcpSocket) => {
    (async () => {
      await readExact(sock, new Uint8Array(3), "greeting");
      await new Promise((res) => r.setTimeout(delayMs, () => res(null)));
      await writeAll(sock, new Uint8Array([5, 0]), "method");
      const req = new Uint8Array(10);
      await readExact(sock, req, "request");
      await writeAll(sock, new Uint8Array([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]), "reply");
      // Answer the HEAD request itself, like an origin server behind the proxy.
      await readSome(sock, new Uint8Array(1024), "HEAD");
      await writeAll(sock, enc.encode("HTTP/1.1 204 No Content\r\n\r\n"), "response");
    })().catch(() => {}).finally(() => sock.close());
  });
}

Deno.test("urltest outbound measures members with HEAD and picks the fastest", async () => {
  await withReactor(async (r) => {
    const web = httpServer(r, { "/generate_204": new Uint8Array(0) });
    const slow = slowSocks(r, 150);
    const outs = build(r, [
      { type: "socks", tag: "slow", server: "127.0.0.1", server_port: slow.localAddr().port },
      { type: "direct", tag: "fast" },
      { type: "block", tag: "broken" },
      {
        type: "urltest",
        tag: "auto",
        outbounds: ["slow", "broken", "fast"],
        url: `http://127.0.0.1:${web.localAddr().port}/generate_204`,
        interval: 60_000,
      },
    ]);
    const auto = outs.get("auto") as UrlTestOutbound;
    assert.equal(auto.selected, "slow"); // first member until measured
    const delays = await auto.checkAll();
    assert.equal(delays.get("broken"), null);
    assert.ok(delays.get("slow")! >= 140, `slow: ${delays.get("slow")}`);
    assert.ok(delays.get("fast")! < 100, `fast: ${delays.get("fast")}`);
    assert.equal(auto.selected, "fast");
    assert.ok(web.requests.some((h) => h.startsWith("HEAD /generate_204 HTTP/1.1\r\n")));
    auto.close();
    web.close();
    slow.close();
  });
});

Deno.test("urltest outbound keeps its member within tolerance", async () => {
  await withReactor(async (r) => {
    const web = httpServer(r, { "/": new Uint8Array(0) });
    const a = slowSocks(r, 40);
    const b = slowSocks(r, 10);
    const outs = build(r, [
      { type: "socks", tag: "a", server: "127.0.0.1", server_port: a.localAddr().port },
      { type: "socks", tag: "b", server: "127.0.0.1", server_port: b.localAddr().port },
      {
        type: "urltest",
        tag: "auto",
        outbounds: ["a", "b"],
        url: `http://127.0.0.1:${web.localAddr().port}/`,
        tolerance: 500,
      },
    ]);
    const auto = outs.get("auto") as UrlTestOutbound;
    await auto.checkAll();
    assert.ok(auto.delays.get("b")! < auto.delays.get("a")!);
    assert.equal(auto.selected, "a"); // b is faster, but not by more than 500 ms
    auto.close();
    web.close();
    a.close();
    b.close();
  });
});
