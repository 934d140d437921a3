import assert from "node:assert/strict";
import type { RuleMatch } from "../../src/config/types.ts";
import { compileRules } from "../../src/route/rule.ts";
import type { ConnMetadata } from "../../src/route/metadata.ts";
import { flow, ip, logical, prefixes, routeTo, rule } from "./_helpers.ts";

function matcher(match: Partial<RuleMatch>) {
  const { rules } = compileRules([rule(match)]);
  return (m: ConnMetadata) => rules[0]!.match(m);
}

type Case = [string, Partial<RuleMatch>, ConnMetadata, boolean];

const FIELD_CASES: Case[] = [
  ["inbound hit", { inbound: ["tun-in", "x"] }, flow("1.1.1.1:80"), true],
  ["inbound miss", { inbound: ["mixed-in"] }, flow("1.1.1.1:80"), false],
  ["ip_version 4", { ip_version: 4 }, flow("1.1.1.1:80"), true],
  ["ip_version 6 on v4", { ip_version: 6 }, flow("1.1.1.1:80"), false],
  ["ip_version 6", { ip_version: 6 }, flow("[2001:db8::1]:80"), true],
  ["network tcp", { network: ["tcp"] }, flow("1.1.1.1:80"), true],
  ["network udp miss", { network: ["udp"] }, flow("1.1.1.1:80"), false],
  ["network icmp", { network: ["icmp"] }, flow("1.1.1.1:0", { network: "icmp" }), true],
  ["network empty (tcp)", { network: [""] }, flow("1.1.1.1:80"), false],
  ["network empty (udp)", { network: [""] }, flow("1.1.1.1:53", { network: "udp" }), false],
  ["protocol hit", { protocol: ["tls"] }, flow("1.1.1.1:443", { protocol: "tls" }), true],
  ["protocol unsniffed", { protocol: ["tls"] }, flow("1.1.1.1:443"), false],
  ["client hit", { client: ["chromium"] }, flow("1.1.1.1:443", { client: "chromium" }), true],
  ["client miss", { client: ["safari"] }, flow("1.1.1.1:443", { client: "chromium" }), false],
  ["domain hit", { domain: ["a.com"] }, flow("1.1.1.1:443", { domain: "a.com" }), true],
  ["domain lowercased", { domain: ["a.com"] }, flow("1.1.1.1:443", { domain: "A.Com" }), true],
  ["domain sub miss", { domain: ["a.com"] }, flow("1.1.1.1:443", { domain: "b.a.com" }), false],
  ["domain none", { domain: ["a.com"] }, flow("1.1.1.1:443"), false],
  ["suffix sub", { domain_suffix: ["a.com"] }, flow("1.1.1.1:1", { domain: "b.a.com" }), true],
  ["suffix self", { domain_suffix: ["a.com"] }, flow("1.1.1.1:1", { domain: "a.com" }), true],
  ["suffix dot", { domain_suffix: [".a.com"] }, flow("1.1.1.1:1", { domain: "a.com" }), false],
  ["keyword", { domain_keyword: ["oogl"] }, flow("1.1.1.1:1", { domain: "google.com" }), true],
  [
    "keyword miss",
    { domain_keyword: ["bing"] },
    flow("1.1.1.1:1", { domain: "google.com" }),
    false,
  ],
  ["regex", { domain_regex: ["^www\\."] }, flow("1.1.1.1:1", { domain: "www.x.org" }), true],
  ["regex none", { domain_regex: [".*"] }, flow("1.1.1.1:1"), false],
  ["ip_cidr hit", { ip_cidr: prefixes("1.1.1.0/24") }, flow("1.1.1.1:1"), true],
  ["ip_cidr miss", { ip_cidr: prefixes("1.1.2.0/24") }, flow("1.1.1.1:1"), false],
  ["ip_cidr v6", { ip_cidr: prefixes("2001:db8::/32") }, flow("[2001:db8::5]:1"), true],
  ["ip_cidr mapped", { ip_cidr: prefixes("1.1.1.0/24") }, flow("[::ffff:1.1.1.1]:1"), true],
  ["ip_is_private", { ip_is_private: true }, flow("192.168.1.1:1"), true],
  ["ip_is_private public", { ip_is_private: true }, flow("8.8.8.8:1"), false],
  ["ip_is_private false is unset", { ip_is_private: false }, flow("8.8.8.8:1"), true],
  ["source_ip_cidr", { source_ip_cidr: prefixes("172.19.0.0/30") }, flow("8.8.8.8:1"), true],
  ["source_ip_cidr miss", { source_ip_cidr: prefixes("10.0.0.0/8") }, flow("8.8.8.8:1"), false],
  ["source_ip_is_private", { source_ip_is_private: true }, flow("8.8.8.8:1"), true],
  [
    "source_ip_is_private miss",
    { source_ip_is_private: true },
    flow("8.8.8.8:1", { src: "1.2.3.4:5" }),
    false,
  ],
  ["port", { port: [443, 80] }, flow("8.8.8.8:443"), true],
  ["port miss", { port: [443] }, flow("8.8.8.8:8443"), false],
  ["port_range", { port_range: [{ start: 8000, end: 9000 }] }, flow("8.8.8.8:8443"), true],
  ["port_range miss", { port_range: [{ start: 8000, end: 9000 }] }, flow("8.8.8.8:80"), false],
  ["source_port", { source_port: [50000] }, flow("8.8.8.8:1"), true],
  ["source_port miss", { source_port: [50001] }, flow("8.8.8.8:1"), false],
  [
    "source_port_range",
    { source_port_range: [{ start: 49152, end: 65535 }] },
    flow("8.8.8.8:1"),
    true,
  ],
  [
    "source_port_range miss",
    { source_port_range: [{ start: 1, end: 1024 }] },
    flow("8.8.8.8:1"),
    false,
  ],
];

