import assert from "node:assert/strict";
import { deflateSync, inflateSync } from "node:zlib";
import { newConnMetadata } from "../../src/route/metadata.ts";
import { compileRuleSet, type RuleSetRule } from "../../src/route/headless.ts";
import { MatchState } from "../../src/route/match_state.ts";
import { parseIp } from "../../src/net/ip.ts";
import { FormatError } from "../../src/ruleset/bytes.ts";
import { formatRuleSetSource, parseRuleSetSource } from "../../src/ruleset/source.ts";
import {
  downgradeVersion,
  readSrs,
  recoverLists,
  srsPayload,
  writeSrs,
} from "../../src/ruleset/srs.ts";

const FIXTURES = new URL("../fixtures/rule_set/", import.meta.url);
const fixture = (name: string) => Deno.readFileSync(new URL(name, FIXTURES));
const fixtureText = (name: string) => Deno.readTextFileSync(new URL(name, FIXTURES));

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function matches(rules: RuleSetRule[], init: { dst: string; domain?: string; port?: number }) {
  const compiled = compileRuleSet(rules, "test");
  const meta = newConnMetadata({
    id: 1,
    inbound: "tun-in",
    inboundType: "tun",
    network: "tcp",
    source: { addr: parseIp("172.19.0.1")!, port: 54321 },
    destination: { addr: parseIp(init.dst)!, port: init.port ?? 443 },
  });
  if (init.domain) meta.domain = init.domain;
  const st = new MatchState();
  return compiled.rules.some((r) => {
    st.reset();
    return r.match(meta, st);
  });
}

for (const name of ["v1_domain", "v2_domain", "v3_items", "v4_logical"]) {
  Deno.test(`\`readSrs()\` decodes the hand-written fixture ${name}.srs to its rules`, () => {
    const set = readSrs(fixture(`${name}.srs`));
    const text = formatRuleSetSource({ version: set.version, rules: recoverLists(set.rules) });
    assert.equal(text, fixtureText(`${name}.json`));
  });

  Deno.test(`\`writeSrs()\` compiles ${name}.json to the fixture's rule data byte for byte`, () => {
    const { set } = parseRuleSetSource(fixtureText(`${name}.json`), `${name}.json`);
    const written = writeSrs(set!.rules, set!.version);
    assert.equal(written[3], set!.version);
    assert.equal(hex(srsPayload(written)), hex(srsPayload(fixture(`${name}.srs`))));
  });
}

Deno.test("`readSrs()` keeps binary domain sets as tries that match like sing-box", () => {
  for (const name of ["v1_domain.srs", "v2_domain.srs"]) {
    const { rules } = readSrs(fixture(name));
    assert.ok(rules[0]!.type === "default" && rules[0]!.binary?.domain, name);
    for (const [domain, hit] of [["a.cn", true], ["cn", true], ["x.cn", true], ["a.cnn", false]]) {
      assert.equal(
        matches(rules, { dst: "8.8.8.8", domain: domain as string }),
        hit,
        domain as string,
      );
    }
  }
});

Deno.test("`readSrs()` reads the AdGuard fixture and matches its pattern", () => {
  const { version, rules } = readSrs(fixture("v2_adguard.srs"));
  assert.equal(version, 2);
  assert.equal(matches(rules, { dst: "8.8.8.8", domain: "ads.example" }), true);
  assert.equal(matches(rules, { dst: "8.8.8.8", domain: "x.ads.example" }), true);
  assert.equal(matches(rules, { dst: "8.8.8.8", domain: "bads.example" }), false);
  const patterns: string[] = [];
  recoverLists(rules, (p) => patterns.push(...p));
  assert.deepEqual(patterns, ["||ads.example^"]);
});

Deno.test("`readSrs()` v3 fixture: the inverted rule matches what the items do not", () => {
  const { rules } = readSrs(fixture("v3_items.srs"));
  // network_type never matches in tunbox, so the inverted rule matches every flow.
  assert.equal(matches(rules, { dst: "10.1.2.3" }), true);
  const compiled = compileRuleSet(rules, 'rule-set "v3"');
  assert.match(compiled.warnings[0]!, /"network_type" never matches/);
  assert.equal(
    compiled.rules[0]!.conditionText,
    "!(network=tcp domain_keyword=goog domain_regex=^ads\\. source_ip_cidr=<binary> ip_cidr=<binary> port=[443 80] port_range=1000:2000 network_type=wifi)",
  );
});

Deno.test("`readSrs()` refuses a file that is not a rule-set", () => {
  assert.throws(
    () => readSrs(new TextEncoder().encode('{"version": 1}')),
    /does not start with "SRS"/,
  );
  assert.throws(() => readSrs(new Uint8Array([0x53, 0x52])), /too short/);
});

Deno.test("`readSrs()` refuses an unknown version with the version in the message", () => {
  const b = fixture("v2_domain.srs").slice();
  b[3] = 6;
  assert.throws(
    () => readSrs(b),
    /unsupported version: 6 \(tunbox reads binary rule-sets up to version 5\)/,
  );
});

