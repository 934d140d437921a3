// The veth and move-link requests: byte-exact bodies (iproute2's layout), then against the
// kernel in namespaces this test creates and holds only as fds.

import assert from "node:assert/strict";
import { concatBytes } from "../../../../ffi/linux/netlink.ts";
import { NetNamespace } from "../../../../src/platform/linux/netns.ts";
import {
  encodeLinkNamespace,
  encodeVethCreate,
  NetlinkError,
  withRtNetlink,
} from "../../../../src/platform/linux/rtnetlink/mod.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);
const zeros = (n: number) => new Array<number>(n).fill(0);
const flat = (r: { body: Uint8Array; attrs: Uint8Array[] }) => concatBytes([r.body, ...r.attrs]);
const CAN_RUN = Deno.build.os === "linux" && Deno.uid?.() === 0;

Deno.test("`encodeVethCreate()` is iproute2's `link add v0 type veth peer name v1 netns`", () => {
  // The 76 bytes after the nlmsghdr of iproute2 6.1's request (strace, namespace fd 4).
  assert.deepEqual(
    flat(encodeVethCreate("v0", "v1", 4)),
    bytes(
      ...zeros(16), // ifinfomsg
      ...[7, 0, 3, 0, 0x76, 0x30, 0, 0], // IFLA_IFNAME "v0"
      ...[0x34, 0, 0x12, 0, 8, 0, 1, 0, 0x76, 0x65, 0x74, 0x68], // LINKINFO, KIND "veth"
      ...[0x28, 0, 2, 0, 0x24, 0, 1, 0], // INFO_DATA, VETH_INFO_PEER
      ...zeros(16), // peer ifinfomsg
      ...[8, 0, 0x1c, 0, 4, 0, 0, 0], // IFLA_NET_NS_FD 4
      ...[7, 0, 3, 0, 0x76, 0x31, 0, 0], // IFLA_IFNAME "v1"
    ),
  );
});

Deno.test("`encodeLinkNamespace()` is an ifinfomsg with the index and IFLA_NET_NS_FD", () => {
  assert.deepEqual(
    flat(encodeLinkNamespace(7, 12)),
    bytes(
      ...[0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // ifinfomsg, index 7
      ...[8, 0, 0x1c, 0, 12, 0, 0, 0], // IFLA_NET_NS_FD 12
    ),
  );
});

Deno.test({
  name: "`createVeth()` puts the peer straight into another namespace; `moveLinkToNamespace()`",
  ignore: !CAN_RUN,
  fn: () => {
    using a = NetNamespace.create();
    using b = NetNamespace.create();
    const names = () => withRtNetlink((nl) => nl.listLinks().map((l) => l.name).sort());
    const rootBefore = names();
    a.run(() => withRtNetlink((nl) => nl.createVeth("va", "vb", b.fd)));
    assert.deepEqual(a.run(names), ["lo", "va"]);
    assert.deepEqual(b.run(names), ["lo", "vb"]);
    const peer = b.run(() => withRtNetlink((nl) => nl.getLink("vb")));
    assert.equal(peer?.kind, "veth");
    // Move the first end over as well: both ends now live in b.
    a.run(() => withRtNetlink((nl) => nl.moveLinkToNamespace(nl.getLink("va")!.index, b.fd, "va")));
    assert.deepEqual(a.run(names), ["lo"]);
    assert.deepEqual(b.run(names), ["lo", "va", "vb"]);
    // A taken name is refused with the action named.
    assert.throws(
      () => b.run(() => withRtNetlink((nl) => nl.createVeth("va", "vc"))),
      (e: unknown) =>
        e instanceof NetlinkError && e.code === "EEXIST" &&
        e.message.startsWith('create veth pair "va" <-> "vc" failed: EEXIST'),
    );
    assert.deepEqual(names(), rootBefore, "the test's own namespace is unchanged");
  },
});
