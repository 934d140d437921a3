import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";
import type { ValidateOptions } from "../../src/config/validate.ts";
import type { DirectInboundOptions } from "../../src/config/types.ts";
import { at } from "./_helpers.ts";

/** Every error of `text` as `file:line:col: path: message`. */
function errors(text: string, vo: ValidateOptions = { os: "linux" }): string[] {
  return decodeConfigText(text, "t.json", vo).errors.map((e) => e.format());
}

/** Asserts exactly one error, at the `n`th `needle`, with this path and message. */
function expectAt(
  text: string,
  needle: string | [string, number],
  path: string,
  message: string,
  vo?: ValidateOptions,
) {
  const [n, k] = typeof needle === "string" ? [needle, 1] : needle;
  assert.deepEqual(errors(text, vo), [`t.json:${at(text, n, k)}: ${path}: ${message}`]);
}

const OUT = `"outbounds": [{"type": "direct", "tag": "direct"}]`;

Deno.test("at() finds line and column of a token", () => {
  assert.equal(at('{\n  "a": 1,\n  "b": 2}', '"b"'), "3:3");
  assert.equal(at("[1, 1, 1]", "1", 3), "1:8");
});

Deno.test("decodeConfigText() suggests the closest key for a misspelt tun field", () => {
  const text = `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "strict_rout": true}]}`;
  assert.equal(at(text, '"strict_rout"'), "1:59");
  expectAt(
    text,
    '"strict_rout"',
    "inbounds[0].strict_rout",
    'unknown field "strict_rout", did you mean "strict_route"?',
  );
});

Deno.test("decodeConfigText() names the object kind for an unknown key with no close match", () => {
  const text = `{"outbounds": [{"type": "direct", "tag": "d", "server": "1.2.3.4"}]}`;
  expectAt(
    text,
    '"server"',
    "outbounds[0].server",
    'unknown field "server" in a "direct" outbound',
  );
});

Deno.test("decodeConfigText() suggests a top-level section", () => {
  const text = `{\n  "outbund": []\n}`;
  assert.deepEqual(errors(text), [
    't.json:2:3: outbund: unknown field "outbund", did you mean "outbounds"?',
  ]);
});

Deno.test("decodeConfigText() rejects a string where a boolean belongs", () => {
  const text = `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "auto_route": "yes"}]}`;
  expectAt(text, '"yes"', "inbounds[0].auto_route", 'expected true or false, got the string "yes"');
});

Deno.test("decodeConfigText() rejects a misspelt enum value with a suggestion", () => {
  const text = `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "stack": "sytem"}]}`;
  expectAt(
    text,
    '"sytem"',
    "inbounds[0].stack",
    'invalid value "sytem"; expected one of "system", "gvisor", "mixed"; did you mean "system"?',
  );
});

Deno.test("decodeConfigText() reports a duplicate outbound tag at the second use", () => {
  const text =
    `{"outbounds": [\n  {"type": "direct", "tag": "a"},\n  {"type": "block", "tag": "a"}\n]}`;
  assert.deepEqual(errors(text), [
    't.json:3:28: outbounds[1].tag: duplicate outbound tag "a" (first used at t.json:2:29)',
  ]);
  assert.equal(at(text, '"a"', 2), "3:28");
  assert.equal(at(text, '"a"'), "2:29");
});

Deno.test("decodeConfigText() reports a duplicate inbound tag", () => {
  const text =
    `{"inbounds": [\n  {"type": "mixed", "tag": "in", "listen_port": 1},\n  {"type": "socks", "tag": "in", "listen_port": 2}\n]}`;
  expectAt(
    text,
    ['"in"', 2],
    "inbounds[1].tag",
    `duplicate inbound tag "in" (first used at t.json:${at(text, '"in"')})`,
  );
});

Deno.test("decodeConfigText() lets an inbound and an outbound share a tag, as sing-box does", () => {
  assert.deepEqual(
    errors(
      `{"inbounds": [{"type": "mixed", "tag": "x"}], "outbounds": [{"type": "direct", "tag": "x"}]}`,
    ),
    [],
  );
});

Deno.test("decodeConfigText() suggests the outbound meant by route.final", () => {
  const text = `{${OUT}, "route": {"final": "directt"}}`;
  expectAt(text, '"directt"', "route.final", 'unknown outbound "directt", did you mean "direct"?');
});

