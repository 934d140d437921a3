// The TLS client against `openssl s_server` (real handshakes: 1.2, 1.3, ALPN, SNI, bad
// certificates, pinning, half-close) and against broken peers on the reactor (reset in the
// handshake, garbage, silence).

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";
import type { Reactor } from "../../src/io/reactor.ts";
import { connectTcp, TcpListener, type TcpSocket } from "../../src/io/socket.ts";
import { readSome, type Stream, writeAll } from "../../src/io/stream.ts";
import {
  publicKeySha256,
  type TlsClientConfig,
  tlsConnect,
  TlsError,
  type TlsStream,
} from "../../src/tls/client.ts";
import { type Leaf, makePki, type Pki } from "../_helpers/tls_certs.ts";
import { dec, enc, LOOPBACK, type Peer, withReactor } from "../outbound/_helpers.ts";
import { startSServer } from "./_s_server.ts";

async function dial(r: Reactor, port: number, config: TlsClientConfig): Promise<TlsStream> {
  const sock = await connectTcp(r, { addr: LOOPBACK, port });
  return await tlsConnect(sock, config, { what: "test client", timeoutMs: 5000 });
}

/** Reads until EOF (or `until` bytes). */
async function readAll(s: Stream, until = Infinity): Promise<string> {
  const buf = new Uint8Array(4096);
  let out = "";
  while (out.length < until) {
    const n = await readSome(s, buf, "test read");
    if (n === 0) break;
    out += dec.decode(buf.subarray(0, n));
  }
  return out;
}

/** A CA-signed certificate for dns.test and 127.0.0.1, served by s_server with `extra`. */
async function withServer(
  extra: string[],
  fn: (r: Reactor, server: Peer, pki: Pki, leaf: Leaf) => Promise<void>,
): Promise<void> {
  const pki = await makePki();
  try {
    const leaf = await pki.issue("server", ["dns.test"], ["127.0.0.1"]);
    await withReactor(async (r) => {
      const server = await startSServer(r, leaf, extra);
      try {
        await fn(r, server, pki, leaf);
      } finally {
        await server.stop();
      }
    });
  } finally {
    await pki.remove();
  }
}

