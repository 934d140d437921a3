// The trojan and vless outbounds over TLS against real servers: V2Ray 4.34 (Trojan and VLESS,
// plain TLS and WebSocket over TLS) and trojan-gfw; UDP; a wrong password or uuid.

import assert from "node:assert/strict";
import type { Reactor } from "../../src/io/reactor.ts";
import { readExact, readSome, type Stream, writeAll } from "../../src/io/stream.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import type { Destination, Outbound } from "../../src/outbound/types.ts";
import { makePki, type Pki } from "../_helpers/tls_certs.ts";
import {
  assertGreeting,
  dec,
  echoServer,
  enc,
  LOOPBACK,
  pattern,
  testContext,
  udpEchoServer,
  within,
  withReactor,
} from "./_helpers.ts";
import { startTrojanServer, startV2rayServer } from "./_peers.ts";

const UUID = "0c3d4b5a-1e2f-4a6b-9c8d-7e6f5a4b3c2d";
const PASSWORD = "trojan test password";

let pki: Pki | null = null;
async function certs() {
  if (!pki) pki = await makePki();
  const leaf = await pki.issue("proxy", ["proxy.test"], ["127.0.0.1"]);
  return { pki, leaf };
}

async function echoBack(s: Stream, data: Uint8Array): Promise<Uint8Array> {
  const back = new Uint8Array(data.length);
  const reading = readExact(s, back, "echo");
  await writeAll(s, data, "write");
  await reading;
  return back;
}

function outbound(r: Reactor, o: Record<string, unknown>, ca: string): Outbound {
  return createOutbounds(
    [{
      tag: "p",
      server: "127.0.0.1",
      tls: { enabled: true, server_name: "proxy.test", certificate: [ca] },
      ...o,
    } as never],
    testContext(r),
    {},
    builtinOutbounds(),
  ).get("p")!;
}

async function tcpAndUdp(r: Reactor, out: Outbound) {
  const echo = echoServer(r);
  const a = udpEchoServer(r, LOOPBACK, "a:");
  // b answers 200 ms after a: V2Ray 4.34's Trojan server writes each destination's answers
  // from its own goroutine, unsynchronised; two answers at once crash it over ws ("panic:
  // concurrent write to websocket connection", the second answer lost) and duplicate one over
  // http (HTTP/2). Both requests still leave together, before the association is open.
  const b = udpEchoServer(r, LOOPBACK, "b:", 200);
  try {
    const dest: Destination = { addr: LOOPBACK, port: echo.localAddr().port };
    const data = pattern(4 * 1024 * 1024, 13);
    const s = await out.dialTcp(dest, { id: 1 });
    const back = await within(r, 30_000, echoBack(s, data), "round trip");
    assert.ok(back.every((x, i) => x === data[i]), "echo matches");
    s.close();
    const many = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const x = await out.dialTcp({ domain: "localhost", port: dest.port }, { id: 10 + i });
      const got = await within(r, 10_000, echoBack(x, enc.encode(`t${i}`)), "small");
      x.close();
      return dec.decode(got);
    }));
    assert.deepEqual(many, Array.from({ length: 10 }, (_, i) => `t${i}`));
    await assertGreeting(r, out);
    const flow = await out.openUdp({ id: 2 });
    const got: string[] = [];
    flow.onPacket = (p, from) => got.push(`${dec.decode(p)} from ${from.port}`);
    const pa = a.localAddr().port, pb = b.localAddr().port;
    flow.send(enc.encode("ping"), { addr: LOOPBACK, port: pa });
    flow.send(enc.encode("pong"), { addr: LOOPBACK, port: pb });
    const start = Date.now();
    while (got.length < 2 && Date.now() - start < 5000) {
      await new Promise((res) => r.setTimeout(20, () => res(null)));
    }
    flow.close();
    assert.deepEqual(got.sort(), [`a:ping from ${pa}`, `b:pong from ${pb}`]);
  } finally {
    echo.close();
    a.close();
    b.close();
  }
}

