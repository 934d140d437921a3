import assert from "node:assert/strict";
import dgram from "node:dgram";
import {
  decodeInetDiagMsg,
  encodeInetDiagRequest,
  INET_DIAG_MSG_SIZE,
  LinuxProcessFinder,
  pickSocket,
} from "../../../src/platform/linux/process_lookup.ts";

const LINUX = Deno.build.os === "linux";
const LOOPBACK = new Uint8Array([127, 0, 0, 1]);

Deno.test("`encodeInetDiagRequest()` asks for every state of one local port, without a cookie", () => {
  const b = encodeInetDiagRequest(4, "tcp", 0x1f90);
  assert.equal(b.length, 56);
  assert.deepEqual([...b.subarray(0, 12)], [2, 6, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x90, 0, 0]);
  assert.ok(b.subarray(12, 48).every((x) => x === 0), "addresses and interface are left zero");
  assert.deepEqual([...b.subarray(48, 56)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const u6 = encodeInetDiagRequest(6, "udp", 53);
  assert.deepEqual([...u6.subarray(0, 2)], [10, 17]);
  assert.deepEqual([...u6.subarray(8, 10)], [0, 53]);
});

Deno.test("`decodeInetDiagMsg()` reads the local address, port, uid and inode", () => {
  const p = new Uint8Array(INET_DIAG_MSG_SIZE);
  const dv = new DataView(p.buffer);
  p[0] = 2; // AF_INET
  dv.setUint16(4, 40312, false);
  p.set([10, 0, 0, 7], 8);
  dv.setUint32(64, 1000, true);
  dv.setUint32(68, 123456, true);
  assert.deepEqual(decodeInetDiagMsg(p), {
    family: 4,
    localPort: 40312,
    localAddr: new Uint8Array([10, 0, 0, 7]),
    uid: 1000,
    inode: 123456,
  });
  assert.equal(decodeInetDiagMsg(p.subarray(0, 71)), null);
});

Deno.test("`pickSocket()` prefers the exact local address, then a wildcard-bound socket", () => {
  const s = (addr: number[], port: number, inode: number) => ({
    family: 4 as const,
    localAddr: new Uint8Array(addr),
    localPort: port,
    uid: 0,
    inode,
  });
  const dump = [s([0, 0, 0, 0], 5000, 1), s([10, 0, 0, 2], 5000, 2), s([10, 0, 0, 3], 5001, 3)];
  assert.equal(pickSocket(dump, new Uint8Array([10, 0, 0, 2]), 5000)?.inode, 2);
  assert.equal(pickSocket(dump, new Uint8Array([10, 0, 0, 9]), 5000)?.inode, 1);
  assert.equal(pickSocket(dump, new Uint8Array([10, 0, 0, 3]), 5002), null);
});

Deno.test("`pickSocket()` skips a TIME_WAIT socket (inode 0) that shares the local port", () => {
  const s = (addr: number[], inode: number) => ({
    family: 4 as const,
    localAddr: new Uint8Array(addr),
    localPort: 40000,
    uid: 0,
    inode,
  });
  const here = new Uint8Array([127, 0, 0, 1]);
  // A closed connection to another peer still holds 127.0.0.1:40000 in TIME_WAIT, listed first.
  assert.equal(pickSocket([s([127, 0, 0, 1], 0), s([127, 0, 0, 1], 9)], here, 40000)?.inode, 9);
  assert.equal(pickSocket([s([127, 0, 0, 1], 0)], here, 40000), null);
});

Deno.test({
  name: "`LinuxProcessFinder.find()` names this process for its own TCP and UDP sockets",
  ignore: !LINUX,
  fn: async () => {
    using finder = new LinuxProcessFinder();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const accepted = await listener.accept();
    const udp = dgram.createSocket("udp4");
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", r));
    try {
      const exe = Deno.realPathSync(Deno.execPath());
      const uid = Deno.uid();
      const tcp = finder.find("tcp", { addr: LOOPBACK, port: client.localAddr.port });
      assert.deepEqual(tcp, { pid: Deno.pid, uid, path: exe });
      const u = finder.find("udp", { addr: LOOPBACK, port: udp.address().port });
      assert.deepEqual(u, { pid: Deno.pid, uid, path: exe });
      // The accepted socket's local port is the listener's: the client's port finds the client.
      const server = finder.socketOf("tcp", LOOPBACK, listener.addr.port);
      assert.ok(server !== null && server.inode !== 0);
    } finally {
      client.close();
      accepted.close();
      listener.close();
      udp.close();
    }
  },
});

Deno.test({
  name: "`LinuxProcessFinder.find()` is null for a port no socket holds",
  ignore: !LINUX,
  fn: () => {
    using finder = new LinuxProcessFinder();
    // Bind and close to get a port that was free a moment ago; a parallel test may take it,
    // so try a few.
    for (let i = 0; i < 5; i++) {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = l.addr.port;
      l.close();
      const found = finder.find("tcp", { addr: LOOPBACK, port });
      if (found === null) return;
    }
    assert.fail("every freed port still had a socket");
  },
});

Deno.test({
  name: "`LinuxProcessFinder.pidOfInode()` walks a /proc laid out on disk, recent pids first",
  ignore: !LINUX,
  fn: () => {
    const root = Deno.makeTempDirSync();
    try {
      for (const [pid, links] of [[10, ["pipe:[1]"]], [20, ["socket:[77]"]], [30, ["anon"]]]) {
        Deno.mkdirSync(`${root}/${pid}/fd`, { recursive: true });
        (links as string[]).forEach((l, i) => Deno.symlinkSync(l, `${root}/${pid}/fd/${i}`));
        Deno.symlinkSync(`/usr/bin/app${pid}`, `${root}/${pid}/exe`);
      }
      Deno.mkdirSync(`${root}/self`);
      using finder = new LinuxProcessFinder({ procRoot: root });
      assert.equal(finder.pidOfInode(77), 20);
      assert.equal(finder.pidOfInode(78), null);
      assert.equal(finder.pidOfInode(0), null);
      // Moved: pid 20 no longer has it, pid 30 does; the recent pid is tried first, then the walk.
      Deno.removeSync(`${root}/20/fd/0`);
      Deno.symlinkSync("socket:[77]", `${root}/30/fd/1`);
      assert.equal(finder.pidOfInode(77), 30);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
