import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { CacheFile, DEFAULT_RDRC_TIMEOUT_MS } from "../../src/store/cache_file.ts";

/** Runs `fn` with tunbox's store warnings captured as plain text. */
async function withWarnings(fn: (warnings: string[]) => void | Promise<void>): Promise<void> {
  const warnings: string[] = [];
  await configure({
    sinks: {
      buffer: (r: LogRecord) => {
        warnings.push(r.message.map((p) => typeof p === "string" ? p : String(p)).join(""));
      },
    },
    loggers: [
      { category: ["tunbox", "store"], lowestLevel: "warning", sinks: ["buffer"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
    reset: true,
  });
  try {
    await fn(warnings);
  } finally {
    await reset();
  }
}

function tempDir(): string {
  return Deno.makeTempDirSync({ prefix: "tunbox-store-" });
}

Deno.test("CacheFile keeps mode, selections, group state, rule sets and FakeIP across a reopen", () => {
  const dir = tempDir();
  try {
    const a = CacheFile.open({ enabled: true, store_fakeip: true }, dir);
    assert.equal(a.path, `${dir}/cache.db`);
    assert.equal(a.memoryOnly, false);
    assert.equal(a.loadMode(), undefined);
    assert.equal(a.loadSelected("proxy"), undefined);
    a.storeMode("Global");
    a.storeSelected("proxy", "hk-1");
    a.storeSelected("proxy", "jp-2");
    a.storeSelected("media", "us-1");
    a.storeGroupExpand("proxy", true);
    a.storeGroupExpand("media", false);
    const content = new Uint8Array([0x53, 0x52, 0x53, 0, 1, 2, 255]);
    a.saveRuleSet("geosite-cn", {
      content,
      lastUpdated: 1_751_364_000_123,
      etag: '"abc"',
      lastModified: "Tue, 01 Jul 2025 10:00:00 GMT",
    });
    a.saveRuleSet("no-headers", { content: new Uint8Array(0), lastUpdated: 5 });
    a.fakeIpStore(new Uint8Array([198, 18, 0, 2]), "a.example");
    a.saveFakeIpMetadata({
      inet4Range: "198.18.0.0/15",
      inet6Range: "",
      inet4Current: "198.18.0.2",
      inet6Current: "",
    });
    a.close();

    const b = CacheFile.open({ enabled: true, path: "cache.db" }, dir);
    assert.equal(b.loadMode(), "Global");
    assert.equal(b.loadSelected("proxy"), "jp-2");
    assert.deepEqual([...b.allSelected()].sort(), [["media", "us-1"], ["proxy", "jp-2"]]);
    assert.equal(b.loadGroupExpand("proxy"), true);
    assert.equal(b.loadGroupExpand("media"), false);
    assert.equal(b.loadGroupExpand("other"), undefined);
    assert.deepEqual(b.loadRuleSet("geosite-cn"), {
      content,
      lastUpdated: 1_751_364_000_123,
      etag: '"abc"',
      lastModified: "Tue, 01 Jul 2025 10:00:00 GMT",
    });
    assert.deepEqual(b.loadRuleSet("no-headers"), { content: new Uint8Array(0), lastUpdated: 5 });
    assert.equal(b.loadRuleSet("missing"), undefined);
    assert.deepEqual(b.fakeIpEntries(), [{
      address: new Uint8Array([198, 18, 0, 2]),
      domain: "a.example",
    }]);
    assert.deepEqual(b.fakeIpMetadata(), {
      inet4Range: "198.18.0.0/15",
      inet6Range: "",
      inet4Current: "198.18.0.2",
      inet6Current: "",
    });
    b.close();
    // Calls after close answer "nothing stored" instead of throwing.
    assert.equal(b.loadMode(), undefined);
    b.storeMode("Direct");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CacheFile separates cache_id stores except FakeIP, as sing-box does", () => {
  const dir = tempDir();
  try {
    const home = CacheFile.open({ enabled: true, cache_id: "home" }, dir);
    const work = CacheFile.open({ enabled: true, cache_id: "work" }, dir);
    const plain = CacheFile.open({ enabled: true }, dir);
    home.storeMode("Direct");
    work.storeMode("Global");
    home.storeSelected("proxy", "a");
    work.storeSelected("proxy", "b");
    home.saveRuleSet("r", { content: new Uint8Array([1]), lastUpdated: 1 });
    home.fakeIpStore(new Uint8Array([198, 18, 0, 9]), "shared.example");
    assert.equal(home.loadMode(), "Direct");
    assert.equal(work.loadMode(), "Global");
    assert.equal(plain.loadMode(), undefined);
    assert.equal(home.loadSelected("proxy"), "a");
    assert.equal(work.loadSelected("proxy"), "b");
    assert.equal(plain.loadSelected("proxy"), undefined);
    assert.equal(work.loadRuleSet("r"), undefined);
    assert.equal(plain.fakeIpLoad(new Uint8Array([198, 18, 0, 9])), "shared.example");
    for (const c of [home, work, plain]) c.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CacheFile.fakeIpStore() keeps one address per domain and one domain per address", () => {
  const c = CacheFile.open({ enabled: true, path: ":memory:", store_fakeip: true }, "/");
  const a2 = new Uint8Array([198, 18, 0, 2]);
  const a3 = new Uint8Array([198, 18, 0, 3]);
  const v6 = new Uint8Array(16).fill(0xfc, 0, 1);
  c.fakeIpStore(a2, "a.example");
  c.fakeIpStore(v6, "a.example");
  c.fakeIpStore(a3, "a.example"); // the domain moves: .2 is freed
  assert.equal(c.fakeIpLoad(a2), undefined);
  assert.deepEqual(c.fakeIpLoadDomain("a.example", false), a3);
  assert.deepEqual(c.fakeIpLoadDomain("a.example", true), v6); // the other family is kept
  c.fakeIpStore(a3, "b.example"); // the address is reused: a.example loses it
  assert.equal(c.fakeIpLoadDomain("a.example", false), undefined);
  assert.equal(c.fakeIpLoad(a3), "b.example");
  c.fakeIpDelete(a3);
  assert.equal(c.fakeIpLoad(a3), undefined);
  c.saveFakeIpMetadata({ inet4Range: "x", inet6Range: "", inet4Current: "y", inet6Current: "" });
  c.fakeIpReset();
  assert.deepEqual(c.fakeIpEntries(), []);
  assert.equal(c.fakeIpMetadata(), undefined);
  c.close();
});

Deno.test("CacheFile rejected-DNS cache expires after rdrc_timeout and is off without store_rdrc", () => {
  const dir = tempDir();
  try {
    const off = CacheFile.open({ enabled: true }, dir);
    off.saveRdrc("remote", "ads.example.", 1, 1000);
    assert.equal(off.loadRdrc("remote", "ads.example.", 1, 1000), false);
    assert.equal(off.rdrcTimeoutMs, 0);
    off.close();

    const c = CacheFile.open({ enabled: true, store_rdrc: true, rdrc_timeout: 60_000 }, dir);
    assert.equal(c.rdrcTimeoutMs, 60_000);
    c.saveRdrc("remote", "ads.example.", 1, 1000);
    assert.equal(c.loadRdrc("remote", "ads.example.", 1, 60_999), true);
    assert.equal(c.loadRdrc("remote", "ads.example.", 28, 2000), false, "other type");
    assert.equal(c.loadRdrc("local", "ads.example.", 1, 2000), false, "other server");
    assert.deepEqual(c.rdrcEntries(2000), [
      { transport: "remote", name: "ads.example.", qtype: 1, expiresAt: 61_000 },
    ]);
    assert.equal(c.loadRdrc("remote", "ads.example.", 1, 61_000), false, "expired");
    assert.deepEqual(c.rdrcEntries(0), [], "the expired entry was deleted");
    c.close();
    const d = CacheFile.open({ enabled: true, store_rdrc: true }, dir);
    assert.equal(d.rdrcTimeoutMs, DEFAULT_RDRC_TIMEOUT_MS);
    d.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CacheFile moves a garbage file aside with a warning and starts fresh", async () => {
  const dir = tempDir();
  try {
    const garbage = new Uint8Array(8192).map((_, i) => (i * 7919) & 0xff);
    Deno.writeFileSync(`${dir}/cache.db`, garbage);
    await withWarnings((warnings) => {
      const c = CacheFile.open({ enabled: true }, dir);
      assert.equal(c.memoryOnly, false);
      assert.equal(warnings.length, 1);
      assert.match(
        warnings[0]!,
        new RegExp(
          `^cache file ${dir}/cache\\.db is damaged \\(it is not an SQLite database\\): moved to ${dir}/cache\\.db\\.damaged, starting with an empty cache$`,
        ),
      );
      c.storeMode("Direct");
      c.close();
    });
    assert.deepEqual(Deno.readFileSync(`${dir}/cache.db.damaged`), garbage);
    const again = CacheFile.open({ enabled: true }, dir);
    assert.equal(again.loadMode(), "Direct");
    again.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CacheFile treats an SQLite file with damaged pages as damaged", async () => {
  const dir = tempDir();
  try {
    const path = `${dir}/cache.db`;
    const c = CacheFile.open({ enabled: true, path }, "/unused");
    c.transaction("fill", () => {
      for (let i = 0; i < 2000; i++) c.storeSelected(`group-${i}`, "x".repeat(200));
    });
    c.close();
    const bytes = Deno.readFileSync(path);
    assert.ok(bytes.length > 5 * 4096);
    bytes.fill(0x41, 2 * 4096, 4 * 4096); // two pages of the table's b-tree
    Deno.writeFileSync(path, bytes);
    await withWarnings((warnings) => {
      const d = CacheFile.open({ enabled: true, path }, "/unused");
      assert.equal(warnings.length, 1, warnings.join("\n"));
      assert.match(warnings[0]!, /^cache file .*cache\.db is damaged \(.+\): moved to .*\.damaged/);
      assert.equal(d.loadSelected("group-1"), undefined);
      d.storeSelected("proxy", "a");
      assert.equal(d.loadSelected("proxy"), "a");
      d.close();
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CacheFile leaves sing-box's bbolt cache file untouched and keeps state in memory", async () => {
  const dir = tempDir();
  try {
    // A bbolt file starts with a page header (16 bytes) and the meta magic 0xED0CDAED.
    const bolt = new Uint8Array(4096);
    new DataView(bolt.buffer).setUint32(16, 0xed0cdaed, true);
    Deno.writeFileSync(`${dir}/cache.db`, bolt);
    await withWarnings((warnings) => {
      const c = CacheFile.open({ enabled: true }, dir);
      assert.equal(c.memoryOnly, true);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /is a sing-box cache file \(bbolt format\).*left untouched/);
      c.storeSelected("proxy", "a");
      assert.equal(c.loadSelected("proxy"), "a");
      c.close();
    });
    assert.deepEqual(Deno.readFileSync(`${dir}/cache.db`), bolt);
    assert.throws(() => Deno.statSync(`${dir}/cache.db.damaged`), Deno.errors.NotFound);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CacheFile in a directory that does not exist warns and works in memory", async () => {
  await withWarnings((warnings) => {
    const c = CacheFile.open({ enabled: true, path: "/nonexistent-tunbox-dir/cache.db" }, "/");
    assert.equal(c.memoryOnly, true);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /^open cache file \/nonexistent-tunbox-dir\/cache\.db failed: unable to open database file.*state is kept in memory this run/,
    );
    c.storeMode("Rule");
    assert.equal(c.loadMode(), "Rule");
    c.close();
  });
});

Deno.test("CacheFile refuses a store from a newer schema by moving it aside", async () => {
  const dir = tempDir();
  try {
    const db = new DatabaseSync(`${dir}/cache.db`);
    db.exec("PRAGMA user_version = 99; CREATE TABLE future (x)");
    db.close();
    await withWarnings((warnings) => {
      const c = CacheFile.open({ enabled: true }, dir);
      assert.equal(c.memoryOnly, false);
      assert.match(warnings[0] ?? "", /schema version 99 is newer than this tunbox's 1/);
      c.close();
    });
    const moved = new DatabaseSync(`${dir}/cache.db.damaged`);
    assert.equal(
      (moved.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      99,
    );
    moved.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CacheFile resets itself when the file is damaged while open", async () => {
  const dir = tempDir();
  try {
    const path = `${dir}/cache.db`;
    const c = CacheFile.open({ enabled: true, path }, "/");
    c.transaction("fill", () => {
      for (let i = 0; i < 2000; i++) c.storeSelected(`group-${i}`, "y".repeat(200));
      // More than SQLite's page cache (2 MiB), so the selections' pages are read from disk again.
      const blob = new Uint8Array(1 << 20).fill(7);
      for (let i = 0; i < 8; i++) c.saveRuleSet(`big-${i}`, { content: blob, lastUpdated: i });
    });
    c.close();
    const d = CacheFile.open({ enabled: true, path }, "/");
    // Damage the selections' pages under the open store (another process, a bad disk).
    const f = Deno.openSync(path, { write: true });
    f.seekSync(1 * 4096, Deno.SeekMode.Start);
    f.writeSync(new Uint8Array(150 * 4096).fill(0x42));
    f.close();
    await withWarnings((warnings) => {
      // Reading the rule sets evicts the cached pages; reading the selections then hits the
      // damaged ones. Nothing throws.
      for (let i = 0; i < 8; i++) d.loadRuleSet(`big-${i}`);
      for (let i = 0; i < 2000; i++) d.loadSelected(`group-${i}`);
      assert.ok(
        warnings.some((w) => /is damaged \(load (selected|rule set): .*malformed/.test(w)),
        warnings.join("\n"),
      );
      d.storeSelected("after", "z");
      assert.equal(d.loadSelected("after"), "z");
    });
    d.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
