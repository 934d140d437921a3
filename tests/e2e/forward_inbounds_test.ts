/**
 * The `direct` and `tproxy` inbounds end to end, with real curl and dig, in three throwaway
 * namespaces:
 *
 * ```
 *  client ns                 router ns (tunbox)                       server ns
 *  10.70.0.2 ── c0 ─── c1 ── 10.70.0.1   10.71.0.1 ── s1 ─── s0 ── 10.71.0.2  HTTP :80 :81, DNS :53
 *  default via 10.70.0.1     ip_forward=1                               10.71.0.3  DNS :53 (other answer)
 *  fd00:70::2 (v6 too)       fd00:70::1 / fd00:71::1                    fd00:71::2 HTTP :80
 * ```
 *
 * The test installs the TPROXY steering in the router namespace (what the README tells users):
 * nftables `tproxy to :7893` with mark 1 for traffic arriving on c1, and `ip rule fwmark 1
 * lookup 100` + `local 0.0.0.0/0 dev lo table 100`. The server reports the source it saw, so a
 * connection proxied by tunbox (source 10.71.0.1) is told from a forwarded one (10.70.0.2), and
 * DNS that tunbox's rule sent to 10.71.0.3 answers differently from 10.71.0.2. The server also
 * runs an NTP responder 90 s ahead of the real clock, which tunbox's `ntp` client must report.
 */

import assert from "node:assert/strict";
import { CAN_RUN_E2E } from "./_world.ts";
import { RouterWorld } from "./_router_world.ts";

const TPROXY_PORT = 7893;

const NFT_RULES = `
table inet tunbox_test {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    iifname "c1" ip daddr != 10.70.0.1 meta l4proto { tcp, udp } tproxy ip to :${TPROXY_PORT} meta mark set 1 accept
    iifname "c1" ip6 daddr != fd00:70::1 meta l4proto { tcp, udp } tproxy ip6 to :${TPROXY_PORT} meta mark set 1 accept
  }
}
`;

function tunboxConfig(): Record<string, unknown> {
  return {
    log: { level: "debug" },
    inbounds: [
      // "::" takes IPv4 (as mapped addresses) and IPv6.
      { type: "tproxy", tag: "tp-in", listen: "::", listen_port: TPROXY_PORT },
      {
        type: "direct",
        tag: "web-fwd",
        listen: "10.70.0.1",
        listen_port: 8080,
        override_address: "10.71.0.2",
        override_port: 80,
      },
      {
        type: "direct",
        tag: "dns-fwd",
        listen: "10.70.0.1",
        listen_port: 5353,
        network: "udp",
        override_address: "10.71.0.2",
        override_port: 53,
      },
    ],
    outbounds: [{ type: "direct", tag: "direct" }, { type: "block", tag: "block" }],
    // The server's clock runs 90 s ahead: tunbox's NTP client must see that.
    ntp: { enabled: true, server: "10.71.0.2", server_port: 123, interval: "10m" },
    route: {
      rules: [
        { inbound: ["tp-in"], network: "tcp", port: 81, action: "reject" },
        // DNS caught by tproxy goes to the other server: only tunbox can have sent it there.
        {
          inbound: ["tp-in"],
          network: "udp",
          port: 53,
          action: "route-options",
          override_address: "10.71.0.3",
        },
      ],
      final: "direct",
    },
  };
}

