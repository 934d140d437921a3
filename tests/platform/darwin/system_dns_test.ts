// The system resolver on macOS through the dynamic store, with the state file that makes it
// crash safe: what is written, in what order, how it is undone by stop, by the next start after
// a kill, and by `tunbox cleanup`; dns_mode decoded and honoured. Fake libc + fake configd.

import assert from "node:assert/strict";
import { setupTun } from "../../../src/tun/setup.ts";
import { systemDnsValues } from "../../../src/platform/darwin/system_dns.ts";
import { listStates } from "../../../src/platform/darwin/state_file.ts";
import { tunDns } from "../../../src/config/tun_dns.ts";
import { formatIp, parsePrefix } from "../../../src/net/ip.ts";
import { FakeDarwinLibc } from "./_fake_libc.ts";
import { FakeConfigd } from "./_fake_store.ts";
import { freshStateDir, testPlatform } from "./_platform.ts";
import { SEED_TUN, tunOptions } from "./_options.ts";

const SERVICE = "State:/Network/Service/tunbox-utun8";
const p = (t: string) => parsePrefix(t)!;

Deno.test("`tunDns()` follows sing-box 1.14: next address per family, dns_address, disabled", () => {
  const show = (o: Parameters<typeof tunDns>[0]) => {
    const d = tunDns(o);
    return `${d.mode} [${d.servers.map(formatIp).join(" ")}] hijack=${d.autoHijack}`;
  };
  assert.equal(show({ address: [p("198.18.0.1/16")] }), "hijack [198.18.0.2] hijack=true");
  assert.equal(
    show({ address: [p("172.19.0.1/30"), p("fdfe:dcba:9876::1/126")], dns_mode: "native" }),
    "native [172.19.0.2 fdfe:dcba:9876::2] hijack=true",
  );
  // A /32 has no next address inside it; the IPv6 one still gives a server.
  assert.equal(
    show({ address: [p("10.0.0.1/32"), p("fd00::1/64")] }),
    "hijack [fd00::2] hijack=true",
  );
  assert.equal(show({ address: [p("10.0.0.1/32")] }), "hijack [] hijack=false");
  // dns_address: used as given (per family the TUN has), and no automatic hijack.
  assert.equal(
    show({
      address: [p("198.18.0.1/16")],
      dns_address: [new Uint8Array([198, 18, 0, 53]), new Uint8Array(16)],
    }),
    "hijack [198.18.0.53] hijack=false",
  );
  assert.equal(
    show({ address: [p("198.18.0.1/16")], dns_mode: "disabled" }),
    "disabled [] hijack=false",
  );
});

Deno.test("`systemDnsValues()`: a primary service on the utun with the TUN's resolver", () => {
  const v = systemDnsValues("utun8", [p("198.18.0.1/16")], [new Uint8Array([198, 18, 0, 2])], [
    "home.arpa",
  ]);
  assert.deepEqual(Object.fromEntries(v), {
    [`${SERVICE}/IPv4`]: {
      Addresses: ["198.18.0.1"],
      SubnetMasks: ["255.255.0.0"],
      Router: "198.18.0.1",
      InterfaceName: "utun8",
      OverridePrimary: 1,
    },
    [`${SERVICE}/DNS`]: {
      ServerAddresses: ["198.18.0.2"],
      ConfirmedServiceID: "tunbox-utun8",
      SearchDomains: ["home.arpa"],
    },
  });
  const dual = systemDnsValues("utun4", [p("172.19.0.1/30"), p("fdfe:dcba:9876::1/126")], []);
  assert.deepEqual(dual.get("State:/Network/Service/tunbox-utun4/IPv6"), {
    Addresses: ["fdfe:dcba:9876::1"],
    PrefixLength: [126],
    Router: "fdfe:dcba:9876::1",
    InterfaceName: "utun4",
    OverridePrimary: 1,
  });
});

