// Default route discovery, inside throwaway namespaces.

import assert from "node:assert/strict";
import { findDefaultRoute } from "../../../src/platform/linux/default_interface.ts";
import { LinuxPlatform } from "../../../src/platform/linux/platform.ts";
import { RtNetlink } from "../../../src/platform/linux/rtnetlink/mod.ts";
import { type Netns, withNetns } from "../../_helpers/netns.ts";

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
