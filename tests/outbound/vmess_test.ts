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
import { startV2rayServer } from "./_peers.ts";
import { connectTcp } from "../../src/io/socket.ts";
import { vmessConnect } from "../../src/outbound/vmess/stream.ts";
import {
  COMMAND_TCP,
  commandKey,
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
];

for (const c of CASES) {
  Deno.test(`vmess outbound (${c.name}) carries 4 MiB through V2Ray`, async () => {
    await withReactor(async (r) => {
      const v2 = await startV2rayServer(r, {
        protocol: "vmess",
        secret: UUID,
        ...(c.stream ? { stream: c.stream } : {}),
      });
      const echo = echoServer(r);
      try {
        const out = vmessOutbound(r, v2.port, c.extra);
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
        assert.match(v2.output(), /accepted tcp:127\.0\.0\.1:\d+/);
      } finally {
        echo.close();
        await v2.stop();
      }
    });
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
