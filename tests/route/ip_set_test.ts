import assert from "node:assert/strict";
import fc from "fast-check";
import { type Prefix, prefixContains } from "../../src/net/ip.ts";
import { IpSet } from "../../src/route/ip_set.ts";
import { ip, prefixes } from "./_helpers.ts";

Deno.test("`IpSet.contains()` matches IPv4 prefix members and their boundaries", () => {
  const set = new IpSet(prefixes("10.0.0.0/8", "192.168.1.0/24", "3.1.2.82/32"));
  for (const a of ["10.0.0.0", "10.255.255.255", "192.168.1.0", "192.168.1.255", "3.1.2.82"]) {
    assert.equal(set.contains(ip(a)), true, a);
  }
  for (const a of ["9.255.255.255", "11.0.0.0", "192.168.0.255", "192.168.2.0", "3.1.2.81"]) {
    assert.equal(set.contains(ip(a)), false, a);
  }
});

Deno.test("`IpSet` masks host bits and merges overlapping and adjacent prefixes", () => {
  const set = new IpSet(prefixes("1.2.3.4/24", "1.2.4.0/24", "1.2.3.128/25", "0.0.0.0/0"));
  assert.equal(set.rangeCount, 1);
  assert.equal(set.contains(ip("255.255.255.255")), true);
  const two = new IpSet(prefixes("1.2.3.4/24", "1.2.4.0/24"));
  assert.equal(two.rangeCount, 1);
  assert.equal(two.contains(ip("1.2.3.0")), true);
  assert.equal(two.contains(ip("1.2.4.255")), true);
  assert.equal(two.contains(ip("1.2.5.0")), false);
});

Deno.test("`IpSet.contains()` matches IPv6 prefixes word by word", () => {
  const set = new IpSet(prefixes("fc00::/7", "2001:db8::/32", "2001:db9:0:0:8000::/65", "::1"));
  for (const a of ["fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::1", "::1"]) {
    assert.equal(set.contains(ip(a)), true, a);
  }
  assert.equal(set.contains(ip("2001:db9::8000:0:0:1")), true);
  for (const a of ["fe00::", "2001:db7:ffff::", "2001:db9::1", "::2", "::"]) {
    assert.equal(set.contains(ip(a)), false, a);
  }
});

Deno.test("`IpSet` keeps the families apart", () => {
  const set = new IpSet(prefixes("0.0.0.0/0"));
  assert.equal(set.contains(ip("::")), false);
  assert.equal(set.contains(ip("::ffff:1.2.3.4")), false);
  const v6 = new IpSet(prefixes("::/0"));
  assert.equal(v6.contains(ip("1.2.3.4")), false);
  assert.equal(v6.contains(new Uint8Array(0)), false);
});

Deno.test("`IpSet` is empty without prefixes", () => {
  const set = new IpSet([]);
  assert.equal(set.contains(ip("1.2.3.4")), false);
  assert.equal(set.contains(ip("::1")), false);
});

const prefixArb = fc.oneof(
  fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 })),
  fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 })),
).map(([addr, bits]): Prefix => ({ addr, bits }));

Deno.test("`IpSet.contains()` agrees with a linear scan of `prefixContains()`", () => {
  fc.assert(
    fc.property(
      fc.array(prefixArb, { maxLength: 40 }),
      fc.array(
        fc.oneof(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
        ),
        { maxLength: 20 },
      ),
      (ps, addrs) => {
        const set = new IpSet(ps);
        // Probe random addresses and the edges of every prefix.
        const probes = [...addrs, ...ps.map((p) => p.addr)];
        for (const a of probes) {
          assert.equal(set.contains(a), ps.some((p) => prefixContains(p, a)));
        }
      },
    ),
    { numRuns: 300 },
  );
});
