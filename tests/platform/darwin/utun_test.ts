import assert from "node:assert/strict";
import { setUtunHeader, utunPacketFamily, utunUnit } from "../../../src/platform/darwin/utun.ts";
import { hex } from "./_hex.ts";

Deno.test("`utunUnit()` maps utunN to unit N+1 and an empty name to 0", () => {
  assert.deepEqual(["", "utun0", "utun8", "utun123"].map(utunUnit), [0, 1, 9, 124]);
  for (const bad of ["tun0", "utun", "utun08", "utun-1", "UTUN8", "utun8 "]) {
    assert.throws(() => utunUnit(bad), TypeError);
  }
});

Deno.test("`setUtunHeader()` writes the big-endian address family from the IP version", () => {
  const v4 = hex("ff ff ff ff", "45 00 00 14");
  assert.equal(setUtunHeader(v4), true);
  assert.deepEqual(v4, hex("00 00 00 02", "45 00 00 14")); // AF_INET 2
  const v6 = hex("ff ff ff ff", "60 00 00 00");
  assert.equal(setUtunHeader(v6), true);
  assert.deepEqual(v6, hex("00 00 00 1e", "60 00 00 00")); // Darwin AF_INET6 30
  const junk = hex("ff ff ff ff", "00");
  assert.equal(setUtunHeader(junk), false);
  assert.deepEqual(junk, hex("ff ff ff ff", "00"));
  assert.equal(setUtunHeader(hex("00 00 00 02")), false);
});

Deno.test("`utunPacketFamily()` reads the header the kernel puts before each packet", () => {
  assert.equal(utunPacketFamily(hex("00 00 00 02 45")), 4);
  assert.equal(utunPacketFamily(hex("00 00 00 1e 60")), 6);
  assert.equal(utunPacketFamily(hex("02 00 00 00 45")), null); // host order: wrong
  assert.equal(utunPacketFamily(hex("00 00 00 0a 60")), null); // Linux AF_INET6: wrong
  assert.equal(utunPacketFamily(hex("00 00")), null);
});