/** Expects `p` to reject with a TlsError whose message contains every part of `parts`. */
async function rejectsWith(p: Promise<unknown>, ...parts: (string | RegExp)[]): Promise<TlsError> {
  const error = await p.then(
    () => assert.fail("expected the handshake to fail"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof TlsError, `not a TlsError: ${error}`);
  for (const part of parts) {
    if (typeof part === "string") assert.ok(error.message.includes(part), error.message);
    else assert.match(error.message, part);
  }
  return error;
}

Deno.test("`tlsConnect()` speaks TLS 1.3 with a CA from the config and carries data both ways", async () => {
  await withServer([], async (r, server, pki) => {
    const t = await dial(r, server.port, { serverName: "dns.test", ca: [pki.caPem] });
    assert.equal(t.version, "1.3");
    assert.equal(t.alpnProtocol, null);
    await writeAll(t, enc.encode("hello\n"), "test write");
    assert.equal(await readAll(t, 6), "olleh\n");
    t.close();
  });
});

Deno.test("`tlsConnect()` speaks TLS 1.2 when max_version is 1.2", async () => {
  await withServer([], async (r, server, pki) => {
    const t = await dial(r, server.port, {
      serverName: "dns.test",
      ca: [pki.caPem],
      maxVersion: "1.2",
    });
    assert.equal(t.version, "1.2");
    await writeAll(t, enc.encode("abc\n"), "test write");
    assert.equal(await readAll(t, 4), "cba\n");
    t.close();
  });
});

Deno.test("`tlsConnect()` fails naming the versions when the server has none of min_version..", async () => {
  await withServer(["-tls1_2"], async (r, server, pki) => {
    await rejectsWith(
      dial(r, server.port, { serverName: "dns.test", ca: [pki.caPem], minVersion: "1.3" }),
      "test client: TLS handshake with dns.test failed: ",
      /version/i,
    );
  });
});

Deno.test("`tlsConnect()` negotiates ALPN and reports the server's choice", async () => {
  await withServer(["-alpn", "h2,http/1.1"], async (r, server, pki) => {
    const t = await dial(r, server.port, {
      serverName: "dns.test",
      ca: [pki.caPem],
      alpn: ["http/1.1", "h2"],
    });
    // OpenSSL's s_server picks by its own order among the offered protocols.
    assert.equal(t.alpnProtocol, "h2");
    t.close();
    const u = await dial(r, server.port, {
      serverName: "dns.test",
      ca: [pki.caPem],
      alpn: ["http/1.1"],
    });
    assert.equal(u.alpnProtocol, "http/1.1");
    u.close();
  });
});

Deno.test("`tlsConnect()` sends server_name as SNI and the server picks the certificate by it", async () => {
  const pki = await makePki();
  try {
    const fallback = await pki.issue("fallback", ["fallback.test"]);
    const named = await pki.issue("named", ["dns.test"]);
    await withReactor(async (r) => {
      const server = await startSServer(r, fallback, [
        "-servername",
        "dns.test",
        "-cert2",
        named.certPath,
        "-key2",
        named.keyPath,
      ]);
      try {
        const t = await dial(r, server.port, { serverName: "dns.test", ca: [pki.caPem] });
        await writeAll(t, enc.encode("x\n"), "test write");
        await readAll(t, 2);
        assert.deepEqual(
          Buffer.from(t.peerCertificate()!),
          new X509Certificate(named.certPem).raw,
        );
        t.close();
      } finally {
        await server.stop();
      }
      assert.match(server.output(), /Hostname in TLS extension: "dns\.test"/);
    });
  } finally {
    await pki.remove();
  }
});

Deno.test("`tlsConnect()` with disable_sni sends no SNI and still verifies the name", async () => {
  const pki = await makePki();
  try {
    const fallback = await pki.issue("fallback", ["fallback.test"]);
    const named = await pki.issue("named", ["dns.test"]);
    await withReactor(async (r) => {
      const server = await startSServer(r, fallback, [
        "-servername",
        "dns.test",
        "-cert2",
        named.certPath,
        "-key2",
        named.keyPath,
      ]);
      try {
        // Without SNI the server presents its fallback certificate, which is not for dns.test.
        await rejectsWith(
          dial(r, server.port, { serverName: "dns.test", ca: [pki.caPem], disableSni: true }),
          "TLS handshake with dns.test failed: certificate is not valid for the name",
        );
        const t = await dial(r, server.port, {
          serverName: "fallback.test",
          ca: [pki.caPem],
          disableSni: true,
        });
        await writeAll(t, enc.encode("x\n"), "test write");
        await readAll(t, 2);
        t.close();
      } finally {
        await server.stop();
      }
      assert.match(server.output(), /Protocol version: TLSv1\.3/);
      assert.doesNotMatch(server.output(), /Hostname in TLS extension/);
    });
  } finally {
    await pki.remove();
  }
});

Deno.test("`tlsConnect()` verifies an IP server name against the certificate's IP addresses", async () => {
  await withServer([], async (r, server, pki) => {
    const t = await dial(r, server.port, { serverName: "127.0.0.1", ca: [pki.caPem] });
    t.close();
    await rejectsWith(
      dial(r, server.port, { serverName: "127.0.0.2", ca: [pki.caPem] }),
      "TLS handshake with 127.0.0.2 failed: certificate is not valid for the name",
    );
  });
});

Deno.test("`tlsConnect()` refuses a certificate from another CA, naming the server and the reason", async () => {
  await withServer([], async (r, server, pki) => {
    const error = await rejectsWith(
      dial(r, server.port, { serverName: "dns.test", ca: [pki.otherCaPem] }),
      "test client: TLS handshake with dns.test failed: certificate signed by an unknown authority",
    );
    assert.equal(error.reason.startsWith("certificate signed by an unknown authority"), true);
  });
});

Deno.test("`tlsConnect()` refuses a certificate for another name", async () => {
  await withServer([], async (r, server, pki) => {
    await rejectsWith(
      dial(r, server.port, { serverName: "other.test", ca: [pki.caPem] }),
      "TLS handshake with other.test failed: certificate is not valid for the name",
    );
  });
});

Deno.test("`tlsConnect()` with Deno's bundled roots refuses a private CA", async () => {
  await withServer([], async (r, server) => {
    await rejectsWith(
      dial(r, server.port, { serverName: "dns.test" }),
      "certificate signed by an unknown authority",
    );
  });
});

Deno.test("`tlsConnect()` with insecure accepts any certificate", async () => {
  await withServer([], async (r, server, pki) => {
    const t = await dial(r, server.port, {
      serverName: "wrong.test",
      ca: [pki.otherCaPem],
      insecure: true,
    });
    await writeAll(t, enc.encode("ok\n"), "test write");
    assert.equal(await readAll(t, 3), "ko\n");
    t.close();
  });
});

Deno.test("`tlsConnect()` accepts a pinned public key whatever the CA, and refuses others", async () => {
  await withServer([], async (r, server, _pki, leaf) => {
    const der = new Uint8Array(new X509Certificate(leaf.certPem).raw);
    const pin = publicKeySha256(der);
    const t = await dial(r, server.port, { serverName: "dns.test", pins: [pin] });
    t.close();
    const wrong = new Uint8Array(32).fill(7);
    const error = await rejectsWith(
      dial(r, server.port, { serverName: "dns.test", pins: [wrong] }),
      "TLS handshake with dns.test failed: certificate public key sha256 ",
      `${Buffer.from(pin).toString("base64")} is not in certificate_public_key_sha256`,
    );
    assert.match(error.reason, /^certificate public key sha256 /);
  });
});

Deno.test("`TlsStream.shutdownWrite()` sends close_notify and keeps reading the answer", async () => {
  await withServer([], async (r, server, pki) => {
    const t = await dial(r, server.port, { serverName: "dns.test", ca: [pki.caPem] });
    await writeAll(t, enc.encode("one\ntwo\n"), "test write");
    t.shutdownWrite();
    assert.throws(() => t.write(enc.encode("late")), /write after shutdown/);
    // s_server answers the lines, sees the close_notify and closes: an orderly EOF.
    assert.equal(await readAll(t), "eno\nowt\n");
    t.close();
    await new Promise((res) => r.setTimeout(100, () => res(null)));
    await server.stop();
    assert.match(server.output(), /CONNECTION CLOSED/);
  });
});

/** A TCP server that reads the ClientHello, then does `then` with the socket. */
function brokenServer(
  r: Reactor,
  then: (sock: TcpSocket) => Promise<void>,
): TcpListener {
  return new TcpListener(r, { addr: LOOPBACK, port: 0 }, (sock) => {
    (async () => {
      const buf = new Uint8Array(4096);
      const n = await readSome(sock, buf, "client hello");
      assert.ok(n > 5 && buf[0] === 22, "expected a TLS handshake record");
      await then(sock);
    })().catch(() => sock.abort());
  });
}

Deno.test("`tlsConnect()` fails when the server resets in the middle of the handshake", async () => {
  await withReactor(async (r) => {
    const l = brokenServer(r, (sock) => {
      sock.abort();
      return Promise.resolve();
    });
    try {
      await rejectsWith(
        dial(r, l.localAddr().port, { serverName: "dns.test" }),
        "test client: TLS handshake with dns.test failed: connection reset during the handshake",
      );
    } finally {
      l.close();
    }
  });
});

Deno.test("`tlsConnect()` fails when the server closes in the middle of the handshake", async () => {
  await withReactor(async (r) => {
    const l = brokenServer(r, (sock) => {
      sock.close();
      return Promise.resolve();
    });
    try {
      await rejectsWith(
        dial(r, l.localAddr().port, { serverName: "dns.test" }),
        "TLS handshake with dns.test failed: connection closed during the handshake",
      );
    } finally {
      l.close();
    }
  });
});

Deno.test("`tlsConnect()` fails clearly when the server answers something that is not TLS", async () => {
  await withReactor(async (r) => {
    const l = brokenServer(r, async (sock) => {
      await writeAll(sock, enc.encode("HTTP/1.1 400 Bad Request\r\n\r\n"), "garbage");
      await readSome(sock, new Uint8Array(64), "wait").catch(() => 0);
      sock.close();
    });
    try {
      await rejectsWith(
        dial(r, l.localAddr().port, { serverName: "dns.test" }),
        "TLS handshake with dns.test failed: the server does not speak TLS (",
      );
    } finally {
      l.close();
    }
  });
});

Deno.test("`tlsConnect()` times out against a server that never answers, and frees the socket", async () => {
  await withReactor(async (r) => {
    let peerSaw = "";
    const l = brokenServer(r, async (sock) => {
      const n = await readSome(sock, new Uint8Array(64), "wait").catch(() => -1);
      peerSaw = n === 0 ? "eof" : n < 0 ? "reset" : "data";
      sock.close();
    });
    try {
      const sock = await connectTcp(r, { addr: LOOPBACK, port: l.localAddr().port });
      const t0 = r.now();
      await rejectsWith(
        tlsConnect(sock, { serverName: "dns.test" }, { what: "test client", timeoutMs: 300 }),
        "test client: TLS handshake with dns.test timed out (after 300 ms)",
      );
      assert.ok(r.now() - t0 < 1000, `took ${r.now() - t0} ms`);
      await new Promise((res) => r.setTimeout(50, () => res(null)));
      assert.equal(sock.closed, true);
      assert.notEqual(peerSaw, "");
    } finally {
      l.close();
    }
  });
});
