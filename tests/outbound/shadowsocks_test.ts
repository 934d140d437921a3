// The shadowsocks outbound against shadowsocks-libev's ss-server (TCP and UDP, every AEAD
// method it shares with tunbox), a wrong password, and config-time refusals.

import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { connectTcp } from "../../src/io/socket.ts";
import { shadowsocksKeys, shadowsocksMethod } from "../../src/outbound/shadowsocks/method.ts";
import { shadowsocksConnect } from "../../src/outbound/shadowsocks/tcp.ts";
import type { ShadowsocksOutboundOptions } from "../../src/config/types.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { readExact, type Stream, writeAll } from "../../src/io/stream.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import type { Destination, Outbound } from "../../src/outbound/types.ts";
import {
  assertGreeting,
  dec,
  echoServer,
  enc,
  LOOPBACK,
  pattern,
  sleep,
  testContext,
  udpEchoServer,
  within,
  withReactor,
} from "./_helpers.ts";
import { startSsLocal, startSsServer } from "./_peers.ts";
import { streamPair } from "../_helpers/stream_pair.ts";
import { TcpListener } from "../../src/io/socket.ts";

/**
 * Writes `data` and reads as many bytes back, without half-closing first: ss-server ends both
 * directions when the client half-closes (shadowsocks-libev does not relay a half-close).
 */
async function echoBack(s: Stream, data: Uint8Array): Promise<Uint8Array> {
  const back = new Uint8Array(data.length);
  const reading = readExact(s, back, "echo");
  await writeAll(s, data, "write");
  await reading;
  return back;
}

function ssOutbound(
  r: Reactor,
  port: number,
  extra: Partial<ShadowsocksOutboundOptions>,
): Outbound {
  return createOutbounds(
    [{
      type: "shadowsocks",
      tag: "ss",
      server: "127.0.0.1",
      server_port: port,
      method: "aes-128-gcm",
      password: "correct horse",
      ...extra,
    }],
    testContext(r),
    {},
    builtinOutbounds(),
  ).get("ss")!;
}

for (const method of ["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"]) {
  Deno.test(`shadowsocks outbound (${method}) carries 4 MiB both ways through ss-server`, async () => {
    await withReactor(async (r) => {
      const ss = await startSsServer(r, method, "correct horse");
      const echo = echoServer(r);
      try {
        const out = ssOutbound(r, ss.port, { method });
        const dest: Destination = { addr: LOOPBACK, port: echo.localAddr().port };
        const data = pattern(4 * 1024 * 1024, 3);
        const stream = await out.dialTcp(dest, { id: 1 });
        const back = await within(r, 30_000, echoBack(stream, data), "round trip");
        stream.close();
        assert.equal(back.length, data.length);
        assert.ok(back.every((b, i) => b === data[i]), "echoed bytes match");
        // Several connections at once, each to a domain the server resolves itself.
        const many = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
          const s = await out.dialTcp({ domain: "localhost", port: dest.port }, { id: 10 + i });
          const msg = enc.encode(`hello ${i}`);
          const got = await within(r, 10_000, echoBack(s, msg), "small round trip");
          s.close();
          return dec.decode(got);
        }));
        assert.deepEqual(many, Array.from({ length: 20 }, (_, i) => `hello ${i}`));
        await assertGreeting(r, out);
      } finally {
        echo.close();
        await ss.stop();
      }
    });
  });

  Deno.test(`shadowsocks outbound (${method}) relays UDP to two destinations`, async () => {
    await withReactor(async (r) => {
      const ss = await startSsServer(r, method, "correct horse");
      const a = udpEchoServer(r, LOOPBACK, "a:");
      const b = udpEchoServer(r, LOOPBACK, "b:");
      try {
        const out = ssOutbound(r, ss.port, { method });
        const flow = await out.openUdp({ id: 2 });
        const got: string[] = [];
        const done = new Promise<void>((resolve) => {
          flow.onPacket = (payload, from) => {
            got.push(`${dec.decode(payload)} from ${from.port}`);
            if (got.length === 2) resolve();
          };
        });
        const pa = a.localAddr().port, pb = b.localAddr().port;
        // The first datagrams may race ss-server's UDP relay setup: resend until answered.
        for (let i = 0; i < 10 && got.length < 2; i++) {
          flow.send(enc.encode("ping"), { addr: LOOPBACK, port: pa });
          flow.send(enc.encode("pong"), { addr: LOOPBACK, port: pb });
          await Promise.race([done, new Promise((res) => r.setTimeout(300, () => res(null)))]);
        }
        flow.close();
        assert.ok(got.includes(`a:ping from ${pa}`), got.join(", "));
        assert.ok(got.includes(`b:pong from ${pb}`), got.join(", "));
      } finally {
        a.close();
        b.close();
        await ss.stop();
      }
    });
  });
}

