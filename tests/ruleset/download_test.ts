import assert from "node:assert/strict";
import type { Reactor } from "../../src/io/reactor.ts";
import { readSome, type Stream, writeAll } from "../../src/io/stream.ts";
import type { Destination } from "../../src/outbound/types.ts";
import { download, DownloadError } from "../../src/ruleset/download.ts";
import { streamPair } from "../_helpers/stream_pair.ts";
import { makePki } from "../_helpers/tls_certs.ts";
import { tlsAccept, tlsServerContext } from "../../src/tls/server.ts";
import { withReactor } from "../outbound/_helpers.ts";

const enc = new TextEncoder();

/** Reads one request head from the client side. */
async function readRequest(s: Stream): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await readSome(s, buf, "server");
    if (n === 0) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

/** A dialer whose "server" runs `serve` on the far end of a stream pair. */
function fakeServer(
  r: Reactor,
  serve: (s: Stream, request: string, dest: Destination) => Promise<void>,
) {
  const requests: string[] = [];
  const dests: Destination[] = [];
  return {
    requests,
    dests,
    dialTcp(dest: Destination): Promise<Stream> {
      const [client, server] = streamPair(r, 1 << 20);
      dests.push(dest);
      (async () => {
        const req = await readRequest(server);
        requests.push(req);
        await serve(server, req, dest);
      })().catch(() => {});
      return Promise.resolve(client);
    },
  };
}

Deno.test("`download()` sends a conditional GET and reads a Content-Length body", async () => {
  await withReactor(async (r) => {
    const srv = fakeServer(r, async (s) => {
      await writeAll(
        s,
        enc.encode(
          'HTTP/1.1 200 OK\r\nETag: "v2"\r\nLast-Modified: Tue, 01 Jul 2025 10:00:00 GMT\r\nContent-Length: 5\r\n\r\nhello',
        ),
        "srv",
      );
      s.close();
    });
    const res = await download(srv, r, {
      url: "http://rules.test:8080/geo/cn.srs?x=1",
      etag: '"v1"',
      lastModified: "Mon, 30 Jun 2025 10:00:00 GMT",
    });
    assert.equal(res.status, 200);
    assert.equal(new TextDecoder().decode(res.body), "hello");
    assert.equal(res.etag, '"v2"');
    assert.equal(res.lastModified, "Tue, 01 Jul 2025 10:00:00 GMT");
    assert.deepEqual(srv.dests, [{ domain: "rules.test", port: 8080 }]);
    assert.equal(
      srv.requests[0],
      'GET /geo/cn.srs?x=1 HTTP/1.1\r\nHost: rules.test:8080\r\nUser-Agent: tunbox\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\nIf-None-Match: "v1"\r\nIf-Modified-Since: Mon, 30 Jun 2025 10:00:00 GMT\r\n\r\n',
    );
  });
});

Deno.test("`download()` reads chunked bodies and bodies ended by close; 304 has no body", async () => {
  await withReactor(async (r) => {
    const chunked = fakeServer(r, async (s) => {
      await writeAll(
        s,
        enc.encode(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\na;x=y\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n",
        ),
        "srv",
      );
      s.close();
    });
    const a = await download(chunked, r, { url: "http://10.0.0.1/a.json" });
    assert.equal(new TextDecoder().decode(a.body), "abc0123456789");
    const eof = fakeServer(r, async (s) => {
      await writeAll(s, enc.encode("HTTP/1.0 200 OK\r\n\r\nuntil close"), "srv");
      s.close();
    });
    const b = await download(eof, r, { url: "http://10.0.0.1/b.json" });
    assert.equal(new TextDecoder().decode(b.body), "until close");
    const nm = fakeServer(r, async (s) => {
      await writeAll(s, enc.encode('HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n'), "srv");
      s.close();
    });
    const c = await download(nm, r, { url: "http://10.0.0.1/c.srs", etag: '"v1"' });
    assert.equal(c.status, 304);
    assert.equal(c.body.length, 0);
  });
});

Deno.test("`download()` follows redirects", async () => {
  await withReactor(async (r) => {
    const srv = fakeServer(r, async (s, req) => {
      const answer = req.startsWith("GET /old")
        ? "HTTP/1.1 302 Found\r\nLocation: /new.srs\r\nContent-Length: 0\r\n\r\n"
        : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      await writeAll(s, enc.encode(answer), "srv");
      s.close();
    });
    const res = await download(srv, r, { url: "http://10.0.0.1/old.srs" });
    assert.equal(res.url, "http://10.0.0.1/new.srs");
    assert.equal(new TextDecoder().decode(res.body), "ok");
  });
});

