/**
 * sing-box 1.14's additions are decoded, and each says what tunbox does with it.
 */

import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";
import { verdict } from "../../src/config/support.ts";
import type { TunInboundOptions } from "../../src/config/types.ts";
import { at } from "./_helpers.ts";

function decode(text: string) {
  const r = decodeConfigText(text, "t.json", { os: "linux" });
  return {
    options: r.options,
    errors: r.errors.map((e) => e.format()),
    warnings: r.warnings.map((w) => w.format()),
  };
}

Deno.test("http_clients, default_http_client and a rule-set's http_client and initial_path", () => {
  const text = `{
  "http_clients": [{"tag": "via-proxy", "detour": "proxy", "headers": {"User-Agent": "sing-box"}}],
  "outbounds": [{"type": "socks", "tag": "proxy", "server": "127.0.0.1", "server_port": 1080}],
  "route": {
    "default_http_client": "via-proxy",
    "rule_set": [{
      "type": "remote", "tag": ["geosite-cn", "geoip-cn"], "format": "binary",
      "url": "https://example.com/{tag}.srs", "initial_path": "/var/lib/sing-box/{tag}.srs",
      "http_client": "via-proxy"
    }]
  }
}`;
  const r = decode(text);
  assert.deepEqual(r.errors, []);
  const sets = r.options!.route.rule_set;
  assert.deepEqual(sets.map((s) => [s.tag, s.url, s.initial_path, s.http_client]), [
    [
      "geosite-cn",
      "https://example.com/geosite-cn.srs",
      "/var/lib/sing-box/geosite-cn.srs",
      "via-proxy",
    ],
    ["geoip-cn", "https://example.com/geoip-cn.srs", "/var/lib/sing-box/geoip-cn.srs", "via-proxy"],
  ]);
  assert.equal(r.options!.http_clients[0]?.detour, "proxy");
  // The client's detour carries the downloads; its headers are what tunbox ignores.
  assert.deepEqual(sets.map((s) => s.download_detour), ["proxy", "proxy"]);
  const w = (needle: string, path: string, id: Parameters<typeof verdict>[0], n = 1) =>
    `t.json:${at(text, needle, n)}: ${path}: ${verdict(id, "linux").message}`;
  assert.deepEqual(r.warnings, [
    w('{"tag": "via-proxy"', "http_clients[0]", "section.http_clients"),
    w('"initial_path"', "route.rule_set[0].initial_path", "rule_set.initial_path"),
  ]);
});

Deno.test("a remote rule-set downloads through its http_client's detour, else the default client's", () => {
  const text = `{
  "http_clients": [{"tag": "a", "detour": "proxy"}, {"tag": "b", "detour": "direct"}],
  "outbounds": [{"type": "socks", "tag": "proxy", "server": "127.0.0.1", "server_port": 1080},
    {"type": "direct", "tag": "direct"}],
  "route": {
    "default_http_client": "b",
    "rule_set": [
      {"type": "remote", "tag": "own", "url": "https://example.com/a.srs", "http_client": "a"},
      {"type": "remote", "tag": "inline", "url": "https://example.com/b.srs",
       "http_client": {"detour": "proxy", "version": 2}},
      {"type": "remote", "tag": "default", "url": "https://example.com/c.srs"},
      {"type": "remote", "tag": "explicit", "url": "https://example.com/d.srs",
       "http_client": "a", "download_detour": "direct"}
    ]
  }
}`;
  const r = decode(text);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.options!.route.rule_set.map((s) => [s.tag, s.download_detour]), [
    ["own", "proxy"],
    ["inline", "proxy"],
    ["default", "direct"],
    ["explicit", "direct"],
  ]);
  // Only the inline client sets a field tunbox ignores ("version").
  assert.deepEqual(r.warnings, [
    `t.json:${at(text, '"http_client"', 2)}: route.rule_set[1].http_client: ${
      verdict("rule_set.http_client", "linux").message
    }`,
  ]);
});

Deno.test("a list of rule-set tags needs {tag} and is not for inline rule-sets", () => {
  const text = `{"route": {"rule_set": [
  {"type": "remote", "tag": ["a", "b"], "url": "https://example.com/x.srs"}]}}`;
  assert.deepEqual(decode(text).errors, [
    `t.json:${
      at(text, '["a", "b"]')
    }: route.rule_set[0].tag: a list of tags needs "{tag}" in "path", "url" or "initial_path" (replaced by each tag)`,
  ]);
});

Deno.test("an unknown http client tag is an unknown reference", () => {
  const text = `{"route": {"default_http_client": "nope"}}`;
  assert.deepEqual(decode(text).errors, [
    `t.json:${
      at(text, '"nope"')
    }: route.default_http_client: unknown http client "nope" (no http clients are defined)`,
  ]);
});

