import assert from "node:assert/strict";
import type { DnsDefaultRule, DnsRule, DnsRuleAction } from "../../src/config/types.ts";
import { compileDnsRules } from "../../src/dns/rule.ts";
import { dnsMetadata, lookupMetadata } from "../../src/dns/router.ts";
import { parseIp, parsePrefix } from "../../src/net/ip.ts";
import { emptyMatch } from "../route/_helpers.ts";
import { flowMeta } from "./_helpers.ts";

const A = 1, AAAA = 28, TXT = 16;
const route: DnsRuleAction = { action: "route", server: "up" };

function rule(fields: Partial<DnsDefaultRule>, action: DnsRuleAction = route): DnsDefaultRule {
  return {
    type: "default",
    ...emptyMatch(),
    query_type: [],
    outbound: [],
    ...fields,
    action,
  } as DnsDefaultRule;
}

function one(r: DnsRule, warnings: string[] = []) {
  return compileDnsRules([r], warnings)[0]!;
}

const meta = (name: string, qtype: number) => dnsMetadata(flowMeta(), name, qtype);

Deno.test("DNS rule items: query_type by name or number, domain of the question", () => {
  const r = one(rule({ query_type: ["AAAA", 16], domain_suffix: ["example.com"] }));
  assert.equal(r.text, "query_type=[AAAA TXT] domain_suffix=example.com => route(up)");
  assert.equal(r.match(meta("www.example.com", AAAA), AAAA), true);
  assert.equal(r.match(meta("www.example.com", TXT), TXT), true);
  assert.equal(r.match(meta("www.example.com", A), A), false);
  assert.equal(r.match(meta("example.org", AAAA), AAAA), false);
  assert.throws(
    () => one(rule({ query_type: ["NOPE"] })),
    /dns\.rules\[0\]\.query_type\[0\]: unknown query type "NOPE"/,
  );
});

Deno.test("DNS rule items: ip_version follows the question type; the destination is cleared", () => {
  const v6 = one(rule({ ip_version: 6 }));
  assert.equal(v6.match(meta("x.test", AAAA), AAAA), true);
  assert.equal(v6.match(meta("x.test", A), A), false);
  // The hijacked flow went to 10.0.0.1:53, but DNS rules do not see the server's address.
  const port = one(rule({ port: [53] }));
  assert.equal(port.match(meta("x.test", A), A), false);
  const inbound = one(rule({ inbound: ["tun-in"], network: ["udp"] }));
  assert.equal(inbound.match(meta("x.test", A), A), true);
  // Lookups carry no flow: inbound, network and query_type items do not match them.
  assert.equal(inbound.match(lookupMetadata("x.test"), 0), false);
  assert.equal(one(rule({ query_type: ["A"] })).match(lookupMetadata("x.test"), 0), false);
  assert.equal(one(rule({ domain: ["x.test"] })).match(lookupMetadata("x.test"), 0), true);
});

Deno.test("DNS rule invert and logical rules", () => {
  const inv = one(rule({ domain: ["x.test"], invert: true }));
  assert.equal(inv.text, "!(domain=x.test) => route(up)");
  assert.equal(inv.match(meta("x.test", A), A), false);
  assert.equal(inv.match(meta("y.test", A), A), true);
  const or = one({
    type: "logical",
    mode: "or",
    rules: [rule({ domain: ["x.test"] }), rule({ query_type: ["TXT"] })],
    action: { action: "reject", method: "default" },
  });
  assert.equal(or.text, "domain=x.test || query_type=TXT => reject");
  assert.equal(or.match(meta("x.test", A), A), true);
  assert.equal(or.match(meta("y.test", TXT), TXT), true);
  assert.equal(or.match(meta("y.test", A), A), false);
});

Deno.test("DNS address filter: matched on the request, accepted on the response", () => {
  const r = one(rule({ domain_suffix: ["test"], ip_cidr: [parsePrefix("10.0.0.0/8")!] }));
  assert.equal(r.addressLimited, true);
  assert.equal(r.text, "domain_suffix=test ip_cidr=10.0.0.0/8 => route(up)");
  const m = meta("x.test", A);
  assert.equal(r.match(m, A), true);
  assert.equal(r.match(meta("x.org", A), A), false);
  assert.equal(r.acceptResponse(m, A, [parseIp("10.1.2.3")!]), true);
  assert.equal(r.acceptResponse(m, A, [parseIp("192.0.2.1")!, parseIp("10.9.9.9")!]), true);
  assert.equal(r.acceptResponse(m, A, [parseIp("192.0.2.1")!]), false);
  assert.equal(r.acceptResponse(m, A, []), false);
  const priv = one(rule({ ip_is_private: true }));
  assert.equal(priv.acceptResponse(m, A, [parseIp("192.168.1.1")!]), true);
  assert.equal(priv.acceptResponse(m, A, [parseIp("8.8.8.8")!]), false);
  const any = one(rule({ ip_accept_any: true }));
  assert.equal(any.acceptResponse(m, A, [parseIp("8.8.8.8")!]), true);
  assert.equal(any.acceptResponse(m, A, []), false);
  // Inverted: the request always passes, the response decides.
  const inv = one(rule({ ip_cidr: [parsePrefix("10.0.0.0/8")!], invert: true }));
  assert.equal(inv.match(m, A), true);
  assert.equal(inv.acceptResponse(m, A, [parseIp("10.0.0.1")!]), false);
  assert.equal(inv.acceptResponse(m, A, [parseIp("192.0.2.1")!]), true);
});

Deno.test("DNS rules report items tunbox cannot evaluate", () => {
  const warnings: string[] = [];
  const out = one(rule({ outbound: ["proxy"] }), warnings);
  assert.equal(out.match(lookupMetadata("x.test"), 0), false);
  const byProxy = lookupMetadata("x.test");
  byProxy.outbound = "proxy";
  assert.equal(out.match(byProxy, 0), true, "the lookup the proxy outbound's dial makes");
  byProxy.outbound = "direct";
  assert.equal(out.match(byProxy, 0), false);
  assert.equal(one(rule({ outbound: ["any"] })).match(byProxy, 0), true, "any outbound");
  const nested = one({
    type: "logical",
    mode: "and",
    rules: [rule({ ip_cidr: [parsePrefix("10.0.0.0/8")!] })],
    action: route,
  }, warnings);
  assert.equal(nested.match(meta("x.test", A), A), false);
  const proc = one(rule({ package_name: ["com.android.chrome"] }), warnings);
  assert.equal(proc.match(meta("x.test", A), A), false);
  assert.equal(warnings.length, 3);
  assert.match(warnings[0]!, /"outbound" is deprecated in sing-box 1\.12\.0/);
  assert.match(warnings[1]!, /never match inside a logical DNS rule/);
  assert.match(warnings[2]!, /"package_name" never matches in tunbox/);
});
