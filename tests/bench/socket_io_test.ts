import assert from "node:assert/strict";
import { socks5ConnectRequest, socks5ReplyRestLength } from "../../bench/e2e/tools/socket_io.ts";

Deno.test("`socks5ConnectRequest()` encodes CONNECT to an IPv4 address and port", () => {
  assert.deepEqual(
    [...socks5ConnectRequest("203.0.113.10", 7000)],
    [5, 1, 0, 1, 203, 0, 113, 10, 0x1b, 0x58],
  );
});

Deno.test("`socks5ConnectRequest()` rejects a non-IPv4 host and an out-of-range port", () => {
  assert.throws(() => socks5ConnectRequest("example.com", 80), RangeError);
  assert.throws(() => socks5ConnectRequest("1.2.3.256", 80), RangeError);
  assert.throws(() => socks5ConnectRequest("1.2.3.4", 0), RangeError);
  assert.throws(() => socks5ConnectRequest("1.2.3.4", 65536), RangeError);
});

Deno.test("`socks5ReplyRestLength()` covers IPv4, IPv6 and domain replies", () => {
  assert.equal(socks5ReplyRestLength(1), 6);
  assert.equal(socks5ReplyRestLength(4), 18);
  assert.equal(socks5ReplyRestLength(3, 11), 14);
  assert.throws(() => socks5ReplyRestLength(9), SyntaxError);
});
