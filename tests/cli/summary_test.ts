/**
 * The dry-run summary names each outbound by what it is and where it connects.
 */

import assert from "node:assert/strict";
import { decodeConfigText } from "../../src/config/decode.ts";
import { summarize } from "../../src/cli/summary.ts";

Deno.test("summarize() shows protocol outbounds with their server; only block and dns are legacy", () => {
  const text = `{"outbounds": [
    {"type": "shadowsocks", "tag": "ss", "server": "ss.example.com", "server_port": 8388,
     "method": "2022-blake3-aes-128-gcm", "password": "AAAAAAAAAAAAAAAAAAAAAA=="},
    {"type": "trojan", "tag": "tj", "server": "1.2.3.4", "server_port": 443, "password": "x",
     "tls": {"enabled": true, "server_name": "a.example"}, "detour": "ss"},
    {"type": "block", "tag": "block"}
  ]}`;
  const r = decodeConfigText(text, "t.json", { os: "linux" });
  assert.deepEqual(r.errors, []);
  const out = summarize(r.options!, ["t.json"]);
  const outbounds = out.slice(out.indexOf("outbounds:") + 1, out.indexOf("outbounds:") + 4);
  assert.deepEqual(outbounds, [
    "  ss: shadowsocks ss.example.com:8388",
    "  tj: trojan 1.2.3.4:443  detour=ss",
    "  block: block (legacy)",
  ]);
});

Deno.test("summarize() lists only the TUN flags that run: auto_redirect, not built, is left out", () => {
  const text = `{"inbounds": [{"type": "tun", "tag": "tun-in", "address": "172.19.0.1/30",
    "auto_route": true, "strict_route": true, "auto_redirect": true}],
    "outbounds": [{"type": "direct", "tag": "direct"}],
    "route": {"auto_detect_interface": true}}`;
  const r = decodeConfigText(text, "t.json", { os: "linux" });
  assert.deepEqual(r.errors, []);
  const out = summarize(r.options!, ["t.json"]);
  assert.equal(
    out[out.indexOf("inbounds:") + 1],
    "  tun-in: tun (auto name)  172.19.0.1/30  stack=mixed  auto_route  strict_route",
  );
});
