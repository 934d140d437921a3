// The shadowsocks AEAD (SIP004) response decoder on its own, fed by a fake server through an
// in-memory stream pair: a response split across reads at every byte offset, a chunk of the
// largest length, and the ways a server's answer can be malformed.

import assert from "node:assert/strict";
import { createAead, incrementLe } from "../../src/crypto/aead.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { readSome, type Stream, writeAll } from "../../src/io/stream.ts";
import {
  aeadSubkey,
  shadowsocksKeys,
  shadowsocksMethod,
} from "../../src/outbound/shadowsocks/method.ts";
import { shadowsocksConnect } from "../../src/outbound/shadowsocks/tcp.ts";
import { concatBytes } from "../_helpers/bytes.ts";
import { streamPair } from "../_helpers/stream_pair.ts";
import { assertFirstThenFails, enc, pattern, sleep, within, withReactor } from "./_helpers.ts";

const METHOD = "aes-128-gcm";
const PASSWORD = "split me";
const KEYS = shadowsocksKeys(shadowsocksMethod(METHOD), PASSWORD);
const SERVER_SALT = new Uint8Array(16).map((_, i) => 0xa0 + i);

/** A server's answer: its salt, then `seal(length) seal(payload)` per payload (SIP004). */
async function response(payloads: Uint8Array[]): Promise<Uint8Array> {
  const aead = await createAead("aes-128-gcm", aeadSubkey(KEYS.keys[0]!, SERVER_SALT));
  const nonce = new Uint8Array(12);
  const parts: Uint8Array[] = [SERVER_SALT];
  for (const p of payloads) {
    parts.push(aead.sealSync(nonce, new Uint8Array([p.length >> 8, p.length & 0xff])));
    incrementLe(nonce);
    parts.push(aead.sealSync(nonce, p));
    incrementLe(nonce);
  }
  return concatBytes(...parts);
}

/** A shadowsocks stream whose server side (`server`) the test writes by hand. */
async function connect(r: Reactor): Promise<{ stream: Stream; server: Stream }> {
  const [ours, server] = streamPair(r, 1 << 20);
  const stream = await shadowsocksConnect(ours, {
    keys: KEYS,
    dest: { domain: "example.test", port: 80 },
    what: 'shadowsocks outbound "ss"',
    id: 1,
  });
  return { stream, server };
}

/**
 * Writes `bytes` to `server` in pieces cut at `cuts`, letting the reactor run between pieces so
 * the decoder sees each prefix on its own, then half-closes.
 */
async function feed(r: Reactor, server: Stream, bytes: Uint8Array, cuts: number[]) {
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) await writeAll(server, bytes.subarray(from, cut), "fake server");
    from = cut;
    await sleep(r, 0);
    await sleep(r, 0);
  }
  server.shutdownWrite();
}

/** Everything `stream` delivers until its end (throws its error). */
async function readToEnd(stream: Stream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await readSome(stream, buf, "read the answer");
    if (n === 0) break;
    chunks.push(buf.slice(0, n));
  }
  return concatBytes(...chunks);
}

Deno.test("the shadowsocks decoder reads an answer split across two reads at every byte offset", async () => {
  const payloads = [enc.encode("hello"), pattern(300, 3)];
  const wire = await response(payloads);
  const want = new Uint8Array([...payloads[0]!, ...payloads[1]!]);
  assert.equal(wire.length, 16 + (18 + 5 + 16) + (18 + 300 + 16));
  await withReactor(async (r) => {
    for (let cut = 1; cut < wire.length; cut++) {
      const { stream, server } = await connect(r);
      const [got] = await Promise.all([
        within(r, 5000, readToEnd(stream), `answer cut at byte ${cut}`),
        feed(r, server, wire, [cut]),
      ]);
      assert.deepEqual(got, want, `answer cut at byte ${cut}`);
      stream.close();
      server.close();
    }
  });
});

Deno.test("the shadowsocks decoder reads chunks of the largest length (0x3FFF), cut at each field", async () => {
  const payloads = [pattern(0x3fff, 5), pattern(0x3fff, 6), enc.encode("tail")];
  const wire = await response(payloads);
  const one = 18 + 0x3fff + 16;
  // Cuts one byte either side of the salt, each length field and each payload.
  const cuts = [15, 17, 16 + 17, 16 + 19, 16 + one - 1, 16 + one + 1, 16 + 2 * one + 1];
  await withReactor(async (r) => {
    for (const split of [[], cuts]) {
      const { stream, server } = await connect(r);
      const [got] = await Promise.all([
        within(r, 5000, readToEnd(stream), "large chunks"),
        feed(r, server, wire, split),
      ]);
      assert.equal(got.length, 2 * 0x3fff + 4);
      assert.deepEqual(got.subarray(0, 0x3fff), payloads[0]);
      assert.deepEqual(got.subarray(0x3fff, 2 * 0x3fff), payloads[1]);
      assert.equal(new TextDecoder().decode(got.subarray(2 * 0x3fff)), "tail");
      stream.close();
      server.close();
    }
  });
});

/** The error `stream` fails with when the server sends `wire` and closes. */
async function failure(wire: Uint8Array): Promise<Error> {
  let error: Error | null = null;
  await withReactor(async (r) => {
    const { stream, server } = await connect(r);
    const reading = within(r, 5000, readToEnd(stream), "read a bad answer").then(
      () => null,
      (e: Error) => e,
    );
    await feed(r, server, wire, []);
    error = await reading;
    stream.close();
    server.close();
  });
  assert.ok(error, "the stream should fail");
  return error;
}

Deno.test("the shadowsocks decoder refuses a chunk length above 0x3FFF", async () => {
  // A length field that authenticates but says 0x4000 (a 2022 server's length on an AEAD method).
  const aead = await createAead("aes-128-gcm", aeadSubkey(KEYS.keys[0]!, SERVER_SALT));
  const wire = new Uint8Array([
    ...SERVER_SALT,
    ...aead.sealSync(new Uint8Array(12), new Uint8Array([0x40, 0x00])),
  ]);
  const error = await failure(wire);
  assert.equal(
    error.message,
    'shadowsocks outbound "ss": the server sent a chunk length of 16384',
  );
});

Deno.test("the shadowsocks decoder fails on a forged payload byte, after the chunks before it", async () => {
  const wire = await response([enc.encode("first"), enc.encode("second")]);
  const firstEnd = 16 + 18 + 5 + 16;
  wire[firstEnd + 18 + 2]! ^= 0x01; // a ciphertext byte of "second"
  await withReactor(async (r) => {
    const { stream, server } = await connect(r);
    await feed(r, server, wire, []);
    await assertFirstThenFails(
      stream,
      server,
      "first",
      'shadowsocks outbound "ss": a chunk from the server failed authentication',
    );
  });
});

Deno.test("the shadowsocks decoder fails when the server closes in the middle of a chunk", async () => {
  const wire = await response([enc.encode("cut short")]);
  const error = await failure(wire.subarray(0, wire.length - 3));
  assert.equal(
    error.message,
    'shadowsocks outbound "ss": the server closed the connection in the middle of a chunk ' +
      "(22 bytes left)", // 9 bytes of payload and 16 of tag, less the 3 cut off
  );
});
