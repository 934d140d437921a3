import assert from "node:assert/strict";
import type { RuleSetOptions } from "../../src/config/types.ts";
import type { RuleSetPayload } from "../../src/route/rule_set.ts";
import type { SavedRuleSet } from "../../src/store/cache_file.ts";
import type { DownloadResult } from "../../src/ruleset/download.ts";
import { RuleSetManager } from "../../src/ruleset/manager.ts";
import { writeSrs } from "../../src/ruleset/srs.ts";
import { emptyHeadlessRule } from "../../src/config/decode_rule_set.ts";

const enc = new TextEncoder();
const json = (rules: unknown[]) => enc.encode(JSON.stringify({ version: 2, rules }));

function remote(extra: Partial<RuleSetOptions> = {}): RuleSetOptions {
  return {
    type: "remote",
    tag: "geo",
    format: "source",
    url: "http://10.0.0.1/geo.json",
    rules: [],
    ...extra,
  };
}

class MemoryCache {
  readonly map = new Map<string, SavedRuleSet>();
  loadRuleSet(tag: string) {
    return this.map.get(tag);
  }
  saveRuleSet(tag: string, saved: SavedRuleSet) {
    this.map.set(tag, saved);
  }
}

/** A fetch answering from a queue; records the requests. */
function queue(answers: (DownloadResult | Error)[]) {
  const requests: { url: string; etag?: string; lastModified?: string; detour?: string }[] = [];
  const fetch = (r: { url: string; etag?: string; lastModified?: string; detour?: string }) => {
    requests.push(r);
    const a = answers.shift();
    if (!a) return new Promise<DownloadResult>(() => {});
    return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
  };
  return { requests, fetch };
}

function suffixes(p: RuleSetPayload | undefined): string {
  return JSON.stringify(p?.rules.map((r) => (r.type === "default" ? r.binary?.domainText : "")));
}

