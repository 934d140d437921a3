/**
 * The config is read as sing-box reads it: keys matched regardless of case where Go's
 * encoding/json does (with a warning naming the canonical spelling), exact where sing-box's
 * two-pass decoding needs it, empty strings as "default", trailing commas, inline rule-sets
 * without "type", and sing-box's implicit direct outbound.
 */

import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";
import { foldKey } from "../../src/config/reader.ts";
import type { DirectOutboundOptions, TunInboundOptions } from "../../src/config/types.ts";
import { at } from "./_helpers.ts";

function decode(text: string) {
  const r = decodeConfigText(text, "t.json", { os: "linux" });
  return {
    options: r.options,
    errors: r.errors.map((e) => e.format()),
    warnings: r.warnings.map((w) => w.format()),
  };
}

Deno.test("foldKey() folds as Go's encoding/json: ASCII case, long s and the Kelvin sign", () => {
  assert.equal(foldKey("bind_interface"), foldKey("Bind_Interface"));
  assert.equal(foldKey("\u017Ftack"), foldKey("STACK"));
  assert.equal(foldKey("\u212Aey"), foldKey("key"));
  assert.notEqual(foldKey("dns_mode"), foldKey("dnsmode"));
});

Deno.test("keys in another case are read, with a warning naming the canonical spelling", () => {
  const text = `{
  "Log": {"Level": "debug"},
  "outbounds": [{"type": "direct", "tag": "d", "Bind_Interface": "eth0"}]
}`;
  const r = decode(text);
  assert.deepEqual(r.errors, []);
  assert.equal(r.options?.log.level, "debug");
  assert.equal((r.options?.outbounds[0] as DirectOutboundOptions).bind_interface, "eth0");
  const msg = (k: string, c: string) =>
    `key "${k}" is read as "${c}" (sing-box matches keys regardless of case); write "${c}"`;
  assert.deepEqual(r.warnings, [
    `t.json:${at(text, '"Log"')}: log: ${msg("Log", "log")}`,
    `t.json:${at(text, '"Level"')}: log.level: ${msg("Level", "level")}`,
    `t.json:${at(text, '"Bind_Interface"')}: outbounds[0].bind_interface: ${
      msg("Bind_Interface", "bind_interface")
    }`,
  ]);
});

Deno.test("of two spellings of one key, the later value wins (as Go's decoder assigns both)", () => {
  const text = `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "stack": "system",
  "\u017Ftack": "gvisor"}]}`;
  const r = decode(text);
  assert.deepEqual(r.errors, []);
  assert.equal((r.options?.inbounds[0] as TunInboundOptions).stack, "gvisor");
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /key "\u017Ftack" is read as "stack"/);
});

Deno.test('"type" and "tag" of an outbound must be spelled exactly (sing-box removes them by name)', () => {
  const text = `{"outbounds": [{"Type": "direct", "tag": "d"}]}`;
  assert.deepEqual(decode(text).errors, [
    `t.json:${
      at(text, '"Type"')
    }: outbounds[0].Type: write "type" in lower case here: sing-box matches "type" and "tag" of outbounds only as spelled`,
  ]);
});

Deno.test("a rule's match keys are exact, its action keys fold (as sing-box decodes rules)", () => {
  const text = `{"outbounds": [{"type": "direct", "tag": "d"}],
  "route": {"rules": [
    {"Domain_Suffix": ["example.com"], "outbound": "d"},
    {"ip_is_private": true, "Outbound": "d"}
  ]}}`;
  const r = decode(text);
  assert.deepEqual(r.errors, [
    `t.json:${
      at(text, '"Domain_Suffix"')
    }: route.rules[0].Domain_Suffix: unknown field "Domain_Suffix", did you mean "domain_suffix"?`,
  ]);
  assert.deepEqual(r.warnings, [
    `t.json:${
      at(text, '"Outbound"')
    }: route.rules[1].outbound: key "Outbound" is read as "outbound" (sing-box matches keys regardless of case); write "outbound"`,
  ]);
});

