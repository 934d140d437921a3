// The VMess AEAD response decoder fed by a fake server through an in-memory stream pair: the
// server's answer (sealed length and header under the response keys, then masked and padded
// chunks), a good chunk and then a forged one.

import { createAead } from "../../src/crypto/aead.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { readSome, type Stream, writeAll } from "../../src/io/stream.ts";
import {
  COMMAND_TCP,
  commandKey,
  kdf,
  type OpenedRequest,
  openRequest,
  parseUserId,
  responseKeys,
  SECURITY_AES_128_GCM,
} from "../../src/outbound/vmess/protocol.ts";
import { Body, bodyCipher, vmessConnect } from "../../src/outbound/vmess/stream.ts";
import { streamPair } from "../_helpers/stream_pair.ts";
import { assertFirstThenFails, enc, sleep, withReactor } from "./_helpers.ts";

const CMD_KEY = commandKey(parseUserId("b831381d-6324-4d53-ad4f-8cda48b30811"));

/** Reads the client's request from the server side of the pair until it opens. */
async function readRequest(r: Reactor, server: Stream): Promise<OpenedRequest> {
  const buf = new Uint8Array(4096);
  let have = new Uint8Array(0);
  for (let i = 0; i < 100; i++) {
    const n = await readSome(server, buf, "the request");
    const next = new Uint8Array(have.length + n);
    next.set(have);
    next.set(buf.subarray(0, n), have.length);
    have = next;
    const req = openRequest(CMD_KEY, have);
    if (req) return req;
    await sleep(r, 0);
  }
  throw new Error("no whole request");
}

/** The server's answer to `req`: the sealed response header, then one chunk per payload. */
async function answer(req: OpenedRequest, payloads: Uint8Array[]): Promise<Uint8Array[]> {
  const { key, iv } = responseKeys(req.bodyKey, req.bodyIv);
  const lenAead = await createAead(
    "aes-128-gcm",
    kdf(key, "AEAD Resp Header Len Key").subarray(0, 16),
  );
  const hdrAead = await createAead("aes-128-gcm", kdf(key, "AEAD Resp Header Key").subarray(0, 16));
  const header = new Uint8Array([req.responseCheck, 0, 0, 0]);
  const parts = [
    lenAead.sealSync(kdf(iv, "AEAD Resp Header Len IV").subarray(0, 12), new Uint8Array([0, 4])),
    hdrAead.sealSync(kdf(iv, "AEAD Resp Header IV").subarray(0, 12), header),
  ];
  const aead = (await bodyCipher(req.security, key))!;
  const body = new Body(aead, null, iv, iv, req.option);
  for (const p of payloads) {
    // As V2Ray's server: the padding length first, then the mask, from one SHAKE128 stream.
    const pad = body.padding ? body.padding.next() % 64 : 0;
    const sealed = aead.sealSync(body.nextNonce(), p);
    const size = (sealed.length + pad) ^ (body.masking ? body.masking.next() : 0);
    const chunk = new Uint8Array(2 + sealed.length + pad);
    chunk[0] = size >> 8;
    chunk[1] = size & 0xff;
    chunk.set(sealed, 2);
    parts.push(chunk);
  }
  return parts;
}

Deno.test("the vmess decoder reads a server's chunks and names a forged one", async () => {
  await withReactor(async (r) => {
    const [ours, server] = streamPair(r, 1 << 20);
    const stream = await vmessConnect(ours, {
      cmdKey: CMD_KEY,
      security: SECURITY_AES_128_GCM,
      globalPadding: true,
      authenticatedLength: false,
      command: COMMAND_TCP,
      dest: { domain: "example.test", port: 80 },
      what: 'vmess outbound "vm"',
      id: 1,
    });
    await writeAll(stream, enc.encode("hi"), "write");
    const req = await readRequest(r, server);
    const parts = await answer(req, [enc.encode("first"), enc.encode("second")]);
    parts[parts.length - 1]![2 + 3]! ^= 0x01; // a ciphertext byte of "second"
    for (const p of parts) await writeAll(server, p, "fake server");
    await assertFirstThenFails(
      stream,
      server,
      "first",
      'vmess outbound "vm": a chunk from the server failed authentication',
    );
  });
});
