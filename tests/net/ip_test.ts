import assert from "node:assert/strict";
import { formatIp, isLinkLocal, isLoopback, isV4Mapped, parseIp, unmap } from "../../src/net/ip.ts";

function ip(text: string): Uint8Array {
  const a = parseIp(text);
  if (!a) throw new Error(`bad address in test: ${text}`);
  return a;
}

Deno.test("`isV4Mapped()` is true only for ::ffff:a.b.c.d", () => {
  assert.equal(isV4Mapped(ip("::ffff:10.0.0.1")), true);
  assert.equal(isV4Mapped(ip("::ffff:0.0.0.0")), true);
  assert.equal(isV4Mapped(ip("10.0.0.1")), false);
  assert.equal(isV4Mapped(ip("::10.0.0.1")), false);
  assert.equal(isV4Mapped(ip("1::ffff:10.0.0.1")), false);
  assert.equal(isV4Mapped(ip("::fffe:10.0.0.1")), false);
});

Deno.test("`unmap()` returns the IPv4 form of a mapped address and others unchanged", () => {
  assert.deepEqual(unmap(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
  const v6 = ip("2001:db8::1");
  assert.equal(unmap(v6), v6);
  const v4 = ip("192.0.2.7");
  assert.equal(unmap(v4), v4);
});

Deno.test("`isLoopback()` knows 127/8, ::1 and ::ffff:127.x", () => {
  for (const t of ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"]) {
    assert.equal(isLoopback(ip(t)), true, t);
  }
  for (const t of ["10.0.0.1", "128.0.0.1", "::", "::2", "::ffff:10.0.0.1", "1::1"]) {
    assert.equal(isLoopback(ip(t)), false, t);
  }
  assert.equal(isLoopback(new Uint8Array(5)), false);
});

Deno.test("`isLinkLocal()` knows 169.254/16 and fe80::/10", () => {
  for (const t of ["169.254.0.1", "169.254.255.255", "fe80::1", "febf::1"]) {
    assert.equal(isLinkLocal(ip(t)), true, t);
  }
  for (const t of ["169.253.0.1", "fec0::1", "fe7f::1", "::ffff:169.254.0.1"]) {
    assert.equal(isLinkLocal(ip(t)), false, t);
  }
});

Deno.test("`parseIp()` and `formatIp()` round-trip canonical text", () => {
  for (const t of ["0.0.0.0", "192.0.2.1", "::", "::1", "2001:db8::1", "fe80::1:2"]) {
    assert.equal(formatIp(ip(t)), t);
  }
  for (const t of ["", "1.2.3", "01.2.3.4", "256.0.0.1", "1:2:3:4:5:6:7:8:9", "::g"]) {
    assert.equal(parseIp(t), null, t);
  }
});
