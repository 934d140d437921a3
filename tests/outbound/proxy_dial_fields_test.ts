// Every proxy-protocol outbound (shadowsocks, vmess, vless, trojan, wireguard) reaches its server
// through the dial fields: bind_interface and routing_mark on the server socket, the server's
// domain resolved with domain_resolver's strategy, and `detour` through another outbound.

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { loadPlatform } from "../../src/platform/mod.ts";
import type { NetworkInterface, Platform } from "../../src/platform/types.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { readExact, type Stream, writeAll } from "../../src/io/stream.ts";
import { startSocksServer } from "../../src/inbound/serve_socks.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import type { DialContext } from "../../src/outbound/types.ts";
import { makePki, type Pki } from "../_helpers/tls_certs.ts";
import {
  dec,
  echoServer,
  enc,
  LOOPBACK,
  sleep,
  testContext,
  within,
  withReactor,
} from "./_helpers.ts";
import type { Peer } from "./_helpers.ts";
import { startSsServer, startV2rayServer } from "./_peers.ts";

const UUID = "5f1e2d3c-4b5a-4968-8776-655443322110";
const PASSWORD = "dial fields password";

let pki: Pki | null = null;
async function leaf() {
  if (!pki) pki = await makePki();
  return { pki, leaf: await pki.issue("proxy", ["proxy.test"], ["127.0.0.1"]) };
}

interface Case {
  type: string;
  start(r: Reactor): Promise<{ peer: Peer; fields: Record<string, unknown> }>;
}

async function tlsV2ray(r: Reactor, protocol: "vless" | "trojan") {
  const { pki, leaf: l } = await leaf();
  const peer = await startV2rayServer(r, {
    protocol,
    secret: protocol === "trojan" ? PASSWORD : UUID,
    stream: {
      security: "tls",
      tlsSettings: { certificates: [{ certificateFile: l.certPath, keyFile: l.keyPath }] },
    },
  });
  return {
    peer,
    fields: {
      ...(protocol === "trojan" ? { password: PASSWORD } : { uuid: UUID }),
      tls: { enabled: true, server_name: "proxy.test", certificate: [pki.caPem] },
    },
  };
}

const CASES: Case[] = [
  {
    type: "shadowsocks",
    async start(r) {
      const peer = await startSsServer(r, "aes-128-gcm", PASSWORD);
      return { peer, fields: { method: "aes-128-gcm", password: PASSWORD } };
    },
  },
  {
    type: "vmess",
    async start(r) {
      const peer = await startV2rayServer(r, { protocol: "vmess", secret: UUID });
      return { peer, fields: { uuid: UUID } };
    },
  },
  { type: "vless", start: (r) => tlsV2ray(r, "vless") },
  { type: "trojan", start: (r) => tlsV2ray(r, "trojan") },
];

async function echoThrough(r: Reactor, s: Stream, text: string): Promise<string> {
  const back = new Uint8Array(text.length);
  const reading = readExact(s, back, "echo");
  await writeAll(s, enc.encode(text), "write");
  await within(r, 10_000, reading, "echo");
  s.close();
  return dec.decode(back);
}

async function recordingContext(r: Reactor) {
  const real = await loadPlatform();
  const calls: string[] = [];
  const platform: Pick<Platform, "bindToInterface" | "setMark" | "interfaceIndex"> = {
    interfaceIndex: (name) => real.interfaceIndex(name),
    bindToInterface(fd: number, family: 4 | 6, iface: NetworkInterface) {
      calls.push(`bind v${family} ${iface.name}`);
      real.bindToInterface(fd, family, iface);
    },
    setMark(fd: number, mark: number) {
      calls.push(`mark 0x${mark.toString(16)}`);
      real.setMark(fd, mark);
    },
  };
  const ctx: DialContext = testContext(r, { platform });
  const base = ctx.resolve!;
  ctx.resolve = (domain, strategy, request) => {
    const by = request?.server !== undefined
      ? ` by server ${request.server}`
      : request?.outbound !== undefined
      ? ` for outbound ${request.outbound}`
      : "";
    calls.push(`resolve ${domain}/${strategy}${by}`);
    return base(domain, strategy, request);
  };
  return { calls, ctx };
}

const DIAL_FIELDS = {
  server: "dual.test",
  bind_interface: "lo",
  routing_mark: 0x77,
  domain_resolver: { server: "local", strategy: "ipv4_only" },
};