Deno.test("decodeConfigText() lists the defined outbounds for a far-off rule outbound", () => {
  const text = `{${OUT},\n"route": {"rules": [{"port": 53, "outbound": "proxy"}]}}`;
  expectAt(
    text,
    '"proxy"',
    "route.rules[0].outbound",
    'unknown outbound "proxy" (defined: "direct")',
  );
});

Deno.test("decodeConfigText() warns of rule inbound tags no inbound has (sing-box does not check them)", () => {
  // A config kept for several machines names inbounds this one lacks: the item never matches.
  const text = `{${OUT}, "inbounds": [{"type": "mixed", "tag": "mixed-in", "listen_port": 2080}],
"route": {"rules": [{"inbound": ["tun-in"], "outbound": "direct"}]},
"dns": {"servers": [{"type": "local", "tag": "l"}], "rules": [{"inbound": "tun", "server": "l"}]}}`;
  const r = decodeConfigText(text, "t.json", { os: "linux" });
  assert.deepEqual(r.errors.map((e) => e.format()), []);
  assert.deepEqual(r.warnings.map((e) => e.format()), [
    `t.json:${
      at(text, '"tun-in"')
    }: route.rules[0].inbound[0]: unknown inbound "tun-in" (defined: "mixed-in"): the item never matches`,
    `t.json:${
      at(text, '"tun"')
    }: dns.rules[0].inbound: unknown inbound "tun" (defined: "mixed-in"): the item never matches`,
  ]);
  // An inbound's own detour must name one.
  const detour = `{${OUT}, "inbounds": [{"type": "mixed", "tag": "m", "detour": "nope"}]}`;
  expectAt(detour, '"nope"', "inbounds[0].detour", 'unknown inbound "nope" (defined: "m")');
});

Deno.test("decodeConfigText() checks DNS rule servers and dns.final", () => {
  const text = `{"dns": {
  "servers": [{"type": "udp", "tag": "google", "server": "8.8.8.8"}],
  "rules": [{"domain": "a.com", "server": "googl"}],
  "final": "cf"
}}`;
  assert.deepEqual(errors(text), [
    `t.json:${
      at(text, '"googl"')
    }: dns.rules[0].server: unknown dns server "googl", did you mean "google"?`,
    `t.json:${at(text, '"cf"')}: dns.final: unknown dns server "cf" (defined: "google")`,
  ]);
});

Deno.test("decodeConfigText() checks detour, selector members and the selector default", () => {
  const text = `{"outbounds": [
  {"type": "socks", "tag": "s", "server": "127.0.0.1", "server_port": 1080, "detour": "nowhere"},
  {"type": "selector", "tag": "sel", "outbounds": ["s", "ghost"], "default": "direct"}
]}`;
  assert.deepEqual(errors(text), [
    `t.json:${
      at(text, '"nowhere"')
    }: outbounds[0].detour: unknown outbound "nowhere" (defined: "s", "sel")`,
    `t.json:${
      at(text, '"ghost"')
    }: outbounds[1].outbounds[1]: unknown outbound "ghost" (defined: "s", "sel")`,
    `t.json:${
      at(text, '"direct"')
    }: outbounds[1].default: default outbound "direct" is not in "outbounds"`,
    `t.json:${
      at(text, '"direct"')
    }: outbounds[1].default: unknown outbound "direct" (defined: "s", "sel")`,
  ]);
});

Deno.test("decodeConfigText() checks legacy address_resolver and domain_resolver tags", () => {
  const text = `{"dns": {"servers": [
  {"tag": "dns-a", "address": "tcp://dns.google", "address_resolver": "local-dns"}
]},
"outbounds": [{"type": "direct", "tag": "d", "domain_resolver": "resolver"}]}`;
  const errs = decodeConfigText(text, "t.json", { os: "linux" }).errors.map((e) => e.format());
  assert.deepEqual(errs, [
    `t.json:${
      at(text, '"local-dns"')
    }: dns.servers[0].address_resolver: unknown dns server "local-dns" (defined: "dns-a")`,
    `t.json:${
      at(text, '"resolver"')
    }: outbounds[0].domain_resolver: unknown dns server "resolver" (defined: "dns-a")`,
  ]);
});

