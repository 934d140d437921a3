import assert from "node:assert/strict";
import {
  decodeSocksAddr,
  decodeUdpHeader,
  encodeSocks4Request,
  encodeSocksAddr,
  encodeUdpHeader,
  kindToRep,
  repToKind,
  socksAddrLength,
} from "../../src/outbound/socks_wire.ts";
import type { OutboundErrorKind } from "../../src/outbound/types.ts";

Deno.test("`encodeSocksAddr()` writes IPv4, IPv6 and domain addresses that decode back", () => {
  const cases = [
    { addr: new Uint8Array([10, 1, 2, 3]), port: 8080 },
    { addr: new Uint8Array(16).fill(0xab), port: 443 },
    { domain: "example.com", port: 53 },
  ];
  for (const dest of cases) {
    const buf = new Uint8Array(300);
    const end = encodeSocksAddr(dest, buf, 5);
    assert.equal(end - 5, socksAddrLength(dest));
    assert.deepEqual(decodeSocksAddr(buf, 5, end), { dest, end });
    // One byte short: more is needed.
    assert.equal(decodeSocksAddr(buf, 5, end - 1), null);
  }
  const buf = new Uint8Array(16);
  encodeSocksAddr({ addr: new Uint8Array([1, 2, 3, 4]), port: 0x1f90 }, buf, 0);
  assert.deepEqual([...buf.subarray(0, 7)], [1, 1, 2, 3, 4, 0x1f, 0x90]);
});

Deno.test("`encodeSocksAddr()` rejects a domain longer than 255 bytes and an empty destination", () => {
  assert.throws(
    () => encodeSocksAddr({ domain: "a".repeat(256), port: 1 }, new Uint8Array(600), 0),
    RangeError,
  );
  assert.throws(() => encodeSocksAddr({ port: 1 }, new Uint8Array(16), 0), RangeError);
});

Deno.test("`decodeSocksAddr()` names an unknown address type", () => {
  assert.throws(() => decodeSocksAddr(new Uint8Array([0, 7, 1, 2]), 1), {
    name: "SyntaxError",
    message: "unknown address type 0x07 at byte 1",
  });
});

Deno.test("`encodeUdpHeader()`/`decodeUdpHeader()` frame a datagram per RFC 1928 §7", () => {
  const buf = new Uint8Array(64);
  const off = encodeUdpHeader({ domain: "dns.test", port: 53 }, buf);
  buf.set([0xde, 0xad], off);
  assert.deepEqual([...buf.subarray(0, 4)], [0, 0, 0, 3]);
  const h = decodeUdpHeader(buf, off + 2)!;
  assert.equal(h.frag, 0);
  assert.deepEqual(h.dest, { domain: "dns.test", port: 53 });
  assert.deepEqual([...buf.subarray(h.payloadOffset, off + 2)], [0xde, 0xad]);
  buf[2] = 1;
  assert.equal(decodeUdpHeader(buf, off + 2)!.frag, 1);
  assert.equal(decodeUdpHeader(buf, 3), null);
  assert.equal(decodeUdpHeader(new Uint8Array([0, 0, 0, 9, 1, 2, 3]), 7), null);
});

Deno.test("`encodeSocks4Request()` encodes SOCKS4 and SOCKS4a (DSTIP 0.0.0.1 + domain)", () => {
  assert.deepEqual(
    [...encodeSocks4Request({ addr: new Uint8Array([127, 0, 0, 1]), port: 80 }, "me")],
    [4, 1, 0, 80, 127, 0, 0, 1, 0x6d, 0x65, 0],
  );
  assert.deepEqual(
    [...encodeSocks4Request({ domain: "a.b", port: 443 }, "")],
    [4, 1, 1, 0xbb, 0, 0, 0, 1, 0, 0x61, 0x2e, 0x62, 0],
  );
});

Deno.test("`repToKind()` and `kindToRep()` agree for every error kind", () => {
  const kinds: OutboundErrorKind[] = ["blocked", "unreachable", "refused", "timeout"];
  for (const k of kinds) assert.equal(repToKind(kindToRep(k)), k);
  assert.equal(kindToRep("auth"), 1);
  assert.equal(repToKind(0x03), "unreachable");
});