Deno.test("`compileRules()` evaluates every supported match field", () => {
  for (const [name, match, meta, expected] of FIELD_CASES) {
    assert.equal(matcher(match)(meta), expected, name);
  }
});

Deno.test("`compileRules()` ORs domain and IP items within the destination group", () => {
  const m = matcher({ domain: ["a.com"], ip_cidr: prefixes("1.2.3.0/24"), ip_is_private: true });
  assert.equal(m(flow("1.2.3.4:443")), true);
  assert.equal(m(flow("9.9.9.9:443", { domain: "a.com" })), true);
  assert.equal(m(flow("10.0.0.1:443")), true);
  assert.equal(m(flow("9.9.9.9:443", { domain: "b.com" })), false);
});

Deno.test("`compileRules()` ANDs the destination, port, source and other groups", () => {
  const m = matcher({
    ip_cidr: prefixes("1.2.3.0/24"),
    port: [443],
    port_range: [{ start: 8000, end: 8080 }],
    source_ip_cidr: prefixes("172.19.0.0/16"),
    source_port_range: [{ start: 40000, end: 60000 }],
    network: ["tcp"],
  });
  assert.equal(m(flow("1.2.3.4:443")), true);
  assert.equal(m(flow("1.2.3.4:8080")), true, "port_range is OR-ed with port");
  assert.equal(m(flow("1.2.3.4:80")), false, "port group fails");
  assert.equal(m(flow("1.2.4.4:443")), false, "destination group fails");
  assert.equal(m(flow("1.2.3.4:443", { src: "10.0.0.1:50000" })), false, "source group fails");
  assert.equal(m(flow("1.2.3.4:443", { src: "172.19.0.1:1000" })), false, "source port fails");
  assert.equal(m(flow("1.2.3.4:443", { network: "udp" })), false, "network fails");
});

Deno.test("`compileRules()` matches domain items against a domain destination when nothing was sniffed", () => {
  const m = matcher({ domain_suffix: ["example.org"] });
  const meta = flow("0.0.0.0:443");
  meta.destination = { addr: new Uint8Array(0), port: 443, fqdn: "WWW.Example.org" };
  assert.equal(m(meta), true);
});

Deno.test("`compileRules()` matches ip_cidr and ip_is_private against resolved addresses of a domain destination", () => {
  const cidr = matcher({ ip_cidr: prefixes("93.184.0.0/16") });
  const priv = matcher({ ip_is_private: true });
  const meta = flow("0.0.0.0:443");
  meta.destination = { addr: new Uint8Array(0), port: 443, fqdn: "example.com" };
  assert.equal(cidr(meta), false, "nothing resolved yet");
  meta.destinationAddresses = [ip("10.1.1.1"), ip("93.184.216.34")];
  assert.equal(cidr(meta), true);
  assert.equal(priv(meta), true);
  meta.destinationAddresses = [ip("93.184.216.34")];
  assert.equal(priv(meta), false);
});

Deno.test("`compileRules()` inverts a default rule", () => {
  const m = matcher({ ip_is_private: true, invert: true });
  assert.equal(m(flow("10.0.0.1:1")), false);
  assert.equal(m(flow("8.8.8.8:1")), true);
});

Deno.test("`compileRules()` lets a rule without conditions match every flow, even inverted", () => {
  const { rules } = compileRules([rule({}), rule({ invert: true })]);
  assert.equal(rules[0]!.match(flow("8.8.8.8:1")), true);
  assert.equal(rules[1]!.match(flow("8.8.8.8:1")), true);
});