Deno.test("decodeConfigText() rejects an IPv4 octet out of range in ip_cidr", () => {
  const text =
    `{${OUT}, "route": {"rules": [{"ip_cidr": ["10.0.0.0/8", "300.1.1.1/8"], "outbound": "direct"}]}}`;
  expectAt(
    text,
    '"300.1.1.1/8"',
    "route.rules[0].ip_cidr[1]",
    'invalid prefix "300.1.1.1/8": an IPv4 octet is out of range or has a leading zero',
  );
});

Deno.test("decodeConfigText() requires a prefix length in tun address", () => {
  const text = `{"inbounds": [{"type": "tun", "address": ["198.18.0.1"]}]}`;
  expectAt(
    text,
    '"198.18.0.1"',
    "inbounds[0].address[0]",
    'invalid prefix "198.18.0.1": missing prefix length (write "198.18.0.1/32" for one address, or e.g. "198.18.0.1/30")',
  );
});

Deno.test("decodeConfigText() rejects a prefix length over 32", () => {
  const text = `{"inbounds": [{"type": "tun", "address": "10.0.0.1/33"}]}`;
  expectAt(
    text,
    '"10.0.0.1/33"',
    "inbounds[0].address",
    'invalid prefix "10.0.0.1/33": prefix length 33 is larger than 32',
  );
});

Deno.test("decodeConfigText() warns that auto_redirect is not built and runs with auto_route", () => {
  const text =
    `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "auto_route": true,\n"auto_redirect": true}],\n"route": {"default_mark": 1}}`;
  const r = decodeConfigText(text, "t.json", { os: "linux" });
  assert.deepEqual(r.errors.map((e) => e.format()), []);
  assert.deepEqual(r.warnings.map((w) => w.format()), [
    `t.json:${
      at(text, '"auto_redirect"')
    }: inbounds[0].auto_redirect: "auto_redirect" is not built: auto_route captures the traffic without it`,
  ]);
  const tun = r.options!.inbounds[0]!;
  assert.ok(tun.type === "tun" && tun.auto_route && tun.auto_redirect);
});

Deno.test("decodeConfigText() refuses auto_redirect without auto_route, as sing-box does (one error)", () => {
  for (const route of ["", `"auto_route": false, `]) {
    const text =
      `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", ${route}"auto_redirect": true}]}`;
    expectAt(
      text,
      '"auto_redirect"',
      "inbounds[0].auto_redirect",
      '"auto_redirect" requires "auto_route"',
    );
    const r = decodeConfigText(text, "t.json", { os: "linux" });
    assert.deepEqual(r.warnings.map((w) => w.format()), []);
  }
});

Deno.test("decodeConfigText() says auto_redirect is Linux-only off Linux", () => {
  const text =
    `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "auto_route": true, "auto_redirect": true}]}`;
  expectAt(
    text,
    '"auto_redirect"',
    "inbounds[0].auto_redirect",
    '"auto_redirect" is only available on Linux',
    { os: "darwin" },
  );
});

Deno.test('decodeConfigText() keeps a rule\'s "network": "" as sing-box does, with a warning at it', () => {
  const text =
    `{${OUT}, "route": {"rules": [\n{"network": "", "port": 53, "outbound": "direct"}], "final": "direct"}}`;
  const r = decodeConfigText(text, "t.json", { os: "linux" });
  assert.deepEqual(r.errors.map((e) => e.format()), []);
  assert.deepEqual(r.warnings.map((w) => w.format()), [
    `t.json:${
      at(text, '""')
    }: route.rules[0].network: "" matches no connection (a connection's network is "tcp", "udp" or "icmp"), in sing-box as in tunbox: this item never matches; leave the key out to match every network`,
  ]);
  const rule = r.options!.route.rules[0]!;
  assert.ok(rule.type === "default");
  assert.deepEqual(rule.network, [""]);
});

Deno.test("decodeConfigText() rejects include_interface with exclude_interface", () => {
  const text =
    `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "auto_route": true,\n"include_interface": ["eth0"], "exclude_interface": ["wlan0"]}]}`;
  expectAt(
    text,
    '["wlan0"]',
    "inbounds[0].exclude_interface",
    '"include_interface" and "exclude_interface" cannot be used together',
  );
});

