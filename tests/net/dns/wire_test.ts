import assert from "node:assert/strict";
import fc from "fast-check";
import {
  addressResponse,
  answerAddresses,
  DnsFormatError,
  FLAG_TC,
  messageFlags,
  parseMessage,
  RCODE_NXDOMAIN,
  readName,
  sameQuestions,
  statusResponse,
  truncateResponse,
  udpLimit,
  withoutRecords,
} from "../../../src/net/dns/wire.ts";
import { answersOf, decode, encode, query } from "../../dns/_helpers.ts";

Deno.test("`parseMessage()` walks questions and records of every section", () => {
  const msg = encode({
    type: "response",
    id: 9,
    questions: [{ type: "A", name: "www.Example.com" }],
    answers: [
      { type: "CNAME", name: "www.example.com", ttl: 30, data: "edge.example.net" },
      { type: "A", name: "edge.example.net", ttl: 20, data: "192.0.2.7" },
    ],
    authorities: [{ type: "NS", name: "example.net", ttl: 99, data: "ns.example.net" }],
    additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1400, flags: 0, options: [] }],
  });
  const l = parseMessage(msg);
  assert.equal(l.id, 9);
  assert.deepEqual(l.questions.map((q) => [q.name, q.type, q.class]), [["www.Example.com", 1, 1]]);
  assert.deepEqual(
    l.records.map((r) => [r.section, r.name, r.type, r.ttl]),
    [[1, "www.example.com", 5, 30], [1, "edge.example.net", 1, 20], [2, "example.net", 2, 99], [
      3,
      "",
      41,
      0,
    ]],
  );
  assert.equal(l.end, msg.length);
  assert.deepEqual(answerAddresses(msg, l), [new Uint8Array([192, 0, 2, 7])]);
});

Deno.test("`readName()` follows backward pointers and rejects forward pointers and loops", () => {
  // "a.b" at 12, then a pointer to it at 17.
  const b = new Uint8Array([
    ...new Uint8Array(12),
    1,
    0x61,
    1,
    0x62,
    0,
    0xc0,
    12,
    0xc0,
    19,
  ]);
  assert.deepEqual(readName(b, 12), { name: "a.b", next: 17 });
  assert.deepEqual(readName(b, 17), { name: "a.b", next: 19 });
  assert.throws(() => readName(b, 19), DnsFormatError, "a pointer to itself is a loop");
  const forward = new Uint8Array([...new Uint8Array(12), 0xc0, 14, 0]);
  assert.throws(() => readName(forward, 12), /forward compression pointer/);
});

Deno.test("`readName()` escapes dots and unprintable bytes inside labels", () => {
  const b = new Uint8Array([3, 0x61, 0x2e, 0x07, 0]);
  assert.equal(readName(b, 0).name, "a\\.\\007");
});

Deno.test("`parseMessage()` rejects short headers, truncated questions and record data", () => {
  assert.throws(() => parseMessage(new Uint8Array(11)), /shorter than a DNS header/);
  const q = query("example.com");
  assert.throws(() => parseMessage(q.subarray(0, q.length - 1)), /truncated/);
  const r = encode({
    type: "response",
    id: 1,
    questions: [{ type: "A", name: "x.test" }],
    answers: [{ type: "A", name: "x.test", ttl: 1, data: "192.0.2.1" }],
  });
  assert.throws(() => parseMessage(r.subarray(0, r.length - 2)), /record data .* truncated/);
});

Deno.test("`parseMessage()` never throws anything but DnsFormatError on random input", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    try {
      parseMessage(bytes);
    } catch (e) {
      assert.ok(e instanceof DnsFormatError, String(e));
    }
  }));
});

Deno.test("`statusResponse()` keeps the id and question and sets the RCODE", () => {
  const q = query("nope.test", "AAAA", 0x1234);
  const out = decode(statusResponse(q, parseMessage(q), { rcode: RCODE_NXDOMAIN }));
  assert.equal(out.id, 0x1234);
  assert.equal(out.type, "response");
  assert.equal(out.rcode, "NXDOMAIN");
  assert.equal(out.flag_aa, true);
  assert.equal(out.flag_ra, true);
  assert.deepEqual(out.questions, [{ name: "nope.test", type: "AAAA", class: "IN" }]);
  assert.deepEqual(out.answers, []);
});

Deno.test("`addressResponse()` answers only addresses of the question's family", () => {
  const q = query("dual.test", "AAAA", 77);
  const v4 = new Uint8Array([192, 0, 2, 1]);
  const v6 = new Uint8Array(16).fill(0x20, 0, 1);
  const out = decode(addressResponse(q, parseMessage(q), [v4, v6], 600));
  assert.equal(out.id, 77);
  assert.deepEqual(answersOf(out), ["AAAA 2000::"]);
  assert.equal(out.answers[0].ttl, 600);
  assert.equal(out.answers[0].name, "dual.test");
});

Deno.test("`truncateResponse()` cuts an oversized answer to header, question and OPT with TC", () => {
  const answers = Array.from({ length: 40 }, (_, i) => ({
    type: "A",
    name: "big.test",
    ttl: 60,
    data: `192.0.2.${i + 1}`,
  }));
  const big = encode({
    type: "response",
    id: 5,
    questions: [{ type: "A", name: "big.test" }],
    answers,
    additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1232, flags: 0, options: [] }],
  });
  assert.ok(big.length > 512);
  const l = parseMessage(big);
  assert.equal(truncateResponse(big, l, 4096), big, "fits: unchanged");
  const cut = truncateResponse(big, l, 512);
  assert.ok(cut.length <= 512);
  assert.ok(messageFlags(cut) & FLAG_TC);
  const d = decode(cut);
  assert.equal(d.answers.length, 0);
  assert.equal(d.additionals.length, 1);
  assert.equal(d.additionals[0].type, "OPT");
});

Deno.test("`udpLimit()` reads the EDNS UDP size, at least 512", () => {
  const plain = query("a.test");
  assert.equal(udpLimit(plain, parseMessage(plain)), 512);
  const edns = query("a.test", "A", 1, { edns: 1232 });
  assert.equal(udpLimit(edns, parseMessage(edns)), 1232);
  const tiny = query("a.test", "A", 1, { edns: 100 });
  assert.equal(udpLimit(tiny, parseMessage(tiny)), 512);
});

Deno.test("`withoutRecords()` removes the OPT record and fixes the counts", () => {
  const msg = encode({
    type: "response",
    id: 3,
    questions: [{ type: "A", name: "x.test" }],
    answers: [{ type: "A", name: "x.test", ttl: 5, data: "192.0.2.9" }],
    additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1232, flags: 0, options: [] }],
  });
  const l = parseMessage(msg);
  const out = decode(withoutRecords(msg, l, (r) => r.type === 41));
  assert.deepEqual(answersOf(out), ["A 192.0.2.9"]);
  assert.equal(out.additionals.length, 0);
});

Deno.test("`sameQuestions()` compares names ignoring case", () => {
  const a = parseMessage(query("MiXeD.test"));
  const b = parseMessage(query("mixed.TEST"));
  const c = parseMessage(query("mixed.test", "AAAA"));
  assert.equal(sameQuestions(a, b), true);
  assert.equal(sameQuestions(a, c), false);
});
