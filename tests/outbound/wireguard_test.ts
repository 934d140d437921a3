// WireGuard pieces that can be checked without a peer: the primitives against their reference
// vectors, TAI64N, and the replay window. The protocol itself is tested against wireguard-go in
// tests/e2e/wireguard_test.ts.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Session } from "../../src/outbound/wireguard/device.ts";
import { hash, hmac, kdf, publicKey, tai64n } from "../../src/outbound/wireguard/noise.ts";
import { createSyncAead } from "../../src/crypto/aead.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

Deno.test("WireGuard HASH is BLAKE2s-256 (RFC 7693 vector) and X25519 is RFC 7748's", () => {
  assert.equal(
    hex(hash(new TextEncoder().encode("abc"))),
    "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
  );
  // RFC 7748 §6.1: Alice's private key and public key.
  const alice = Buffer.from(
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "hex",
  );
  assert.equal(
    hex(publicKey(new Uint8Array(alice))),
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  );
});

Deno.test("kdf() chains HMAC-BLAKE2s as the whitepaper's HKDF", () => {
  const key = new Uint8Array(32).fill(1), input = new Uint8Array([9, 9]);
  const [t1, t2, t3] = kdf(3, key, input);
  const t0 = hmac(key, input);
  assert.deepEqual(t1, hmac(t0, new Uint8Array([1])));
  assert.deepEqual(t2, hmac(t0, new Uint8Array([...t1!, 2])));
  assert.deepEqual(t3, hmac(t0, new Uint8Array([...t2!, 3])));
});

Deno.test("tai64n() writes 2^62 + 10 + seconds and the nanoseconds, big-endian", () => {
  // 123 ms = 123,000,000 ns.
  assert.equal(hex(tai64n(1_000_000_000_123)), "400000003b9aca0a" + "0754d4c0");
});

Deno.test("the replay window accepts each counter once and nothing older than 2048", () => {
  const aead = createSyncAead("chacha20-poly1305", new Uint8Array(32));
  const s = new Session({ localIndex: 1, remoteIndex: 2, send: aead, receive: aead }, 0);
  assert.ok(s.accept(0));
  assert.ok(!s.accept(0), "a duplicate");
  assert.ok(s.accept(5));
  assert.ok(s.accept(3), "late but inside the window");
  assert.ok(!s.accept(3));
  assert.ok(s.accept(3000));
  assert.ok(!s.accept(900), "older than the window");
  assert.ok(s.accept(1000), "inside the window");
  assert.ok(s.accept(10_000), "a jump clears the window");
  assert.ok(!s.accept(5000));
});
