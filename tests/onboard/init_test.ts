import assert from "node:assert/strict";
import { parse as parseJsonc } from "jsonc-parser";
import { loadConfig } from "../../src/config/load.ts";
import { renderInit } from "../../src/onboard/init.ts";
import type { ProbeResult } from "../../src/onboard/probe.ts";

const HTTP_ONLY: ProbeResult = {
  host: "127.0.0.1",
  port: 1087,
  kind: "http",
  socksAuth: null,
  authOk: null,
  httpAuth: true,
  udp: "untested",
  udpDetail: "",
};

for (const os of ["linux", "darwin"] as const) {
  Deno.test(`\`renderInit()\` for an HTTP proxy on ${os}: DNS over TCP, UDP refused, and it checks`, async () => {
    const text = renderInit({
      os,
      proxy: HTTP_ONLY,
      client: null,
      servers: [{
        host: "vpn.example.net",
        addrs: ["203.0.113.7", "2001:db8::7"],
        source: "V2rayU",
      }],
      warnings: [],
      dnsServer: "9.9.9.9",
      date: "2025-01-01",
    });
    const c = parseJsonc(text);
    assert.deepEqual(c.outbounds[0], {
      type: "http",
      tag: "proxy",
      server: "127.0.0.1",
      server_port: 1087,
      username: "",
      password: "",
    });
    assert.match(text, /"username": "", \/\/ the proxy needs credentials: fill them in/);
    assert.deepEqual(c.dns.servers[0], {
      type: "tcp",
      tag: "remote",
      server: "9.9.9.9",
      detour: "proxy",
    });
    assert.deepEqual(c.inbounds[0].route_exclude_address, ["203.0.113.7/32", "2001:db8::7/128"]);
    assert.equal(c.inbounds[0].strict_route, os === "linux" ? true : undefined);
    assert.deepEqual(c.route.rules.at(-1), { network: "udp", action: "reject" });
    assert.match(
      text,
      /vpn\.example\.net \(V2rayU\) resolved on 2025-01-01 to 203\.0\.113\.7, 2001:db8::7/,
    );
    const r = await loadConfig([{ type: "text", name: "init.jsonc", text }]);
    assert.deepEqual(r.errors.map((e) => e.format()), []);
    assert.deepEqual(r.warnings.map((e) => e.format()), []);
  });
}
