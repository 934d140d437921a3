import assert from "node:assert/strict";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import type { DirectInboundOptions, Options } from "../../src/config/types.ts";
import { ConnectionPath } from "../../src/conn/mod.ts";
import { DirectInbound, overrideDestination } from "../../src/inbound/direct.ts";
import { createRouterHandler } from "../../src/inbound/router_handler.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { connectTcp, UdpSocket, WOULD_BLOCK } from "../../src/io/socket.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import { Router } from "../../src/route/router.ts";
import { config } from "../dns/_helpers.ts";
import {
  dec,
  enc,
  httpServer,
  LOOPBACK,
  pattern,
  run,
  sha256,
  sleep,
  testContext,
  tool,
  udpEchoServer,
  within,
  withReactor,
} from "../outbound/_helpers.ts";

const BODY = pattern(1 << 20, 5);

/** Inbounds, outbounds and rules as a config; the router and handler built from them. */
function routed(r: Reactor, json: Record<string, unknown>) {
  const options: Options = config({
    outbounds: [{ type: "direct", tag: "direct" }, { type: "block", tag: "block" }],
    ...json,
  });
  const outbounds = createOutbounds(options.outbounds, testContext(r), {}, builtinOutbounds());
  const router = new Router({
    rules: options.route.rules,
    outbounds: options.outbounds,
    ...(options.route.final ? { final: options.route.final } : {}),
  });
  const path = new ConnectionPath({
    reactor: r,
    services: { router, outbounds, dns: null, prepare: null, lookup: null },
  });
  const handler = createRouterHandler(path);
  const inbounds = options.inbounds.map((o) =>
    new DirectInbound(r, o as DirectInboundOptions, handler)
  );
  return {
    inbounds,
    close() {
      for (const i of inbounds) i.close();
      handler.close();
      for (const o of outbounds.values()) o.close();
    },
  };
}

Deno.test("`overrideDestination()` follows sing-box's four cases", () => {
  const base: DirectInboundOptions = { type: "direct", tag: "d", listen: LOOPBACK, network: [] };
  const local = { addr: new Uint8Array([127, 0, 0, 1]), port: 5353 };
  assert.deepEqual(
    overrideDestination({ ...base, override_address: "1.0.0.1", override_port: 53 }, local),
    { addr: new Uint8Array([1, 0, 0, 1]), port: 53 },
  );
  assert.deepEqual(
    overrideDestination({ ...base, override_address: "dns.example" }, local),
    { domain: "dns.example", port: 5353 },
  );
  assert.deepEqual(
    overrideDestination({ ...base, override_address: "[2001:db8::1]", override_port: 53 }, local)
      .addr?.length,
    16,
  );
  assert.deepEqual(overrideDestination({ ...base, override_port: 53 }, local), {
    addr: local.addr,
    port: 53,
  });
  assert.deepEqual(overrideDestination(base, local), { addr: local.addr, port: 5353 });
});

Deno.test("direct inbound forwards TCP to override_address:override_port through the rules", async () => {
  await withReactor(async (r) => {
    const web = httpServer(r, { "/file.bin": BODY });
    const port = web.localAddr().port;
    const box = routed(r, {
      inbounds: [
        {
          type: "direct",
          tag: "fwd",
          listen: "127.0.0.1",
          listen_port: 0,
          override_address: "localhost", // a name: the outbound resolves it
          override_port: port,
        },
        {
          type: "direct",
          tag: "blocked",
          listen: "127.0.0.1",
          listen_port: 0,
          override_address: "127.0.0.1",
          override_port: port,
          network: "tcp",
        },
      ],
      route: {
        rules: [
          { inbound: ["blocked"], action: "reject" },
          { inbound: ["fwd"], port: [port], outbound: "direct" },
        ],
        final: "block",
      },
    });
    try {
      const [fwd, blocked] = box.inbounds;
      const out = await run(r, tool("curl", "curl"), [
        "-sS",
        "--max-time",
        "10",
        `http://127.0.0.1:${fwd!.localAddr().port}/file.bin`,
      ]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(await sha256(out.stdout), await sha256(BODY));

      // The rule rejects the other inbound's connections: closed without a byte.
      const sock = await connectTcp(r, { addr: LOOPBACK, port: blocked!.localAddr().port });
      await sock.writeAll(enc.encode("GET /file.bin HTTP/1.0\r\n\r\n"));
      const got = await within(r, 3000, sock.readSome(new Uint8Array(100)), "close");
      assert.equal(got, 0);
      sock.close();
    } finally {
      box.close();
      web.close();
    }
  });
});

Deno.test("direct inbound forwards UDP per client and sends replies from its own address", async () => {
  await withReactor(async (r) => {
    const echo = udpEchoServer(r, LOOPBACK, "echo:");
    const box = routed(r, {
      inbounds: [{
        type: "direct",
        tag: "dns-in",
        listen: "127.0.0.1",
        listen_port: 0,
        network: ["udp"],
        override_address: "127.0.0.1",
        override_port: echo.localAddr().port,
        udp_timeout: "300ms",
      }],
      route: { rules: [{ inbound: ["dns-in"], network: ["udp"], outbound: "direct" }] },
    });
    const clients = [0, 1].map(() => UdpSocket.open(r, 4, {}, { addr: LOOPBACK, port: 0 }));
    try {
      const ib = box.inbounds[0]!;
      const at: SockAddr = ib.localAddr();
      const replies: string[][] = [[], []];
      const all = Promise.withResolvers<void>();
      clients.forEach((c, i) => {
        const from: SockAddr = { addr: new Uint8Array(4), port: 0 };
        const buf = new Uint8Array(2048);
        c.onReadable = () => {
          for (;;) {
            const n = c.recvFrom(buf, from);
            if (n === WOULD_BLOCK) return;
            assert.equal(from.port, at.port, "the reply comes from the inbound's port");
            replies[i]!.push(dec.decode(buf.subarray(0, n)));
            if (replies[0]!.length === 2 && replies[1]!.length === 1) all.resolve();
          }
        };
      });
      clients[0]!.sendTo(enc.encode("a1"), at);
      clients[1]!.sendTo(enc.encode("b1"), at);
      clients[0]!.sendTo(enc.encode("a2"), at);
      await within(r, 3000, all.promise, "UDP replies");
      assert.deepEqual(replies[0]!.sort(), ["echo:a1", "echo:a2"]);
      assert.deepEqual(replies[1], ["echo:b1"]);
      assert.equal(ib.udpSessions, 2, "one session per client address");
      // udp_timeout without traffic ends both sessions.
      await within(
        r,
        3000,
        (async () => {
          while (ib.udpSessions > 0) await sleep(r, 20);
        })(),
        "sessions time out",
      );
    } finally {
      for (const c of clients) c.close();
      box.close();
      echo.close();
    }
  });
});
