import assert from "node:assert/strict";
import type { SocksOutboundOptions } from "../../src/config/types.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { TcpListener, type TcpSocket } from "../../src/io/socket.ts";
import { startSocksServer } from "../../src/inbound/serve_socks.ts";
import { readExact, readSome, writeAll } from "../../src/io/handshake_io.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import {
  type DialContext,
  type Outbound,
  OutboundError,
  type OutboundErrorKind,
  type UdpFlow,
} from "../../src/outbound/types.ts";
import {
  dec,
  echoExact,
  echoServer,
  enc,
  freePort,
  LOOPBACK,
  LOOPBACK6,
  pattern,
  type Peer,
  testContext,
  udpEchoServer,
  within,
  withReactor,
} from "./_helpers.ts";
import { startDanted, startMicrosocks, startV2ray } from "./_peers.ts";

function socksOutbound(
  r: Reactor,
  port: number,
  extra: Partial<SocksOutboundOptions> = {},
  ctx: DialContext = testContext(r),
): Outbound {
  const outs = createOutbounds(
    [{ type: "socks", tag: "proxy", server: "127.0.0.1", server_port: port, ...extra }],
    ctx,
    {},
    builtinOutbounds(),
  );
  return outs.get("proxy")!;
}

/** Our own SOCKS server (the socks inbound + direct handler) as a peer. */
function startOwn(r: Reactor, user?: string, pass?: string): Peer {
  const server = startSocksServer({
    reactor: r,
    listen: { addr: LOOPBACK, port: 0 },
    ...(user !== undefined ? { users: [{ username: user, password: pass ?? "" }] } : {}),
  });
  return {
    port: server.localAddr().port,
    pid: Deno.pid,
    output: () => "",
    stop: () => Promise.resolve(server.close()),
  };
}

/** A fake server: runs `script` on every accepted connection. */
function fakeServer(r: Reactor, script: (sock: TcpSocket) => Promise<void>): TcpListener {
  return new TcpListener(r, { addr: LOOPBACK, port: 0 }, (sock) => {
    script(sock).catch(() => {}).finally(() => sock.close());
  });
}

async function expectKind(
  p: Promise<unknown>,
  kind: OutboundErrorKind,
  message?: RegExp,
): Promise<OutboundError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof OutboundError, `expected OutboundError, got ${caught}`);
  assert.equal(caught.kind, kind, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** Sends `count` datagrams to a UDP echo server through `flow`; returns the replies. */
async function udpRoundTrip(
  r: Reactor,
  flow: UdpFlow,
  echoPort: number,
  count = 3,
  echoAddr = LOOPBACK,
): Promise<{ text: string; fromPort: number }[]> {
  const got: { text: string; fromPort: number }[] = [];
  const all = Promise.withResolvers<void>();
  flow.onPacket = (payload, from) => {
    got.push({ text: dec.decode(payload), fromPort: from.port });
    if (got.length === count) all.resolve();
  };
  for (let i = 0; i < count; i++) {
    flow.send(enc.encode(`datagram ${i}`), { addr: echoAddr, port: echoPort });
  }
  await within(r, 3000, all.promise, "UDP replies");
  return got.sort((a, b) => a.text.localeCompare(b.text));
}

const PEERS: [string, (r: Reactor, user?: string, pass?: string) => Promise<Peer> | Peer][] = [
  ["danted", (r) => startDanted(r)],
  ["microsocks", startMicrosocks],
  ["v2ray", startV2ray],
  ["tunbox socks inbound", startOwn],
];

for (const [name, start] of PEERS) {
  Deno.test(`socks outbound CONNECTs through ${name} and moves 1 MiB both ways`, async () => {
    await withReactor(async (r) => {
      const peer = await start(r);
      const echo = echoServer(r);
      try {
        const out = socksOutbound(r, peer.port);
        const sock = await out.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 1 });
        const data = pattern(1 << 20);
        const back = await echoExact(sock, data);
        sock.close();
        assert.equal(back.length, data.length);
        assert.deepEqual(back, data);
        // A domain destination goes to the server as ATYP 3 (the server resolves it).
        const s2 = await out.dialTcp({ domain: "localhost", port: echo.localAddr().port }, {
          id: 2,
        });
        assert.equal(dec.decode(await echoExact(s2, enc.encode("by name"))), "by name");
        s2.close();
      } finally {
        echo.close();
        await peer.stop();
      }
    });
  });
}

