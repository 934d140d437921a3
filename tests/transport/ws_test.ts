// The WebSocket transport against a minimal RFC 6455 server on the reactor: upgrade with path
// and headers, early data in the path and in a header, masked frames both ways, ping/pong,
// the server's close frame, a refused upgrade.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Reactor } from "../../src/io/reactor.ts";
import { connectTcp, TcpListener } from "../../src/io/socket.ts";
import { readExact, readSome, type Stream, writeAll } from "../../src/io/stream.ts";
import { readHeaderBlock } from "../../src/io/handshake_io.ts";
import { acceptFor, maskInto, wsConnect } from "../../src/transport/ws.ts";
import { dec, enc, LOOPBACK, pattern, within, withReactor } from "../outbound/_helpers.ts";

/** Reads one client frame (must be masked); returns opcode and unmasked payload. */
async function readFrame(s: Stream): Promise<{ op: number; payload: Uint8Array }> {
  const h = new Uint8Array(2);
  await readExact(s, h, "frame header");
  assert.ok(h[1]! & 0x80, "client frames are masked");
  let len = h[1]! & 0x7f;
  if (len === 126) {
    const b = new Uint8Array(2);
    await readExact(s, b, "len16");
    len = (b[0]! << 8) | b[1]!;
  } else if (len === 127) {
    const b = new Uint8Array(8);
    await readExact(s, b, "len64");
    len = Number(new DataView(b.buffer).getBigUint64(0));
  }
  const mask = new Uint8Array(4);
  await readExact(s, mask, "mask");
  const data = new Uint8Array(len);
  await readExact(s, data, "payload");
  const out = new Uint8Array(len);
  maskInto(out, data, mask);
  return { op: h[0]! & 0x0f, payload: out };
}

function serverFrame(op: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126
    ? [0x80 | op, n]
    : n < 65536
    ? [0x80 | op, 126, n >> 8, n & 0xff]
    : [0x80 | op, 127, 0, 0, 0, 0, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  return new Uint8Array([...head, ...payload]);
}

interface Seen {
  requests: string[];
  early: string[];
}

/** Echoes binary frames; on "ping me" sends a ping first; on "close me" sends a close frame. */
function wsServer(r: Reactor, opts: { status?: number; edHeader?: string; edPath?: string }) {
  const seen: Seen = { requests: [], early: [] };
  const l = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (sock) => {
    (async () => {
      const head = dec.decode(await readHeaderBlock(sock, "request"));
      seen.requests.push(head);
      const key = /sec-websocket-key: (\S+)/i.exec(head)![1]!;
      if (opts.status) {
        await writeAll(sock, enc.encode(`HTTP/1.1 ${opts.status} Not Found\r\n\r\n`), "404");
        sock.close();
        return;
      }
      let early = "";
      if (opts.edHeader) early = new RegExp(`${opts.edHeader}: (\\S+)`, "i").exec(head)?.[1] ?? "";
      if (opts.edPath) {
        const path = /^GET (\S+)/.exec(head)![1]!;
        early = path.slice(opts.edPath.length);
      }
      await writeAll(
        sock,
        enc.encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
        ),
        "101",
      );
      if (early) {
        const bytes = new Uint8Array(Buffer.from(early, "base64url"));
        seen.early.push(dec.decode(bytes));
        await writeAll(sock, serverFrame(2, bytes), "echo early");
      }
      for (;;) {
        const f = await readFrame(sock);
        if (f.op === 8) break;
        if (f.op === 10) {
          await writeAll(sock, serverFrame(2, enc.encode(`pong:${dec.decode(f.payload)}`)), "p");
          continue;
        }
        const text = f.payload.length < 100 ? dec.decode(f.payload) : "";
        if (text === "ping me") await writeAll(sock, serverFrame(9, enc.encode("hi")), "ping");
        else if (text === "close me") {
          await writeAll(sock, serverFrame(8, new Uint8Array([3, 232])), "close");
          const f2 = await readFrame(sock);
          assert.equal(f2.op, 8, "the client answers a close with a close");
          break;
        } else {
          // Echo in frames of at most 60000 bytes (a 64-bit length is tested by big ones).
          await writeAll(sock, serverFrame(2, f.payload), "echo");
        }
      }
    })().catch(() => {}).finally(() => sock.close());
  });
  return { listener: l, seen };
}

async function client(r: Reactor, port: number, extra: Record<string, unknown> = {}) {
  const sock = await connectTcp(r, { addr: LOOPBACK, port });
  return await wsConnect(sock, {
    path: "/tunnel",
    headers: { "X-Test": ["1"], Host: ["cdn.example"] },
    host: `127.0.0.1:${port}`,
    what: "test",
    ...extra,
  });
}

Deno.test("`wsConnect()` upgrades with path and headers and carries 1 MiB intact", async () => {
  await withReactor(async (r) => {
    const { listener, seen } = wsServer(r, {});
    try {
      const ws = await client(r, listener.localAddr().port);
      const data = pattern(1 << 20, 4);
      const back = new Uint8Array(data.length);
      const reading = readExact(ws, back, "echo");
      await writeAll(ws, data, "write");
      await within(r, 10_000, reading, "echo");
      assert.deepEqual(back, data);
      const req = seen.requests[0]!;
      assert.match(req, /^GET \/tunnel HTTP\/1\.1\r\nHost: cdn\.example\r\n/);
      assert.match(req, /\r\nUpgrade: websocket\r\n/);
      assert.match(req, /\r\nX-Test: 1\r\n/);
      assert.match(req, /\r\nUser-Agent: Go-http-client\/1\.1\r\n/);
      // A ping is answered with a pong carrying its payload.
      await writeAll(ws, enc.encode("ping me"), "ping");
      const buf = new Uint8Array(7);
      await within(r, 5000, readExact(ws, buf, "pong"), "pong");
      assert.equal(dec.decode(buf), "pong:hi");
      // The server's close frame ends the stream.
      await writeAll(ws, enc.encode("close me"), "close");
      assert.equal(await within(r, 5000, readSome(ws, buf, "eof"), "eof"), 0);
      ws.close();
    } finally {
      listener.close();
    }
  });
});

for (const where of ["path", "header"] as const) {
  Deno.test(`\`wsConnect()\` sends early data in the ${where}`, async () => {
    await withReactor(async (r) => {
      const { listener, seen } = wsServer(
        r,
        where === "path" ? { edPath: "/tunnel" } : { edHeader: "Sec-WebSocket-Protocol" },
      );
      try {
        const ws = await client(r, listener.localAddr().port, {
          maxEarlyData: 8,
          ...(where === "header" ? { earlyDataHeaderName: "Sec-WebSocket-Protocol" } : {}),
        });
        // 12 bytes: 8 travel with the upgrade, 4 in the first frame.
        await writeAll(ws, enc.encode("early+later!"), "write");
        const buf = new Uint8Array(12);
        await within(r, 5000, readExact(ws, buf, "echo"), "echo");
        assert.equal(dec.decode(buf), "early+later!");
        assert.deepEqual(seen.early, ["early+la"]);
        ws.close();
      } finally {
        listener.close();
      }
    });
  });
}

Deno.test("`wsConnect()` names the status of a refused upgrade", async () => {
  await withReactor(async (r) => {
    const { listener } = wsServer(r, { status: 404 });
    try {
      await assert.rejects(
        () => client(r, listener.localAddr().port),
        /test: WebSocket upgrade refused: 404 Not Found \(check "path" and "headers"\)/,
      );
    } finally {
      listener.close();
    }
  });
});
