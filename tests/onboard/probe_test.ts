/**
 * `probePort()` against small servers on loopback: an HTTP proxy that wants credentials, a
 * SOCKS5 server that wants a username and password (RFC 1929), and a port that speaks neither.
 */

import assert from "node:assert/strict";
import { probePort } from "../../src/onboard/probe.ts";

/** A loopback server answering each connection with `handle`; closed by the returned function. */
function serve(handle: (conn: Deno.Conn) => Promise<void>): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      handle(conn).catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

async function readSome(conn: Deno.Conn, n = 512): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  const got = await conn.read(buf);
  return buf.subarray(0, got ?? 0);
}

Deno.test("`probePort()` recognises an HTTP proxy that needs credentials", async () => {
  const s = serve(async (conn) => {
    const req = new TextDecoder().decode(await readSome(conn));
    if (req.startsWith("CONNECT 127.0.0.1:9 ")) {
      await conn.write(
        new TextEncoder().encode("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
      );
    }
  });
  try {
    const r = await probePort("127.0.0.1", s.port, { timeoutMs: 1000 });
    assert.equal(r?.kind, "http");
    assert.equal(r?.httpAuth, true);
    assert.equal(r?.socksAuth, null);
    assert.equal(r?.udp, "untested");
  } finally {
    s.close();
  }
});

Deno.test("`probePort()` logs in to a SOCKS5 server that wants a password, then asks for UDP", async () => {
  const logins: string[] = [];
  const s = serve(async (conn) => {
    const hello = await readSome(conn);
    if (hello[0] !== 5) return; // HTTP probe: close
    await conn.write(new Uint8Array([5, 2]));
    const auth = await readSome(conn);
    const ulen = auth[1]!;
    const user = new TextDecoder().decode(auth.subarray(2, 2 + ulen));
    const pass = new TextDecoder().decode(auth.subarray(3 + ulen, 3 + ulen + auth[2 + ulen]!));
    logins.push(`${user}:${pass}`);
    const ok = user === "alice" && pass === "wonderland";
    await conn.write(new Uint8Array([1, ok ? 0 : 1]));
    if (!ok) return;
    const req = await readSome(conn);
    if (req[1] === 3) await conn.write(new Uint8Array([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]));
  });
  try {
    const none = await probePort("127.0.0.1", s.port, { timeoutMs: 1000 });
    assert.equal(none?.kind, "socks5");
    assert.equal(none?.socksAuth, "userpass");
    assert.equal(none?.authOk, null);
    assert.equal(none?.udp, "untested");
    assert.match(none!.udpDetail, /needs a username and password/);
    const wrong = await probePort("127.0.0.1", s.port, {
      timeoutMs: 1000,
      credentials: { username: "alice", password: "nope" },
    });
    assert.equal(wrong?.authOk, false);
    const right = await probePort("127.0.0.1", s.port, {
      timeoutMs: 1000,
      credentials: { username: "alice", password: "wonderland" },
    });
    assert.equal(right?.authOk, true);
    assert.equal(right?.udp, "refused");
    assert.equal(
      right?.udpDetail,
      "the proxy answered UDP ASSOCIATE with 0x07 (command not supported)",
    );
    assert.ok(logins.includes("alice:wonderland"));
  } finally {
    s.close();
  }
});

Deno.test("`probePort()`: a closed port is null, a port that speaks neither is unknown", async () => {
  const s = serve(async (conn) => {
    await readSome(conn);
    await conn.write(new TextEncoder().encode("SSH-2.0-OpenSSH_9.6\r\n"));
  });
  try {
    const r = await probePort("127.0.0.1", s.port, { timeoutMs: 500 });
    assert.equal(r?.kind, "unknown");
  } finally {
    s.close();
  }
  const closed = serve(() => Promise.resolve());
  const port = closed.port;
  closed.close();
  assert.equal(await probePort("127.0.0.1", port, { timeoutMs: 500 }), null);
});