Deno.test("a wrong password: ss-server rejects it, one clear line per connection", async () => {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { mem: (r: LogRecord) => records.push(r) },
    loggers: [
      { category: ["tunbox"], lowestLevel: "debug", sinks: ["mem"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  try {
    await withReactor(async (r) => {
      const ss = await startSsServer(r, "aes-256-gcm", "right");
      const echo = echoServer(r);
      try {
        const dest = { addr: LOOPBACK, port: echo.localAddr().port };
        const keys = shadowsocksKeys(shadowsocksMethod("aes-256-gcm"), "wrong");
        for (const id of [41, 42]) {
          const sock = await connectTcp(r, { addr: LOOPBACK, port: ss.port });
          const stream = await shadowsocksConnect(sock, {
            keys,
            dest,
            what: 'shadowsocks outbound "ss"',
            id,
            answerWarnMs: 500,
          });
          stream.write(enc.encode("hello"));
          await sleep(r, 800);
          stream.close();
        }
        assert.match(ss.output(), /authentication error/);
      } finally {
        echo.close();
        await ss.stop();
      }
    });
    const lines = records.filter((r) => r.level === "warning").map((r) =>
      r.message.map((m) => typeof m === "string" ? m : String(m)).join("")
    );
    assert.deepEqual(
      lines,
      [41, 42].map((id) =>
        `[${id}] shadowsocks outbound "ss": no answer from the server 1 s after the request: ` +
        "wrong password or method? (shadowsocks servers stay silent on a wrong key)"
      ),
    );
  } finally {
    await reset();
  }
});

Deno.test("shadowsocks outbound refuses a plugin, a stream cipher and a short 2022 key", () => {
  withReactor((r) => {
    const make = (extra: Partial<ShadowsocksOutboundOptions>) => () => ssOutbound(r, 1, extra);
    assert.throws(make({ plugin: "obfs-local" }), /"plugin" in a shadowsocks outbound is not/);
    assert.throws(make({ method: "rc4-md5" }), /stream ciphers .* are insecure/);
    assert.throws(
      make({ method: "2022-blake3-aes-128-gcm", password: "c2hvcnQ=" }),
      /5-byte key; method "2022-blake3-aes-128-gcm" needs 16/,
    );
    return Promise.resolve();
  });
});

Deno.test("the shadowsocks decoder reads frames captured from ss-local", async () => {
  // SIP004 frames the same way in both directions, so ss-local's request (salt, then chunks
  // whose first payload starts with the address) must decode as a server answer would.
  await withReactor(async (r) => {
    const captured: Uint8Array[] = [];
    let seen = 0;
    const fake = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (sock) => {
      sock.onReadable = () => {
        const buf = new Uint8Array(65536);
        for (;;) {
          let n: number;
          try {
            n = sock.read(buf);
          } catch {
            return;
          }
          if (n <= 0) return;
          captured.push(buf.slice(0, n));
          seen += n;
        }
      };
      sock.wantRead(true);
    });
    const local = await startSsLocal(r, fake.localAddr().port, "aes-256-gcm", "capture me");
    try {
      const socks = createOutbounds(
        [{ type: "socks", tag: "s", server: "127.0.0.1", server_port: local.port }],
        testContext(r),
        {},
        builtinOutbounds(),
      ).get("s")!;
      const conn = await socks.dialTcp({ domain: "example.test", port: 80 }, { id: 1 });
      await writeAll(conn, enc.encode("hello from ss-local"), "write");
      const want = 32 + 18 + (1 + 1 + 12 + 2 + 19) + 16;
      const start = Date.now();
      while (seen < want && Date.now() - start < 5000) await sleep(r, 20);
      conn.close();
      const bytes = new Uint8Array(seen);
      let off = 0;
      for (const c of captured) {
        bytes.set(c, off);
        off += c.length;
      }
      assert.ok(seen >= want, `captured ${seen} bytes`);
      // Our stream reads the capture as if the server had sent it.
      const [ours, peer] = streamPair(r);
      const keys = shadowsocksKeys(shadowsocksMethod("aes-256-gcm"), "capture me");
      const stream = await shadowsocksConnect(ours, {
        keys,
        dest: { domain: "x", port: 1 },
        what: "test",
        id: 1,
      });
      await writeAll(peer, bytes, "replay");
      const expected = new Uint8Array([3, 12, ...enc.encode("example.test"), 0, 80]);
      const got = new Uint8Array(expected.length + 19);
      await within(r, 5000, readExact(stream, got, "decode"), "decode");
      assert.deepEqual(got.subarray(0, expected.length), expected);
      assert.equal(dec.decode(got.subarray(expected.length)), "hello from ss-local");
      stream.close();
    } finally {
      fake.close();
      await local.stop();
    }
  });
});
