// The shadowsocks 2022 methods against a SIP022 server written from the specification
// (`_ss2022_server.ts`; no Debian package speaks 2022): TCP echo with and without initial
// payload, identity headers (AES), UDP with the separate header (AES) and XChaCha20, and the
// session key derivation against the BLAKE3 reference vector.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { blake3 } from "@noble/hashes/blake3.js";
import { readExact, type Stream, writeAll } from "../../src/io/stream.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import { sessionSubkey } from "../../src/outbound/shadowsocks/method.ts";
import { HEADER_WAIT_MS } from "../../src/outbound/shadowsocks/tcp.ts";
import {
  dec,
  enc,
  LOOPBACK,
  pattern,
  sleep,
  testContext,
  within,
  withReactor,
} from "./_helpers.ts";
import { startSs2022Server } from "./_ss2022_server.ts";

type Method =
  | "2022-blake3-aes-128-gcm"
  | "2022-blake3-aes-256-gcm"
  | "2022-blake3-chacha20-poly1305";

async function echoBack(s: Stream, data: Uint8Array): Promise<Uint8Array> {
  const back = new Uint8Array(data.length);
  const reading = readExact(s, back, "echo");
  await writeAll(s, data, "write");
  await reading;
  return back;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

Deno.test("BLAKE3 derive_key matches the reference vector (the SIP022 KDF's primitive)", () => {
  const context = enc.encode("BLAKE3 2019-12-27 16:29:52 test vectors context");
  assert.equal(
    Buffer.from(blake3(new Uint8Array(0), { context, dkLen: 32 })).toString("hex"),
    "2cc39783c223154fea8dfb7c1b1660f2ac2dcbd1c1de8277b0b0dd39b7e50d7d",
  );
  // The session subkey is derive_key over psk ‖ salt, as long as the key.
  const k = sessionSubkey(new Uint8Array(16).fill(1), new Uint8Array(16).fill(2));
  assert.equal(k.length, 16);
  const material = new Uint8Array(32);
  material.fill(1, 0, 16);
  material.fill(2, 16);
  assert.deepEqual(
    k,
    blake3(material, { context: enc.encode("shadowsocks 2022 session subkey"), dkLen: 16 }),
  );
});

const CASES: { method: Method; keys: number; len: number }[] = [
  { method: "2022-blake3-aes-128-gcm", keys: 1, len: 16 },
  { method: "2022-blake3-aes-256-gcm", keys: 1, len: 32 },
  { method: "2022-blake3-chacha20-poly1305", keys: 1, len: 32 },
  { method: "2022-blake3-aes-128-gcm", keys: 3, len: 16 },
];

for (const { method, keys, len } of CASES) {
  const label = `${method}${keys > 1 ? `, ${keys - 1} identity keys` : ""}`;
  Deno.test(`shadowsocks ${label}: TCP and UDP against a SIP022 server`, async () => {
    await withReactor(async (r) => {
      const psks = Array.from({ length: keys }, () => crypto.getRandomValues(new Uint8Array(len)));
      const server = startSs2022Server(r, method, psks);
      try {
        const out = createOutbounds(
          [{
            type: "shadowsocks",
            tag: "ss",
            server: "127.0.0.1",
            server_port: server.port,
            method,
            password: psks.map(b64).join(":"),
          }],
          testContext(r),
          {},
          builtinOutbounds(),
        ).get("ss")!;
        // Initial payload travels in the variable-length header; the rest in chunks.
        const data = pattern(300_000, 5);
        const s1 = await out.dialTcp({ domain: "example.test", port: 443 }, { id: 1 });
        const back = await within(r, 20_000, echoBack(s1, data), "echo");
        assert.ok(back.every((b, i) => b === data[i]), "echo matches");
        s1.close();
        // Server speaks first: the header leaves alone (padded) after the wait.
        const s2 = await out.dialTcp({ addr: LOOPBACK, port: 80 }, { id: 2 });
        await sleep(r, HEADER_WAIT_MS + 150);
        const small = await within(r, 5_000, echoBack(s2, enc.encode("ping")), "ping");
        assert.equal(dec.decode(small), "ping");
        s2.close();

        const flow = await out.openUdp({ id: 3 });
        const got = await within(
          r,
          5_000,
          new Promise<string>((resolve) => {
            flow.onPacket = (p, from) =>
              resolve(`${dec.decode(p)} from ${from.domain}:${from.port}`);
            flow.send(enc.encode("query"), { domain: "dns.test", port: 53 });
          }),
          "udp",
        );
        flow.close();
        assert.equal(got, "echo:query from dns.test:53");
        assert.deepEqual(server.errors, []);
        assert.deepEqual(server.destinations, [
          "example.test:443",
          "127.0.0.1:80",
          "udp dns.test:53",
        ]);
      } finally {
        server.close();
      }
    });
  });
}

Deno.test("shadowsocks 2022 with a wrong key: the server refuses the request", async () => {
  await withReactor(async (r) => {
    const key = crypto.getRandomValues(new Uint8Array(16));
    const server = startSs2022Server(r, "2022-blake3-aes-128-gcm", [key]);
    try {
      const out = createOutbounds(
        [{
          type: "shadowsocks",
          tag: "ss",
          server: "127.0.0.1",
          server_port: server.port,
          method: "2022-blake3-aes-128-gcm",
          password: b64(crypto.getRandomValues(new Uint8Array(16))),
        }],
        testContext(r),
        {},
        builtinOutbounds(),
      ).get("ss")!;
      const s = await out.dialTcp({ domain: "example.test", port: 443 }, { id: 1 });
      await writeAll(s, enc.encode("hello"), "write");
      const buf = new Uint8Array(10);
      const n = await within(r, 5_000, readExact(s, buf, "read").then(() => 1, () => 0), "end");
      assert.equal(n, 0);
      s.close();
      assert.equal(server.errors.length, 1);
      assert.match(server.errors[0]!, /authenticate|unsupported state|auth/i);
    } finally {
      server.close();
    }
  });
});