Deno.test({
  name: "direct and tproxy inbounds carry real curl and dig traffic, routed by the rules",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const w = await RouterWorld.create("fwd", 70, ["10.71.0.3/24"]);
    const { client, router } = w;
    try {
      await w.nft(NFT_RULES);
      await router.ip("rule", "add", "fwmark", "1", "lookup", "100");
      await router.ip("route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100");
      await router.ip("-6", "rule", "add", "fwmark", "1", "lookup", "100");
      await router.ip("-6", "route", "add", "local", "::/0", "dev", "lo", "table", "100");

      await w.startFar([
        "--http",
        "10.71.0.2:80",
        "--http",
        "10.71.0.2:81",
        "--http",
        "fd00:71::2:80",
        "--dns",
        "10.71.0.2:53",
        "--ntp",
        "10.71.0.2:123",
        "--ntp-offset",
        "90000",
      ]);
      await w.startFar(["--dns", "10.71.0.3:53", "--dns-answer", "198.51.100.7"]);

      const dig = (server: string, port: number, name: string) =>
        client.exec([
          "dig",
          `@${server}`,
          "-p",
          String(port),
          "+time=2",
          "+tries=1",
          "+short",
          name,
          "A",
        ]).then((r) => r.stdout.trim());

      await t.step("control: without tunbox, the router only forwards", async () => {
        const r = await w.curl("http://10.71.0.2/ip");
        assert.equal(r.out, "10.70.0.2", "the server sees the client itself");
        assert.equal(await dig("10.71.0.2", 53, "a.example"), "203.0.113.10");
      });

      const tunbox = await w.startTunbox(tunboxConfig());

      await t.step(
        "tproxy: a TCP connection is terminated by tunbox and dialed again",
        async () => {
          const r = await w.curl("http://10.71.0.2/ip");
          assert.equal(r.code, 0, r.stderr + tunbox.stderr.slice(-2000));
          assert.equal(r.out, "10.71.0.1", "the server sees tunbox's address, not the client's");
          assert.match(
            tunbox.stderr,
            /inbound\/tproxy\[tp-in\]: inbound connection from \S+ to 10\.71\.0\.2:80/,
          );
        },
      );

      await t.step("tproxy: IPv6 TCP on the same dual-stack socket", async () => {
        const r = await w.curl("http://[fd00:71::2]/ip");
        assert.equal(r.code, 0, r.stderr + tunbox.stderr.slice(-2000));
        assert.equal(r.out, "fd00:71::1");
      });

      await t.step("tproxy: a rule rejects port 81", async () => {
        const r = await w.curl("http://10.71.0.2:81/small");
        assert.notEqual(r.code, 0, r.out);
      });

      await t.step("tproxy: UDP gets its original destination and replies from it", async () => {
        // route-options sends it to 10.71.0.3; dig accepts only a reply from 10.71.0.2:53.
        assert.equal(
          await dig("10.71.0.2", 53, "a.example"),
          "198.51.100.7",
          tunbox.stderr.slice(-3000),
        );
        assert.equal(await dig("10.71.0.2", 53, "b.example"), "198.51.100.7");
      });

      await t.step(
        "direct: TCP to the listen port reaches override_address:override_port",
        async () => {
          const r = await w.curl("http://10.70.0.1:8080/ip");
          assert.equal(r.code, 0, r.stderr + tunbox.stderr.slice(-2000));
          assert.equal(r.out, "10.71.0.1");
        },
      );

      await t.step("direct: UDP (network udp) forwards DNS and answers from its port", async () => {
        assert.equal(await dig("10.70.0.1", 5353, "c.example"), "203.0.113.10");
        const tcp = await w.curl("http://10.70.0.1:5353/");
        assert.notEqual(tcp.code, 0, "network udp: no TCP listener");
      });

      await t.step("ntp: tunbox reads the server's time (90 s ahead) and warns", async () => {
        await tunbox.waitFor(/updated time: .* \(offset -?\d+ ms/); // 89999 or 90001: checked below
        const offset = Number(/updated time: .* \(offset (\d+) ms/.exec(tunbox.stderr)![1]);
        assert.ok(Math.abs(offset - 90_000) < 1000, String(offset));
        assert.match(tunbox.stderr, /the system clock is 90 s off NTP time/);
      });

      await t.step("tunbox stops cleanly", async () => {
        const status = await tunbox.stop("SIGTERM");
        assert.equal(status.code, 0, tunbox.stderr.slice(-2000));
      });
    } finally {
      await w.close();
    }
  },
});
