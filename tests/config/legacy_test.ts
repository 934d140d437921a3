import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";
import { formatPrefix } from "../../src/net/ip.ts";
import type { DnsServerOptions, Options, TunInboundOptions } from "../../src/config/types.ts";
import { verdict } from "../../src/config/support.ts";
import { at } from "./_helpers.ts";

function load(text: string): { options: Options; warnings: string[] } {
  const r = decodeConfigText(text, "t.json", { os: "linux" });
  assert.deepEqual(r.errors.map((e) => e.format()), []);
  assert.ok(r.options);
  return { options: r.options, warnings: r.warnings.map((w) => w.format()) };
}

/** Decodes one legacy DNS server address and returns the upgraded server and warnings. */
function legacyDns(address: string, extra = ""): { server: DnsServerOptions; warnings: string[] } {
  const { options, warnings } = load(
    `{"dns": {"servers": [{"tag": "x", "address": "${address}"${extra}}]}}`,
  );
  assert.equal(options.dns.servers.length, 1);
  return { server: options.dns.servers[0]!, warnings };
}

const LEGACY_DNS =
  "legacy DNS server address is deprecated in sing-box 1.12.0 and removed in 1.14.0";
const TAIL =
  "tunbox upgrades it (sing-box 1.13 refuses it unless ENABLE_DEPRECATED_LEGACY_DNS_SERVERS=true)";

Deno.test("legacy inet4_address/inet6_address merge into address with warnings", () => {
  const { options, warnings } = load(
    `{"inbounds": [{"type": "tun", "inet4_address": "172.19.0.1/30", "inet6_address": ["fdfe::1/126"]}]}`,
  );
  const tun = options.inbounds[0] as TunInboundOptions;
  assert.deepEqual(tun.address.map(formatPrefix), ["172.19.0.1/30", "fdfe::1/126"]);
  assert.deepEqual(warnings, [
    't.json:1:31: inbounds[0].inet4_address: legacy tun address fields are deprecated in sing-box 1.10.0 and removed in 1.12.0, use "address" instead; tunbox merges "inet4_address" into "address"',
    't.json:1:65: inbounds[0].inet6_address: legacy tun address fields are deprecated in sing-box 1.10.0 and removed in 1.12.0, use "address" instead; tunbox merges "inet6_address" into "address"',
  ]);
});

Deno.test("legacy inet4_route_address and inet6_route_exclude_address merge into the route lists", () => {
  const { options, warnings } = load(
    `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "route_address": "10.0.0.0/8",
      "inet4_route_address": "192.168.0.0/16", "inet6_route_exclude_address": "fc00::/7"}]}`,
  );
  const tun = options.inbounds[0] as TunInboundOptions;
  assert.deepEqual(tun.route_address.map(formatPrefix), ["10.0.0.0/8", "192.168.0.0/16"]);
  assert.deepEqual(tun.route_exclude_address.map(formatPrefix), ["fc00::/7"]);
  assert.equal(warnings.length, 4);
  assert.match(warnings[0]!, /route_address: "route_address" has no effect without "auto_route"$/);
  assert.match(
    warnings[1]!,
    /inet4_route_address: .* use "route_address" instead; tunbox merges "inet4_route_address" into "route_address"$/,
  );
  assert.match(
    warnings[2]!,
    /inet6_route_exclude_address: .* use "route_exclude_address" instead; tunbox merges "inet6_route_exclude_address" into "route_exclude_address"$/,
  );
  assert.match(
    warnings[3]!,
    /route_exclude_address: "route_exclude_address" has no effect without "auto_route"$/,
  );
});

Deno.test("legacy inet4_address rejects an IPv6 prefix", () => {
  const r = decodeConfigText(
    `{"inbounds": [{"type": "tun", "inet4_address": "fdfe::1/126"}]}`,
    "t.json",
  );
  assert.deepEqual(r.errors.map((e) => e.format()), [
    "t.json:1:48: inbounds[0].inet4_address: not an IPv4 prefix",
  ]);
});

