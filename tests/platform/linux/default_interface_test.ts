// Default route discovery and the netlink monitor, inside throwaway namespaces.

import assert from "node:assert/strict";
import {
  findDefaultRoute,
  watchDefaultInterface,
} from "../../../src/platform/linux/default_interface.ts";
import { LinuxPlatform } from "../../../src/platform/linux/platform.ts";
import { RtNetlink } from "../../../src/platform/linux/rtnetlink.ts";
import type { NetworkInterface } from "../../../src/platform/types.ts";
import { type Netns, runCommand, withNetns } from "../../_helpers/netns.ts";

async function twoUplinks(ns: Netns): Promise<void> {
  await ns.addVeth("up1", "up1p", { localAddr: ["10.1.0.1/24", "fd01::1/64"] });
  await ns.addVeth("up2", "up2p", { localAddr: ["10.2.0.1/24"] });
}

Deno.test("`findDefaultRoute()` takes the lowest metric, skips the excluded and down links", async () => {
  await withNetns("defif", async (ns) => {
    await twoUplinks(ns);
    const platform = new LinuxPlatform();
    assert.equal(ns.run(() => platform.defaultInterface()), null);
    await ns.ip("route", "add", "default", "via", "10.1.0.2", "dev", "up1", "metric", "100");
    await ns.ip("route", "add", "default", "via", "10.2.0.2", "dev", "up2", "metric", "50");
    const [best, excluded] = ns.run(() => {
      using nl = new RtNetlink();
      return [findDefaultRoute(nl), findDefaultRoute(nl, "up2")];
    });
    assert.equal(best?.iface.name, "up2");
    assert.equal(best?.metric, 50);
    assert.deepEqual(best?.gateway, Uint8Array.of(10, 2, 0, 2));
    assert.equal(excluded?.iface.name, "up1");
    await ns.ip("link", "set", "up2", "down");
    assert.equal(ns.run(() => platform.defaultInterface())?.name, "up1");
  });
});

Deno.test("`findDefaultRoute()` falls back to IPv6 when there is no IPv4 default", async () => {
  await withNetns("defif6", async (ns) => {
    await twoUplinks(ns);
    await ns.ip("-6", "route", "add", "default", "via", "fd01::2", "dev", "up1");
    const route = ns.run(() => {
      using nl = new RtNetlink();
      return findDefaultRoute(nl);
    });
    assert.equal(route?.family, 6);
    assert.equal(route?.iface.name, "up1");
    assert.equal(route?.metric, 1024);
  });
});

function nextChange(
  changes: (NetworkInterface | null)[],
  count: number,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (changes.length >= count) resolve();
      else if (Date.now() > deadline) {
        reject(new Error(`No default-interface change #${count} within ${timeoutMs} ms`));
      } else setTimeout(tick, 20);
    };
    tick();
  });
}

Deno.test("`watchDefaultInterface()` follows route changes and stops cleanly", async () => {
  await withNetns("watch", async (ns) => {
    await twoUplinks(ns);
    await ns.ip("route", "add", "default", "via", "10.1.0.2", "dev", "up1", "metric", "100");
    const changes: (NetworkInterface | null)[] = [];
    const watch = ns.run(() =>
      watchDefaultInterface((i) => changes.push(i), { exclude: "tun0", pollIntervalMs: 200 })
    );
    try {
      assert.equal(watch.current?.name, "up1");
      await ns.ip("route", "add", "default", "via", "10.2.0.2", "dev", "up2", "metric", "50");
      await nextChange(changes, 1);
      assert.equal(changes[0]?.name, "up2");
      // An unrelated change (an address) does not call back.
      await ns.ip("addr", "add", "10.3.0.1/24", "dev", "up1");
      await ns.ip("route", "del", "default", "via", "10.2.0.2", "dev", "up2", "metric", "50");
      await nextChange(changes, 2);
      assert.equal(changes[1]?.name, "up1");
      await ns.ip("route", "del", "default", "via", "10.1.0.2", "dev", "up1", "metric", "100");
      await nextChange(changes, 3);
      assert.equal(changes[2], null);
      assert.equal(changes.length, 3);
    } finally {
      watch.stop();
      await watch.done;
    }
  });
});

Deno.test("`Platform.watchDefaultInterface()` returns a stop function that ends the loop", async () => {
  await withNetns("watchstop", async (ns) => {
    await twoUplinks(ns);
    const platform = new LinuxPlatform();
    const changes: (NetworkInterface | null)[] = [];
    const stop = ns.run(() => platform.watchDefaultInterface((i) => changes.push(i), "tun0"));
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

Deno.test("`watchDefaultInterface()` re-checks after lost events (ENOBUFS)", async () => {
  await withNetns("watchlost", async (ns) => {
    await twoUplinks(ns);
    await ns.ip("route", "add", "default", "via", "10.1.0.2", "dev", "up1", "metric", "100");
    const changes: (NetworkInterface | null)[] = [];
    let lost = 0;
    const watch = ns.run(() =>
      watchDefaultInterface((i) => changes.push(i), {
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
      await nextChange(changes, 1);
      assert.equal(changes.at(-1)?.name, "up2");
      assert.ok(lost > 0, "expected the kernel to report lost events");
    } finally {
      watch.stop();
      await watch.done;
    }
  });
});
