// The vmess outbound against V2Ray 4.34's VMess server: every security, global padding, the
// WebSocket transport (with and without early data), UDP to two destinations, a wrong uuid.

import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import type { VmessOutboundOptions } from "../../src/config/types.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { readExact, readSome, type Stream, writeAll } from "../../src/io/stream.ts";
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
import { startV2rayClient, startV2rayServer } from "./_peers.ts";
import { makePki } from "../_helpers/tls_certs.ts";
import { connectTcp, TcpListener } from "../../src/io/socket.ts";
import { Body, bodyCipher, vmessConnect } from "../../src/outbound/vmess/stream.ts";
import {
  COMMAND_TCP,
  commandKey,
  type OpenedRequest,
  openRequest,
  OPTION_CHUNK_MASKING,
  OPTION_CHUNK_STREAM,
  OPTION_GLOBAL_PADDING,
  parseUserId,
  SECURITY_AES_128_GCM,
} from "../../src/outbound/vmess/protocol.ts";

const UUID = "b831381d-6324-4d53-ad4f-8cda48b30811";

async function echoBack(s: Stream, data: Uint8Array): Promise<Uint8Array> {
  const back = new Uint8Array(data.length);
  const reading = readExact(s, back, "echo");
  await writeAll(s, data, "write");
  await reading;
  return back;
}

function vmessOutbound(r: Reactor, port: number, extra: Partial<VmessOutboundOptions>): Outbound {
  return createOutbounds(
    [{ type: "vmess", tag: "vm", server: "127.0.0.1", server_port: port, uuid: UUID, ...extra }],
    testContext(r),
    {},
    builtinOutbounds(),
  ).get("vm")!;
}

const CASES: {
  name: string;
  extra: Partial<VmessOutboundOptions>;
  stream?: Record<string, unknown>;
  /** Over TLS (a fresh certificate for 127.0.0.1). */
  tls?: boolean;
}[] = [
  { name: "security auto", extra: {} },
  { name: "chacha20-poly1305", extra: { security: "chacha20-poly1305" } },
  { name: "none", extra: { security: "none" } },
  {
    name: "aes-128-gcm + global_padding",
    extra: { security: "aes-128-gcm", global_padding: true },
  },
  {
    name: "chacha20 + global_padding over ws",
    extra: {
      security: "chacha20-poly1305",
      global_padding: true,
      transport: { type: "ws", path: "/vm", headers: {} },
    },
    stream: { network: "ws", wsSettings: { path: "/vm" } },
  },
  {
    // sing-box's multiplexing is ignored (a warning at check): plain connections to V2Ray.
    name: "aes-128-gcm with multiplex",
    extra: { security: "aes-128-gcm", multiplex: { enabled: true, protocol: "h2mux" } },
  },
  {
    name: "aes-128-gcm over http (HTTP/2 + TLS)",
    extra: {
      security: "aes-128-gcm",
      transport: { type: "http", host: ["h2.test"], path: "/vm", headers: {} },
    },
    stream: { network: "http", httpSettings: { host: ["h2.test"], path: "/vm" } },
    tls: true,
  },
];

