import assert from "node:assert/strict";
import { FakeIpStore, missingFakeIpRecord } from "../../src/dns/fakeip.ts";
import { formatIp, parseIp, parsePrefix } from "../../src/net/ip.ts";

function store(v4?: string, v6?: string): FakeIpStore {
  return new FakeIpStore(
    v4 ? parsePrefix(v4)! : undefined,
    v6 ? parsePrefix(v6)! : undefined,
  );
}

/**
 * A /29 (198.18.0.0–198.18.0.7): the cursor starts at .1, so allocation runs .2 … .6, and .7
 * (the last address) is never given: the next allocation wraps to base + 2 = .2.
 */
Deno.test("FakeIP allocation ring on a /29: order, wrap to base+2, reuse, reverse deletion", () => {
  const s = store("198.18.0.0/29");
  const steps: [string, string, Record<string, string | undefined>][] = [
    // [domain asked, address expected, reverse lookups that must hold afterwards]
    ["a.test", "198.18.0.2", { "198.18.0.2": "a.test" }],
    ["b.test", "198.18.0.3", { "198.18.0.3": "b.test" }],
    ["a.test", "198.18.0.2", { "198.18.0.2": "a.test" }], // existing domain keeps its address
    ["c.test", "198.18.0.4", {}],
    ["d.test", "198.18.0.5", {}],
    ["e.test", "198.18.0.6", { "198.18.0.7": undefined }],
    // .7 is the broadcast address: wrap to .2, which a.test held
    ["f.test", "198.18.0.2", { "198.18.0.2": "f.test" }],
    // a.test lost its address, so it gets the next one (and b.test loses .3)
    ["a.test", "198.18.0.3", { "198.18.0.3": "a.test", "198.18.0.2": "f.test" }],
    ["b.test", "198.18.0.4", { "198.18.0.4": "b.test" }],
  ];
  for (const [domain, expected, reverse] of steps) {
    const got = formatIp(s.create(domain, false));
    assert.equal(got, expected, `create(${domain})`);
    for (const [addr, want] of Object.entries(reverse)) {
      assert.equal(s.lookup(parseIp(addr)!), want, `lookup(${addr}) after ${domain}`);
    }
  }
  // c.test lost .4 to b.test: its forward entry is gone too.
  assert.equal(s.addressOf("c.test", false), undefined);
  assert.equal(formatIp(s.addressOf("d.test", false)!), "198.18.0.5");
});

Deno.test("FakeIP ranges: base+1 start per family, IPv6 wrap, host bits cleared", () => {
  const s = store("198.18.5.9/30", "fc00::/126");
  // /30 with host bits set: base 198.18.5.8, cursor .9, first .10, last .11 → wraps to .10.
  assert.equal(formatIp(s.create("x.test", false)), "198.18.5.10");
  assert.equal(formatIp(s.create("y.test", false)), "198.18.5.10");
  assert.equal(s.lookup(parseIp("198.18.5.10")!), "y.test");
  assert.equal(s.addressOf("x.test", false), undefined);
  assert.equal(formatIp(s.create("x.test", true)), "fc00::2");
  assert.equal(formatIp(s.create("y.test", true)), "fc00::2");
  assert.equal(s.lookup(parseIp("fc00::2")!), "y.test");
  // Families are independent: y.test keeps its IPv4 address.
  assert.equal(formatIp(s.addressOf("y.test", false)!), "198.18.5.10");
});

Deno.test("FakeIP `contains()` and `lookup()` only answer inside the ranges", () => {
  const s = store("198.18.0.0/15", "fc00::/18");
  const a = s.create("example.com", false);
  assert.equal(formatIp(a), "198.18.0.2");
  assert.equal(s.contains(parseIp("198.19.255.255")!), true);
  assert.equal(s.contains(parseIp("198.20.0.0")!), false);
  assert.equal(s.contains(parseIp("fc00:3fff::1")!), true);
  assert.equal(s.contains(parseIp("fc00:4000::")!), false);
  assert.equal(s.lookup(parseIp("198.18.0.3")!), undefined, "never allocated");
  assert.equal(s.lookup(parseIp("8.8.8.8")!), undefined);
});

Deno.test("FakeIP without a family's range fails with sing-box's message", () => {
  const s = store("198.18.0.0/15");
  assert.throws(() => s.create("x.test", true), /missing IPv6 fakeip address range/);
  assert.equal(s.hasFamily(false), true);
  assert.equal(s.hasFamily(true), false);
});

Deno.test("FakeIP rejects ranges with fewer than 4 addresses", () => {
  assert.throws(() => store("198.18.0.0/31"), /too small/);
  assert.throws(() => store(undefined, "fc00::/127"), /too small/);
});

Deno.test("`missingFakeIpRecord()` names the address and why", () => {
  assert.match(
    missingFakeIpRecord(parseIp("198.18.0.9")!),
    /^missing fakeip record for 198\.18\.0\.9: the address was given out before a restart or reused since \(FakeIP mappings survive a restart with experimental\.cache_file\.store_fakeip\)$/,
  );
});
