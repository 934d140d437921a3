import assert from "node:assert/strict";
import type { OutboundOptions } from "../../src/config/types.ts";
import { TcpListener } from "../../src/io/socket.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import { readHeaderBlock, writeAll } from "../../src/io/handshake_io.ts";
import type { DialContext } from "../../src/outbound/types.ts";
import type { UrlTestOutbound } from "../../src/outbound/urltest.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { tlsAccept, tlsServerContext } from "../../src/tls/server.ts";
import { makePki } from "../_helpers/tls_certs.ts";
import { dec, enc, httpServer, LOOPBACK, testContext, withReactor } from "./_helpers.ts";

/** A urltest "auto" over a direct member "good" and a block member "bad". */
function urlTest(r: Reactor, url: string, extra: Partial<DialContext> = {}) {
  const options: OutboundOptions[] = [
    { type: "direct", tag: "good" },
    { type: "block", tag: "bad" },
    { type: "urltest", tag: "auto", outbounds: ["bad", "good"], url },
  ];
  const all = createOutbounds(options, testContext(r, extra), {}, builtinOutbounds());
  return { auto: all.get("auto") as UrlTestOutbound, close: () => all.forEach((o) => o.close()) };
}

Deno.test("urltest measures http: URLs with HEAD and selects the member that answered", async () => {
  await withReactor(async (r) => {
    const server = httpServer(r, { "/generate_204": new Uint8Array(0) });
    const port = server.localAddr().port;
    const { auto, close } = urlTest(r, `http://127.0.0.1:${port}/generate_204?x=1`);
    try {
      assert.equal(auto.selected, "bad", "the first member until a result");
      const delays = await auto.checkAll();
      assert.equal(delays.get("bad"), null);
      assert.equal(typeof delays.get("good"), "number");
      assert.equal(auto.selected, "good");
      assert.ok(server.requests.length >= 1);
      assert.match(
        server.requests[0]!,
        new RegExp(`^HEAD /generate_204\\?x=1 HTTP/1\\.1\\r\\nHost: 127\\.0\\.0\\.1:${port}\\r\\n`),
      );
    } finally {
      close();
      server.close();
    }
  });
});

/** A TLS server answering every request head with 204, recording the heads. */
function httpsServer(r: Reactor, cert: string, key: string) {
  const context = tlsServerContext({ certificate: cert, key });
  const heads: string[] = [];
  const listener = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (raw) => {
    (async () => {
      const sock = await tlsAccept(raw, context, { what: "test https", timeoutMs: 5000 });
      heads.push(dec.decode(await readHeaderBlock(sock, "https server read", 65536)));
      await writeAll(sock, enc.encode("HTTP/1.1 204 No Content\r\n\r\n"), "https answer");
      sock.close();
    })().catch(() => raw.close());
  });
  return Object.assign(listener, { heads });
}

Deno.test("urltest runs TLS for https: URLs, trusting the certificate section", async () => {
  const pki = await makePki();
  try {
    const leaf = await pki.issue("url", [], ["127.0.0.1"]);
    await withReactor(async (r) => {
      const server = httpsServer(r, leaf.certPem, leaf.keyPem);
      const url = `https://127.0.0.1:${server.localAddr().port}/generate_204`;
      const trusted = urlTest(r, url, {
        certificate: {
          store: "none",
          certificate: [],
          certificate_path: [pki.caPath],
          certificate_directory_path: [],
        },
      });
      const untrusted = urlTest(r, url);
      try {
        assert.equal(typeof await trusted.auto.measure("good"), "number");
        assert.match(server.heads.at(-1)!, /^HEAD \/generate_204 HTTP\/1\.1\r\n/);
        const heads = server.heads.length;
        await assert.rejects(
          untrusted.auto.measure("good"),
          /URL test https:\/\/127\.0\.0\.1:\d+\/generate_204 through "good": TLS handshake with 127\.0\.0\.1 failed: certificate signed by an unknown authority/,
        );
        assert.equal(server.heads.length, heads, "no request without a trusted certificate");
      } finally {
        trusted.close();
        untrusted.close();
        server.close();
      }
    });
  } finally {
    await pki.remove();
  }
});
