// The macOS network snapshot from the hand-built route dump (en0 = 6, en5 = 12).

import assert from "node:assert/strict";
import { testPlatform } from "./_platform.ts";
import { formatPrefix } from "../../../src/net/ip.ts";

Deno.test("`networkSnapshot()` lists the LAN route of en0 and the default interface", () => {
  const platform = testPlatform().platform;
  const snap = platform.networkSnapshot();
  assert.deepEqual(snap.defaultInterface, { name: "en0", index: 6 });
  const routes = snap.routes.map((r) => `${r.interface} ${formatPrefix(r.prefix)}`);
  assert.ok(routes.includes("en0 192.168.1.0/24"), routes.join(", "));
  assert.ok(!routes.some((r) => r.endsWith("/0")), "default routes are left out");
  // Every interface of NET_RT_IFLIST2, with its addresses; en0 and en5 are UP|RUNNING, the
  // stock utun0..3 too (0x8051), lo0 as well.
  assert.deepEqual(
    snap.interfaces.map((i) =>
      `${i.name} ${i.up ? "up" : "down"} ${i.addresses.map(formatPrefix)}`
    ),
    [
      "lo0 up 127.0.0.1/8",
      "en0 up 192.168.1.20/24",
      "en5 up 10.0.0.2/24",
      "utun0 up ",
      "utun1 up ",
      "utun2 up ",
      "utun3 up ",
    ],
  );
  assert.deepEqual(platform.networkSnapshot("en0").routes.filter((r) => r.interface === "en0"), []);
});
