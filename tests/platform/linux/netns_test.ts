// Network namespaces held as fds: creation without leaving home, synchronous switches that
// always return, and enterNetns() (in a Worker, so the test's own thread never moves).

import assert from "node:assert/strict";
import {
  NetNamespace,
  processNetnsInodes,
  threadNetnsInode,
} from "../../../src/platform/linux/netns.ts";
import { withRtNetlink } from "../../../src/platform/linux/rtnetlink/mod.ts";

const CAN_RUN = Deno.build.os === "linux" && Deno.uid?.() === 0;

function ownFdsTo(inode: number): number {
  let n = 0;
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${e.name}`) === `net:[${inode}]`) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

Deno.test({
  name: "`NetNamespace.create()` makes an empty namespace and leaves the thread at home",
  ignore: !CAN_RUN,
  fn: () => {
    const home = threadNetnsInode();
    using ns = NetNamespace.create();
    assert.equal(threadNetnsInode(), home);
    assert.notEqual(ns.inode, home);
    assert.equal(ns.path, `/proc/${Deno.pid}/fd/${ns.fd}`);
    const inside = ns.run(() => ({
      ino: threadNetnsInode(),
      links: withRtNetlink((nl) => nl.listLinks()).map((l) => `${l.name} ${l.flags & 1}`),
    }));
    assert.deepEqual(inside, { ino: ns.inode, links: ["lo 0"] });
    assert.equal(threadNetnsInode(), home);
  },
});

Deno.test({
  name: "`NetNamespace.run()` returns home when the function throws or is asynchronous",
  ignore: !CAN_RUN,
  fn: () => {
    const home = threadNetnsInode();
    using ns = NetNamespace.create();
    assert.throws(() =>
      ns.run(() => {
        throw new RangeError("inside");
      }), RangeError);
    assert.equal(threadNetnsInode(), home);
    assert.throws(() => ns.run(() => Promise.resolve(1)), TypeError);
    assert.equal(threadNetnsInode(), home);
  },
});

Deno.test({
  name: "`NetNamespace.close()` drops the fd; the namespace is held by nothing of ours",
  ignore: !CAN_RUN,
  fn: () => {
    const ns = NetNamespace.create();
    const ino = ns.inode;
    assert.equal(ownFdsTo(ino), 1);
    assert.ok(!processNetnsInodes().has(ino), "no thread is in it");
    ns.close();
    ns.close(); // idempotent
    assert.equal(ns.fd, -1);
    assert.equal(ownFdsTo(ino), 0);
    assert.throws(() => ns.run(() => 1), /closed/);
    assert.throws(() => ns.path, /closed/);
  },
});

Deno.test({
  name: "`NetNamespace.open()` of the thread's own namespace has the thread's inode",
  ignore: !CAN_RUN,
  fn: () => {
    using self = NetNamespace.open("/proc/thread-self/ns/net");
    assert.equal(self.inode, threadNetnsInode());
    assert.ok(processNetnsInodes().has(self.inode));
    assert.throws(() => NetNamespace.open("/nonexistent/ns"), /open network namespace.*ENOENT/);
  },
});

async function inWorker(
  path: string,
): Promise<{ entered?: number; here?: number; error?: string }> {
  const w = new Worker(new URL("./_netns_worker.ts", import.meta.url), { type: "module" });
  try {
    return await new Promise((resolve) => {
      w.onmessage = (e) => resolve(e.data);
      w.postMessage(path);
    });
  } finally {
    w.terminate();
  }
}

Deno.test({
  name: "`enterNetns()` moves only the calling thread and verifies the switch",
  ignore: !CAN_RUN,
  fn: async () => {
    const home = threadNetnsInode();
    using ns = NetNamespace.create();
    const r = await inWorker(ns.path);
    assert.deepEqual(r, { entered: ns.inode, here: ns.inode });
    assert.equal(threadNetnsInode(), home, "the test's thread did not move");
    const bad = await inWorker("/proc/self/fd/99999");
    assert.match(bad.error ?? "", /open network namespace "\/proc\/self\/fd\/99999" failed/);
    // Not a namespace file: setns refuses (EINVAL).
    const notNs = await inWorker("/proc/self/status");
    assert.match(notNs.error ?? "", /setns into network namespace .* failed: EINVAL/);
  },
});
