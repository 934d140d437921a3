// Network changes end the sockets that cannot work anymore, and only those.

import assert from "node:assert/strict";
import { connectTcp, TcpListener, type TcpSocket, UdpSocket } from "../../src/io/socket.ts";
import { BoundSockets } from "../../src/outbound/bound_sockets.ts";
import type { NetworkChange } from "../../src/platform/types.ts";
import { SysError } from "../../ffi/errno.ts";

import { LOOPBACK, withReactor } from "./_helpers.ts";

function change(partial: Partial<NetworkChange>): NetworkChange {
  return {
    defaultInterface: null,
    defaultInterfaceChanged: false,
    lostInterfaces: [],
    lostAddresses: [],
    descriptions: [],
    ...partial,
  };
}

Deno.test("`BoundSockets.networkChanged()` resets TCP on a lost interface and closes UDP; others stay", async () => {
  await withReactor(async (r) => {
    const accepted: TcpSocket[] = [];
    const server = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (s) => accepted.push(s));
    const port = server.localAddr().port;
    const sockets = new BoundSockets();
    const onLost = await connectTcp(r, { addr: LOOPBACK, port });
    const onKept = await connectTcp(r, { addr: LOOPBACK, port });
    const unbound = await connectTcp(r, { addr: LOOPBACK, port });
    const udp = UdpSocket.open(r, 4);
    sockets.add(onLost, "tcp", { name: "wlan0", index: 7 });
    sockets.add(onKept, "tcp", { name: "eth0", index: 2 });
    sockets.add(unbound, "tcp");
    sockets.add(udp, "udp", { name: "wlan0", index: 7 });
    assert.deepEqual(sockets.networkChanged(change({ defaultInterfaceChanged: true })), {
      tcp: 0,
      udp: 0,
    });
    const ended = sockets.networkChanged(change({ lostInterfaces: [{ name: "wlan0", index: 7 }] }));
    assert.deepEqual(ended, { tcp: 1, udp: 1 });
    assert.equal(udp.closed, true);
    // The owner of the reset socket learns at its next read: connection reset.
    await assert.rejects(
      onLost.readSome(new Uint8Array(16)),
      (e: unknown) => e instanceof SysError && e.code === "ECONNRESET",
    );
    assert.equal(onKept.closed, false);
    await onKept.writeAll(Uint8Array.of(1, 2, 3));
    // Ended sockets are no longer tracked; closed ones are pruned.
    assert.equal(sockets.size, 2);
    onLost.close();
    unbound.close();
    assert.equal(sockets.size, 1);
    const again = await connectTcp(r, { addr: LOOPBACK, port });
    sockets.add(again, "tcp");
    // A lost local address ends every socket that uses it, bound or not.
    const byAddr = sockets.networkChanged(change({ lostAddresses: [LOOPBACK] }));
    assert.deepEqual(byAddr, { tcp: 2, udp: 0 });
    for (const s of [onKept, again, ...accepted]) s.close();
    server.close();
  });
});

Deno.test("`BoundSockets` forgets a socket as it closes and never tracks a closed one", async () => {
  await withReactor((r) => {
    const sockets = new BoundSockets();
    const udp = Array.from({ length: 3 }, () => UdpSocket.open(r, 4));
    for (const s of udp) sockets.add(s, "udp");
    assert.equal(sockets.size, 3);
    udp[0]!.close();
    udp[2]!.close();
    assert.equal(sockets.size, 1);
    udp[1]!.close();
    assert.equal(sockets.size, 0);
    sockets.add(udp[0]!, "udp");
    assert.equal(sockets.size, 0);
    return Promise.resolve();
  });
});
