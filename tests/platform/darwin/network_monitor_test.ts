// The macOS network monitor over the fake libc: routing messages as xnu sends them (built from
// the proven layouts), sorted into network changes, TUN checks and noise; bursts debounced; sleep
// detected from the clocks; the socket closed on stop.

import assert from "node:assert/strict";
import { DARWIN_ERRNO, RTF, RTM } from "../../../ffi/darwin/constants.ts";
import { decodeRoutingMessage } from "../../../ffi/darwin/structs.ts";
import {
  classifyMessage,
  type MonitorClock,
  monitorDarwinNetwork,
} from "../../../src/platform/darwin/network_monitor.ts";
import { darwinNetworkSnapshot } from "../../../src/platform/darwin/network_snapshot.ts";
import type { NetworkChange } from "../../../src/platform/types.ts";
import { formatIp, parseIp } from "../../../src/net/ip.ts";
import { FakeDarwinLibc } from "./_fake_libc.ts";
import { concat, ifAddr, ifInfo, routeRecord } from "./_route_messages.ts";
import {
  RECORD_DEFAULT_EN0,
  RECORD_LINK_ROUTE_EN0,
  RECORD_SCOPED_DEFAULT_EN5,
} from "./_route_dump.ts";

const ip = (t: string) => parseIp(t)!;
const ZERO = ip("0.0.0.0");
const GATEWAY_FLAGS = RTF.UP | RTF.GATEWAY | RTF.STATIC;

/** Resolves once `cond()` holds (checked every millisecond, at most `ms`). */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 1));
  }
}

const TUN = 20; // the utun's index in these tests

Deno.test("`classifyMessage()` sorts interface, address and default-route messages", () => {
  const c = (buf: Uint8Array) => classifyMessage(decodeRoutingMessage(buf), TUN);
  assert.equal(c(ifInfo(6, 0x8863)), "network"); // en0 up/down
  assert.equal(c(ifAddr(RTM.NEWADDR, 6, ip("192.168.1.20"), 24)), "network");
  assert.equal(c(ifAddr(RTM.DELADDR, 12, ip("10.0.0.2"), 24)), "network");
  assert.equal(c(routeRecord(RTM.ADD, 6, GATEWAY_FLAGS, ZERO, 0, ip("192.168.1.1"))), "network");
  assert.equal(c(routeRecord(RTM.DELETE, 6, GATEWAY_FLAGS, ZERO, 0, ip("192.168.1.1"))), "network");
  // Noise: a LAN route, a cloned host route (ARP), RTM_MISS, RTM_GET answers.
  assert.equal(
    c(routeRecord(RTM.ADD, 6, RTF.UP, ip("192.168.1.0"), 24, new Uint8Array())),
    "ignore",
  );
  assert.equal(
    c(routeRecord(
      RTM.ADD,
      6,
      RTF.UP | RTF.HOST | RTF.LLINFO | RTF.WASCLONED,
      ip("192.168.1.7"),
      32,
      new Uint8Array(),
    )),
    "ignore",
  );
  assert.equal(c(routeRecord(RTM.MISS, 0, 0, ip("1.1.1.1"), 32, ZERO)), "ignore");
  assert.equal(c(routeRecord(RTM.GET, 6, GATEWAY_FLAGS, ZERO, 0, ip("192.168.1.1"))), "ignore");
  // The TUN itself: its link, its addresses, and a route of ours deleted ask for a TUN check;
  // our own route additions (the repair's) do not, so repairs never loop.
  assert.equal(c(ifInfo(TUN, 0x8050)), "tun");
  assert.equal(c(ifAddr(RTM.DELADDR, TUN, ip("198.18.0.1"), 16)), "tun");
  assert.equal(c(routeRecord(RTM.DELETE, TUN, GATEWAY_FLAGS, ZERO, 1, ip("198.18.0.1"))), "tun");
  assert.equal(c(routeRecord(RTM.ADD, TUN, GATEWAY_FLAGS, ZERO, 1, ip("198.18.0.1"))), "ignore");
  // Without a TUN, messages about index 20 are just network messages.
  assert.equal(classifyMessage(decodeRoutingMessage(ifInfo(TUN, 0)), 0), "network");
});

/** A Mac on Wi-Fi (en0) with Ethernet (en5) plugged in. */
function wifiAndEthernet(): FakeDarwinLibc {
  const fake = new FakeDarwinLibc();
  fake.dump = concat([RECORD_SCOPED_DEFAULT_EN5, RECORD_DEFAULT_EN0, RECORD_LINK_ROUTE_EN0]);
  return fake;
}

