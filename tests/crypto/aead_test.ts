import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import nodeCrypto from "node:crypto";
import {
  AEAD_KEY_LENGTH,
  type AeadAlgorithm,
  AeadError,
  createAead,
  createSyncAead,
  openChunk,
} from "../../src/crypto/aead.ts";
import { libcrypto } from "../../ffi/libcrypto.ts";

const ALGORITHMS: AeadAlgorithm[] = ["aes-128-gcm", "aes-256-gcm", "chacha20-poly1305"];
const ROOT = new URL("../../", import.meta.url).pathname;

/** The reference: node:crypto's one-shot AEAD (ciphertext ‖ tag). */
function reference(
  alg: AeadAlgorithm,
  key: Uint8Array,
  nonce: Uint8Array,
  pt: Uint8Array,
  aad?: Uint8Array,
) {
  // deno-lint-ignore no-explicit-any
  const c = nodeCrypto.createCipheriv(alg as any, key, nonce, { authTagLength: 16 }) as any;
  if (aad) c.setAAD(aad);
  return new Uint8Array(Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]));
}

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 131 + seed * 7) & 0xff;
  return out;
}

for (const alg of ALGORITHMS) {
  Deno.test(`\`createAead("${alg}")\` seals byte for byte as node:crypto does, and opens it back`, async () => {
    const key = bytes(AEAD_KEY_LENGTH[alg], 1);
    for (
      const make of [() => createAead(alg, key), () => Promise.resolve(createSyncAead(alg, key))]
    ) {
      const aead = await make();
      for (const n of [0, 1, 15, 16, 17, 2048, 16384, 65535]) {
        const nonce = bytes(12, n);
        const pt = bytes(n, n + 1);
        const aad = n % 2 === 1 ? bytes(13, n) : undefined;
        const sealed = await aead.seal(nonce, pt, aad);
        assert.deepEqual(sealed, reference(alg, key, nonce, pt, aad), `${n} bytes`);
        assert.deepEqual(aead.openSync(nonce, sealed, aad), pt);
        assert.deepEqual(await aead.open(nonce, sealed, aad), pt);
      }
    }
  });

  Deno.test(`\`sealInto()\`/\`openInto()\` (${alg}) write seal()/open()'s exact bytes, in place too`, async () => {
    const key = bytes(AEAD_KEY_LENGTH[alg], 6);
    for (
      const make of [() => createAead(alg, key), () => Promise.resolve(createSyncAead(alg, key))]
    ) {
      const aead = await make();
      for (const n of [0, 1, 16, 1373, 65535]) {
        const nonce = bytes(12, n);
        const pt = bytes(n, n + 2);
        const aad = n % 2 === 1 ? bytes(13, n) : undefined;
        const want = reference(alg, key, nonce, pt, aad);
        // Into a larger buffer at an offset: only [offset, offset + n + 16) is written.
        const out = new Uint8Array(n + 40).fill(0xee);
        assert.equal(aead.sealInto(nonce, pt, out.subarray(8), aad), n + 16);
        assert.deepEqual(out.subarray(8, 8 + n + 16), want, `${n} bytes`);
        assert.deepEqual([...out.subarray(0, 8), ...out.subarray(n + 24)], Array(24).fill(0xee));
        const plain = new Uint8Array(n + 3).fill(0xee);
        assert.equal(aead.openInto(nonce, want, plain, aad), n);
        assert.deepEqual(plain.subarray(0, n), pt);
        assert.deepEqual([...plain.subarray(n)], [0xee, 0xee, 0xee]);
        // In place: the plaintext at the front of the buffer the sealed message goes to.
        const buf = new Uint8Array(n + 16);
        buf.set(pt);
        aead.sealInto(nonce, buf.subarray(0, n), buf, aad);
        assert.deepEqual(buf, want);
        assert.equal(aead.openInto(nonce, buf, buf, aad), n);
        assert.deepEqual(buf.subarray(0, n), pt);
      }
      const sealed = aead.sealSync(bytes(12, 1), bytes(100, 2));
      sealed[3]! ^= 1;
      assert.throws(() => aead.openInto(bytes(12, 1), sealed, new Uint8Array(100)), AeadError);
      assert.throws(() => aead.sealInto(bytes(12, 1), bytes(100, 2), new Uint8Array(115)), {
        name: "RangeError",
        message: "seal: output has 115 bytes, needs 116",
      });
      assert.throws(() => aead.openInto(bytes(12, 1), sealed, new Uint8Array(99)), {
        name: "RangeError",
        message: "open: output has 99 bytes, needs 100",
      });
    }
  });

  Deno.test(`\`createAead("${alg}")\` refuses a flipped bit, a wrong nonce and wrong AAD with AeadError`, async () => {
    const aead = await createAead(alg, bytes(AEAD_KEY_LENGTH[alg], 2));
    const nonce = bytes(12, 3);
    const sealed = aead.sealSync(nonce, bytes(100, 4), bytes(5, 5));
    for (const i of [0, 99, 100, 115]) {
      const bad = sealed.slice();
      bad[i]! ^= 1;
      assert.throws(() => aead.openSync(nonce, bad, bytes(5, 5)), AeadError, `bit at ${i}`);
    }
    assert.throws(() => aead.openSync(bytes(12, 9), sealed, bytes(5, 5)), AeadError);
    assert.throws(() => aead.openSync(nonce, sealed), AeadError);
    assert.throws(() => aead.openSync(nonce, sealed.subarray(0, 15)), AeadError);
    // A failure leaves the key usable.
    assert.deepEqual(aead.openSync(nonce, sealed, bytes(5, 5)), bytes(100, 4));
  });
}

