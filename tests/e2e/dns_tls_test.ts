/**
 * Encrypted DNS end to end: `dig` through the TUN (hijack-dns) gets answers through DNS over TLS
 * and DNS over HTTPS servers run by real Debian servers in the far namespace:
 *
 * - dnsdist (203.0.113.54): DoT on 853, DoH on 443, answering 198.51.100.54 to everything and
 *   logging each query with its protocol and client address:port (one port = one connection);
 * - stunnel4 (203.0.113.55:853) in front of dnsmasq (plain DNS on the far side's loopback),
 *   answering 198.51.100.55.
 *
 * Each is reached directly (the `direct` outbound, source 10.200.0.1) and through the SOCKS
 * outbound (danted, source 10.200.0.2). A server with the wrong CA or the wrong pin fails with
 * the reason in tunbox's log, and the next server in the rules answers. 1,000 queries go over
 * one DoT and one DoH connection (tunbox runs one packet worker here: each worker keeps its own
 * connections).
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";
import { publicKeySha256 } from "../../src/tls/client.ts";
import { makePki } from "../_helpers/tls_certs.ts";
import { CAN_RUN_E2E, FAR, HOST_DIRECT, HOST_SOCKS_EGRESS, SeedWorld } from "./_world.ts";

const SYSTEM_RESOLVER = "192.0.2.53";
const DNSDIST = "203.0.113.54";
const STUNNEL = "203.0.113.55";
const DNSDIST_ANSWER = "198.51.100.54";
const STUNNEL_ANSWER = "198.51.100.55";

Deno.test({
  name: "DoT and DoH through the TUN: dnsdist and stunnel+dnsmasq, direct and through SOCKS",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const pki = await makePki();
    const dd = await pki.issue("dnsdist", ["dns.test"], [DNSDIST]);
    const st = await pki.issue("stunnel", ["dot.test"]);
    const pin = Buffer.from(publicKeySha256(new Uint8Array(new X509Certificate(dd.certPem).raw)))
      .toString("base64");
    const wrongPin = Buffer.from(new Uint8Array(32)).toString("base64");
    const trusted = { server_name: "dns.test", certificate_path: pki.caPath };
    let w: SeedWorld | undefined;
    try {
      w = await SeedWorld.start(
        "gvisor",
        "danted",
        [{ protocol: "dns", action: "hijack-dns" }],
        (config) => {
          config.dns = {
            servers: [
              { tag: "dot", type: "tls", server: DNSDIST, detour: "direct", tls: trusted },
              { tag: "doh", type: "https", server: DNSDIST, detour: "direct", tls: trusted },
              {
                tag: "stunnel",
                type: "tls",
                server: STUNNEL,
                detour: "direct",
                tls: { server_name: "dot.test", certificate_path: pki.caPath },
              },
              {
                tag: "dot-socks",
                type: "tls",
                server: DNSDIST,
                detour: "v2rayu-proxy",
                tls: trusted,
              },
              {
                tag: "doh-socks",
                type: "https",
                server: DNSDIST,
                detour: "v2rayu-proxy",
                tls: trusted,
              },
              {
                tag: "doh-pinned",
                type: "https",
                server: DNSDIST,
                detour: "direct",
                tls: { server_name: "dns.test", certificate_public_key_sha256: [pin] },
              },
              {
                tag: "bad-ca",
                type: "tls",
                server: DNSDIST,
                detour: "direct",
                tls: { server_name: "dns.test", certificate_path: pki.otherCaPath },
              },
              {
                tag: "bad-pin",
                type: "https",
                server: DNSDIST,
                detour: "direct",
                tls: { server_name: "dns.test", certificate_public_key_sha256: [wrongPin] },
              },
              { tag: "far", type: "udp", server: FAR.dns, detour: "direct" },
            ],
            rules: [
              { domain_suffix: ["dot.example"], server: "dot" },
              { domain_suffix: ["doh.example"], server: "doh" },
              { domain_suffix: ["stunnel.example"], server: "stunnel" },
              { domain_suffix: ["dotsocks.example"], server: "dot-socks" },
              { domain_suffix: ["dohsocks.example"], server: "doh-socks" },
              { domain_suffix: ["pinned.example"], server: "doh-pinned" },
              { domain_suffix: ["badca.example"], server: "bad-ca" },
              { domain_suffix: ["badpin.example"], server: "bad-pin" },
              { domain_suffix: ["badca.example", "badpin.example"], server: "stunnel" },
            ],
            final: "far",
          };
        },
        // Each packet worker keeps its own DNS connections: one worker, so one connection.
        { TUNBOX_WORKERS: "1" },
      );
      const world = w;
      for (const a of [DNSDIST, STUNNEL]) await world.far.ip("addr", "add", `${a}/32`, "dev", "lo");
      const queryLog = `${world.dir}/dnsdist-queries.log`;
      await Deno.writeTextFile(
        `${world.dir}/dnsdist.conf`,
        `setSecurityPollSuffix("")
addTLSLocal("${DNSDIST}:853", "${dd.certPath}", "${dd.keyPath}", { provider = "openssl" })
addDOHLocal("${DNSDIST}:443", "${dd.certPath}", "${dd.keyPath}", "/dns-query")
setACL({"0.0.0.0/0"})
local qlog = io.open("${queryLog}", "a")
addAction(AllRule(), LuaAction(function(dq)
  qlog:write(string.format("%s|%s|%s\\n", tostring(dq:getProtocol()),
    dq.remoteaddr:toStringWithPort(), dq.qname:toString()))
  qlog:flush()
  return DNSAction.None, ""
end))
addAction(AllRule(), SpoofAction("${DNSDIST_ANSWER}"))
`,
      );
      const dnsdist = world.spawnFar("dnsdist", [
        "dnsdist",
        "-C",
        `${world.dir}/dnsdist.conf`,
        "--supervised",
        "--disable-syslog",
      ]);
      await dnsdist.waitFor(/Listening on 203\.0\.113\.54:443 for DoH/);
      const dnsmasq = world.spawnFar("dnsmasq", [
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--pid-file=",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        "--port=5355",
        `--address=/#/${STUNNEL_ANSWER}`,
        "--log-queries",
        "--log-facility=-",
      ]);
      await dnsmasq.waitFor(/started/);
      await Deno.writeTextFile(
        `${world.dir}/stunnel.conf`,
        [
          "foreground = yes",
          "pid =",
          "debug = info",
          "[dot]",
          `accept = ${STUNNEL}:853`,
          "connect = 127.0.0.1:5355",
          `cert = ${st.certPath}`,
          `key = ${st.keyPath}`,
          "",
        ].join("\n"),
      );
      const stunnel = world.spawnFar("stunnel4", ["stunnel4", `${world.dir}/stunnel.conf`]);
      await stunnel.waitFor(/Configuration successful/);

      const dig = (name: string) =>
        world.exec([
          "dig",
          `@${SYSTEM_RESOLVER}`,
          "+time=5",
          "+tries=1",
          "+short",
          name,
          "A",
        ]);
      const seen = async () =>
        (await Deno.readTextFile(queryLog).catch(() => "")).split("\n").filter((l) => l !== "")
          .map((l) => {
            const [proto, from, name] = l.split("|");
            return { proto: proto!, ip: from!.replace(/:\d+$/, ""), from: from!, name: name! };
          });

      await t.step("DoT to dnsdist, directly", async () => {
        const r = await dig("a.dot.example");
        assert.equal(r.stdout.trim(), DNSDIST_ANSWER, r.stdout + r.stderr + world.tunbox!.stderr);
        const q = (await seen()).find((s) => s.name === "a.dot.example.");
        assert.deepEqual([q?.proto, q?.ip], ["DNS over TLS", HOST_DIRECT]);
      });

      await t.step("DoH to dnsdist, directly", async () => {
        const r = await dig("a.doh.example");
        assert.equal(r.stdout.trim(), DNSDIST_ANSWER, r.stdout + r.stderr);
        const q = (await seen()).find((s) => s.name === "a.doh.example.");
        assert.deepEqual([q?.proto, q?.ip], ["DNS over HTTPS", HOST_DIRECT]);
      });

      await t.step("DoT to stunnel in front of dnsmasq", async () => {
        const r = await dig("a.stunnel.example");
        assert.equal(r.stdout.trim(), STUNNEL_ANSWER, r.stdout + r.stderr);
        assert.match(stunnel.stderr + stunnel.stdout, /accepted connection from 10\.200\.0\.1/);
        assert.match(dnsmasq.stderr + dnsmasq.stdout, /query\[A\] a\.stunnel\.example from 127/);
      });

      await t.step("DoT and DoH through the SOCKS outbound as detour", async () => {
        assert.equal((await dig("a.dotsocks.example")).stdout.trim(), DNSDIST_ANSWER);
        assert.equal((await dig("a.dohsocks.example")).stdout.trim(), DNSDIST_ANSWER);
        const all = await seen();
        const dot = all.find((s) => s.name === "a.dotsocks.example.");
        const doh = all.find((s) => s.name === "a.dohsocks.example.");
        assert.deepEqual([dot?.proto, dot?.ip], ["DNS over TLS", HOST_SOCKS_EGRESS]);
        assert.deepEqual([doh?.proto, doh?.ip], ["DNS over HTTPS", HOST_SOCKS_EGRESS]);
      });

      await t.step("a pinned public key is accepted without a CA", async () => {
        assert.equal((await dig("a.pinned.example")).stdout.trim(), DNSDIST_ANSWER);
      });

      await t.step(
        "a wrong CA or pin is named in the log, and the next server answers",
        async () => {
          assert.equal((await dig("a.badca.example")).stdout.trim(), STUNNEL_ANSWER);
          assert.equal((await dig("a.badpin.example")).stdout.trim(), STUNNEL_ANSWER);
          const log = world.tunbox!.stderr;
          assert.match(
            log,
            /DNS server "bad-ca": connect to 203\.0\.113\.54:853: TLS handshake with dns\.test failed: certificate signed by an unknown authority/,
          );
          assert.match(
            log,
            /DNS server "bad-pin": connect to 203\.0\.113\.54:443: TLS handshake with dns\.test failed: certificate public key sha256 \S+ is not in certificate_public_key_sha256/,
          );
          const names = (await seen()).map((s) => s.name);
          assert.ok(!names.some((n) => n.includes("bad")), "no query reached an untrusted server");
        },
      );

      for (const kind of ["dot", "doh"] as const) {
        await t.step(`1,000 queries over one ${kind.toUpperCase()} connection`, async () => {
          const names = Array.from({ length: 1000 }, (_, i) => `q${i}.${kind}.example A`);
          await Deno.writeTextFile(`${world.dir}/${kind}.names`, names.join("\n") + "\n");
          const r = await world.exec([
            "dig",
            `@${SYSTEM_RESOLVER}`,
            "+time=5",
            "+tries=1",
            "+short",
            "-f",
            `${world.dir}/${kind}.names`,
          ]);
          const answers = r.stdout.split("\n").filter((l) => l !== "");
          assert.equal(answers.length, 1000, r.stderr.slice(-500));
          assert.ok(answers.every((a) => a === DNSDIST_ANSWER));
          const ours = (await seen()).filter((s) =>
            /^q\d+\./.test(s.name) && s.name.includes(kind)
          );
          assert.equal(ours.length, 1000);
          const conns = new Set(ours.map((s) => s.from));
          assert.equal(conns.size, 1, `connections: ${[...conns].join(" ")}`);
        });
      }
    } finally {
      await w?.close();
      await pki.remove();
    }
  },
});
