import assert from "node:assert/strict";
import { Diagnostics } from "../../src/config/diagnostic.ts";
import { parseJsonc, toPlain } from "../../src/config/jsonc.ts";
import { mergeInto } from "../../src/config/merge.ts";
import { loadConfig } from "../../src/config/load.ts";
import { at } from "./_helpers.ts";

function node(text: string, file: string) {
  const diag = new Diagnostics();
  const n = parseJsonc(text, file, diag);
  assert.ok(n);
  return n;
}

Deno.test("mergeInto() merges objects key by key and concatenates lists, as badjson.MergeJSON", () => {
  const diag = new Diagnostics();
  const merged = mergeInto(
    node('{"log": {"level": "info"}, "outbounds": [{"tag": "a"}], "route": {"final": "a"}}', "1"),
    node('{"log": {"timestamp": true}, "outbounds": [{"tag": "b"}], "inbounds": []}', "2"),
    diag,
  );
  assert.deepEqual(toPlain(merged), {
    log: { level: "info", timestamp: true },
    outbounds: [{ tag: "a" }, { tag: "b" }],
    route: { final: "a" },
    inbounds: [],
  });
  assert.deepEqual(diag.errors, []);
});

Deno.test("mergeInto() keeps the earlier scalar, as sing-box does", () => {
  const diag = new Diagnostics();
  const merged = mergeInto(
    node('{"log": {"level": "info"}}', "1"),
    node('{"log": {"level": "debug"}}', "2"),
    diag,
  );
  assert.deepEqual(toPlain(merged), { log: { level: "info" } });
});

Deno.test("mergeInto() appends a single value to a list", () => {
  const diag = new Diagnostics();
  const merged = mergeInto(node('{"a": [1]}', "1"), node('{"a": 2}', "2"), diag);
  assert.deepEqual(toPlain(merged), { a: [1, 2] });
});

Deno.test("mergeInto() refuses to merge a non-object into an object", () => {
  const diag = new Diagnostics();
  mergeInto(node('{"route": {"final": "a"}}', "1.json"), node('{"route": [1]}', "2.json"), diag);
  assert.deepEqual(diag.errors.map((e) => e.format()), [
    "2.json:1:11: route: cannot merge a list into the object at 1.json:1:11",
  ]);
});

async function withDir(files: Record<string, string>, f: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-config-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadConfig() merges -c files in command-line order and keeps positions per file", async () => {
  const a =
    '{\n  "outbounds": [{"type": "socks", "tag": "proxy", "server": "127.0.0.1"}],\n  "route": {"final": "directt"}\n}';
  await withDir({
    "b.json": '{"outbounds": [{"type": "direct", "tag": "direct"}]}',
    "a.json": a,
  }, async (dir) => {
    const r = await loadConfig([{ type: "file", path: `${dir}/b.json` }, {
      type: "file",
      path: `${dir}/a.json`,
    }]);
    assert.deepEqual(r.files, [`${dir}/b.json`, `${dir}/a.json`]);
    assert.deepEqual(r.errors.map((e) => e.format()), [
      `${dir}/a.json:${at(a, '{"type"')}: outbounds[1]: missing "server_port"`,
      `${dir}/a.json:${
        at(a, '"directt"')
      }: route.final: unknown outbound "directt", did you mean "direct"?`,
    ]);
  });
});

Deno.test("loadConfig() with a directory reads *.json and *.jsonc in name order", async () => {
  await withDir({
    "20-b.jsonc": '# second\n{"outbounds": [{"type": "block", "tag": "b"}]}',
    "10-a.json": '{"outbounds": [{"type": "direct", "tag": "a"}], "log": {"level": "warn"}}',
    "30-c.json": '{"log": {"level": "debug"}, "route": {"final": "b"}}',
    "notes.txt": "not json",
  }, async (dir) => {
    const r = await loadConfig([{ type: "directory", path: dir }]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.files.map((f) => f.slice(dir.length + 1)), [
      "10-a.json",
      "20-b.jsonc",
      "30-c.json",
    ]);
    assert.deepEqual(r.options!.outbounds.map((o) => o.tag), ["a", "b"]);
    // The first file's scalar wins (badjson keeps the value already merged).
    assert.equal(r.options!.log.level, "warn");
    assert.equal(r.options!.route.final, "b");
  });
});

Deno.test("loadConfig() reports duplicate tags across files at the second file", async () => {
  assert.equal(at('{"outbounds": [{"type": "direct", "tag": "x"}]}', '"x"'), "1:42");
  await withDir({
    "1.json": '{"outbounds": [{"type": "direct", "tag": "x"}]}',
    "2.json": '{"outbounds": [{"type": "direct", "tag": "x"}]}',
  }, async (dir) => {
    const r = await loadConfig([{ type: "directory", path: dir }]);
    assert.deepEqual(r.errors.map((e) => e.format()), [
      `${dir}/2.json:1:42: outbounds[1].tag: duplicate outbound tag "x" (first used at ${dir}/1.json:1:42)`,
    ]);
  });
});

Deno.test("loadConfig() reports unreadable, invalid UTF-8, oversized and missing sources", async () => {
  await withDir({ "ok.json": "{}" }, async (dir) => {
    await Deno.writeFile(
      `${dir}/bad.json`,
      new Uint8Array([0x7b, 0x0a, 0x22, 0xc3, 0x28, 0x22, 0x7d]),
    );
    const big = await Deno.open(`${dir}/big.json`, { write: true, create: true });
    await big.truncate(17 * 1024 * 1024);
    big.close();
    const r = await loadConfig([
      { type: "file", path: `${dir}/bad.json` },
      { type: "file", path: `${dir}/big.json` },
      { type: "file", path: `${dir}/missing.json` },
      { type: "file", path: `${dir}/ok.json` },
    ]);
    assert.deepEqual(r.errors.map((e) => e.format()), [
      `${dir}/bad.json:2:2: the file is not valid UTF-8 (byte 0xc3 at offset 3)`,
      `${dir}/big.json: the file is too large (17825792 bytes; the limit is 16777216)`,
      `${dir}/missing.json: cannot read config: no such file`,
    ]);
    assert.equal(r.options, undefined);
  });
});

Deno.test("loadConfig() reads text sources", async () => {
  const r = await loadConfig([{
    type: "text",
    name: "inline",
    text: '{"log": {"level": "error"}}',
  }]);
  assert.deepEqual(r.options?.log, { level: "error" });
});
