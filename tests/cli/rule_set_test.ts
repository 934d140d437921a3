/**
 * `tunbox rule-set ...` end to end: each runs `deno run -A main.ts rule-set ...` in a temporary
 * directory, and `check` on a config that names a broken local rule-set.
 */

import assert from "node:assert/strict";
import { readSrs, srsPayload } from "../../src/ruleset/srs.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURES = `${ROOT}tests/fixtures/rule_set/`;

async function tunbox(args: string[], cwd: string, input?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", `${ROOT}deno.json`, `${ROOT}main.ts`, ...args],
    cwd,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  if (input !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function inTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("`tunbox rule-set compile` and `decompile` round-trip the fixtures", async () => {
  await inTemp(async (dir) => {
    await Deno.copyFile(`${FIXTURES}v3_items.json`, `${dir}/items.json`);
    const c = await tunbox(["rule-set", "compile", "items.json"], dir);
    assert.equal(c.code, 0, c.stderr);
    const compiled = await Deno.readFile(`${dir}/items.srs`);
    assert.deepEqual(
      srsPayload(compiled),
      srsPayload(await Deno.readFile(`${FIXTURES}v3_items.srs`)),
    );
    assert.equal(compiled[3], 3);
    const d = await tunbox([
      "rule-set",
      "decompile",
      "-o",
      "back.json",
      `${FIXTURES}v4_logical.srs`,
    ], dir);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(
      await Deno.readTextFile(`${dir}/back.json`),
      await Deno.readTextFile(`${FIXTURES}v4_logical.json`),
    );
    const ag = await tunbox(["rule-set", "decompile", `${FIXTURES}v2_adguard.srs`], dir);
    assert.equal(ag.code, 1);
    assert.match(ag.stderr, /unable to decompile binary AdGuard rules to rule-set/);
  });
});

Deno.test("`tunbox rule-set match` prints the rules that match a domain or an IP", async () => {
  await inTemp(async (dir) => {
    const domain = await tunbox(["rule-set", "match", `${FIXTURES}v2_domain.srs`, "www.a.cn"], dir);
    assert.equal(domain.stdout, "match rules.[0]: domain/domain_suffix=<binary>\n");
    const miss = await tunbox(["rule-set", "match", `${FIXTURES}v2_domain.srs`, "a.com"], dir);
    assert.equal(miss.stdout, "");
    await Deno.writeTextFile(
      `${dir}/ip.json`,
      '{"version": 2, "rules": [{"ip_cidr": "10.0.0.0/8"}, {"domain": "x.com"}]}',
    );
    const ip = await tunbox(["rule-set", "match", "ip.json", "10.1.2.3"], dir);
    assert.equal(ip.stdout, "match rules.[0]: ip_cidr=10.0.0.0/8\n");
  });
});

Deno.test("`tunbox rule-set format` and `merge` write sing-box's form", async () => {
  await inTemp(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.json`, '{"rules": [{"domain": ["b.com"]}], "version": 1}');
    await Deno.writeTextFile(`${dir}/b.json`, '{"version": 3, "rules": [{"port": 443}]}');
    const f = await tunbox(["rule-set", "format", "-w", "a.json"], dir);
    assert.equal(f.code, 0, f.stderr);
    assert.equal(
      await Deno.readTextFile(`${dir}/a.json`),
      '{\n  "version": 1,\n  "rules": [\n    {\n      "domain": "b.com"\n    }\n  ]\n}\n',
    );
    const m = await tunbox(
      ["rule-set", "merge", "out/all.json", "-c", "b.json", "-c", "a.json"],
      dir,
    );
    assert.equal(m.code, 0, m.stderr);
    const merged = JSON.parse(await Deno.readTextFile(`${dir}/out/all.json`));
    assert.deepEqual(merged, { version: 3, rules: [{ domain: "b.com" }, { port: 443 }] });
  });
});

Deno.test("`tunbox rule-set upgrade` writes a version 1 set as the current version", async () => {
  await inTemp(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/old.json`,
      '{"version": 1, "rules": [{"domain_suffix": [".cn"], "ip_cidr": "10.0.0.0/8"}]}',
    );
    await Deno.writeTextFile(`${dir}/new.json`, '{"version": 3, "rules": [{"port": 443}]}');
    const expected = '{\n  "version": 5,\n  "rules": [\n    {\n      "domain_suffix": ".cn",\n' +
      '      "ip_cidr": "10.0.0.0/8"\n    }\n  ]\n}\n';
    const printed = await tunbox(["rule-set", "upgrade", "old.json"], dir);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stdout, expected + "\n");
    const written = await tunbox(["rule-set", "upgrade", "-w", "old.json"], dir);
    assert.equal(written.code, 0, written.stderr);
    assert.equal(await Deno.readTextFile(`${dir}/old.json`), expected);
    const current = await tunbox(["rule-set", "upgrade", "-w", "new.json"], dir);
    assert.equal(current.code, 0, current.stderr);
    assert.match(current.stderr, /new\.json: already up-to-date \(version 3\)/);
    assert.equal(
      await Deno.readTextFile(`${dir}/new.json`),
      '{"version": 3, "rules": [{"port": 443}]}',
    );
    const broken = await tunbox(["rule-set", "upgrade", "missing.json"], dir);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /^tunbox rule-set: .*missing\.json/);
  });
});

Deno.test("`tunbox rule-set convert` turns a domain list into a binary set", async () => {
  await inTemp(async (dir) => {
    await Deno.writeTextFile(`${dir}/list.txt`, "example.com\nfull:exact.org\n");
    const r = await tunbox(["rule-set", "convert", "-t", "domains", "list.txt"], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /list\.srs: 2 domain entries/);
    assert.equal(readSrs(await Deno.readFile(`${dir}/list.srs`)).rules.length, 1);
    const bad = await tunbox(["rule-set", "convert", "-t", "nope", "list.txt"], dir);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unsupported source type: nope/);
  });
});

Deno.test("`tunbox check` reports a broken local rule-set at the line that names it", async () => {
  await inTemp(async (dir) => {
    await Deno.writeTextFile(`${dir}/bad.srs`, "SRS\x07garbage");
    await Deno.writeTextFile(`${dir}/ok.json`, '{"version": 2, "rules": [{"domain": "a.com"}]}');
    await Deno.writeTextFile(
      `${dir}/config.json`,
      `{
  "outbounds": [{"type": "direct", "tag": "direct"}],
  "route": {
    "rule_set": [
      {"type": "local", "tag": "ok", "path": "ok.json"},
      {"type": "local", "tag": "bad", "path": "bad.srs"},
      {"type": "local", "tag": "gone", "path": "missing.json"}
    ],
    "rules": [{"rule_set": ["ok", "bad", "gone"], "outbound": "direct"}]
  }
}`,
    );
    const r = await tunbox(["check"], dir);
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 2, r.stderr);
    assert.match(
      lines[0]!,
      /^config\.json:6:47: route\.rule_set\[1\]\.path: rule-set "bad" \(.*bad\.srs\): unsupported version: 7/,
    );
    assert.match(
      lines[1]!,
      /^config\.json:7:48: route\.rule_set\[2\]\.path: rule-set "gone" \(.*missing\.json\): cannot read the file: no such file/,
    );
  });
});
