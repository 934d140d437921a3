import assert from "node:assert/strict";
import type { DnsDefaultRule, DnsRuleAction, HeadlessDefaultRule } from "../../src/config/types.ts";
import { emptyHeadlessRule } from "../../src/config/decode_rule_set.ts";
import { compileDnsRules } from "../../src/dns/rule.ts";
import { dnsMetadata } from "../../src/dns/router.ts";
import { parseIp } from "../../src/net/ip.ts";
import { RuleSetRegistry } from "../../src/route/rule_set.ts";
import { emptyMatch } from "../route/_helpers.ts";
import { flowMeta } from "./_helpers.ts";

const A = 1;
const route: DnsRuleAction = { action: "route", server: "up" };

function rule(fields: Partial<DnsDefaultRule>): DnsDefaultRule {
  return {
    type: "default",
    ...emptyMatch(),
    query_type: [],
    outbound: [],
    ...fields,
    action: route,
  } as DnsDefaultRule;
}

function headless(fields: Partial<HeadlessDefaultRule>): HeadlessDefaultRule {
  return { ...emptyHeadlessRule(), ...fields };
}

const meta = (name: string) => dnsMetadata(flowMeta(), name, A);

Deno.test("DNS `rule_set` with domain rules matches the question", () => {
  const sets = new RuleSetRegistry(["cn"]);
  sets.update({ tag: "cn", rules: [headless({ domain_suffix: ["cn"] })] });
  const r = compileDnsRules([rule({ rule_set: ["cn"] })], [], sets)[0]!;
  assert.equal(r.addressLimited, false);
  assert.equal(r.text, "rule_set=cn => route(up)");
  assert.equal(r.match(meta("www.example.cn"), A), true);
  assert.equal(r.match(meta("example.com"), A), false);
});

Deno.test("DNS `rule_set` with ip_cidr rules checks the response (sing-box address limit)", () => {
  const sets = new RuleSetRegistry(["geoip"]);
  const r = compileDnsRules([rule({ rule_set: ["geoip"] })], [], sets)[0]!;
  // Not loaded yet: not address limited, and the empty set matches nothing.
  assert.equal(r.addressLimited, false);
  assert.equal(r.match(meta("a.test"), A), false);
  sets.update({ tag: "geoip", rules: [headless({ ip_cidr: ["10.0.0.0/8"] })] });
  assert.equal(r.addressLimited, true);
  // Before the response the set's ip_cidr is not evaluated, so the request matches.
  assert.equal(r.match(meta("a.test"), A), true);
  assert.equal(r.acceptResponse(meta("a.test"), A, [parseIp("10.1.1.1")!]), true);
  assert.equal(r.acceptResponse(meta("a.test"), A, [parseIp("192.0.2.1")!]), false);
  assert.equal(r.acceptResponse(meta("a.test"), A, []), false);
});

Deno.test("DNS `rule_set_ip_cidr_accept_empty` accepts an answer without addresses", () => {
  const sets = new RuleSetRegistry(["geoip"]);
  sets.update({ tag: "geoip", rules: [headless({ ip_cidr: ["10.0.0.0/8"] })] });
  const r = compileDnsRules(
    [rule({ rule_set: ["geoip"], rule_set_ip_cidr_accept_empty: true })],
    [],
    sets,
  )[0]!;
  assert.equal(r.acceptResponse(meta("a.test"), A, []), true);
  assert.equal(r.acceptResponse(meta("a.test"), A, [parseIp("192.0.2.1")!]), false);
});

Deno.test("DNS `rule_set_ip_cidr_match_source` matches the set's ip_cidr on the client", () => {
  const sets = new RuleSetRegistry(["lan"]);
  sets.update({ tag: "lan", rules: [headless({ ip_cidr: ["172.19.0.0/30"] })] });
  const r = compileDnsRules(
    [rule({ rule_set: ["lan"], rule_set_ip_cidr_match_source: true })],
    [],
    sets,
  )[0]!;
  // flowMeta's source is 172.19.0.1: a request rule, not an address-limited one.
  assert.equal(r.addressLimited, false);
  assert.equal(r.match(meta("a.test"), A), true);
});
