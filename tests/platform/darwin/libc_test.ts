import assert from "node:assert/strict";
import {
  bindDarwinLibc,
  cString,
  DARWIN_COMMON_SYMBOLS,
  darwinLibcSymbols,
  fromCString,
  type RawDarwinSymbols,
  type RawVariadicSymbols,
  variadicCalls,
} from "../../../ffi/darwin/libc.ts";
import { PASSWD } from "../../../ffi/darwin/layouts.ts";
import { SIOCSIFMTU } from "../../../ffi/darwin/constants.ts";

Deno.test("arm64 table declares ioctl/fcntl/open with six u64 fillers and the real argument 9th", () => {
  const t = darwinLibcSymbols("aarch64");
  const fillers = ["u64", "u64", "u64", "u64", "u64", "u64"];
  assert.deepEqual(t.ioctl.parameters, ["i32", "u64", ...fillers, "buffer"]);
  assert.deepEqual(t.fcntl.parameters, ["i32", "i32", ...fillers, "i64"]);
  assert.deepEqual(t.open.parameters, ["buffer", "i32", ...fillers, "u64"]);
  // 9 parameters: x0..x7 hold the first eight, the 9th goes to [sp+0] where va_arg reads.
  for (const f of [t.ioctl, t.fcntl, t.open]) assert.equal(f.parameters.length, 9);
});

Deno.test("x86_64 table declares the variadic calls with three plain parameters", () => {
  const t = darwinLibcSymbols("x86_64");
  assert.deepEqual(t.ioctl.parameters, ["i32", "u64", "buffer"]);
  assert.deepEqual(t.fcntl.parameters, ["i32", "i32", "i64"]);
  assert.deepEqual(t.open.parameters, ["buffer", "i32", "u32"]);
});

Deno.test("both tables share the fixed-argument symbols, with nfds_t as u32", () => {
  for (const arch of ["aarch64", "x86_64"] as const) {
    const t = darwinLibcSymbols(arch);
    for (
      const name of Object.keys(DARWIN_COMMON_SYMBOLS) as (keyof typeof DARWIN_COMMON_SYMBOLS)[]
    ) {
      assert.deepEqual(t[name], DARWIN_COMMON_SYMBOLS[name]);
    }
  }
  assert.deepEqual(DARWIN_COMMON_SYMBOLS.poll.parameters, ["buffer", "u32", "i32"]);
  assert.equal(DARWIN_COMMON_SYMBOLS.poll_async.nonblocking, true);
});

/** Records the raw arguments each declared function receives. */
function recordingRaw(): { raw: RawVariadicSymbols; seen: unknown[][] } {
  const seen: unknown[][] = [];
  const record = (name: string) => (...args: unknown[]) => (seen.push([name, ...args]), 0);
  return {
    seen,
    raw: { ioctl: record("ioctl"), fcntl: record("fcntl"), open: record("open") },
  };
}

Deno.test("`variadicCalls()` on arm64 passes zero fillers and the real argument 9th", () => {
  const { raw, seen } = recordingRaw();
  const calls = variadicCalls("aarch64", raw);
  const buf = new Uint8Array(32);
  const path = new Uint8Array([0x2f, 0]);
  calls.ioctlPtr(5, SIOCSIFMTU, buf);
  calls.fcntl(5, 4, 0x4);
  calls.open(path, 2, 0o644);
  assert.deepEqual(seen, [
    ["ioctl", 5, BigInt(SIOCSIFMTU), 0n, 0n, 0n, 0n, 0n, 0n, buf],
    ["fcntl", 5, 4, 0n, 0n, 0n, 0n, 0n, 0n, 4n],
    ["open", path, 2, 0n, 0n, 0n, 0n, 0n, 0n, 0o644n],
  ]);
  assert.equal(seen[0]![9], buf); // the 9th parameter is the caller's buffer itself
});