Deno.test("legacy DNS udp:// address becomes a typed udp server", () => {
  const { server, warnings } = legacyDns("udp://8.8.8.8");
  assert.equal(server.type, "udp");
  assert.equal(server.server, "8.8.8.8");
  assert.equal(server.server_port, undefined);
  assert.equal(server.legacy, true);
  assert.deepEqual(warnings, [
    // No outbounds: the default is sing-box's implicit empty direct, which a typed server equals.
    `t.json:1:46: dns.servers[0].address: ${LEGACY_DNS}, use the typed form {"type": "udp", "server": "8.8.8.8"} instead; ${TAIL}`,
  ]);
});

Deno.test("the typed form hinted for a legacy server keeps its route: the default outbound is named", () => {
  const text = `{
  "outbounds": [{"type": "socks", "tag": "proxy", "server": "127.0.0.1", "server_port": 1080},
    {"type": "direct", "tag": "direct"}],
  "dns": {"servers": [{"tag": "g", "address": "8.8.8.8"}, {"tag": "l", "address": "223.5.5.5", "detour": "direct"}]}}`;
  const { warnings } = load(text);
  assert.deepEqual(warnings, [
    `t.json:${
      at(text, '"8.8.8.8"')
    }: dns.servers[0].address: ${LEGACY_DNS}, use the typed form {"type": "udp", "server": "8.8.8.8", "detour": "proxy"} instead; ${TAIL}`,
    // detour to an empty direct outbound: sing-box refuses that in the typed form, and a typed
    // server dials directly anyway.
    `t.json:${
      at(text, '"223.5.5.5"')
    }: dns.servers[1].address: ${LEGACY_DNS}, use the typed form {"type": "udp", "server": "223.5.5.5"} instead; ${TAIL}`,
  ]);
});

Deno.test("every typed form hinted for a legacy server is one tunbox runs (no errors in its place)", () => {
  const outbounds =
    `"outbounds": [{"type": "socks", "tag": "proxy", "server": "127.0.0.1", "server_port": 1080},
    {"type": "direct", "tag": "direct"}, {"type": "direct", "tag": "eth", "bind_interface": "eth0"}]`;
  for (
    const server of [
      `{"tag": "x", "address": "8.8.8.8"}`,
      `{"tag": "x", "address": "tcp://1.1.1.1:5353", "detour": "direct"}`,
      `{"tag": "x", "address": "udp://9.9.9.9", "detour": "eth"}`,
      `{"tag": "x", "address": "tcp://dns.google", "address_resolver": "l", "address_strategy": "ipv4_only"}`,
      `{"tag": "x", "address": "local"}`,
      `{"tag": "x", "address": "fakeip"}`,
    ]
  ) {
    const text =
      `{${outbounds}, "dns": {"fakeip": {"enabled": true, "inet4_range": "198.18.0.0/15"},
      "servers": [${server}, {"tag": "l", "type": "local"}], "final": "l"}}`;
    const hint = load(text).warnings.map((w) => /use the typed form (\{.*\}) instead/.exec(w)?.[1])
      .find((x) => x !== undefined);
    assert.ok(hint, server);
    const typed = JSON.parse(hint);
    const again = decodeConfigText(
      `{${outbounds}, "dns": {"servers": [${JSON.stringify({ tag: "x", ...typed })},
      {"tag": "l", "type": "local"}], "final": "l"}}`,
      "t.json",
      { os: "linux" },
    );
    assert.deepEqual(again.errors.map((e) => e.format()), [], `${server} -> ${hint}`);
  }
});

Deno.test("legacy DNS bare IP with a port becomes udp with server_port", () => {
  const { server, warnings } = legacyDns("1.1.1.1:5353");
  assert.deepEqual([server.type, server.server, server.server_port], ["udp", "1.1.1.1", 5353]);
  assert.match(
    warnings[0]!,
    /use the typed form \{"type": "udp", "server": "1.1.1.1", "server_port": 5353\} instead/,
  );
});

