// The Darwin platform against the recording fake libc: exact call sequences for start and stop,
// undo on failure at every step, EEXIST replacement, default interface, bound sockets.

import assert from "node:assert/strict";
import { DARWIN_ERRNO } from "../../../ffi/darwin/constants.ts";
import { encodeRouteMessage, encodeSockaddrInet } from "../../../ffi/darwin/structs.ts";
import { DARWIN_PRIVILEGE_MESSAGE, PrivilegeError } from "../../../src/platform/darwin/platform.ts";
import { testPlatform } from "./_platform.ts";
import type { Platform, TunDevice } from "../../../src/platform/types.ts";
import type { TunInboundOptions } from "../../../src/config/types.ts";
import { parseIp } from "../../../src/net/ip.ts";
import { FakeDarwinLibc } from "./_fake_libc.ts";
import { SEED_TUN, tunOptions } from "./_options.ts";
import { RECORD_DEFAULT_EN0 } from "./_route_dump.ts";

const DUAL = tunOptions({
  address: ["172.19.0.1/30", "fdfe:dcba:9876::1/126"],
  auto_route: true,
});

function setup(): { fake: FakeDarwinLibc; platform: Platform } {
  const fake = new FakeDarwinLibc();
  const { platform } = testPlatform(fake, {
    flushDnsCache: () => fake.calls.push("flushDnsCache()"),
  });
  return { fake, platform };
}

/** What the TUN inbound does on start: privileges, device, routes (closing the device on failure). */
function start(
  platform: Platform,
  fake: FakeDarwinLibc,
  options: TunInboundOptions,
  routesAtFailure: string[][] = [],
): { device: TunDevice; routes: { remove(): void } } {
  platform.checkPrivileges();
  const device = platform.openTun({
    name: options.interface_name ?? "",
    mtu: options.mtu ?? 9000,
    addresses: options.address,
    queues: 1,
    vnetHdr: false,
  });
  try {
    const routes = platform.installRoutes(platform.planRoutes(options, device.name), device);
    return { device, routes };
  } catch (err) {
    routesAtFailure.push(fake.routeLines()); // before the device goes (it takes its routes along)
    device.close();
    throw err;
  }
}

/** What the TUN inbound does on stop. */
function stop(s: { device: TunDevice; routes: { remove(): void } }): void {
  s.routes.remove();
  s.device.close();
}

const OPEN_UTUN8 = [
  "socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL) = 3",
  "ioctl(3, CTLIOCGINFO, ctl_info{com.apple.net.utun_control}) = 0",
  "connect(3, sockaddr_ctl{id 42, unit 9}) = 0", // utun8 → unit 8 + 1
  'getsockopt(3, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, 16) = 0 "utun8"',
  "fcntl(3, F_SETFD, FD_CLOEXEC) = 0",
  "fcntl(3, F_GETFL, 0) = 2",
  "fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0",
  'if_nametoindex("utun8") = 20',
];

Deno.test("start and stop with the seed config produce the expected call sequence", () => {
  const { fake, platform } = setup();
  const s = start(platform, fake, SEED_TUN);
  assert.deepEqual(fake.calls, [
    "geteuid() = 0",
    ...OPEN_UTUN8,
    "socket(AF_INET, SOCK_DGRAM, 0) = 4",
    "ioctl(4, SIOCSIFMTU, ifreq{utun8 mtu 9000}) = 0",
    "ioctl(4, SIOCAIFADDR, ifaliasreq{utun8 198.18.0.1 dst 198.18.0.1 mask 255.255.0.0}) = 0",
    "ioctl(4, SIOCGIFFLAGS, ifreq{utun8}) = 0 flags 0x8051", // already up: no SIOCSIFFLAGS
    "close(4) = 0",
    "socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 4",
    "write(4, RTM_ADD 0.0.0.0/1 via 198.18.0.1 flags UP|GATEWAY|STATIC seq 1) = 140",
    "write(4, RTM_ADD 128.0.0.0/1 via 198.18.0.1 flags UP|GATEWAY|STATIC seq 2) = 140",
    "close(4) = 0",
    "flushDnsCache()",
  ]);
  assert.deepEqual(
    [s.device.name, s.device.index, s.device.mtu, s.device.fds, s.device.packetOffset],
    ["utun8", 20, 9000, [3], 4],
  );
  assert.deepEqual(fake.routeLines(), ["0.0.0.0/1 via 198.18.0.1", "128.0.0.0/1 via 198.18.0.1"]);

  fake.calls.length = 0;
  stop(s);
  assert.deepEqual(fake.calls, [
    "socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 4",
    "write(4, RTM_DELETE 128.0.0.0/1 via 198.18.0.1 flags GATEWAY|STATIC seq 1) = 140",
    "write(4, RTM_DELETE 0.0.0.0/1 via 198.18.0.1 flags GATEWAY|STATIC seq 2) = 140",
    "close(4) = 0",
    "flushDnsCache()",
    "close(3) = 0",
  ]);
  assert.deepEqual(fake.openFds(), []);
  assert.deepEqual(fake.routeLines(), []);
  assert.equal(fake.ifaces.has("utun8"), false);
});

