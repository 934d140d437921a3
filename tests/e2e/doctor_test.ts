/**
 * `tunbox doctor` on purpose-broken setups in throwaway namespaces (see `_world.ts`): each
 * problem is found and named, and a healthy setup (the config `tunbox init` writes) reports no
 * warning and no failure.
 */

import assert from "node:assert/strict";
import { parse as parseJsonc } from "jsonc-parser";
import { RUN_PERMISSIONS } from "../../src/service/permissions.ts";
import { startSsLocal, startV2rayWithoutUdp } from "./_local_proxy.ts";
import { CAN_RUN_E2E, FAR, type Proc, SeedWorld } from "./_world.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

interface Finding {
  id: string;
  status: "ok" | "info" | "warn" | "fail";
  title: string;
  detail: string;
  fix?: string;
}

async function tunbox(w: SeedWorld, args: string[]) {
  return await w.exec([Deno.execPath(), "run", ...RUN_PERMISSIONS, `${ROOT}main.ts`, ...args]);
}

/** Runs doctor on `config` in the host namespace. */
async function doctor(
  w: SeedWorld,
  config: unknown,
): Promise<{ code: number; findings: Finding[] }> {
  const path = `${w.dir}/doctor.json`;
  await Deno.writeTextFile(path, JSON.stringify(config));
  const r = await tunbox(w, ["doctor", "--json", "-c", path]);
  assert.ok(r.code === 0 || r.code === 1, r.stderr);
  return { code: r.code, findings: JSON.parse(r.stdout).findings };
}

/** The config `tunbox init` writes for this world's proxy (parsed). */
// deno-lint-ignore no-explicit-any -- a parsed config, edited freely by the steps
type Config = Record<string, any>;

async function initConfig(w: SeedWorld): Promise<Config> {
  const r = await tunbox(w, ["init", "--print", "--dns", FAR.dns]);
  assert.equal(r.code, 0, r.stderr);
  return parseJsonc(r.stdout);
}

/** Points the host namespace's resolv.conf (iproute2's per-namespace file) at `addr`. */
async function setResolver(w: SeedWorld, addr: string): Promise<() => Promise<void>> {
  const dir = `/etc/netns/${w.host.name}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/resolv.conf`, `nameserver ${addr}\n`);
  return () => Deno.remove(dir, { recursive: true }).catch(() => {});
}

function problems(findings: Finding[]): Finding[] {
  return findings.filter((f) => f.status === "fail" || f.status === "warn");
}

function find(findings: Finding[], id: string): Finding {
  const f = findings.find((x) => x.id === id);
  assert.ok(f, `no finding "${id}" in ${JSON.stringify(findings, null, 2)}`);
  return f;
}

Deno.test({
  name: "`tunbox doctor`: a healthy setup has no false alarm; each broken one is named",
  ignore: !CAN_RUN_E2E,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const w = await SeedWorld.start("mixed", "danted");
    let restore: (() => Promise<void>) | undefined;
    const extra: Proc[] = [];
    try {
      await w.stopTunbox();
      restore = await setResolver(w, FAR.dns);
      const healthy = await initConfig(w);

      await t.step("healthy: the init config with dante reports nothing", async () => {
        const r = await doctor(w, healthy);
        assert.deepEqual(problems(r.findings), []);
        assert.equal(r.code, 0);
        assert.equal(find(r.findings, "outbound:proxy").status, "ok");
        assert.equal(find(r.findings, "udp:proxy").status, "ok");
        assert.equal(find(r.findings, `dns:${FAR.dns}`).status, "ok");
        assert.equal(find(r.findings, "ipv6").status, "ok");
      });

      await t.step("IPv6 without an IPv6 TUN address", async () => {
        const c = structuredClone(healthy);
        c.inbounds[0].address = ["172.19.0.1/30"];
        const strict = await doctor(w, c);
        const f = find(strict.findings, "ipv6");
        assert.equal(f.status, "warn");
        assert.match(f.detail, /strict_route makes IPv6 unreachable/);
        delete c.inbounds[0].strict_route;
        const leak = find((await doctor(w, c)).findings, "ipv6");
        assert.equal(leak.status, "fail");
        assert.match(leak.detail, /IPv6 connections bypass the TUN/);
      });

      await t.step("a resolver on the LAN whose queries go direct", async () => {
        await restore!();
        restore = await setResolver(w, "10.200.0.254");
        const c = structuredClone(healthy);
        // The seed's order: private addresses direct, no hijack-dns.
        c.route.rules = [{ ip_is_private: true, outbound: "direct" }];
        const f = find((await doctor(w, c)).findings, "dns:10.200.0.254");
        assert.equal(f.status, "warn");
        assert.match(
          f.detail,
          /reach 10\.200\.0\.254 directly, not through the proxy — a DNS leak/,
        );
        // With init's rules the same resolver is hijacked: no alarm.
        assert.equal(find((await doctor(w, healthy)).findings, "dns:10.200.0.254").status, "ok");
        await restore!();
        restore = await setResolver(w, FAR.dns);
      });

      await t.step("a conflicting rule at priority 9000", async () => {
        await w.host.ip("rule", "add", "priority", "9000", "lookup", "100");
        try {
          const r = await doctor(w, healthy);
          const f = find(r.findings, "rules:conflict");
          assert.equal(f.status, "fail");
          assert.match(f.detail, /"9000: from all lookup 100"/);
          assert.equal(r.code, 1);
        } finally {
          await w.host.ip("rule", "del", "priority", "9000");
        }
      });

      await t.step("SOCKS down", async () => {
        await w.stopSocks();
        const r = await doctor(w, healthy);
        const f = find(r.findings, "outbound:proxy");
        assert.equal(f.status, "fail");
        assert.match(f.detail, /nothing answers on 127\.0\.0\.1:1080/);
        assert.equal(r.code, 1);
      });

      await t.step("UDP disabled on the proxy (V2Ray udp: false)", async () => {
        const { proc: v2ray } = await startV2rayWithoutUdp(w);
        extra.push(v2ray);
        const f = find((await doctor(w, healthy)).findings, "udp:proxy");
        assert.equal(f.status, "fail");
        assert.match(f.detail, /0x07 \(command not supported\).*DNS server\(s\) "remote"/);
        await v2ray.stop("SIGKILL", 5000);
      });

      await t.step("the proxy server's address not excluded (ss-local)", async () => {
        extra.push(await startSsLocal(w, FAR.server));
        const good = await doctor(w, await initConfig(w));
        assert.equal(find(good.findings, "loop").status, "ok");
        assert.deepEqual(problems(good.findings), []);
        const c = await initConfig(w);
        delete c.inbounds[0].route_exclude_address;
        c.route.rules = c.route.rules.filter((r: Record<string, unknown>) => !r.ip_cidr);
        const bad = find((await doctor(w, c)).findings, "loop");
        assert.equal(bad.status, "fail");
        assert.match(bad.detail, /this will loop/);
        assert.match(
          bad.fix!,
          new RegExp(`"${FAR.server}/32" to the tun inbound's route_exclude_address`),
        );
      });
    } finally {
      for (const p of extra) await p.stop("SIGKILL", 5000).catch(() => {});
      await restore?.();
      await w.close();
    }
  },
});
