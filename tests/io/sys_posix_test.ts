/**
 * The shared POSIX wrappers (`src/io/sys_posix.ts`) with targets other than the running OS's:
 * a macOS-style target (no SOCK_NONBLOCK, sockets finished one by one as on macOS) over glibc,
 * and fake libcs for the paths a real kernel will not take on demand.
 */
import assert from "node:assert/strict";
import { linuxErrno, linuxLibc } from "../../ffi/linux/libc.ts";
import { E, SysError } from "../../ffi/errno.ts";
import { type PosixLibc, posixSys, type PosixTarget, WOULD_BLOCK } from "../../src/io/sys_posix.ts";
import { LINUX_TARGET } from "../../src/io/sys_linux.ts";

const LOOPBACK = new Uint8Array([127, 0, 0, 1]);
const F_GETFL = 3, F_SETFL = 4, F_GETFD = 1, F_SETFD = 2, O_NONBLOCK = 0x800, FD_CLOEXEC = 1;

const glibc = Deno.dlopen("libc.so.6", {
  fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
  accept: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  pipe: { parameters: ["buffer"], result: "i32" },
});
const fcntl = (fd: number, cmd: number, arg = 0) => glibc.symbols.fcntl(fd, cmd, BigInt(arg));

/** A macOS-shaped target over glibc: plain socket()/accept()/pipe(), then fcntl per fd. */
function darwinStyleTarget(prepared: string[], failOn?: string): PosixTarget {
  const prepare = (fd: number, what: string) => {
    if (failOn !== undefined && what.startsWith(failOn)) {
      throw new SysError(`set O_NONBLOCK on ${what}`, E.EINVAL);
    }
    prepared.push(what.replace(/fd \d+/, "fd N"));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  };
  return {
    ...LINUX_TARGET,
    socketTypeFlags: 0,
    prepareSocket: prepare,
    accept: (fd, addr, len) => glibc.symbols.accept(fd, addr, len),
    pipe() {
      const fds = new Int32Array(2);
      assert.equal(glibc.symbols.pipe(new Uint8Array(fds.buffer)), 0);
      for (const fd of fds) prepare(fd, `pipe fd ${fd}`);
      return [fds[0]!, fds[1]!];
    },
  };
}

function isNonBlockingCloexec(fd: number): boolean {
  return (fcntl(fd, F_GETFL) & O_NONBLOCK) !== 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) !== 0;
}

Deno.test("`posixSys()` with a macOS-style target finishes created and accepted sockets", () => {
  const prepared: string[] = [];
  const sys = posixSys(darwinStyleTarget(prepared));
  const listener = sys.sockCreate(4, "tcp");
  const client = sys.sockCreate(4, "tcp");
  let server = -1;
  try {
    sys.sockBind(listener, { addr: LOOPBACK, port: 0 });
    sys.sockListen(listener, 4);
    assert.equal(sys.sockAccept(listener), -1); // nothing pending: EAGAIN, so it is non-blocking
    const err = sys.sockConnect(client, sys.sockLocalAddr(listener));
    assert.ok(err === 0 || err === E.EINPROGRESS, `connect: errno ${err}`);
    for (let i = 0; i < 1000 && server < 0; i++) server = sys.sockAccept(listener);
    assert.ok(server >= 0);
    assert.deepEqual(prepared, [
      "tcp socket fd N",
      "tcp socket fd N",
      "accepted socket fd N",
    ]);
    for (const fd of [listener, client, server]) assert.ok(isNonBlockingCloexec(fd));
    const buf = new Uint8Array(8);
    assert.equal(sys.fdRead(server, buf), WOULD_BLOCK);
    assert.equal(sys.sockSend(client, new Uint8Array([1, 2, 3])), 3);
    let n = WOULD_BLOCK;
    for (let i = 0; i < 1000 && n === WOULD_BLOCK; i++) n = sys.sockPeek(server, buf);
    assert.equal(n, 3);
    assert.equal(sys.fdRead(server, buf), 3);
    assert.deepEqual(buf.subarray(0, 3), new Uint8Array([1, 2, 3]));
  } finally {
    for (const fd of [listener, client, server]) if (fd >= 0) sys.fdClose(fd);
  }
});