for (const c of CASES) {
  Deno.test(`vmess outbound (${c.name}) carries 4 MiB through V2Ray`, async () => {
    const pki = c.tls ? await makePki() : null;
    const leaf = pki ? await pki.issue("proxy", ["proxy.test"], ["127.0.0.1"]) : null;
    await withReactor(async (r) => {
      const stream = leaf
        ? {
          ...c.stream,
          security: "tls",
          tlsSettings: {
            certificates: [{ certificateFile: leaf.certPath, keyFile: leaf.keyPath }],
          },
        }
        : c.stream;
      const v2 = await startV2rayServer(r, {
        protocol: "vmess",
        secret: UUID,
        ...(stream ? { stream } : {}),
      });
      const echo = echoServer(r);
      try {
        const out = vmessOutbound(r, v2.port, {
          ...c.extra,
          ...(pki
            ? { tls: { enabled: true, server_name: "proxy.test", certificate: [pki.caPem] } }
            : {}),
        });
        const dest: Destination = { addr: LOOPBACK, port: echo.localAddr().port };
        const data = pattern(4 * 1024 * 1024, 9);
        const s = await out.dialTcp(dest, { id: 1 });
        const back = await within(r, 30_000, echoBack(s, data), "round trip");
        assert.ok(back.every((b, i) => b === data[i]), "echo matches");
        // Half-close: V2Ray ends the direction, the echo server ends its side.
        s.shutdownWrite();
        const n = await within(r, 10_000, readSome(s, new Uint8Array(16), "eof"), "eof");
        assert.equal(n, 0);
        s.close();
        const many = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
          const x = await out.dialTcp({ domain: "localhost", port: dest.port }, { id: 10 + i });
          const got = await within(r, 10_000, echoBack(x, enc.encode(`n${i}`)), "small");
          x.close();
          return dec.decode(got);
        }));
        assert.deepEqual(many, Array.from({ length: 10 }, (_, i) => `n${i}`));
        await assertGreeting(r, out);
        assert.match(v2.output(), /accepted tcp:127\.0\.0\.1:\d+/);
      } finally {
        echo.close();
        await v2.stop();
      }
    });
    await pki?.remove();
  });
}

for (const security of ["auto", "none"] as const) {
  Deno.test(`vmess outbound (security ${security}) relays UDP to two destinations`, async () => {
    await withReactor(async (r) => {
      const v2 = await startV2rayServer(r, { protocol: "vmess", secret: UUID });
      const a = udpEchoServer(r, LOOPBACK, "a:");
      const b = udpEchoServer(r, LOOPBACK, "b:");
      try {
        const out = vmessOutbound(r, v2.port, { security });
        const flow = await out.openUdp({ id: 2 });
        const got: string[] = [];
        flow.onPacket = (p, from) => got.push(`${dec.decode(p)} from ${from.port}`);
        const pa = a.localAddr().port, pb = b.localAddr().port;
        flow.send(enc.encode("ping"), { addr: LOOPBACK, port: pa });
        flow.send(enc.encode("pong"), { addr: LOOPBACK, port: pb });
        flow.send(enc.encode("again"), { addr: LOOPBACK, port: pa });
        const start = Date.now();
        while (got.length < 3 && Date.now() - start < 5000) {
          await new Promise((res) => r.setTimeout(20, () => res(null)));
        }
        flow.close();
        assert.deepEqual(got.sort(), [
          `a:again from ${pa}`,
          `a:ping from ${pa}`,
          `b:pong from ${pb}`,
        ]);
      } finally {
        a.close();
        b.close();
        await v2.stop();
      }
    });
  });
}

