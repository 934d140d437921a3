/**
 * What `run` would refuse while building outbounds, the router, the TUN plan or the Clash API,
 * `check` refuses first, at the value that causes it (found by the property test in
 * check_run_property_test.ts).
 */

import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";
import type { TunInboundOptions } from "../../src/config/types.ts";
import { at } from "./_helpers.ts";

function errors(text: string, os = "linux"): string[] {
  return decodeConfigText(text, "t.json", { os }).errors.map((e) => e.format());
}

Deno.test("a tun inbound without any address is refused whatever its stack", () => {
  const text = `{"inbounds": [{"type": "tun", "stack": "gvisor", "address": []}]}`;
  assert.deepEqual(errors(text), [
    `t.json:${
      at(text, "[]")
    }: inbounds[0].address: missing "address": a tun inbound needs one (for example "172.19.0.1/30")`,
  ]);
});

Deno.test('"mtu": 0 is the default, as in sing-box', () => {
  const r = decodeConfigText(
    `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "mtu": 0}]}`,
    "t.json",
    { os: "linux" },
  );
  assert.deepEqual(r.errors, []);
  assert.equal((r.options!.inbounds[0] as TunInboundOptions).mtu, undefined);
});

Deno.test("Linux route planner limits: table and rule indexes, interface names", () => {
  const text = `{"inbounds": [{"type": "tun", "address": "172.19.0.1/30", "auto_route": true,
  "iproute2_table_index": 254, "iproute2_rule_index": 32760, "include_interface": ["eth0", "bad name"]}]}`;
  assert.deepEqual(errors(text), [
    `t.json:${
      at(text, "254")
    }: inbounds[0].iproute2_table_index: invalid iproute2_table_index 254: must be 1-4294967295 and not 253, 254 or 255 (the default, main and local tables)`,
    `t.json:${
      at(text, "32760")
    }: inbounds[0].iproute2_rule_index: invalid iproute2_rule_index 32760: must be 1-32755 so that [index, index+10] stays clear of priority 0 and the main/default rules`,
    `t.json:${
      at(text, '"bad name"')
    }: inbounds[0].include_interface[1]: invalid interface name "bad name": it contains '/', ':' or whitespace`,
  ]);
  // macOS ignores these (its planner does not use them).
  assert.deepEqual(
    errors(text.replace('"tun", ', '"tun", "interface_name": "utun9", '), "darwin"),
    [],
  );
});

Deno.test("the Clash API address is parsed as the API parses it", () => {
  const text = `{"experimental": {"clash_api": {"external_controller": "9090"}}}`;
  assert.deepEqual(errors(text), [
    `t.json:${
      at(text, '"9090"')
    }: experimental.clash_api.external_controller: invalid external_controller "9090": expected host:port, e.g. 127.0.0.1:9090`,
  ]);
});

Deno.test("HTTP headers are checked as the http outbound writes them", () => {
  const text =
    `{"outbounds": [{"type": "http", "tag": "h", "server": "127.0.0.1", "server_port": 8080,
  "headers": {"X-Bad:Name": "v", "X-Ok": ["a", "b\\r\\nc"]}}]}`;
  assert.deepEqual(errors(text), [
    `t.json:${
      at(text, '"X-Bad:Name"')
    }: outbounds[0].headers["X-Bad:Name"]: invalid header name "X-Bad:Name"`,
    `t.json:${at(text, '"b\\r\\nc"')}: outbounds[0].headers.X-Ok[1]: value contains a line break`,
  ]);
});

Deno.test('a urltest "url" must be http(s); "" is the default', () => {
  const text = `{"outbounds": [{"type": "direct", "tag": "d"},
  {"type": "urltest", "tag": "u", "outbounds": ["d"], "url": "ftp://x/"}]}`;
  assert.deepEqual(errors(text), [
    `t.json:${at(text, '"ftp://x/"')}: outbounds[1].url: "ftp://x/" is not an http or https URL`,
  ]);
  assert.deepEqual(errors(text.replace("ftp://x/", "")), []);
});

Deno.test("a group that reaches itself is a reference cycle, reported once", () => {
  const text = `{"outbounds": [{"type": "direct", "tag": "d"},
  {"type": "selector", "tag": "a", "outbounds": ["d", "b"]},
  {"type": "urltest", "tag": "b", "outbounds": ["a"]}]}`;
  assert.deepEqual(errors(text), [
    `t.json:${at(text, '"a"]')}: outbounds[2].outbounds[0]: reference cycle: "a" -> "b" -> "a"`,
  ]);
});

Deno.test("a legacy dns outbound can only be routed to by rules", () => {
  const text = `{"outbounds": [{"type": "direct", "tag": "d"}, {"type": "dns", "tag": "dns-out"},
  {"type": "selector", "tag": "s", "outbounds": ["d", "dns-out"]}],
  "route": {"rules": [{"protocol": "dns", "outbound": "dns-out"}]}}`;
  assert.deepEqual(errors(text), [
    `t.json:${
      at(text, '"dns-out"]')
    }: outbounds[2].outbounds[1]: outbound "dns-out" is a legacy dns outbound: only rules can use it (tunbox turns them into {"action": "hijack-dns"})`,
  ]);
});

Deno.test("SOCKS version 4 cannot carry UDP; RFC 1929 limits credentials to 255 bytes", () => {
  const text =
    `{"outbounds": [{"type": "socks", "tag": "s", "server": "127.0.0.1", "server_port": 1080,
  "version": "4", "network": "udp", "username": "${"u".repeat(256)}"}]}`;
  assert.deepEqual(errors(text), [
    `t.json:${
      at(text, '"udp"')
    }: outbounds[0].network: network "udp" needs SOCKS version 5 (version is "4")`,
    `t.json:${
      at(text, '"uuu')
    }: outbounds[0].username: username is longer than 255 bytes (RFC 1929)`,
  ]);
});
