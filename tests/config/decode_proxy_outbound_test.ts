// Decoding the proxy-protocol outbounds (shadowsocks, ...): every field sing-box documents,
// and each refusal reported at its token.

import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";
import type {
  ShadowsocksOutboundOptions,
  TrojanOutboundOptions,
  VlessOutboundOptions,
  VmessOutboundOptions,
  WireguardOutboundOptions,
} from "../../src/config/types.ts";
import { at } from "./_helpers.ts";
import { verdict } from "../../src/config/support.ts";

function decode(text: string) {
  return decodeConfigText(text, "t.json", { os: "linux" });
}

function problems(text: string): string[] {
  const r = decode(text);
  return [...r.errors, ...r.warnings].map((e) => e.format());
}

Deno.test("decodeConfigText() reads a shadowsocks outbound with every field", () => {
  const text = `{"outbounds": [{
    "type": "shadowsocks", "tag": "ss", "server": "ss.example", "server_port": 8388,
    "method": "2022-blake3-aes-128-gcm", "password": "8JCsPssfgS8tiRwiMlhARg==",
    "network": "tcp", "udp_over_tcp": false, "multiplex": {"enabled": false, "protocol": "smux"},
    "plugin": "", "plugin_opts": "",
    "detour": "", "bind_interface": "eth0", "routing_mark": 255, "connect_timeout": "3s"
  }]}`;
  const r = decode(text);
  assert.deepEqual(problems(text), []);
  const ss = r.options!.outbounds[0] as ShadowsocksOutboundOptions;
  assert.equal(ss.method, "2022-blake3-aes-128-gcm");
  assert.equal(ss.password, "8JCsPssfgS8tiRwiMlhARg==");
  assert.equal(ss.network, "tcp");
  assert.equal(ss.bind_interface, "eth0");
  assert.equal(ss.routing_mark, 255);
  assert.equal(ss.connect_timeout, 3000);
  assert.deepEqual(ss.multiplex, { enabled: false, protocol: "smux" });
});

Deno.test("decodeConfigText() reports shadowsocks refusals at their tokens", () => {
  const text = `{"outbounds": [
    {"type": "shadowsocks", "tag": "a", "server": "1.2.3.4", "server_port": 1, "method": "rc4-md5", "password": "x"},
    {"type": "shadowsocks", "tag": "b", "server": "1.2.3.4", "server_port": 1, "method": "2022-blake3-aes-256-gcm", "password": "AAAA"},
    {"type": "shadowsocks", "tag": "c", "server": "1.2.3.4", "server_port": 1, "method": "aes-128-gcm", "password": "x", "plugin": "obfs-local"},
    {"type": "shadowsocks", "tag": "d", "server": "1.2.3.4", "server_port": 1, "method": "aes-128-gcm", "password": "x", "multiplex": {"enabled": true}},
    {"type": "shadowsocks", "tag": "e", "server": "1.2.3.4", "server_port": 1, "method": "aes-128-gcm"}
  ]}`;
  const got = problems(text);
  assert.deepEqual(got, [
    `t.json:${
      at(text, '"rc4-md5"')
    }: outbounds[0].method: shadowsocks stream ciphers (aes-*-ctr, aes-*-cfb, rc4-md5, chacha20-ietf, xchacha20) are insecure, deprecated by shadowsocks, and not implemented in tunbox; use "2022-blake3-aes-128-gcm", "aes-128-gcm" or "chacha20-ietf-poly1305"`,
    `t.json:${
      at(text, '"AAAA"')
    }: outbounds[1].password: the password is a 3-byte key; method "2022-blake3-aes-256-gcm" needs 32 (generate one with \`openssl rand -base64 32\`)`,
    `t.json:${
      at(text, '"plugin"')
    }: outbounds[2].plugin: "plugin" in a shadowsocks outbound is not implemented in tunbox; run ss-local with the plugin and point a "socks" outbound at it`,
    `t.json:${
      at(text, '{"type": "shadowsocks", "tag": "e"')
    }: outbounds[4]: method "aes-128-gcm" needs a password`,
    `t.json:${
      at(text, '"multiplex"')
    }: outbounds[3].multiplex: "multiplex" (sing-box's smux/yamux/h2mux multiplexing, which needs a sing-box server) is not implemented in tunbox yet and is ignored: each connection uses its own server connection, which sing-box servers accept too`,
  ]);
});