Deno.test("vmess with a wrong uuid: V2Ray refuses it, one clear line per connection", async () => {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { mem: (rec: LogRecord) => records.push(rec) },
    loggers: [
      { category: ["tunbox"], lowestLevel: "debug", sinks: ["mem"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  try {
    await withReactor(async (r) => {
      const v2 = await startV2rayServer(r, { protocol: "vmess", secret: UUID });
      try {
        for (const id of [7, 8]) {
          const sock = await connectTcp(r, { addr: LOOPBACK, port: v2.port });
          const s = await vmessConnect(sock, {
            cmdKey: commandKey(parseUserId("00000000-0000-4000-8000-000000000000")),
            security: SECURITY_AES_128_GCM,
            globalPadding: false,
            authenticatedLength: false,
            command: COMMAND_TCP,
            dest: { addr: LOOPBACK, port: 9 },
            what: 'vmess outbound "bad"',
            id,
            answerWarnMs: 600,
          });
          await writeAll(s, enc.encode("hello"), "write");
          await sleep(r, 900);
          s.close();
        }
        assert.equal(v2.output().match(/invalid user/g)?.length, 2, v2.output());
      } finally {
        await v2.stop();
      }
    });
    const lines = records.filter((x) => x.level === "warning").map((x) =>
      x.message.map((m) => typeof m === "string" ? m : String(m)).join("")
    );
    assert.deepEqual(
      lines,
      [7, 8].map((id) =>
        `[${id}] vmess outbound "bad": no answer from the server 1 s after the request: wrong ` +
        "uuid, or this clock is more than 2 minutes away from the server's? (V2Ray stays silent " +
        "on an unknown user)"
      ),
    );
  } finally {
    await reset();
  }
});

/** Opens the first body chunk after a request V2Ray's client sent; null while incomplete. */
async function firstChunk(req: OpenedRequest, body: Uint8Array): Promise<string | null> {
  const aead = await bodyCipher(req.security, req.bodyKey);
  const b = new Body(aead, null, req.bodyIv, req.bodyIv, req.option);
  if (body.length < 2) return null;
  // Padding length first, then the mask, from the same SHAKE128 stream (as VmessStream reads).
  const pad = b.padding ? b.padding.next() % 64 : 0;
  let v = (body[0]! << 8) | body[1]!;
  if (b.masking) v ^= b.masking.next();
  if (body.length < 2 + v) return null;
  const plain = await aead!.open(b.nextNonce(), body.subarray(2, 2 + v - pad));
  return dec.decode(plain);
}

for (const [security, id] of [["aes-128-gcm", 3], ["chacha20-poly1305", 4]] as const) {
  Deno.test(`the vmess decoder reads a request captured from V2Ray's client (${security})`, async () => {
    await withReactor(async (r) => {
      const captured: Uint8Array[] = [];
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
          }
        };
        sock.wantRead(true);
      });
      const client = await startV2rayClient(r, {
        protocol: "vmess",
        settings: {
          vnext: [{
            address: "127.0.0.1",
            port: fake.localAddr().port,
            users: [{ id: UUID, alterId: 0, security }],
          }],
        },
      });
      try {
        const socks = createOutbounds(
          [{ type: "socks", tag: "s", server: "127.0.0.1", server_port: client.port }],
          testContext(r),
          {},
          builtinOutbounds(),
        ).get("s")!;
        const conn = await socks.dialTcp({ domain: "example.test", port: 80 }, { id: 1 });
        await writeAll(conn, enc.encode("hello from v2ray"), "write");
        const cmdKey = commandKey(parseUserId(UUID));
        let req: OpenedRequest | null = null, text: string | null = null, bytes = new Uint8Array();
        const start = Date.now();
        while (text === null && Date.now() - start < 5000) {
          await sleep(r, 20);
          bytes = new Uint8Array(captured.reduce((n, c) => n + c.length, 0));
          let off = 0;
          for (const c of captured) {
            bytes.set(c, off);
            off += c.length;
          }
          req = openRequest(cmdKey, bytes);
          if (req) text = await firstChunk(req, bytes.subarray(req.length));
        }
        conn.close();
        assert.ok(req, `a whole request among ${bytes.length} captured bytes`);
        assert.ok(Math.abs(req.time - Date.now() / 1000) < 120, "the auth id's time is now");
        assert.deepEqual(req.dest, { domain: "example.test", port: 80 });
        assert.equal(req.command, COMMAND_TCP);
        assert.equal(req.security, id);
        // V2Ray's client chunks, masks and pads (global padding) with the AEAD securities.
        assert.equal(
          req.option,
          OPTION_CHUNK_STREAM | OPTION_CHUNK_MASKING | OPTION_GLOBAL_PADDING,
        );
        assert.equal(text, "hello from v2ray");
        // Another user's key does not open it.
        const other = commandKey(parseUserId("11111111-2222-4333-8444-555555555555"));
        assert.throws(() => openRequest(other, bytes), /auth id/);
      } finally {
        fake.close();
        await client.stop();
      }
    });
  });
}