Deno.test("start records routes and DNS in the state file before making them; stop undoes both", () => {
  const { fake, configd, stateDir, platform } = testPlatform();
  // Watch the state file at the moment each change is made.
  const seenAtRouteAdd: string[] = [];
  const seenAtDnsSet: string[] = [];
  const origWrite = fake.write.bind(fake);
  fake.write = (fd, buf, n) => {
    seenAtRouteAdd.push(JSON.stringify(listStates(stateDir).map((s) => s.state.routes)));
    return origWrite(fd, buf, n);
  };
  const origOpen = configd.open.bind(configd);
  configd.open = (name, opts) => {
    const store = origOpen(name, opts);
    const set = store.set;
    store.set = (k, v) => {
      seenAtDnsSet.push(
        JSON.stringify(listStates(stateDir).map((s) => s.state.dns?.store.map((c) => c.key))),
      );
      set(k, v);
    };
    return store;
  };
  const tun = setupTun(SEED_TUN, platform, 1);
  const routes =
    '[[{"prefix":"0.0.0.0/1","gateway":"198.18.0.1"},{"prefix":"128.0.0.0/1","gateway":"198.18.0.1"}]]';
  assert.deepEqual(seenAtRouteAdd, [routes, routes]);
  const keys = `[["${SERVICE}/IPv4","${SERVICE}/DNS"]]`;
  assert.deepEqual(seenAtDnsSet, [keys, keys]);
  assert.deepEqual(tun.plan.dns?.servers.map(formatIp), ["198.18.0.2"]);
  assert.deepEqual(configd.tunboxKeys(), [`${SERVICE}/DNS`, `${SERVICE}/IPv4`]);
  assert.deepEqual(configd.values.get(`${SERVICE}/DNS`), {
    ServerAddresses: ["198.18.0.2"],
    ConfirmedServiceID: "tunbox-utun8",
    SearchDomains: ["home.arpa"], // kept from the network's configuration
  });
  assert.deepEqual(configd.calls.slice(0, 1), ["open tunbox-utun8 (session keys)"]);
  // The state file records the originals (none: the keys did not exist).
  const [state] = listStates(stateDir);
  assert.deepEqual(state?.state.dns?.store, [
    { key: `${SERVICE}/IPv4`, original: null },
    { key: `${SERVICE}/DNS`, original: null },
  ]);

  tun.close();
  assert.deepEqual(configd.tunboxKeys(), []);
  assert.deepEqual(listStates(stateDir), []);
  assert.deepEqual(fake.routeLines(), []);
  assert.deepEqual(configd.calls.slice(-3), [
    `remove ${SERVICE}/DNS`,
    `remove ${SERVICE}/IPv4`,
    "close tunbox-utun8",
  ]);
});

Deno.test("dns_mode disabled, and auto_route off, leave the system resolver alone", () => {
  for (
    const options of [{ ...SEED_TUN, dns_mode: "disabled" as const }, {
      ...SEED_TUN,
      auto_route: false,
    }]
  ) {
    const { configd, platform } = testPlatform();
    const tun = setupTun(options, platform, 1);
    assert.equal(tun.plan.dns, undefined);
    assert.deepEqual(configd.calls, []);
    tun.close();
  }
});

Deno.test("a dynamic store that refuses the change: routes stay, DNS is left, the state file has no DNS", () => {
  const configd = new FakeConfigd();
  configd.failSetOn = `${SERVICE}/DNS`;
  const { stateDir, platform } = testPlatform(new FakeDarwinLibc(), {}, configd);
  const tun = setupTun(SEED_TUN, platform, 1);
  // The IPv4 key was set before the DNS key failed: it was taken back.
  assert.deepEqual(configd.tunboxKeys(), []);
  assert.equal(listStates(stateDir)[0]?.state.dns, undefined);
  assert.equal(listStates(stateDir)[0]?.state.routes.length, 2);
  tun.close();
  assert.deepEqual(listStates(stateDir), []);
});