Deno.test("a dual-stack start picks the next free utun and configures IPv6 on an AF_INET6 socket", () => {
  const { fake, platform } = setup();
  const s = start(platform, fake, DUAL);
  assert.deepEqual(fake.calls, [
    "geteuid() = 0",
    "socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL) = 3",
    "ioctl(3, CTLIOCGINFO, ctl_info{com.apple.net.utun_control}) = 0",
    "connect(3, sockaddr_ctl{id 42, unit 0}) = 0", // no name: the kernel picks (utun0-3 are taken)
    'getsockopt(3, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, 16) = 0 "utun4"',
    "fcntl(3, F_SETFD, FD_CLOEXEC) = 0",
    "fcntl(3, F_GETFL, 0) = 2",
    "fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0",
    'if_nametoindex("utun4") = 20',
    "socket(AF_INET, SOCK_DGRAM, 0) = 4",
    "ioctl(4, SIOCSIFMTU, ifreq{utun4 mtu 9000}) = 0",
    "ioctl(4, SIOCAIFADDR, ifaliasreq{utun4 172.19.0.1 dst 172.19.0.1 mask 255.255.255.252}) = 0",
    "socket(AF_INET6, SOCK_DGRAM, 0) = 5",
    "ioctl(5, SIOCAIFADDR_IN6, in6_aliasreq{utun4 fdfe:dcba:9876::1/126 flags 0x420 " +
    "vltime inf pltime inf}) = 0",
    "close(5) = 0",
    "ioctl(4, SIOCGIFFLAGS, ifreq{utun4}) = 0 flags 0x8051",
    "close(4) = 0",
    "socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 4",
    "write(4, RTM_ADD 0.0.0.0/1 via 172.19.0.1 flags UP|GATEWAY|STATIC seq 1) = 140",
    "write(4, RTM_ADD 128.0.0.0/1 via 172.19.0.1 flags UP|GATEWAY|STATIC seq 2) = 140",
    "write(4, RTM_ADD ::/1 via fdfe:dcba:9876::1 flags UP|GATEWAY|STATIC seq 3) = 176",
    "write(4, RTM_ADD 8000::/1 via fdfe:dcba:9876::1 flags UP|GATEWAY|STATIC seq 4) = 176",
    "close(4) = 0",
    "flushDnsCache()",
  ]);
  stop(s);
  assert.deepEqual(fake.openFds(), []);
  assert.deepEqual(fake.routeLines(), []);
});

Deno.test("a utun that stays down after addressing is brought up with SIOCSIFFLAGS", () => {
  const { fake, platform } = setup();
  fake.upOnAddress = false;
  const s = start(platform, fake, SEED_TUN);
  const i = fake.calls.indexOf("ioctl(4, SIOCGIFFLAGS, ifreq{utun8}) = 0 flags 0x8050");
  assert.ok(i > 0, fake.calls.join("\n"));
  assert.equal(fake.calls[i + 1], "ioctl(4, SIOCSIFFLAGS, ifreq{utun8 flags 0x8051}) = 0");
  stop(s);
});

