// http and mixed inbounds serving over TLS: curl as an HTTPS-proxy client, and tunbox's own
// http outbound with tls against them.

import assert from "node:assert/strict";
import type { ListenerInboundOptions } from "../../src/config/types.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { connectTcp } from "../../src/io/socket.ts";
import { readSome } from "../../src/io/stream.ts";
import { ListenerInbound } from "../../src/inbound/listener.ts";
import { createDirectHandler } from "../../src/inbound/outbound_handler.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import { makePki, type Pki } from "../_helpers/tls_certs.ts";
import {
  echoExact,
  echoServer,
  httpServer,
  LOOPBACK,
  pattern,
  run,
  sha256,
  testContext,
  tool,
  withReactor,
} from "../outbound/_helpers.ts";

const BODY = pattern(1 << 20, 3);

async function tlsInbound(
  r: Reactor,
  type: ListenerInboundOptions["type"],
  pki: Pki,
  handshakeTimeoutMs = 10_000,
): Promise<ListenerInbound> {
  const leaf = await pki.issue(`${type}-proxy`, ["proxy.test"], ["127.0.0.1"]);
  return new ListenerInbound(
    r,
    {
      type,
      tag: `${type}-in`,
      listen: LOOPBACK,
      listen_port: 0,
      users: [],
      tls: { enabled: true, certificate_path: leaf.certPath, key_path: leaf.keyPath },
    },
    createDirectHandler(testContext(r)),
    { handshakeTimeoutMs },
  );
}

for (const type of ["http", "mixed"] as const) {
  Deno.test(`${type} inbound with tls serves curl as an HTTPS proxy, and refuses plain HTTP`, async () => {
    const pki = await makePki();
    try {
      await withReactor(async (r) => {
        const web = httpServer(r, { "/file.bin": BODY });
        const ib = await tlsInbound(r, type, pki);
        try {
          const port = ib.localAddr().port;
          const url = `http://127.0.0.1:${web.localAddr().port}/file.bin`;
          for (const tunnel of [[], ["--proxytunnel"]]) {
            const res = await run(r, tool("curl", "curl"), [
              "-sS",
              "--max-time",
              "10",
              ...tunnel,
              "--proxy",
              `https://127.0.0.1:${port}`,
              "--proxy-cacert",
              pki.caPath,
              url,
            ]);
            assert.equal(res.code, 0, res.stderr);
            assert.equal(await sha256(res.stdout), await sha256(BODY));
          }
          // A client that does not speak TLS gets no proxy.
          const plain = await run(r, tool("curl", "curl"), [
            "-sS",
            "--max-time",
            "5",
            "--proxy",
            `http://127.0.0.1:${port}`,
            url,
          ]);
          assert.notEqual(plain.code, 0);
          assert.equal(ib.live, 0);
        } finally {
          ib.close();
          web.close();
        }
      });
    } finally {
      await pki.remove();
    }
  });
}

Deno.test("http outbound with tls through tunbox's own http inbound with tls", async () => {
  const pki = await makePki();
  try {
    await withReactor(async (r) => {
      const echo = echoServer(r);
      const ib = await tlsInbound(r, "http", pki, 1000);
      const out = createOutbounds(
        [{
          type: "http",
          tag: "web",
          server: "127.0.0.1",
          server_port: ib.localAddr().port,
          headers: {},
          tls: { enabled: true, server_name: "proxy.test", certificate_path: pki.caPath },
        }],
        testContext(r),
        {},
        builtinOutbounds(),
      ).get("web")!;
      try {
        const sock = await out.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 1 });
        const data = pattern(200 << 10, 9);
        assert.deepEqual(await echoExact(sock, data), data);
        sock.close();
        // A client that never starts the handshake is reset after the handshake timeout.
        const idle = await connectTcp(r, { addr: LOOPBACK, port: ib.localAddr().port });
        await assert.rejects(readSome(idle, new Uint8Array(16), "idle"), /ECONNRESET/);
        idle.close();
        assert.equal(ib.live, 0);
      } finally {
        ib.close();
        echo.close();
      }
    });
  } finally {
    await pki.remove();
  }
});
