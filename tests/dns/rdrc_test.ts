import assert from "node:assert/strict";
import { createSharedDnsMemory, SharedRdrc } from "../../src/dns/shared_names.ts";
import { RdrcPersistence } from "../../src/dns/rdrc_persist.ts";
import { CacheFile } from "../../src/store/cache_file.ts";
import {
  ask,
  config,
  makeDns,
  query,
  startDnsServer,
  withReactor,
  zoneHandler,
} from "./_helpers.ts";

const ZONE_A = { "out.test": { A: [{ ttl: 60, data: "203.0.113.9" }] } };
const ZONE_B = { "out.test": { A: [{ ttl: 60, data: "198.51.100.9" }] } };

Deno.test("store_rdrc: a rejection by an address filter is remembered across workers and saved", async () => {
  await withReactor(async (r) => {
    const a = startDnsServer(r, zoneHandler(ZONE_A));
    const b = startDnsServer(r, zoneHandler(ZONE_B));
    const json = {
      dns: {
        servers: [
          { type: "udp", tag: "A", server: "127.0.0.1", server_port: a.port },
          { type: "udp", tag: "B", server: "127.0.0.1", server_port: b.port },
        ],
        rules: [{ ip_cidr: ["192.0.2.0/24"], server: "A" }],
        final: "B",
        // Answers are cached per server, so B's answer does not hide what happens with A.
        independent_cache: true,
      },
      experimental: { cache_file: { enabled: true, store_rdrc: true, rdrc_timeout: "1h" } },
    };
    const shared = createSharedDnsMemory(config({
      outbounds: [{ type: "direct", tag: "direct" }],
      ...json,
    }));
    assert.ok(shared.rdrc, "store_rdrc makes the shared table");
    const one = makeDns(r, json, { shared }).dns;
    const two = makeDns(r, json, { shared }).dns;
    const cache = CacheFile.open({ enabled: true, path: ":memory:", store_rdrc: true }, "/");
    const persist = new RdrcPersistence(new SharedRdrc(shared.rdrc!, 3_600_000), cache);
    try {
      const first = await ask(one, query("out.test"));
      assert.equal(first!.answers[0].data, "198.51.100.9", "A's answer is outside 192.0.2.0/24");
      assert.equal(a.queries.length, 1);
      // Another worker, with its own answer cache, does not ask A again.
      const second = await ask(two, query("out.test"));
      assert.equal(second!.answers[0].data, "198.51.100.9");
      assert.equal(a.queries.length, 1, "A is skipped while the rejection lasts");
      assert.equal(b.queries.length, 2);

      assert.equal(persist.save(), 1);
      assert.equal(persist.save(), 0, "nothing new");
      const saved = cache.rdrcEntries();
      assert.equal(saved.length, 1);
      assert.deepEqual(
        { transport: saved[0]!.transport, name: saved[0]!.name, qtype: saved[0]!.qtype },
        { transport: "A", name: "out.test", qtype: 1 },
      );
      const left = saved[0]!.expiresAt - Date.now();
      assert.ok(left > 3_590_000 && left <= 3_601_000, `expires in ${left} ms`);

      // A restart: a fresh table loaded from the file knows the rejection again.
      const fresh = createSharedDnsMemory(config({
        outbounds: [{ type: "direct", tag: "direct" }],
        ...json,
      }));
      const table = new SharedRdrc(fresh.rdrc!, 3_600_000);
      assert.equal(table.has("A", "out.test", 1), false);
      assert.equal(new RdrcPersistence(table, cache).load(), 1);
      assert.equal(table.has("A", "out.test", 1), true);
      assert.equal(table.has("B", "out.test", 1), false);
      assert.equal(table.has("A", "out.test", 28), false);
    } finally {
      one.close();
      two.close();
      cache.close();
      a.close();
      b.close();
    }
  });
});

Deno.test("`SharedRdrc` entries expire and colliding keys only evict", () => {
  const memory = createSharedDnsMemory(config({
    outbounds: [{ type: "direct", tag: "direct" }],
    experimental: { cache_file: { enabled: true, store_rdrc: true } },
  })).rdrc!;
  const t = new SharedRdrc(memory, 60_000);
  t.save("remote", "ads.example", 1, 1_000_000);
  assert.equal(t.has("remote", "ads.example", 1, 1_059_000), true);
  assert.equal(t.has("remote", "ads.example", 1, 1_060_000), false, "expired");
  for (let i = 0; i < 10_000; i++) t.save("remote", `n${i}.example`, 1, 1_000_000);
  let kept = 0;
  for (let i = 0; i < 10_000; i++) if (t.has("remote", `n${i}.example`, 1, 1_000_001)) kept++;
  assert.ok(kept > 2000 && kept <= 4096, `${kept} of 10000 kept in 4096 slots`);
  assert.deepEqual(
    t.entryAt([...Array(t.slots).keys()].find((s) => t.entryAt(s) !== null)!)?.transport,
    "remote",
  );
});

Deno.test("without store_rdrc there is no shared rejection table", () => {
  const memory = createSharedDnsMemory(config({
    outbounds: [{ type: "direct", tag: "direct" }],
    experimental: { cache_file: { enabled: true } },
  }));
  assert.equal(memory.rdrc, undefined);
});