Deno.test("legacy DNS tcp:// drops the default port 53", () => {
  const { server } = legacyDns("tcp://1.0.0.1:53");
  assert.deepEqual([server.type, server.server, server.server_port], ["tcp", "1.0.0.1", undefined]);
});

Deno.test("legacy DNS tls:// upgrades with a hint; quic:// too, warned by its verdict (run as tls); both port 853", () => {
  const { server: tls, warnings } = legacyDns("tls://1.1.1.1");
  assert.deepEqual([tls.type, tls.server, tls.server_port], ["tls", "1.1.1.1", undefined]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /use the typed form \{"type": "tls", "server": "1\.1\.1\.1"\}/);
  const { server: quic, warnings: quicWarnings } = legacyDns("quic://94.140.14.14:8853");
  assert.deepEqual([quic.type, quic.server, quic.server_port], ["quic", "94.140.14.14", 8853]);
  assert.equal(
    quicWarnings[0],
    `t.json:1:46: dns.servers[0].address: ${verdict("dns.server.quic").message}`,
  );
  assert.match(
    quicWarnings[1]!,
    /use the typed form \{"type": "quic", "server": "94\.140\.14\.14", "server_port": 8853\}/,
  );
});

Deno.test("legacy DNS https:// keeps a non-default path; h3:// too (run as https, with its verdict)", () => {
  const { server: https } = legacyDns("https://1.1.1.1/dns-query");
  assert.deepEqual([https.type, https.server, https.path], ["https", "1.1.1.1", undefined]);
  const { server: custom } = legacyDns("https://1.1.1.1/custom");
  assert.equal(custom.path, "/custom");
  const { server: h3, warnings } = legacyDns("h3://8.8.8.8/custom");
  assert.deepEqual([h3.type, h3.server, h3.path], ["h3", "8.8.8.8", "/custom"]);
  assert.equal(
    warnings[0],
    `t.json:1:46: dns.servers[0].address: ${verdict("dns.server.h3").message}`,
  );
});

Deno.test("legacy DNS local keeps no default-outbound note", () => {
  const { server, warnings } = legacyDns("local");
  assert.equal(server.type, "local");
  assert.deepEqual(warnings, [
    `t.json:1:46: dns.servers[0].address: ${LEGACY_DNS}, use the typed form {"type": "local"} instead; ${TAIL}`,
  ]);
});

Deno.test("legacy DNS with detour and address_resolver carries both over", () => {
  const { options, warnings } = load(`{
  "outbounds": [{"type": "direct", "tag": "d", "bind_interface": "eth0"}],
  "dns": {"servers": [
    {"tag": "l", "address": "local"},
    {"tag": "g", "address": "tcp://dns.google", "address_resolver": "l", "address_strategy": "ipv4_only", "detour": "d"}
  ]}}`);
  const g = options.dns.servers[1]!;
  assert.equal(g.detour, "d");
  assert.deepEqual(g.domain_resolver, { server: "l", strategy: "ipv4_only" });
  assert.equal(g.address_resolver, "l");
  assert.match(
    warnings[1]!,
    /use the typed form \{"type": "tcp", "server": "dns.google", "detour": "d", "domain_resolver": \{"server": "l", "strategy": "ipv4_only"\}\} instead; tunbox upgrades it \(sing-box 1.13 refuses it unless ENABLE_DEPRECATED_LEGACY_DNS_SERVERS=true\)$/,
  );
});

Deno.test("legacy DNS dhcp://auto and dhcp://en0 upgrade with a hint", () => {
  const { server: auto, warnings } = legacyDns("dhcp://auto");
  assert.deepEqual([auto.type, auto.interface], ["dhcp", undefined]);
  assert.match(warnings[0]!, /use the typed form \{"type": "dhcp"\}/);
  const { server: en0 } = legacyDns("dhcp://en0");
  assert.deepEqual([en0.type, en0.interface], ["dhcp", "en0"]);
});

