// Acceptance: with auto_route up, a datagram sent inside the namespace to a routed destination
// comes out of the TUN fd byte for byte, and a packet written to the fd reaches a socket.

import assert from "node:assert/strict";
import { LinuxPlatform } from "../../src/platform/linux/platform.ts";
import { setupTun } from "../../src/tun/setup.ts";
import { withNetns } from "../_helpers/netns.ts";
import { tunOptions } from "./_tun_options.ts";
import {
  bindTo,
  buildIpv4Udp,
  closeFd,
  completeVnetChecksum,
  ipv4UdpChecksumsOk,
  localPort,
  readTunFrameUntil,
  readTunUntil,
  recvFrom,
  sendTo,
  udpSocket,
  writeTun,
} from "../platform/linux/_ffi_socket.ts";
import { parseIp } from "../../src/net/ip.ts";

const TUN4 = Uint8Array.of(172, 19, 0, 1);
const REMOTE4 = Uint8Array.of(10, 9, 9, 9);
const payload = new TextEncoder().encode("tunbox packet test \u{1F680} 0123456789");

Deno.test("packets: a UDP datagram to 10.9.9.9 is read from the TUN fd byte-exact", async () => {
  await withNetns("pkt-out", async (ns) => {
    const before = await ns.snapshot();
    const tun = ns.run(() =>
      setupTun(tunOptions({ interface_name: "tun0" }), new LinuxPlatform(), 1)
    );
    try {
      const { frame, port } = ns.run(() => {
        const fd = udpSocket();
        try {
          sendTo(fd, payload, REMOTE4, 9999);
          const port = localPort(fd);
          const frame = readTunFrameUntil(
            tun.device.fds[0]!,
            tun.device.packetOffset,
            (p) => p[0] === 0x45 && p[9] === 17 && p[16] === 10,
          );
          return { frame, port };
        } finally {
          closeFd(fd);
        }
      });
      assert.ok(frame, "no IPv4/UDP packet came out of the TUN");
      const pkt = frame.pkt;
      // With checksum offload the kernel leaves the UDP checksum partial and says so in the
      // virtio_net_hdr: NEEDS_CSUM, csum_start 20 (the UDP header), csum_offset 6, no GSO.
      assert.equal(tun.device.offload, true);
      assert.deepEqual([...frame.prefix], [1, 0, 0, 0, 0, 0, 20, 0, 6, 0]);
      assert.ok(completeVnetChecksum(frame.prefix, pkt));
      const expected = buildIpv4Udp(TUN4, REMOTE4, port, 9999, payload);
      assert.equal(pkt.length, expected.length);
      // Everything but the kernel-chosen IP id and the header checksum that covers it.
      assert.deepEqual(pkt.subarray(0, 4), expected.subarray(0, 4));
      assert.deepEqual(pkt.subarray(6, 10), expected.subarray(6, 10));
      assert.deepEqual(pkt.subarray(12), expected.subarray(12));
      assert.ok(ipv4UdpChecksumsOk(pkt), "checksums");
    } finally {
      ns.run(() => tun.close());
    }
    await ns.expectSnapshot(before);
  });
});

Deno.test("packets: an IPv6 datagram leaves through the TUN from the TUN address", async () => {
  await withNetns("pkt-out6", async (ns) => {
    const before = await ns.snapshot();
    const tun = ns.run(() =>
      setupTun(tunOptions({ interface_name: "tun0" }), new LinuxPlatform(), 1)
    );
    try {
      const pkt = ns.run(() => {
        const fd = udpSocket(6);
        try {
          sendTo(fd, payload, parseIp("fd99::9")!, 9999);
          return readTunUntil(
            tun.device.fds[0]!,
            (p) => (p[0]! >> 4) === 6 && p[6] === 17 && p[24] === 0xfd && p[25] === 0x99,
            3000,
            tun.device.packetOffset,
          );
        } finally {
          closeFd(fd);
        }
      });
      assert.ok(pkt, "no IPv6/UDP packet came out of the TUN");
      assert.deepEqual(pkt.subarray(8, 24), parseIp("fdfe:dcba:9876::1"));
      assert.equal((pkt[44]! << 8) | pkt[45]!, 48 + payload.length - 40); // UDP length
      assert.deepEqual(pkt.subarray(48), payload);
    } finally {
      ns.run(() => tun.close());
    }
    await ns.expectSnapshot(before);
  });
});

Deno.test("packets: a hand-built IPv4/UDP packet written to the fd reaches a socket", async () => {
  await withNetns("pkt-in", async (ns) => {
    const before = await ns.snapshot();
    const tun = ns.run(() =>
      setupTun(tunOptions({ interface_name: "tun0" }), new LinuxPlatform(), 1)
    );
    try {
      const got = ns.run(() => {
        const fd = udpSocket();
        try {
          bindTo(fd, new Uint8Array(4), 0);
          const port = localPort(fd);
          writeTun(
            tun.device.fds[0]!,
            buildIpv4Udp(REMOTE4, TUN4, 5353, port, payload),
            tun.device.packetOffset,
          );
          return recvFrom(fd, 3000);
        } finally {
          closeFd(fd);
        }
      });
      assert.ok(got, "the socket received nothing");
      assert.deepEqual(got.data, payload);
      assert.deepEqual(got.addr, REMOTE4);
      assert.equal(got.port, 5353);
    } finally {
      ns.run(() => tun.close());
    }
    await ns.expectSnapshot(before);
  });
});