Deno.test("`readSrs()` refuses truncated files at every length", () => {
  const full = fixture("v3_items.srs");
  for (let n = 4; n < full.length; n++) {
    assert.throws(() => readSrs(full.subarray(0, n)), FormatError, `length ${n}`);
  }
});

Deno.test("`readSrs()` refuses truncated rule data with the offset", () => {
  const payload = srsPayload(fixture("v3_items.srs"));
  const cut = payload.subarray(0, 40);
  const b = new Uint8Array([0x53, 0x52, 0x53, 3, ...deflateSync(cut)]);
  assert.throws(() => readSrs(b), /^FormatError: read rule\[0\]: .*offset \d+.* left/);
});

Deno.test("`readSrs()` reports corrupted compressed data", () => {
  const b = fixture("v3_items.srs").slice();
  b[10]! ^= 0xff;
  b[20]! ^= 0xff;
  assert.throws(() => readSrs(b), /corrupted compressed data/);
});

Deno.test("`readSrs()` names an unknown item type and the item before it", () => {
  const data = new Uint8Array([0x01, 0x00, 0x01, 0x01, 0x03, 0x74, 0x63, 0x70, 0x40, 0xff, 0x00]);
  const b = new Uint8Array([0x53, 0x52, 0x53, 2, ...deflateSync(data)]);
  assert.throws(
    () => readSrs(b),
    /read rule\[0\]: unknown rule item type: 64 at offset 8, last type: 1/,
  );
});

Deno.test("`readSrs()` refuses counts larger than the data", () => {
  // 2^40 rules claimed in 8 bytes of data.
  const data = new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x00, 0xff]);
  const b = new Uint8Array([0x53, 0x52, 0x53, 2, ...deflateSync(data)]);
  assert.throws(
    () => readSrs(b),
    /rule count 1099511627776 at offset 0 is more than the 2 byte\(s\) left/,
  );
});

Deno.test("`readSrs()` stops at 64 MiB of decompressed data (zlib bomb)", () => {
  const bomb = deflateSync(new Uint8Array(65 * 1024 * 1024), { level: 9 });
  const b = new Uint8Array([0x53, 0x52, 0x53, 2, ...bomb]);
  assert.throws(() => readSrs(b), /decompresses to more than 64 MiB/);
});

Deno.test("`readSrs()` refuses logical rules nested too deep", () => {
  const data = [0x01];
  for (let i = 0; i < 100; i++) data.push(0x01, 0x00, 0x01);
  const b = new Uint8Array([0x53, 0x52, 0x53, 2, ...deflateSync(new Uint8Array(data))]);
  assert.throws(() => readSrs(b), /nested deeper than 64/);
});

Deno.test("`writeSrs()` refuses items newer than the version, as sing-box does", () => {
  const { set } = parseRuleSetSource(fixtureText("v3_items.json"), "v3.json");
  assert.throws(
    () => writeSrs(set!.rules, 2),
    /`network_type` rule item is only supported in version 3 or later/,
  );
});

Deno.test("`downgradeVersion()` writes version 4 and 3 sets as the oldest version that holds them", () => {
  const parse = (name: string) => parseRuleSetSource(fixtureText(name), name).set!.rules;
  assert.equal(downgradeVersion(4, parse("v2_domain.json")), 2);
  assert.equal(downgradeVersion(4, parse("v3_items.json")), 3);
  assert.equal(downgradeVersion(4, parse("v4_logical.json")), 4);
  assert.equal(downgradeVersion(1, parse("v2_domain.json")), 1);
});

Deno.test("version 5 (sing-box 1.14): `package_name_regex` is item 23, kept as 5, never matched", () => {
  const text = '{"version": 5, "rules": [{"package_name_regex": "^com\\\\.termux"}]}';
  const { set, errors } = parseRuleSetSource(text, "v5.json");
  assert.deepEqual(errors, []);
  assert.equal(downgradeVersion(5, set!.rules), 5);
  const bytes = writeSrs(set!.rules, 5);
  assert.equal(bytes[3], 5);
  // one default rule: item 23, one string "^com\.termux", final, not inverted
  const name = [...new TextEncoder().encode("^com\\.termux")];
  assert.deepEqual(
    [...inflateSync(bytes.subarray(4))],
    [1, 0, 23, 1, name.length, ...name, 0xff, 0],
  );
  assert.equal(
    formatRuleSetSource({ version: 5, rules: readSrs(bytes).rules }),
    '{\n  "version": 5,\n  "rules": [\n    {\n      "package_name_regex": "^com\\\\.termux"\n    }\n  ]\n}\n',
  );
  // Off Android the item never matches, like package_name.
  const rules = readSrs(bytes).rules;
  assert.match(
    compileRuleSet(rules, 'rule-set "v5"').warnings[0]!,
    /"package_name_regex" never matches/,
  );
  assert.equal(matches(rules, { dst: "10.1.2.3" }), false);
  assert.throws(
    () => writeSrs(set!.rules, 4),
    /`package_name_regex` rule item is only supported in version 5 or later/,
  );
  // A version 5 set without the new item is written as the version its items need.
  const plain = parseRuleSetSource('{"version": 5, "rules": [{"domain": "a.cn"}]}', "p.json");
  assert.equal(downgradeVersion(5, plain.set!.rules), 2);
});
