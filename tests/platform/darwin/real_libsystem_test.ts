// macOS only, no root needed: exercises the real libSystem declarations (including the arm64
// variadic ioctl/fcntl/open) with calls that change nothing, so a first run on a Mac shows
// whether the FFI layer is right before `sudo tunbox run` touches utun devices and routes.
// On other systems these tests are ignored (the fake-libc tests cover the logic there).

import assert from "node:assert/strict";
import {
  AF_INET,
  CTLIOCGINFO,
  DARWIN_ERRNO,
  F_GETFL,
  F_SETFL,
  IFF_UP,
  O_NONBLOCK,
  O_RDONLY,
  PF_SYSTEM,
  SIOCGIFMTU,
  SOCK_DGRAM,
  SYSPROTO_CONTROL,
  UTUN_CONTROL_NAME,
} from "../../../ffi/darwin/constants.ts";
import { loadDarwinLibc } from "../../../ffi/darwin/libc.ts";
import {
  decodeCtlInfo,
  decodeIfreq,
  encodeCtlInfo,
  encodeIfreqMtu,
  parseInterfaceList,
  parseRouteDump,
} from "../../../ffi/darwin/structs.ts";
import {
  darwinDefaultInterface,
  readInterfaceList,
  readRouteDump,
} from "../../../src/platform/darwin/default_interface.ts";
import { darwinNetworkSnapshot } from "../../../src/platform/darwin/network_snapshot.ts";
import { monitorDarwinNetwork } from "../../../src/platform/darwin/network_monitor.ts";
import { processAlive } from "../../../src/platform/darwin/platform.ts";
import { DarwinProcessFinder } from "../../../src/platform/darwin/process_lookup.ts";
import { currentResolvers, GLOBAL_IPV4_KEY } from "../../../src/platform/darwin/system_dns.ts";
import { loadCoreFoundation, openDynamicStore } from "../../../ffi/darwin/system_configuration.ts";
import { formatIp } from "../../../src/net/ip.ts";

const onMac = Deno.build.os === "darwin";

Deno.test({
  name: "real libSystem: ioctl SIOCGIFMTU reads lo0's MTU (variadic pointer argument)",
  ignore: !onMac,
  fn() {
    const libc = loadDarwinLibc();
    assert.equal(libc.arch, Deno.build.arch);
    const fd = libc.socket(AF_INET, SOCK_DGRAM, 0);
    assert.ok(fd >= 0, `socket: errno ${libc.errno()}`);
    try {
      const ifr = encodeIfreqMtu("lo0", 0);
      // A misplaced variadic argument makes the kernel read a garbage pointer: EFAULT.
      assert.equal(libc.ioctlPtr(fd, SIOCGIFMTU, ifr), 0, `ioctl: errno ${libc.errno()}`);
      assert.equal(decodeIfreq(ifr).mtu, 16384); // lo0's MTU on macOS
    } finally {
      libc.close(fd);
    }
  },
});

Deno.test({
  name: "real libSystem: fcntl sets and reads back O_NONBLOCK (variadic integer argument)",
  ignore: !onMac,
  fn() {
    const libc = loadDarwinLibc();
    const fd = libc.socket(AF_INET, SOCK_DGRAM, 0);
    try {
      const before = libc.fcntl(fd, F_GETFL, 0);
      assert.equal(before & O_NONBLOCK, 0);
      assert.equal(libc.fcntl(fd, F_SETFL, before | O_NONBLOCK), 0);
      assert.equal(libc.fcntl(fd, F_GETFL, 0) & O_NONBLOCK, O_NONBLOCK);
    } finally {
      libc.close(fd);
    }
  },
});

Deno.test({
  name: "real libSystem: open, errno through __error, interface names",
  ignore: !onMac,
  fn() {
    const libc = loadDarwinLibc();
    const fd = libc.open("/dev/null", O_RDONLY, 0);
    assert.ok(fd >= 0, `open: errno ${libc.errno()}`);
    assert.equal(libc.close(fd), 0);
    assert.equal(libc.close(fd), -1);
    assert.equal(libc.errno(), 9); // EBADF
    assert.equal(libc.if_nametoindex("lo0"), 1);
    assert.equal(libc.if_indextoname(1), "lo0");
    assert.equal(libc.if_nametoindex("nonexistent0"), 0);
    assert.equal(libc.geteuid(), Deno.uid());
  },
});

