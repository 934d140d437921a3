import assert from "node:assert/strict";
import { RTM } from "../../../ffi/darwin/constants.ts";
import {
  darwinDefaultInterface,
  watchRoutingChanges,
} from "../../../src/platform/darwin/default_interface.ts";
import { routeMessage } from "../../../src/platform/darwin/route_socket.ts";
import type { NetworkInterface } from "../../../src/platform/types.ts";
import { parseIp, parsePrefix } from "../../../src/net/ip.ts";
import { FakeDarwinLibc } from "./_fake_libc.ts";
import {
  RECORD_DEFAULT_EN0,
  RECORD_LINK_ROUTE_EN0,
  RECORD_SCOPED_DEFAULT_EN5,
} from "./_route_dump.ts";

/** Resolves once `cond()` holds (checked every millisecond, at most `ms`). */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 1));
  }
}

// A routing-socket message as the kernel broadcasts it when the default route goes away.
const DELETE_DEFAULT = routeMessage(
  RTM.DELETE,
  parsePrefix("0.0.0.0/0")!,
  parseIp("192.168.1.1")!,
  9,
);

Deno.test("the route watch reports a new default interface after a routing message", async () => {
  const fake = new FakeDarwinLibc();
  const seen: (NetworkInterface | null)[] = [];
  const watch = watchRoutingChanges(fake, (i) => seen.push(i), () => darwinDefaultInterface(fake));
  assert.deepEqual(fake.calls.slice(0, 4), [
    "socket(AF_ROUTE, SOCK_RAW, AF_UNSPEC) = 3",
    "fcntl(3, F_GETFL, 0) = 2",
    "fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0",
    "fcntl(3, F_SETFD, FD_CLOEXEC) = 0",
  ]);
  // en0's default route disappears; only the scoped en5 default is left.
  fake.dump = new Uint8Array([...RECORD_SCOPED_DEFAULT_EN5, ...RECORD_LINK_ROUTE_EN0]);
  fake.readQueue.push(DELETE_DEFAULT);
  fake.pollResults.push(1);
  await until(() => seen.length > 0);
  assert.deepEqual(seen, [{ name: "en5", index: 12 }]);
  const i = fake.calls.indexOf("poll(3, POLLIN, 500) = 1");
  assert.deepEqual(fake.calls.slice(i, i + 3), [
    "poll(3, POLLIN, 500) = 1",
    "read(3, 16384) = 140",
    "read(3, 16384) = -1 EAGAIN",
  ]);
  watch.stop();
  await watch.done;
  assert.equal(fake.calls.at(-1), "close(3) = 0");
  assert.deepEqual(fake.openFds(), []);
});

Deno.test("the route watch stays quiet when messages do not change the default interface", async () => {
  const fake = new FakeDarwinLibc();
  const seen: (NetworkInterface | null)[] = [];
  const watch = watchRoutingChanges(fake, (i) => seen.push(i), () => darwinDefaultInterface(fake));
  fake.readQueue.push(DELETE_DEFAULT); // some unrelated change; the dump still says en0
  fake.pollResults.push(1);
  await until(() =>
    fake.calls.filter((c) => c.startsWith("sysctl(NET_RT_DUMP, size)")).length === 2
  );
  // Then the default goes away entirely: null is reported.
  fake.dump = RECORD_LINK_ROUTE_EN0;
  fake.readQueue.push(DELETE_DEFAULT);
  fake.pollResults.push(1);
  await until(() => seen.length > 0);
  assert.deepEqual(seen, [null]);
  watch.stop();
  await watch.done;
  assert.deepEqual(fake.openFds(), []);
});

Deno.test("the route watch survives a failing re-check and a lost-messages error", async () => {
  const fake = new FakeDarwinLibc();
  const seen: (NetworkInterface | null)[] = [];
  let checks = 0;
  const watch = watchRoutingChanges(fake, (i) => seen.push(i), () => {
    checks++;
    if (checks === 2) throw new Error("sysctl failed");
    return darwinDefaultInterface(fake);
  });
  fake.readQueue.push(DELETE_DEFAULT);
  fake.pollResults.push(1); // check #2 throws: logged, watch continues
  await until(() => checks >= 2);
  fake.failOn("read(3, 16384)", 55 /* ENOBUFS: the socket buffer overflowed */);
  fake.dump = RECORD_SCOPED_DEFAULT_EN5;
  fake.pollResults.push(1); // ENOBUFS on read still triggers a re-check
  await until(() => seen.length > 0);
  assert.deepEqual(seen, [{ name: "en5", index: 12 }]);
  assert.ok(fake.calls.includes("read(3, 16384) = -1 ENOBUFS"));
  watch.stop();
  await watch.done;
  assert.deepEqual(fake.openFds(), []);
});

Deno.test("the route watch gives up on an unexpected read error and closes its socket", async () => {
  const fake = new FakeDarwinLibc();
  const watch = watchRoutingChanges(fake, () => {}, () => darwinDefaultInterface(fake));
  fake.failOn("read(3", 9 /* EBADF */);
  fake.pollResults.push(1);
  await watch.done;
  assert.equal(fake.calls.at(-1), "close(3) = 0");
  assert.deepEqual(fake.openFds(), []);
});

Deno.test("`darwinDefaultInterface()` skips the excluded interface", () => {
  const fake = new FakeDarwinLibc();
  fake.dump = new Uint8Array([...RECORD_DEFAULT_EN0]);
  assert.deepEqual(darwinDefaultInterface(fake), { name: "en0", index: 6 });
  assert.equal(darwinDefaultInterface(fake, "en0"), null);
});
