// Repairs while tunbox runs: a route of ours deleted by another program, the utun taken down,
// its address removed, or a sleep; the platform's network watch notices and puts them back.

import assert from "node:assert/strict";
import { RTF, RTM } from "../../../ffi/darwin/constants.ts";
import { setupTun } from "../../../src/tun/setup.ts";
import { parseIp } from "../../../src/net/ip.ts";
import { FakeDarwinLibc } from "./_fake_libc.ts";
import { routeRecord } from "./_route_messages.ts";
import { testPlatform } from "./_platform.ts";
import { SEED_TUN } from "./_options.ts";

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 1));
  }
}

function running(hooks = {}) {
  const fake = new FakeDarwinLibc();
  fake.routesInDump = true;
  const t = testPlatform(fake, hooks);
  const tun = setupTun(SEED_TUN, t.platform, 1);
  return { ...t, tun };
}

Deno.test("a route of ours deleted by another program is added back within a second", async () => {
  const { fake, platform, tun } = running();
  const stop = platform.watchNetwork(() => {}, "utun8");
  const index = tun.device.index;
  // Another VPN's route flush deletes 0.0.0.0/1; the kernel broadcasts the RTM_DELETE.
  fake.routes.delete("0.0.0.0/1");
  fake.calls.length = 0;
  const t0 = performance.now();
  fake.readQueue.push(
    routeRecord(
      RTM.DELETE,
      index,
      RTF.UP | RTF.GATEWAY | RTF.STATIC,
      new Uint8Array(4),
      1,
      parseIp("198.18.0.1")!,
    ),
  );
  fake.pollResults.push(1);
  await until(() => fake.routes.has("0.0.0.0/1"));
  const took = performance.now() - t0;
  assert.ok(took < 1000, `repaired after ${took.toFixed(0)} ms`);
  assert.ok(
    fake.calls.some((c) => /write\(\d+, RTM_ADD 0\.0\.0\.0\/1 via 198\.18\.0\.1 /.test(c)),
    fake.calls.join("\n"),
  );
  // Only the missing route was added; the other was left alone.
  assert.ok(!fake.calls.some((c) => c.includes("RTM_ADD 128.0.0.0/1")));
  stop();
  await new Promise((r) => setTimeout(r, 600)); // the watch's poll ends
  tun.close();
  assert.deepEqual(fake.openFds(), []);
});

Deno.test("after sleep, a utun taken down and stripped of its address is brought back with its routes", async () => {
  let slept = 0;
  const { fake, platform, tun } = running({
    clock: { monotonic: () => performance.now(), wall: () => Date.now() + slept },
  });
  const stop = platform.watchNetwork(() => {}, "utun8");
  const utun = fake.ifaces.get("utun8")!;
  utun.flags &= ~0x1; // IFF_UP cleared
  utun.addrs = []; // the address is gone, and the routes through it with it
  fake.routes.clear();
  fake.calls.length = 0;
  slept += 8 * 3600_000; // a night
  await until(() => fake.routes.size === 2);
  const lines = fake.calls.filter((c) => /SIOCSIFFLAGS|SIOCAIFADDR|RTM_ADD/.test(c));
  assert.deepEqual(lines.map((c) => c.replace(/^ioctl\(\d+|^write\(\d+/, "")), [
    ", SIOCSIFFLAGS, ifreq{utun8 flags 0x8051}) = 0",
    ", SIOCAIFADDR, ifaliasreq{utun8 198.18.0.1 dst 198.18.0.1 mask 255.255.0.0}) = 0",
    ", RTM_ADD 0.0.0.0/1 via 198.18.0.1 flags UP|GATEWAY|STATIC seq 1) = 140",
    ", RTM_ADD 128.0.0.0/1 via 198.18.0.1 flags UP|GATEWAY|STATIC seq 2) = 140",
  ]);
  stop();
  await new Promise((r) => setTimeout(r, 600));
  tun.close();
  assert.deepEqual(fake.openFds(), []);
});

Deno.test("a check with everything in place changes nothing", async () => {
  let slept = 0;
  const { fake, platform, tun } = running({
    clock: { monotonic: () => performance.now(), wall: () => Date.now() + slept },
  });
  const stop = platform.watchNetwork(() => {}, "utun8");
  fake.calls.length = 0;
  slept += 60_000;
  await until(() => fake.calls.some((c) => c.startsWith("sysctl(NET_RT_DUMP")));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(
    !fake.calls.some((c) => /SIOCSIFFLAGS|SIOCAIFADDR|RTM_ADD/.test(c)),
    fake.calls.join("\n"),
  );
  stop();
  await new Promise((r) => setTimeout(r, 600));
  tun.close();
});
