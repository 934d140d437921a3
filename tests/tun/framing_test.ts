// The TUN frame prefix on every read and write: none (Linux), vnet_hdr (10 zero bytes on write),
// and macOS utun's 4-byte big-endian address family for IPv4 (2) and IPv6 (Darwin's 30).

import assert from "node:assert/strict";
import {
  frameForTun,
  setVnetTcpHeader,
  unframe,
  vnetPartialChecksum,
} from "../../src/tun/framing.ts";

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

Deno.test("`setVnetTcpHeader()` writes NEEDS_CSUM, and TCPv4/TCPv6 segmentation when asked", () => {
  // IPv4 (20-byte header) + TCP with a 32-byte header (12 bytes of options).
  const f4 = new Uint8Array(10 + 20 + 32 + 100).fill(0xee, 0, 10);
  f4[10] = 0x45;
  f4[10 + 20 + 12] = 8 << 4;
  setVnetTcpHeader(f4, 1448);
  assert.deepEqual([...f4.subarray(0, 10)], [1, 1, 52, 0, 0xa8, 0x05, 20, 0, 16, 0]);
  setVnetTcpHeader(f4, 0);
  assert.deepEqual([...f4.subarray(0, 10)], [1, 0, 0, 0, 0, 0, 20, 0, 16, 0]);
  // IPv6 (40-byte header) + a 20-byte TCP header.
  const f6 = new Uint8Array(10 + 40 + 20 + 100);
  f6[10] = 0x60;
  f6[10 + 40 + 12] = 5 << 4;
  setVnetTcpHeader(f6, 8940);
  assert.deepEqual([...f6.subarray(0, 10)], [1, 4, 60, 0, 0xec, 0x22, 40, 0, 16, 0]);
});

Deno.test("`vnetPartialChecksum()` reads VIRTIO_NET_HDR_F_NEEDS_CSUM", () => {
  assert.equal(vnetPartialChecksum(new Uint8Array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])), true);
  assert.equal(vnetPartialChecksum(new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0, 0])), false);
  assert.equal(vnetPartialChecksum(new Uint8Array(10)), false);
});