Deno.test("decodeConfigText() reads a vmess outbound with a ws transport", () => {
  const text = `{"outbounds": [{
    "type": "vmess", "tag": "vm", "server": "vm.example", "server_port": 443,
    "uuid": "bf000d23-0752-40b4-affe-68f7707a9661", "security": "auto", "alter_id": 0,
    "global_padding": true, "authenticated_length": true, "network": "tcp",
    "tls": {"enabled": true, "server_name": "cdn.example", "insecure": false},
    "packet_encoding": "",
    "transport": {"type": "ws", "path": "/v", "headers": {"Host": "cdn.example"},
      "max_early_data": 2048, "early_data_header_name": "Sec-WebSocket-Protocol"}
  }]}`;
  const r = decode(text);
  assert.deepEqual(problems(text), []);
  const vm = r.options!.outbounds[0] as VmessOutboundOptions;
  assert.equal(vm.uuid, "bf000d23-0752-40b4-affe-68f7707a9661");
  assert.equal(vm.global_padding, true);
  assert.deepEqual(vm.tls, { enabled: true, server_name: "cdn.example", insecure: false });
  assert.deepEqual(vm.transport, {
    type: "ws",
    path: "/v",
    headers: { Host: ["cdn.example"] },
    max_early_data: 2048,
    early_data_header_name: "Sec-WebSocket-Protocol",
  });
});

Deno.test("decodeConfigText() reports vmess refusals and warnings at their tokens", () => {
  const text = `{"outbounds": [
    {"type": "vmess", "tag": "a", "server": "1.2.3.4", "server_port": 1, "uuid": "x", "alter_id": 64},
    {"type": "vmess", "tag": "b", "server": "1.2.3.4", "server_port": 1, "uuid": "x", "transport": {"type": "grpc", "service_name": "s"}},
    {"type": "vmess", "tag": "c", "server": "1.2.3.4", "server_port": 1, "uuid": "x", "packet_encoding": "xudp"},
    {"type": "vmess", "tag": "d", "server": "1.2.3.4", "server_port": 1, "uuid": ""}
  ]}`;
  assert.deepEqual(problems(text), [
    `t.json:${
      at(text, '"alter_id"')
    }: outbounds[0].alter_id: "alter_id" above 0 (legacy VMess with MD5 authentication) is not implemented in tunbox; set it to 0 (VMess AEAD, which V2Ray 4.28+ and Xray servers accept)`,
    `t.json:${at(text, '""')}: outbounds[3].uuid: must not be empty (the VMess user id)`,
    `t.json:${
      at(text, '"grpc"')
    }: outbounds[1].transport.type: V2Ray transport "grpc" is not implemented in tunbox yet; the outbound is left out (rules and detours must not use it; groups skip it). Use "ws", "http" or no transport if the server offers one`,
    `t.json:${
      at(text, '"xudp"')
    }: outbounds[2].packet_encoding: packet_encoding "xudp" is not implemented in tunbox yet; UDP uses one connection per destination, which V2Ray, Xray and sing-box servers accept`,
  ]);
});

Deno.test("decodeConfigText() reads vless and trojan outbounds and refuses a vless flow", () => {
  const text = `{"outbounds": [
    {"type": "vless", "tag": "v", "server": "v.example", "server_port": 443,
     "uuid": "bf000d23-0752-40b4-affe-68f7707a9661", "network": "tcp",
     "tls": {"enabled": true}, "transport": {"type": "ws", "path": "/x"}},
    {"type": "trojan", "tag": "t", "server": "t.example", "server_port": 443,
     "password": "pw", "tls": {"enabled": true, "server_name": "t.example"}}
  ]}`;
  const r = decode(text);
  assert.deepEqual(problems(text), []);
  const [v, t] = r.options!.outbounds as [VlessOutboundOptions, TrojanOutboundOptions];
  assert.equal(v.uuid, "bf000d23-0752-40b4-affe-68f7707a9661");
  assert.deepEqual(v.transport, { type: "ws", path: "/x", headers: {} });
  assert.equal(t.password, "pw");
  assert.equal(t.tls?.server_name, "t.example");
  const flow = `{"outbounds": [{"type": "direct", "tag": "d"}, {"type": "vless", "tag": "f",
    "server": "v.example", "server_port": 443, "uuid": "x", "flow": "xtls-rprx-vision"}]}`;
  assert.deepEqual(problems(flow), [
    `t.json:${at(flow, '"flow"')}: outbounds[1].flow: ${verdict("outbound.vless.flow").message}`,
  ]);
  assert.match(verdict("outbound.vless.flow").message, /left out/);
  assert.deepEqual(decode(flow).options!.outbounds.map((o) => o.tag), ["d"]);
});