/**
 * A run killed with SIGKILL: nothing of its own cleanup ran. The kernel closes its fds, which
 * destroys the utun and its routes; `keepRoutes` leaves the routes in the table anyway, to check
 * that recorded routes are deleted when they are there.
 */
function killedRun(sessionKeysHonoured: boolean, keepRoutes = false) {
  const fake = new FakeDarwinLibc();
  const configd = new FakeConfigd();
  const stateDir = freshStateDir();
  const first = testPlatform(fake, { pid: 4242 }, configd, stateDir);
  setupTun(SEED_TUN, first.platform, 1); // never closed
  // The process dies: the kernel closes its fds (the utun and its routes go)...
  const routes = [...fake.routes];
  for (const fd of fake.openFds()) fake.close(fd);
  if (keepRoutes) { for (const [k, r] of routes) fake.routes.set(k, r); }
  // ...and configd drops the keys of its sessions, when it honours session keys.
  if (sessionKeysHonoured) configd.killSessions();
  fake.calls.length = 0;
  configd.calls.length = 0;
  return { fake, configd, stateDir };
}

Deno.test("the next start undoes what a killed run left (DNS keys without session keys)", () => {
  const { fake, configd, stateDir } = killedRun(false);
  assert.deepEqual(configd.tunboxKeys(), [`${SERVICE}/DNS`, `${SERVICE}/IPv4`]);
  assert.equal(listStates(stateDir).length, 1);
  const second = testPlatform(fake, {}, configd, stateDir);
  const tun = setupTun(SEED_TUN, second.platform, 1);
  // pid 4242 is gone (kill(4242, 0) = ESRCH), so its file is undone and replaced by ours.
  assert.ok(fake.calls.includes("kill(4242, 0) = -1 ESRCH"));
  assert.deepEqual(configd.calls.slice(0, 4), [
    "open tunbox-cleanup",
    `remove ${SERVICE}/DNS`,
    `remove ${SERVICE}/IPv4`,
    "close tunbox-cleanup",
  ]);
  const states = listStates(stateDir);
  assert.equal(states.length, 1);
  assert.equal(states[0]!.state.pid, Deno.pid);
  assert.deepEqual(configd.tunboxKeys(), [`${SERVICE}/DNS`, `${SERVICE}/IPv4`]); // ours now
  tun.close();
  assert.deepEqual(configd.tunboxKeys(), []);
  assert.deepEqual(listStates(stateDir), []);
});

Deno.test("`tunbox cleanup` undoes what a killed run left and reports it; a live run is left alone", () => {
  const { fake, configd, stateDir } = killedRun(false, true);
  // A second state file of a process that is still running (pid 777) must stay.
  Deno.writeTextFileSync(
    `${stateDir}/utun9.json`,
    JSON.stringify({ version: 1, pid: 777, device: "utun9", routes: [] }),
  );
  fake.alivePids.add(777);
  const platform = testPlatform(fake, {}, configd, stateDir).platform;
  const removed = platform.cleanupStale(SEED_TUN, true);
  assert.deepEqual(removed, [
    `DNS setting of utun8: removed ${SERVICE}/DNS`,
    `DNS setting of utun8: removed ${SERVICE}/IPv4`,
    "route 128.0.0.0/1 via 198.18.0.1 (left by a killed run on utun8)",
    "route 0.0.0.0/1 via 198.18.0.1 (left by a killed run on utun8)",
  ]);
  assert.deepEqual(listStates(stateDir).map((s) => s.state.device), ["utun9"]);
  // Nothing is left to undo the second time.
  assert.deepEqual(platform.cleanupStale(SEED_TUN, true), []);
});

Deno.test("recovery puts back a value that existed before (not only removes)", () => {
  const { fake, configd, stateDir } = killedRun(false);
  // Pretend the killed run had found a value at its DNS key (another tool's) and recorded it.
  const path = `${stateDir}/utun8.json`;
  const state = JSON.parse(Deno.readTextFileSync(path));
  state.dns.store[1].original = { ServerAddresses: ["9.9.9.9"] };
  Deno.writeTextFileSync(path, JSON.stringify(state));
  testPlatform(fake, {}, configd, stateDir).platform.cleanupStale(SEED_TUN, true);
  assert.deepEqual(configd.values.get(`${SERVICE}/DNS`), { ServerAddresses: ["9.9.9.9"] });
  assert.equal(configd.values.has(`${SERVICE}/IPv4`), false);
});

