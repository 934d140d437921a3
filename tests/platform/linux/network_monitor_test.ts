// The network snapshot and the netlink change monitor, inside throwaway namespaces.

import assert from "node:assert/strict";
import { readNetworkSnapshot, watchNetwork } from "../../../src/platform/linux/network_monitor.ts";
import { LinuxPlatform } from "../../../src/platform/linux/platform.ts";
import { RtNetlink } from "../../../src/platform/linux/rtnetlink/mod.ts";
import { formatIp, formatPrefix } from "../../../src/net/ip.ts";
import type { NetworkChange } from "../../../src/platform/types.ts";
import { type Netns, runCommand, withNetns } from "../../_helpers/netns.ts";

async function twoUplinks(ns: Netns): Promise<void> {
  await ns.addVeth("up1", "up1p", { localAddr: ["10.1.0.1/24", "fd01::1/64"] });
  await ns.addVeth("up2", "up2p", { localAddr: ["10.2.0.1/24"] });
}

function waitFor(changes: NetworkChange[], count: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (changes.length >= count) resolve();
      else if (Date.now() > deadline) {
        reject(new Error(`No network change #${count} within ${timeoutMs} ms`));
      } else setTimeout(tick, 20);
    };
    tick();
  });
}

Deno.test("`readNetworkSnapshot()` lists links, addresses and main-table routes without the excluded one", async () => {
  await withNetns("netsnap", async (ns) => {
    await twoUplinks(ns);
    await ns.ip("route", "add", "192.168.50.0/24", "via", "10.2.0.2", "dev", "up2");
    await ns.ip("route", "add", "default", "via", "10.1.0.2", "dev", "up1");
    const [all, without] = ns.run(() => {
      using nl = new RtNetlink();
      return [readNetworkSnapshot(nl), readNetworkSnapshot(nl, "up2")];
    });
    assert.equal(all.defaultInterface?.name, "up1");
    const up1 = all.interfaces.find((i) => i.name === "up1")!;
    assert.equal(up1.up, true);
    assert.ok(up1.addresses.some((a) => formatPrefix(a) === "10.1.0.1/24"));
    assert.ok(up1.addresses.some((a) => formatPrefix(a) === "fd01::1/64"));
    const routes = all.routes.map((r) => `${r.interface} ${formatPrefix(r.prefix)}`);
    assert.ok(routes.includes("up1 10.1.0.0/24"), routes.join(", "));
    assert.ok(routes.includes("up2 192.168.50.0/24"), routes.join(", "));
    assert.ok(!routes.some((r) => r.endsWith(" 0.0.0.0/0")), "default routes are left out");
    assert.ok(!without.interfaces.some((i) => i.name === "up2"));
    assert.ok(!without.routes.some((r) => r.interface === "up2"));
  });
});

Deno.test("`watchNetwork()` reports a moved default route, a lost address and a downed link", async () => {
  // (Each step waits for its report: a burst of events within 150 ms is one change.)
  await withNetns("netwatch", async (ns) => {
    await twoUplinks(ns);
    await ns.ip("route", "add", "default", "via", "10.1.0.2", "dev", "up1", "metric", "100");
    const changes: NetworkChange[] = [];
    const watch = ns.run(() =>
      watchNetwork((c) => changes.push(c), { exclude: "tun0", pollIntervalMs: 200 })
    );
    try {
      assert.equal(watch.current.defaultInterface?.name, "up1");
      const t0 = Date.now();
      await ns.ip("route", "add", "default", "via", "10.2.0.2", "dev", "up2", "metric", "50");
      await waitFor(changes, 1);
      assert.equal(changes.length, 1);
      assert.ok(Date.now() - t0 < 1000, `reported after ${Date.now() - t0} ms`);
      assert.equal(changes[0]!.defaultInterface?.name, "up2");
      assert.equal(changes[0]!.defaultInterfaceChanged, true);
      assert.deepEqual(changes[0]!.descriptions, ["default interface up1 -> up2"]);
      // An added address or route is no change by itself.
      await ns.ip("addr", "add", "10.3.0.1/24", "dev", "up1");
      await ns.ip("route", "add", "10.9.0.0/24", "dev", "up1");
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(changes.length, 1);
      await ns.ip("addr", "del", "10.3.0.1/24", "dev", "up1");
      await waitFor(changes, 2);
      assert.deepEqual(changes[1]!.lostAddresses.map(formatIp), ["10.3.0.1"]);
      assert.equal(changes[1]!.defaultInterfaceChanged, false);
      assert.deepEqual(changes[1]!.descriptions, ["address 10.3.0.1/24 removed from up1"]);
      await ns.ip("link", "set", "up2", "down");
      await waitFor(changes, 3);
      const c = changes[2]!;
      assert.equal(c.defaultInterface?.name, "up1");
      assert.deepEqual(c.lostInterfaces.map((i) => i.name), ["up2"]);
      assert.deepEqual(c.descriptions.slice(0, 2), [
        "default interface up2 -> up1",
        "interface up2 down",
      ]);
      // Taking a link down also removes its IPv6 link-local address.
      for (const d of c.descriptions.slice(2)) {
        assert.match(d, /^address fe80:.* removed from up2$/);
      }
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(changes.length, 3);
    } finally {
      watch.stop();
      await watch.done;
    }
  });
});

Deno.test("`Platform.watchNetwork()` returns a stop function that ends the loop", async () => {
  await withNetns("watchstop", async (ns) => {
    await twoUplinks(ns);
    const platform = new LinuxPlatform();
    const changes: NetworkChange[] = [];
    const stop = ns.run(() => platform.watchNetwork((c) => changes.push(c), "tun0"));
    const started = Date.now();
    stop();
    // The loop wakes on the eventfd; give it a moment, then a route change must not call back.
    await new Promise((r) => setTimeout(r, 200));
    await ns.ip("route", "add", "default", "via", "10.1.0.2", "dev", "up1");
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(changes, []);
    assert.ok(Date.now() - started < 2000);
  });
});

Deno.test("`watchNetwork()` re-checks after lost events (ENOBUFS)", async () => {
  await withNetns("watchlost", async (ns) => {
    await twoUplinks(ns);
    await ns.ip("route", "add", "default", "via", "10.1.0.2", "dev", "up1", "metric", "100");
    const changes: NetworkChange[] = [];
    let lost = 0;
    const watch = ns.run(() =>
      watchNetwork((c) => changes.push(c), {
        receiveBufferBytes: 1024,
        onEventsLost: () => lost++,
        pollIntervalMs: 200,
      })
    );
    try {
      // Thousands of route events overflow the tiny receive buffer; the default moves to up2
      // somewhere in the middle of them.
      const lines = Array.from(
        { length: 4000 },
        (_, i) => `route add 10.${100 + (i >> 8)}.${i & 255}.0/24 dev up1`,
      );
      lines.splice(2000, 0, "route add default via 10.2.0.2 dev up2 metric 50");
      const r = await runCommand(["ip", "-n", ns.name, "-batch", "-"], {
        stdin: lines.join("\n") + "\n",
      });
      assert.equal(r.code, 0, r.stderr);
      await waitFor(changes, 1);
      assert.equal(changes.at(-1)?.defaultInterface?.name, "up2");
      assert.ok(lost > 0, "expected the kernel to report lost events");
    } finally {
      watch.stop();
      await watch.done;
    }
  });
});
