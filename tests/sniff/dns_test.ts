import assert from "node:assert/strict";
import fc from "fast-check";
import dnsPacket from "dns-packet";
import { sniffDnsPacket, sniffDnsStream } from "../../src/sniff/dns.ts";

function query(name: string, type = "A"): Uint8Array {
  return new Uint8Array(dnsPacket.encode({
    type: "query",
    id: 0x1234,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name } as never],
  }));
}

Deno.test("`sniffDnsPacket()` recognises a query and reports its question", () => {
  const r = sniffDnsPacket(query("example.com", "AAAA"));
  assert.equal(r.status, "match");
  assert.ok(r.status === "match");
  assert.equal(r.protocol, "dns");
  assert.equal(r.domain, "", "sing-box does not route DNS by the queried name");
  assert.deepEqual(r.dnsQuestion, { name: "example.com.", type: 28 });
});

Deno.test("`sniffDnsPacket()` walks answers with compression pointers", () => {
  const response = new Uint8Array(dnsPacket.encode({
    type: "response",
    id: 1,
    questions: [{ type: "A", name: "a.example.org" }],
    answers: [
      { type: "A", name: "a.example.org", ttl: 60, data: "192.0.2.1" },
      { type: "CNAME", name: "b.example.org", ttl: 60, data: "a.example.org" },
    ],
    additionals: [{ type: "TXT", name: "example.org", ttl: 1, data: "hello" }],
  }));
  const r = sniffDnsPacket(response);
  assert.ok(
    r.status === "match" && r.dnsQuestion?.name === "a.example.org." && r.dnsQuestion.type === 1,
  );
  // Cutting into the last record makes it malformed.
  assert.equal(sniffDnsPacket(response.subarray(0, response.length - 2)).status, "no-match");
});

Deno.test("`sniffDnsPacket()` rejects malformed messages", () => {
  const q = query("example.com");
  const table: [string, Uint8Array][] = [
    ["short header", q.subarray(0, 11)],
    ["no question", new Uint8Array(12)],
    ["truncated question", q.subarray(0, q.length - 1)],
    ["pointer loop", Uint8Array.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1])],
    [
      "forward pointer",
      Uint8Array.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 14, 0, 1, 0, 1]),
    ],
    [
      "label type 0x40",
      Uint8Array.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 0x61, 0, 0, 1, 0, 1]),
    ],
    ["label past end", Uint8Array.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0x61, 0])],
  ];
  for (const [name, data] of table) assert.equal(sniffDnsPacket(data).status, "no-match", name);
  const long = new Uint8Array([
    0,
    1,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...Array(5).fill([63, ...Array(63).fill(0x61)]).flat(),
    0,
    0,
    1,
    0,
    1,
  ]);
  assert.equal(sniffDnsPacket(long).status, "no-match", "name over 255 bytes");
  // Extra bytes after the message are ignored, as miekg/dns does.
  assert.equal(sniffDnsPacket(new Uint8Array([...q, 9, 9, 9])).status, "match");
});

Deno.test("`sniffDnsStream()` reads the 2-byte length prefix", () => {
  const q = query("tcp.example");
  const framed = new Uint8Array([q.length >> 8, q.length & 0xff, ...q]);
  for (let n = 0; n < framed.length; n++) {
    assert.equal(sniffDnsStream(framed.subarray(0, n)).status, "need-more", `prefix ${n}`);
  }
  const r = sniffDnsStream(framed);
  assert.ok(r.status === "match" && r.dnsQuestion?.name === "tcp.example.");
  assert.equal(sniffDnsStream(Uint8Array.from([0, 0, 1])).status, "no-match");
  assert.equal(sniffDnsStream(Uint8Array.from([0, 5, 1, 2, 3, 4, 5])).status, "no-match");
});

Deno.test("`sniffDnsStream()` rejects a partial message that cannot be a query", () => {
  // Length 300, header with zero questions: decided before the rest arrives.
  assert.equal(sniffDnsStream(Uint8Array.from([1, 44, 0, 1, 1, 0, 0, 0])).status, "no-match");
  // Header complete, first label byte 0x48 ("H") is not a plain label length.
  const partial = Uint8Array.from([1, 44, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x48]);
  assert.equal(sniffDnsStream(partial).status, "no-match");
  partial[14] = 7;
  assert.equal(sniffDnsStream(partial).status, "need-more");
});

Deno.test("`sniffDnsPacket()` and `sniffDnsStream()` never throw on random input", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (data) => {
      for (const r of [sniffDnsPacket(data), sniffDnsStream(data)]) {
        assert.ok(["match", "need-more", "no-match"].includes(r.status));
      }
    }),
    { numRuns: 3000 },
  );
});