Deno.test("a failure at each step of start undoes what was done", async (t) => {
  // Count the calls of a successful start, then fail each one in turn (except close, whose
  // failure start tolerates, and geteuid, which cannot fail).
  const { fake: probe, platform: probePlatform } = setup();
  start(probePlatform, probe, DUAL);
  const steps = probe.calls
    .map((line, i) => ({ line, i }))
    .filter(({ line }) =>
      !line.startsWith("close(") && !line.startsWith("geteuid") && line !== "flushDnsCache()"
    );
  assert.equal(steps.length, 19);
  for (const { line, i } of steps) {
    await t.step(`failing call ${i}: ${line.replace(/ = .*$/, "")}`, () => {
      const { fake, platform } = setup();
      fake.failAt(i, DARWIN_ERRNO.EINVAL);
      const routesAtFailure: string[][] = [];
      assert.throws(() => start(platform, fake, DUAL, routesAtFailure), (err: Error) => {
        assert.match(err.message, /failed: EINVAL \(Invalid argument\)/);
        return true;
      });
      assert.match(fake.calls[i]!, / = (-1|0) EINVAL$/);
      assert.deepEqual(fake.openFds(), [], "every descriptor is closed");
      assert.equal(fake.ifaces.has("utun4"), false, "the utun is destroyed");
      for (const lines of routesAtFailure) assert.deepEqual(lines, [], "added routes are deleted");
      assert.deepEqual(fake.routeLines(), []);
    });
  }
});

Deno.test("a failing route deletes the routes added before it, newest first", () => {
  const { fake, platform } = setup();
  fake.failOn("write(4, RTM_ADD ::/1", DARWIN_ERRNO.ENOBUFS);
  const routesAtFailure: string[][] = [];
  assert.throws(
    () => start(platform, fake, DUAL, routesAtFailure),
    /^SysError: add route ::\/1 via fdfe:dcba:9876::1 failed: ENOBUFS/,
  );
  const from = fake.calls.indexOf("socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 4");
  assert.deepEqual(fake.calls.slice(from), [
    "socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 4",
    "write(4, RTM_ADD 0.0.0.0/1 via 172.19.0.1 flags UP|GATEWAY|STATIC seq 1) = 140",
    "write(4, RTM_ADD 128.0.0.0/1 via 172.19.0.1 flags UP|GATEWAY|STATIC seq 2) = 140",
    "write(4, RTM_ADD ::/1 via fdfe:dcba:9876::1 flags UP|GATEWAY|STATIC seq 3) = -1 ENOBUFS",
    "write(4, RTM_DELETE 128.0.0.0/1 via 172.19.0.1 flags GATEWAY|STATIC seq 4) = 140",
    "write(4, RTM_DELETE 0.0.0.0/1 via 172.19.0.1 flags GATEWAY|STATIC seq 5) = 140",
    "close(4) = 0",
    "close(3) = 0",
  ]);
  assert.deepEqual(routesAtFailure, [[]]);
});

Deno.test("EEXIST on a route deletes the existing route and adds it again", () => {
  const { fake, platform } = setup();
  // Another VPN (or a stale run) owns 0.0.0.0/1.
  fake.routes.set("0.0.0.0/1", { gateway: "10.8.0.1", iface: "utun1" });
  const s = start(platform, fake, SEED_TUN);
  const from = fake.calls.indexOf("socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 4");
  assert.deepEqual(fake.calls.slice(from), [
    "socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 4",
    "write(4, RTM_ADD 0.0.0.0/1 via 198.18.0.1 flags UP|GATEWAY|STATIC seq 1) = -1 EEXIST",
    "write(4, RTM_DELETE 0.0.0.0/1 via 198.18.0.1 flags GATEWAY|STATIC seq 2) = 140",
    "write(4, RTM_ADD 0.0.0.0/1 via 198.18.0.1 flags UP|GATEWAY|STATIC seq 3) = 140",
    "write(4, RTM_ADD 128.0.0.0/1 via 198.18.0.1 flags UP|GATEWAY|STATIC seq 4) = 140",
    "close(4) = 0",
    "flushDnsCache()",
  ]);
  assert.deepEqual(fake.routeLines(), ["0.0.0.0/1 via 198.18.0.1", "128.0.0.0/1 via 198.18.0.1"]);
  stop(s);
  assert.deepEqual(fake.routeLines(), []);
});

Deno.test("EEXIST followed by a failing delete undoes the routes and names the route", () => {
  const { fake, platform } = setup();
  fake.routes.set("128.0.0.0/1", { gateway: "10.8.0.1", iface: "utun1" });
  fake.failOn("write(4, RTM_DELETE 128.0.0.0/1", DARWIN_ERRNO.EPERM);
  assert.throws(
    () => start(platform, fake, SEED_TUN),
    /replace route 128\.0\.0\.0\/1 via 198\.18\.0\.1: delete the existing route failed: EPERM/,
  );
  assert.deepEqual(fake.routeLines(), ["128.0.0.0/1 via 10.8.0.1"]);
  assert.deepEqual(fake.openFds(), []);
});

