import assert from "node:assert/strict";
import type { HttpOutboundOptions } from "../../src/config/types.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { TcpListener, type TcpSocket } from "../../src/io/socket.ts";
import { ListenerInbound } from "../../src/inbound/listener.ts";
import { createDirectHandler } from "../../src/inbound/outbound_handler.ts";
import { readExact, readHeaderBlock, readSome, writeAll } from "../../src/io/handshake_io.ts";
import { parseStatusLine } from "../../src/outbound/http.ts";
import { makePki } from "../_helpers/tls_certs.ts";
import { startStunnel } from "../_helpers/stunnel.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import { type Outbound, OutboundError } from "../../src/outbound/types.ts";
import {
  dec,
  echoExact,
  echoServer,
  enc,
  LOOPBACK,
  LOOPBACK6,
  pattern,
  testContext,
  withReactor,
} from "./_helpers.ts";

function httpOutbound(
  r: Reactor,
  port: number,
  extra: Partial<HttpOutboundOptions> = {},
): Outbound {
  return createOutbounds(
    [{ type: "http", tag: "web", server: "127.0.0.1", server_port: port, headers: {}, ...extra }],
    testContext(r),
    {},
    builtinOutbounds(),
  ).get("web")!;
}

/** A fake HTTP proxy: records the request head and answers with `answer` (written in `pieces`). */
function fakeProxy(
  r: Reactor,
  answer: string,
  then?: (sock: TcpSocket) => Promise<void>,
  pieces = 1,
): TcpListener & { heads: string[] } {
  const heads: string[] = [];
  const l = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (sock) => {
    (async () => {
      heads.push(dec.decode(await readHeaderBlock(sock, "proxy read")));
      const bytes = enc.encode(answer);
      const step = Math.ceil(bytes.length / pieces);
      for (let off = 0; off < bytes.length; off += step) {
        await writeAll(sock, bytes.subarray(off, off + step), "proxy write");
        if (pieces > 1) await new Promise((res) => r.setTimeout(2, () => res(null)));
      }
      if (then) await then(sock);
      else await readSome(sock, new Uint8Array(64), "wait").catch(() => 0);
    })().catch(() => {}).finally(() => sock.close());
  });
  return Object.assign(l, { heads });
}

Deno.test("`parseStatusLine()` reads HTTP/1.x status lines only", () => {
  assert.deepEqual(parseStatusLine("HTTP/1.1 200 Connection established"), {
    status: 200,
    reason: "Connection established",
  });
  assert.deepEqual(parseStatusLine("HTTP/1.0 407"), { status: 407, reason: "" });
  assert.equal(parseStatusLine("SSH-2.0-OpenSSH"), null);
});

Deno.test("http outbound sends CONNECT with Host, Basic auth and custom headers", async () => {
  await withReactor(async (r) => {
    const proxy = fakeProxy(r, "HTTP/1.1 200 Connection established\r\n\r\n");
    const out = httpOutbound(r, proxy.localAddr().port, {
      username: "alice",
      password: "s3cret",
      headers: { "X-Test": ["1", "2"] },
      path: "/ignored",
    });
    assert.deepEqual([...out.networks], ["tcp"]);
    const sock = await out.dialTcp({ domain: "example.com", port: 443 }, { id: 1 });
    sock.close();
    const v6 = await out.dialTcp({ addr: LOOPBACK6, port: 80 }, { id: 2 });
    v6.close();
    assert.equal(
      proxy.heads[0],
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n" +
        "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\nX-Test: 1\r\nX-Test: 2\r\n\r\n",
    );
    assert.match(proxy.heads[1]!, /^CONNECT \[::1\]:80 HTTP\/1\.1\r\nHost: \[::1\]:80\r\n/);
    proxy.close();
  });
});

Deno.test("http outbound keeps bytes the proxy sent after the header for the tunnel", async () => {
  await withReactor(async (r) => {
    for (const pieces of [1, 7]) {
      const proxy = fakeProxy(
        r,
        "HTTP/1.1 200 OK\r\nVia: test\r\n\r\nEARLY-BYTES",
        async (sock) => {
          const buf = new Uint8Array(4);
          await readExact(sock, buf, "proxy tunnel read");
          await writeAll(sock, buf, "proxy tunnel echo");
        },
        pieces,
      );
      const out = httpOutbound(r, proxy.localAddr().port);
      const sock = await out.dialTcp({ addr: LOOPBACK, port: 80 }, { id: 1 });
      const early = new Uint8Array(11);
      await readExact(sock, early, "early");
      assert.equal(dec.decode(early), "EARLY-BYTES");
      assert.equal(dec.decode(await echoExact(sock, enc.encode("ping"))), "ping");
      sock.close();
      proxy.close();
    }
  });
});