Deno.test({
  name: "real libSystem: CTLIOCGINFO finds the utun kernel control",
  ignore: !onMac,
  fn() {
    const libc = loadDarwinLibc();
    const fd = libc.socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
    if (fd < 0) {
      // Some systems refuse kernel-control sockets to non-root users; then say so precisely.
      assert.ok(
        [DARWIN_ERRNO.EPERM, DARWIN_ERRNO.EACCES].includes(libc.errno() as 1 | 13),
        `socket(PF_SYSTEM): errno ${libc.errno()}`,
      );
      return;
    }
    try {
      const info = encodeCtlInfo(UTUN_CONTROL_NAME);
      assert.equal(libc.ioctlPtr(fd, CTLIOCGINFO, info), 0, `ioctl: errno ${libc.errno()}`);
      assert.ok(decodeCtlInfo(info).id > 0);
    } finally {
      libc.close(fd);
    }
  },
});

Deno.test({
  name: "real libSystem: NET_RT_DUMP parses and names the default interface",
  ignore: !onMac,
  fn() {
    const libc = loadDarwinLibc();
    const records = parseRouteDump(readRouteDump(libc));
    assert.ok(records.length > 0);
    assert.ok(records.every((r) => r.version === 5));
    const iface = darwinDefaultInterface(libc);
    // null only when the Mac has no IPv4 default route (offline).
    if (iface !== null) assert.equal(libc.if_nametoindex(iface.name), iface.index);
    console.log(`default interface: ${iface ? `${iface.name} (index ${iface.index})` : "none"}`);
  },
});

Deno.test({
  name: "real libSystem: poll and pollAsync time out on an idle socket",
  ignore: !onMac,
  async fn() {
    const libc = loadDarwinLibc();
    const fd = libc.socket(AF_INET, SOCK_DGRAM, 0);
    try {
      const pfd = new Uint8Array(8);
      const dv = new DataView(pfd.buffer);
      dv.setInt32(0, fd, true);
      dv.setInt16(4, 1, true); // POLLIN
      assert.equal(libc.poll(pfd, 1, 0), 0);
      assert.equal(await libc.pollAsync(pfd, 1, 10), 0);
    } finally {
      libc.close(fd);
    }
  },
});

Deno.test({
  name: "real libSystem: NET_RT_IFLIST2 lists lo0 with 127.0.0.1/8, UP and MTU 16384",
  ignore: !onMac,
  fn() {
    const libc = loadDarwinLibc();
    const listed = parseInterfaceList(readInterfaceList(libc));
    const lo0 = listed.find((i) => i.name === "lo0");
    assert.ok(lo0, `interfaces: ${listed.map((i) => i.name).join(", ")}`);
    assert.equal(lo0.index, 1);
    assert.equal(lo0.mtu, 16384); // if_data64.ifi_mtu at the proven offset
    assert.equal(lo0.flags & IFF_UP, IFF_UP);
    assert.ok(lo0.addresses.some((a) => formatIp(a.addr) === "127.0.0.1" && a.bits === 8));
    const snap = darwinNetworkSnapshot(libc);
    console.log(
      `interfaces up: ${snap.interfaces.filter((i) => i.up).map((i) => i.name).join(", ")}; ` +
        `default: ${snap.defaultInterface?.name ?? "none"}`,
    );
  },
});

Deno.test({
  name: "real libSystem: kill(pid, 0) tells a live process from a gone one",
  ignore: !onMac,
  fn() {
    const libc = loadDarwinLibc();
    assert.equal(processAlive(libc, Deno.pid), true);
    assert.equal(processAlive(libc, 1), true); // launchd: EPERM for a normal user, 0 for root
    assert.equal(processAlive(libc, 99_999_999), false);
    assert.equal(libc.errno(), DARWIN_ERRNO.ESRCH);
  },
});

Deno.test({
  name: "real libSystem: the routing-socket monitor opens, waits and stops cleanly",
  ignore: !onMac,
  async fn() {
    const libc = loadDarwinLibc();
    const monitor = monitorDarwinNetwork(libc, {
      snapshot: () => darwinNetworkSnapshot(libc),
      onChange: () => {},
    });
    await new Promise((r) => setTimeout(r, 100));
    monitor.stop();
    await monitor.done;
  },
});