Deno.test("legacy DNS fakeip takes its ranges from the legacy dns.fakeip block", () => {
  const text = `{"dns": {
  "fakeip": {"enabled": true, "inet4_range": "198.18.0.0/15", "inet6_range": "fc00::/18"},
  "servers": [{"tag": "f", "address": "fakeip"}, {"tag": "l", "type": "local"}],
  "final": "l"
}}`;
  const { options, warnings } = load(text);
  const f = options.dns.servers[0]!;
  assert.equal(f.type, "fakeip");
  assert.deepEqual([formatPrefix(f.inet4_range!), formatPrefix(f.inet6_range!)], [
    "198.18.0.0/15",
    "fc00::/18",
  ]);
  assert.deepEqual(warnings, [
    't.json:2:3: dns.fakeip: legacy DNS fakeip options are deprecated in sing-box 1.12.0 and removed in 1.14.0, use a DNS server {"type": "fakeip", "inet4_range": "198.18.0.0/15", "inet6_range": "fc00::/18"} instead; tunbox upgrades it',
    `t.json:${
      at(text, '"fakeip"}')
    }: dns.servers[0].address: ${LEGACY_DNS}, use the typed form {"type": "fakeip", "inet4_range": "198.18.0.0/15", "inet6_range": "fc00::/18"} instead; ${TAIL}`,
  ]);
});

Deno.test("legacy DNS rcode:// servers are removed and their rules become predefined", () => {
  const text = `{"dns": {
  "servers": [{"tag": "g", "address": "8.8.8.8"}, {"tag": "block", "address": "rcode://refused"}],
  "rules": [{"domain_suffix": "ads.example", "server": "block"}, {"domain": "a.b", "server": "g"}]
}}`;
  const { options, warnings } = load(text);
  assert.deepEqual(options.dns.servers.map((s) => s.tag), ["g"]);
  assert.deepEqual(options.dns.rules[0]!.action, {
    action: "predefined",
    rcode: "REFUSED",
    answer: [],
    ns: [],
    extra: [],
  });
  assert.deepEqual(options.dns.rules[1]!.action, { action: "route", server: "g" });
  assert.equal(
    warnings[1],
    `t.json:${
      at(text, '"rcode://')
    }: dns.servers[1].address: ${LEGACY_DNS}; DNS rules that use this server become {"action": "predefined", "rcode": "REFUSED"}, write them that way; ${TAIL}`,
  );
});

Deno.test("legacy DNS rcode:// with an unknown code is an error", () => {
  const r = decodeConfigText(
    `{"dns": {"servers": [{"tag": "b", "address": "rcode://nope"}]}}`,
    "t.json",
  );
  assert.deepEqual(r.errors.map((e) => e.format()), [
    't.json:1:46: dns.servers[0].address: unknown rcode "nope"; expected one of success, format_error, server_failure, name_error, not_implemented, refused',
  ]);
});

Deno.test("legacy inbound sniff: true becomes a first sniff rule with its timeout", () => {
  const text = `{
  "inbounds": [{"type": "tun", "tag": "tun-in", "address": "172.19.0.1/30", "sniff": true, "sniff_timeout": "500ms"}],
  "outbounds": [{"type": "direct", "tag": "direct"}],
  "route": {"rules": [{"domain": "example.com", "outbound": "direct"}]}
}`;
  const { options, warnings } = load(text);
  const sniffAt = at(text, '"sniff"');
  assert.equal(sniffAt, "2:77");
  const first = options.route.rules[0]!;
  assert.equal(first.type, "default");
  if (first.type !== "default") return;
  assert.deepEqual(first.inbound, ["tun-in"]);
  assert.deepEqual(first.action, { action: "sniff", sniffer: [], timeout: 500 });
  assert.deepEqual(first.source, {
    file: "t.json",
    line: 2,
    column: 77,
    path: "inbounds[0].sniff",
  });
  assert.equal(options.route.rules.length, 2);
  // The domain rule now follows a sniff rule, so no "can never match" warning.
  assert.deepEqual(warnings, [
    `t.json:${sniffAt}: inbounds[0].sniff: legacy inbound field "sniff" is deprecated in sing-box 1.11.0 and ignored since 1.13.1, use the route rule {"inbound": "tun-in", "action": "sniff", "timeout": "500ms"} instead; tunbox upgrades it and places that rule first`,
  ]);
});