Deno.test("`posixSys()` closes a socket whose finishing step fails and names the step", () => {
  const probe = posixSys(darwinStyleTarget([]));
  const before = probe.sockCreate(4, "udp"); // the next socket gets this fd number again
  probe.fdClose(before);
  const sys = posixSys(darwinStyleTarget([], "udp socket"));
  assert.throws(
    () => sys.sockCreate(4, "udp"),
    (e: unknown) => e instanceof SysError && /set O_NONBLOCK on udp socket fd \d+/.test(e.message),
  );
  // The failed socket's fd was closed: F_GETFD on it fails with EBADF.
  assert.equal(fcntl(before, F_GETFD), -1);
  assert.equal(linuxErrno(), E.EBADF);
});

Deno.test("`posixSys()` pipes from a macOS-style target are non-blocking and close-on-exec", () => {
  const prepared: string[] = [];
  const sys = posixSys(darwinStyleTarget(prepared));
  const [r, w] = sys.pipeCreate();
  try {
    assert.deepEqual(prepared, ["pipe fd N", "pipe fd N"]);
    assert.ok(isNonBlockingCloexec(r) && isNonBlockingCloexec(w));
    assert.equal(sys.fdRead(r, new Uint8Array(4)), WOULD_BLOCK);
    assert.equal(sys.fdWrite(w, new Uint8Array([9])), 1);
    assert.equal(sys.fdRead(r, new Uint8Array(4)), 1);
  } finally {
    sys.fdClose(r);
    sys.fdClose(w);
  }
});

/** A libc that only answers getrlimit/setrlimit, recording what is set. */
function rlimitLibc(soft: bigint, hard: bigint, set: bigint[]): PosixLibc {
  const unexpected = () => {
    throw new Error("unexpected call");
  };
  return {
    ...Object.fromEntries(
      [
        "close",
        "read",
        "write",
        "socket",
        "bind",
        "connect",
        "listen",
        "shutdown",
        "getsockopt",
        "setsockopt",
        "getsockname",
        "getpeername",
        "send",
        "recv",
        "sendto",
        "recvfrom",
      ].map((k) => [k, unexpected]),
    ) as unknown as PosixLibc,
    getrlimit(resource, rlim) {
      assert.equal(resource, 8);
      new DataView(rlim.buffer, rlim.byteOffset).setBigUint64(0, soft, true);
      new DataView(rlim.buffer, rlim.byteOffset).setBigUint64(8, hard, true);
      return 0;
    },
    setrlimit(resource, rlim) {
      assert.equal(resource, 8);
      set.push(new DataView(rlim.buffer, rlim.byteOffset).getBigUint64(0, true));
      return 0;
    },
  };
}

Deno.test("`raiseOpenFilesLimit()` caps the soft limit at the target's maximum (macOS OPEN_MAX)", () => {
  const set: bigint[] = [];
  const target = (soft: bigint, hard: bigint): PosixTarget => ({
    ...LINUX_TARGET,
    libc: () => rlimitLibc(soft, hard, set),
    RLIMIT_NOFILE: 8,
    maxOpenFiles: 10240n,
  });
  const unlimited = 0xffffffffffffffffn; // RLIM_INFINITY
  assert.deepEqual(posixSys(target(256n, unlimited)).raiseOpenFilesLimit(), {
    from: 256,
    to: 10240,
  });
  assert.deepEqual(posixSys(target(256n, 4096n)).raiseOpenFilesLimit(), { from: 256, to: 4096 });
  assert.deepEqual(posixSys(target(10240n, unlimited)).raiseOpenFilesLimit(), {
    from: 10240,
    to: 10240,
  });
  assert.deepEqual(set, [10240n, 4096n]);
});

Deno.test("`posixSys()` maps ENOBUFS on sendto to WOULD_BLOCK and other errors to SysError", () => {
  let errno = E.ENOBUFS;
  const libc = {
    ...linuxLibc(),
    sendto: () => -1,
  } as unknown as PosixLibc;
  const sys = posixSys({ ...LINUX_TARGET, libc: () => libc, errno: () => errno });
  const to = { addr: LOOPBACK, port: 9 };
  assert.equal(sys.sockSendTo(5, new Uint8Array(1), to), WOULD_BLOCK);
  errno = E.EAGAIN;
  assert.equal(sys.sockSendTo(5, new Uint8Array(1), to), WOULD_BLOCK);
  errno = E.EHOSTUNREACH;
  assert.throws(
    () => sys.sockSendTo(5, new Uint8Array(1), to),
    (e: unknown) =>
      e instanceof SysError && e.message.startsWith("send datagram to 127.0.0.1:9 failed"),
  );
});
