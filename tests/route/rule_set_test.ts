import assert from "node:assert/strict";
import { emptyHeadlessRule } from "../../src/config/decode_rule_set.ts";
import type { HeadlessDefaultRule } from "../../src/config/types.ts";
import type { RuleSetRule } from "../../src/route/headless.ts";
import { compileRuleSet, extractIpRanges, prebuildRules } from "../../src/route/headless.ts";
import { Router } from "../../src/route/router.ts";
import { compileRules } from "../../src/route/rule.ts";
import { RuleSetRegistry } from "../../src/route/rule_set.ts";
import { flow, logical, routeTo, rule } from "./_helpers.ts";

function headless(fields: Partial<HeadlessDefaultRule>): HeadlessDefaultRule {
  return { ...emptyHeadlessRule(), ...fields };
}

function registry(sets: Record<string, RuleSetRule[]>): RuleSetRegistry {
  const reg = new RuleSetRegistry(Object.keys(sets));
  for (const [tag, rules] of Object.entries(sets)) reg.update({ tag, rules });
  return reg;
}

const OUTBOUNDS = [
  { type: "direct" as const, tag: "proxy" },
  { type: "direct" as const, tag: "direct" },
];

Deno.test("`rule_set` matches when a rule of the set matches", () => {
  const ruleSets = registry({
    cn: [headless({ domain_suffix: ["cn"] }), headless({ ip_cidr: ["10.0.0.0/8"] })],
  });
  const { rules } = compileRules([rule({ rule_set: ["cn"] })], { ruleSets });
  assert.equal(rules[0]!.match(flow("1.1.1.1:443", { domain: "www.example.cn" })), true);
  assert.equal(rules[0]!.match(flow("10.2.3.4:443")), true);
  assert.equal(rules[0]!.match(flow("1.1.1.1:443", { domain: "example.com" })), false);
  assert.equal(rules[0]!.conditionText, "rule_set=cn");
});

Deno.test("`rule_set` rules merge into the including rule's address group", () => {
  // sing-box: the rule's own domain item and the set's ip_cidr item are one OR group.
  const ruleSets = registry({ ips: [headless({ ip_cidr: ["10.0.0.0/8"] })] });
  const { rules } = compileRules([rule({ domain: ["a.com"], rule_set: ["ips"] })], { ruleSets });
  const r = rules[0]!;
  assert.equal(r.match(flow("1.1.1.1:443", { domain: "a.com" })), true, "domain alone");
  assert.equal(r.match(flow("10.0.0.1:443")), true, "set's ip_cidr alone");
  assert.equal(r.match(flow("1.1.1.1:443", { domain: "b.com" })), false);
});

Deno.test("`rule_set` rules share the port group with the including rule", () => {
  const ruleSets = registry({ web: [headless({ domain: ["a.com"], port: [443] })] });
  const { rules } = compileRules([rule({ port: [80], rule_set: ["web"] })], { ruleSets });
  // The outer port 80 satisfies the set rule's port group too.
  assert.equal(rules[0]!.match(flow("1.1.1.1:80", { domain: "a.com" })), true);
  assert.equal(rules[0]!.match(flow("1.1.1.1:443", { domain: "a.com" })), true);
  assert.equal(rules[0]!.match(flow("1.1.1.1:8080", { domain: "a.com" })), false);
});

Deno.test("`rule_set_ip_cidr_match_source` makes the set's ip_cidr match the source", () => {
  const ruleSets = registry({ lan: [headless({ ip_cidr: ["192.168.0.0/16"] })] });
  const { rules } = compileRules([
    rule({ rule_set: ["lan"], rule_set_ip_cidr_match_source: true }),
    rule({ rule_set: ["lan"] }),
  ], { ruleSets });
  const f = flow("8.8.8.8:53", { src: "192.168.1.5:4000" });
  assert.equal(rules[0]!.match(f), true);
  assert.equal(rules[1]!.match(f), false);
  assert.equal(rules[0]!.match(flow("192.168.1.1:53", { src: "10.0.0.1:4000" })), false);
});

Deno.test("a `rule_set` logical rule and `invert` evaluate like sing-box", () => {
  const ruleSets = registry({
    s: [{
      type: "logical",
      mode: "and",
      rules: [headless({ network: ["tcp"] }), headless({ port: [22], invert: true })],
    }],
    not443: [headless({ port: [443], invert: true })],
  });
  const { rules } = compileRules([rule({ rule_set: ["s"] }), rule({ rule_set: ["not443"] })], {
    ruleSets,
  });
  assert.equal(rules[0]!.match(flow("1.1.1.1:80")), true);
  assert.equal(rules[0]!.match(flow("1.1.1.1:22")), false);
  assert.equal(rules[0]!.match(flow("1.1.1.1:80", { network: "udp" })), false);
  assert.equal(rules[1]!.match(flow("1.1.1.1:80")), true);
  assert.equal(rules[1]!.match(flow("1.1.1.1:443")), false);
});