Deno.test("decodeConfigText() rejects an interface name longer than IFNAMSIZ allows", () => {
  const text =
    `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "interface_name": "tunbox-interface0"}]}`;
  expectAt(
    text,
    '"tunbox-interface0"',
    "inbounds[0].interface_name",
    'invalid interface name "tunbox-interface0": it is 17 bytes long, the limit is 15',
  );
});

Deno.test("decodeConfigText() requires utunN names on macOS only", () => {
  const text =
    `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "interface_name": "tun0"}]}`;
  assert.deepEqual(errors(text, { os: "linux" }), []);
  expectAt(
    text,
    '"tun0"',
    "inbounds[0].interface_name",
    'on macOS the TUN interface name must be "utun" followed by a number (e.g. "utun8"), got "tun0"',
    { os: "darwin" },
  );
  assert.deepEqual(errors(text.replace('"tun0"', '"utun8"'), { os: "darwin" }), []);
});

Deno.test("decodeConfigText() needs a spare IPv4 address for the system stack", () => {
  const text = `{"inbounds": [{"type": "tun", "stack": "system", "address": ["198.18.0.1/32"]}]}`;
  expectAt(
    text,
    '"198.18.0.1/32"',
    "inbounds[0].address[0]",
    'stack "system" needs one more IPv4 address after 198.18.0.1 in the first prefix (use a /30 or larger)',
  );
});

Deno.test("decodeConfigText() needs a spare IPv6 address for the default mixed stack", () => {
  const text =
    `{"inbounds": [{"type": "tun", "address": ["172.19.0.1/30", "fdfe:dcba:9876::1/128"]}]}`;
  expectAt(
    text,
    '"fdfe:dcba:9876::1/128"',
    "inbounds[0].address[1]",
    'stack "mixed" (the default) needs one more IPv6 address after fdfe:dcba:9876::1 in the first prefix (use a /126 or larger)',
  );
});

Deno.test("decodeConfigText() lets the gvisor stack use a /32", () => {
  assert.deepEqual(
    errors(`{"inbounds": [{"type": "tun", "stack": "gvisor", "address": "198.18.0.1/32"}]}`),
    [],
  );
});

Deno.test("decodeConfigText() rejects a duration without a unit", () => {
  const text =
    `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "udp_timeout": "5 minutes"}]}`;
  expectAt(
    text,
    '"5 minutes"',
    "inbounds[0].udp_timeout",
    'invalid duration "5 minutes": expected a duration such as "300ms", "10s", "5m" or "1h30m"',
  );
});

Deno.test("decodeConfigText() rejects a reversed port range", () => {
  const text = `{${OUT}, "route": {"rules": [{"port_range": "2000:1000", "outbound": "direct"}]}}`;
  expectAt(
    text,
    '"2000:1000"',
    "route.rules[0].port_range",
    'invalid range "2000:1000": start 2000 is after end 1000',
  );
});

Deno.test("decodeConfigText() rejects a mark that is not a number", () => {
  const text = `{"outbounds": [{"type": "direct", "tag": "d", "routing_mark": "0xZZ"}]}`;
  expectAt(
    text,
    '"0xZZ"',
    "outbounds[0].routing_mark",
    'invalid mark "0xZZ": expected a number or a hexadecimal string like "0x2023"',
  );
});

Deno.test("decodeConfigText() needs an outbound for the route action", () => {
  const text = `{${OUT},\n"route": {"rules": [{"port": 80, "action": "route"}]}}`;
  expectAt(text, '{"port"', "route.rules[0]", 'missing "outbound" for action "route"');
});

Deno.test("decodeConfigText() needs an action or the outbound shorthand", () => {
  const text = `{${OUT},\n"route": {"rules": [{"port": 80}]}}`;
  expectAt(
    text,
    '{"port"',
    "route.rules[0]",
    'missing "action" (or the legacy "outbound" shorthand)',
  );
});

Deno.test("decodeConfigText() rejects no_drop with method drop", () => {
  const text =
    `{"route": {"rules": [{"port": 80, "action": "reject", "method": "drop", "no_drop": true}]}}`;
  expectAt(
    text,
    '"no_drop"',
    "route.rules[0].no_drop",
    '"no_drop" is not available with method "drop"',
  );
});

Deno.test("decodeConfigText() rejects an empty route-options action", () => {
  const text = `{"route": {"rules": [{"port": 80, "action": "route-options"}]}}`;
  expectAt(text, '"action"', "route.rules[0].action", "empty route-options action");
});

