/**
 * The trojan and vless outbounds through a real TUN (issue 14): Trojan to trojan-gfw over TLS,
 * VLESS to V2Ray 4.34 over TLS, WebSocket + TLS and HTTP/2 + TLS (the http transport), Trojan
 * to V2Ray over WebSocket + TLS and HTTP/2 + TLS. Each: 20 MB with sha256, 100 parallel fetches, dig over the protocol's UDP, iperf3 10 s each
 * way, the server's log naming the destinations; a wrong password or uuid is refused and
 * tunbox says so once per connection.
 */

import assert from "node:assert/strict";
import { makePki } from "../_helpers/tls_certs.ts";
import { CAN_RUN_E2E, FAR, type SeedWorld } from "./_world.ts";
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

const UUID = "7d0e2a4c-9b1f-4e3a-8c5d-6f7a8b9c0d1e";
const PASSWORD = "e2e trojan password";

interface Case {
  name: string;
  /** The outbound fields besides type/tag/server/tls. */
  outbound: Record<string, unknown>;
  wrong: Record<string, unknown>;
  /** Starts the server in the far namespace; returns its log reader. */
  start(w: SeedWorld, cert: string, key: string): Promise<() => string>;
  udpLog: RegExp;
  tcpLog: RegExp;
  refusal: RegExp;
  line: string;
}

function v2rayServer(protocol: "vless" | "trojan", via: "tcp" | "ws" | "http") {
  return async (w: SeedWorld, cert: string, key: string) => {
    const config = {
      log: { loglevel: "info" },
      inbounds: [{
        listen: FAR_PROXY,
        port: 8443,
        protocol,
        settings: protocol === "vless"
          ? { clients: [{ id: UUID }], decryption: "none" }
          : { clients: [{ password: PASSWORD }] },
        streamSettings: {
          ...(via === "ws" ? { network: "ws", wsSettings: { path: "/tunnel" } } : {}),
          ...(via === "http"
            ? { network: "http", httpSettings: { host: ["h2.test"], path: "/tunnel" } }
            : {}),
          security: "tls",
          tlsSettings: { certificates: [{ certificateFile: cert, keyFile: key }] },
        },
      }],
      outbounds: [{ protocol: "freedom" }],
    };
    await Deno.writeTextFile(`${w.dir}/v2ray.json`, JSON.stringify(config));
    const p = w.spawnFar("v2ray", ["v2ray", "-config", `${w.dir}/v2ray.json`]);
    await waitForPort(w, FAR_PROXY, 8443, p);
    return () => p.stdout + p.stderr;
  };
}