Deno.test("legacy inbound sniff: false only warns", () => {
  const text = `{"inbounds": [{"type": "mixed", "tag": "m", "sniff": false}]}`;
  const { options, warnings } = load(text);
  assert.equal(options.route.rules.length, 0);
  assert.deepEqual(warnings, [
    `t.json:${
      at(text, '"sniff"')
    }: inbounds[0].sniff: legacy inbound field "sniff" is deprecated in sing-box 1.11.0 and ignored since 1.13.1; false is the default, so it does nothing here: remove it`,
  ]);
});

Deno.test("legacy inbound domain_strategy becomes a resolve rule after the sniff rule", () => {
  const text =
    `{"inbounds": [{"type": "mixed", "tag": "m", "sniff": true, "domain_strategy": "prefer_ipv4", "sniff_override_destination": true}]}`;
  const { options, warnings } = load(text);
  assert.deepEqual(options.route.rules.map((r) => r.action), [
    { action: "sniff", sniffer: [] },
    { action: "resolve", strategy: "prefer_ipv4" },
  ]);
  assert.deepEqual(warnings, [
    `t.json:${
      at(text, '"sniff"')
    }: inbounds[0].sniff: legacy inbound field "sniff" is deprecated in sing-box 1.11.0 and ignored since 1.13.1, use the route rule {"inbound": "m", "action": "sniff"} instead; tunbox upgrades it and places that rule first`,
    `t.json:${
      at(text, '"domain_strategy"')
    }: inbounds[0].domain_strategy: legacy inbound field "domain_strategy" is deprecated in sing-box 1.11.0 and ignored since 1.13.1, use the route rule {"inbound": "m", "action": "resolve", "strategy": "prefer_ipv4"} instead; tunbox upgrades it`,
    `t.json:${
      at(text, '"sniff_override_destination"')
    }: inbounds[0].sniff_override_destination: legacy inbound field "sniff_override_destination" is deprecated in sing-box 1.11.0 and ignored since 1.13.1; it needs no replacement (a sniffed domain is always used for routing), so tunbox ignores it`,
  ]);
});

Deno.test("legacy dns outbound: rules routing to it become hijack-dns", () => {
  const text = `{
  "inbounds": [{"type": "tun", "tag": "tun-in", "address": "172.19.0.1/30", "sniff": true}],
  "outbounds": [{"type": "direct", "tag": "direct"}, {"type": "dns", "tag": "dns-out"}],
  "route": {"rules": [{"protocol": "dns", "outbound": "dns-out"}, {"port": 53, "outbound": "dns-out"}]}
}`;
  const { options, warnings } = load(text);
  assert.deepEqual(options.route.rules.map((r) => r.action), [
    { action: "sniff", sniffer: [] },
    { action: "hijack-dns" },
    { action: "hijack-dns" },
  ]);
  assert.equal(warnings.length, 2);
  assert.equal(
    warnings[1],
    `t.json:${
      at(text, '"dns", "tag"')
    }: outbounds[1].type: legacy special outbounds are deprecated in sing-box 1.11.0 and removed in 1.13.0, use the rule action {"action": "hijack-dns"} instead; tunbox rewrites rules that route to "dns-out" that way`,
  );
});

