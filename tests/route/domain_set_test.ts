import assert from "node:assert/strict";
import { DomainKeywords, DomainSet } from "../../src/route/domain_set.ts";
import { compileGoRegex, DomainRegexes } from "../../src/config/go_regex.ts";

Deno.test("`DomainSet` matches `domain` entries exactly", () => {
  const set = new DomainSet(["localhost", "example.com"], []);
  assert.equal(set.match("localhost"), true);
  assert.equal(set.match("example.com"), true);
  assert.equal(set.match("www.example.com"), false);
  assert.equal(set.match("example.co"), false);
  assert.equal(set.match("xlocalhost"), false);
});

Deno.test("`DomainSet` suffix without a dot matches the name and its subdomains (sing-box 1.9)", () => {
  const set = new DomainSet([], ["x.com"]);
  const table: [string, boolean][] = [
    ["x.com", true],
    ["a.x.com", true],
    ["a.b.x.com", true],
    ["ax.com", false],
    ["x.com.cn", false],
    ["com", false],
    [".x.com", true],
  ];
  for (const [name, expected] of table) assert.equal(set.match(name), expected, name);
});

Deno.test("`DomainSet` suffix with a leading dot is a literal suffix", () => {
  const set = new DomainSet([], [".x.com"]);
  const table: [string, boolean][] = [
    ["x.com", false],
    ["a.x.com", true],
    ["a.b.x.com", true],
    [".x.com", true],
    ["ax.com", false],
  ];
  for (const [name, expected] of table) assert.equal(set.match(name), expected, name);
});

Deno.test("`DomainSet` compares entries as written, so capitals never match lowercased names", () => {
  const set = new DomainSet(["Example.com"], ["Google.com"]);
  assert.equal(set.match("example.com"), false);
  assert.equal(set.match("www.google.com"), false);
});

Deno.test("`DomainSet` with many suffixes finds the right one", () => {
  const suffixes = Array.from({ length: 1000 }, (_, i) => `site${i}.net`);
  const set = new DomainSet(["exact.org"], suffixes);
  assert.equal(set.match("a.b.site999.net"), true);
  assert.equal(set.match("site0.net"), true);
  assert.equal(set.match("site1000.net"), false);
  assert.equal(set.match("exact.org"), true);
  assert.equal(set.match("sub.exact.org"), false);
});

Deno.test("`DomainKeywords` matches substrings", () => {
  const kw = new DomainKeywords(["goog", "ads"]);
  assert.equal(kw.match("www.google.com"), true);
  assert.equal(kw.match("pageads.example"), true);
  assert.equal(kw.match("example.com"), false);
});

Deno.test("`compileGoRegex()` searches unanchored like Go's MatchString", () => {
  assert.equal(compileGoRegex("google").test("www.google.com"), true);
  assert.equal(compileGoRegex("^google").test("www.google.com"), false);
  assert.equal(compileGoRegex(`\\.cn$`).test("a.b.cn"), true);
});

Deno.test("`compileGoRegex()` turns leading inline flags into RegExp flags", () => {
  const re = compileGoRegex("(?i)^WWW\\.");
  assert.equal(re.flags, "i");
  assert.equal(re.test("www.example.com"), true);
  assert.equal(compileGoRegex("(?is)a.b").flags, "is");
});

Deno.test("`compileGoRegex()` rewrites \\A, \\z and (?P<name>)", () => {
  const re = compileGoRegex("\\Aapi\\.(?P<zone>[a-z]+)\\.example\\z");
  assert.equal(re.test("api.eu.example"), true);
  assert.equal(re.test("xapi.eu.example"), false);
  assert.equal(re.test("api.eu.example.com"), false);
  assert.equal(re.exec("api.eu.example")?.groups?.zone, "eu");
  // An escaped backslash before A is a literal backslash followed by "A".
  assert.equal(compileGoRegex("a\\\\A").source, "a\\\\A");
});

Deno.test("`compileGoRegex()` rejects unsupported RE2 syntax with the expression in the message", () => {
  assert.throws(() => compileGoRegex("(?U)a+"), /\(\?U\)/);
  assert.throws(() => compileGoRegex("a(?i)b"), /inline flags/);
  assert.throws(() => compileGoRegex("(?m)\\Aa"), /\(\?m\)/);
  assert.throws(() => compileGoRegex("a("), /Cannot compile domain_regex "a\("/);
});

Deno.test("`DomainRegexes` matches when any expression matches", () => {
  const re = new DomainRegexes(["^a\\.", "\\.b$"]);
  assert.equal(re.match("a.x"), true);
  assert.equal(re.match("x.b"), true);
  assert.equal(re.match("x.y"), false);
});

Deno.test("`DomainSet` built the version 1 way matches the same names", () => {
  const domains = ["example.com", "example.org"];
  const suffixes = [".com.cn", ".org.cn", "sagernet.org"];
  const names: [string, boolean][] = [
    ["example.com", true],
    ["example.org", true],
    ["example.cn", false],
    ["example.com.cn", true],
    ["example.org.cn", true],
    ["com.cn", false],
    ["sagernet.org", true],
    ["sing-box.sagernet.org", true],
    ["xsagernet.org", false],
  ];
  for (const legacy of [false, true]) {
    const set = new DomainSet(domains, suffixes, legacy);
    for (const [name, expected] of names) {
      assert.equal(set.match(name), expected, `${name} (legacy ${legacy})`);
    }
    assert.deepEqual(set.dump(), { domain: domains, domain_suffix: suffixes });
  }
});

Deno.test("`DomainSet.dump()` sorts by bytes and merges an exact name with its dotted suffix", () => {
  const set = new DomainSet(["b.com", "x.org"], [".x.org", "a.com"]);
  assert.deepEqual(set.dump(), { domain: ["b.com"], domain_suffix: ["a.com", "x.org"] });
});

Deno.test("`DomainSet` matches names with non-ASCII characters by their UTF-8 bytes", () => {
  const set = new DomainSet(["bücher.de"], ["例子.中国"]);
  assert.equal(set.match("bücher.de"), true);
  assert.equal(set.match("www.例子.中国"), true);
  assert.equal(set.match("例子.中国"), true);
  assert.equal(set.match("子.中国"), false);
  assert.equal(set.match("bucher.de"), false);
  assert.deepEqual(set.dump(), { domain: ["bücher.de"], domain_suffix: ["例子.中国"] });
});

Deno.test("`DomainSet` wraps a trie posted from another set", () => {
  const a = new DomainSet(["a.com"], ["b.org"], false, true);
  const b = new DomainSet(structuredClone(a.trie.data));
  assert.equal(b.match("x.b.org"), true);
  assert.equal(b.match("a.com"), true);
  assert.equal(b.match("x.a.com"), false);
});
