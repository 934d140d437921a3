// The TUN inbound's lifecycle (src/tun/setup.ts) driving the Darwin platform over the fake libc:
// the sequence a real `sudo tunbox run -c config.json` performs on a Mac with the seed config.

import assert from "node:assert/strict";
import { planTun, setupTun } from "../../../src/tun/setup.ts";
import { testPlatform } from "./_platform.ts";
import { FakeDarwinLibc } from "./_fake_libc.ts";
import { SEED_TUN, tunOptions } from "./_options.ts";
import { listStates } from "../../../src/platform/darwin/state_file.ts";

Deno.test("`setupTun()` with the seed config on macOS: stale check, utun8, routes; close undoes", () => {
  const fake = new FakeDarwinLibc();
  const platform = testPlatform(fake).platform;
  const tun = setupTun(SEED_TUN, platform, 4);
  const calls = fake.calls.map((c) => c.replace(/(NET_RT_\w+), \d+ bytes\)/, "$1, N bytes)"));
  assert.deepEqual(calls, [
    "geteuid() = 0",
    // the address collision check, before anything is opened: interfaces, then routes
    "sysctl(NET_RT_IFLIST2, size) = 0 (1392 bytes)",
    "sysctl(NET_RT_IFLIST2, N bytes) = 0 (1392 bytes)",
    "sysctl(NET_RT_DUMP, size) = 0 (544 bytes)",
    "sysctl(NET_RT_DUMP, N bytes) = 0 (544 bytes)",
    "socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL) = 3",
    "ioctl(3, CTLIOCGINFO, ctl_info{com.apple.net.utun_control}) = 0",
    "connect(3, sockaddr_ctl{id 42, unit 9}) = 0",
    'getsockopt(3, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, 16) = 0 "utun8"',
    "fcntl(3, F_SETFD, FD_CLOEXEC) = 0",
    "fcntl(3, F_GETFL, 0) = 2",
    "fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0",
    'if_nametoindex("utun8") = 20',
    "socket(AF_INET, SOCK_DGRAM, 0) = 4",
    "ioctl(4, SIOCSIFMTU, ifreq{utun8 mtu 65535}) = 0",
    "ioctl(4, SIOCAIFADDR, ifaliasreq{utun8 198.18.0.1 dst 198.18.0.1 mask 255.255.0.0}) = 0",
    "ioctl(4, SIOCGIFFLAGS, ifreq{utun8}) = 0 flags 0x8051",
    "close(4) = 0",
    // cleanupStale, once the device is open: read the routing table, nothing of ours in it
    "sysctl(NET_RT_DUMP, size) = 0 (544 bytes)",
    "sysctl(NET_RT_DUMP, N bytes) = 0 (544 bytes)",
    "socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 4",
    "write(4, RTM_ADD 0.0.0.0/1 via 198.18.0.1 flags UP|GATEWAY|STATIC seq 1) = 140",
    "write(4, RTM_ADD 128.0.0.0/1 via 198.18.0.1 flags UP|GATEWAY|STATIC seq 2) = 140",
    "close(4) = 0",
  ]);
  // One fd however many workers were asked for; the strict_route/IPv6 warnings are in the plan.
  assert.deepEqual(tun.device.fds, [3]);
  assert.equal(tun.device.packetOffset, 4);
  assert.equal(tun.plan.warnings.length, 2);

  fake.calls.length = 0;
  tun.close();
  tun.close();
  assert.deepEqual(fake.calls, [
    "socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 4",
    "write(4, RTM_DELETE 128.0.0.0/1 via 198.18.0.1 flags GATEWAY|STATIC seq 1) = 140",
    "write(4, RTM_DELETE 0.0.0.0/1 via 198.18.0.1 flags GATEWAY|STATIC seq 2) = 140",
    "close(4) = 0",
    "close(3) = 0",
  ]);
  assert.deepEqual(fake.openFds(), []);
  assert.deepEqual(fake.routeLines(), []);
});

Deno.test("`setupTun()` as a normal user on macOS stops with the sudo sentence, touching nothing", () => {
  const fake = new FakeDarwinLibc();
  fake.euid = 501;
  const platform = testPlatform(fake).platform;
  assert.throws(() => setupTun(SEED_TUN, platform, 1), /run it with sudo, or install the service/);
  assert.deepEqual(fake.calls, ["geteuid() = 501"]);
});

Deno.test("`planTun()` on macOS refuses a name that is not utunN before anything is opened", () => {
  const fake = new FakeDarwinLibc();
  const { platform } = testPlatform(fake);
  assert.throws(
    () => planTun({ ...SEED_TUN, interface_name: "tun0" }, platform),
    {
      name: "RangeError",
      message: 'Invalid interface_name "tun0": macOS only allows utunN (for example utun8), ' +
        "or leave interface_name empty to pick a free one",
    },
  );
  assert.equal(planTun({ ...SEED_TUN, interface_name: "utun8" }, platform).device.name, "utun8");
  assert.deepEqual(fake.calls.filter((c) => c.startsWith("socket(")), []);
});

Deno.test("`TunSetup.updateRoutes()` on macOS adds the new routes, then deletes the old; state file follows", () => {
  const fake = new FakeDarwinLibc();
  const { platform, stateDir } = testPlatform(fake);
  const split = (route_address: string[]) =>
    tunOptions({ address: ["172.19.0.1/30"], auto_route: true, route_address });
  const tun = setupTun(split(["10.0.0.0/8", "192.0.2.0/24"]), platform, 1);
  assert.deepEqual(fake.routeLines(), ["10.0.0.0/8 via 172.19.0.1", "192.0.2.0/24 via 172.19.0.1"]);
  const from = fake.calls.length;
  const change = tun.updateRoutes(split(["10.0.0.0/8", "198.51.100.0/24"]));
  assert.deepEqual(change, { added: 1, removed: 1 });
  assert.deepEqual(
    fake.calls.slice(from).filter((c) => c.startsWith("write(")).map((c) =>
      c.replace(/ seq \d+/, "")
    ),
    [
      "write(4, RTM_ADD 198.51.100.0/24 via 172.19.0.1 flags UP|GATEWAY|STATIC) = 140",
      "write(4, RTM_DELETE 192.0.2.0/24 via 172.19.0.1 flags GATEWAY|STATIC) = 140",
    ],
  );
  assert.deepEqual(fake.routeLines(), [
    "10.0.0.0/8 via 172.19.0.1",
    "198.51.100.0/24 via 172.19.0.1",
  ]);
  assert.deepEqual(listStates(stateDir)[0]?.state.routes, [
    { prefix: "10.0.0.0/8", gateway: "172.19.0.1" },
    { prefix: "198.51.100.0/24", gateway: "172.19.0.1" },
  ]);
  assert.deepEqual(tun.updateRoutes(split(["10.0.0.0/8", "198.51.100.0/24"])), {
    added: 0,
    removed: 0,
  });
  tun.close();
  assert.deepEqual(fake.routeLines(), []);
  assert.deepEqual(listStates(stateDir), []);
});
