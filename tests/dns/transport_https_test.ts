// DNS over HTTPS against a DoH server process (node:http2 with HTTP/1.1 fallback, or HTTPS/1.1
// only), through the DNS module's config.

import assert from "node:assert/strict";
import type { Reactor } from "../../src/io/reactor.ts";
import { base64Url } from "../../src/dns/transport_https.ts";
import { makePki, type Pki } from "../_helpers/tls_certs.ts";
import { freePort, type Peer, startPeer } from "../outbound/_helpers.ts";
import { answersOf, ask, makeDns, query, withReactor } from "./_helpers.ts";

interface Seen {
  conn: number;
  http: string;
  method: string;
  path: string;
  id: number;
  type: string | null;
  host: string | null;
  custom: string | null;
}

let pkiP: Pki | null = null;

async function startDoh(r: Reactor, extra: string[] = []): Promise<Peer & { seen(): Seen[] }> {
  pkiP ??= await makePki();
  const leaf = await pkiP.issue("doh", ["doh.test"]);
  const port = freePort();
  const script = new URL("./_doh_server.ts", import.meta.url).pathname;
  const peer = await startPeer(r, Deno.execPath(), [
    "run",
    "-A",
    script,
    "--port",
    String(port),
    "--cert",
    leaf.certPath,
    "--key",
    leaf.keyPath,
    ...extra,
  ], port);
  return Object.assign(peer, {
    seen: () =>
      peer.output().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Seen),
  });
}

function dohServer(port: number, extra: Record<string, unknown> = {}) {
  return {
    type: "https",
    tag: "doh",
    server: "127.0.0.1",
    server_port: port,
    tls: { server_name: "doh.test", certificate_path: pkiP!.caPath },
    ...extra,
  };
}

/** Waits until the server printed `n` request lines (its stdout is read asynchronously). */
async function seenAtLeast(r: Reactor, doh: { seen(): Seen[] }, n: number): Promise<Seen[]> {
  for (let i = 0; i < 100 && doh.seen().length < n; i++) {
    await new Promise((res) => r.setTimeout(20, () => res(null)));
  }
  return doh.seen();
}

Deno.test("https DNS server over HTTP/2: POST, id 0 on the wire, 200 queries on one connection", async () => {
  await withReactor(async (r) => {
    const doh = await startDoh(r);
    const { dns } = makeDns(r, { dns: { servers: [dohServer(doh.port)] } });
    try {
      assert.deepEqual(answersOf(await ask(dns, query("abc.test", "A", 77))), ["A 192.0.2.3"]);
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) => ask(dns, query(`n${i}.test`, "A", 100 + i))),
      );
      answers.forEach((a, i) => {
        assert.equal(a.id, 100 + i);
        assert.deepEqual(answersOf(a), [`A 192.0.2.${`n${i}`.length}`]);
      });
      for (let i = 0; i < 99; i++) await ask(dns, query(`s${i}.other`, "A", i));
      const seen = await seenAtLeast(r, doh, 200);
      assert.equal(seen.length, 200);
      assert.deepEqual(new Set(seen.map((s) => s.conn)), new Set([1]), "one connection");
      assert.ok(seen.every((s) => s.http === "2.0" && s.method === "POST"));
      assert.ok(seen.every((s) => s.path === "/dns-query" && s.id === 0));
      assert.ok(seen.every((s) => s.type === "application/dns-message"));
      assert.equal(seen[0]!.host, `doh.test:${doh.port}`);
    } finally {
      dns.close();
      await doh.stop();
    }
  });
});

Deno.test("https DNS server: GET with dns= base64url, path, Host and custom headers", async () => {
  await withReactor(async (r) => {
    const doh = await startDoh(r);
    const { dns } = makeDns(r, {
      dns: {
        servers: [
          dohServer(doh.port, {
            method: "GET",
            path: "/resolve",
            headers: { Host: "dns.example", "X-Test": "yes" },
          }),
        ],
      },
    });
    try {
      assert.deepEqual(answersOf(await ask(dns, query("abcd.test"))), ["A 192.0.2.4"]);
      const [seen] = await seenAtLeast(r, doh, 1);
      assert.deepEqual(
        { method: seen!.method, path: seen!.path, host: seen!.host, custom: seen!.custom },
        { method: "GET", path: "/resolve", host: `dns.example:${doh.port}`, custom: "yes" },
      );
    } finally {
      dns.close();
      await doh.stop();
    }
  });
});

Deno.test("h3 DNS server runs as https to the same address, port and path, over HTTP/2 (its ALPN h3 replaced)", async () => {
  await withReactor(async (r) => {
    const doh = await startDoh(r);
    const server = dohServer(doh.port, { type: "h3", tag: "h3", path: "/h3-query" });
    (server.tls as Record<string, unknown>).alpn = ["h3"];
    const { dns } = makeDns(r, { dns: { servers: [server] } });
    try {
      assert.deepEqual(answersOf(await ask(dns, query("abcde.test", "A", 5))), ["A 192.0.2.5"]);
      const [seen] = await seenAtLeast(r, doh, 1);
      assert.deepEqual(
        { http: seen!.http, method: seen!.method, path: seen!.path, host: seen!.host },
        { http: "2.0", method: "POST", path: "/h3-query", host: `doh.test:${doh.port}` },
      );
    } finally {
      dns.close();
      await doh.stop();
    }
  });
});