for (const [name, start] of PEERS.filter(([n]) => n !== "microsocks")) {
  Deno.test(`socks outbound UDP ASSOCIATE through ${name} reaches a UDP echo server`, async () => {
    await withReactor(async (r) => {
      const peer = await start(r);
      const echo = udpEchoServer(r, LOOPBACK, "echo:");
      try {
        const out = socksOutbound(r, peer.port);
        assert.ok(out.networks.has("udp"));
        const flow = await out.openUdp({ id: 1 });
        const got = await udpRoundTrip(r, flow, echo.localAddr().port);
        assert.deepEqual(got.map((g) => g.text), [
          "echo:datagram 0",
          "echo:datagram 1",
          "echo:datagram 2",
        ]);
        assert.ok(got.every((g) => g.fromPort === echo.localAddr().port));
        flow.close();
      } finally {
        echo.close();
        await peer.stop();
      }
    });
  });
}

for (
  const [name, start] of [["microsocks", startMicrosocks], ["v2ray", startV2ray], [
    "tunbox socks inbound",
    startOwn,
  ]] as const
) {
  Deno.test(`socks outbound authenticates to ${name} and reports a wrong password as auth`, async () => {
    await withReactor(async (r) => {
      const peer = await start(r, "alice", "s3cret");
      const echo = echoServer(r);
      try {
        const good = socksOutbound(r, peer.port, { username: "alice", password: "s3cret" });
        const sock = await good.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 1 });
        assert.equal(dec.decode(await echoExact(sock, enc.encode("authed"))), "authed");
        sock.close();
        const bad = socksOutbound(r, peer.port, { username: "alice", password: "wrong" });
        await expectKind(
          bad.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 2 }),
          "auth",
          /socks outbound "proxy": CONNECT 127\.0\.0\.1:\d+: server rejected username\/password \(status 0x[0-9a-f]{2}\)/,
        );
        const none = socksOutbound(r, peer.port);
        await expectKind(
          none.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 3 }),
          "auth",
          /accepted none of the offered methods/,
        );
      } finally {
        echo.close();
        await peer.stop();
      }
    });
  });
}

for (
  const [name, start] of [["danted", startDanted], ["microsocks", startMicrosocks], [
    "tunbox socks inbound",
    startOwn,
  ]] as const
) {
  Deno.test(`socks outbound maps ${name}'s refusal of a closed port to "refused"`, async () => {
    await withReactor(async (r) => {
      const peer = await start(r);
      try {
        const out = socksOutbound(r, peer.port);
        await expectKind(
          out.dialTcp({ addr: LOOPBACK, port: freePort() }, { id: 1 }),
          "refused",
          /server replied 0x05 \(connection refused\)/,
        );
      } finally {
        await peer.stop();
      }
    });
  });
}

Deno.test("socks outbound to a stopped server fails fast with refused", async () => {
  await withReactor(async (r) => {
    const out = socksOutbound(r, freePort());
    const start = r.now();
    await expectKind(
      out.dialTcp({ addr: LOOPBACK, port: 80 }, { id: 1 }),
      "refused",
      /connect to server 127\.0\.0\.1:\d+: .*ECONNREFUSED/,
    );
    assert.ok(r.now() - start < 100);
  });
});

Deno.test("socks outbound turns a server answering garbage into a protocol error naming the byte", async () => {
  await withReactor(async (r) => {
    const server = fakeServer(r, async (sock) => {
      await readSome(sock, new Uint8Array(16), "greeting");
      await writeAll(sock, new Uint8Array([0x48, 0x54, 0x54, 0x50, 0x2f]), "garbage"); // "HTTP/"
    });
    const out = socksOutbound(r, server.localAddr().port);
    await expectKind(
      out.dialTcp({ addr: LOOPBACK, port: 80 }, { id: 1 }),
      "protocol",
      /greeting with version byte 0x48, expected 0x05/,
    );
    server.close();
  });
});

Deno.test("socks outbound survives random garbage from the server on every handshake step", async () => {
  await withReactor(async (r) => {
    let seed = 1;
    const server = fakeServer(r, async (sock) => {
      await readSome(sock, new Uint8Array(64), "greeting");
      const junk = new Uint8Array(1 + (seed % 40));
      for (let i = 0; i < junk.length; i++) junk[i] = (seed = (seed * 48271) % 2147483647) & 0xff;
      junk[0] = 5; // pass the version check sometimes
      if (seed % 2) junk[1] = 0; // and the method check
      await writeAll(sock, junk, "junk");
      await readSome(sock, new Uint8Array(64), "request").catch(() => 0);
      await writeAll(sock, junk.subarray(1), "more junk").catch(() => {});
    });
    const out = socksOutbound(r, server.localAddr().port, { connect_timeout: 300 });
    for (let i = 0; i < 30; i++) {
      try {
        const s = await out.dialTcp({ addr: LOOPBACK, port: 80 }, { id: i });
        s.close(); // a lucky "success" reply is fine; no crash, no hang
      } catch (e) {
        assert.ok(e instanceof OutboundError, String(e));
      }
    }
    server.close();
  });
});

