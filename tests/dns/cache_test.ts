import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ExpiringLru } from "../../src/dns/cache.ts";
import { DnsClient, isSimpleQuery, MIN_CACHE_CAPACITY } from "../../src/dns/client.ts";
import { HostsTransport } from "../../src/dns/transport_hosts.ts";
import { parseMessage } from "../../src/net/dns/wire.ts";
import { decode, encode, FakeClock, query } from "./_helpers.ts";

Deno.test("`ExpiringLru` evicts the least recently used entry when full", () => {
  const clock = new FakeClock();
  const lru = new ExpiringLru<string, number>(3, clock.now);
  lru.set("a", 1);
  lru.set("b", 2);
  lru.set("c", 3);
  assert.equal(lru.get("a"), 1, "touch a: b is now the oldest");
  lru.set("d", 4);
  assert.equal(lru.get("b"), undefined);
  assert.deepEqual(["a", "c", "d"].map((k) => lru.get(k)), [1, 3, 4]);
  assert.equal(lru.size, 3);
});

Deno.test("`ExpiringLru` drops entries at their lifetime", () => {
  const clock = new FakeClock();
  const lru = new ExpiringLru<string, string>(8, clock.now);
  lru.set("short", "x", 1000);
  lru.set("forever", "y");
  clock.advance(999);
  assert.equal(lru.getEntry("short")?.expiresAt, clock.t + 1);
  clock.advance(1);
  assert.equal(lru.get("short"), undefined);
  assert.equal(lru.size, 1);
  clock.advance(1e9);
  assert.equal(lru.get("forever"), "y");
  assert.throws(() => new ExpiringLru(0, clock.now), RangeError);
});

Deno.test("`DnsClient` cache capacity is at least 1024 answers", async () => {
  const names: Record<string, string[]> = {};
  for (let i = 0; i < 1100; i++) names[`n${i}.test`] = [`10.0.${i >> 8}.${i & 255}`];
  const hosts = new HostsTransport("h", { now: () => 0 }, ["/nonexistent/hosts"], names);
  const clock = new FakeClock();
  const client = new DnsClient({ now: clock.now, cacheCapacity: 10 });
  for (let i = 0; i < 1100; i++) {
    const bytes = query(`n${i}.test`);
    const answer = decode(
      await client.exchange(hosts, { bytes, layout: parseMessage(bytes) }, {
        strategy: "",
        disableCache: false,
      }),
    );
    assert.equal(answer.answers.length, 1);
  }
  assert.equal(MIN_CACHE_CAPACITY, 1024);
  assert.equal(client.cacheSize, 1024);
  // The oldest answers were evicted, the newest are served from the cache.
  const cachedNew = query("n1099.test");
  assert.notEqual(
    client.exchangeCache({ bytes: cachedNew, layout: parseMessage(cachedNew) }),
    null,
  );
  const evicted = query("n0.test");
  assert.equal(client.exchangeCache({ bytes: evicted, layout: parseMessage(evicted) }), null);
});

Deno.test("`isSimpleQuery()` accepts one question with at most an empty OPT", () => {
  const simple = (b: Uint8Array) => isSimpleQuery({ bytes: b, layout: parseMessage(b) });
  assert.equal(simple(query("a.test")), true);
  assert.equal(simple(query("a.test", "A", 1, { edns: 1232 })), true);
  const withCookie = encode({
    type: "query",
    id: 1,
    questions: [{ type: "A", name: "a.test" }],
    additionals: [{
      type: "OPT",
      name: ".",
      udpPayloadSize: 1232,
      flags: 0,
      options: [{ code: 10, data: Buffer.alloc(8) }],
    }],
  });
  assert.equal(simple(withCookie), false, "an option (cookie, ECS) makes it not cacheable");
  const doBit = encode({
    type: "query",
    id: 1,
    questions: [{ type: "A", name: "a.test" }],
    additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1232, flags: 0x8000, options: [] }],
  });
  assert.equal(simple(doBit), false, "DNSSEC OK");
  const two = encode({
    type: "query",
    id: 1,
    questions: [{ type: "A", name: "a.test" }, { type: "A", name: "b.test" }],
  });
  assert.equal(simple(two), false);
});
