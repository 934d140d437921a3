/**
 * `tunbox init` against real local proxies in throwaway namespaces (see `_world.ts`): dante,
 * ss-local (with ss-server on the far side, found through /proc) and V2Ray's SOCKS inbound
 * without UDP. Each generated config must pass `check`, and tunbox running it must carry curl
 * and dig traffic through the proxy; the proxy server's address must be kept out of the TUN.
 */

import assert from "node:assert/strict";
import { parse as parseJsonc } from "jsonc-parser";
import { RUN_PERMISSIONS } from "../../src/service/permissions.ts";
import { startSsLocal, startV2rayWithoutUdp } from "./_local_proxy.ts";
import {
  CAN_RUN_E2E,
  FAR,
  HOST_DIRECT,
  HOST_SOCKS_EGRESS,
  type Proc,
  SeedWorld,
} from "./_world.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function tunbox(w: SeedWorld, args: string[]) {
  return await w.exec([Deno.execPath(), "run", ...RUN_PERMISSIONS, `${ROOT}main.ts`, ...args]);
}

/** Runs init in the host namespace, writes its config where the world runs tunbox from. */
async function init(w: SeedWorld): Promise<{ text: string; stderr: string }> {
  const r = await tunbox(w, ["init", "--print", "--dns", FAR.dns]);
  assert.equal(r.code, 0, r.stderr);
  await Deno.writeTextFile(w.configPath, r.stdout);
  const check = await tunbox(w, ["check", "-c", w.configPath]);
  assert.equal(check.code, 0, `check failed:\n${check.stderr}\n${r.stdout}`);
  assert.equal(check.stderr, "", "the generated config has no warnings");
  return { text: r.stdout, stderr: r.stderr };
}

async function dig(w: SeedWorld, tcp = false): Promise<string> {
  const r = await w.exec([
    "dig",
    `@${FAR.dns}`,
    "+time=3",
    "+tries=2",
    ...(tcp ? ["+tcp"] : []),
    "+short",
    "init.example",
  ]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

Deno.test({
  name: "`tunbox init` with dante: the config checks and carries curl and dig through SOCKS",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const w = await SeedWorld.start("mixed", "danted");
    try {
      await w.stopTunbox();
      const { text, stderr } = await init(w);
      assert.match(stderr, /127\.0\.0\.1:1080: socks5, auth none, UDP works/);
      const config = parseJsonc(text);
      assert.deepEqual(config.outbounds[0], {
        type: "socks",
        tag: "proxy",
        server: "127.0.0.1",
        server_port: 1080,
        version: "5",
      });
      assert.equal(config.dns.servers[0].type, "udp");
      assert.match(text, /No client config names this port/);
      await w.startTunbox();
      const ip = await w.curl([`http://${FAR.web}/ip`]);
      assert.equal(ip.code, 0, ip.stderr);
      assert.equal(ip.stdout, HOST_SOCKS_EGRESS, "the far side sees the SOCKS server's egress");
      assert.equal(await dig(w), FAR.web);
    } finally {
      await w.close();
    }
  },
});

Deno.test({
  name: "`tunbox init` with ss-local: finds its server through /proc and keeps it out of the TUN",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const w = await SeedWorld.start("system", "danted");
    let local: Proc | undefined;
    try {
      await w.stopTunbox();
      await w.stopSocks();
      local = await startSsLocal(w, FAR.server);
      const { text, stderr } = await init(w);
      assert.match(stderr, /found ss-local \(pid \d+\): ss-local arguments/);
      const config = parseJsonc(text);
      const tun = config.inbounds[0];
      assert.deepEqual(tun.route_exclude_address, [`${FAR.server}/32`]);
      assert.deepEqual(config.route.rules[3], {
        ip_cidr: [`${FAR.server}/32`],
        outbound: "direct",
      });
      await w.startTunbox();
      // The kernel sends ss-local's own connection to its server around the TUN.
      const route = await w.exec(["ip", "route", "get", FAR.server]);
      assert.match(route.stdout, /dev h0/, route.stdout);
      const ip = await w.curl([`http://${FAR.web}/ip`]);
      assert.equal(ip.code, 0, ip.stderr);
      assert.notEqual(ip.stdout, HOST_DIRECT, "not direct: through ss-local and ss-server");
      assert.equal(await dig(w), FAR.web);
    } finally {
      await local?.stop("SIGKILL", 5000).catch(() => {});
      await w.close();
    }
  },
});

Deno.test({
  name: "`tunbox init` with V2Ray's socks inbound without UDP: DNS over TCP, UDP refused",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const w = await SeedWorld.start("gvisor", "danted");
    let v2ray: Proc | undefined;
    try {
      await w.stopTunbox();
      await w.stopSocks();
      const started = await startV2rayWithoutUdp(w);
      v2ray = started.proc;
      const path = started.path;
      const { text, stderr } = await init(w);
      assert.match(stderr, new RegExp(`found v2ray \\(pid \\d+\\): ${path}`));
      assert.match(stderr, /UDP refused \(the proxy answered UDP ASSOCIATE with 0x07/);
      const config = parseJsonc(text);
      assert.equal(config.dns.servers[0].type, "tcp");
      assert.ok(
        config.route.rules.some((r: Record<string, unknown>) =>
          r.network === "udp" && r.action === "reject"
        ),
      );
      await w.startTunbox();
      const ip = await w.curl([`http://${FAR.web}/ip`]);
      assert.equal(ip.code, 0, ip.stderr);
      assert.equal(ip.stdout, HOST_SOCKS_EGRESS);
      // dig over UDP is hijacked and answered through the proxy over TCP.
      assert.equal(await dig(w), FAR.web, w.tunbox?.stderr.slice(-3000));
    } finally {
      await v2ray?.stop("SIGKILL", 5000).catch(() => {});
      await w.close();
    }
  },
});

Deno.test({
  name: "`tunbox init` with V2Ray's socks inbound with UDP: found through /proc, DNS over UDP",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const w = await SeedWorld.start("system", "v2ray");
    try {
      await w.stopTunbox();
      const { text, stderr } = await init(w);
      assert.match(
        stderr,
        /found v2ray \(pid \d+\): .*v2ray\.json: V2Ray\/Xray JSON \(v4\), listeners socks 127\.0\.0\.1:1080/,
      );
      assert.match(stderr, /127\.0\.0\.1:1080: socks5, auth none, UDP works/);
      const config = parseJsonc(text);
      assert.equal(config.dns.servers[0].type, "udp");
      assert.ok(!config.route.rules.some((r: Record<string, unknown>) => r.network === "udp"));
      await w.startTunbox();
      const ip = await w.curl([`http://${FAR.web}/ip`]);
      assert.equal(ip.code, 0, ip.stderr);
      assert.equal(ip.stdout, HOST_SOCKS_EGRESS);
      assert.equal(await dig(w), FAR.web);
    } finally {
      await w.close();
    }
  },
});