Deno.test("`openChunk()` returns each chunk's own bytes: what it returned before is never written again", async () => {
  for (const alg of ALGORITHMS) {
    const key = bytes(AEAD_KEY_LENGTH[alg], 7);
    const aead = await createAead(alg, key);
    // Sizes that fill a 64 KiB block several times over, and some past its quarter.
    const sizes = [2048, 1, 0, 16000, 16385, 70000, ...Array(80).fill(2048), 9];
    const opened = [];
    for (const [i, n] of sizes.entries()) {
      const nonce = bytes(12, i);
      const pt = bytes(n, i);
      const out = await openChunk(aead, nonce, reference(alg, key, nonce, pt));
      opened.push({ out, pt });
    }
    for (const [i, { out, pt }] of opened.entries()) {
      assert.deepEqual(out, pt, `${alg}: chunk ${i} of ${pt.length} bytes`);
    }
    const sealed = reference(alg, key, bytes(12, 1), bytes(100, 1));
    sealed[5]! ^= 1;
    await assert.rejects(async () => await openChunk(aead, bytes(12, 1), sealed), AeadError);
  }
});

Deno.test({
  name:
    "libcrypto loads on Linux, and TUNBOX_OPENSSL=0 turns it off (the runtime's path seals alike)",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    assert.ok(libcrypto() !== null, "the system's libcrypto.so.3 loads");
    const script = `
      import { libcrypto } from "${ROOT}ffi/libcrypto.ts";
      import { createAead } from "${ROOT}src/crypto/aead.ts";
      const a = await createAead("aes-128-gcm", new Uint8Array(16).fill(7));
      const s = await a.seal(new Uint8Array(12), new Uint8Array(4096).fill(1));
      console.log(libcrypto() === null, Array.from(s.subarray(-16)).join(","));`;
    const run = async (env: Record<string, string>) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", script],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout).trim().split(" ");
    };
    const [offA, tagA] = await run({ TUNBOX_OPENSSL: "0" });
    const [offB, tagB] = await run({});
    assert.deepEqual([offA, offB], ["true", "false"]);
    assert.equal(tagA, tagB);
  },
});
