/**
 * The variadic libSystem calls (`ioctl`, `fcntl`, `open`) go through the production wrapper
 * (`bindDarwinLibc`) into a fake raw symbol table that records the exact FFI arguments; the
 * arguments are then placed by the ABI model (`_call_abi.ts`) the way Deno's FFI passes them for
 * the declared parameter types, and read back the way the C callee, declared with `...`, reads
 * them. On both architectures every argument must arrive complete; the controls show the model
 * catches the classic mistakes (the x86_64 declaration on arm64, a 4-byte variadic slot).
 */
import assert from "node:assert/strict";
import {
  bindDarwinLibc,
  type DarwinArch,
  darwinLibcSymbols,
  type RawDarwinSymbols,
} from "../../../ffi/darwin/libc.ts";
import {
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  SIOCAIFADDR,
  SIOCSIFMTU,
} from "../../../ffi/darwin/constants.ts";
import { encodeIfreqMtu } from "../../../ffi/darwin/structs.ts";
import { Addresses, type Arch, placeCall, readCall } from "./_call_abi.ts";

const O_CREAT = 0x200; // bsd/sys/fcntl.h

/** A raw symbol table that records every call's FFI arguments. */
function recordingSymbols(): { raw: RawDarwinSymbols; calls: [string, unknown[]][] } {
  const calls: [string, unknown[]][] = [];
  const rec = (name: string) => (...args: unknown[]) => {
    calls.push([name, args]);
    return 0;
  };
  const raw = new Proxy({}, { get: (_, name) => rec(String(name)) }) as RawDarwinSymbols;
  return { raw, calls };
}

/** The C prototype each variadic wrapper must satisfy: named types, then what `va_arg` reads. */
const CALLEES = {
  // int ioctl(int, unsigned long, ...): libSystem reads `va_arg(ap, void *)`.
  ioctl: { named: ["int", "unsigned long"], variadic: [["void *"]] },
  // int fcntl(int, int, ...): an int for F_SETFL/F_SETFD, a pointer for F_GETLK & co.
  fcntl: { named: ["int", "int"], variadic: [["int"], ["long"], ["void *"]] },
  // int open(const char *, int, ...): `va_arg(ap, int)` for the mode when O_CREAT is set.
  open: { named: ["const char *", "int"], variadic: [["int"]] },
} as const;

const ABI: Record<DarwinArch, Arch> = { aarch64: "arm64", x86_64: "x86_64" };

for (const arch of ["aarch64", "x86_64"] as const) {
  Deno.test(`${arch}: ioctl/fcntl/open arguments reach the variadic C callee intact`, () => {
    const { raw, calls } = recordingSymbols();
    const libc = bindDarwinLibc(arch, raw, () => 0);
    const ifr = encodeIfreqMtu("utun8", 9000);
    libc.ioctlPtr(7, SIOCSIFMTU, ifr);
    libc.ioctlPtr(8, SIOCAIFADDR, new Uint8Array(64));
    libc.fcntl(7, F_SETFL, O_RDWR | O_NONBLOCK);
    libc.fcntl(7, F_SETFD, FD_CLOEXEC);
    libc.fcntl(7, F_GETFL, 0);
    libc.open("/var/run/tunbox/x", O_RDWR | O_CREAT, 0o600);
    const table = darwinLibcSymbols(arch);
    const addr = new Addresses();
    const expected: Record<string, bigint[]> = {};
    const seen = calls.map(([name, args]) => {
      const decl = table[name as keyof typeof table] as { parameters: readonly string[] };
      const values = args.map((a) => addr.value(a));
      const image = placeCall(ABI[arch], decl.parameters, values);
      const callee = CALLEES[name as keyof typeof CALLEES];
      // The real arguments in C order: the named ones, then the one variadic argument.
      const real = [values[0]!, values[1]!, values[values.length - 1]!];
      expected[name] ??= [];
      return callee.variadic.map((va) => {
        const got = readCall(image, callee.named, va);
        const size = va[0] === "int" ? 32 : 64;
        const want = [real[0]!, real[1]!, BigInt.asUintN(size, real[2]!)];
        // Named ints are read as 32 bits.
        if (callee.named[0] === "int") want[0] = BigInt.asUintN(32, want[0]!);
        if (callee.named[1] === "int") want[1] = BigInt.asUintN(32, want[1]!);
        return { name, va: va[0], got, want };
      });
    }).flat();
    for (const { name, va, got, want } of seen) {
      assert.deepEqual(got, want, `${name} read with va_arg(${va}) on ${arch}`);
    }
    // The pointer ioctl receives is the caller's buffer, not a copy or a filler.
    const first = calls[0]![1];
    assert.equal(first[first.length - 1], ifr);
    assert.equal(calls.length, 6);
  });
}

Deno.test("the model catches the x86_64 declaration used on arm64 (ioctl reads a stack slot nobody wrote)", () => {
  const decl = darwinLibcSymbols("x86_64").ioctl.parameters; // (i32, u64, buffer)
  const image = placeCall("arm64", decl, [7n, BigInt(SIOCSIFMTU), 0x1000n]);
  assert.deepEqual(readCall(image, ["int", "unsigned long"], ["void *"]), [
    7n,
    BigInt(SIOCSIFMTU),
    null,
  ]);
});

Deno.test("the model catches a 4-byte variadic argument on arm64 (upper half of the slot undefined)", () => {
  const fillers = ["u64", "u64", "u64", "u64", "u64", "u64"];
  const image = placeCall("arm64", ["i32", "i32", ...fillers, "i32"], [
    7n,
    4n,
    0n,
    0n,
    0n,
    0n,
    0n,
    0n,
    4n,
  ]);
  assert.deepEqual(readCall(image, ["int", "int"], ["int"]), [7n, 4n, 4n]);
  assert.deepEqual(readCall(image, ["int", "int"], ["void *"]), [7n, 4n, null]);
});

Deno.test("the model catches the arm64 declaration used on x86_64 (va_arg reads a filler)", () => {
  const decl = darwinLibcSymbols("aarch64").ioctl.parameters;
  const image = placeCall("x86_64", decl, [
    7n,
    BigInt(SIOCSIFMTU),
    0n,
    0n,
    0n,
    0n,
    0n,
    0n,
    0x1000n,
  ]);
  assert.deepEqual(readCall(image, ["int", "unsigned long"], ["void *"]), [
    7n,
    BigInt(SIOCSIFMTU),
    0n,
  ]);
});

Deno.test("Apple arm64 packs fixed stack arguments by size; variadic slots are 8 bytes", () => {
  // Ten i32 parameters: two on the stack at [sp+0] and [sp+4] (AAPCS64 would use +0 and +8).
  const image = placeCall("arm64", Array(10).fill("i32"), [...Array(10).keys()].map(BigInt));
  assert.equal(image.stack.read(0, 4), 8n);
  assert.equal(image.stack.read(4, 4), 9n);
  // A variadic reader of two ints looks at +0 and +8: the second is undefined.
  assert.deepEqual(readCall(image, Array(8).fill("int"), ["int", "int"]).slice(8), [8n, null]);
});
