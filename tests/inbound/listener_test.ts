import assert from "node:assert/strict";
import type { InboundUser, ListenerInboundOptions } from "../../src/config/types.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { connectTcp } from "../../src/io/socket.ts";
import { ListenerInbound } from "../../src/inbound/listener.ts";
import { createDirectHandler } from "../../src/inbound/outbound_handler.ts";
import type { InboundHandler, InboundRequest } from "../../src/inbound/types.ts";
import { readSome, writeAll } from "../../src/io/handshake_io.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import type { OutboundErrorKind } from "../../src/outbound/types.ts";
import {
  busyWhile,
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

const BODY = pattern(2 << 20, 11);

function inbound(
  r: Reactor,
  type: ListenerInboundOptions["type"],
  users: InboundUser[] = [],
  handler: InboundHandler = createDirectHandler(testContext(r)),
  handshakeTimeoutMs?: number,
): ListenerInbound {
  return new ListenerInbound(
    r,
    {
      type,
      tag: `${type}-in`,
      listen: LOOPBACK,
      listen_port: 0,
      users,
    },
    handler,
    handshakeTimeoutMs ? { handshakeTimeoutMs } : {},
  );
}

async function curl(
  r: Reactor,
  args: string[],
): Promise<{ code: number; body: Uint8Array; stderr: string }> {
  const out = await run(r, tool("curl", "curl"), ["-sS", "--max-time", "10", ...args]);
  return { code: out.code, body: out.stdout, stderr: out.stderr };
}

for (const type of ["socks", "mixed"] as const) {
  for (const flag of ["--socks5", "--socks5-hostname", "--socks4", "--socks4a"]) {
    Deno.test(`${type} inbound serves \`curl ${flag}\` a 2 MiB file intact`, async () => {
      await withReactor(async (r) => {
        const web = httpServer(r, { "/file.bin": BODY });
        const seen: InboundRequest[] = [];
        const direct = createDirectHandler(testContext(r));
        const ib = inbound(r, type, [], {
          onConnection: (c) => {
            seen.push(c.request);
            direct.onConnection(c);
          },
          onPacketConnection: (c) => direct.onPacketConnection(c),
        });
        const res = await curl(r, [
          flag,
          `127.0.0.1:${ib.localAddr().port}`,
          `http://localhost:${web.localAddr().port}/file.bin`,
        ]);
        assert.equal(res.code, 0, res.stderr);
        assert.equal(await sha256(res.body), await sha256(BODY));
        assert.equal(seen.length, 1);
        const req = seen[0]!;
        assert.equal(req.inbound, `${type}-in`);
        assert.equal(req.inboundType, type);
        assert.equal(req.network, "tcp");
        assert.equal(req.destination.port, web.localAddr().port);
        if (flag === "--socks5-hostname" || flag === "--socks4a") {
          assert.equal(req.destination.domain, "localhost");
        } else {
          assert.deepEqual(req.destination.addr, LOOPBACK);
        }
        assert.equal(
          req.protocol,
          {
            "--socks5": "socks5",
            "--socks5-hostname": "socks5",
            "--socks4": "socks4",
            "--socks4a": "socks4a",
          }[flag],
        );
        ib.close();
        direct.close();
        web.close();
      });
    });
  }
}

Deno.test("socks inbound requires the configured user and password", async () => {
  await withReactor(async (r) => {
    const web = httpServer(r, { "/": enc.encode("hello") });
    const handler = createDirectHandler(testContext(r));
    const ib = inbound(r, "socks", [{ username: "alice", password: "s3cret" }], handler);
    const port = ib.localAddr().port;
    const url = `http://127.0.0.1:${web.localAddr().port}/`;
    const ok = await curl(r, ["-x", `socks5h://alice:s3cret@127.0.0.1:${port}`, url]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(dec.decode(ok.body), "hello");
    const wrong = await curl(r, ["-x", `socks5h://alice:nope@127.0.0.1:${port}`, url]);
    assert.equal(wrong.code, 97, wrong.stderr); // CURLE_PROXY: handshake failed
    const none = await curl(r, ["--socks5", `127.0.0.1:${port}`, url]);
    assert.notEqual(none.code, 0);
    ib.close();
    handler.close();
    web.close();
  });
});

for (const type of ["http", "mixed"] as const) {
  Deno.test(`${type} inbound proxies \`curl -x http://\` (absolute-form) and \`curl -p\` (CONNECT)`, async () => {
    await withReactor(async (r) => {
      const web = httpServer(r, { "/file.bin": BODY });
      const handler = createDirectHandler(testContext(r));
      const ib = inbound(r, type, [], handler);
      const proxy = `http://127.0.0.1:${ib.localAddr().port}`;
      const url = `http://localhost:${web.localAddr().port}/file.bin?x=1`;
      const plain = await curl(r, ["-x", proxy, "-H", "Proxy-Connection: keep-alive", url]);
      assert.equal(plain.code, 0, plain.stderr);
      assert.equal(await sha256(plain.body), await sha256(BODY));
      const head = web.requests.at(-1)!;
      assert.match(head, /^GET \/file\.bin\?x=1 HTTP\/1\.1\r\n/);
      assert.match(head, /\r\nHost: localhost:\d+\r\n/);
      assert.doesNotMatch(head, /Proxy-Connection/i);
      assert.match(head, /\r\nConnection: close\r\n\r\n$/);
      const tunnel = await curl(r, ["-p", "-x", proxy, url]);
      assert.equal(tunnel.code, 0, tunnel.stderr);
      assert.equal(await sha256(tunnel.body), await sha256(BODY));
      assert.match(web.requests.at(-1)!, /^GET \/file\.bin\?x=1 HTTP\/1\.1\r\n/);
      ib.close();
      handler.close();
      web.close();
    });
  });
}

Deno.test("http inbound answers 407 without credentials and proxies with them", async () => {
  await withReactor(async (r) => {
    const web = httpServer(r, { "/": enc.encode("secret page") });
    const handler = createDirectHandler(testContext(r));
    const ib = inbound(r, "http", [{ username: "alice", password: "s3cret" }], handler);
    const proxy = `http://127.0.0.1:${ib.localAddr().port}`;
    const url = `http://127.0.0.1:${web.localAddr().port}/`;
    const denied = await curl(r, ["-x", proxy, "-o", "/dev/null", "-w", "%{http_code}", url]);
    assert.equal(dec.decode(denied.body), "407");
    const ok = await curl(r, ["-x", proxy, "-U", "alice:s3cret", url]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(dec.decode(ok.body), "secret page");
    ib.close();
    handler.close();
    web.close();
  });
});

Deno.test("http inbound answers 400 to a non-proxy request and 502 to a refused target", async () => {
  await withReactor(async (r) => {
    const handler = createDirectHandler(testContext(r));
    const ib = inbound(r, "http", [], handler);
    const sock = await connectTcp(r, ib.localAddr());
    await writeAll(sock, enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "write");
    const buf = new Uint8Array(256);
    const n = await readSome(sock, buf, "read");
    assert.match(dec.decode(buf.subarray(0, n)), /^HTTP\/1\.1 400 Bad Request\r\n/);
    sock.close();
    const refused = await curl(r, [
      "-x",
      `http://127.0.0.1:${ib.localAddr().port}`,
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "http://127.0.0.1:1/",
    ]);
    assert.equal(dec.decode(refused.body), "502");
    ib.close();
    handler.close();
  });
});

Deno.test("socks inbound sends the reply code for each rejection kind", async () => {
  await withReactor(async (r) => {
    let kind: OutboundErrorKind = "refused";
    const ib = inbound(r, "socks", [], {
      onConnection: (c) => c.reject(kind, new Error("test rejection")),
      onPacketConnection: (c) => c.reject(kind),
    });
    const outs = createOutbounds(
      [{ type: "socks", tag: "p", server: "127.0.0.1", server_port: ib.localAddr().port }],
      testContext(r),
      {},
      builtinOutbounds(),
    );
    const v4 = createOutbounds(
      [{
        type: "socks",
        tag: "p",
        server: "127.0.0.1",
        server_port: ib.localAddr().port,
        version: "4",
      }],
      testContext(r),
      {},
      builtinOutbounds(),
    );
    for (const k of ["blocked", "unreachable", "refused", "timeout", "protocol"] as const) {
      kind = k;
      await assert.rejects(outs.get("p")!.dialTcp({ addr: LOOPBACK, port: 80 }, { id: 1 }), {
        kind: k,
      });
      await assert.rejects(v4.get("p")!.dialTcp({ addr: LOOPBACK, port: 80 }, { id: 2 }), {
        kind: "refused",
      });
    }
    ib.close();
  });
});

Deno.test("socks inbound relays UDP ASSOCIATE and ends it with the control connection", async () => {
  await withReactor(async (r) => {
    const echo = udpEchoServer(r, LOOPBACK, "echo:");
    const packets: InboundRequest[] = [];
    const direct = createDirectHandler(testContext(r));
    const ib = inbound(r, "socks", [], {
      onConnection: (c) => direct.onConnection(c),
      onPacketConnection: (c) => {
        packets.push(c.request);
        direct.onPacketConnection(c);
      },
    });
    const out = createOutbounds(
      [{ type: "socks", tag: "p", server: "127.0.0.1", server_port: ib.localAddr().port }],
      testContext(r),
      {},
      builtinOutbounds(),
    ).get("p")!;
    const flow = await out.openUdp({ id: 1 });
    const replies: string[] = [];
    const two = Promise.withResolvers<void>();
    flow.onPacket = (payload, from) => {
      replies.push(`${dec.decode(payload)}@${from.port}`);
      if (replies.length === 2) two.resolve();
    };
    const port = echo.localAddr().port;
    flow.send(enc.encode("one"), { addr: LOOPBACK, port });
    flow.send(enc.encode("two"), { domain: "localhost", port });
    await within(r, 2000, two.promise, "UDP replies");
    assert.deepEqual(replies.sort(), [`echo:one@${port}`, `echo:two@${port}`]);
    assert.equal(packets.length, 1);
    assert.equal(packets[0]!.network, "udp");
    assert.equal(packets[0]!.destination.port, port);
    assert.equal(ib.live, 1); // the association
    flow.close(); // closes the control connection
    await within(
      r,
      2000,
      (async () => {
        while (ib.live > 0) await sleep(r, 5);
      })(),
      "association closed",
    );
    ib.close();
    direct.close();
    echo.close();
  });
});

Deno.test("listener inbound closes a client that sends nothing within the handshake timeout", async () => {
  await withReactor(async (r) => {
    for (const type of ["socks", "http", "mixed"] as const) {
      const ib = inbound(r, type, [], createDirectHandler(testContext(r)), 150);
      const sock = await connectTcp(r, ib.localAddr());
      const start = r.now();
      if (type === "socks") await writeAll(sock, new Uint8Array([5]), "partial greeting");
      const n = await within(r, 2000, readSome(sock, new Uint8Array(8), "read"), "server close");
      assert.equal(n, 0);
      assert.ok(r.now() - start >= 140, `${type}: closed after ${r.now() - start} ms`);
      sock.close();
      assert.equal(ib.live, 0);
      ib.close();
    }
  });
});

Deno.test("serve_socks.ts runs standalone, serves curl, and exits on SIGTERM", async () => {
  await withReactor(async (r) => {
    const web = httpServer(r, { "/file.bin": BODY });
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../src/inbound/serve_socks.ts", import.meta.url).pathname,
        "--listen",
        "127.0.0.1:0",
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    try {
      const reader = child.stdout.getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await within(
          r,
          20_000,
          busyWhile(r, reader.read()),
          "listening line",
        );
        if (done) break;
        text += dec.decode(value);
      }
      reader.releaseLock();
      const m = /^listening on 127\.0\.0\.1:(\d+)\n/.exec(text);
      assert.ok(m, `unexpected output ${JSON.stringify(text)}`);
      const res = await curl(r, [
        "--socks5-hostname",
        `127.0.0.1:${m[1]}`,
        `http://localhost:${web.localAddr().port}/file.bin`,
      ]);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(await sha256(res.body), await sha256(BODY));
      const start = performance.now();
      child.kill("SIGTERM");
      const status = await within(r, 5000, busyWhile(r, child.status), "exit after SIGTERM");
      assert.equal(status.code, 0);
      assert.ok(performance.now() - start < 2000);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
      await busyWhile(r, child.status);
      web.close();
    }
  });
});