Deno.test("https DNS server over HTTP/1.1: keep-alive reuses one connection; concurrency opens a few", async () => {
  await withReactor(async (r) => {
    const doh = await startDoh(r, ["--h1"]);
    const { dns } = makeDns(r, { dns: { servers: [dohServer(doh.port)] } });
    try {
      for (let i = 0; i < 50; i++) {
        // Distinct names: the DNS cache must not answer instead of the server.
        assert.deepEqual(answersOf(await ask(dns, query(`${"x".repeat(i % 9 + 1)}.q${i}.test`))), [
          `A 192.0.2.${i % 9 + 1}`,
        ]);
      }
      let seen = await seenAtLeast(r, doh, 50);
      assert.equal(seen.length, 50);
      assert.ok(seen.every((s) => s.http === "1.1"));
      assert.deepEqual(new Set(seen.map((s) => s.conn)), new Set([1]), "one kept-alive connection");
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => ask(dns, query(`c${i}.test`, "A", i))),
      );
      assert.ok(answers.every((a, i) => a.id === i && a.rcode === "NOERROR"));
      seen = await seenAtLeast(r, doh, 90);
      assert.equal(seen.length, 90);
      const conns = new Set(seen.map((s) => s.conn));
      assert.ok(conns.size >= 2 && conns.size <= 4, `connections: ${[...conns]}`);
    } finally {
      dns.close();
      await doh.stop();
    }
  });
});

Deno.test("https DNS server that closes after each answer: every query still answered", async () => {
  await withReactor(async (r) => {
    const doh = await startDoh(r, ["--h1", "--close"]);
    const { dns } = makeDns(r, { dns: { servers: [dohServer(doh.port)] } });
    try {
      for (let i = 0; i < 5; i++) {
        assert.equal((await ask(dns, query(`ab${i}.test`, "A", i))).rcode, "NOERROR");
      }
      const seen = await seenAtLeast(r, doh, 5);
      assert.equal(seen.length, 5);
      assert.equal(new Set(seen.map((s) => s.conn)).size, 5);
    } finally {
      dns.close();
      await doh.stop();
    }
  });
});

Deno.test("https DNS server answering 503: SERVFAIL, the status named in the error", async () => {
  await withReactor(async (r) => {
    const doh = await startDoh(r, ["--status", "503"]);
    const { dns } = makeDns(r, { dns: { servers: [dohServer(doh.port)] } });
    try {
      assert.equal((await ask(dns, query("ab.test"))).rcode, "SERVFAIL");
      const transport = dns.router.server("doh")!;
      await assert.rejects(transport.exchange(query("ab.test"), 3000), {
        message: `DNS server "doh": exchange with https://doh.test:${doh.port}/dns-query: HTTP 503`,
      });
    } finally {
      dns.close();
      await doh.stop();
    }
  });
});

Deno.test("https DNS server answering garbage or nothing: the query fails within its timeout", async () => {
  await withReactor(async (r) => {
    // Garbage fails as soon as it arrives; silence when the query's time is up.
    for (
      const [flag, timeoutMs, expected] of [
        ["--garbage", 5000, /the body is not a DNS message/],
        ["--silent", 800, /\(after 800 ms\) failed: ETIMEDOUT/],
      ] as const
    ) {
      const doh = await startDoh(r, [flag]);
      const { dns } = makeDns(r, { dns: { servers: [dohServer(doh.port)] } });
      try {
        const transport = dns.router.server("doh")!;
        const t0 = r.now();
        await assert.rejects(transport.exchange(query("ab.test"), timeoutMs), expected);
        assert.ok(r.now() - t0 < timeoutMs + 2000, `${flag}: took ${r.now() - t0} ms`);
        // The transport still works for the next query (a new stream or connection).
        await assert.rejects(transport.exchange(query("cd.test"), timeoutMs), expected);
      } finally {
        dns.close();
        await doh.stop();
      }
    }
  });
});

Deno.test("dns.timeout bounds each query: a silent server fails it after that time (not the 10 s default)", async () => {
  await withReactor(async (r) => {
    const doh = await startDoh(r, ["--silent"]);
    const { dns } = makeDns(r, { dns: { servers: [dohServer(doh.port)], timeout: "600ms" } });
    try {
      const t0 = r.now();
      assert.equal((await ask(dns, query("ab.test")))!.rcode, "SERVFAIL");
      const took = r.now() - t0;
      assert.ok(took >= 550 && took < 3000, `took ${took} ms`);
    } finally {
      dns.close();
      await doh.stop();
    }
  });
});

Deno.test("`base64Url()` is RFC 4648 §5 without padding", () => {
  assert.equal(base64Url(new Uint8Array([0xfb, 0xff, 0xfe])), "-__-");
  assert.equal(base64Url(new Uint8Array([1])), "AQ");
});

Deno.test.afterAll(async () => {
  await pkiP?.remove();
  pkiP = null;
});
