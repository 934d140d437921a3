import assert from "node:assert/strict";
import { loadPlatform } from "../../src/platform/mod.ts";
import type { NetworkInterface, Platform } from "../../src/platform/types.ts";
import type { DialOptions, RouteOptions } from "../../src/config/types.ts";
import { TcpListener, type TcpSocket, UdpSocket, WOULD_BLOCK } from "../../src/io/socket.ts";
import { DatagramBatch } from "../../src/io/datagram_batch.ts";
import { fdClose, sockBind, sockCreate, sockListen, sockLocalAddr } from "../../src/io/sys.ts";
import {
  DirectDialer,
  type DirectUdpFlow,
  orderAddresses,
} from "../../src/outbound/direct_dialer.ts";
import { OutboundError } from "../../src/outbound/types.ts";
import type { Destination } from "../../src/outbound/types.ts";
import {
  dec,
  echoServer,
  enc,
  LOOPBACK,
  LOOPBACK6,
  roundTrip,
  testContext,
  udpEchoServer,
  within,
  withReactor,
} from "./_helpers.ts";

type Calls = string[];

/** The real Linux platform, recording what the dialer asked of it. */
async function recordingPlatform(): Promise<
  { calls: Calls; platform: Pick<Platform, "bindToInterface" | "setMark" | "interfaceIndex"> }
> {
  const real = await loadPlatform();
  const calls: Calls = [];
  return {
    calls,
    platform: {
      interfaceIndex(name: string) {
        calls.push(`index ${name}`);
        return real.interfaceIndex(name);
      },
      bindToInterface(fd: number, family: 4 | 6, iface: NetworkInterface) {
        calls.push(`bind v${family} ${iface.name}#${iface.index}`);
        real.bindToInterface(fd, family, iface);
      },
      setMark(fd: number, mark: number) {
        calls.push(`mark 0x${mark.toString(16)}`);
        real.setMark(fd, mark);
      },
    },
  };
}

Deno.test("`orderAddresses()` orders and filters by domain strategy", () => {
  const v4 = new Uint8Array([1, 2, 3, 4]), v6 = LOOPBACK6;
  assert.deepEqual(orderAddresses([v6, v4], "prefer_ipv4"), [v4, v6]);
  assert.deepEqual(orderAddresses([v4, v6], "prefer_ipv6"), [v6, v4]);
  assert.deepEqual(orderAddresses([v4, v6], "ipv4_only"), [v4]);
  assert.deepEqual(orderAddresses([v4, v6], "ipv6_only"), [v6]);
  assert.deepEqual(orderAddresses([v6, v4], ""), [v6, v4]);
});

Deno.test("`DirectDialer.dialTcp()` connects to IPv4 and IPv6 addresses and moves data", async () => {
  await withReactor(async (r) => {
    for (const addr of [LOOPBACK, LOOPBACK6]) {
      const server = echoServer(r, addr);
      const dialer = new DirectDialer("direct", {}, testContext(r));
      const sock = await dialer.dialTcp({ addr, port: server.localAddr().port }, { id: 1 });
      assert.equal(dec.decode(await roundTrip(sock, enc.encode("abc"))), "abc");
      sock.close();
      server.close();
    }
  });
});

