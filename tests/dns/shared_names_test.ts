import assert from "node:assert/strict";
import { formatIp, parsePrefix } from "../../src/net/ip.ts";
import type { Options } from "../../src/config/types.ts";
import {
  createSharedDnsMemory,
  MAX_FAKEIP_SLOTS,
  SharedFakeIpStore,
  SharedReverseMap,
} from "../../src/dns/shared_names.ts";

function optionsWith(dns: Partial<Options["dns"]>): Options {
  return { dns: { servers: [], rules: [], ...dns } } as unknown as Options;
}

const V4 = parsePrefix("198.18.0.0/15")!;
const V6 = parsePrefix("fc00::/18")!;

function twoWorkers(v4 = V4, v6: typeof V6 | null = V6) {
  const memory = createSharedDnsMemory(optionsWith({
    servers: [{
      type: "fakeip",
      tag: "f",
      inet4_range: v4,
      ...(v6 ? { inet6_range: v6 } : {}),
    }] as never,
  }));
  const six = v6 ?? undefined;
  return [new SharedFakeIpStore(memory, v4, six), new SharedFakeIpStore(memory, v4, six)] as const;
}

Deno.test("`SharedFakeIpStore` lets another worker map a fake address back to its domain", () => {
  const [a, b] = twoWorkers();
  const addr = a.create("web.example", false);
  assert.equal(formatIp(addr), "198.18.0.2", "the first address after base+1, as sing-box");
  assert.equal(b.lookup(addr), "web.example");
  assert.deepEqual(b.create("web.example", false), addr, "a known domain keeps its address");
  assert.equal(formatIp(b.create("other.example", false)), "198.18.0.3");
  const v6 = a.create("web.example", true);
  assert.equal(formatIp(v6), "fc00::2");
  assert.equal(b.lookup(v6), "web.example");
  assert.equal(b.contains(addr), true);
  assert.equal(b.lookup(new Uint8Array([198, 18, 9, 9])), undefined);
  assert.equal(b.contains(new Uint8Array([10, 0, 0, 1])), false);
});

Deno.test("`SharedFakeIpStore` wraps its ring and a reused address loses its old domain", () => {
  const small = parsePrefix("10.99.0.0/29")!; // 8 addresses: 5 usable slots
  const [a, b] = twoWorkers(small, null);
  const names = Array.from({ length: 7 }, (_, i) => `d${i}.example`);
  const addrs = names.map((n) => a.create(n, false));
  assert.equal(formatIp(addrs[0]!), "10.99.0.2");
  assert.equal(formatIp(addrs[4]!), "10.99.0.6");
  assert.equal(formatIp(addrs[5]!), "10.99.0.2", "after the last usable address the ring wraps");
  assert.equal(b.lookup(addrs[0]!), "d5.example");
  assert.equal(b.addressOf("d0.example", false), undefined, "the overwritten domain is gone");
  assert.throws(() => a.create("x.example", true), /missing IPv6 fakeip address range/);
});

Deno.test("`SharedFakeIpStore` bounds a large range to its slot window", () => {
  const [a] = twoWorkers();
  let last: Uint8Array = new Uint8Array(4);
  for (let i = 0; i < 100; i++) last = a.create(`n${i}.example`, false);
  assert.equal(formatIp(last), "198.18.0.101");
  assert.ok(MAX_FAKEIP_SLOTS >= 65536);
});

Deno.test("`SharedReverseMap` is seen by every worker and expires with the TTL", async () => {
  const memory = createSharedDnsMemory(optionsWith({ reverse_mapping: true }));
  const a = new SharedReverseMap(memory.reverse!);
  const b = new SharedReverseMap(memory.reverse!);
  const ip = new Uint8Array([203, 0, 113, 10]);
  a.set(ip, "web.example", 60_000);
  assert.equal(b.get(ip), "web.example");
  assert.equal(b.get(new Uint8Array([203, 0, 113, 11])), undefined);
  a.set(ip, "short.example", 1);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(b.get(ip), undefined, "expired");
});

Deno.test("`createSharedDnsMemory()` allocates nothing for configs without FakeIP or reverse mapping", () => {
  assert.deepEqual(createSharedDnsMemory(optionsWith({})), {});
});