Deno.test("socks outbound reports a server closing mid-handshake", async () => {
  await withReactor(async (r) => {
    const server = fakeServer(r, async (sock) => {
      await readSome(sock, new Uint8Array(16), "greeting");
      await writeAll(sock, new Uint8Array([5]), "half a reply");
    });
    const out = socksOutbound(r, server.localAddr().port);
    await expectKind(
      out.dialTcp({ addr: LOOPBACK, port: 80 }, { id: 1 }),
      "refused",
      /read SOCKS5 method selection: connection closed after 1 of 2 bytes/,
    );
    server.close();
  });
});

Deno.test("socks outbound times out on a server that never answers", async () => {
  await withReactor(async (r) => {
    const held: TcpSocket[] = [];
    const server = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (s) => held.push(s));
    const out = socksOutbound(r, server.localAddr().port, { connect_timeout: 250 });
    const start = r.now();
    await expectKind(
      out.dialTcp({ addr: LOOPBACK, port: 80 }, { id: 1 }),
      "timeout",
      /no answer within 250 ms/,
    );
    const elapsed = r.now() - start;
    assert.ok(elapsed >= 240 && elapsed < 1000, `timed out after ${elapsed} ms`);
    for (const s of held) s.close();
    server.close();
  });
});

/** A fake SOCKS5 server that answers CONNECT with `reply` and then sends `after`. */
function scriptedSocks5(r: Reactor, reply: Uint8Array, after = new Uint8Array(0)): TcpListener {
  return fakeServer(r, async (sock) => {
    const greeting = new Uint8Array(3);
    await readExact(sock, greeting, "greeting");
    await writeAll(sock, new Uint8Array([5, 0]), "method");
    const req = new Uint8Array(10);
    await readExact(sock, req, "request (IPv4)");
    const both = new Uint8Array(reply.length + after.length);
    both.set(reply);
    both.set(after, reply.length);
    await writeAll(sock, both, "reply");
    await readSome(sock, new Uint8Array(16), "wait for close").catch(() => 0);
  });
}

Deno.test("socks outbound maps REP codes to error kinds", async () => {
  await withReactor(async (r) => {
    const cases: [number, OutboundErrorKind, RegExp][] = [
      [0x01, "protocol", /0x01 \(general SOCKS server failure\)/],
      [0x02, "blocked", /0x02 \(connection not allowed by ruleset\)/],
      [0x03, "unreachable", /0x03 \(network unreachable\)/],
      [0x04, "unreachable", /0x04 \(host unreachable\)/],
      [0x05, "refused", /0x05 \(connection refused\)/],
      [0x06, "timeout", /0x06 \(TTL expired\)/],
      [0x07, "protocol", /0x07 \(command not supported\)/],
      [0x08, "protocol", /0x08 \(address type not supported\)/],
      [0x2a, "protocol", /0x2a \(unassigned\)/],
    ];
    for (const [rep, kind, message] of cases) {
      const server = scriptedSocks5(r, new Uint8Array([5, rep, 0, 1, 0, 0, 0, 0, 0, 0]));
      const out = socksOutbound(r, server.localAddr().port);
      await expectKind(out.dialTcp({ addr: LOOPBACK, port: 80 }, { id: rep }), kind, message);
      server.close();
    }
  });
});

Deno.test("socks outbound reads IPv6 and domain BND.ADDR fully and keeps the tunnel's first bytes", async () => {
  await withReactor(async (r) => {
    const v6reply = new Uint8Array([5, 0, 0, 4, ...LOOPBACK6, 0x1f, 0x90]);
    const name = enc.encode("bound.example");
    const domainReply = new Uint8Array([5, 0, 0, 3, name.length, ...name, 0, 80]);
    for (const reply of [v6reply, domainReply]) {
      const server = scriptedSocks5(r, reply, enc.encode("tunnel-first-bytes"));
      const out = socksOutbound(r, server.localAddr().port);
      const sock = await out.dialTcp({ addr: LOOPBACK, port: 80 }, { id: 1 });
      const buf = new Uint8Array(18);
      await readExact(sock, buf, "tunnel");
      assert.equal(dec.decode(buf), "tunnel-first-bytes");
      sock.close();
      server.close();
    }
  });
});

