/**
 * A config that is one piece of a sing-box config (as the documentation prints them) gets one
 * error saying where it belongs.
 */

import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";

function errors(text: string): string[] {
  return decodeConfigText(text, "t.json", { os: "linux" }).errors.map((e) => e.format());
}

Deno.test("an inbound on its own: put it in inbounds", () => {
  const text = `{
  "type": "tun",
  "tag": "tun-in",
  "address": ["172.19.0.1/30"],
  "auto_route": true
}`;
  assert.deepEqual(errors(text), [
    't.json:1:1: (root): this looks like one inbound: put it in "inbounds": [ … ]',
  ]);
  assert.deepEqual(
    errors(`{"type": "mixed", "listen": "127.0.0.1", "listen_port": 2080}`),
    ['t.json:1:1: (root): this looks like one inbound: put it in "inbounds": [ … ]'],
  );
});

Deno.test("an outbound, a DNS server, a rule on their own", () => {
  assert.deepEqual(
    errors(`{"type": "socks", "tag": "proxy", "server": "127.0.0.1", "server_port": 1080}`),
    ['t.json:1:1: (root): this looks like one outbound: put it in "outbounds": [ … ]'],
  );
  assert.deepEqual(errors(`{"type": "udp", "tag": "google", "server": "8.8.8.8"}`), [
    't.json:1:1: (root): this looks like one DNS server: put it in "dns": {"servers": [ … ]}',
  ]);
  assert.deepEqual(errors(`{"tag": "google", "address": "tls://8.8.8.8"}`), [
    't.json:1:1: (root): this looks like one DNS server: put it in "dns": {"servers": [ … ]}',
  ]);
  assert.deepEqual(errors(`{"domain_suffix": ["example.com"], "outbound": "direct"}`), [
    't.json:1:1: (root): this looks like one route rule: put it in "route": {"rules": [ … ]}',
  ]);
});

Deno.test("a list of outbounds on its own: put them in outbounds", () => {
  assert.deepEqual(
    errors(`[{"type": "direct", "tag": "direct", "detour": "x"}, {"type": "block", "tag": "b"}]`),
    [
      't.json:1:1: (root): this looks like a list of outbounds: put it in "outbounds": [ … ]',
    ],
  );
});

Deno.test("a whole config with an odd key is not a fragment", () => {
  assert.deepEqual(errors(`{"outbounds": [{"type": "direct", "tag": "d"}], "type": "x"}`), [
    't.json:1:49: type: unknown field "type"',
  ]);
});

Deno.test("an outbound with only a type and tag, alone or in a list: put it in outbounds", () => {
  assert.deepEqual(errors(`{"type": "direct", "tag": "direct"}`), [
    't.json:1:1: (root): this looks like one outbound: put it in "outbounds": [ … ]',
  ]);
  assert.deepEqual(errors(`[{"type": "direct", "tag": "direct"}, {"type": "block"}]`), [
    't.json:1:1: (root): this looks like a list of outbounds: put it in "outbounds": [ … ]',
  ]);
});

Deno.test("a section on its own (dns, route, log, experimental): put it under its key", () => {
  const put = (what: string, key: string) =>
    `t.json:1:1: (root): this looks like the ${what} section: put it in "${key}": { … }`;
  assert.deepEqual(
    errors(`{"servers": [{"type": "udp", "tag": "g", "server": "8.8.8.8"}], "final": "g"}`),
    [put("dns", "dns")],
  );
  // Rules naming a DNS "server" make a piece without servers DNS's, not route's.
  assert.deepEqual(errors(`{"rules": [{"domain": ["a.cn"], "server": "l"}], "final": "r"}`), [
    put("dns", "dns"),
  ]);
  assert.deepEqual(
    errors(`{"rules": [{"domain": ["a.cn"], "outbound": "direct"}], "final": "proxy",
      "auto_detect_interface": true}`),
    [put("route", "route")],
  );
  assert.deepEqual(errors(`{"level": "info", "timestamp": true}`), [put("log", "log")]);
  assert.deepEqual(errors(`{"clash_api": {"external_controller": "127.0.0.1:9090"}}`), [
    put("experimental", "experimental"),
  ]);
  // A key of another section: not a section piece, each unknown key is reported.
  assert.deepEqual(errors(`{"level": "info", "servers": []}`), [
    't.json:1:2: level: unknown field "level"',
    't.json:1:19: servers: unknown field "servers"',
  ]);
});

Deno.test("one entry where a list of entries goes: a list of one is written [ { … } ]", () => {
  assert.deepEqual(errors(`{"inbounds": {"type": "mixed", "listen_port": 1080}}`), [
    "t.json:1:14: inbounds: expected a list, got an object (a list of one is written [ { … } ])",
  ]);
});