Deno.test("a garbled state file is ignored with a warning, not fatal", () => {
  const { stateDir, platform } = testPlatform();
  Deno.writeTextFileSync(`${stateDir}/utun8.json`, "{ not json");
  assert.deepEqual(platform.cleanupStale(SEED_TUN, true), []);
  const tun = setupTun(SEED_TUN, platform, 1);
  tun.close();
});

Deno.test("dual stack: the IPv6 service key is written and removed too", () => {
  const { configd, platform } = testPlatform();
  const tun = setupTun(
    tunOptions({ address: ["172.19.0.1/30", "fdfe:dcba:9876::1/126"], auto_route: true }),
    platform,
    1,
  );
  const name = tun.device.name;
  assert.deepEqual(configd.tunboxKeys(), [
    `State:/Network/Service/tunbox-${name}/DNS`,
    `State:/Network/Service/tunbox-${name}/IPv4`,
    `State:/Network/Service/tunbox-${name}/IPv6`,
  ]);
  assert.deepEqual(
    (configd.values.get(`State:/Network/Service/tunbox-${name}/DNS`) as {
      ServerAddresses: string[];
    })
      .ServerAddresses,
    ["172.19.0.2", "fdfe:dcba:9876::2"],
  );
  tun.close();
  assert.deepEqual(configd.tunboxKeys(), []);
});

Deno.test("after a kill with session keys honoured, configd already dropped the keys: cleanup only deletes the file", () => {
  const { fake, configd, stateDir } = killedRun(true);
  assert.deepEqual(configd.tunboxKeys(), []);
  const platform = testPlatform(fake, {}, configd, stateDir).platform;
  assert.deepEqual(platform.cleanupStale(SEED_TUN, true), []);
  assert.deepEqual(listStates(stateDir), []);
});

Deno.test("route_exclude_address keeps leaving by the physical network: ExcludedRoutes for IPMonitor", () => {
  const { configd, platform } = testPlatform();
  const tun = setupTun(
    tunOptions({
      interface_name: "utun8",
      address: ["198.18.0.1/16", "fdfe:dcba:9876::1/126"],
      auto_route: true,
      route_exclude_address: ["3.1.2.82/32", "192.168.0.0/16", "fc00::/7"],
    }),
    platform,
    1,
  );
  assert.deepEqual(
    (configd.values.get(`${SERVICE}/IPv4`) as { ExcludedRoutes: unknown }).ExcludedRoutes,
    [
      { DestinationAddress: "3.1.2.82", SubnetMask: "255.255.255.255" },
      { DestinationAddress: "192.168.0.0", SubnetMask: "255.255.0.0" },
    ],
  );
  assert.deepEqual(
    (configd.values.get(`${SERVICE}/IPv6`) as { ExcludedRoutes: unknown }).ExcludedRoutes,
    [{ DestinationAddress: "fc00::", PrefixLength: 7 }],
  );
  tun.close();
});

Deno.test("with route_address (split tunnel) the resolver is left alone, with a warning", () => {
  const { configd, platform } = testPlatform();
  const options = tunOptions({
    interface_name: "utun8",
    address: ["198.18.0.1/16"],
    auto_route: true,
    route_address: ["10.0.0.0/8"],
  });
  const plan = platform.planRoutes(options, "utun8");
  assert.equal(plan.dns, undefined);
  assert.ok(plan.warnings.some((w) => /resolver is left as it is because route_address/.test(w)));
  const tun = setupTun(options, platform, 1);
  assert.deepEqual(configd.tunboxKeys(), []);
  tun.close();
});