Deno.test("`DirectDialer.dialTcp()` resolves a domain with the dial's strategy", async () => {
  await withReactor(async (r) => {
    const server = echoServer(r, LOOPBACK); // IPv4 only
    const port = server.localAddr().port;
    const asked: string[] = [];
    const ctx = testContext(r);
    const resolve = ctx.resolve!;
    ctx.resolve = (d, s, request) => {
      asked.push(`${d}/${s} ${JSON.stringify(request)}`);
      return resolve(d, s);
    };
    const v4 = new DirectDialer(
      "direct",
      {
        domain_resolver: { server: "x", strategy: "ipv4_only" },
      },
      ctx,
      {},
      "direct",
    );
    const sock = await v4.dialTcp({ domain: "dual.test", port }, { id: 1 });
    assert.deepEqual(sock.peerAddr().addr, LOOPBACK);
    sock.close();
    // Legacy domain_strategy is honoured too; ipv6_only finds nothing listening on ::1.
    const v6 = new DirectDialer("direct", { domain_strategy: "ipv6_only" }, ctx, {}, "direct");
    await assert.rejects(v6.dialTcp({ domain: "dual.test", port }, { id: 2 }), (e: unknown) => {
      assert.ok(e instanceof OutboundError);
      assert.equal(e.kind, "refused");
      assert.match(
        e.message,
        /direct: connect to dual\.test:\d+: connect to \[::1\]:\d+ failed: ECONNREFUSED/,
      );
      return true;
    });
    // With a domain_resolver its server answers; without one the DNS rules do, told which
    // outbound asks (legacy `outbound` DNS rule items match it).
    assert.deepEqual(asked, [
      'dual.test/ipv4_only {"server":"x"}',
      'dual.test/ipv6_only {"outbound":"direct"}',
    ]);
    // route.default_domain_resolver stands in for a missing domain_resolver.
    const byDefault = new DirectDialer("direct", {}, ctx, {
      default_domain_resolver: { server: "local" },
    }, "direct");
    (await byDefault.dialTcp({ domain: "localhost", port }, { id: 3 })).close();
    assert.equal(asked[2], 'localhost/ {"server":"local"}');
    server.close();
  });
});

Deno.test("`DirectDialer.dialTcp()` tries the next address after a refusal", async () => {
  await withReactor(async (r) => {
    const server = echoServer(r, LOOPBACK);
    const port = server.localAddr().port;
    // dual.test resolves to ::1 first (nothing listens there), then 127.0.0.1.
    const dialer = new DirectDialer("direct", {}, testContext(r));
    const sock = await dialer.dialTcp({ domain: "dual.test", port }, { id: 1 });
    assert.deepEqual(sock.peerAddr().addr, LOOPBACK);
    sock.close();
    server.close();
  });
});

Deno.test("`DirectDialer.dialTcp()` without a resolver fails clearly for a domain", async () => {
  await withReactor(async (r) => {
    const dialer = new DirectDialer('direct outbound "d"', {}, { reactor: r });
    await assert.rejects(dialer.dialTcp({ domain: "example.com", port: 80 }, { id: 1 }), {
      name: "OutboundError",
      kind: "unreachable",
      message:
        'direct outbound "d": connect to example.com:80: cannot resolve "example.com": no DNS resolver is configured',
    });
    // An IP literal in the domain field needs no resolver.
    const server = echoServer(r);
    const sock = await dialer.dialTcp({ domain: "127.0.0.1", port: server.localAddr().port }, {
      id: 2,
    });
    sock.close();
    server.close();
  });
});

Deno.test("`DirectDialer.dialTcp()` times out after connect_timeout on a full accept queue", async () => {
  await withReactor(async (r) => {
    // A listener that never accepts, with backlog 0: the queue fills, later SYNs are dropped.
    const fd = sockCreate(4, "tcp");
    sockBind(fd, { addr: LOOPBACK, port: 0 });
    sockListen(fd, 0);
    const port = sockLocalAddr(fd).port;
    const dialer = new DirectDialer("direct", { connect_timeout: 300 }, testContext(r));
    const held: TcpSocket[] = [];
    let timedOut: OutboundError | null = null;
    const start = r.now();
    try {
      for (let i = 0; i < 8 && !timedOut; i++) {
        try {
          held.push(await dialer.dialTcp({ addr: LOOPBACK, port }, { id: i }));
        } catch (e) {
          timedOut = e as OutboundError;
        }
      }
    } finally {
      for (const s of held) s.close();
      fdClose(fd);
    }
    assert.ok(timedOut, "no dial timed out");
    assert.equal(timedOut.kind, "timeout");
    assert.match(timedOut.message, /ETIMEDOUT/);
    assert.ok(r.now() - start < 3000);
  });
});