Deno.test("`RuleSetManager` loads inline sets and refuses a broken local one at start", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.json`, `{"version": 2, "rules": [{"domain_regex": "("}]}`);
    const ok = new RuleSetManager({
      sets: [{ type: "inline", tag: "in", rules: [{ ...emptyHeadlessRule(), domain: ["a.com"] }] }],
      workingDirectory: dir,
      watch: false,
    });
    await ok.start();
    assert.deepEqual(ok.status().map((s) => [s.tag, s.loaded, s.origin]), [["in", true, "inline"]]);
    const bad = new RuleSetManager({
      sets: [{ type: "local", tag: "bad", path: "bad.json", format: "source", rules: [] }],
      workingDirectory: dir,
      watch: false,
    });
    await assert.rejects(
      bad.start(),
      /bad\.json\):1:43: rules\[0\]\.domain_regex: invalid regular expression "\("/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`RuleSetManager` reloads a local set when the file changes, and keeps it on a bad edit", async () => {
  const dir = await Deno.makeTempDir();
  const m = new RuleSetManager({
    sets: [{ type: "local", tag: "loc", path: "loc.json", format: "source", rules: [] }],
    workingDirectory: dir,
  });
  try {
    await Deno.writeFile(`${dir}/loc.json`, json([{ domain_suffix: "one.example" }]));
    await m.start();
    const updates: RuleSetPayload[] = [];
    m.onUpdate((p) => updates.push(p));
    assert.equal(suffixes(m.payload("loc")), '["domain_suffix=one.example"]');
    // An editor's save: write a new file and rename it over the old one.
    await Deno.writeFile(`${dir}/loc.json.tmp`, json([{ domain_suffix: "two.example" }]));
    await Deno.rename(`${dir}/loc.json.tmp`, `${dir}/loc.json`);
    for (let i = 0; i < 50 && updates.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(suffixes(updates.at(-1)), '["domain_suffix=two.example"]');
    await Deno.writeTextFile(`${dir}/loc.json`, "{ not json");
    for (let i = 0; i < 50 && !m.status()[0]!.error; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(m.status()[0]!.error!, /loc\.json/);
    assert.equal(suffixes(m.payload("loc")), '["domain_suffix=two.example"]', "kept");
  } finally {
    m.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`RuleSetManager` downloads a remote set, caches it with its ETag, and loads the cache at start", async () => {
  const cache = new MemoryCache();
  const first = new RuleSetManager({ sets: [remote()], workingDirectory: "/", cache });
  await first.start();
  assert.equal(first.payload("geo"), undefined, "nothing before the first download");
  const q = queue([{
    status: 200,
    url: "http://10.0.0.1/geo.json",
    etag: '"e1"',
    lastModified: "Tue, 01 Jul 2025 10:00:00 GMT",
    body: json([{ domain_suffix: "cn" }]),
  }]);
  const updates: RuleSetPayload[] = [];
  first.onUpdate((p) => updates.push(p));
  first.startUpdates(q.fetch);
  await first.update("geo");
  assert.equal(suffixes(updates[0]), '["domain_suffix=cn"]');
  first.close();
  assert.deepEqual(q.requests, [{ url: "http://10.0.0.1/geo.json" }]);
  const saved = cache.map.get("geo")!;
  assert.equal(saved.etag, '"e1"');
  assert.equal(saved.lastModified, "Tue, 01 Jul 2025 10:00:00 GMT");

  // A restart without network: the cached copy is used at once, and the next request is
  // conditional.
  const second = new RuleSetManager({
    sets: [remote({ update_interval: 1 })],
    workingDirectory: "/",
    cache,
  });
  await second.start();
  assert.equal(suffixes(second.payload("geo")), '["domain_suffix=cn"]');
  assert.equal(second.status()[0]!.origin, "cache");
  const q2 = queue([{ status: 304, url: "http://10.0.0.1/geo.json", body: new Uint8Array(0) }]);
  second.startUpdates(q2.fetch);
  await second.update("geo");
  second.close();
  assert.equal(q2.requests[0]!.etag, '"e1"');
  assert.equal(q2.requests[0]!.lastModified, "Tue, 01 Jul 2025 10:00:00 GMT");
  assert.equal(suffixes(second.payload("geo")), '["domain_suffix=cn"]');
});

Deno.test("`RuleSetManager` keeps the last good set when a download fails or is not a rule-set", async () => {
  const cache = new MemoryCache();
  const srs = writeSrs([{ ...emptyHeadlessRule(), domain_suffix: ["org"] }], 2);
  const m = new RuleSetManager({
    sets: [remote({ format: "binary", url: "http://10.0.0.1/geo.srs", download_detour: "proxy" })],
    workingDirectory: "/",
    cache,
  });
  await m.start();
  const q = queue([
    { status: 200, url: "http://10.0.0.1/geo.srs", body: srs },
    new Error("download http://10.0.0.1/geo.srs: no data for 20 s"),
    { status: 200, url: "http://10.0.0.1/geo.srs", body: srs.subarray(0, srs.length - 9) },
    { status: 200, url: "http://10.0.0.1/geo.srs", body: new Uint8Array(17 * 1024 * 1024) },
    { status: 404, url: "http://10.0.0.1/geo.srs", body: new Uint8Array(0) },
  ]);
  m.startUpdates(q.fetch);
  await m.update("geo");
  const good = m.payload("geo");
  assert.ok(good);
  assert.equal(q.requests[0]!.detour, "proxy");
  const errors: string[] = [];
  for (let i = 0; i < 4; i++) {
    await m.update("geo");
    errors.push(m.status()[0]!.error ?? "");
    assert.equal(m.payload("geo"), good, "the previous rules stay");
  }
  m.close();
  assert.match(errors[0]!, /no data for 20 s/);
  assert.match(
    errors[1]!,
    /rule-set "geo" \(http:\/\/10\.0\.0\.1\/geo\.srs\): corrupted compressed data/,
  );
  assert.match(errors[2]!, /the file is 17 MiB, over the 16 MiB limit/);
  assert.match(errors[3]!, /unexpected status 404/);
  assert.equal(cache.map.get("geo")!.content.length, srs.length, "the cache keeps the good copy");
});

Deno.test("`RuleSetManager` ignores an unusable cached copy and downloads again", async () => {
  const cache = new MemoryCache();
  cache.map.set("geo", { content: enc.encode("garbage"), lastUpdated: Date.now() });
  const m = new RuleSetManager({ sets: [remote()], workingDirectory: "/", cache });
  await m.start();
  assert.equal(m.payload("geo"), undefined);
  const q = queue([{ status: 200, url: "u", body: json([{ domain: "a.com" }]) }]);
  m.startUpdates(q.fetch);
  await m.update("geo");
  m.close();
  assert.equal(q.requests[0]!.etag, undefined, "no conditional request without a usable copy");
  assert.ok(m.payload("geo"));
});