Deno.test("a rule-set that has not loaded matches nothing, and updates apply without recompiling", () => {
  const ruleSets = new RuleSetRegistry(["remote"]);
  const router = new Router({
    rules: [rule({ rule_set: ["remote"] }, routeTo("direct"))],
    outbounds: OUTBOUNDS,
    ruleSets,
  });
  const decide = (dst: string, domain?: string) => {
    const m = flow(dst, domain ? { domain } : {});
    const d = router.matchSync(m)!;
    return d.action === "route" ? d.outbound : d.action;
  };
  assert.equal(decide("1.1.1.1:443", "a.cn"), "proxy");
  ruleSets.update({ tag: "remote", rules: [headless({ domain_suffix: ["cn"] })] });
  assert.equal(decide("1.1.1.1:443", "a.cn"), "direct");
  ruleSets.update({ tag: "remote", rules: [headless({ domain_suffix: ["org"] })] });
  assert.equal(decide("1.1.1.1:443", "a.cn"), "proxy");
});

Deno.test("`compileRules()` names an unknown rule-set", () => {
  assert.throws(
    () => compileRules([rule({ rule_set: ["nope"] })], { ruleSets: new RuleSetRegistry() }),
    /route\.rules\[0\]\.rule_set\[0\]: rule-set "nope" not found/,
  );
});

Deno.test("`prebuildRules()` keeps matches and descriptions of source lists", () => {
  const rules: RuleSetRule[] = [
    headless({ domain: ["a.com"], domain_suffix: ["b.org"], ip_cidr: ["10.0.0.0/8", "1.1.1.1"] }),
    { type: "logical", mode: "or", rules: [headless({ source_ip_cidr: ["172.19.0.0/30"] })] },
  ];
  const built = prebuildRules(rules, "rules", true);
  const r0 = built[0]!;
  assert.ok(r0.type === "default" && r0.domain.length === 0 && r0.binary?.domain);
  assert.ok(r0.binary!.ip!.v4First.buffer instanceof SharedArrayBuffer);
  const ruleSets = registry({ a: rules, b: built });
  const { rules: compiled } = compileRules(
    [rule({ rule_set: ["a"] }), rule({ rule_set: ["b"] })],
    { ruleSets },
  );
  for (
    const f of [
      flow("1.1.1.1:1", { domain: "x.b.org" }),
      flow("1.1.1.1:1"),
      flow("8.8.8.8:1", { domain: "a.com" }),
      flow("8.8.8.8:1"),
      flow("8.8.8.8:1", { src: "9.9.9.9:1" }),
    ]
  ) {
    assert.equal(compiled[0]!.match(f), compiled[1]!.match(f));
  }
  assert.equal(
    compileRuleSet(built, "b").rules[0]!.conditionText,
    "domain=a.com domain_suffix=b.org ip_cidr=[10.0.0.0/8 1.1.1.1]",
  );
  assert.deepEqual(
    extractIpRanges(built).map((r) => [r.first, r.last]),
    [[0x01010101n, 0x01010101n], [0x0a000000n, 0x0affffffn]],
  );
});

Deno.test("a logical route rule resets the flags for each sub-rule", () => {
  const ruleSets = registry({ ips: [headless({ ip_cidr: ["10.0.0.0/8"] })] });
  const { rules } = compileRules([
    logical("and", [rule({ domain: ["a.com"] }), rule({ rule_set: ["ips"] })]),
  ], { ruleSets });
  // Each sub-rule stands alone: the domain does not satisfy the set's address group.
  assert.equal(rules[0]!.match(flow("1.1.1.1:1", { domain: "a.com" })), false);
  assert.equal(rules[0]!.match(flow("10.1.1.1:1", { domain: "a.com" })), true);
});

Deno.test("a traced `rule_set` item lists the set's rules tried", () => {
  const ruleSets = registry({ s: [headless({ port: [80] }), headless({ domain: ["a.com"] })] });
  const router = new Router({
    rules: [rule({ rule_set: ["s"] }, routeTo("direct"))],
    outbounds: OUTBOUNDS,
    ruleSets,
  });
  const trace = { steps: [] as import("../../src/route/router.ts").RuleStep[] };
  router.matchSync(flow("1.1.1.1:443", { domain: "a.com" }), trace);
  assert.deepEqual(trace.steps[0]!.items, [{
    text: "rule_set=s",
    matched: true,
    items: [{
      text: "rule-set s",
      matched: true,
      items: [
        { text: "port=80", matched: false, items: [{ text: "port=80", matched: false }] },
        {
          text: "domain=a.com",
          matched: true,
          items: [{ text: "domain=a.com", matched: true }],
        },
      ],
    }],
  }]);
});