Deno.test("decodeConfigText() rejects an unknown rule action", () => {
  const text = `{"route": {"rules": [{"port": 80, "action": "proxy"}]}}`;
  expectAt(
    text,
    '"proxy"',
    "route.rules[0].action",
    'invalid value "proxy"; expected one of "route", "route-options", "reject", "hijack-dns", "bypass", "sniff", "resolve"',
  );
});

Deno.test("decodeConfigText() keeps action fields to their action", () => {
  const text =
    `{${OUT}, "route": {"rules": [{"port": 80, "action": "reject", "outbound": "direct"}]}}`;
  expectAt(text, '"outbound"', "route.rules[0].outbound", 'unknown field "outbound"');
});

Deno.test("decodeConfigText() names sing-box inbound types tunbox does not support", () => {
  const text = `{"inbounds": [{"type": "vmess", "tag": "v"}]}`;
  expectAt(
    text,
    '"vmess"',
    "inbounds[0].type",
    'inbound type "vmess" is a proxy server, which tunbox does not run',
  );
});

Deno.test("decodeConfigText() reads direct and tproxy inbounds and rejects their bad fields", () => {
  const ok = decodeConfigText(
    `{${OUT}, "inbounds": [
      {"type": "direct", "tag": "d", "listen": "::", "listen_port": 5353, "network": "udp",
       "override_address": "1.1.1.1", "override_port": 53, "udp_timeout": "1m"},
      {"type": "tproxy", "tag": "t", "listen": "0.0.0.0", "listen_port": 7893, "network": ["tcp", "udp"]}
    ]}`,
    "t.json",
    { os: "linux" },
  );
  assert.deepEqual(ok.errors, []);
  const [d, t] = ok.options!.inbounds as DirectInboundOptions[];
  assert.deepEqual({ ...d, listen: [...d!.listen] }, {
    type: "direct",
    tag: "d",
    listen: new Array(16).fill(0),
    network: ["udp"],
    listen_port: 5353,
    udp_timeout: 60_000,
    override_address: "1.1.1.1",
    override_port: 53,
  });
  assert.deepEqual(t && { type: t.type, network: (t as { network: string[] }).network }, {
    type: "tproxy",
    network: ["tcp", "udp"],
  });
  const bad = `{${OUT}, "inbounds": [{"type": "direct", "tag": "d", "network": "icmp"}]}`;
  expectAt(bad, '"icmp"', "inbounds[0].network", 'unknown network "icmp" (one of "tcp", "udp")');
  const users = `{${OUT}, "inbounds": [{"type": "tproxy", "tag": "t", "users": []}]}`;
  expectAt(users, '"users"', "inbounds[0].users", 'unknown field "users" in a "tproxy" inbound');
});

Deno.test("decodeConfigText() reads a redirect inbound (TCP only, Linux only)", () => {
  const text = `{${OUT}, "inbounds": [
      {"type": "redirect", "tag": "r", "listen": "::", "listen_port": 7892, "tcp_fast_open": true}
    ]}`;
  const ok = decodeConfigText(text, "t.json", { os: "linux" });
  assert.deepEqual(ok.errors, []);
  const r = ok.options!.inbounds[0]!;
  assert.deepEqual({ ...r, listen: [...(r as { listen: Uint8Array }).listen] }, {
    type: "redirect",
    tag: "r",
    listen: new Array(16).fill(0),
    listen_port: 7892,
    tcp_fast_open: true,
  });
  const udp = `{${OUT}, "inbounds": [{"type": "redirect", "tag": "r", "network": "udp"}]}`;
  expectAt(
    udp,
    '"network"',
    "inbounds[0].network",
    'unknown field "network" in a "redirect" inbound',
  );
  const mac = decodeConfigText(text, "t.json", { os: "darwin" });
  assert.deepEqual(mac.errors.map((e) => e.message), [
    'inbound type "redirect" is only available on Linux',
  ]);
});

Deno.test("decodeConfigText() requires server_port on a socks outbound", () => {
  const text = `{"outbounds": [\n  {"type": "socks", "tag": "s", "server": "127.0.0.1"}\n]}`;
  expectAt(text, '{"type"', "outbounds[0]", 'missing "server_port"');
});

