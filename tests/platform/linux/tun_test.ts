// TUN devices inside throwaway namespaces.

import assert from "node:assert/strict";
import { InterfaceConflictError, openTun } from "../../../src/platform/linux/tun.ts";
import { parsePrefix } from "../../../src/net/ip.ts";
import { withNetns } from "../../_helpers/netns.ts";
import type { TunDeviceConfig } from "../../../src/platform/types.ts";

const p = (s: string) => parsePrefix(s)!;

function config(over: Partial<TunDeviceConfig> = {}): TunDeviceConfig {
  return {
    name: "",
    mtu: 65535,
    addresses: [p("172.19.0.1/30"), p("fdfe:dcba:9876::1/126")],
    queues: 1,
    vnetHdr: false,
    ...over,
  };
}

Deno.test("`openTun()` picks tun0 when unnamed, sets MTU, addresses and up; close removes it", async () => {
  await withNetns("tun-basic", async (ns) => {
    const before = await ns.snapshot();
    const dev = ns.run(() => openTun(config()));
    try {
      assert.equal(dev.name, "tun0");
      assert.equal(dev.fds.length, 1);
      assert.equal(dev.packetOffset, 0);
      assert.equal(dev.offload, false);
      assert.equal(dev.mtu, 65535);
      const shown = await ns.ip("addr", "show", "dev", "tun0");
      assert.match(
        shown,
        new RegExp(`^${dev.index}: tun0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 65535 `),
      );
      assert.match(shown, /inet 172\.19\.0\.1\/30 brd 172\.19\.0\.3 scope global tun0/);
      // Usable at once: our address is never tentative (the kernel's own link-local may be,
      // briefly, while its address work runs).
      assert.match(shown, /inet6 fdfe:dcba:9876::1\/126 scope global nodad\s*\n/);
      const details = await ns.ip("-d", "link", "show", "tun0");
      assert.match(details, /tun type tun pi off vnet_hdr off persist off/);
      const fdinfo = Deno.readTextFileSync(`/proc/self/fdinfo/${dev.fds[0]}`);
      const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(fdinfo)![1]!, 8);
      assert.equal(flags & 0o4000, 0o4000, "O_NONBLOCK");
      assert.equal(flags & 0o2000000, 0o2000000, "O_CLOEXEC");
    } finally {
      ns.run(() => dev.close());
    }
    await ns.expectSnapshot(before);
    assert.equal((await ns.exec(["ip", "link", "show", "tun0"])).code, 1);
  });
});

Deno.test("`openTun()` opens one fd per queue with IFF_MULTI_QUEUE, and vnet_hdr with offset 10 and offload", async () => {
  await withNetns("tun-mq", async (ns) => {
    const dev = ns.run(() => openTun(config({ name: "tbq0", queues: 3, vnetHdr: true })));
    try {
      assert.equal(dev.name, "tbq0");
      assert.equal(new Set(dev.fds).size, 3);
      assert.equal(dev.packetOffset, 10);
      assert.equal(dev.offload, true, "TUNSETOFFLOAD TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 taken");
      const details = await ns.ip("-d", "link", "show", "tbq0");
      assert.match(
        details,
        /tun type tun pi off vnet_hdr on multi_queue numqueues 3 numdisabled 0 persist off/,
      );
    } finally {
      ns.run(() => dev.close());
    }
  });
});

Deno.test("`openTun()` refuses a name taken by a non-TUN interface and changes nothing", async () => {
  await withNetns("tun-taken", async (ns) => {
    await ns.ip("link", "add", "taken0", "type", "veth", "peer", "name", "taken0p");
    const before = await ns.snapshot();
    assert.throws(
      () => ns.run(() => openTun(config({ name: "taken0" }))),
      (e: unknown) =>
        e instanceof InterfaceConflictError &&
        e.message ===
          'Cannot open TUN device "taken0": an interface of that name already exists and is a veth device',
    );
    await ns.expectSnapshot(before);
  });
});

Deno.test("`openTun()` reports EBUSY when a single-queue TUN of that name is in use", async () => {
  await withNetns("tun-busy", async (ns) => {
    const first = ns.run(() => openTun(config({ name: "busy0" })));
    try {
      const before = await ns.snapshot();
      assert.throws(
        () => ns.run(() => openTun(config({ name: "busy0" }))),
        /open TUN device "busy0" \(ioctl TUNSETIFF\) failed: EBUSY \(Device or resource busy\)/,
      );
      await ns.expectSnapshot(before);
    } finally {
      ns.run(() => first.close());
    }
  });
});

Deno.test("`openTun()` rejects a name over 15 bytes and a bad MTU before touching anything", () => {
  assert.throws(
    () => openTun(config({ name: "a-very-long-tun-name" })),
    /Invalid interface name "a-very-long-tun-name": it is 20 bytes long, the limit is 15/,
  );
  assert.throws(() => openTun(config({ mtu: 70000 })), /Invalid TUN MTU 70000/);
  assert.throws(() => openTun(config({ queues: 0 })), /Invalid TUN queue count 0/);
});

Deno.test("`openTun()` undoes itself when an address cannot be added", async () => {
  await withNetns("tun-undo", async (ns) => {
    const before = await ns.snapshot();
    // An IPv6 address cannot go on a link whose MTU is below 1280 (IPv6 is off there).
    assert.throws(
      () => ns.run(() => openTun(config({ name: "undo0", mtu: 1000 }))),
      /add address fdfe:dcba:9876::1\/126 to "undo0" failed/,
    );
    await ns.expectSnapshot(before);
  });
});
