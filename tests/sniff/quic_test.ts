import assert from "node:assert/strict";
import fc from "fast-check";
import {
  deriveClientInitialKeys,
  newQuicSniffState,
  QUIC_DRAFT29,
  QUIC_V1,
  QUIC_V2,
  sniffQuic,
} from "../../src/sniff/quic.ts";
import type { SniffResult } from "../../src/sniff/result.ts";
import { concatBytes, cryptoFrame, encodeInitial, varint } from "./_quic_builder.ts";
import {
  RFC9001_CLIENT_INITIAL,
  RFC9001_CLIENT_KEYS,
  RFC9369_CLIENT_INITIAL,
  RFC9369_CLIENT_KEYS,
  RFC_CLIENT_CRYPTO_FRAME,
  RFC_DCID,
} from "./_quic_vectors.ts";
import { clientHello, tohex, unhex } from "./_tls_builder.ts";

function expectMatch(r: SniffResult, domain: string, client?: string): void {
  assert.equal(r.status, "match", JSON.stringify(r));
  assert.ok(r.status === "match");
  assert.equal(r.protocol, "quic");
  assert.equal(r.domain, domain);
  if (client !== undefined) assert.equal(r.client, client);
}

Deno.test("`deriveClientInitialKeys()` reproduces RFC 9001 A.1 and RFC 9369 A.1", async () => {
  const v1 = await deriveClientInitialKeys(QUIC_V1, unhex(RFC_DCID));
  assert.deepEqual(
    { key: tohex(v1.key), iv: tohex(v1.iv), hp: tohex(v1.hp) },
    RFC9001_CLIENT_KEYS,
  );
  const v2 = await deriveClientInitialKeys(QUIC_V2, unhex(RFC_DCID));
  assert.deepEqual(
    { key: tohex(v2.key), iv: tohex(v2.iv), hp: tohex(v2.hp) },
    RFC9369_CLIENT_KEYS,
  );
  await assert.rejects(deriveClientInitialKeys(0x1234, unhex(RFC_DCID)), RangeError);
});

Deno.test("`sniffQuic()` reads example.com from the RFC 9001 A.2 client Initial", async () => {
  expectMatch(await sniffQuic(unhex(RFC9001_CLIENT_INITIAL)), "example.com", "unknown");
});

Deno.test("`sniffQuic()` reads example.com from the RFC 9369 A.2 QUIC v2 client Initial", async () => {
  expectMatch(await sniffQuic(unhex(RFC9369_CLIENT_INITIAL)), "example.com");
});

Deno.test("the test encoder reproduces the RFC 9001 A.2 packet byte for byte", async () => {
  const packet = await encodeInitial({
    payload: unhex(RFC_CLIENT_CRYPTO_FRAME),
    padTo: unhex(RFC_CLIENT_CRYPTO_FRAME).length + 917,
    packetNumber: 2,
    pnLength: 4,
    lengthFieldSize: 2,
  });
  assert.equal(tohex(packet), RFC9001_CLIENT_INITIAL);
});

Deno.test("`sniffQuic()` rejects a tampered RFC packet", async () => {
  const p = unhex(RFC9001_CLIENT_INITIAL);
  p[600]! ^= 0x01;
  const r = await sniffQuic(p);
  assert.equal(r.status, "no-match");
  assert.ok(r.status === "no-match" && /did not decrypt/.test(r.reason));
});

Deno.test("`sniffQuic()` handles draft-29 and v1 with tokens, SCIDs and short packet numbers", async () => {
  const hello = clientHello({ serverName: "draft.example" });
  for (const version of [QUIC_V1, QUIC_V2, QUIC_DRAFT29]) {
    for (const pnLength of [1, 2, 3, 4] as const) {
      const p = await encodeInitial({
        version,
        dcid: Uint8Array.from([1, 2, 3, 4, 5]),
        scid: Uint8Array.from([9, 9, 9]),
        token: Uint8Array.from([7, 7, 7, 7]),
        packetNumber: 0x1234 & ((1 << (8 * Math.min(pnLength, 3))) - 1),
        pnLength,
        payload: cryptoFrame(0, hello),
        padTo: 1162,
      });
      expectMatch(await sniffQuic(p), "draft.example");
    }
  }
});

