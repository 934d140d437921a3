// TlsStream as a Stream: client and server over in-memory stream pairs and over reactor
// sockets (integrity, backpressure, half-close both ways, abort, close flushing).

import assert from "node:assert/strict";
import type { Reactor } from "../../src/io/reactor.ts";
import { connectTcp, TcpListener } from "../../src/io/socket.ts";
import { readExact, readSome, type Stream, writeAll } from "../../src/io/stream.ts";
import { tlsConnect, type TlsStream } from "../../src/tls/client.ts";
import { tlsAccept, type TlsServerContext, tlsServerContext } from "../../src/tls/server.ts";
import { makePki, type Pki } from "../_helpers/tls_certs.ts";
import { type PairStream, streamPair } from "../_helpers/stream_pair.ts";
import { enc, LOOPBACK, pattern, withReactor } from "../outbound/_helpers.ts";

let shared: { pki: Pki; server: TlsServerContext } | null = null;

async function pkiAndServer(): Promise<{ pki: Pki; server: TlsServerContext }> {
  if (shared) return shared;
  const pki = await makePki();
  const leaf = await pki.issue("server", ["tls.test"]);
  const server = tlsServerContext({ certificate: leaf.certPem, key: leaf.keyPem, alpn: ["t1"] });
  shared = { pki, server };
  return shared;
}

/** A connected client/server TLS pair over an in-memory stream pair of `capacity`. */
async function tlsPair(
  r: Reactor,
  capacity = 64 * 1024,
  transports?: PairStream[],
): Promise<[TlsStream, TlsStream]> {
  const { pki, server } = await pkiAndServer();
  const [a, b] = streamPair(r, capacity);
  transports?.push(a, b);
  const accepted = tlsAccept(b, server, { what: "test server", timeoutMs: 5000 });
  const client = await tlsConnect(a, { serverName: "tls.test", ca: [pki.caPem], alpn: ["t1"] }, {
    what: "test client",
    timeoutMs: 5000,
  });
  return [client, await accepted];
}

