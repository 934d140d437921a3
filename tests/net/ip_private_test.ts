import assert from "node:assert/strict";
import { isPrivateAddr, isPublicAddr } from "../../src/net/ip_private.ts";
import { ip } from "../route/_helpers.ts";

// Expected values follow Go's net/netip predicates as combined by sing's IsPublicAddr.
const PRIVATE = [
  // RFC 1918
  "10.0.0.0",
  "10.255.255.255",
  "172.16.0.1",
  "172.31.255.255",
  "192.168.0.0",
  "192.168.255.255",
  // loopback
  "127.0.0.1",
  "127.255.255.254",
  // multicast
  "224.0.0.1",
  "239.255.255.255",
  // link-local
  "169.254.0.1",
  "169.254.169.254",
  // unspecified
  "0.0.0.0",
  // IPv6
  "::1",
  "::",
  "fc00::1",
  "fd12:3456:789a::1",
  "fe80::1",
  "febf:ffff::1",
  "ff02::1",
  "ff01::1",
  "ff11::1",
  "ff0e::1",
  // IPv4-mapped: IsPrivate/IsLoopback/IsMulticast/IsLinkLocalUnicast unmap first
  "::ffff:10.1.2.3",
  "::ffff:127.0.0.1",
  "::ffff:192.168.0.1",
  "::ffff:172.20.0.1",
  "::ffff:169.254.0.1",
  "::ffff:224.0.0.1",
];

const PUBLIC = [
  "8.8.8.8",
  "1.1.1.1",
  "3.123.45.82",
  // shared address space (CGNAT) and benchmarking/FakeIP ranges are public for sing-box
  "100.64.0.1",
  "100.127.255.255",
  "198.18.0.1",
  "198.19.255.255",
  // neighbours of the private ranges
  "9.255.255.255",
  "11.0.0.0",
  "172.15.255.255",
  "172.32.0.0",
  "192.167.255.255",
  "192.169.0.0",
  "169.253.255.255",
  "169.255.0.0",
  "126.255.255.255",
  "128.0.0.0",
  "223.255.255.255",
  // 0/8 other than 0.0.0.0, class E and broadcast are not special in Go's predicates
  "0.0.0.1",
  "0.255.255.255",
  "240.0.0.1",
  "255.255.255.255",
  // IPv6 global and near-misses
  "2001:4860:4860::8888",
  "2606:4700:4700::1111",
  "fbff:ffff::1",
  "fe00::1",
  "fec0::1",
  "::2",
  "::0.0.0.2",
  "64:ff9b::a00:1",
  "2002:a00:1::",
  "::ffff:8.8.8.8",
  // IsUnspecified compares with 0.0.0.0 and :: only, so the mapped form is public
  "::ffff:0.0.0.0",
];

Deno.test("`isPrivateAddr()` is true for sing-box's private, loopback, multicast, link-local and unspecified addresses", () => {
  for (const text of PRIVATE) {
    assert.equal(isPrivateAddr(ip(text)), true, `${text} should be private`);
    assert.equal(isPublicAddr(ip(text)), false, `${text} should not be public`);
  }
});

Deno.test("`isPrivateAddr()` is false for public addresses, CGNAT and 198.18/15", () => {
  for (const text of PUBLIC) {
    assert.equal(isPrivateAddr(ip(text)), false, `${text} should be public`);
    assert.equal(isPublicAddr(ip(text)), true, `${text} should be public`);
  }
});

Deno.test("`isPrivateAddr()` is false for an empty or malformed address", () => {
  assert.equal(isPrivateAddr(new Uint8Array(0)), false);
  assert.equal(isPrivateAddr(new Uint8Array(5)), false);
});

Deno.test("`isPrivateAddr()` covers whole RFC 1918 blocks and nothing next to them", () => {
  // Walk every /16 of the IPv4 space: only the expected second octets are private.
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) {
      const expected = a === 10 || (a === 172 && b >= 16 && b <= 31) ||
        (a === 192 && b === 168) || a === 127 || (a >= 224 && a <= 239) ||
        (a === 169 && b === 254);
      assert.equal(isPrivateAddr(new Uint8Array([a, b, 1, 1])), expected, `${a}.${b}.1.1`);
    }
  }
});