Deno.test({
  name: "real CoreFoundation: a property list round-trips through CF objects",
  ignore: !onMac,
  fn() {
    const cf = loadCoreFoundation();
    const value = {
      ServerAddresses: ["198.18.0.2"],
      OverridePrimary: 1,
      Weight: 0.5,
      On: true,
      Nested: { List: [1, "two", false] },
    };
    const made = cf.create(value);
    try {
      assert.deepEqual(cf.read(made.ref), value);
    } finally {
      cf.release(made.ref);
    }
  },
});

Deno.test({
  name: "real SystemConfiguration: the dynamic store reads the global network state",
  ignore: !onMac,
  fn() {
    const store = openDynamicStore("tunbox-selftest");
    try {
      const keys = store.keys("^State:/Network/Global/");
      assert.ok(keys.length > 0, "no State:/Network/Global/ keys");
      const ipv4 = store.get(GLOBAL_IPV4_KEY);
      console.log(`primary: ${JSON.stringify(ipv4)}; resolvers: ${currentResolvers(store)}`);
      assert.equal(store.get("State:/Network/tunbox-selftest/none"), null);
    } finally {
      store.close();
    }
  },
});

Deno.test({
  name: "real SystemConfiguration (root): a session key is set, read back, and gone after close",
  ignore: !onMac || Deno.uid() !== 0,
  fn() {
    const key = "State:/Network/tunbox-selftest/Probe";
    const store = openDynamicStore("tunbox-selftest", { sessionKeys: true });
    try {
      store.set(key, { Probe: ["198.18.0.2"], N: 1 });
      assert.deepEqual(store.get(key), { Probe: ["198.18.0.2"], N: 1 });
    } finally {
      store.close();
    }
    const again = openDynamicStore("tunbox-selftest-check");
    try {
      assert.equal(again.get(key), null, "configd keeps session keys after the session ends");
    } finally {
      again.close();
    }
  },
});

Deno.test({
  name:
    "real SystemConfiguration (not root): a refused set names the key, SCErrorString and status",
  ignore: !onMac || Deno.uid() === 0,
  fn() {
    const store = openDynamicStore("tunbox-selftest");
    try {
      assert.throws(
        () => store.set("State:/Network/tunbox-selftest/Probe", { N: 1 }),
        /set dynamic store key State:\/Network\/tunbox-selftest\/Probe failed: .+ \(\d+\)/,
      );
    } finally {
      store.close();
    }
  },
});

Deno.test({
  name:
    "real libSystem: pcblist_n and proc_pidpath find this process behind its own TCP and UDP sockets",
  ignore: !onMac,
  async fn() {
    const finder = new DarwinProcessFinder(loadDarwinLibc());
    const self = { pid: Deno.pid, uid: Deno.uid(), path: Deno.realPathSync(Deno.execPath()) };
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await listener.accept();
    const udp = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
    try {
      const loopback = new Uint8Array([127, 0, 0, 1]);
      const found = finder.find("tcp", { addr: loopback, port: client.localAddr.port });
      console.log(`tcp 127.0.0.1:${client.localAddr.port}: ${JSON.stringify(found)}`);
      assert.deepEqual(found, self);
      const sockets = finder.sockets("tcp");
      console.log(`tcp sockets listed: ${sockets.length}`);
      assert.deepEqual(
        finder.find("udp", { addr: loopback, port: (udp.addr as Deno.NetAddr).port }),
        self,
      );
      // A port nobody uses (the listener's, on another address) finds nothing.
      assert.equal(finder.find("tcp", { addr: new Uint8Array([127, 0, 0, 2]), port: 9 }), null);
    } finally {
      udp.close();
      server.close();
      client.close();
      listener.close();
    }
  },
});

Deno.test({
  name: "real libSystem: getpwnam finds root and the user running the test",
  ignore: !onMac,
  fn() {
    const libc = loadDarwinLibc();
    assert.equal(libc.userId("root"), 0);
    assert.equal(libc.userId("no-such-user-tunbox"), null);
    const user = Deno.env.get("USER");
    if (user) assert.equal(libc.userId(user), Deno.uid(), `getpwnam("${user}")`);
  },
});