Deno.test("outbounds tunbox does not build are left out: groups skip them, rules may not use them", () => {
  const text = `{"outbounds": [
    {"type": "hysteria2", "tag": "h", "server": "1.2.3.4", "server_port": 443, "password": "x"},
    {"type": "vless", "tag": "r", "server": "1.2.3.4", "server_port": 443, "uuid": "x",
     "tls": {"enabled": true, "server_name": "a.example", "reality": {"enabled": true}}},
    {"type": "direct", "tag": "d"},
    {"type": "selector", "tag": "s", "outbounds": ["h", "r", "d"], "default": "h"},
    {"type": "urltest", "tag": "u", "outbounds": ["h", "r"]}
  ], "route": {"final": "s"}}`;
  const r = decode(text);
  const hy = verdict("outbound.hysteria2").message;
  const re = verdict("outbound.reality").message;
  assert.deepEqual(r.errors.map((e) => e.format()), []);
  assert.deepEqual(r.warnings.map((e) => e.format()), [
    `t.json:${at(text, '"hysteria2"')}: outbounds[0].type: ${hy}`,
    `t.json:${at(text, '"reality"')}: outbounds[1].tls.reality: ${re}`,
    `t.json:${at(text, '"h"', 2)}: outbounds[3].outbounds[0]: "h" is skipped: ${hy}`,
    `t.json:${at(text, '"r"', 2)}: outbounds[3].outbounds[1]: "r" is skipped: ${re}`,
    `t.json:${at(text, '"h"', 3)}: outbounds[3].default: "h" is skipped: ${hy}`,
    `t.json:${
      at(text, '{"type": "urltest"')
    }: outbounds[4]: group "u" is left out: every member is`,
  ]);
  const outs = r.options!.outbounds;
  assert.deepEqual(outs.map((o) => o.tag), ["d", "s"]);
  assert.deepEqual(outs[1], { type: "selector", tag: "s", outbounds: ["d"] });
  // A rule (or final, or detour) that uses one is an error.
  const used = `{"outbounds": [
    {"type": "tuic", "tag": "t", "server": "1.2.3.4", "server_port": 443, "uuid": "x"},
    {"type": "direct", "tag": "d", "detour": "t"}
  ], "route": {"final": "t"}}`;
  const tu = verdict("outbound.tuic").message;
  // One root cause, one error: the outbound's own warning becomes the error, naming each use.
  const r2 = decode(used);
  assert.deepEqual(r2.errors.map((e) => e.format()), [
    `t.json:${at(used, '"tuic"')}: outbounds[0].type: ${tu}. It is used by outbounds[1].detour (${
      at(used, '"t"', 2)
    }), route.final (${at(used, '"t"', 3)}): point those at another outbound, or remove them`,
  ]);
  assert.deepEqual(r2.warnings, []);
});

Deno.test("behind a left-out detour (a ShadowTLS chain) a missing server is not reported again", () => {
  // sing-box's ShadowTLS form: the shadowsocks outbound names no server, its detour dials one.
  const chain = `{"outbounds": [
    {"type": "direct", "tag": "out"},
    {"type": "shadowsocks", "tag": "ss", "detour": "st", "method": "aes-128-gcm", "password": "p"},
    {"type": "shadowtls", "tag": "st", "server": "192.0.2.4", "server_port": 443, "version": 3}
  ]}`;
  const st = verdict("outbound.shadowtls").message;
  assert.deepEqual(decode(chain).errors.map((e) => e.format()), [
    `t.json:${
      at(chain, '"shadowtls"')
    }: outbounds[2].type: ${st}. It is used by outbounds[1].detour (${
      at(chain, '"st"')
    }): point that at another outbound, or remove it`,
  ]);
  // Behind a detour tunbox builds, the server is needed (tunbox dials it through the detour).
  const built = chain.replace('"type": "shadowtls"', '"type": "socks"').replace(
    ', "version": 3',
    "",
  );
  const obj = at(built, '{"type": "shadowsocks"');
  assert.deepEqual(decode(built).errors.map((e) => e.format()), [
    `t.json:${obj}: outbounds[1]: missing "server"`,
    `t.json:${obj}: outbounds[1]: missing "server_port"`,
  ]);
});