Deno.test("socks outbound rejects an unknown ATYP in the reply", async () => {
  await withReactor(async (r) => {
    const server = scriptedSocks5(r, new Uint8Array([5, 0, 0, 9, 0, 0, 0, 0, 0, 0]));
    const out = socksOutbound(r, server.localAddr().port);
    await expectKind(
      out.dialTcp({ addr: LOOPBACK, port: 80 }, { id: 1 }),
      "protocol",
      /unknown address type 0x09/,
    );
    server.close();
  });
});

for (
  const [name, start] of [["danted", startDanted], ["tunbox socks inbound", startOwn]] as const
) {
  Deno.test(`socks outbound version 4 and 4a CONNECT through ${name}`, async () => {
    await withReactor(async (r) => {
      const peer = await start(r);
      const echo = echoServer(r);
      const port = echo.localAddr().port;
      try {
        const v4 = socksOutbound(r, peer.port, { version: "4" });
        assert.deepEqual([...v4.networks], ["tcp"]);
        const a = await v4.dialTcp({ addr: LOOPBACK, port }, { id: 1 });
        assert.equal(dec.decode(await echoExact(a, enc.encode("four"))), "four");
        a.close();
        // Version 4 resolves a domain locally (through the context).
        const b = await v4.dialTcp({ domain: "localhost", port }, { id: 2 });
        assert.equal(dec.decode(await echoExact(b, enc.encode("resolved"))), "resolved");
        b.close();
        await expectKind(
          v4.dialTcp({ addr: LOOPBACK6, port }, { id: 3 }),
          "unreachable",
          /SOCKS4 cannot carry an IPv6 destination/,
        );
        await expectKind(
          socksOutbound(r, peer.port, { version: "4" }, { reactor: r }).dialTcp({
            domain: "localhost",
            port,
          }, { id: 4 }),
          "unreachable",
          /cannot resolve "localhost": no DNS resolver is configured/,
        );
        await expectKind(v4.openUdp({ id: 5 }), "protocol", /SOCKS4 has no UDP/);
        await expectKind(
          v4.dialTcp({ addr: LOOPBACK, port: freePort() }, { id: 6 }),
          "refused",
          /code 0x5b/,
        );
        if (name !== "danted") {
          // 4a sends the domain to the server (dante's SOCKS4 has no 4a).
          const v4a = socksOutbound(r, peer.port, { version: "4a" }, { reactor: r });
          const c = await v4a.dialTcp({ domain: "localhost", port }, { id: 7 });
          assert.equal(dec.decode(await echoExact(c, enc.encode("4a"))), "4a");
          c.close();
        }
      } finally {
        echo.close();
        await peer.stop();
      }
    });
  });
}

Deno.test("socks outbound `network` restricts TCP or UDP", async () => {
  await withReactor(async (r) => {
    const tcpOnly = socksOutbound(r, 1, { network: "tcp" });
    assert.deepEqual([...tcpOnly.networks], ["tcp"]);
    await expectKind(tcpOnly.openUdp({ id: 1 }), "blocked", /UDP is disabled/);
    const udpOnly = socksOutbound(r, 1, { network: "udp" });
    await expectKind(
      udpOnly.dialTcp({ addr: LOOPBACK, port: 1 }, { id: 2 }),
      "blocked",
      /TCP is disabled/,
    );
  });
});

Deno.test("socks outbound rejects udp_over_tcp at config time", () => {
  assert.throws(
    () =>
      createOutbounds(
        [{
          type: "socks",
          tag: "proxy",
          server: "127.0.0.1",
          server_port: 1080,
          udp_over_tcp: { enabled: true, version: 2 },
        }],
        { reactor: null as never },
        {},
        builtinOutbounds(),
      ),
    {
      name: "TypeError",
      message:
        'initialize outbound[0] ("proxy"): "udp_over_tcp" is a sing-box protocol that Xray/V2Ray servers do not speak, and tunbox does not implement it; remove it (UDP then uses SOCKS5 UDP ASSOCIATE)',
    },
  );
});

