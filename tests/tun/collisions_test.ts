// TUN address collisions: the pure checks, and setupTun() refusing in a namespace with nothing
// installed.

import assert from "node:assert/strict";
import {
  AddressCollisionError,
  checkAddressCollisions,
  findAddressCollisions,
  prefixesOverlap,
  suggestFreeAddress,
} from "../../src/tun/collisions.ts";
import { formatPrefix, parsePrefix, type Prefix } from "../../src/net/ip.ts";
import { LinuxPlatform } from "../../src/platform/linux/platform.ts";
import type { NetworkSnapshot } from "../../src/platform/types.ts";
import { setupTun } from "../../src/tun/setup.ts";
import { withNetns } from "../_helpers/netns.ts";
import { tunOptions } from "./_tun_options.ts";

const p = (s: string): Prefix => parsePrefix(s)!;

function lan(...extraRoutes: [string, string][]): NetworkSnapshot {
  return {
    defaultInterface: { name: "eth0", index: 2 },
    interfaces: [
      { name: "lo", index: 1, up: true, addresses: [p("127.0.0.1/8"), p("::1/128")] },
      { name: "eth0", index: 2, up: true, addresses: [p("192.168.1.20/24"), p("fe80::1/64")] },
      { name: "docker0", index: 3, up: false, addresses: [p("172.17.0.1/16")] },
    ],
    routes: [
      { interface: "eth0", prefix: p("192.168.1.0/24") },
      ...extraRoutes.map(([i, r]) => ({ interface: i, prefix: p(r) })),
    ],
  };
}

Deno.test("`prefixesOverlap()` is true for containment either way, false across families", () => {
  assert.equal(prefixesOverlap(p("10.0.0.0/8"), p("10.1.2.0/30")), true);
  assert.equal(prefixesOverlap(p("10.1.2.0/30"), p("10.0.0.0/8")), true);
  assert.equal(prefixesOverlap(p("10.1.2.4/30"), p("10.1.2.0/30")), false);
  assert.equal(prefixesOverlap(p("::/0"), p("10.0.0.0/8")), false);
});

Deno.test("`findAddressCollisions()` names the interface, its address, and routes once", () => {
  const found = findAddressCollisions(
    [p("192.168.1.1/30"), p("172.19.0.1/30")],
    lan(["eth0", "172.16.0.0/12"]),
  );
  assert.deepEqual(
    found.map((c) => [formatPrefix(c.tunAddress), c.interface, formatPrefix(c.network), c.source]),
    [
      ["192.168.1.1/30", "eth0", "192.168.1.0/24", "address"],
      ["172.19.0.1/30", "eth0", "172.16.0.0/12", "route"],
    ],
  );
  // A down interface's address still counts (it comes back up with it).
  assert.equal(findAddressCollisions([p("172.17.5.1/24")], lan())[0]?.interface, "docker0");
  assert.deepEqual(findAddressCollisions([p("198.18.0.1/16")], lan()), []);
});

Deno.test("`suggestFreeAddress()` picks the first free network of the same size in 198.18.0.0/15", () => {
  assert.equal(formatPrefix(suggestFreeAddress(p("10.0.0.1/30"), [])!), "198.18.0.1/30");
  assert.equal(
    formatPrefix(suggestFreeAddress(p("10.0.0.1/16"), [p("198.18.0.0/16")])!),
    "198.19.0.1/16",
  );
  // A range larger than 198.18.0.0/15 is offered as the whole /15.
  assert.equal(formatPrefix(suggestFreeAddress(p("10.0.0.1/8"), [])!), "198.18.0.1/15");
  // Both /16 taken: fall back to 172.19.0.0/16.
  assert.equal(
    formatPrefix(suggestFreeAddress(p("10.0.0.1/16"), [p("198.18.0.0/15")])!),
    "172.19.0.1/16",
  );
  assert.equal(formatPrefix(suggestFreeAddress(p("fd00::1/126"), [])!), "fdfe:dcba:9876::1/126");
  assert.equal(suggestFreeAddress(p("10.0.0.1/16"), [p("0.0.0.0/1"), p("128.0.0.0/1")]), null);
});

Deno.test("`checkAddressCollisions()` throws one message naming the interface and a free range", () => {
  const options = tunOptions({ address: ["192.168.1.1/30", "fdfe:dcba:9876::1/126"] });
  assert.throws(
    () => checkAddressCollisions(options, lan()),
    (e: unknown) => {
      assert.ok(e instanceof AddressCollisionError);
      assert.equal(
        e.message,
        'Cannot start: address 192.168.1.1/30 of tun inbound "tun-in" overlaps 192.168.1.0/24 ' +
          'on eth0 (address 192.168.1.20/24); use a free range instead, e.g. "address": ' +
          '["198.18.0.1/30"] (198.18.0.0/15 is reserved for benchmarking, so no real network ' +
          "uses it). Nothing was changed on this system.",
      );
      assert.equal(e.collisions.length, 1);
      return true;
    },
  );
  checkAddressCollisions(tunOptions({ address: ["198.18.0.1/16"] }), lan());
});

Deno.test("`setupTun()` refuses a TUN address inside a veth's subnet and installs nothing", async () => {
  await withNetns("collide", async (ns) => {
    await ns.ip("link", "set", "lo", "up");
    await ns.addVeth("lan0", "lan0p", { localAddr: ["10.77.0.1/24"] });
    await ns.ip("route", "add", "10.88.0.0/16", "via", "10.77.0.254", "dev", "lan0");
    const before = await ns.snapshot();
    const platform = new LinuxPlatform();
    for (const [address, named] of [["10.77.0.5/30", "lan0"], ["10.88.3.1/24", "lan0"]]) {
      assert.throws(
        () =>
          ns.run(() =>
            setupTun(
              tunOptions({ interface_name: "tun9", address: [address!], auto_route: true }),
              platform,
              1,
            )
          ),
        (e: unknown) => {
          assert.ok(e instanceof AddressCollisionError, String(e));
          assert.match(e.message, new RegExp(`overlaps .* on ${named} \\(`));
          assert.match(e.message, /"address": \["198\.18\.\d+\.1\/\d+"\]/);
          return true;
        },
      );
    }
    await ns.expectSnapshot(before, 0);
    assert.equal((await ns.exec(["ip", "link", "show", "tun9"])).code, 1);
  });
});