Deno.test("legacy block outbound: rules routing to it become reject", () => {
  const text = `{
  "outbounds": [{"type": "direct", "tag": "direct"}, {"type": "block", "tag": "block"}],
  "route": {"rules": [{"domain_suffix": "ads.example", "outbound": "block"}]}
}`;
  const { options, warnings } = load(text);
  assert.deepEqual(options.route.rules[0]!.action, { action: "reject", method: "default" });
  assert.deepEqual(warnings, [
    `t.json:${
      at(text, '"block"')
    }: outbounds[1].type: legacy special outbounds are deprecated in sing-box 1.11.0 and removed in 1.13.0, use the rule action {"action": "reject"} instead; tunbox rewrites rules that route to "block" that way`,
  ]);
});

Deno.test('network "tcp,udp" is read as a list with a warning', () => {
  const text =
    `{"outbounds": [{"type": "direct", "tag": "d"}], "route": {"rules": [{"network": "tcp,udp", "outbound": "d"}]}}`;
  const { options, warnings } = load(text);
  const rule = options.route.rules[0]!;
  assert.ok(rule.type === "default");
  assert.deepEqual(rule.network, ["tcp", "udp"]);
  assert.deepEqual(warnings, [
    `t.json:${
      at(text, '"tcp,udp"')
    }: route.rules[0].network: "tcp,udp" is one value to sing-box, which then matches no connection; tunbox reads it as ["tcp","udp"], write it as that list`,
  ]);
});

Deno.test("a domain rule reached only by TUN traffic without sniffing gets a warning", () => {
  const text = `{
  "inbounds": [{"type": "tun", "tag": "t", "address": "172.19.0.1/30"}],
  "outbounds": [{"type": "direct", "tag": "d"}],
  "route": {"rules": [{"ip_cidr": "10.0.0.0/8", "domain_suffix": ".corp", "outbound": "d"}]}
}`;
  const { warnings } = load(text);
  assert.deepEqual(warnings, [
    `t.json:${
      at(text, '".corp"')
    }: route.rules[0].domain_suffix: "domain_suffix" can never match here: TUN connections carry only IP addresses, no "sniff" action runs before this rule and dns.reverse_mapping is off (sing-box behaves the same); add a rule {"action": "sniff"} before it`,
  ]);
});

Deno.test("domain rules are fine after a sniff rule, with reverse_mapping, or for a mixed inbound", () => {
  const rules = `"route": {"rules": [{"domain": "a.com", "outbound": "d"}]}`;
  const base = `"outbounds": [{"type": "direct", "tag": "d"}]`;
  const tun = `"inbounds": [{"type": "tun", "tag": "t", "address": "172.19.0.1/30"}]`;
  assert.deepEqual(
    load(
      `{${tun}, ${base}, "route": {"rules": [{"action": "sniff"}, {"domain": "a.com", "outbound": "d"}]}}`,
    ).warnings,
    [],
  );
  assert.deepEqual(
    load(`{${tun}, ${base}, ${rules}, "dns": {"reverse_mapping": true}}`).warnings,
    [],
  );
  assert.deepEqual(
    load(`{"inbounds": [{"type": "mixed", "tag": "m"}], ${base}, ${rules}}`).warnings,
    [],
  );
});

Deno.test("a protocol rule without an earlier sniff action gets a warning", () => {
  const { warnings } = load(`{
  "inbounds": [{"type": "mixed", "tag": "m"}],
  "route": {"rules": [{"protocol": "dns", "action": "hijack-dns"}]}
}`);
  assert.deepEqual(warnings, [
    't.json:3:36: route.rules[0].protocol: "protocol" is only known after sniffing, and no "sniff" action runs before this rule, so it can never match; add a rule {"action": "sniff"} before it',
  ]);
});