Deno.test("`DirectDialer` binds to bind_interface through the platform, else to the auto-detected interface", async () => {
  await withReactor(async (r) => {
    const { calls, platform } = await recordingPlatform();
    const server = echoServer(r);
    const port = server.localAddr().port;
    const lo: NetworkInterface = { name: "lo", index: platform.interfaceIndex("lo") };
    calls.length = 0;
    const route: Partial<RouteOptions> = { auto_detect_interface: true, default_mark: 0x2023 };
    const ctx = testContext(r, { platform, defaultInterface: () => lo });

    // bind_interface wins over auto-detect, and applies to loopback destinations too.
    const explicit = new DirectDialer(
      "direct",
      { bind_interface: "lo", routing_mark: 0x99 },
      ctx,
      route,
    );
    const a = await explicit.dialTcp({ addr: LOOPBACK, port }, { id: 1 });
    assert.equal(dec.decode(await roundTrip(a, enc.encode("x"))), "x");
    a.close();
    assert.deepEqual(calls, ["index lo", "bind v4 lo#1", "mark 0x99"]);

    // Auto-detect binds non-loopback destinations only; the mark comes from route.default_mark.
    calls.length = 0;
    const auto = new DirectDialer("direct", {}, ctx, route);
    const b = await auto.dialTcp({ addr: LOOPBACK, port }, { id: 2 });
    b.close();
    assert.deepEqual(calls, ["mark 0x2023"]);
    const opts = auto.socketOptions(4, new Uint8Array([192, 0, 2, 9]), "tcp");
    assert.deepEqual(opts.bindInterface, lo);
    assert.equal(opts.mark, 0x2023);
    assert.equal(opts.connectTimeoutMs, 5000);
    assert.equal(opts.keepAliveIdleMs, 300_000);

    // route.default_interface comes before auto-detect.
    const byName = new DirectDialer("direct", {}, ctx, {
      default_interface: "lo",
      auto_detect_interface: true,
    });
    assert.deepEqual(
      byName.socketOptions(4, new Uint8Array([192, 0, 2, 9]), "tcp").bindInterface,
      lo,
    );

    // A missing interface is a per-dial error naming it.
    const missing = new DirectDialer("direct", { bind_interface: "nosuch0" }, ctx);
    await assert.rejects(missing.dialTcp({ addr: LOOPBACK, port }, { id: 3 }), (e: unknown) => {
      assert.ok(e instanceof OutboundError);
      assert.equal(e.kind, "unreachable");
      assert.match(e.message, /^direct: connect to 127\.0\.0\.1:\d+: bind_interface "nosuch0"/);
      return true;
    });
    server.close();
  });
});

Deno.test("`DirectDialer` dial fields become socket options", async () => {
  await withReactor(async (r) => {
    const dial: DialOptions = {
      inet4_bind_address: new Uint8Array([127, 0, 0, 5]),
      inet6_bind_address: LOOPBACK6,
      bind_address_no_port: true,
      reuse_addr: true,
      tcp_fast_open: true,
      tcp_keep_alive: 60_000,
      tcp_keep_alive_interval: 10_000,
      connect_timeout: 1234,
    };
    const d = new DirectDialer("direct", dial, testContext(r));
    const o4 = d.socketOptions(4, LOOPBACK, "tcp");
    assert.deepEqual(o4.bindAddress, new Uint8Array([127, 0, 0, 5]));
    assert.equal(o4.bindAddressNoPort, true);
    assert.equal(o4.reuseAddr, true);
    assert.equal(o4.tcpFastOpen, true);
    assert.equal(o4.keepAliveIdleMs, 60_000);
    assert.equal(o4.keepAliveIntervalMs, 10_000);
    assert.equal(o4.connectTimeoutMs, 1234);
    assert.deepEqual(d.socketOptions(6, LOOPBACK6, "tcp").bindAddress, LOOPBACK6);
    const off = new DirectDialer("direct", { disable_tcp_keep_alive: true }, testContext(r));
    assert.equal(off.socketOptions(4, LOOPBACK, "tcp").keepAliveIdleMs, undefined);

    // The server sees the bound source address.
    const seen = Promise.withResolvers<Uint8Array>();
    const server = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (s) => {
      seen.resolve(s.peerAddr().addr);
      s.close();
    });
    const sock = await d.dialTcp({ addr: LOOPBACK, port: server.localAddr().port }, { id: 1 });
    assert.deepEqual(await seen.promise, new Uint8Array([127, 0, 0, 5]));
    sock.close();
    server.close();
  });
});