Deno.test("TUN netns, UDP NAT fields, dns_mode, cache_file store_dns", () => {
  const text = `{
  "inbounds": [{"type": "tun", "address": "172.19.0.1/30", "auto_route": true,
    "dns_mode": "hijack", "udp_mapping": "endpoint_independent", "udp_filtering": "address_dependent",
    "udp_nat_max": 4096, "netns": "proxy"}],
  "experimental": {"cache_file": {"enabled": true, "store_dns": true}},
  "route": {"auto_detect_interface": true}
}`;
  const r = decode(text);
  assert.deepEqual(r.errors, [
    `t.json:${at(text, '"netns"')}: inbounds[0].netns: ${verdict("tun.netns", "linux").message}`,
  ]);
  assert.deepEqual(r.warnings, [
    `t.json:${at(text, '"dns_mode"')}: inbounds[0].dns_mode: ${verdict("tun.dns_mode").message}`,
    `t.json:${at(text, '"udp_filtering"')}: inbounds[0].udp_filtering: ${
      verdict("udp_nat.udp_filtering").message
    }`,
    `t.json:${at(text, '"udp_nat_max"')}: inbounds[0].udp_nat_max: ${
      verdict("udp_nat.udp_nat_max").message
    }`,
    `t.json:${at(text, '"store_dns"')}: experimental.cache_file.store_dns: ${
      verdict("experimental.cache_file.store_dns").message
    }`,
  ]);
  const ok = decode(text.replace(', "netns": "proxy"', ""));
  assert.equal((ok.options!.inbounds[0] as TunInboundOptions).udp_filtering, "address_dependent");
});

Deno.test("dns.timeout is read as a duration and dns.optimistic is ignored with a warning at it", () => {
  const text = `{
  "dns": {"servers": [{"type": "udp", "tag": "u", "server": "192.0.2.53"}],
    "timeout": "3s", "optimistic": true}
}`;
  const r = decode(text);
  assert.deepEqual(r.errors, []);
  assert.equal(r.options!.dns.timeout, 3000);
  assert.deepEqual(r.warnings, [
    `t.json:${
      at(text, '"optimistic"')
    }: dns.optimistic: "optimistic" in dns is not built in tunbox: expired answers are not served while they are refreshed; each lookup waits for the server once its answer expires`,
  ]);
});

const NO_RESPONSE = "is not built in tunbox: DNS rules cannot act on a server's response " +
  '(sing-box 1.14\'s "evaluate", "match_response" and "respond"); route these queries with ' +
  '"route" actions instead';

Deno.test('DNS rule actions "evaluate" and "respond" and response matching are refused at their lines', () => {
  const text = `{
  "dns": {
    "servers": [{"type": "udp", "tag": "u", "server": "192.0.2.53"}],
    "rules": [
      {"domain_suffix": ".cn", "action": "evaluate", "server": "u", "disable_cache": true},
      {"match_response": true, "response_rcode": "NXDOMAIN", "action": "respond"},
      {"response_answer": "example.com. IN A 192.0.2.1", "action": "route", "server": "u"},
      {"type": "logical", "mode": "or", "rules": [{"domain": "a.example"}], "match_response": true,
        "action": "route", "server": "u"}
    ]
  }
}`;
  const r = decode(text);
  const e = (needle: string, n: number, path: string, what: string) =>
    `t.json:${at(text, needle, n)}: ${path}: ${what} ${NO_RESPONSE}`;
  const matching =
    "response matching (match_response, response_rcode, response_answer, response_ns, response_extra)";
  assert.deepEqual(r.errors, [
    e('"action"', 1, "dns.rules[0].action", 'DNS rule action "evaluate"'),
    e('"match_response"', 1, "dns.rules[1].match_response", matching),
    e('"action"', 2, "dns.rules[1].action", 'DNS rule action "respond"'),
    e('"response_answer"', 1, "dns.rules[2].response_answer", matching),
    e('"match_response"', 2, "dns.rules[3].match_response", matching),
  ]);
  assert.deepEqual(r.warnings, []);
});

Deno.test('a DNS server of type "h3" (typed or h3://) is kept, with a warning at it that it runs as https', () => {
  const text = `{
  "dns": {"servers": [
    {"type": "h3", "tag": "cf", "server": "1.1.1.1", "path": "/q"},
    {"tag": "g", "address": "h3://8.8.8.8/dns-query"}
  ]},
  "outbounds": [{"type": "direct", "tag": "direct"}]
}`;
  const r = decode(text);
  assert.deepEqual(r.errors, []);
  const h3 = 'DNS server type "h3" is not built (tunbox has no QUIC): this server is used over ' +
    "HTTPS (HTTP/2) instead, at the same address and path";
  assert.deepEqual(r.warnings, [
    `t.json:${at(text, '"h3"')}: dns.servers[0].type: ${h3}`,
    `t.json:${at(text, '"h3://')}: dns.servers[1].address: ${h3}`,
    `t.json:${
      at(text, '"h3://')
    }: dns.servers[1].address: legacy DNS server address is deprecated in sing-box 1.12.0 and removed in 1.14.0, use the typed form {"type": "h3", "server": "8.8.8.8"} instead; tunbox upgrades it (sing-box 1.13 refuses it unless ENABLE_DEPRECATED_LEGACY_DNS_SERVERS=true)`,
  ]);
  assert.deepEqual(
    r.options!.dns.servers.map((s) => [s.tag, s.type, s.server, s.path]),
    [["cf", "h3", "1.1.1.1", "/q"], ["g", "h3", "8.8.8.8", undefined]],
  );
});
