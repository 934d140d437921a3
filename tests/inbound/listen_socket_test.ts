import assert from "node:assert/strict";
import { linuxLibc } from "../../ffi/linux/libc.ts";
import { Reactor } from "../../src/io/reactor.ts";
import { connectTcp, TcpListener, type TcpSocket, UdpSocket } from "../../src/io/socket.ts";
import {
  IPPROTO_TCP,
  SO_KEEPALIVE,
  SO_REUSEADDR,
  SOL_SOCKET,
  TCP_FASTOPEN,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
} from "../../src/io/sys.ts";
import { listenSocketSetup } from "../../src/inbound/listen_socket.ts";
import type { ListenFields } from "../../src/config/types.ts";

const LINUX = Deno.build.os === "linux";
const LOOPBACK = new Uint8Array([127, 0, 0, 1]);

function getInt(fd: number, level: number, name: number): number {
  const v = new Int32Array(1);
  const len = new Uint32Array([4]);
  const rc = linuxLibc().getsockopt(
    fd,
    level,
    name,
    new Uint8Array(v.buffer),
    new Uint8Array(len.buffer),
  );
  assert.equal(rc, 0, `getsockopt(${level}, ${name})`);
  return v[0]!;
}

/** Listens with the setup of `fields`, connects once, and reads options off both sockets. */
async function probe(
  fields: Partial<ListenFields>,
  platform?: Parameters<typeof listenSocketSetup>[1],
) {
  const r = new Reactor();
  const loop = r.run();
  const setup = listenSocketSetup({ tag: "in", listen: LOOPBACK, ...fields }, platform);
  let accepted: TcpSocket | null = null;
  const got = Promise.withResolvers<TcpSocket>();
  const listener = new TcpListener(
    r,
    { addr: LOOPBACK, port: 0 },
    (sock) => {
      setup.accepted(sock.fd);
      accepted = sock;
      got.resolve(sock);
    },
    16,
    -1,
    setup.listener,
  );
  try {
    const client = await connectTcp(r, { addr: LOOPBACK, port: listener.localAddr().port });
    const sock = await got.promise;
    const out = {
      listenerFastOpen: getInt(listener.fd, IPPROTO_TCP, TCP_FASTOPEN),
      keepAlive: getInt(sock.fd, SOL_SOCKET, SO_KEEPALIVE),
      idle: getInt(sock.fd, IPPROTO_TCP, TCP_KEEPIDLE),
      interval: getInt(sock.fd, IPPROTO_TCP, TCP_KEEPINTVL),
    };
    client.close();
    return out;
  } finally {
    (accepted as TcpSocket | null)?.close();
    listener.close();
    r.stop();
    await loop;
    r.close();
  }
}

Deno.test({
  name:
    "listen fields: accepted connections get sing-box's keep-alive (5 min, 75 s) unless disabled",
  ignore: !LINUX,
  fn: async () => {
    const d = await probe({});
    assert.deepEqual([d.keepAlive, d.idle, d.interval], [1, 300, 75]);
    const custom = await probe({ tcp_keep_alive: 30_000, tcp_keep_alive_interval: 10_000 });
    assert.deepEqual([custom.keepAlive, custom.idle, custom.interval], [1, 30, 10]);
    const off = await probe({ disable_tcp_keep_alive: true, tcp_keep_alive: 30_000 });
    assert.equal(off.keepAlive, 0);
  },
});

Deno.test({
  name: "listen fields: tcp_fast_open queues 256 requests on the listener; off by default",
  ignore: !LINUX,
  fn: async () => {
    assert.equal((await probe({ tcp_fast_open: true })).listenerFastOpen, 256);
    assert.equal((await probe({})).listenerFastOpen, 0);
  },
});

Deno.test({
  name: "listen fields: bind_interface and routing_mark go through the platform before bind",
  ignore: !LINUX,
  fn: async () => {
    const calls: string[] = [];
    const platform = {
      interfaceIndex: (name: string) => (name === "lo" ? 1 : 0),
      bindToInterface: (_fd: number, family: 4 | 6, iface: { name: string; index: number }) => {
        calls.push(`bind v${family} ${iface.name}#${iface.index}`);
      },
      setMark: (_fd: number, mark: number) => {
        calls.push(`mark 0x${mark.toString(16)}`);
      },
    };
    await probe({ bind_interface: "lo", routing_mark: 0x42 }, platform);
    assert.deepEqual(calls, ["bind v4 lo#1", "mark 0x42"]);
    const setup = listenSocketSetup(
      { tag: "in", listen: LOOPBACK, bind_interface: "lo", routing_mark: 0x42, reuse_addr: true },
      platform,
    );
    assert.deepEqual(
      { ...setup.udp, platform: undefined },
      { bindInterface: { name: "lo", index: 1 }, mark: 0x42, reuseAddr: true, platform: undefined },
    );
    assert.throws(
      () => listenSocketSetup({ tag: "in", listen: LOOPBACK, bind_interface: "nope0" }, platform),
      /bind_interface "nope0" does not exist/,
    );
  },
});

Deno.test({
  name: "listen fields: reuse_addr sets SO_REUSEADDR on the inbound's UDP socket",
  ignore: !LINUX,
  fn: () => {
    const r = new Reactor();
    const open = (reuse: boolean) =>
      UdpSocket.open(
        r,
        4,
        listenSocketSetup({ tag: "in", listen: LOOPBACK, reuse_addr: reuse }).udp,
        { addr: LOOPBACK, port: 0 },
      );
    const on = open(true), off = open(false);
    try {
      assert.equal(getInt(on.fd, SOL_SOCKET, SO_REUSEADDR), 1);
      assert.equal(getInt(off.fd, SOL_SOCKET, SO_REUSEADDR), 0);
    } finally {
      on.close();
      off.close();
      r.close();
    }
  },
});
