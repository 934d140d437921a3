import assert from "node:assert/strict";
import { formatRuleSetSource, goJsonString, parseRuleSetSource } from "../../src/ruleset/source.ts";

function errors(text: string): string[] {
  return parseRuleSetSource(text, "set.json").errors.map((e) => e.format());
}

Deno.test("`parseRuleSetSource()` requires a known version", () => {
  assert.deepEqual(errors(`{"rules": []}`), [
    'set.json:1:1: (root): missing rule-set version ("version": 1 to 5)',
  ]);
  assert.deepEqual(errors(`{"version": 6, "rules": []}`), [
    "set.json:1:13: version: unknown rule-set version: 6 (tunbox reads versions 1 to 5)",
  ]);
  assert.deepEqual(errors(`{"version": 0}`), ["set.json:1:13: version: missing rule-set version"]);
});

Deno.test("`parseRuleSetSource()` reports bad rule fields at their position", () => {
  const text = `{
  "version": 2,
  "rules": [
    { "domain": ["a.com", ""], "ip_cidr": "10.0.0/8" },
    { "domain_regex": "(" },
    { "port_range": "5:1", "network": "tcpp" },
    { "inbound": "tun-in" },
    {},
    { "type": "logical", "mode": "xor", "rules": [] }
  ]
}`;
  assert.deepEqual(errors(text), [
    "set.json:4:27: rules[0].domain[1]: empty item is not allowed",
    'set.json:4:43: rules[0].ip_cidr: invalid prefix "10.0.0/8": not an IPv4 or IPv6 address',
    'set.json:5:23: rules[1].domain_regex: invalid regular expression "(": Invalid regular expression: /(/: Unterminated group',
    'set.json:6:21: rules[2].port_range: invalid range "5:1": start 5 is after end 1',
    'set.json:6:39: rules[2].network: invalid value "tcpp"; expected one of "tcp", "udp", "icmp"; did you mean "tcp"?',
    'set.json:7:7: rules[3].inbound: unknown field "inbound" in a rule-set rule',
    "set.json:8:5: rules[4]: missing conditions: the rule has no match fields",
    'set.json:9:5: rules[5]: missing conditions: "rules" is empty',
    'set.json:9:34: rules[5].mode: invalid value "xor"; expected one of "and", "or"; did you mean "or"?',
  ]);
});

Deno.test("`parseRuleSetSource()` accepts comments and one value for a list", () => {
  const { set, errors } = parseRuleSetSource(
    `// geo\n{"version": 3, "rules": [{"domain_suffix": "cn" /* all */}]}`,
    "x.json",
  );
  assert.deepEqual(errors, []);
  assert.deepEqual(set!.rules[0]!.type === "default" && set!.rules[0]!.domain_suffix, ["cn"]);
});

Deno.test('`parseRuleSetSource()` reads `network` as route rules do: "" kept with a warning, "tcp,udp" split', () => {
  const { set, errors, warnings } = parseRuleSetSource(
    `{"version": 3, "rules": [{"network": "", "domain": "a.com"}, {"network": "tcp,udp", "port": 53}]}`,
    "x.json",
  );
  assert.deepEqual(errors, []);
  assert.deepEqual(
    set!.rules.map((r) => r.type === "default" && r.network),
    [[""], ["tcp", "udp"]],
  );
  assert.deepEqual(warnings.map((w) => w.format().replace(/: .*$/s, "")), [
    "x.json:1:38",
    "x.json:1:74",
  ]);
});

Deno.test("`formatRuleSetSource()` writes sing-box's encoder form", () => {
  const { set } = parseRuleSetSource(
    `{"rules": [{"invert": true, "port": [53], "query_type": [1, "aaaa", 9999]}], "version": 1}`,
    "x.json",
  );
  assert.equal(
    formatRuleSetSource(set!),
    `{
  "version": 1,
  "rules": [
    {
      "query_type": [
        "A",
        "AAAA",
        9999
      ],
      "port": 53,
      "invert": true
    }
  ]
}
`,
  );
});

Deno.test("`goJsonString()` escapes as Go's encoder does", () => {
  assert.equal(
    goJsonString('a"\\\n<&>\u2028\u0001é'),
    '"a\\"\\\\\\n\\u003c\\u0026\\u003e\\u2028\\u0001é"',
  );
});
