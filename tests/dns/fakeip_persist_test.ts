import assert from "node:assert/strict";
import { formatIp, parseIp, parsePrefix } from "../../src/net/ip.ts";
import type { Options, Prefix } from "../../src/config/types.ts";
import { createSharedDnsMemory, SharedFakeIpStore } from "../../src/dns/shared_names.ts";
import { FakeIpPersistence } from "../../src/dns/fakeip_persist.ts";
import { CacheFile } from "../../src/store/cache_file.ts";

/** A fresh "process": new shared memory for the ranges, as `Box.start` makes it. */
function instance(v4: Prefix | undefined, v6: Prefix | undefined, cache: CacheFile) {
  const memory = createSharedDnsMemory({
    dns: {
      servers: [{
        type: "fakeip",
        tag: "f",
        ...(v4 ? { inet4_range: v4 } : {}),
        ...(v6 ? { inet6_range: v6 } : {}),
      }],
      rules: [],
    },
  } as unknown as Options);
  const worker = new SharedFakeIpStore(memory, v4, v6);
  const persist = new FakeIpPersistence(new SharedFakeIpStore(memory, v4, v6), cache, v4, v6);
  return { worker, persist };
}

const V4 = parsePrefix("198.18.0.0/15")!;
const V6 = parsePrefix("fc00::/18")!;

Deno.test("FakeIpPersistence restores mappings and the cursor after a restart", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tunbox-fakeip-" });
  try {
    let cache = CacheFile.open({ enabled: true, store_fakeip: true }, dir);
    const first = instance(V4, V6, cache);
    assert.equal(first.persist.load(), 0);
    assert.equal(first.persist.save(), 0, "nothing allocated yet");
    const a = first.worker.create("a.example", false);
    const b = first.worker.create("b.example", false);
    const a6 = first.worker.create("a.example", true);
    assert.equal(first.persist.save(), 3);
    assert.equal(first.persist.save(), 0, "only changes are written");
    const c = first.worker.create("c.example", false);
    assert.equal(first.persist.save(), 1);
    assert.deepEqual(cache.fakeIpMetadata(), {
      inet4Range: "198.18.0.0/15",
      inet6Range: "fc00::/18",
      inet4Current: "198.18.0.4",
      inet6Current: "fc00::2",
    });
    cache.close();

    cache = CacheFile.open({ enabled: true, store_fakeip: true }, dir);
    const second = instance(V4, V6, cache);
    assert.equal(second.persist.load(), 4);
    assert.equal(second.worker.lookup(a), "a.example");
    assert.equal(second.worker.lookup(b), "b.example");
    assert.equal(second.worker.lookup(c), "c.example");
    assert.equal(second.worker.lookup(a6), "a.example");
    assert.deepEqual(second.worker.create("b.example", false), b, "a known domain keeps it");
    // The cursor continues after the last address given, as sing-box's metadata does.
    assert.equal(formatIp(second.worker.create("d.example", false)), "198.18.0.5");
    assert.equal(formatIp(second.worker.create("d.example", true)), "fc00::3");
    cache.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("FakeIpPersistence drops saved mappings when the ranges changed", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tunbox-fakeip-" });
  try {
    let cache = CacheFile.open({ enabled: true, store_fakeip: true }, dir);
    const first = instance(V4, undefined, cache);
    first.persist.load();
    first.worker.create("a.example", false);
    first.persist.save();
    cache.close();

    cache = CacheFile.open({ enabled: true, store_fakeip: true }, dir);
    const other = parsePrefix("10.200.0.0/16")!;
    const second = instance(other, undefined, cache);
    assert.equal(second.persist.load(), 0);
    assert.deepEqual(cache.fakeIpEntries(), []);
    assert.equal(cache.fakeIpMetadata()?.inet4Range, "10.200.0.0/16");
    assert.equal(formatIp(second.worker.create("a.example", false)), "10.200.0.2");
    cache.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("FakeIpPersistence saves a reused address once, under its new domain", () => {
  const cache = CacheFile.open({ enabled: true, path: ":memory:", store_fakeip: true }, "/");
  // A /29 has 5 usable slots: the 6th allocation wraps to the first address.
  const small = parsePrefix("198.18.0.0/29")!;
  const { worker, persist } = instance(small, undefined, cache);
  persist.load();
  for (const d of ["a", "b", "c", "d", "e", "f"]) worker.create(`${d}.example`, false);
  persist.save();
  assert.equal(cache.fakeIpLoad(parseIp("198.18.0.2")!), "f.example");
  assert.equal(cache.fakeIpLoadDomain("a.example", false), undefined);
  assert.equal(cache.fakeIpEntries().length, 5);
  assert.equal(cache.fakeIpMetadata()?.inet4Current, "198.18.0.2");
  cache.close();
});