Deno.test("a rule that uses a group left out with its members is one error, at the member", () => {
  const text = `{"outbounds": [
    {"type": "hysteria2", "tag": "h", "server": "1.2.3.4", "server_port": 443, "password": "x"},
    {"type": "selector", "tag": "s", "outbounds": ["h"]},
    {"type": "urltest", "tag": "u", "outbounds": ["s"]}
  ], "route": {"rules": [{"ip_is_private": true, "outbound": "u"}], "final": "h"}}`;
  const r = decode(text);
  const hy = verdict("outbound.hysteria2").message;
  assert.deepEqual(r.errors.map((e) => e.format()), [
    `t.json:${at(text, '"hysteria2"')}: outbounds[0].type: ${hy}. It is used by ` +
    `route.rules[0].outbound (${at(text, '"u"', 2)}, through group "u"), route.final (${
      at(text, '"h"', 3)
    }): point those at another outbound, or remove them`,
  ]);
  assert.deepEqual(r.warnings.map((e) => e.format()), [
    `t.json:${
      at(text, '{"type": "selector"')
    }: outbounds[1]: group "s" is left out: every member is`,
    `t.json:${
      at(text, '{"type": "urltest"')
    }: outbounds[2]: group "u" is left out: every member is`,
  ]);
  assert.equal(r.errors.some((e) => /unknown outbound|no outbounds/i.test(e.message)), false);
});

const WG_KEY = "YNXtAzepDqRv9H52osJVDQnznT5AM11eCK3ESpwSt04=";
const WG_PEER = "Z1XXLsKYkYxuiYjJIkRvtIKFepCYHTgON+GwPq7SOV4=";

Deno.test("decodeConfigText() reads a wireguard endpoint as an outbound", () => {
  const text = `{"endpoints": [{
    "type": "wireguard", "tag": "wg", "mtu": 1380, "address": ["10.0.0.2/32", "fd00::2/128"],
    "private_key": "${WG_KEY}", "listen_port": 0,
    "peers": [{"address": "wg.example", "port": 51820, "public_key": "${WG_PEER}",
      "allowed_ips": ["0.0.0.0/0", "::/0"], "persistent_keepalive_interval": 25,
      "reserved": [1, 2, 3]}],
    "detour": "", "routing_mark": 7
  }], "route": {"final": "wg"}}`;
  const r = decode(text);
  assert.deepEqual(problems(text), []);
  const wg = r.options!.outbounds.find((o) => o.tag === "wg") as WireguardOutboundOptions;
  assert.equal(wg.type, "wireguard");
  assert.equal(wg.mtu, 1380);
  assert.equal(wg.routing_mark, 7);
  assert.deepEqual(wg.address.map((a) => a.bits), [32, 128]);
  assert.equal(wg.peers[0]!.address, "wg.example");
  assert.equal(wg.peers[0]!.persistent_keepalive_interval, 25);
  assert.deepEqual(wg.peers[0]!.reserved, [1, 2, 3]);
});

Deno.test("decodeConfigText() reads the legacy wireguard outbound with a warning", () => {
  const text = `{"outbounds": [{
    "type": "wireguard", "tag": "wg", "server": "1.2.3.4", "server_port": 51820,
    "local_address": ["10.0.0.2/32"], "private_key": "${WG_KEY}",
    "peer_public_key": "${WG_PEER}", "reserved": "AQID", "mtu": 1408
  }]}`;
  const r = decode(text);
  assert.deepEqual(r.errors.map((e) => e.format()), []);
  assert.deepEqual(r.warnings.map((e) => e.format()), [
    `t.json:${at(text, '"wireguard"')}: outbounds[0].type: the wireguard outbound is deprecated ` +
    'in sing-box 1.11.0 and removed in 1.13.0, use an endpoint instead ({"endpoints": [{"type": ' +
    '"wireguard", ...}]}); tunbox still runs it',
  ]);
  const wg = r.options!.outbounds[0] as WireguardOutboundOptions;
  assert.equal(wg.legacy, true);
  assert.deepEqual(wg.peers.map((p) => [p.address, p.port, p.public_key, p.reserved]), [
    ["1.2.3.4", 51820, WG_PEER, [1, 2, 3]],
  ]);
  assert.deepEqual(wg.peers[0]!.allowed_ips.map((a) => a.bits), [0, 0]);
  const bad = `{"endpoints": [{"type": "wireguard", "tag": "w", "address": "10.0.0.2/32",
    "private_key": "short", "peers": [{"public_key": "${WG_PEER}", "allowed_ips": "0.0.0.0/0"}]}]}`;
  assert.deepEqual(decode(bad).errors.map((e) => e.format()), [
    `t.json:${at(bad, '"short"')}: endpoints[0].private_key: "short" is not a WireGuard key (44 ` +
    "base64 characters, 32 bytes; `wg genkey` makes one)",
    `t.json:${at(bad, '{"public_key"')}: endpoints[0].peers[0]: missing "address" and "port": ` +
    "tunbox only connects to peers (it does not listen for them)",
  ]);
});