Deno.test("opening a utun that is in use fails with a clear message and closes the socket", () => {
  const { fake, platform } = setup();
  fake.ifaces.set("utun8", { index: 30, flags: 0x8051, mtu: 1500, addrs: [] });
  assert.throws(() => start(platform, fake, SEED_TUN), (err: Error) => {
    assert.match(err.message, /^open TUN device "utun8" failed: utun8 is in use/);
    assert.match(String(err.cause), /EBUSY/);
    return true;
  });
  assert.deepEqual(fake.calls.slice(-2), [
    "connect(3, sockaddr_ctl{id 42, unit 9}) = -1 EBUSY",
    "close(3) = 0",
  ]);
  assert.deepEqual(fake.openFds(), []);
});

Deno.test("`openTun()` rejects names macOS cannot create before any system call", () => {
  const { fake, platform } = setup();
  for (const name of ["tun0", "utun", "utun-1", "utun08", "en0"]) {
    assert.throws(
      () => platform.openTun({ name, mtu: 1500, addresses: [], queues: 1, vnetHdr: false }),
      (err: Error) => err instanceof TypeError && err.message.includes(`"${name}"`),
    );
  }
  assert.deepEqual(fake.calls, []);
});

Deno.test("removing routes after the utun is gone tolerates ESRCH", () => {
  const { fake, platform } = setup();
  const s = start(platform, fake, SEED_TUN);
  s.device.close(); // the kernel drops the routes with the device
  fake.calls.length = 0;
  s.routes.remove();
  s.routes.remove(); // a second remove does nothing
  assert.deepEqual(fake.calls, [
    "socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 3",
    "write(3, RTM_DELETE 128.0.0.0/1 via 198.18.0.1 flags GATEWAY|STATIC seq 1) = -1 ESRCH",
    "write(3, RTM_DELETE 0.0.0.0/1 via 198.18.0.1 flags GATEWAY|STATIC seq 2) = -1 ESRCH",
    "close(3) = 0",
    "flushDnsCache()",
  ]);
});

Deno.test("`checkPrivileges()` tells a non-root user to use sudo or the service", () => {
  const { fake, platform } = setup();
  fake.euid = 501;
  assert.throws(() => platform.checkPrivileges(), (err: Error) => {
    assert.ok(err instanceof PrivilegeError);
    assert.equal(err.message, DARWIN_PRIVILEGE_MESSAGE);
    return true;
  });
  assert.equal(
    DARWIN_PRIVILEGE_MESSAGE,
    "tunbox needs root on macOS to create a utun device and change routes: run it with sudo, " +
      "or install the service (tunbox service install)",
  );
});

Deno.test("`defaultInterface()` reads the route dump with two sysctls and picks en0", () => {
  const { fake, platform } = setup();
  assert.deepEqual(platform.defaultInterface(), { name: "en0", index: 6 });
  assert.equal(fake.calls[0], "sysctl(NET_RT_DUMP, size) = 0 (544 bytes)");
  assert.match(fake.calls[1]!, /^sysctl\(NET_RT_DUMP, \d+ bytes\) = 0 \(544 bytes\)$/);
  assert.deepEqual(fake.calls.slice(2), [
    'if_indextoname(12) = "en5"',
    'if_indextoname(6) = "en0"',
  ]);
});

Deno.test("`defaultInterface()` retries when the table grows between the two sysctls", () => {
  const { fake, platform } = setup();
  fake.dumpGrowsOnce = true;
  assert.deepEqual(platform.defaultInterface("en0"), { name: "en5", index: 12 });
  assert.deepEqual(
    fake.calls.filter((c) => c.startsWith("sysctl")).map((c) =>
      c.replace(/\d+ bytes\)/g, "N bytes)")
    ),
    [
      "sysctl(NET_RT_DUMP, size) = 0 (N bytes)",
      "sysctl(NET_RT_DUMP, N bytes) = -1 ENOMEM",
      "sysctl(NET_RT_DUMP, size) = 0 (N bytes)",
      "sysctl(NET_RT_DUMP, N bytes) = 0 (N bytes)",
    ],
  );
});

