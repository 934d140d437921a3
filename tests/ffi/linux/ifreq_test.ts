import assert from "node:assert/strict";
import {
  assertInterfaceName,
  decodeIfreqFlags,
  decodeIfreqInt,
  decodeIfreqName,
  encodeIfreqFlags,
  encodeIfreqInt,
  IFREQ_SIZE,
  interfaceNameProblem,
} from "../../../ffi/linux/ifreq.ts";
import { IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TUN, IFF_VNET_HDR } from "../../../ffi/linux/if_tun.ts";

Deno.test("`encodeIfreqFlags()` puts the name at 0 and i16 flags at 16 in 40 bytes", () => {
  const b = encodeIfreqFlags("tun%d", IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE);
  const expected = new Uint8Array(40);
  expected.set([0x74, 0x75, 0x6e, 0x25, 0x64], 0); // "tun%d"
  expected.set([0x01, 0x11], 16); // 0x1101 little-endian
  assert.equal(b.byteLength, IFREQ_SIZE);
  assert.deepEqual(b, expected);
  assert.equal(decodeIfreqName(b), "tun%d");
  assert.equal(decodeIfreqFlags(b), 0x1101);
});

Deno.test("`encodeIfreqFlags()` keeps IFF_VNET_HDR's bit 14 and a 15-byte name", () => {
  const b = encodeIfreqFlags("abcdefghijklmno", IFF_TUN | IFF_NO_PI | IFF_VNET_HDR);
  assert.equal(b[15], 0);
  assert.deepEqual(Array.from(b.subarray(16, 18)), [0x01, 0x50]);
  assert.equal(decodeIfreqName(b), "abcdefghijklmno");
});

Deno.test("`encodeIfreqFlags()` rejects a 16-byte name", () => {
  assert.throws(() => encodeIfreqFlags("abcdefghijklmnop", IFF_TUN), RangeError);
});

Deno.test("`encodeIfreqInt()` puts an i32 at 16", () => {
  const b = encodeIfreqInt("eth0", 1500);
  assert.deepEqual(Array.from(b.subarray(16, 20)), [0xdc, 0x05, 0, 0]);
  assert.equal(decodeIfreqInt(b), 1500);
});

Deno.test("`interfaceNameProblem()` explains invalid names", () => {
  assert.equal(interfaceNameProblem("tun0"), null);
  assert.match(interfaceNameProblem("this-name-is-too-long")!, /21 bytes long, the limit is 15/);
  assert.match(interfaceNameProblem("")!, /empty/);
  assert.match(interfaceNameProblem("a b")!, /whitespace/);
  assert.match(interfaceNameProblem("a/b")!, /'\/'/);
  assert.match(interfaceNameProblem("tun%d")!, /'%'/);
  assert.equal(interfaceNameProblem("tun%d", true), null);
  assert.match(interfaceNameProblem("t%d%d", true)!, /one '%d'/);
  assert.throws(
    () => assertInterfaceName("this-name-is-too-long"),
    (e: unknown) =>
      e instanceof RangeError &&
      e.message ===
        'Invalid interface name "this-name-is-too-long": it is 21 bytes long, the limit is 15',
  );
});
