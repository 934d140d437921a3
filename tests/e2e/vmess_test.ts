/**
 * The vmess outbound through a real TUN to V2Ray 4.34 in the far namespace (issue 14), over
 * plain TCP and the WebSocket transport: 20 MB with sha256, 100 parallel fetches, dig over VMess
 * UDP, iperf3 10 s each way; V2Ray's access log proves the traffic went through it; a wrong
 * uuid is refused by V2Ray, tunbox says so once per connection and keeps running.
 */

import assert from "node:assert/strict";
import { CAN_RUN_E2E, FAR } from "./_world.ts";
import {
  digUdp,
  download20MB,
  FAR_PROXY,
  iperf3Both,
  parallelFetches,
  startIperfServer,
  startProxyWorld,
  waitForPort,
} from "./_proxy_checks.ts";

const UUID = "2b1b0c35-0b8c-4e8c-9d27-4b5d8a4c6f01";

const V2RAY = {
  log: { loglevel: "info" },
  inbounds: [
    {
      listen: FAR_PROXY,
      port: 10086,
      protocol: "vmess",
      settings: { clients: [{ id: UUID, alterId: 0 }] },
    },
    {
      listen: FAR_PROXY,
      port: 10087,
      protocol: "vmess",
      settings: { clients: [{ id: UUID, alterId: 0 }] },
      streamSettings: { network: "ws", wsSettings: { path: "/vmess" } },
    },
  ],
  outbounds: [{ protocol: "freedom" }],
};

const CASES = [
  { name: "TCP", port: 10086, extra: {} },
  {
    name: "WebSocket",
    port: 10087,
    extra: { security: "chacha20-poly1305", transport: { type: "ws", path: "/vmess" } },
  },
];

for (const c of CASES) {
  Deno.test({
    name: `vmess over ${c.name} through the TUN to V2Ray`,
    ignore: !CAN_RUN_E2E,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const w = await startProxyWorld([
        {
          type: "vmess",
          tag: "proxy",
          server: FAR_PROXY,
          server_port: c.port,
          uuid: UUID,
          ...c.extra,
        },
        {
          type: "vmess",
          tag: "wrong",
          server: FAR_PROXY,
          server_port: c.port,
          uuid: "11111111-2222-4333-8444-555555555555",
          ...c.extra,
        },
      ], [{ port: [81], outbound: "wrong" }]);
      try {
        await Deno.writeTextFile(`${w.dir}/v2ray.json`, JSON.stringify(V2RAY));
        const v2 = w.spawnFar("v2ray", ["v2ray", "-config", `${w.dir}/v2ray.json`]);
        await waitForPort(w, FAR_PROXY, c.port, v2);
        await startIperfServer(w);

        await t.step("20 MB through V2Ray, sha256 matching", async () => {
          const seenAs = await download20MB(w, 31);
          assert.equal(seenAs, FAR.web, "V2Ray connects from inside the far namespace");
          assert.match(v2.stdout + v2.stderr, /accepted tcp:203\.0\.113\.10:80/);
        });
        await t.step("100 parallel fetches", () => parallelFetches(w));
        await t.step("dig over VMess UDP", async () => {
          await digUdp(w, "vmess.test");
          assert.match(v2.stdout + v2.stderr, /accepted udp:203\.0\.113\.53:53/);
        });
        await t.step("iperf3 10 s each way", async () => {
          const { up, down } = await iperf3Both(w, 10);
          console.log(
            `      vmess ${c.name}: iperf3 up ${up.toFixed(2)} Gbit/s, down ${
              down.toFixed(2)
            } Gbit/s`,
          );
        });
        await t.step("a wrong uuid: V2Ray refuses, one line per connection", async () => {
          const r = await w.curl([`http://${FAR.web}:81/`], 13);
          assert.notEqual(r.code, 0);
          // V2Ray drains a connection from an unknown user and logs it only once tunbox
          // closes that connection, which follows curl's exit: wait for the line.
          await v2.waitFor(/invalid user/, 15_000);
          const lines = (w.tunbox!.stdout + w.tunbox!.stderr).split("\n").filter((l) =>
            l.includes('vmess outbound "wrong": no answer from the server')
          );
          assert.equal(lines.length, 1, w.tunbox!.stderr.slice(-3000));
          assert.ok(w.tunbox!.running);
          const again = await w.curl([`http://${FAR.web}/small`]);
          assert.equal(again.stdout, "ok");
        });
      } finally {
        await w.close();
      }
    },
  });
}