Deno.test("decodeConfigText() reads the http transport over TLS and leaves the outbound out without TLS", () => {
  const text = `{"outbounds": [
    {"type": "vless", "tag": "a", "server": "1.2.3.4", "server_port": 1, "uuid": "x",
     "tls": {"enabled": true}, "transport": {"type": "http", "host": ["h.example"], "path": "/p", "method": "PUT"}},
    {"type": "trojan", "tag": "b", "server": "1.2.3.4", "server_port": 1, "password": "x",
     "transport": {"type": "http"}}
  ]}`;
  assert.deepEqual(problems(text), [
    `t.json:${
      at(text, '{"type": "http"}')
    }: outbounds[1].transport: V2Ray transport "http" without "tls" (sing-box's plain HTTP/1.1 form, which only sing-box servers speak) is not implemented in tunbox; the outbound is left out (rules and detours must not use it; groups skip it). Enable "tls" (V2Ray and Xray serve the http transport as HTTP/2 over TLS) or use "ws"`,
  ]);
  // The rest of the config runs without it.
  assert.deepEqual(decode(text).options!.outbounds.map((o) => o.tag), ["a"]);
  const ok = decode(text.replace('"transport": {"type": "http"}', '"tls": {"enabled": true}'));
  assert.deepEqual((ok.options!.outbounds[0] as VlessOutboundOptions).transport, {
    type: "http",
    host: ["h.example"],
    path: "/p",
    method: "PUT",
    headers: {},
  });
});

Deno.test("the first outbound left out without route.final is one error: the default would move", () => {
  // sing-box's default is the first outbound; tunbox must not quietly make it "direct".
  const text = `{"outbounds": [
    {"type": "tuic", "tag": "t", "server": "1.2.3.4", "server_port": 443, "uuid": "x"},
    {"type": "direct", "tag": "d"}
  ]}`;
  const tu = verdict("outbound.tuic").message;
  const r = decode(text);
  assert.deepEqual(r.errors.map((e) => e.format()), [
    `t.json:${at(text, '"tuic"')}: outbounds[0].type: ${tu}. It is used by the default route ` +
    `(route.final is not set, so the first outbound is the default): set "route.final" to ` +
    `another outbound, or put another outbound first`,
  ]);
  // With route.final naming another outbound, the left-out one is only a warning.
  const final = text.replace(/\]\}$/, '], "route": {"final": "d"}}');
  assert.deepEqual(decode(final).errors, []);
  assert.deepEqual(decode(final).options!.outbounds.map((o) => o.tag), ["d"]);
});

Deno.test("only endpoints and no route.final: sing-box's fallback direct is the default", () => {
  const text = `{"endpoints": [{"type": "wireguard", "tag": "wg", "address": ["10.0.0.2/32"],
    "private_key": "${WG_KEY}", "peers": [{"address": "10.9.0.1", "port": 51820,
    "public_key": "${WG_PEER}", "allowed_ips": ["0.0.0.0/0"]}]}]}`;
  const r = decode(text);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.options!.outbounds.map((o) => [o.type, o.tag]), [
    ["direct", "direct"],
    ["wireguard", "wg"],
  ]);
  // route.final naming the endpoint: no fallback is added.
  const named = text.replace(/\}$/, ', "route": {"final": "wg"}}');
  assert.deepEqual(decode(named).options!.outbounds.map((o) => o.tag), ["wg"]);
});
