/**
 * What the DNS module would refuse, `check` refuses first, at the value that causes it.
 */

import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";
import { at } from "./_helpers.ts";

function errors(text: string): string[] {
  return decodeConfigText(text, "t.json", { os: "linux" }).errors.map((e) => e.format());
}

function warnings(text: string): string[] {
  return decodeConfigText(text, "t.json", { os: "linux" }).warnings.map((e) => e.format());
}

const OUT =
  `"outbounds": [{"type": "socks", "tag": "proxy", "server": "127.0.0.1", "server_port": 1080},
  {"type": "direct", "tag": "direct"}]`;

Deno.test("a DNS server named by a domain needs something to resolve it", () => {
  const text = `{${OUT}, "dns": {"servers": [
  {"type": "udp", "tag": "g", "server": "dns.google"}]}}`;
  assert.deepEqual(errors(text), [
    `t.json:${
      at(text, '"dns.google"')
    }: dns.servers[0].server: server "dns.google" is a domain name; set "domain_resolver" to a DNS server that resolves it (or "route.default_domain_resolver")`,
  ]);
  const legacy = `{${OUT}, "dns": {"servers": [{"tag": "g", "address": "tcp://dns.google"}]}}`;
  assert.deepEqual(errors(legacy), [
    `t.json:${
      at(legacy, '"tcp://dns.google"')
    }: dns.servers[0].address: server "dns.google" is a domain name; set "address_resolver" to a DNS server that resolves it (or "route.default_domain_resolver")`,
  ]);
  const fixed = `{${OUT}, "dns": {"servers": [
  {"type": "udp", "tag": "g", "server": "dns.google"}, {"type": "local", "tag": "l"}]},
  "route": {"default_domain_resolver": "l"}}`;
  assert.deepEqual(errors(fixed), []);
  // With a detour the outbound gets the name (sing-box dials it as it is): no resolver needed.
  const detoured = `{${OUT}, "dns": {"servers": [
  {"tag": "remote", "address": "https://resolver.example/dns-query", "detour": "proxy"},
  {"tag": "near", "address": "tls://dot.example", "detour": "direct"},
  {"type": "tcp", "tag": "typed", "server": "tcp.example", "detour": "proxy"}]}}`;
  assert.deepEqual(errors(detoured), []);
  // h3 runs (as DoH, with a warning), so its name needs resolving as any other's: run refused it
  // while check passed (found by check_run_property_test, seed 478085266).
  const h3 = `{${OUT}, "dns": {"servers": [{"type": "h3", "tag": "q", "server": "dns.google"}]}}`;
  assert.deepEqual(errors(h3), [
    `t.json:${
      at(h3, '"dns.google"')
    }: dns.servers[0].server: server "dns.google" is a domain name; set "domain_resolver" to a DNS server that resolves it (or "route.default_domain_resolver")`,
  ]);
});

Deno.test("a DNS server cannot resolve itself, and a cycle of resolvers is reported once", () => {
  const self = `{${OUT}, "dns": {"servers": [
  {"type": "udp", "tag": "g", "server": "dns.google", "domain_resolver": "g"}]}}`;
  assert.deepEqual(errors(self), [
    `t.json:${
      at(self, '"g"}', 1)
    }: dns.servers[0].domain_resolver: a DNS server cannot resolve its own address`,
  ]);
  const cycle = `{${OUT}, "dns": {"servers": [
  {"type": "udp", "tag": "x", "server": "x.example", "domain_resolver": "y"},
  {"type": "tcp", "tag": "y", "server": "y.example", "domain_resolver": "x"}]}}`;
  assert.deepEqual(errors(cycle), [
    `t.json:${
      at(cycle, '"x.example"')
    }: dns.servers[0].server: domain_resolver cycle: "x" -> "y" -> "x"`,
  ]);
});

Deno.test("the default DNS server cannot be fakeip, and there is one fakeip server", () => {
  const first = `{${OUT}, "dns": {"servers": [
  {"type": "fakeip", "tag": "f", "inet4_range": "198.18.0.0/15"}, {"type": "local", "tag": "l"}]}}`;
  assert.deepEqual(errors(first), [
    `t.json:${
      at(first, '{"type": "fakeip"')
    }: dns.servers[0]: the default DNS server "f" cannot be fakeip (it is the first server; set "dns.final"): tunbox's own lookups need real addresses`,
  ]);
  const two = `{${OUT}, "dns": {"servers": [{"type": "local", "tag": "l"},
  {"type": "fakeip", "tag": "f", "inet4_range": "198.18.0.0/15"},
  {"type": "fakeip", "tag": "g", "inet6_range": "fc00::/18"}]}}`;
  assert.deepEqual(errors(two), [
    `t.json:${
      at(two, '"fakeip"', 2)
    }: dns.servers[2].type: a second fakeip server ("g" after "f"): tunbox runs one FakeIP pool; use one fakeip server with both ranges`,
  ]);
});

Deno.test("a FakeIP range must hold at least 4 addresses", () => {
  const text = `{${OUT}, "dns": {"servers": [{"type": "local", "tag": "l"},
  {"type": "fakeip", "tag": "f", "inet4_range": "198.18.0.0/31"}]}}`;
  assert.deepEqual(errors(text), [
    `t.json:${
      at(text, '"198.18.0.0/31"')
    }: dns.servers[1].inet4_range: FakeIP range 198.18.0.0/31 is too small: it needs at least 4 addresses`,
  ]);
});

Deno.test("query types and predefined records are checked as the DNS module compiles them", () => {
  const text = `{${OUT}, "dns": {"servers": [{"type": "local", "tag": "l"}], "rules": [
  {"query_type": ["A", "BOGUS"], "server": "l"},
  {"domain": "a.test", "action": "predefined", "answer": ["a.test. IN A 1.2.3.4", "garbage"]}]}}`;
  assert.deepEqual(errors(text), [
    `t.json:${at(text, '"BOGUS"')}: dns.rules[0].query_type[1]: unknown query type "BOGUS"`,
    `t.json:${at(text, '"garbage"')}: dns.rules[1].answer[1]: missing record type in "garbage"`,
  ]);
});

Deno.test("a UDP DNS server through an outbound without UDP is warned about in the DNS module's words", () => {
  const text =
    `{"outbounds": [{"type": "http", "tag": "web", "server": "127.0.0.1", "server_port": 8080}],
  "dns": {"servers": [{"type": "udp", "tag": "u", "server": "1.1.1.1", "detour": "web"}]}}`;
  assert.deepEqual(warnings(text), [
    `t.json:${at(text, '"web"}')}: dns.servers[0].detour: detour outbound "web" does not carry UDP`,
  ]);
});

Deno.test("an rcode:// server can only be used by DNS rules", () => {
  const text = `{${OUT}, "dns": {"servers": [{"tag": "block", "address": "rcode://refused"},
  {"type": "local", "tag": "l"}], "final": "block"}}`;
  assert.deepEqual(errors(text), [
    `t.json:${
      at(text, '"block"}')
    }: dns.final: DNS server "block" is an rcode:// server, which only DNS rules can use (as a predefined answer)`,
  ]);
});