Deno.test("http outbound maps 407 to auth and other statuses to refused with the status line", async () => {
  await withReactor(async (r) => {
    const cases: [string, string, RegExp][] = [
      [
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="x"\r\n\r\n',
        "auth",
        /proxy requires authentication: "HTTP\/1\.1 407 Proxy Authentication Required"/,
      ],
      [
        "HTTP/1.1 502 Bad Gateway\r\n\r\n",
        "refused",
        /proxy answered "HTTP\/1\.1 502 Bad Gateway"/,
      ],
      [
        "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
        "refused",
        /"HTTP\/1\.1 403 Forbidden"/,
      ],
      [
        "SSH-2.0-OpenSSH_9.2\r\n\r\n",
        "protocol",
        /proxy sent no HTTP status line: "SSH-2\.0-OpenSSH_9\.2"/,
      ],
    ];
    for (const [answer, kind, message] of cases) {
      const proxy = fakeProxy(r, answer);
      const out = httpOutbound(r, proxy.localAddr().port);
      await assert.rejects(out.dialTcp({ addr: LOOPBACK, port: 80 }, { id: 1 }), (e: unknown) => {
        assert.ok(e instanceof OutboundError);
        assert.equal(e.kind, kind);
        assert.match(e.message, /^http outbound "web": CONNECT 127\.0\.0\.1:80: /);
        assert.match(e.message, message);
        return true;
      });
      proxy.close();
    }
  });
});

Deno.test("http outbound times out on a proxy that never answers and has no UDP", async () => {
  await withReactor(async (r) => {
    const held: TcpSocket[] = [];
    const proxy = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (s) => held.push(s));
    const out = httpOutbound(r, proxy.localAddr().port, { connect_timeout: 200 });
    await assert.rejects(out.dialTcp({ addr: LOOPBACK, port: 80 }, { id: 1 }), {
      name: "OutboundError",
      kind: "timeout",
    });
    await assert.rejects(out.openUdp({ id: 2 }), { kind: "protocol" });
    for (const s of held) s.close();
    proxy.close();
  });
});

Deno.test("http outbound with tls speaks CONNECT through stunnel to a proxy, verifying its CA", async () => {
  const pki = await makePki();
  try {
    const leaf = await pki.issue("proxy", ["proxy.test"]);
    await withReactor(async (r) => {
      const echo = echoServer(r);
      const handler = createDirectHandler(testContext(r));
      const inbound = new ListenerInbound(r, {
        type: "http",
        tag: "http-in",
        listen: LOOPBACK,
        listen_port: 0,
        users: [],
      }, handler);
      const tunnel = await startStunnel(r, leaf, `127.0.0.1:${inbound.localAddr().port}`);
      try {
        const out = httpOutbound(r, tunnel.port, {
          tls: { enabled: true, server_name: "proxy.test", certificate_path: pki.caPath },
        });
        const sock = await out.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 1 });
        assert.equal(sock.fd, null, "a TLS stream, not the raw socket");
        const data = pattern(300 << 10);
        assert.deepEqual(await echoExact(sock, data), data);
        sock.close();
        const wrong = httpOutbound(r, tunnel.port, {
          tls: { enabled: true, server_name: "proxy.test", certificate: [pki.otherCaPem] },
        });
        await assert.rejects(
          wrong.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 2 }),
          {
            name: "OutboundError",
            kind: "protocol",
            message: `http outbound "web": connect to server 127.0.0.1:${tunnel.port}: TLS ` +
              "handshake with proxy.test failed: certificate signed by an unknown authority " +
              "(UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
          },
        );
      } finally {
        await tunnel.stop();
        inbound.close();
        handler.close();
        echo.close();
      }
    });
  } finally {
    await pki.remove();
  }
});

Deno.test("http outbound with tls fails at build time naming an unreadable certificate_path", () => {
  assert.throws(
    () =>
      createOutbounds(
        [{
          type: "http",
          tag: "web",
          server: "proxy.example",
          server_port: 443,
          headers: {},
          tls: { enabled: true, certificate_path: "/nonexistent/ca.pem" },
        }],
        { reactor: null as never },
        {},
        builtinOutbounds(),
      ),
    {
      name: "TypeError",
      message: 'initialize outbound[0] ("web"): http outbound "web": cannot read certificate ' +
        '"/nonexistent/ca.pem": no such file',
    },
  );
});

Deno.test("http outbound tunnels through tunbox's http inbound with Basic auth", async () => {
  await withReactor(async (r) => {
    const echo = echoServer(r);
    const handler = createDirectHandler(testContext(r));
    const inbound = new ListenerInbound(r, {
      type: "http",
      tag: "http-in",
      listen: LOOPBACK,
      listen_port: 0,
      users: [{ username: "alice", password: "s3cret" }],
    }, handler);
    const port = inbound.localAddr().port;
    const good = httpOutbound(r, port, { username: "alice", password: "s3cret" });
    const sock = await good.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 1 });
    const data = pattern(256 << 10);
    assert.deepEqual(await echoExact(sock, data), data);
    sock.close();
    await assert.rejects(
      httpOutbound(r, port).dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 2 }),
      { kind: "auth" },
    );
    // A refused target comes back as 502 → refused.
    await assert.rejects(good.dialTcp({ addr: LOOPBACK, port: 1 }, { id: 3 }), {
      kind: "refused",
      message: /"HTTP\/1\.1 502 Bad Gateway"/,
    });
    inbound.close();
    handler.close();
    echo.close();
  });
});