Deno.test("`compileRules()` evaluates nested logical and/or rules with invert", () => {
  const priv = rule({ ip_is_private: true });
  const https = rule({ port: [443] });
  const dns = rule({ port: [53] });
  const { rules } = compileRules([
    logical("and", [priv, logical("or", [https, dns])]),
    logical("or", [priv, https], routeTo("out"), true),
    logical("and", [rule({ network: ["udp"] }), logical("or", [https, dns], routeTo("x"), true)]),
  ]);
  const [both, neither, udpNotWeb] = rules;
  assert.equal(both!.match(flow("10.0.0.1:443")), true);
  assert.equal(both!.match(flow("10.0.0.1:53")), true);
  assert.equal(both!.match(flow("10.0.0.1:80")), false);
  assert.equal(both!.match(flow("8.8.8.8:443")), false);
  assert.equal(neither!.match(flow("8.8.8.8:80")), true);
  assert.equal(neither!.match(flow("8.8.8.8:443")), false);
  assert.equal(neither!.match(flow("10.0.0.1:80")), false);
  assert.equal(udpNotWeb!.match(flow("8.8.8.8:123", { network: "udp" })), true);
  assert.equal(udpNotWeb!.match(flow("8.8.8.8:53", { network: "udp" })), false);
  assert.equal(udpNotWeb!.match(flow("8.8.8.8:123")), false);
});

Deno.test("`compileRules()` describes rules as sing-box logs them", () => {
  const { rules } = compileRules([
    rule({ ip_is_private: true }, routeTo("direct")),
    rule({ ip_cidr: prefixes("127.0.0.1/32") }, routeTo("direct")),
    rule({ domain: ["a", "b", "c", "d"], domain_suffix: ["x.com"] }, { action: "hijack-dns" }),
    rule({ network: ["tcp", "udp"], port: [80, 443], invert: true }, {
      action: "reject",
      method: "drop",
    }),
    logical("or", [rule({ port: [53] }), rule({ protocol: ["dns"] })], {
      action: "sniff",
      sniffer: ["dns", "tls"],
      timeout: 1500,
    }),
    rule({ inbound: ["tun-in"] }, { action: "resolve", strategy: "ipv4_only" }),
    rule({ port_range: [{ start: 1000, end: 2000 }] }, {
      action: "route-options",
      override_port: 8443,
      udp_connect: true,
    }),
  ]);
  assert.deepEqual(rules.map((r) => r.text), [
    "ip_is_private=true => route(direct)",
    "ip_cidr=127.0.0.1/32 => route(direct)",
    "domain=[a b c...] domain_suffix=x.com => hijack-dns",
    "!(network=[tcp udp] port=[80 443]) => reject(drop)",
    "port=53 || protocol=dns => sniff(dns,tls,1.5s)",
    "inbound=tun-in => resolve(ipv4_only)",
    "port_range=1000:2000 => route-options(override-port=8443,udp-connect)",
  ]);
});

Deno.test("`compileRules()` compiles unsupported fields to never-match items and warns once per field", () => {
  const { rules, warnings } = compileRules([
    rule({ package_name: ["com.android.chrome"] }),
    rule({ package_name: ["org.mozilla.firefox"], ip_is_private: true }),
    rule({ source_hostname: ["my-laptop"], invert: true }),
    rule({ wifi_ssid: ["home"] }),
  ]);
  assert.equal(rules[0]!.match(flow("8.8.8.8:1")), false);
  assert.equal(rules[1]!.match(flow("10.0.0.1:1")), false);
  assert.equal(rules[2]!.match(flow("8.8.8.8:1")), true, "inverted never-match matches");
  assert.equal(rules[3]!.match(flow("8.8.8.8:1")), false);
  assert.equal(warnings.length, 3);
  assert.match(warnings[0]!, /^route\.rules\[0\], route\.rules\[1\]: "package_name" never matches/);
  assert.match(warnings[1]!, /route\.rules\[2\]: "source_hostname"/);
  assert.match(warnings[2]!, /route\.rules\[3\]: "wifi_ssid"/);
  assert.equal(rules[0]!.text, "package_name=com.android.chrome => route(out)");
});

Deno.test("`compileRules()` names the rule in errors for invalid values", () => {
  assert.throws(
    () => compileRules([rule({ domain: ["a.com", ""] })]),
    /route\.rules\[0\]\.domain\[1\]: empty/,
  );
  assert.throws(
    () => compileRules([rule({}), rule({ domain_regex: ["a("] })]),
    /route\.rules\[1\]\.domain_regex: Cannot compile domain_regex "a\("/,
  );
  assert.throws(
    () => compileRules([rule({}, { action: "sniff", sniffer: ["smtp"] })]),
    /route\.rules\[0\]: unknown sniffer "smtp"/,
  );
});

Deno.test("`compileRules()` warns about sniffers tunbox does not implement", () => {
  const { warnings } = compileRules([
    rule({}, { action: "sniff", sniffer: ["tls", "ssh", "stun"] }),
  ]);
  assert.deepEqual(warnings, [
    'route.rules[0]: sniffer "ssh" is not implemented by tunbox; those protocols are not detected',
    'route.rules[0]: sniffer "stun" is not implemented by tunbox; those protocols are not detected',
  ]);
});
