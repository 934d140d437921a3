// DNS over TLS: against a DoT server on the reactor (tunbox's TLS server in front of the test
// DNS server) and against stunnel (OpenSSL) in front of it; through the DNS module's config.

import assert from "node:assert/strict";
import { TcpListener } from "../../src/io/socket.ts";
import { readSome, writeAll } from "../../src/io/stream.ts";
import { DirectDialer } from "../../src/outbound/direct_dialer.ts";
import { ServerAddress } from "../../src/dns/transport.ts";
import { createTlsTransport } from "../../src/dns/transport_tls.ts";
import { tlsAccept, type TlsServerContext, tlsServerContext } from "../../src/tls/server.ts";
import { tlsClientConfig } from "../../src/tls/options.ts";
import { makePki, type Pki } from "../_helpers/tls_certs.ts";
import { startStunnel } from "../_helpers/stunnel.ts";
import {
  answersOf,
  ask,
  makeDns,
  query,
  startDnsServer,
  testContext,
  withReactor,
  zoneHandler,
} from "./_helpers.ts";

const ZONE = {
  "a.test": { A: [{ ttl: 60, data: "192.0.2.1" }] },
  "b.test": { A: [{ ttl: 60, data: "192.0.2.2" }] },
};

let shared: { pki: Pki; server: TlsServerContext } | null = null;

async function pki(): Promise<{ pki: Pki; server: TlsServerContext }> {
  if (shared) return shared;
  const p = await makePki();
  const leaf = await p.issue("dot", ["dns.test"], ["127.0.0.1"]);
  shared = { pki: p, server: tlsServerContext({ certificate: leaf.certPem, key: leaf.keyPem }) };
  return shared;
}

function dotServer(port: number, tls: Record<string, unknown>) {
  return {
    type: "tls",
    tag: "dot",
    server: "127.0.0.1",
    server_port: port,
    tls,
  };
}

Deno.test("tls DNS server answers over one reused, pipelined TLS connection", async () => {
  const { pki: p, server: ctx } = await pki();
  await withReactor(async (r) => {
    const server = startDnsServer(r, zoneHandler(ZONE), { tls: ctx });
    const { dns } = makeDns(r, {
      dns: {
        servers: [
          dotServer(server.port, { server_name: "dns.test", certificate_path: p.caPath }),
        ],
      },
    });
    try {
      const first = await ask(dns, query("a.test", "A", 1));
      assert.deepEqual(answersOf(first), ["A 192.0.2.1"]);
      // 100 queries at once: one connection, all pipelined on it.
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) => ask(dns, query(`x${i}.b.test`, "A", 1000 + i))),
      );
      assert.ok(answers.every((a) => a.rcode === "NXDOMAIN"));
      assert.deepEqual(answers.map((a) => a.id), Array.from({ length: 100 }, (_, i) => 1000 + i));
      assert.equal(server.tcpConnections, 1);
      assert.equal(server.queries.length, 101);
      assert.ok(server.queries.every((q) => q.transport === "tcp"));
    } finally {
      dns.close();
      server.close();
    }
  });
});

Deno.test("quic DNS server runs as DNS over TLS to the same address and port (its ALPN doq dropped)", async () => {
  const { pki: p, server: ctx } = await pki();
  await withReactor(async (r) => {
    const server = startDnsServer(r, zoneHandler(ZONE), { tls: ctx });
    const doq = {
      ...dotServer(server.port, {
        server_name: "dns.test",
        certificate_path: p.caPath,
        alpn: ["doq"],
      }),
      type: "quic",
      tag: "doq",
    };
    const { dns } = makeDns(r, { dns: { servers: [doq] } });
    try {
      assert.deepEqual(answersOf(await ask(dns, query("a.test", "A", 1))), ["A 192.0.2.1"]);
      assert.equal(server.tcpConnections, 1);
      assert.deepEqual(server.queries.map((q) => q.transport), ["tcp"]);
    } finally {
      dns.close();
      server.close();
    }
  });
});

Deno.test("tls and https DNS servers given by name are found with their domain_resolver", async () => {
  const { pki: p, server: ctx } = await pki();
  await withReactor(async (r) => {
    const server = startDnsServer(r, zoneHandler(ZONE), { tls: ctx });
    const { dns } = makeDns(r, {
      dns: {
        servers: [
          {
            type: "tls",
            tag: "dot",
            server: "dns.test",
            server_port: server.port,
            domain_resolver: "hosts",
            tls: { certificate_path: p.caPath },
          },
          { type: "hosts", tag: "hosts", predefined: { "dns.test": ["127.0.0.1"] } },
        ],
        final: "dot",
      },
    });
    try {
      // The certificate is checked against the server's name (no server_name given).
      assert.deepEqual(answersOf(await ask(dns, query("a.test"))), ["A 192.0.2.1"]);
      assert.equal(server.tcpConnections, 1);
    } finally {
      dns.close();
      server.close();
    }
  });
});