Deno.test("socks outbound UDP uses the server's address when BND.ADDR is 0.0.0.0", async () => {
  await withReactor(async (r) => {
    const echo = udpEchoServer(r, LOOPBACK, "e:");
    // A fake server whose relay is a real UDP socket, announced as 0.0.0.0:<port>.
    const { UdpSocket } = await import("../../src/io/socket.ts");
    const relaySock = UdpSocket.open(r, 4, {}, { addr: LOOPBACK, port: 0 });
    const buf = new Uint8Array(2048);
    const from = { addr: new Uint8Array(4), port: 0 };
    let client: { addr: Uint8Array; port: number } | null = null;
    relaySock.onReadable = () => {
      for (;;) {
        const n = relaySock.recvFrom(buf, from);
        if (n < 0) return;
        if (from.port === echo.localAddr().port) {
          // Reply from the echo: wrap and send to the client.
          const out = new Uint8Array(10 + n);
          out.set([0, 0, 0, 1, ...LOOPBACK, from.port >> 8, from.port & 0xff]);
          out.set(buf.subarray(0, n), 10);
          relaySock.sendTo(out, client!);
        } else {
          client = { addr: from.addr, port: from.port };
          const port = (buf[8]! << 8) | buf[9]!;
          relaySock.sendTo(buf.subarray(10, n), { addr: LOOPBACK, port });
        }
      }
    };
    const relayPort = relaySock.localAddr().port;
    const control = Promise.withResolvers<TcpSocket>();
    const server = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (sock) => {
      (async () => {
        await readExact(sock, new Uint8Array(3), "greeting");
        await writeAll(sock, new Uint8Array([5, 0]), "method");
        const req = new Uint8Array(10);
        await readExact(sock, req, "request");
        assert.equal(req[1], 3, "UDP ASSOCIATE");
        await writeAll(
          sock,
          new Uint8Array([5, 0, 0, 1, 0, 0, 0, 0, relayPort >> 8, relayPort & 0xff]),
          "reply",
        );
        control.resolve(sock);
      })();
    });
    const out = socksOutbound(r, server.localAddr().port);
    const flow = await out.openUdp({ id: 1 });
    const got = await udpRoundTrip(r, flow, echo.localAddr().port, 2);
    assert.deepEqual(got.map((g) => g.text), ["e:datagram 0", "e:datagram 1"]);
    // The association ends when the server closes the control connection.
    const closed = Promise.withResolvers<Error | undefined>();
    flow.onClose = (reason) => closed.resolve(reason);
    (await control.promise).close();
    const reason = await within(r, 2000, closed.promise, "onClose after control close");
    assert.match(String(reason), /server closed the control connection/);
    relaySock.close();
    echo.close();
    server.close();
  });
});

Deno.test("socks outbound chains through another socks outbound with `detour`", async () => {
  await withReactor(async (r) => {
    const seenByInner: string[] = [];
    const seenByOuter: string[] = [];
    const inner = startSocksServer({ reactor: r, listen: { addr: LOOPBACK, port: 0 } });
    const outer = startSocksServer({ reactor: r, listen: { addr: LOOPBACK, port: 0 } });
    // Each server records its connections; collect the destinations of those that ended.
    const ended = (server: typeof inner, into: string[]) => {
      for (const c of server.handler.path.tracker.report()?.closed ?? []) {
        if (c.network === "tcp") into.push(`${c.destinationPort}`);
      }
    };
    const echo = echoServer(r);
    const udpEcho = udpEchoServer(r, LOOPBACK, "u:");
    const outs = createOutbounds(
      [
        {
          type: "socks",
          tag: "outer",
          server: "127.0.0.1",
          server_port: outer.localAddr().port,
          detour: "inner",
        },
        { type: "socks", tag: "inner", server: "127.0.0.1", server_port: inner.localAddr().port },
      ],
      testContext(r),
      {},
      builtinOutbounds(),
    );
    const sock = await outs.get("outer")!.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, {
      id: 1,
    });
    assert.equal(dec.decode(await echoExact(sock, enc.encode("chained"))), "chained");
    sock.close();
    // UDP over the chain: the outer association's datagrams travel inside the inner one.
    const flow = await outs.get("outer")!.openUdp({ id: 2 });
    const got = await udpRoundTrip(r, flow, udpEcho.localAddr().port, 1);
    assert.deepEqual(got.map((g) => g.text), ["u:datagram 0"]);
    flow.close();
    await within(
      r,
      2000,
      (async () => {
        while (seenByInner.length < 1 || seenByOuter.length < 1) {
          await new Promise((res) => r.setTimeout(5, () => res(null)));
          ended(inner, seenByInner);
          ended(outer, seenByOuter);
        }
      })(),
      "relays closed",
    );
    // The inner server carried the connections (CONNECT, and the UDP control connection once
    // it ended) to the outer server; the outer one to the echo.
    assert.deepEqual([...new Set(seenByInner)], [String(outer.localAddr().port)]);
    assert.deepEqual([...new Set(seenByOuter)], [String(echo.localAddr().port)]);
    inner.close();
    outer.close();
    echo.close();
    udpEcho.close();
  });
});