Deno.test("`defaultInterface()` reports a failing sysctl with the action", () => {
  const { fake, platform } = setup();
  fake.failOn("sysctl(NET_RT_DUMP, size)", DARWIN_ERRNO.EPERM);
  assert.throws(
    () => platform.defaultInterface(),
    /read the size of the routing table .* failed: EPERM/,
  );
});

Deno.test("`bindToInterface()` sets IP_BOUND_IF / IPV6_BOUND_IF to the interface index", () => {
  const { fake, platform } = setup();
  const fd = fake.socket(2, 2, 0);
  fake.calls.length = 0;
  platform.bindToInterface(fd, 4, { name: "en0", index: 6 });
  platform.bindToInterface(fd, 6, { name: "en5", index: 12 });
  assert.deepEqual(fake.calls, [
    "setsockopt(3, IPPROTO_IP, IP_BOUND_IF, 6) = 0",
    "setsockopt(3, IPPROTO_IPV6, IPV6_BOUND_IF, 12) = 0",
  ]);
  assert.throws(
    () => platform.bindToInterface(fd, 4, { name: "en9", index: 99 }),
    /bind socket 3 to interface "en9" \(IP_BOUND_IF 99\) failed: ENXIO/,
  );
});

Deno.test("`interfaceIndex()` resolves names and rejects unknown ones", () => {
  const { platform } = setup();
  assert.equal(platform.interfaceIndex("en0"), 6);
  assert.throws(() => platform.interfaceIndex("en9"), RangeError);
});

Deno.test("`setMark()` throws: routing marks are Linux-only", () => {
  const { fake, platform } = setup();
  assert.throws(() => platform.setMark(3, 0x2024), /0x2024 .*routing marks are Linux-only/);
  assert.deepEqual(fake.calls, []);
});

Deno.test("`cleanupStale()` deletes our routes whose interface is gone and leaves live ones", () => {
  const { fake, platform } = setup();
  const gw = encodeSockaddrInet(parseIp("198.18.0.1")!);
  const rec = (dst: string, mask: string, index: number) =>
    encodeRouteMessage({
      type: 4,
      flags: 0x803,
      seq: 0,
      index,
      addrs: {
        dst: encodeSockaddrInet(parseIp(dst)!),
        gateway: gw,
        netmask: encodeSockaddrInet(parseIp(mask)!),
      },
    });
  // 0.0.0.0/1 via 198.18.0.1 on a vanished interface (99); 128.0.0.0/1 on a live utun (15).
  fake.dump = new Uint8Array([
    ...RECORD_DEFAULT_EN0,
    ...rec("0.0.0.0", "128.0.0.0", 99),
    ...rec("128.0.0.0", "128.0.0.0", 15),
  ]);
  fake.ifaces.get("utun1")!.addrs.push({ addr: parseIp("198.18.0.1")!, bits: 16 });
  fake.routes.set("0.0.0.0/1", { gateway: "198.18.0.1", iface: "gone" });
  fake.routes.set("128.0.0.0/1", { gateway: "198.18.0.1", iface: "utun1" });
  assert.deepEqual(platform.cleanupStale(SEED_TUN), ["route 0.0.0.0/1 via 198.18.0.1"]);
  assert.deepEqual(fake.calls.slice(2), [
    "if_indextoname(99) = NULL",
    'if_indextoname(15) = "utun1"',
    "socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 3",
    "write(3, RTM_DELETE 0.0.0.0/1 via 198.18.0.1 flags GATEWAY|STATIC seq 1) = 140",
    "close(3) = 0",
  ]);
  assert.deepEqual(fake.routeLines(), ["128.0.0.0/1 via 198.18.0.1"]);
});

Deno.test("`cleanupStale()` without auto_route touches nothing", () => {
  const { fake, platform } = setup();
  assert.deepEqual(platform.cleanupStale(tunOptions({ address: ["198.18.0.1/16"] })), []);
  assert.deepEqual(fake.calls, []);
});

Deno.test("`cleanupStale(options, true)` only looks at a utun that is still held", () => {
  const { fake, platform } = setup();
  fake.dump = RECORD_DEFAULT_EN0;
  assert.deepEqual(platform.cleanupStale(SEED_TUN, true), []);
  assert.deepEqual(fake.calls.slice(0, 1), ['if_nametoindex("utun8") = 0 ENXIO']);
  assert.deepEqual(fake.openFds(), []);
  assert.ok(fake.calls.every((c) => !c.startsWith("write(")));
});
