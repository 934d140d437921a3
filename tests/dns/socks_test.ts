/**
 * Legacy DNS servers without `detour` go through the default outbound, as sing-box does; for a
 * SOCKS5 default outbound a `udp` server is reached with UDP ASSOCIATE. Checked against
 * tunbox's own SOCKS server (counting what it dials) and against dante (`danted`, whose log
 * shows the UDP association).
 */

import assert from "node:assert/strict";
import { startSocksServer } from "../../src/inbound/serve_socks.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { formatIp } from "../../src/net/ip.ts";
import { DirectDialer } from "../../src/outbound/direct_dialer.ts";
import type { Dialer } from "../../src/outbound/types.ts";
import { freePort, type Peer, startPeer, tool } from "../outbound/_helpers.ts";
import {
  answersOf,
  ask,
  LOOPBACK,
  makeDns,
  query,
  startDnsServer,
  testContext,
  withReactor,
  zoneHandler,
} from "./_helpers.ts";

const ZONE = { "far.test": { A: [{ ttl: 60, data: "192.0.2.80" }] } };

/** tunbox's SOCKS server with a dialer that counts TCP dials and UDP associations. */
function countingSocks(r: Reactor) {
  const direct = new DirectDialer("socks server direct", {}, testContext(r));
  const counts = { tcp: 0, udp: 0 };
  const dial: Dialer = {
    dialTcp: (d, m) => {
      counts.tcp++;
      return direct.dialTcp(d, m);
    },
    openUdp: (m) => {
      counts.udp++;
      return direct.openUdp(m);
    },
  };
  const server = startSocksServer({ reactor: r, listen: { addr: LOOPBACK, port: 0 }, dial });
  return { server, counts, port: server.localAddr().port };
}

function socksFirst(socksPort: number) {
  return [
    { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: socksPort },
    { type: "direct", tag: "direct" },
  ];
}

Deno.test("a legacy udp server goes through the socks default outbound with UDP ASSOCIATE", async () => {
  await withReactor(async (r) => {
    const up = startDnsServer(r, zoneHandler(ZONE));
    const socks = countingSocks(r);
    const { dns } = makeDns(r, {
      outbounds: socksFirst(socks.port),
      dns: { servers: [{ tag: "legacy", address: `udp://127.0.0.1:${up.port}` }] },
    });
    try {
      assert.deepEqual(answersOf(await ask(dns, query("far.test"))), ["A 192.0.2.80"]);
      assert.deepEqual((await dns.lookup("far.test", "ipv4_only")).map(formatIp), ["192.0.2.80"]);
      assert.equal(socks.counts.udp, 1, "one association serves every query");
      assert.equal(socks.counts.tcp, 0);
      assert.equal(up.queries.length, 1, "the lookup was answered from the cache");
      assert.equal(up.queries[0]!.transport, "udp");
    } finally {
      dns.close();
      socks.server.close();
      up.close();
    }
  });
});

Deno.test("a legacy tcp server uses socks CONNECT; a typed server dials directly", async () => {
  await withReactor(async (r) => {
    const up = startDnsServer(r, zoneHandler(ZONE));
    const socks = countingSocks(r);
    const { dns } = makeDns(r, {
      outbounds: socksFirst(socks.port),
      dns: {
        servers: [
          { tag: "legacy-tcp", address: `tcp://127.0.0.1:${up.port}` },
          { type: "udp", tag: "typed", server: "127.0.0.1", server_port: up.port },
          {
            type: "udp",
            tag: "detoured",
            server: "127.0.0.1",
            server_port: up.port,
            detour: "proxy",
          },
        ],
        rules: [
          { domain: ["typed.far.test"], server: "typed" },
          { domain: ["detoured.far.test"], server: "detoured" },
        ],
      },
    });
    try {
      await ask(dns, query("far.test"));
      assert.deepEqual(socks.counts, { tcp: 1, udp: 0 });
      assert.equal(up.queries[0]!.transport, "tcp");
      await ask(dns, query("typed.far.test"));
      assert.deepEqual(socks.counts, { tcp: 1, udp: 0 }, "typed servers dial directly");
      await ask(dns, query("detoured.far.test"));
      assert.deepEqual(socks.counts, { tcp: 1, udp: 1 }, "detour: through the socks outbound");
      assert.equal(up.queries.length, 3);
    } finally {
      dns.close();
      socks.server.close();
      up.close();
    }
  });
});

Deno.test("with the socks server down, a legacy server's query fails fast", async () => {
  await withReactor(async (r) => {
    const up = startDnsServer(r, zoneHandler(ZONE));
    const { dns } = makeDns(r, {
      outbounds: socksFirst(freePort()),
      dns: { servers: [{ tag: "legacy", address: `udp://127.0.0.1:${up.port}` }] },
    });
    try {
      const start = r.now();
      assert.equal((await ask(dns, query("far.test")))!.rcode, "SERVFAIL");
      assert.ok(r.now() - start < 2000, `took ${r.now() - start} ms`);
      assert.equal(up.queries.length, 0);
    } finally {
      dns.close();
      up.close();
    }
  });
});

/** dante on loopback with logging of UDP associations. */
async function startLoggingDanted(r: Reactor): Promise<Peer> {
  const danted = tool("danted", "dante-server");
  const dir = await Deno.makeTempDir({ prefix: "tunbox-dns-danted-" });
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/danted.conf`,
    `logoutput: stderr
internal: 127.0.0.1 port = ${port}
external: lo
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass {
  from: 0.0.0.0/0 to: 0.0.0.0/0
  command: connect udpassociate udpreply
  log: connect disconnect
}
`,
  );
  try {
    const peer = await startPeer(r, danted, [
      "-f",
      `${dir}/danted.conf`,
      "-p",
      `${dir}/danted.pid`,
      "-N",
      "1",
    ], port);
    const stop = peer.stop;
    peer.stop = async () => {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    };
    return peer;
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

Deno.test("a legacy udp server through dante: the query crosses a UDP association", async () => {
  await withReactor(async (r) => {
    const up = startDnsServer(r, zoneHandler(ZONE));
    const peer = await startLoggingDanted(r);
    const { dns } = makeDns(r, {
      outbounds: socksFirst(peer.port),
      dns: { servers: [{ tag: "legacy", address: `udp://127.0.0.1:${up.port}` }] },
    });
    try {
      const m = await ask(dns, query("far.test", "A", 0x0d0d));
      assert.equal(m!.id, 0x0d0d);
      assert.deepEqual(answersOf(m), ["A 192.0.2.80"]);
      assert.equal(up.queries.length, 1);
      dns.close();
      await peer.stop();
      // dante logs the association, with the DNS server as its remote end, when it ends.
      const line = new RegExp(`udpassociate \\].* 127\\.0\\.0\\.1\\.${up.port}( |$)`, "m");
      assert.match(peer.output(), line);
    } finally {
      dns.close();
      await peer.stop();
      up.close();
    }
  });
});