Deno.test("decodeConfigText() accepts one trailing comma before ] and }, also before a comment, as sing-box", () => {
  const text = `{
  "outbounds": [
    {"type": "direct", "tag": "d",},
    {"type": "block", "tag": "b"}, // the last one
  ],
  "route": {"final": "d", /* default */},
}`;
  const r = decodeConfigText(text, "t.json", { os: "linux" });
  assert.deepEqual(r.errors, []);
  assert.equal(r.options?.outbounds.length, 2);
});

Deno.test("decodeConfigText() still refuses a comma with nothing before it", () => {
  assert.deepEqual(errors(`{\n  "outbounds": [\n    {"type": "direct"},,\n  ]\n}`), [
    "t.json:3:24: two commas in a row (a value is missing)",
  ]);
  assert.deepEqual(errors(`{"outbounds": [,]}`), ["t.json:1:16: expected a value"]);
});

Deno.test("decodeConfigText() reports an unquoted key once", () => {
  assert.deepEqual(errors(`{\n  log: {}\n}`), [
    "t.json:2:3: property names must be in double quotes, got log",
  ]);
});

Deno.test("decodeConfigText() reports an unterminated string", () => {
  assert.deepEqual(errors(`{\n  "log": {"level": "info}\n}`), ["t.json:2:20: unterminated string"]);
});

Deno.test("decodeConfigText() reports a root that is not an object", () => {
  assert.deepEqual(errors(`[1, 2]`), ["t.json:1:1: (root): expected an object, got a list"]);
});

Deno.test("decodeConfigText() reports a detour loop", () => {
  const text = `{"outbounds": [
  {"type": "direct", "tag": "a", "detour": "b"},
  {"type": "direct", "tag": "b", "detour": "a"}
]}`;
  assert.deepEqual(errors(text), [
    `t.json:${at(text, '"b"}')}: outbounds[0].detour: detour loop: "a" -> "b" -> "a"`,
    `t.json:${at(text, '"a"}')}: outbounds[1].detour: detour loop: "b" -> "a" -> "b"`,
  ]);
});

Deno.test("decodeConfigText() rejects a typed DNS server detouring to an empty direct outbound", () => {
  const text =
    `{${OUT},\n"dns": {"servers": [{"type": "udp", "tag": "u", "server": "1.1.1.1", "detour": "direct"}]}}`;
  expectAt(
    text,
    ['"direct"', 3],
    "dns.servers[0].detour",
    'detour to an empty direct outbound makes no sense; remove "detour" (typed DNS servers dial directly by default)',
  );
});

Deno.test("decodeConfigText() rejects an invalid domain_regex", () => {
  const text = `{${OUT}, "route": {"rules": [{"domain_regex": "(", "outbound": "direct"}]}}`;
  expectAt(
    text,
    '"("',
    "route.rules[0].domain_regex",
    'Cannot compile domain_regex "(": Invalid regular expression: /(/: Unterminated group',
  );
});

Deno.test("decodeConfigText() accepts Go's regex syntax the runtime translates, and refuses what it cannot", () => {
  const ok =
    `{${OUT}, "route": {"rules": [{"domain_regex": ["(?i)^ads\\\\.", "(?P<n>a)b", "\\\\Ax\\\\z"], "outbound": "direct"}]}}`;
  assert.deepEqual(errors(ok), []);
  const text = `{${OUT}, "route": {"rules": [{"domain_regex": "a(?i)b", "outbound": "direct"}]}}`;
  expectAt(
    text,
    '"a(?i)b"',
    "route.rules[0].domain_regex",
    'Cannot use domain_regex "a(?i)b": inline flags after the start are not supported',
  );
});

Deno.test("decodeConfigText() rejects ip_version other than 4 or 6", () => {
  const text = `{${OUT}, "route": {"rules": [{"ip_version": 5, "outbound": "direct"}]}}`;
  expectAt(text, "5", "route.rules[0].ip_version", "must be 4 or 6");
});

