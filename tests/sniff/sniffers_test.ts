import assert from "node:assert/strict";
import fc from "fast-check";
import dnsPacket from "dns-packet";
import {
  applySniffResult,
  matched,
  newPacketSniffState,
  sniffPacket,
  sniffStream,
  StreamSniffBuffer,
} from "../../src/sniff/mod.ts";
import { newConnMetadata } from "../../src/route/metadata.ts";
import { clientHello, records, unhex } from "./_tls_builder.ts";
import { cryptoFrame, encodeInitial } from "./_quic_builder.ts";
import { RFC9001_CLIENT_INITIAL } from "./_quic_vectors.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dnsQuery = new Uint8Array(dnsPacket.encode({
  type: "query",
  id: 7,
  questions: [{ type: "A", name: "q.example" }],
}));

Deno.test("`sniffStream()` runs every stream sniffer when the list is empty", () => {
  const tls = sniffStream(records(clientHello({ serverName: "t.example" })));
  assert.ok(tls.status === "match" && tls.protocol === "tls" && tls.domain === "t.example");
  const http = sniffStream(enc("GET / HTTP/1.1\r\nHost: h.example\r\n\r\n"));
  assert.ok(http.status === "match" && http.protocol === "http" && http.domain === "h.example");
  const dns = sniffStream(new Uint8Array([0, dnsQuery.length, ...dnsQuery]));
  assert.ok(dns.status === "match" && dns.protocol === "dns");
  // Two bytes "SS" are also a plausible DNS-over-TCP length (0x5353): still undecided.
  assert.equal(sniffStream(enc("SSH-2.0-x\r\n")).status, "need-more");
  assert.equal(sniffStream(enc("SSH-2.0-OpenSSH_9.6p1 Debian\r\n")).status, "no-match");
});

Deno.test("`sniffStream()` honours the rule's sniffer list", () => {
  assert.equal(sniffStream(records(clientHello()), ["http"]).status, "no-match");
  assert.equal(sniffStream(records(clientHello()), ["quic", "tls"]).status, "match");
});

Deno.test("`sniffStream()` needs more while any sniffer could still match", () => {
  assert.equal(sniffStream(enc("GE")).status, "need-more"); // http maybe; tls no
  assert.equal(sniffStream(Uint8Array.from([0x16, 3])).status, "need-more"); // tls maybe
  assert.equal(sniffStream(new Uint8Array(0)).status, "need-more");
  assert.equal(sniffStream(Uint8Array.from([0x00, 0x30, 1])).status, "need-more"); // dns framing
  assert.equal(sniffStream(Uint8Array.from([0x00, 0x03, 1, 2, 3])).status, "no-match");
  assert.equal(sniffStream(Uint8Array.from([0xff, 0xff, 0xff])).status, "need-more");
});

Deno.test("`StreamSniffBuffer` decides only once the last chunk of a split ClientHello arrives (fast-check)", () => {
  const data = records(clientHello({ serverName: "chunks.example", padding: 700 }), 300);
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: data.length - 1 }), { maxLength: 30 }),
      (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), data.length];
        const buf = new StreamSniffBuffer();
        for (let i = 1; i < points.length; i++) {
          const r = buf.push(data.subarray(points[i - 1]!, points[i]!));
          if (i < points.length - 1) assert.equal(r.status, "need-more");
          else assert.ok(r.status === "match" && r.domain === "chunks.example");
        }
        assert.deepEqual(buf.bytes, data);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("`StreamSniffBuffer` gives up after its byte limit but keeps every byte", () => {
  const buf = new StreamSniffBuffer(["http"], 16);
  assert.equal(buf.push(enc("GET /aaaaaaa")).status, "need-more");
  const r = buf.push(enc("aaaaaaaaaaaa"));
  assert.ok(r.status === "no-match" && /after 16 bytes/.test(r.reason));
  assert.equal(new TextDecoder().decode(buf.bytes), "GET /aaaaaaaaaaaaaaaaaaa");
});

Deno.test("`sniffPacket()` recognises DNS and QUIC and honours the sniffer list", async () => {
  const dns = await sniffPacket(dnsQuery);
  assert.ok(dns.status === "match" && dns.protocol === "dns");
  const quic = await sniffPacket(unhex(RFC9001_CLIENT_INITIAL));
  assert.ok(quic.status === "match" && quic.protocol === "quic" && quic.domain === "example.com");
  assert.equal((await sniffPacket(dnsQuery, ["quic"])).status, "no-match");
  assert.equal((await sniffPacket(Uint8Array.from([1, 2, 3]))).status, "no-match");
});

Deno.test("`sniffPacket()` only runs QUIC after a QUIC need-more", async () => {
  const hello = clientHello({ serverName: "two.example", padding: 1500 });
  const first = await encodeInitial({
    packetNumber: 0,
    payload: cryptoFrame(0, hello.subarray(0, 900)),
  });
  const second = await encodeInitial({
    packetNumber: 1,
    payload: cryptoFrame(900, hello.subarray(900)),
  });
  const state = newPacketSniffState();
  assert.equal((await sniffPacket(first, [], state)).status, "need-more");
  assert.equal((await sniffPacket(dnsQuery, [], state)).status, "no-match");
  const r = await sniffPacket(second, [], state);
  assert.ok(r.status === "match" && r.domain === "two.example" && r.client === "chromium");
});

Deno.test("`applySniffResult()` fills protocol, domain and client of a flow", () => {
  const meta = newConnMetadata({
    id: 1,
    inbound: "tun-in",
    inboundType: "tun",
    network: "udp",
    source: { addr: Uint8Array.from([10, 0, 0, 1]), port: 1 },
    destination: { addr: Uint8Array.from([1, 1, 1, 1]), port: 443 },
  });
  applySniffResult(meta, matched("quic", "x.example", "chromium"));
  assert.deepEqual([meta.protocol, meta.domain, meta.client], ["quic", "x.example", "chromium"]);
  applySniffResult(meta, matched("dns"));
  assert.deepEqual([meta.protocol, meta.domain, meta.client], ["dns", "x.example", "chromium"]);
});