const CASES: Case[] = [
  {
    name: "trojan to trojan-gfw over TLS",
    outbound: { type: "trojan", password: PASSWORD },
    wrong: { type: "trojan", password: "not it" },
    async start(w, cert, key) {
      const config = {
        run_type: "server",
        local_addr: FAR_PROXY,
        local_port: 8443,
        // Unknown clients go to a closed port: the connection ends at once.
        remote_addr: "127.0.0.1",
        remote_port: 9,
        password: [PASSWORD],
        log_level: 0,
        ssl: { cert, key },
      };
      await Deno.writeTextFile(`${w.dir}/trojan.json`, JSON.stringify(config));
      const p = w.spawnFar("trojan", ["trojan", "-c", `${w.dir}/trojan.json`]);
      await waitForPort(w, FAR_PROXY, 8443, p);
      return () => p.stdout + p.stderr;
    },
    tcpLog: /requested connection to 203\.0\.113\.10:80/,
    udpLog: /requested UDP associate to|UDP packet .*203\.0\.113\.53:53/,
    refusal: /valid trojan request structure but incorrect password|not trojan request/,
    line: "the server closed the connection without answering (wrong password?",
  },
  {
    name: "vless to V2Ray over TLS",
    outbound: { type: "vless", uuid: UUID },
    wrong: { type: "vless", uuid: "00000000-1111-4222-8333-444444444444" },
    start: v2rayServer("vless", "tcp"),
    tcpLog: /accepted tcp:203\.0\.113\.10:80/,
    udpLog: /accepted udp:203\.0\.113\.53:53/,
    refusal: /invalid request user id|not a valid user|invalid user/,
    line: "the server closed the connection without answering: wrong uuid",
  },
  {
    name: "vless to V2Ray over WebSocket + TLS",
    outbound: { type: "vless", uuid: UUID, transport: { type: "ws", path: "/tunnel" } },
    wrong: {
      type: "vless",
      uuid: "00000000-1111-4222-8333-444444444444",
      transport: { type: "ws", path: "/tunnel" },
    },
    start: v2rayServer("vless", "ws"),
    tcpLog: /accepted tcp:203\.0\.113\.10:80/,
    udpLog: /accepted udp:203\.0\.113\.53:53/,
    refusal: /invalid request user id|not a valid user|invalid user/,
    line: "the server closed the connection without answering: wrong uuid",
  },
  {
    name: "vless to V2Ray over HTTP/2 + TLS",
    outbound: {
      type: "vless",
      uuid: UUID,
      transport: { type: "http", host: ["h2.test"], path: "/tunnel" },
    },
    wrong: {
      type: "vless",
      uuid: "00000000-1111-4222-8333-444444444444",
      transport: { type: "http", host: ["h2.test"], path: "/tunnel" },
    },
    start: v2rayServer("vless", "http"),
    tcpLog: /accepted tcp:203\.0\.113\.10:80/,
    udpLog: /accepted udp:203\.0\.113\.53:53/,
    refusal: /invalid request user id|not a valid user|invalid user/,
    line: "the server closed the connection without answering: wrong uuid",
  },
  {
    name: "trojan to V2Ray over HTTP/2 + TLS",
    outbound: {
      type: "trojan",
      password: PASSWORD,
      transport: { type: "http", host: ["h2.test"], path: "/tunnel" },
    },
    wrong: {
      type: "trojan",
      password: "not it",
      transport: { type: "http", host: ["h2.test"], path: "/tunnel" },
    },
    start: v2rayServer("trojan", "http"),
    tcpLog: /accepted tcp:203\.0\.113\.10:80/,
    udpLog: /203\.0\.113\.53:53/,
    refusal: /invalid user|not a valid user|failed to create request/,
    line: "the server closed the connection without answering (wrong password?",
  },
  {
    name: "trojan to V2Ray over WebSocket + TLS",
    outbound: { type: "trojan", password: PASSWORD, transport: { type: "ws", path: "/tunnel" } },
    wrong: { type: "trojan", password: "not it", transport: { type: "ws", path: "/tunnel" } },
    start: v2rayServer("trojan", "ws"),
    tcpLog: /accepted tcp:203\.0\.113\.10:80/,
    udpLog: /203\.0\.113\.53:53/,
    refusal: /invalid user|not a valid user|failed to create request/,
    line: "the server closed the connection without answering (wrong password?",
  },
];

for (const c of CASES) {
  Deno.test({
    name: `${c.name}, through the TUN`,
    ignore: !CAN_RUN_E2E,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const pki = await makePki();
      const leaf = await pki.issue("proxy", ["proxy.test"], [FAR_PROXY]);
      const tls = { enabled: true, server_name: "proxy.test", certificate: [pki.caPem] };
      const common = { server: FAR_PROXY, server_port: 8443, tls };
      const w = await startProxyWorld([
        { tag: "proxy", ...common, ...c.outbound },
        { tag: "wrong", ...common, ...c.wrong },
      ], [{ port: [81], outbound: "wrong" }]);
      try {
        const log = await c.start(w, leaf.certPath, leaf.keyPath);
        await startIperfServer(w);
        await t.step("20 MB, sha256 matching", async () => {
          assert.equal(await download20MB(w, 41), FAR.web);
          assert.match(log(), c.tcpLog);
        });
        await t.step("100 parallel fetches", () => parallelFetches(w));
        await t.step("dig over the protocol's UDP", async () => {
          await digUdp(w, "proxy.test");
          assert.match(log(), c.udpLog);
        });
        await t.step("iperf3 10 s each way", async () => {
          const { up, down } = await iperf3Both(w, 10);
          console.log(
            `      ${c.name}: iperf3 up ${up.toFixed(2)} Gbit/s, down ${down.toFixed(2)} Gbit/s`,
          );
        });
        await t.step("wrong credentials: refused, one line per connection", async () => {
          const r = await w.curl([`http://${FAR.web}:81/`], 13);
          assert.notEqual(r.code, 0);
          const start = Date.now();
          while (!c.refusal.test(log()) && Date.now() - start < 5000) {
            await new Promise((res) => setTimeout(res, 100));
          }
          assert.match(log(), c.refusal);
          const lines = (w.tunbox!.stdout + w.tunbox!.stderr).split("\n").filter((l) =>
            l.includes('outbound "wrong": ') && l.includes(c.line)
          );
          assert.equal(lines.length, 1, w.tunbox!.stderr.slice(-3000));
          assert.ok(w.tunbox!.running);
          assert.equal((await w.curl([`http://${FAR.web}/small`])).stdout, "ok");
        });
      } finally {
        await w.close();
        await pki.remove();
      }
    },
  });
}