Deno.test("decodeConfigText() explains that geosite was removed", () => {
  const text = `{${OUT}, "route": {"rules": [{"geosite": "cn", "outbound": "direct"}]}}`;
  expectAt(
    text,
    '"geosite"',
    "route.rules[0].geosite",
    '"geosite" is removed: geoip/geosite databases were removed in sing-box 1.12.0; convert them to rule sets (`tunbox rule-set convert`, or sing-box\'s `geoip export`/`geosite export`) and use "rule_set" instead; here: `tunbox rule-set convert -t geosite --category cn geosite.db` writes geosite-cn.srs; add {"type": "local", "tag": "geosite-cn", "path": "geosite-cn.srs"} to route.rule_set and write "rule_set": "geosite-cn"',
  );
});

Deno.test("decodeConfigText() says how to convert several geoip codes, and private", () => {
  const text = `{${OUT}, "dns": {"servers": [{"type": "local", "tag": "l"}],
    "rules": [{"source_geoip": ["private", "CN", "us"], "server": "l"}]}}`;
  expectAt(
    text,
    '"source_geoip"',
    "dns.rules[0].source_geoip",
    '"source_geoip" is removed: geoip/geosite databases were removed in sing-box 1.12.0; convert them to rule sets (`tunbox rule-set convert`, or sing-box\'s `geoip export`/`geosite export`) and use "rule_set" instead; for "private" write "source_ip_is_private": true; here: run `tunbox rule-set convert -t geoip --category <code> geoip.db` for each of cn, us (it writes geoip-<code>.srs), add each as {"type": "local", "tag": "geoip-<code>", "path": "geoip-<code>.srs"} to route.rule_set and write "rule_set": ["geoip-cn", "geoip-us"] with "rule_set_ip_cidr_match_source": true',
  );
});

Deno.test("decodeConfigText() rejects an IP-looking DNS server that is not an address", () => {
  const text = `{"dns": {"servers": [{"type": "udp", "tag": "u", "server": "8.8.8.888"}]}}`;
  expectAt(text, '"8.8.8.888"', "dns.servers[0].server", 'invalid server address "8.8.8.888"');
});

Deno.test("decodeConfigText() rejects a port above 65535", () => {
  const text = `{"inbounds": [{"type": "mixed", "tag": "m", "listen_port": 70000}]}`;
  expectAt(text, "70000", "inbounds[0].listen_port", "70000 is not a whole number from 0 to 65535");
});

Deno.test("decodeConfigText() reports every problem in one run, sorted by position", () => {
  const text = `{
  "log": {"level": "loud"},
  "inbounds": [{"type": "tun", "address": "10.0.0.1", "mtu": 70000}],
  "route": {"final": "nope"}
}`;
  assert.deepEqual(errors(text), [
    `t.json:2:20: log.level: invalid value "loud"; expected one of "trace", "debug", "info", "warn", "error", "fatal", "panic"`,
    `t.json:3:43: inbounds[0].address: invalid prefix "10.0.0.1": missing prefix length (write "10.0.0.1/32" for one address, or e.g. "10.0.0.1/30")`,
    "t.json:3:62: inbounds[0].mtu: MTU 70000 is larger than 65535",
    `t.json:4:22: route.final: unknown outbound "nope" (defined: "direct")`,
  ]);
  assert.equal(at(text, '"loud"'), "2:20");
  assert.equal(at(text, '"10.0.0.1"'), "3:43");
  assert.equal(at(text, "70000"), "3:62");
  assert.equal(at(text, '"nope"'), "4:22");
});

Deno.test('decodeConfigText() accepts the DNS rule outbound wildcard "any" but checks real tags', () => {
  const text =
    `{${OUT}, "dns": {"servers": [{"type": "local", "tag": "l"}], "rules": [{"outbound": ["any", "proxy"], "server": "l"}]}}`;
  assert.deepEqual(errors(text), [
    `t.json:${
      at(text, '"proxy"')
    }: dns.rules[0].outbound[1]: unknown outbound "proxy" (defined: "direct")`,
  ]);
});

Deno.test('decodeConfigText() refuses an enum value named like an Object property ("valueOf", "constructor")', () => {
  // The fuzz test found `"type": "valueOf"` crashing the decoder: the alias lookup read it from
  // Object.prototype.
  for (const name of ["valueOf", "constructor", "__proto__", "toString"]) {
    const text = `{"outbounds": [{"type": "${name}", "tag": "x"}]}`;
    const found = errors(text);
    assert.equal(found.length, 1, found.join("\n"));
    assert.match(found[0]!, new RegExp(`outbounds\\[0\\]\\.type: invalid value "${name}"`));
  }
});
