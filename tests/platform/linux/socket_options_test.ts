// Loop avoidance: with auto_route sending everything into the TUN, a socket bound to the
// physical interface (bindToInterface) still reaches a peer behind it.

import assert from "node:assert/strict";
import { LinuxPlatform } from "../../../src/platform/linux/platform.ts";
import { setupTun } from "../../../src/tun/setup.ts";
import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { SO_MARK, SOL_SOCKET } from "../../../ffi/linux/constants.ts";
import { withNetns } from "../../_helpers/netns.ts";
import { tunOptions } from "../../tun/_tun_options.ts";
import { bindTo, closeFd, readTunUntil, recvFrom, sendTo, udpSocket } from "./_ffi_socket.ts";

const PEER = Uint8Array.of(10, 50, 0, 1);
const text = (s: string) => new TextEncoder().encode(s);

Deno.test("`bindToInterface()` lets a socket reach a peer on the veth while auto_route captures the rest", async () => {
  await withNetns("bind-a", async (a) => {
    await withNetns("bind-b", async (b) => {
      await a.addVeth("va", "vb", {
        peerNs: b,
        localAddr: ["192.168.77.1/24"],
        peerAddr: ["192.168.77.2/24"],
      });
      await b.ip("addr", "add", "10.50.0.1/32", "dev", "lo");
      await a.ip("route", "add", "default", "via", "192.168.77.2", "dev", "va");
      const platform = new LinuxPlatform();
      const peerFd = b.run(() => {
        const fd = udpSocket();
        bindTo(fd, PEER, 7777);
        return fd;
      });
      const tun = a.run(() =>
        setupTun(tunOptions({ interface_name: "tun0", address: ["172.19.0.1/30"] }), platform, 1)
      );
      try {
        // Unbound: auto_route sends it into the TUN, the peer sees nothing.
        const captured = a.run(() => {
          const fd = udpSocket();
          try {
            sendTo(fd, text("to-tun"), PEER, 7777);
            return readTunUntil(
              tun.device.fds[0]!,
              (pkt) => pkt[9] === 17 && pkt[16] === 10 && pkt[17] === 50,
              3000,
              tun.device.packetOffset,
            );
          } finally {
            closeFd(fd);
          }
        });
        assert.ok(captured, "the unbound datagram should come out of the TUN");
        assert.deepEqual(Array.from(captured.subarray(12, 16)), [172, 19, 0, 1]);
        assert.equal(b.run(() => recvFrom(peerFd, 300)), null);

        // Bound to va: the TUN table has no route via va, so it falls through to main.
        const index = a.run(() => platform.interfaceIndex("va"));
        const bound = a.run(() => {
          const fd = udpSocket();
          platform.bindToInterface(fd, 4, { name: "va", index });
          sendTo(fd, text("bound"), PEER, 7777);
          return fd;
        });
        try {
          const got = b.run(() => {
            const m = recvFrom(peerFd, 3000);
            if (m) sendTo(peerFd, text("echo:" + new TextDecoder().decode(m.data)), m.addr, m.port);
            return m;
          });
          assert.ok(got, "the bound datagram should reach the peer over the veth");
          assert.equal(new TextDecoder().decode(got.data), "bound");
          assert.deepEqual(Array.from(got.addr), [192, 168, 77, 1]);
          const reply = a.run(() => recvFrom(bound, 3000));
          assert.ok(reply, "the echo should come back to the bound socket");
          assert.equal(new TextDecoder().decode(reply.data), "echo:bound");
          assert.deepEqual(Array.from(reply.addr), [10, 50, 0, 1]);
          // Nothing of the bound exchange went into the TUN.
          const leaked = a.run(() =>
            readTunUntil(
              tun.device.fds[0]!,
              (pkt) => pkt[9] === 17 && pkt[16] === 10 && pkt[17] === 50,
              300,
              tun.device.packetOffset,
            )
          );
          assert.equal(leaked, null);
        } finally {
          closeFd(bound);
        }
      } finally {
        a.run(() => tun.close());
        closeFd(peerFd);
      }
    });
  });
});

Deno.test("`bindToInterface()` sets SO_BINDTOIFINDEX and names the interface on failure", () => {
  const platform = new LinuxPlatform();
  const fd = udpSocket();
  try {
    platform.bindToInterface(fd, 4, { name: "lo", index: 1 });
    const out = new Int32Array(1);
    const len = new Uint32Array([4]);
    const rc = linuxLibc().getsockopt(
      fd,
      SOL_SOCKET,
      62,
      new Uint8Array(out.buffer),
      new Uint8Array(len.buffer),
    );
    assert.equal(rc, 0, `getsockopt errno ${linuxErrno()}`);
    assert.equal(out[0], 1);
  } finally {
    closeFd(fd);
  }
  const notSocket = linuxLibc().open(new TextEncoder().encode("/dev/null\0"), 0, 0);
  try {
    assert.throws(
      () => platform.bindToInterface(notSocket, 4, { name: "eth7", index: 7 }),
      /bind socket \d+ to interface "eth7" \(SO_BINDTOIFINDEX 7\) failed: ENOTSOCK/,
    );
  } finally {
    closeFd(notSocket);
  }
});

Deno.test("`setMark()` sets SO_MARK; `interfaceIndex()` names a missing interface", () => {
  const platform = new LinuxPlatform();
  const fd = udpSocket();
  try {
    platform.setMark(fd, 0x2024);
    const out = new Uint32Array(1);
    const len = new Uint32Array([4]);
    const rc = linuxLibc().getsockopt(
      fd,
      SOL_SOCKET,
      SO_MARK,
      new Uint8Array(out.buffer),
      new Uint8Array(len.buffer),
    );
    assert.equal(rc, 0, `getsockopt errno ${linuxErrno()}`);
    assert.equal(out[0], 0x2024);
    assert.throws(() => platform.setMark(fd, -1), RangeError);
  } finally {
    closeFd(fd);
  }
  assert.throws(
    () => platform.interfaceIndex("nosuchif9"),
    /find interface "nosuchif9" failed: ENODEV \(No such device\)/,
  );
  assert.equal(platform.interfaceIndex("lo"), 1);
});