Deno.test("a Wi-Fi switch-off burst is one change: default en0 -> en5, en0 down, its address gone", async () => {
  const fake = wifiAndEthernet();
  const changes: NetworkChange[] = [];
  const checks: string[] = [];
  const monitor = monitorDarwinNetwork(fake, {
    snapshot: () => darwinNetworkSnapshot(fake),
    onChange: (c) => changes.push(c),
    onTunCheck: (r) => checks.push(r),
  });
  const i = fake.calls.indexOf("socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 3");
  assert.deepEqual(fake.calls.slice(i, i + 4), [
    "socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 3",
    "fcntl(3, F_GETFL, 0) = 2",
    "fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0",
    "fcntl(3, F_SETFD, FD_CLOEXEC) = 0",
  ]);
  // What xnu sends when Wi-Fi goes off, in three reads: the default route goes, the address
  // goes, the link goes down; en5's scoped default becomes the system's default.
  const en0 = fake.ifaces.get("en0")!;
  en0.flags &= ~0x40; // no longer RUNNING
  en0.addrs = [];
  fake.dump = RECORD_SCOPED_DEFAULT_EN5;
  const t0 = performance.now();
  fake.readQueue.push(routeRecord(RTM.DELETE, 6, GATEWAY_FLAGS, ZERO, 0, ip("192.168.1.1")));
  fake.readQueue.push(ifAddr(RTM.DELADDR, 6, ip("192.168.1.20"), 24));
  fake.readQueue.push(
    concat([ifInfo(6, 0x8823), routeRecord(RTM.ADD, 12, GATEWAY_FLAGS, ZERO, 0, ip("10.0.0.1"))]),
  );
  fake.pollResults.push(1);
  await until(() => changes.length > 0);
  const took = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 200)); // nothing more comes
  monitor.stop();
  await monitor.done;
  assert.equal(changes.length, 1);
  const c = changes[0]!;
  assert.deepEqual(c.defaultInterface, { name: "en5", index: 12 });
  assert.equal(c.defaultInterfaceChanged, true);
  assert.deepEqual(c.lostInterfaces, [{ name: "en0", index: 6 }]);
  assert.deepEqual(c.lostAddresses.map(formatIp), ["192.168.1.20"]);
  assert.deepEqual(checks, []);
  assert.ok(took < 1000, `reported after ${took.toFixed(0)} ms`);
  assert.equal(fake.calls.at(-1), "close(3) = 0");
  assert.deepEqual(fake.openFds(), []);
});

Deno.test("messages that change nothing tunbox cares about report nothing", async () => {
  const fake = wifiAndEthernet();
  const changes: NetworkChange[] = [];
  let snapshots = 0;
  const monitor = monitorDarwinNetwork(fake, {
    snapshot: () => (snapshots++, darwinNetworkSnapshot(fake)),
    onChange: (c) => changes.push(c),
  });
  // An ARP entry and a LAN route: ignored without even a new snapshot.
  fake.readQueue.push(
    routeRecord(
      RTM.ADD,
      6,
      RTF.UP | RTF.HOST | RTF.LLINFO,
      ip("192.168.1.7"),
      32,
      new Uint8Array(),
    ),
  );
  fake.pollResults.push(1);
  await until(() => fake.calls.some((c) => c.startsWith("read(3, 16384) = -1 EAGAIN")));
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(snapshots, 1);
  // A DHCP renewal re-announces en0's address: a snapshot, but no change.
  fake.readQueue.push(ifAddr(RTM.NEWADDR, 6, ip("192.168.1.20"), 24));
  fake.pollResults.push(1);
  await until(() => snapshots === 2);
  monitor.stop();
  await monitor.done;
  assert.deepEqual(changes, []);
});

Deno.test("messages about the TUN and lost messages ask for a TUN check", async () => {
  const fake = wifiAndEthernet();
  const checks: string[] = [];
  let snapshots = 0;
  const monitor = monitorDarwinNetwork(fake, {
    snapshot: () => (snapshots++, darwinNetworkSnapshot(fake)),
    onChange: () => {},
    onTunCheck: (r) => checks.push(r),
    tunIndex: () => TUN,
  });
  fake.readQueue.push(routeRecord(RTM.DELETE, TUN, GATEWAY_FLAGS, ZERO, 1, ip("198.18.0.1")));
  fake.pollResults.push(1);
  await until(() => checks.length === 1);
  assert.deepEqual(checks, ["the TUN's interface, address or routes changed"]);
  assert.equal(snapshots, 1); // a TUN message alone re-reads nothing else
  // ENOBUFS: the kernel dropped messages; everything is checked.
  fake.failOn("read(3, 16384)", DARWIN_ERRNO.ENOBUFS);
  fake.pollResults.push(1);
  await until(() => checks.length === 2);
  assert.equal(checks[1], "routing messages were lost");
  assert.equal(snapshots, 2);
  monitor.stop();
  await monitor.done;
});

Deno.test("after sleep (wall clock jumped past the monotonic one) the network and the TUN are checked", async () => {
  const fake = wifiAndEthernet();
  const checks: string[] = [];
  let snapshots = 0;
  // Real clocks, except that the wall clock can be moved ahead as a sleep moves it.
  let slept = 0;
  const clock: MonitorClock = {
    monotonic: () => performance.now(),
    wall: () => Date.now() + slept,
  };
  const monitor = monitorDarwinNetwork(fake, {
    snapshot: () => (snapshots++, darwinNetworkSnapshot(fake)),
    onChange: () => {},
    onTunCheck: (r) => checks.push(r),
  }, clock);
  // Awake time passes on both clocks: nothing happens.
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(checks, []);
  // The lid was closed for an hour: the wall clock moved, the monotonic one did not.
  slept += 3_600_000;
  await until(() => checks.length === 1);
  assert.deepEqual(checks, ["woke from sleep"]);
  assert.equal(snapshots, 2);
  monitor.stop();
  await monitor.done;
  assert.deepEqual(fake.openFds(), []);
});

Deno.test("the monitor gives up on an unexpected read error and closes its socket", async () => {
  const fake = wifiAndEthernet();
  const monitor = monitorDarwinNetwork(fake, {
    snapshot: () => darwinNetworkSnapshot(fake),
    onChange: () => {},
  });
  fake.failOn("read(3", 9 /* EBADF */);
  fake.pollResults.push(1);
  await monitor.done;
  assert.equal(fake.calls.at(-1), "close(3) = 0");
  assert.deepEqual(fake.openFds(), []);
});