Deno.test("`sniffQuic()` reassembles out-of-order CRYPTO frames in one packet", async () => {
  const hello = clientHello({ serverName: "split.example", padding: 300 });
  const a = hello.subarray(0, 100), b = hello.subarray(100, 250), c = hello.subarray(250);
  const p = await encodeInitial({
    payload: [...cryptoFrame(250, c), 0x01, ...cryptoFrame(0, a), ...cryptoFrame(100, b)],
    padTo: 1162,
  });
  expectMatch(await sniffQuic(p), "split.example", "chromium");
});

Deno.test("`sniffQuic()` reassembles a ClientHello spread over coalesced Initials in one datagram", async () => {
  const hello = clientHello({ serverName: "coalesced.example", padding: 200 });
  const p1 = await encodeInitial({
    packetNumber: 0,
    payload: cryptoFrame(0, hello.subarray(0, 150)),
  });
  const p2 = await encodeInitial({
    packetNumber: 1,
    payload: cryptoFrame(150, hello.subarray(150)),
  });
  expectMatch(await sniffQuic(concatBytes(p1, p2)), "coalesced.example");
});

Deno.test("`sniffQuic()` answers need-more and completes with the next datagram (Chromium split)", async () => {
  const hello = clientHello({ serverName: "big.example", padding: 1500 });
  const first = await encodeInitial({
    packetNumber: 0,
    payload: cryptoFrame(0, hello.subarray(0, 1000)),
    padTo: 1162,
  });
  const second = await encodeInitial({
    packetNumber: 1,
    payload: cryptoFrame(1000, hello.subarray(1000)),
    padTo: 1162,
  });
  const state = newQuicSniffState();
  assert.equal((await sniffQuic(first, state)).status, "need-more");
  assert.equal(state.pending, true);
  expectMatch(await sniffQuic(second, state), "big.example", "chromium");
  // The second datagram alone does not start at offset 0: a valid Initial, incomplete hello.
  assert.equal((await sniffQuic(second)).status, "need-more");
});

Deno.test("`sniffQuic()` guesses the client from the frame layout and the ClientHello", async () => {
  const hello = clientHello({ serverName: "c.example" });
  const one = await encodeInitial({ payload: cryptoFrame(0, hello) });
  expectMatch(await sniffQuic(one), "c.example", "firefox");

  const paddingFirst = await encodeInitial({ payload: [0, 0, 0, ...cryptoFrame(0, hello)] });
  expectMatch(await sniffQuic(paddingFirst), "c.example", "quic-go");

  const pinged = await encodeInitial({ payload: [0x01, ...cryptoFrame(0, hello)], padTo: 1162 });
  expectMatch(await sniffQuic(pinged), "c.example", "chromium");

  const safariHello = clientHello({
    serverName: "c.example",
    versions: [0x3a3a, 0x0304],
    groups: [0x4a4a, 0x001d, 0x0017, 0x0018, 0x0019],
  });
  const safari = await encodeInitial({ payload: cryptoFrame(0, safariHello), padTo: 1162 });
  expectMatch(await sniffQuic(safari), "c.example", "safari");

  const plain = await encodeInitial({ payload: cryptoFrame(0, hello), padTo: 1162 });
  expectMatch(await sniffQuic(plain), "c.example", "unknown");
});