for (const c of CASES) {
  Deno.test(`${c.type} outbound: bind_interface, routing_mark and domain_resolver reach the server socket`, async () => {
    await withReactor(async (r) => {
      const { peer, fields } = await c.start(r);
      const echo = echoServer(r);
      try {
        const { calls, ctx } = await recordingContext(r);
        const out = createOutbounds(
          [{
            type: c.type,
            tag: "p",
            server_port: peer.port,
            ...fields,
            ...DIAL_FIELDS,
          } as never],
          ctx,
          {},
          builtinOutbounds(),
        ).get("p")!;
        const s = await out.dialTcp({ addr: LOOPBACK, port: echo.localAddr().port }, { id: 1 });
        assert.equal(await echoThrough(r, s, `via ${c.type}`), `via ${c.type}`);
        // dual.test has ::1 and 127.0.0.1; the server listens on 127.0.0.1 only, so ipv4_only
        // is what makes the first attempt succeed.
        // The resolver's server answers (sing-box's domain_resolver), not the DNS rules.
        assert.deepEqual(calls, [
          "resolve dual.test/ipv4_only by server local",
          "bind v4 lo",
          "mark 0x77",
        ]);
      } finally {
        echo.close();
        await peer.stop();
      }
    });
  });

  Deno.test(`${c.type} outbound reaches its server through \`detour\``, async () => {
    await withReactor(async (r) => {
      const { peer, fields } = await c.start(r);
      const echo = echoServer(r);
      const hop = startSocksServer({ reactor: r, listen: { addr: LOOPBACK, port: 0 } });
      try {
        const outs = createOutbounds(
          [
            {
              type: c.type,
              tag: "p",
              server: "127.0.0.1",
              server_port: peer.port,
              detour: "hop",
              ...fields,
            } as never,
            { type: "socks", tag: "hop", server: "127.0.0.1", server_port: hop.localAddr().port },
          ],
          testContext(r),
          {},
          builtinOutbounds(),
        );
        const s = await outs.get("p")!.dialTcp(
          { addr: LOOPBACK, port: echo.localAddr().port },
          { id: 1 },
        );
        assert.equal(await echoThrough(r, s, "chained"), "chained");
        // The SOCKS hop carried one connection, to the proxy server.
        const seen: number[] = [];
        const start = Date.now();
        while (seen.length === 0 && Date.now() - start < 5000) {
          await sleep(r, 20);
          for (const x of hop.handler.path.tracker.report()?.closed ?? []) {
            seen.push(x.destinationPort);
          }
        }
        assert.deepEqual(seen, [peer.port]);
      } finally {
        hop.close();
        echo.close();
        await peer.stop();
      }
    });
  });
}

Deno.test("wireguard endpoint: bind_interface and routing_mark reach its UDP socket", async () => {
  await withReactor(async (r) => {
    const { calls, ctx } = await recordingContext(r);
    // A peer that never answers: the handshake is sent from the socket the dial fields made.
    const sink = dgram.createSocket("udp4");
    await new Promise<void>((res) => sink.bind(0, "127.0.0.1", res));
    const got = new Promise<Uint8Array>((res) => sink.once("message", (m) => res(m)));
    try {
      const out = createOutbounds(
        [{
          type: "wireguard",
          tag: "wg",
          address: [{ addr: new Uint8Array([10, 9, 0, 2]), bits: 32 }],
          private_key: "YNXtAzepDqRv9H52osJVDQnznT5AM11eCK3ESpwSt04=",
          peers: [{
            address: "127.0.0.1",
            port: sink.address().port,
            public_key: "Z1XXLsKYkYxuiYjJIkRvtIKFepCYHTgON+GwPq7SOV4=",
            allowed_ips: [{ addr: new Uint8Array(4), bits: 0 }],
          }],
          bind_interface: "lo",
          routing_mark: 0x78,
        } as never],
        ctx,
        {},
        builtinOutbounds(),
      ).get("wg")!;
      const dial = out.dialTcp({ addr: LOOPBACK, port: 9 }, { id: 1 }).catch(() => null);
      const packet = await within(r, 5000, got, "handshake initiation");
      assert.equal(packet[0], 1, "a WireGuard handshake initiation (type 1)");
      assert.deepEqual(calls, ["bind v4 lo", "mark 0x78"]);
      out.close?.();
      void dial;
    } finally {
      sink.close();
    }
  });
});
