import assert from "node:assert/strict";
import fc from "fast-check";
import { parseClientHello, sniffTls } from "../../src/sniff/tls.ts";
import { clientHello, records } from "./_tls_builder.ts";

function domainOf(data: Uint8Array): string {
  const r = sniffTls(data);
  assert.equal(r.status, "match", JSON.stringify(r));
  assert.ok(r.status === "match" && r.protocol === "tls");
  return r.domain;
}

Deno.test("`sniffTls()` reads the server name from a one-record ClientHello", () => {
  assert.equal(
    domainOf(records(clientHello({ serverName: "www.example.com" }))),
    "www.example.com",
  );
});

Deno.test("`sniffTls()` matches a ClientHello without SNI with an empty domain", () => {
  assert.equal(domainOf(records(clientHello({ serverName: null }))), "");
});

Deno.test("`sniffTls()` answers need-more for every strict prefix and matches the whole hello", () => {
  const data = records(clientHello({ serverName: "prefix.example", alpn: ["h2", "http/1.1"] }));
  for (let n = 1; n < data.length; n++) {
    assert.equal(sniffTls(data.subarray(0, n)).status, "need-more", `prefix ${n}`);
  }
  assert.equal(domainOf(data), "prefix.example");
  // Bytes after the hello (the client's next flight) do not matter.
  assert.equal(domainOf(new Uint8Array([...data, 0x14, 0x03, 0x03, 0, 1, 1])), "prefix.example");
});

Deno.test("`sniffTls()` joins a ClientHello split over several records", () => {
  const hello = clientHello({ serverName: "records.example", padding: 3000 });
  for (const size of [1, 2, 3, 5, 100, 1000, 4096]) {
    const data = records(hello, size);
    assert.equal(domainOf(data), "records.example", `fragment size ${size}`);
    for (
      const cut of [1, 4, 5, 6, 9, size + 5, size + 6, Math.floor(data.length / 2), data.length - 1]
    ) {
      if (cut < data.length) {
        assert.equal(
          sniffTls(data.subarray(0, cut)).status,
          "need-more",
          `size ${size} cut ${cut}`,
        );
      }
    }
  }
});

Deno.test("`sniffTls()` answers need-more at every split point of a multi-record hello (fast-check)", () => {
  const hello = clientHello({ serverName: "fc.example", padding: 600 });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 700 }), fc.nat(), (fragment, seed) => {
      const data = records(hello, fragment);
      const cut = seed % data.length;
      if (cut > 0) assert.equal(sniffTls(data.subarray(0, cut)).status, "need-more");
      assert.equal(domainOf(data), "fc.example");
    }),
    { numRuns: 300 },
  );
});

Deno.test("`sniffTls()` rejects streams that are not a TLS handshake", () => {
  const hello = clientHello();
  const table: [string, Uint8Array][] = [
    ["HTTP", new TextEncoder().encode("GET / HTTP/1.1\r\n")],
    ["alert record", records(hello, 16384, 21)],
    ["application data", records(hello, 16384, 23)],
    ["record version 4.x", Uint8Array.from([22, 4, 1, 0, 5, 1, 0, 0, 1, 0])],
    ["oversized record", Uint8Array.from([22, 3, 1, 0x48, 0x01])],
    ["ServerHello", records(Uint8Array.from([2, 0, 0, 2, 3, 3]))],
    ["one byte that is not 22", Uint8Array.from([0x16 + 1])],
    ["second byte that is not 3", Uint8Array.from([22, 2])],
  ];
  for (const [name, data] of table) assert.equal(sniffTls(data).status, "no-match", name);
  // A non-handshake record in the middle of a split hello.
  const split = records(hello, 50);
  const bad = split.slice();
  bad[55] = 23;
  assert.equal(sniffTls(bad).status, "no-match");
});

Deno.test("`sniffTls()` rejects ClientHellos that Go's crypto/tls rejects", () => {
  const bad = (o: Parameters<typeof clientHello>[0]) => sniffTls(records(clientHello(o))).status;
  assert.equal(bad({ serverName: "trailing.dot." }), "no-match");
  assert.equal(bad({ serverName: "a.example", extraNames: ["b.example"] }), "no-match");
  assert.equal(bad({ serverName: "" }), "no-match");
  assert.equal(
    bad({ extensions: [[10, Uint8Array.from([0, 2, 0, 29])]] }),
    "no-match",
    "duplicate",
  );
  assert.equal(bad({ cipherSuites: [] }), "match");
  assert.equal(bad({ extensions: [[0xff01, Uint8Array.from([0])]] }), "match", "unknown ext");
  const hello = clientHello();
  // Extension block length one byte too long.
  const broken = hello.slice();
  const extLenAt = 4 + 2 + 32 + 1 + 32 + 2 + 8 + 2;
  broken[extLenAt + 1]! += 1;
  assert.equal(sniffTls(records(broken)).status, "no-match");
  assert.equal(parseClientHello(hello.subarray(4, 40)), null);
});

Deno.test("`parseClientHello()` returns the fields QUIC client detection uses", () => {
  const info = parseClientHello(
    clientHello({
      serverName: "f.example",
      cipherSuites: [0x0a0a, 0x1301],
      versions: [0x1a1a, 0x0304],
      groups: [0x2a2a, 0x001d],
      signatureAlgorithms: [0x0403],
      alpn: ["h3"],
    }).subarray(4),
  );
  assert.deepEqual(info, {
    serverName: "f.example",
    cipherSuites: [0x0a0a, 0x1301],
    versions: [0x1a1a, 0x0304],
    groups: [0x2a2a, 0x001d],
    signatureAlgorithms: [0x0403],
    alpn: ["h3"],
  });
});

Deno.test("`sniffTls()` never throws on random input", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (data) => {
      const r = sniffTls(data);
      assert.ok(["match", "need-more", "no-match"].includes(r.status));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("`sniffTls()` never throws on handshake records with random bodies", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.integer({ min: 1, max: 300 }),
      (body, frag) => {
        const msg = Uint8Array.from([1, 0, (body.length >> 8) & 0xff, body.length & 0xff, ...body]);
        const r = sniffTls(records(msg, frag));
        assert.ok(["match", "need-more", "no-match"].includes(r.status));
        assert.notEqual(r.status, "need-more", "a complete message is decided");
      },
    ),
    { numRuns: 1000 },
  );
});