Deno.test('empty strings mean "default" where sing-box documents one', () => {
  const text = `{
  "log": {"level": ""},
  "dns": {"servers": [{"type": "local", "tag": "l", "detour": ""}], "final": "", "strategy": ""},
  "inbounds": [{"type": "tun", "address": "172.19.0.1/30", "stack": "", "interface_name": ""}],
  "outbounds": [
    {"type": "direct", "tag": "d", "bind_interface": "", "domain_resolver": ""},
    {"type": "selector", "tag": "s", "outbounds": ["d"], "default": ""}
  ],
  "route": {"final": "", "rules": [{"ip_is_private": true, "action": "", "outbound": "d"}],
    "rule_set": [{"type": "remote", "tag": "r", "url": "https://example.com/r.srs", "download_detour": ""}]},
  "experimental": {"clash_api": {"external_controller": "", "external_ui_download_detour": ""}}
}`;
  const r = decode(text);
  assert.deepEqual(r.errors, []);
  const o = r.options!;
  assert.equal(o.log.level, undefined);
  assert.equal(o.route.final, undefined);
  assert.equal(o.dns.final, undefined);
  assert.equal(o.dns.servers[0]!.detour, undefined);
  assert.equal((o.inbounds[0] as TunInboundOptions).stack, undefined);
  assert.equal((o.outbounds[0] as DirectOutboundOptions).bind_interface, undefined);
  assert.equal(o.route.rules[0]!.action.action, "route");
});

Deno.test("an empty outbound in a route action is still an error (sing-box: missing outbound field)", () => {
  const text = `{"outbounds": [{"type": "direct", "tag": "d"}],
  "route": {"rules": [{"ip_is_private": true, "outbound": ""}]}}`;
  assert.deepEqual(decode(text).errors, [
    `t.json:${
      at(text, '""')
    }: route.rules[0].outbound: must not be empty (expected the tag of an outbound)`,
  ]);
});

Deno.test('an inline rule-set without "type" is inline, as in sing-box', () => {
  const text = `{"outbounds": [{"type": "direct", "tag": "d"}],
  "route": {"rule_set": [{"tag": "lan", "rules": [{"ip_cidr": ["192.168.0.0/16"]}]}],
    "rules": [{"rule_set": "lan", "outbound": "d"}]}}`;
  const r = decode(text);
  assert.deepEqual(r.errors, []);
  assert.equal(r.options?.route.rule_set[0]?.type, "inline");
});

Deno.test('without outbounds, the implicit "direct" of sing-box is there and can be named', () => {
  const text = `{"route": {"rules": [{"ip_is_private": true, "outbound": "direct"}]}}`;
  const r = decode(text);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.options?.outbounds, [{ type: "direct", tag: "direct" }]);
});

Deno.test('a rule-set without "type" but with a path or url says which type was meant (one error)', () => {
  const text = `{"route": {"rule_set": [
    {"tag": "a", "format": "binary", "path": "/etc/a.srs"},
    {"tag": "b", "url": "https://example.com/b.srs"}
  ], "rules": [{"rule_set": ["a", "b"], "outbound": "direct"}]}}`;
  assert.deepEqual(decode(text).errors, [
    `t.json:${
      at(text, '{"tag": "a"')
    }: route.rule_set[0]: a rule-set without "type" is inline (sing-box reads it so) and takes no "path": add "type": "local"`,
    `t.json:${
      at(text, '{"tag": "b"')
    }: route.rule_set[1]: a rule-set without "type" is inline (sing-box reads it so) and takes no "url": add "type": "remote"`,
  ]);
});

Deno.test("a rule-set of an unknown type is one error, its other keys are not also unknown", () => {
  const text = `{"route": {"rule_set": [{"tag": "a", "type": "weird", "path": "x.srs"}],
    "rules": [{"rule_set": "a", "outbound": "direct"}]}}`;
  assert.deepEqual(decode(text).errors, [
    `t.json:${
      at(text, '"weird"')
    }: route.rule_set[0].type: invalid value "weird"; expected one of "inline", "local", "remote"`,
  ]);
});

Deno.test("a rule of an unknown type is one error (route, DNS and rule-set rules)", () => {
  const text = `{"dns": {"servers": [{"type": "local", "tag": "l"}],
    "rules": [{"type": "logicall", "mode": "and", "rules": [{"domain": "a"}], "server": "l"}]},
  "route": {"rule_set": [{"tag": "s", "rules": [{"type": "logicall", "mode": "or", "rules": []}]}],
    "rules": [{"type": "logicall", "mode": "and", "rules": [{"domain": "a"}], "outbound": "x"}]}}`;
  const msg =
    'invalid value "logicall"; expected one of "default", "logical"; did you mean "logical"?';
  assert.deepEqual(decode(text).errors, [
    `t.json:${at(text, '"logicall"')}: dns.rules[0].type: ${msg}`,
    `t.json:${at(text, '"logicall"', 2)}: route.rule_set[0].rules[0].type: ${msg}`,
    `t.json:${at(text, '"logicall"', 3)}: route.rules[0].type: ${msg}`,
  ]);
});