/** Reads to EOF, collecting the bytes. */
async function drain(s: Stream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await readSome(s, buf, "drain");
    if (n === 0) break;
    parts.push(buf.slice(0, n));
    total += n;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

Deno.test("`TlsStream` carries 8 MiB each way intact through a small in-memory pipe", async () => {
  await withReactor(async (r) => {
    const [c, s] = await tlsPair(r, 16 * 1024);
    assert.equal(c.alpnProtocol, "t1");
    assert.equal(s.alpnProtocol, "t1");
    const up = pattern(8 << 20, 1);
    const down = pattern(8 << 20, 2);
    const send = async (from: Stream, data: Uint8Array) => {
      for (let off = 0; off < data.length; off += 100_000) {
        await writeAll(from, data.subarray(off, off + 100_000), "send");
      }
      from.shutdownWrite();
    };
    const [gotUp, gotDown] = await Promise.all([
      drain(s),
      drain(c),
      send(c, up),
      send(s, down),
    ]);
    assert.equal(gotUp.length, up.length);
    assert.ok(gotUp.every((v, i) => v === up[i]), "upload corrupted");
    assert.equal(gotDown.length, down.length);
    assert.ok(gotDown.every((v, i) => v === down[i]), "download corrupted");
    c.close();
    s.close();
  });
});

Deno.test("`TlsStream` stops reading its transport while the reader is behind", async () => {
  await withReactor(async (r) => {
    const [c, s] = await tlsPair(r, 32 * 1024);
    // The server writes much more than the client reads: the client must hold about its
    // high-water mark, the rest waits in the transport and in the server's writer.
    let written = 0;
    const chunk = pattern(64 * 1024);
    const writer = (async () => {
      for (let i = 0; i < 64; i++) {
        await writeAll(s, chunk, "flood");
        written += chunk.length;
      }
    })();
    await new Promise((res) => r.setTimeout(300, () => res(null)));
    assert.ok(c.bufferedAmount <= 512 * 1024, `client holds ${c.bufferedAmount} bytes`);
    assert.ok(written < 64 * chunk.length, "the writer was never held back");
    let read = 0;
    const buf = new Uint8Array(65536);
    while (read < 64 * chunk.length) read += await readSome(c, buf, "catch up");
    await writer;
    c.close();
    s.close();
  });
});

Deno.test("`TlsStream` half-close: each side reads the other's EOF and can still answer", async () => {
  await withReactor(async (r) => {
    const [c, s] = await tlsPair(r);
    await writeAll(c, enc.encode("question"), "ask");
    c.shutdownWrite();
    const q = await drain(s);
    assert.equal(new TextDecoder().decode(q), "question");
    await writeAll(s, enc.encode("answer after your EOF"), "answer");
    s.shutdownWrite();
    assert.equal(new TextDecoder().decode(await drain(c)), "answer after your EOF");
    c.close();
    s.close();
  });
});

Deno.test("`TlsStream.abort()` is a failure at the peer, `close()` an orderly EOF", async () => {
  await withReactor(async (r) => {
    const [c, s] = await tlsPair(r);
    c.abort();
    await assert.rejects(readSome(s, new Uint8Array(16), "after abort"), /reset|closed/i);
    s.close();
    const transports: PairStream[] = [];
    const [c2, s2] = await tlsPair(r, 64 * 1024, transports);
    await writeAll(c2, enc.encode("last words"), "write");
    const t0 = r.now();
    c2.close();
    assert.equal(new TextDecoder().decode(await drain(s2)), "last words");
    // The client's transport is closed once close_notify is out, not after the 5 s fallback,
    // while the server has not closed yet.
    while (!transports[0]!.closed && r.now() - t0 < 3000) {
      await new Promise((res) => r.setTimeout(10, () => res(null)));
    }
    assert.ok(transports[0]!.closed, "client transport still open");
    assert.ok(r.now() - t0 < 1000, `closed after ${r.now() - t0} ms`);
    s2.close();
  });
});

/**
 * A client and a server TLS stream joined by a relay whose server-to-client direction waits
 * while `hold` is pending (the client-to-server direction always flows); `serverSide` is the
 * relay's end of the server's transport.
 */
async function heldPair(r: Reactor, hold: () => Promise<void>): Promise<{
  c: TlsStream;
  s: TlsStream;
  serverSide: PairStream;
}> {
  const { pki, server } = await pkiAndServer();
  const [a1, a2] = streamPair(r, 16 * 1024);
  const [b1, b2] = streamPair(r, 16 * 1024);
  const relay = async (from: Stream, to: Stream, wait: () => Promise<void>) => {
    const buf = new Uint8Array(4096);
    for (;;) {
      await wait();
      const n = await readSome(from, buf, "relay");
      if (n === 0) return to.shutdownWrite();
      await writeAll(to, buf.subarray(0, n), "relay");
    }
  };
  relay(a2, b1, () => Promise.resolve()).catch(() => b1.abort());
  relay(b1, a2, hold).catch(() => a2.abort());
  const accepted = tlsAccept(b2, server, { what: "test server", timeoutMs: 5000 });
  const c = await tlsConnect(a1, { serverName: "tls.test", ca: [pki.caPem] }, {
    what: "test client",
    timeoutMs: 5000,
  });
  return { c, s: await accepted, serverSide: b1 };
}

/** Resolves after `ms` on the reactor. */
function sleep(r: Reactor, ms: number): Promise<void> {
  return new Promise((res) => r.setTimeout(ms, () => res()));
}

Deno.test("`TlsStream` delivers its last bytes when the peer's EOF comes while they wait for the transport", async () => {
  await withReactor(async (r) => {
    let release = () => {};
    let held = Promise.resolve();
    const { c, s } = await heldPair(r, () => held);
    held = new Promise((res) => release = res);
    // The server's answer fills the transport and waits; then the client's EOF arrives. Node's
    // TLS socket counts its writes and its shutdown done and destroys itself (both directions
    // ended) while its last record still waits for the transport: that record must still go
    // out before the transport closes, not be dropped for a clean-looking EOF.
    const answer = pattern(40 * 1024, 3);
    const answered = writeAll(s, answer, "answer").then(() => s.shutdownWrite());
    await sleep(r, 50);
    await writeAll(c, enc.encode("q"), "ask");
    c.shutdownWrite();
    assert.equal(new TextDecoder().decode(await drain(s)), "q");
    await answered;
    await sleep(r, 50);
    release();
    const got = await drain(c);
    assert.equal(got.length, answer.length);
    assert.ok(got.every((v, i) => v === answer[i]), "answer corrupted");
    c.close();
    s.close();
  });
});

Deno.test("`TlsStream.abort()` resets the transport while its last bytes still wait for it", async () => {
  await withReactor(async (r) => {
    let held = Promise.resolve();
    const { c, s, serverSide } = await heldPair(r, () => held);
    held = new Promise(() => {});
    writeAll(s, pattern(40 * 1024, 3), "answer").then(() => s.shutdownWrite(), () => {});
    await sleep(r, 50);
    c.shutdownWrite();
    assert.equal((await drain(s)).length, 0);
    await sleep(r, 50);
    s.abort();
    await sleep(r, 20);
    assert.match(String(serverSide.hangupError()), /reset/);
    c.abort();
  });
});

Deno.test("`TlsStream` over reactor sockets: a server on the reactor echoes 1 MiB", async () => {
  await withReactor(async (r) => {
    const { pki, server } = await pkiAndServer();
    const l = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (sock) => {
      (async () => {
        const t = await tlsAccept(sock, server, { what: "echo", timeoutMs: 5000 });
        const buf = new Uint8Array(65536);
        for (;;) {
          const n = await readSome(t, buf, "echo read");
          if (n === 0) break;
          await writeAll(t, buf.subarray(0, n), "echo write");
        }
        t.shutdownWrite();
        t.close();
      })().catch(() => sock.abort());
    });
    try {
      const sock = await connectTcp(r, { addr: LOOPBACK, port: l.localAddr().port });
      const t = await tlsConnect(sock, { serverName: "tls.test", ca: [pki.caPem] }, {
        what: "client",
        timeoutMs: 5000,
      });
      assert.deepEqual(t.localAddr(), sock.localAddr());
      const data = pattern(1 << 20, 5);
      const got = new Uint8Array(data.length);
      await Promise.all([
        writeAll(t, data, "send").then(() => t.shutdownWrite()),
        readExact(t, got, "echo"),
      ]);
      assert.ok(got.every((v, i) => v === data[i]), "echo corrupted");
      assert.equal(await readSome(t, new Uint8Array(8), "eof"), 0);
      t.close();
    } finally {
      l.close();
    }
  });
});

Deno.test("`tlsAccept()` fails naming the inbound when the client does not trust it", async () => {
  await withReactor(async (r) => {
    const { pki, server } = await pkiAndServer();
    const [a, b] = streamPair(r);
    const accepted = tlsAccept(b, server, { what: 'inbound "in"', timeoutMs: 5000 });
    await assert.rejects(
      tlsConnect(a, { serverName: "tls.test", ca: [pki.otherCaPem] }, {
        what: "client",
        timeoutMs: 5000,
      }),
      /client: TLS handshake with tls\.test failed: certificate signed by an unknown authority/,
    );
    await assert.rejects(accepted, /inbound "in": TLS handshake failed: /);
  });
});

Deno.test.afterAll(async () => {
  await shared?.pki.remove();
  shared = null;
});
