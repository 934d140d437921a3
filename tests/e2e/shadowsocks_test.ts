/**
 * The shadowsocks outbound through a real TUN to shadowsocks-libev's ss-server in the far
 * namespace (issue 14): 20 MB with sha256, 100 parallel fetches, dig over UDP, iperf3 10 s
 * each way; ss-server's log proves the traffic went through it; a wrong password is rejected
 * by the server, tunbox says so once per connection and keeps running.
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

const PASSWORD = "e2e shadowsocks password";

for (const method of ["aes-128-gcm", "chacha20-ietf-poly1305"]) {
  Deno.test({
    name: `shadowsocks (${method}) through the TUN to ss-server`,
    ignore: !CAN_RUN_E2E,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const w = await startProxyWorld([
        {
          type: "shadowsocks",
          tag: "proxy",
          server: FAR_PROXY,
          server_port: 8388,
          method,
          password: PASSWORD,
        },
        {
          type: "shadowsocks",
          tag: "wrong",
          server: FAR_PROXY,
          server_port: 8388,
          method,
          password: "not the password",
        },
      ], [{ port: [81], outbound: "wrong" }]);
      try {
        const ss = w.spawnFar("ss-server", [
          "ss-server",
          "-s",
          FAR_PROXY,
          "-p",
          "8388",
          "-m",
          method,
          "-k",
          PASSWORD,
          "-u",
          "-v",
          "--no-delay",
        ]);
        await waitForPort(w, FAR_PROXY, 8388, ss);
        await startIperfServer(w);

        await t.step("20 MB through ss-server, sha256 matching", async () => {
          const seenAs = await download20MB(w, 21);
          // ss-server connects from inside the far namespace, not from the host's veth.
          assert.equal(seenAs, FAR.web);
          assert.match(ss.stdout + ss.stderr, /connect to 203\.0\.113\.10:80/);
        });
        await t.step("100 parallel fetches", () => parallelFetches(w));
        await t.step("dig over shadowsocks UDP", async () => {
          await digUdp(w, "shadowsocks.test");
          assert.match(ss.stdout + ss.stderr, /\[udp\] .*203\.0\.113\.53:53|udp.*203\.0\.113\.53/i);
        });
        await t.step("iperf3 10 s each way", async () => {
          const { up, down } = await iperf3Both(w, 10);
          console.log(
            `      shadowsocks ${method}: iperf3 up ${up.toFixed(2)} Gbit/s, down ${
              down.toFixed(2)
            } Gbit/s`,
          );
        });
        await t.step("a wrong password: the server refuses, one line per connection", async () => {
          const before = (ss.stdout + ss.stderr).match(/authentication error/g)?.length ?? 0;
          const r = await w.curl([`http://${FAR.web}:81/`], 13);
          assert.notEqual(r.code, 0);
          const after = (ss.stdout + ss.stderr).match(/authentication error/g)?.length ?? 0;
          assert.equal(after, before + 1, "ss-server saw one bad connection");
          const lines = (w.tunbox!.stdout + w.tunbox!.stderr).split("\n").filter((l) =>
            l.includes('shadowsocks outbound "wrong": no answer from the server')
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