Deno.test("`variadicCalls()` on x86_64 passes the real argument third", () => {
  const { raw, seen } = recordingRaw();
  const calls = variadicCalls("x86_64", raw);
  const buf = new Uint8Array(32);
  calls.ioctlPtr(5, SIOCSIFMTU, buf);
  calls.fcntl(5, 3, 0);
  calls.open(new Uint8Array([0]), 0, 0);
  assert.deepEqual(seen, [
    ["ioctl", 5, BigInt(SIOCSIFMTU), buf],
    ["fcntl", 5, 3, 0n],
    ["open", new Uint8Array([0]), 0, 0],
  ]);
});

Deno.test({
  name: "`variadicCalls()` x86_64 wrappers pass the third argument through a real libc",
  // The x86_64 declarations follow System V, as glibc on x86_64 Linux does, so they can be
  // exercised here; the arm64 ones need Apple's ABI and are checked by the table tests above.
  ignore: Deno.build.os !== "linux" || Deno.build.arch !== "x86_64",
  fn() {
    const symbols = darwinLibcSymbols("x86_64");
    const lib = Deno.dlopen("libc.so.6", {
      open: symbols.open,
      fcntl: symbols.fcntl,
      ioctl: symbols.ioctl,
      close: symbols.close,
    });
    try {
      const calls = variadicCalls("x86_64", lib.symbols);
      const fd = calls.open(new TextEncoder().encode("/dev/null\0"), 0, 0);
      assert.ok(fd >= 0);
      // F_SETFD (2) FD_CLOEXEC (1), then F_GETFD (1) reads it back.
      assert.equal(calls.fcntl(fd, 2, 1), 0);
      assert.equal(calls.fcntl(fd, 1, 0), 1);
      assert.equal(calls.fcntl(fd, 2, 0), 0);
      assert.equal(calls.fcntl(fd, 1, 0), 0);
      lib.symbols.close(fd);
    } finally {
      lib.close();
    }
  },
});

/** Raw symbols where `overrides` answer and everything else records and returns 0. */
function rawWith(overrides: Record<string, (...args: never[]) => unknown>) {
  const seen: unknown[][] = [];
  const raw = new Proxy({}, {
    get: (_, name) =>
      overrides[String(name)] ?? ((...args: unknown[]) => (seen.push([String(name), ...args]), 0)),
  }) as RawDarwinSymbols;
  return { raw, seen };
}

Deno.test("`userId()` reads pw_uid at offset 16 of the struct passwd getpwnam returns", () => {
  // struct passwd as libinfo lays it out: two pointers, then uid_t pw_uid, gid_t pw_gid.
  const pw = new Uint8Array(PASSWD.size);
  new DataView(pw.buffer).setUint32(16, 501, true);
  new DataView(pw.buffer).setUint32(20, 20, true);
  const names: string[] = [];
  const { raw } = rawWith({
    getpwnam: (name: Uint8Array) => {
      names.push(fromCString(name));
      return fromCString(name) === "alice" ? Deno.UnsafePointer.of(pw) : null;
    },
  });
  const libc = bindDarwinLibc("aarch64", raw, () => 0);
  assert.equal(libc.userId("alice"), 501);
  assert.equal(libc.userId("nobody-here"), null);
  assert.deepEqual(names, ["alice", "nobody-here"]);
});

Deno.test("`sysctlbyname()` and `proc_pidpath()` pass a C string, no new value and the buffer's size", () => {
  const { raw, seen } = rawWith({});
  const libc = bindDarwinLibc("aarch64", raw, () => 0);
  const len = new BigUint64Array([0n]);
  const buf = new Uint8Array(4096);
  libc.sysctlbyname("net.inet.tcp.pcblist_n", null, len);
  libc.proc_pidpath(812, buf);
  assert.deepEqual(seen, [
    ["sysctlbyname", cString("net.inet.tcp.pcblist_n"), null, len, null, 0n],
    ["proc_pidpath", 812, buf, 4096],
  ]);
});