Deno.test("tls DNS server: an untrusted certificate or a wrong pin fails naming the server and the reason", async () => {
  const { pki: p, server: ctx } = await pki();
  await withReactor(async (r) => {
    const server = startDnsServer(r, zoneHandler(ZONE), { tls: ctx });
    const addr = new ServerAddress(
      'DNS server "dot"',
      { addr: server.addr },
      server.port,
      r,
    );
    const dialer = new DirectDialer("test", {}, testContext(r));
    try {
      const untrusted = createTlsTransport(
        "dot",
        r,
        dialer,
        addr,
        tlsClientConfig({ certificate_path: p.otherCaPath }, "dns.test", undefined, "x"),
      );
      await assert.rejects(untrusted.exchange(query("a.test"), 3000), {
        message: `DNS server "dot": connect to 127.0.0.1:${server.port}: TLS handshake with ` +
          "dns.test failed: certificate signed by an unknown authority " +
          "(UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
      });
      const pinned = createTlsTransport(
        "dot",
        r,
        dialer,
        addr,
        tlsClientConfig(
          { certificate_public_key_sha256: [new Uint8Array(32)] },
          "dns.test",
          undefined,
          "x",
        ),
      );
      await assert.rejects(pinned.exchange(query("a.test"), 3000), {
        message:
          /^DNS server "dot": connect to 127\.0\.0\.1:\d+: TLS handshake with dns\.test failed: certificate public key sha256 \S+ is not in certificate_public_key_sha256$/,
      });
      assert.equal(server.queries.length, 0, "no query may leave before the server is trusted");
      untrusted.close();
      pinned.close();
    } finally {
      server.close();
    }
  });
});

Deno.test("a tls DNS server that fails the handshake passes the query to the next server the rules give", async () => {
  const { pki: p, server: ctx } = await pki();
  await withReactor(async (r) => {
    const dot = startDnsServer(r, zoneHandler(ZONE), { tls: ctx });
    const backup = startDnsServer(
      r,
      zoneHandler({ "a.test": { A: [{ ttl: 60, data: "192.0.2.99" }] } }),
    );
    const { dns } = makeDns(r, {
      dns: {
        servers: [
          {
            ...dotServer(dot.port, { server_name: "dns.test", certificate_path: p.otherCaPath }),
            tag: "bad",
          },
          { type: "tcp", tag: "backup", server: "127.0.0.1", server_port: backup.port },
        ],
        rules: [
          { domain_suffix: ["test"], server: "bad" },
          { domain_suffix: ["a.test"], server: "bad" },
          { domain_suffix: ["a.test"], server: "backup" },
        ],
        final: "bad",
      },
    });
    try {
      // bad (refused: wrong CA) → the next rule naming bad is skipped → backup answers.
      assert.deepEqual(answersOf(await ask(dns, query("a.test"))), ["A 192.0.2.99"]);
      assert.equal(dot.queries.length, 0);
      assert.equal(backup.queries.length, 1);
      // b.test: only the failing rule and the failing default server: SERVFAIL.
      assert.equal((await ask(dns, query("b.test"))).rcode, "SERVFAIL");
      // tunbox's own lookups fall through the same way.
      assert.deepEqual((await dns.lookup("a.test")).map((a) => a.join(".")), ["192.0.2.99"]);
    } finally {
      dns.close();
      dot.close();
      backup.close();
    }
  });
});

Deno.test("tls DNS server behind stunnel (OpenSSL), TLS 1.2 only, with the CA inline", async () => {
  const { pki: p } = await pki();
  const leaf = await p.issue("stunnel", ["dot.test"]);
  await withReactor(async (r) => {
    const server = startDnsServer(r, zoneHandler(ZONE));
    const tunnel = await startStunnel(r, leaf, `127.0.0.1:${server.port}`, [
      "sslVersionMax = TLSv1.2",
    ]);
    const { dns } = makeDns(r, {
      dns: {
        servers: [
          dotServer(tunnel.port, {
            server_name: "dot.test",
            certificate: p.caPem.trim().split("\n"),
          }),
        ],
      },
    });
    try {
      for (let i = 0; i < 20; i++) {
        assert.deepEqual(answersOf(await ask(dns, query("a.test", "A", i))), ["A 192.0.2.1"]);
      }
      assert.equal(server.tcpConnections, 1, "stunnel opened one backend connection");
    } finally {
      dns.close();
      server.close();
      await tunnel.stop();
    }
    assert.match(tunnel.output(), /TLSv1\.2/);
  });
});

Deno.test("tls DNS server that sends garbage after the handshake: SERVFAIL within the timeout", async () => {
  const { server: ctx } = await pki();
  await withReactor(async (r) => {
    const l = new TcpListener(r, { addr: new Uint8Array([127, 0, 0, 1]), port: 0 }, (sock) => {
      tlsAccept(sock, ctx, { what: "garbage", timeoutMs: 5000 }).then(async (t) => {
        await readSome(t, new Uint8Array(512), "query");
        // A length prefix announcing 300 bytes, then 3 bytes and silence: a truncated answer.
        await writeAll(t, new Uint8Array([1, 44, 1, 2, 3]), "garbage");
      }).catch(() => {});
    });
    const { dns } = makeDns(r, {
      dns: {
        servers: [
          dotServer(l.localAddr().port, { server_name: "dns.test", insecure: true }),
        ],
      },
    });
    try {
      const t0 = r.now();
      const answer = await ask(dns, query("a.test", "A", 9));
      assert.equal(answer.rcode, "SERVFAIL");
      assert.ok(r.now() - t0 < 12_000);
    } finally {
      dns.close();
      l.close();
    }
  });
});

Deno.test.afterAll(async () => {
  await shared?.pki.remove();
  shared = null;
});