Deno.test("`sniffQuic()` accepts ACK and CONNECTION_CLOSE frames and rejects other frames", async () => {
  const hello = clientHello({ serverName: "ack.example" });
  const withAck = await encodeInitial({
    payload: [
      0x02,
      ...varint(5),
      ...varint(0),
      ...varint(1),
      ...varint(0),
      ...varint(1),
      ...varint(1),
      ...cryptoFrame(0, hello),
    ],
    padTo: 1162,
  });
  expectMatch(await sniffQuic(withAck), "ack.example");
  const withStream = await encodeInitial({ payload: [0x08, 0, 1, 0x61, ...cryptoFrame(0, hello)] });
  assert.equal((await sniffQuic(withStream)).status, "no-match");
  const notHello = await encodeInitial({
    payload: cryptoFrame(0, Uint8Array.from([2, 0, 0, 1, 0])),
  });
  assert.equal((await sniffQuic(notHello)).status, "no-match");
});

Deno.test("`sniffQuic()` rejects non-Initial and non-QUIC datagrams", async () => {
  const rfc = unhex(RFC9001_CLIENT_INITIAL);
  const otherVersion = rfc.slice();
  otherVersion[4] = 2;
  assert.equal((await sniffQuic(otherVersion)).status, "no-match");
  const shortHeader = rfc.slice();
  shortHeader[0] = 0x40;
  assert.equal((await sniffQuic(shortHeader)).status, "no-match");
  const noDcid = rfc.slice();
  noDcid[5] = 0;
  assert.equal((await sniffQuic(noDcid)).status, "no-match");
  assert.equal((await sniffQuic(rfc.subarray(0, 600))).status, "no-match", "truncated packet");
  assert.equal((await sniffQuic(new Uint8Array(0))).status, "no-match");
  // A v1 Handshake packet (type 2) alone carries no Initial.
  const handshake = Uint8Array.from([
    0xe0,
    0,
    0,
    0,
    1,
    1,
    5,
    0,
    ...varint(20),
    ...new Uint8Array(20),
  ]);
  assert.equal((await sniffQuic(handshake)).status, "no-match");
});

Deno.test("`sniffQuic()` never throws on random datagrams", async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 1400 }), async (data) => {
      const r = await sniffQuic(data);
      assert.ok(["match", "need-more", "no-match"].includes(r.status));
    }),
    { numRuns: 300 },
  );
});

Deno.test("`sniffQuic()` never throws on long-header datagrams with random fields", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(0xc0, 0xc3, 0xd0, 0xe0, 0xf0),
      fc.constantFrom(QUIC_V1, QUIC_V2, QUIC_DRAFT29),
      fc.uint8Array({ maxLength: 1300 }),
      async (first, version, rest) => {
        const d = Uint8Array.from([
          first,
          version >>> 24,
          (version >>> 16) & 0xff,
          (version >>> 8) & 0xff,
          version & 0xff,
          ...rest,
        ]);
        const r = await sniffQuic(d);
        assert.ok(["match", "need-more", "no-match"].includes(r.status));
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("`sniffQuic()` never throws when bytes of the RFC packet are changed", async () => {
  const base = unhex(RFC9001_CLIENT_INITIAL);
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.nat(base.length),
      async (edits, cut) => {
        const d = base.slice(0, Math.max(cut, 1));
        for (const [i, v] of edits) if (i < d.length) d[i] = v;
        const r = await sniffQuic(d);
        assert.ok(["match", "need-more", "no-match"].includes(r.status));
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("`sniffQuic()` gives up when a flow keeps sending CRYPTO fragments that never start the hello", async () => {
  const state = newQuicSniffState();
  const packet = await encodeInitial({
    payload: Array.from({ length: 40 }, (_, i) => cryptoFrame(100 + i, Uint8Array.of(i))).flat(),
    padTo: 1162,
  });
  let last: SniffResult = await sniffQuic(packet, state);
  assert.equal(last.status, "need-more");
  for (let i = 0; i < 10 && last.status === "need-more"; i++) last = await sniffQuic(packet, state);
  assert.ok(last.status === "no-match" && /too many CRYPTO fragments/.test(last.reason));
});