Deno.test("`download()` gives up on a server that stops sending", async () => {
  await withReactor(async (r) => {
    const srv = fakeServer(r, async (s) => {
      await writeAll(s, enc.encode("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"), "srv");
      // ...and nothing more, never closing.
    });
    const t0 = performance.now();
    await assert.rejects(
      download(srv, r, { url: "http://10.0.0.1/hang.srs", idleMs: 300, timeoutMs: 5000 }),
      (e: Error) => e instanceof DownloadError && /hang\.srs: no data for 300 ms/.test(e.message),
    );
    assert.ok(performance.now() - t0 < 3000);
  });
});

Deno.test("`download()` stops at the deadline even while bytes trickle in", async () => {
  await withReactor(async (r) => {
    const srv = fakeServer(r, async (s) => {
      await writeAll(s, enc.encode("HTTP/1.1 200 OK\r\n\r\n"), "srv");
      for (let i = 0; i < 100 && !s.closed; i++) {
        await writeAll(s, enc.encode("x"), "srv");
        await new Promise((res) => setTimeout(res, 50));
      }
    });
    await assert.rejects(
      download(srv, r, { url: "http://10.0.0.1/slow.srs", idleMs: 1000, timeoutMs: 600 }),
      /slow\.srs: did not finish within 600 ms/,
    );
  });
});

Deno.test("`download()` refuses bodies over the limit, by Content-Length or as they arrive", async () => {
  await withReactor(async (r) => {
    const declared = fakeServer(r, async (s) => {
      await writeAll(
        s,
        enc.encode(`HTTP/1.1 200 OK\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n`),
        "srv",
      );
    });
    await assert.rejects(
      download(declared, r, { url: "http://10.0.0.1/big.srs" }),
      /big\.srs: the rule-set is 50 MiB, over the 16 MiB limit/,
    );
    const streamed = fakeServer(r, async (s) => {
      await writeAll(s, enc.encode("HTTP/1.1 200 OK\r\n\r\n"), "srv");
      await writeAll(s, new Uint8Array(2000), "srv");
      s.close();
    });
    await assert.rejects(
      download(streamed, r, { url: "http://10.0.0.1/big.json", maxBytes: 1000 }),
      /big\.json: the rule-set is larger than that, over the 1000 bytes limit/,
    );
  });
});

Deno.test("`download()` explains refused connections and garbage", async () => {
  await withReactor(async (r) => {
    const none = { dialTcp: () => Promise.reject(new Error("connection refused")) };
    await assert.rejects(
      download(none, r, { url: "http://10.0.0.1/x.srs" }),
      /download http:\/\/10\.0\.0\.1\/x\.srs: connect failed: connection refused/,
    );
    const garbage = fakeServer(r, async (s) => {
      await writeAll(s, enc.encode("SSH-2.0-OpenSSH_9.2\r\n\r\n"), "srv");
      s.close();
    });
    await assert.rejects(
      download(garbage, r, { url: "http://10.0.0.1/x.srs" }),
      /not an HTTP answer: "SSH-2\.0-OpenSSH_9\.2"/,
    );
  });
});

Deno.test("`download()` fetches https through TLS over the outbound's stream", async () => {
  const pki = await makePki();
  try {
    const leaf = await pki.issue("rules", ["rules.test"]);
    const ctx = tlsServerContext({ certificate: leaf.certPem, key: leaf.keyPem });
    await withReactor(async (r) => {
      const requests: string[] = [];
      const dialer = {
        dialTcp(): Promise<Stream> {
          const [client, server] = streamPair(r, 1 << 20);
          (async () => {
            const s = await tlsAccept(server, ctx, { what: "test server", timeoutMs: 5000 });
            requests.push(await readRequest(s));
            await writeAll(
              s,
              enc.encode("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret"),
              "srv",
            );
            s.close();
          })().catch(() => {});
          return Promise.resolve(client);
        },
      };
      const res = await download(dialer, r, { url: "https://rules.test/geo.srs" }, 1, {
        ca: [pki.caPem],
      });
      assert.equal(new TextDecoder().decode(res.body), "secret");
      assert.match(requests[0]!, /^GET \/geo\.srs HTTP\/1\.1\r\nHost: rules\.test\r\n/);
      // The system's trust anchors do not know the test CA: the certificate is refused.
      await assert.rejects(
        download(dialer, r, { url: "https://rules.test/geo.srs" }),
        /download https:\/\/rules\.test\/geo\.srs: TLS handshake with rules\.test failed: .*unknown authority/,
      );
    });
  } finally {
    await pki.remove();
  }
});
