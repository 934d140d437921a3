import assert from "node:assert/strict";
import { parseClientArgs } from "../../src/onboard/discover.ts";
import { chooseProxy, clientFor } from "../../src/onboard/init.ts";
import type { FoundClient } from "../../src/onboard/discover.ts";
import type { ProbeResult } from "../../src/onboard/probe.ts";
import { importText } from "../../src/onboard/import.ts";

Deno.test("`parseClientArgs()` reads config paths from V2Ray, Xray, Clash and ss-local command lines", () => {
  assert.deepEqual(parseClientArgs(["/usr/bin/v2ray", "-config", "/etc/v2ray/config.json"]), {
    client: "v2ray",
    files: ["/etc/v2ray/config.json"],
    dirs: [],
  });
  assert.deepEqual(parseClientArgs(["xray", "run", "-c=a.json,b.json", "-confdir", "conf.d"]), {
    client: "xray",
    files: ["a.json", "b.json"],
    dirs: ["conf.d"],
  });
  assert.deepEqual(parseClientArgs(["./v2ray-arm64", "--config=config.json"])?.files, [
    "config.json",
  ]);
  assert.deepEqual(parseClientArgs(["/opt/clash/clash-linux-amd64", "-d", "/opt/clash"]), {
    client: "clash",
    files: [],
    dirs: ["/opt/clash"],
  });
  assert.deepEqual(parseClientArgs(["mihomo"])?.dirs, ["~/.config/mihomo"]);
  assert.deepEqual(
    parseClientArgs([
      "ss-local",
      "-s",
      "203.0.113.9",
      "-p",
      "8388",
      "-l",
      "1080",
      "-k",
      "pw",
      "-m",
      "aes-256-gcm",
      "-u",
    ])?.inline,
    {
      method: "aes-256-gcm",
      server: "203.0.113.9",
      server_port: 8388,
      local_port: 1080,
      password: "pw",
      mode: "tcp_and_udp",
    },
  );
  assert.deepEqual(
    parseClientArgs(["sslocal", "-b", "127.0.0.1:1086", "-s", "[2001:db8::1]:8388", "-U"])?.inline,
    {
      method: "",
      local_address: "127.0.0.1",
      local_port: 1086,
      server: "2001:db8::1",
      server_port: 8388,
      mode: "udp_only",
    },
  );
  assert.equal(parseClientArgs(["/usr/bin/v2ray-plugin", "-server"]), null);
  assert.equal(parseClientArgs(["bash"]), null);
});

function probe(port: number, over: Partial<ProbeResult> = {}): ProbeResult {
  return {
    host: "127.0.0.1",
    port,
    kind: "socks5",
    socksAuth: "none",
    authOk: null,
    httpAuth: null,
    udp: "works",
    udpDetail: "",
    ...over,
  };
}

Deno.test("`chooseProxy()` prefers SOCKS5 with UDP, then a client's port, then HTTP", () => {
  const v2rayu = importText(
    JSON.stringify({
      inbounds: [{ protocol: "socks", port: "1080", listen: "127.0.0.1", settings: { udp: true } }],
      outbounds: [{
        protocol: "vmess",
        settings: { vnext: [{ address: "203.0.113.7", port: 443, users: [{ id: "x" }] }] },
      }],
    }),
  );
  const clients: FoundClient[] = [{
    client: "V2rayU",
    path: "~/.V2rayU/config.json",
    imported: v2rayu,
  }];
  const http = probe(1087, { kind: "http", socksAuth: null, udp: "untested", httpAuth: false });
  const noUdp = probe(7891, { udp: "refused" });
  assert.equal(chooseProxy([http, noUdp], clients)?.port, 7891);
  assert.equal(chooseProxy([http, noUdp, probe(1080)], clients)?.port, 1080);
  assert.equal(chooseProxy([probe(10808), probe(1080)], clients)?.port, 1080);
  assert.equal(chooseProxy([http], clients)?.port, 1087);
  assert.equal(chooseProxy([], clients), null);
  assert.equal(clientFor(probe(1080), clients)?.client.client, "V2rayU");
  assert.equal(clientFor(probe(1081), clients), null);
});
