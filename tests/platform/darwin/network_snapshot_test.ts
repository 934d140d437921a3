// The macOS network snapshot from the hand-built route dump (en0 = 6, en5 = 12).

import assert from "node:assert/strict";
import { createDarwinPlatform } from "../../../src/platform/darwin/platform.ts";
import { formatPrefix } from "../../../src/net/ip.ts";
import { FakeDarwinLibc } from "./_fake_libc.ts";

Deno.test("`networkSnapshot()` lists the LAN route of en0 and the default interface", () => {
  const platform = createDarwinPlatform(new FakeDarwinLibc(), { flushDnsCache: () => {} });
  const snap = platform.networkSnapshot();
  assert.deepEqual(snap.defaultInterface, { name: "en0", index: 6 });
  const routes = snap.routes.map((r) => `${r.interface} ${formatPrefix(r.prefix)}`);
  assert.ok(routes.includes("en0 192.168.1.0/24"), routes.join(", "));
  assert.ok(!routes.some((r) => r.endsWith("/0")), "default routes are left out");
  assert.deepEqual(snap.interfaces.map((i) => i.name).sort(), ["en0"]);
  assert.deepEqual(platform.networkSnapshot("en0").routes.filter((r) => r.interface === "en0"), []);
});