for (const protocol of ["trojan", "vless"] as const) {
  for (const via of ["tcp", "ws", "http"] as const) {
    const name = via === "tcp" ? "TLS" : via === "ws" ? "TLS + ws" : "TLS + http (HTTP/2)";
    Deno.test(`${protocol} outbound over ${name} against V2Ray`, async () => {
      const { pki, leaf } = await certs();
      await withReactor(async (r) => {
        const v2 = await startV2rayServer(r, {
          protocol,
          secret: protocol === "trojan" ? PASSWORD : UUID,
          stream: {
            ...(via === "ws" ? { network: "ws", wsSettings: { path: "/p" } } : {}),
            ...(via === "http"
              ? { network: "http", httpSettings: { host: ["h2.test"], path: "/h2" } }
              : {}),
            security: "tls",
            tlsSettings: {
              certificates: [{ certificateFile: leaf.certPath, keyFile: leaf.keyPath }],
            },
          },
        });
        try {
          const out = outbound(r, {
            type: protocol,
            server_port: v2.port,
            ...(protocol === "trojan" ? { password: PASSWORD } : { uuid: UUID }),
            ...(via === "ws" ? { transport: { type: "ws", path: "/p", headers: {} } } : {}),
            ...(via === "http"
              ? { transport: { type: "http", host: ["h2.test"], path: "/h2", headers: {} } }
              : {}),
          }, pki.caPem);
          await tcpAndUdp(r, out);
          assert.match(v2.output(), /accepted tcp:127\.0\.0\.1:\d+/);
        } finally {
          await v2.stop();
        }
      });
    });
  }

  Deno.test(`${protocol} outbound with a wrong ${protocol === "trojan" ? "password" : "uuid"}: V2Ray refuses`, async () => {
    const { pki, leaf } = await certs();
    await withReactor(async (r) => {
      const v2 = await startV2rayServer(r, {
        protocol,
        secret: protocol === "trojan" ? PASSWORD : UUID,
        stream: {
          security: "tls",
          tlsSettings: {
            certificates: [{ certificateFile: leaf.certPath, keyFile: leaf.keyPath }],
          },
        },
      });
      const echo = echoServer(r);
      try {
        const out = outbound(r, {
          type: protocol,
          server_port: v2.port,
          ...(protocol === "trojan"
            ? { password: "wrong" }
            : { uuid: "00000000-0000-4000-8000-000000000000" }),
        }, pki.caPem);
        const s = await out.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 5 });
        await writeAll(s, enc.encode("hello"), "write");
        const got = await within(
          r,
          10_000,
          readSome(s, new Uint8Array(64), "read").then((n) => `read ${n}`, (e) => String(e)),
          "refusal",
        );
        assert.notEqual(got, "read 5", "nothing is echoed");
        s.close();
        const start = Date.now();
        while (!/invalid|not a valid|failed to/i.test(v2.output()) && Date.now() - start < 3000) {
          await new Promise((res) => r.setTimeout(50, () => res(null)));
        }
        assert.match(v2.output(), /invalid|not a valid|failed to/i);
        if (protocol === "vless") assert.match(got, /closed the connection without answering/);
      } finally {
        echo.close();
        await v2.stop();
      }
    });
  });
}

Deno.test("trojan outbound against trojan-gfw: TCP, UDP, and a wrong password goes to the fallback", async () => {
  const { pki, leaf } = await certs();
  await withReactor(async (r) => {
    const fallback = echoServer(r);
    const server = await startTrojanServer(
      r,
      PASSWORD,
      leaf.certPath,
      leaf.keyPath,
      fallback.localAddr().port,
    );
    try {
      const out = outbound(
        r,
        { type: "trojan", server_port: server.port, password: PASSWORD },
        pki.caPem,
      );
      await tcpAndUdp(r, out);
      // A wrong password: trojan hands the bytes to its fallback (an echo server here), which
      // answers with the request itself: proof the server did not proxy it.
      const bad = outbound(
        r,
        { type: "trojan", server_port: server.port, password: "nope" },
        pki.caPem,
      );
      const s = await bad.dialTcp({ addr: LOOPBACK, port: 9 }, { id: 3 });
      await writeAll(s, enc.encode("x"), "write");
      const head = new Uint8Array(56);
      await within(r, 5000, readExact(s, head, "fallback echo"), "fallback");
      assert.equal(dec.decode(head).length, 56);
      assert.match(dec.decode(head), /^[0-9a-f]{56}$/, "the fallback got the key line");
      s.close();
    } finally {
      await server.stop();
      fallback.close();
    }
  });
});