Deno.test("`DirectUdpFlow.holdSends()` sends a round's datagrams together, in order, at the round's end", async () => {
  await withReactor(async (r) => {
    const sink = UdpSocket.open(r, 4, {}, { addr: LOOPBACK, port: 0 });
    const to = { addr: LOOPBACK, port: sink.localAddr().port };
    const dialer = new DirectDialer("direct", {}, testContext(r));
    const flow = await dialer.openUdp({ id: 1 }) as DirectUdpFlow;
    const batch = new DatagramBatch(16, 4096);
    const received = () => {
      const n = sink.recvBatch(batch);
      return n === WOULD_BLOCK
        ? []
        : Array.from({ length: n }, (_, i) => dec.decode(batch.payload(i)));
    };
    flow.send(enc.encode("before"), to);
    assert.deepEqual(received(), ["before"], "without holdSends() a datagram leaves at once");
    flow.holdSends(16);
    for (const t of ["one", "two", "three"]) flow.send(enc.encode(t), to);
    assert.deepEqual(received(), [], "held to the end of the round");
    // Larger than the held size: the held ones go first, then it, in order.
    flow.send(enc.encode("a datagram over 16 bytes"), to);
    flow.send(enc.encode("four"), to);
    assert.deepEqual(received(), ["one", "two", "three", "a datagram over 16 bytes"]);
    await Promise.resolve();
    assert.deepEqual(received(), ["four"]);
    flow.send(enc.encode("at close"), to);
    flow.close();
    assert.deepEqual(received(), ["at close"], "close() sends what was held");
    assert.equal(flow.dropped, 0);
    sink.close();
  });
});

Deno.test("`DirectDialer.openUdp()` sends to IPv4, IPv6 and domain destinations and receives replies", async () => {
  await withReactor(async (r) => {
    const echo4 = udpEchoServer(r, LOOPBACK, "v4:");
    const echo6 = udpEchoServer(r, LOOPBACK6, "v6:");
    const dialer = new DirectDialer("direct", {}, testContext(r));
    const flow = await dialer.openUdp({ id: 1 }) as DirectUdpFlow;
    const got: string[] = [];
    const froms: Destination[] = [];
    const three = Promise.withResolvers<void>();
    flow.onPacket = (payload, from) => {
      got.push(dec.decode(payload));
      froms.push(from);
      if (got.length === 3) three.resolve();
    };
    flow.send(enc.encode("a"), { addr: LOOPBACK, port: echo4.localAddr().port });
    flow.send(enc.encode("b"), { addr: LOOPBACK6, port: echo6.localAddr().port });
    flow.send(enc.encode("c"), { domain: "localhost", port: echo4.localAddr().port });
    await within(r, 2000, three.promise, "three UDP replies");
    assert.deepEqual(got.sort(), ["v4:a", "v4:c", "v6:b"]);
    assert.ok(froms.some((f) => f.addr?.length === 16 && f.port === echo6.localAddr().port));
    // One socket per family: both IPv4 replies arrived on the same local port.
    assert.equal(flow.localAddr(4).port, flow.localAddr(4).port);
    // An unresolvable domain is dropped and counted.
    flow.send(enc.encode("d"), { domain: "nosuch.test", port: 9 });
    await new Promise((res) => r.setTimeout(20, () => res(null)));
    assert.equal(flow.dropped, 1);
    flow.close();
    flow.send(enc.encode("e"), { addr: LOOPBACK, port: 9 });
    assert.equal(flow.dropped, 2);
    echo4.close();
    echo6.close();
  });
});