Deno.test("legacy rule_set_ipcidr_match_source is renamed with a warning", () => {
  const { options, warnings } = load(`{
  "outbounds": [{"type": "direct", "tag": "d"}],
  "route": {"rule_set": [{"type": "inline", "tag": "rs", "rules": [{"ip_cidr": "10.0.0.0/8"}]}],
    "rules": [{"rule_set": "rs", "rule_set_ipcidr_match_source": true, "outbound": "d"}]}
}`);
  const rule = options.route.rules[0]!;
  assert.ok(rule.type === "default");
  assert.equal(rule.rule_set_ip_cidr_match_source, true);
  assert.deepEqual(
    warnings.filter((w) =>
      !w.includes("rule sets are not implemented") && !w.includes("rule-sets are not implemented")
    ),
    [
      't.json:4:34: route.rules[0].rule_set_ipcidr_match_source: "rule_set_ipcidr_match_source" was renamed in sing-box 1.10.0 and removed in 1.11.0, use "rule_set_ip_cidr_match_source" instead; tunbox upgrades it',
    ],
  );
});

Deno.test("legacy direct override_address warns and is kept", () => {
  const text = `{"outbounds": [{"type": "direct", "tag": "d", "override_address": "1.2.3.4"}]}`;
  const { options, warnings } = load(text);
  const d = options.outbounds[0]!;
  assert.ok(d.type === "direct");
  assert.equal(d.override_address, "1.2.3.4");
  assert.deepEqual(warnings, [
    `t.json:${
      at(text, '"override_address"')
    }: outbounds[0].override_address: destination override fields in direct outbound are deprecated in sing-box 1.11.0 and removed in 1.13.0, use a rule with {"action": "route-options", "override_address": ...} instead; tunbox still honours it`,
  ]);
});

Deno.test('direct override_address "" and override_port 0 are unset, as sing-box reads them: no warning, no override', () => {
  const text =
    `{"outbounds": [{"type": "direct", "tag": "d", "override_address": "", "override_port": 0}]}`;
  const { options, warnings } = load(text);
  assert.deepEqual(options.outbounds[0], { type: "direct", tag: "d" });
  assert.deepEqual(warnings, []);
});

Deno.test("legacy dial domain_strategy warns and is kept", () => {
  const text = `{"outbounds": [{"type": "direct", "tag": "d", "domain_strategy": "ipv4_only"}]}`;
  const { options, warnings } = load(text);
  const d = options.outbounds[0]!;
  assert.ok(d.type === "direct");
  assert.equal(d.domain_strategy, "ipv4_only");
  assert.deepEqual(warnings, [
    `t.json:${
      at(text, '"domain_strategy"')
    }: outbounds[0].domain_strategy: legacy domain strategy options are deprecated in sing-box 1.12.0 and removed in 1.14.0, use "domain_resolver": {"server": "<dns tag>", "strategy": "ipv4_only"} instead; tunbox still honours it`,
  ]);
});

Deno.test("clash_api's 1.8-era cache fields: one error at the first one set, none when all are zero (as sing-box)", () => {
  const set = `{"experimental": {"clash_api": {
    "external_controller": "127.0.0.1:9090",
    "store_mode": false,
    "store_selected": true,
    "cache_file": "clash.db",
    "cache_id": ""
  }}}`;
  const r = decodeConfigText(set, "t.json", { os: "linux" });
  assert.deepEqual(r.errors.map((e) => e.format()), [
    `t.json:${at(set, '"store_selected"')}: experimental.clash_api.store_selected: the Clash ` +
    'API\'s cache fields ("store_selected", "cache_file") were moved in sing-box 1.8.0, which ' +
    'refuses them when set; use "experimental.cache_file": {"enabled": true} instead',
  ]);

  const zero = `{"experimental": {"clash_api": {
    "external_controller": "127.0.0.1:9090",
    "store_mode": false, "store_selected": false, "store_fakeip": false, "cache_file": "", "cache_id": ""
  }}}`;
  assert.deepEqual(load(zero).warnings, []);
});
