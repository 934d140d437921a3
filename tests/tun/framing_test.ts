// The TUN frame prefix on every read and write: none (Linux), vnet_hdr (10 zero bytes on write),
// and macOS utun's 4-byte big-endian address family for IPv4 (2) and IPv6 (Darwin's 30).

import assert from "node:assert/strict";
import { frameForTun, unframe } from "../../src/tun/framing.ts";

const v4 = new Uint8Array([0x45, 0, 0, 20, 1, 2, 3, 4]);
const v6 = new Uint8Array([0x60, 0, 0, 0, 9, 9]);

Deno.test("`frameForTun()` prefixes utun frames with the packet's address family", () => {
  const scratch = new Uint8Array(64);
  assert.deepEqual([...frameForTun(v4, 4, scratch)!], [0, 0, 0, 2, ...v4]);
  assert.deepEqual([...frameForTun(v6, 4, scratch)!], [0, 0, 0, 30, ...v6]);
  assert.equal(frameForTun(new Uint8Array([0x10, 0]), 4, scratch), null); // not IP: dropped
  // With headroom before the packet, the prefix is written in place (no copy).
  const buf = new Uint8Array(4 + v6.length);
  buf.fill(0xee, 0, 4);
  buf.set(v6, 4);
  const framed = frameForTun(buf.subarray(4), 4, scratch)!;
  assert.equal(framed.buffer, buf.buffer);
  assert.equal(framed.byteOffset, 0);
  assert.deepEqual([...buf.subarray(0, 4)], [0, 0, 0, 30]);
  // Linux: as is; vnet_hdr: ten zero bytes.
  assert.equal(frameForTun(v4, 0, scratch), v4);
  assert.deepEqual([...frameForTun(v4, 10, scratch)!], [...new Uint8Array(10), ...v4]);
});

Deno.test("`unframe()` takes utun frames whose header matches the packet, drops the rest", () => {
  assert.deepEqual([...unframe(new Uint8Array([0, 0, 0, 2, ...v4]), 4)!], [...v4]);
  assert.deepEqual([...unframe(new Uint8Array([0, 0, 0, 30, ...v6]), 4)!], [...v6]);
  assert.equal(unframe(new Uint8Array([0, 0, 0, 30, ...v4]), 4), null); // family says v6
  assert.equal(unframe(new Uint8Array([0, 0, 0, 10, ...v6]), 4), null); // Linux AF_INET6 10
  assert.equal(unframe(new Uint8Array([2, 0, 0, 0, ...v4]), 4), null); // host byte order
  assert.equal(unframe(new Uint8Array([0, 0, 0, 2]), 4), null); // header only
  assert.deepEqual([...unframe(v4, 0)!], [...v4]);
  assert.deepEqual([...unframe(new Uint8Array([...new Uint8Array(10), ...v6]), 10)!], [...v6]);
});
