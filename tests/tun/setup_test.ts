// planTun / describePlan (pure) and setupTun in-process inside throwaway namespaces.

import assert from "node:assert/strict";
import { LinuxPlatform } from "../../src/platform/linux/platform.ts";
import type { LinuxPlannedRule } from "../../src/platform/linux/auto_route.ts";
import { describePlan, planTun, setupTun } from "../../src/tun/setup.ts";
import type { Platform, RoutePlan } from "../../src/platform/types.ts";
import { withNetns } from "../_helpers/netns.ts";
import { tunOptions } from "./_tun_options.ts";

Deno.test("`planTun()` applies mtu 65535 and validates; `describePlan()` lists everything", () => {
  const platform = new LinuxPlatform();
  const { device, plan } = planTun(
    tunOptions({ interface_name: "tun0", exclude_uid: [1000] }),
    platform,
  );
  assert.deepEqual(
    { name: device.name, mtu: device.mtu, queues: device.queues, vnetHdr: device.vnetHdr },
    { name: "tun0", mtu: 65535, queues: 1, vnetHdr: false },
  );
  assert.deepEqual(describePlan(device, plan), [
    "device tun0 (mtu 65535)",
    "address 172.19.0.1/30",
    "address fdfe:dcba:9876::1/126",
    "route default via 172.19.0.2 dev tun0 table 2022",
    "route default via fdfe:dcba:9876::2 dev tun0 metric 1024 pref medium table 2022",
    "rule 9000: from all uidrange 1000-1000 goto 9010",
    "rule -6 9000: from all uidrange 1000-1000 goto 9010",
    "rule 9001: from all to 172.19.0.0/30 lookup 2022",
    "rule 9002: from all lookup 2022 suppress_prefixlength 0",
    "rule -6 9001: from all lookup 2022 suppress_prefixlength 0",
    "rule 9003: not from all dport 53 lookup main suppress_prefixlength 0",
    "rule -6 9002: not from all dport 53 lookup main suppress_prefixlength 0",
    "rule 9003: from all iif tun0 goto 9010",
    "rule 9004: not from all iif lo lookup 2022",
    "rule 9004: from 0.0.0.0 iif lo lookup 2022",
    "rule 9004: from 172.19.0.0/30 iif lo lookup 2022",
    "rule -6 9002: from all iif tun0 goto 9010",
    "rule -6 9002: from ::/1 iif lo goto 9010",
    "rule -6 9002: from 8000::/1 iif lo goto 9010",
    "rule -6 9003: from fdfe:dcba:9876::/126 iif lo lookup 2022",
    "rule -6 9004: from all lookup 2022",
    "rule 9010: from all nop",
    "rule -6 9010: from all nop",
  ]);
});

Deno.test("`planTun()` rejects bad mtu, names and missing addresses; no auto_route plans nothing", () => {
  const platform = new LinuxPlatform();
  assert.throws(
    () => planTun(tunOptions({ mtu: 50 }), platform),
    /Invalid mtu 50 for tun inbound "tun-in": must be 68-65535/,
  );
  assert.throws(
    () => planTun(tunOptions({ mtu: 1200 }), platform),
    /IPv6 addresses need an MTU of at least 1280/,
  );
  assert.throws(
    () => planTun(tunOptions({ interface_name: "bad name" }), platform),
    /^RangeError: Invalid interface_name "bad name": it contains '\/', ':' or whitespace$/,
  );
  assert.throws(
    () => planTun(tunOptions({ interface_name: "tun%d%d" }), platform),
    /^RangeError: Invalid interface_name "tun%d%d": only one '%d' pattern is allowed$/,
  );
  assert.throws(() => planTun(tunOptions({ address: [] }), platform), /has no address/);
  const { device, plan } = planTun(
    tunOptions({ interface_name: "tun5", auto_route: false, mtu: 1500 }),
    platform,
  );
  assert.deepEqual(describePlan(device, plan), [
    "device tun5 (mtu 1500)",
    "address 172.19.0.1/30",
    "address fdfe:dcba:9876::1/126",
    "no routes or rules (auto_route is off)",
  ]);
});

Deno.test("`planTun()` names an unnamed TUN after the next free tunN (read-only lookup)", async () => {
  await withNetns("plan-name", async (ns) => {
    await ns.ip("tuntap", "add", "dev", "tun0", "mode", "tun");
    const { device, plan } = ns.run(() => planTun(tunOptions(), new LinuxPlatform()));
    assert.equal(device.name, "tun1");
    assert.ok(plan.rules.some((r) => r.text === "9002:\tfrom all iif tun1 goto 9010"));
  });
});

Deno.test("`setupTun()` installs exactly the plan and `close()` restores the namespace", async () => {
  await withNetns("setup", async (ns) => {
    const before = await ns.snapshot();
    const tun = ns.run(() =>
      setupTun(tunOptions({ interface_name: "tun0" }), new LinuxPlatform(), 1)
    );
    try {
      assert.deepEqual(
        (await ns.lines("rule")).slice(1, -2),
        tun.plan.rules.filter((r) => r.family === 4).map((r) => r.text),
      );
      assert.deepEqual(
        (await ns.lines("-6", "rule")).slice(1, -1),
        tun.plan.rules.filter((r) => r.family === 6).map((r) => r.text),
      );
      assert.deepEqual(
        [
          ...await ns.lines("route", "show", "table", "2022"),
          ...await ns.lines("-6", "route", "show", "table", "2022"),
        ],
        tun.plan.routes.map((r) => r.text),
      );
    } finally {
      ns.run(() => {
        tun.close();
        tun.close(); // idempotent
      });
    }
    await ns.expectSnapshot(before);
  });
});

Deno.test("`setupTun()` without auto_route opens the device only", async () => {
  await withNetns("setup-noar", async (ns) => {
    const before = await ns.snapshot();
    const tun = ns.run(() =>
      setupTun(tunOptions({ interface_name: "tun0", auto_route: false }), new LinuxPlatform(), 1)
    );
    try {
      assert.equal(tun.device.name, "tun0");
      assert.deepEqual((await ns.lines("rule")).length, 3);
      assert.match(await ns.ip("addr", "show", "dev", "tun0"), /inet 172\.19\.0\.1\/30/);
    } finally {
      ns.run(() => tun.close());
    }
    await ns.expectSnapshot(before);
  });
});

Deno.test("`setupTun()` undoes the device, routes and rules when a rule is refused mid-install", async () => {
  await withNetns("setup-undo", async (ns) => {
    const before = await ns.snapshot();
    const linux = new LinuxPlatform();
    // The platform, except that the plan ends with a rule the kernel refuses (backward goto).
    const platform: Platform = Object.assign(Object.create(linux) as Platform, {
      planRoutes(options: Parameters<Platform["planRoutes"]>[0], name: string): RoutePlan {
        const plan = linux.planRoutes(options, name);
        const bad: LinuxPlannedRule = {
          family: 4,
          priority: 9010,
          text: "9010:\tfrom all goto 9000",
          spec: { family: 4, priority: 9010, action: "goto", goto: 9000 },
        };
        return { ...plan, rules: [...plan.rules, bad] };
      },
    });
    assert.throws(
      () => ns.run(() => setupTun(tunOptions({ interface_name: "tun0" }), platform, 1)),
      /^NetlinkError: add rule "9010: from all goto 9000" failed: EINVAL \(Invalid argument\)/m,
    );
    await ns.expectSnapshot(before);
  });
});
