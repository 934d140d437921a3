/**
 * libSystem symbols for macOS (arm64 and x86_64), loaded with `Deno.dlopen`, and the
 * {@linkcode DarwinLibc} interface the Darwin platform code calls (so tests can hand it a fake).
 *
 * ## Variadic calls (`ioctl`, `fcntl`, `open`)
 *
 * In C these are `int ioctl(int, unsigned long, ...)`, `int fcntl(int, int, ...)` and
 * `int open(const char *, int, ...)`. Deno FFI has no variadic calls: it always calls with the
 * non-variadic convention of the declared parameters. That is harmless on x86_64 (System V
 * passes variadic arguments exactly like fixed ones, in rdi/rsi/rdx/...), but not on Apple
 * arm64: Apple's arm64 ABI puts *every variadic argument on the stack* in 8-byte slots, and the
 * callee's `va_arg` reads them from there, while a fixed third argument would travel in x2,
 * which `va_arg` never looks at. A plain `(i32, u64, pointer)` declaration therefore makes
 * `ioctl` read garbage from the stack on Apple Silicon.
 *
 * The fix here: on arm64 declare the fixed parameters, then six dummy `u64` parameters that
 * fill the remaining argument registers (x2..x7), then the real argument as the 9th
 * parameter. With x0..x7 used up, the 9th argument is passed at `[sp+0]`, which is exactly
 * where the callee's `va_list` starts. The real argument is declared 8 bytes wide (`buffer`,
 * `u64`, `i64`) because Apple packs *fixed* stack arguments by their natural size, and a 4-byte
 * declaration would leave the upper half of the 8-byte `va_arg` slot undefined. The wrappers
 * {@linkcode VariadicCalls} hide this, so callers use `ioctlPtr(fd, req, buf)` on both arches.
 *
 * ## errno
 *
 * `__error()` returns the calling thread's `int *errno`. Every call here is synchronous except
 * `pollAsync` (a `nonblocking` call that runs on another thread, so errno is lost there: only
 * its return value is meaningful).
 *
 * ## Byte counts
 *
 * `read` and `write` return `ssize_t` in a 64-bit register; they are declared `i32` (the low
 * half, equal for every count tunbox uses and for -1) so a result is not a `bigint` allocated
 * per packet, as in `ffi/linux/libc.ts`.
 *
 * @module
 */

import { PASSWD } from "./layouts.ts";

/** The two macOS architectures Deno builds for. */
export type DarwinArch = "aarch64" | "x86_64";

/** Symbols with one declaration on both architectures, each with its C prototype. */
export const DARWIN_COMMON_SYMBOLS = {
  /** int close(int fd) */
  close: { parameters: ["i32"], result: "i32" },
  /** ssize_t read(int fd, void *buf, size_t nbyte) */
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  /** ssize_t write(int fd, const void *buf, size_t nbyte) */
  write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  /** ssize_t writev(int fd, const struct iovec *iov, int iovcnt) */
  writev: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  /** int socket(int domain, int type, int protocol) */
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** int connect(int fd, const struct sockaddr *addr, socklen_t addrlen) */
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen) */
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  /** int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen) */
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  /** int poll(struct pollfd *fds, nfds_t nfds, int timeout) — nfds_t is `unsigned int` on Darwin */
  poll: { parameters: ["buffer", "u32", "i32"], result: "i32" },
  /** int poll(struct pollfd *fds, nfds_t nfds, int timeout) — on a worker thread (errno lost) */
  poll_async: {
    name: "poll",
    parameters: ["buffer", "u32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  /**
   * int sysctl(int *name, u_int namelen, void *oldp, size_t *oldlenp, void *newp,
   *            size_t newlen)
   */
  sysctl: {
    parameters: ["buffer", "u32", "buffer", "buffer", "buffer", "usize"],
    result: "i32",
  },
  /**
   * int sysctlbyname(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
   * — not variadic (bsd/sys/sysctl.h)
   */
  sysctlbyname: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "usize"],
    result: "i32",
  },
  /**
   * int proc_pidpath(int pid, void *buffer, uint32_t buffersize) — not variadic (libproc.h);
   * the path's length, 0 on failure (errno set)
   */
  proc_pidpath: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /**
   * struct passwd *getpwnam(const char *name) — Libinfo pwd.h; asks the directory service, so
   * it knows the Mac's own users (`/etc/passwd` holds only system accounts there)
   */
  getpwnam: { parameters: ["buffer"], result: "pointer" },
  /** unsigned int if_nametoindex(const char *ifname) */
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  /** char *if_indextoname(unsigned int ifindex, char *ifname) — ifname has IFNAMSIZ bytes */
  if_indextoname: { parameters: ["u32", "buffer"], result: "pointer" },
  /** uid_t geteuid(void) */
  geteuid: { parameters: [], result: "u32" },
  /** int kill(pid_t pid, int sig) — with sig 0: does the process exist? */
  kill: { parameters: ["i32", "i32"], result: "i32" },
  /** int *__error(void) — the calling thread's errno */
  __error: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * Apple arm64: fixed parameters, six `u64` fillers for x2..x7, then the variadic argument 9th
 * so it lands at `[sp+0]` where `va_arg` reads it (see the module comment).
 */
export const DARWIN_ARM64_VARIADIC_SYMBOLS = {
  /**
   * int ioctl(int fd, unsigned long request, ...) called as
   * (fd: x0, request: x1, 0: x2..x7, void *arg: [sp+0])
   */
  ioctl: {
    parameters: ["i32", "u64", "u64", "u64", "u64", "u64", "u64", "u64", "buffer"],
    result: "i32",
  },
  /** int fcntl(int fd, int cmd, ...) called as (fd: x0, cmd: x1, 0: x2..x7, long arg: [sp+0]) */
  fcntl: {
    parameters: ["i32", "i32", "u64", "u64", "u64", "u64", "u64", "u64", "i64"],
    result: "i32",
  },
  /**
   * int open(const char *path, int oflag, ...) called as
   * (path: x0, oflag: x1, 0: x2..x7, mode_t mode (promoted, 8-byte slot): [sp+0])
   */
  open: {
    parameters: ["buffer", "i32", "u64", "u64", "u64", "u64", "u64", "u64", "u64"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** x86_64 (System V): variadic arguments travel in registers like fixed ones. */
export const DARWIN_X86_64_VARIADIC_SYMBOLS = {
  /** int ioctl(int fd, unsigned long request, void *arg) */
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  /** int fcntl(int fd, int cmd, long arg) */
  fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
  /** int open(const char *path, int oflag, mode_t mode) — mode promoted to int */
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The full symbols table for one architecture. */
export function darwinLibcSymbols(
  arch: DarwinArch,
):
  | (typeof DARWIN_COMMON_SYMBOLS & typeof DARWIN_ARM64_VARIADIC_SYMBOLS)
  | (typeof DARWIN_COMMON_SYMBOLS & typeof DARWIN_X86_64_VARIADIC_SYMBOLS) {
  return arch === "aarch64"
    ? { ...DARWIN_COMMON_SYMBOLS, ...DARWIN_ARM64_VARIADIC_SYMBOLS }
    : { ...DARWIN_COMMON_SYMBOLS, ...DARWIN_X86_64_VARIADIC_SYMBOLS };
}

/** The three variadic calls, with one signature on both architectures. */
export interface VariadicCalls {
  /** `ioctl(fd, request, arg)` where `arg` points at `buf`. */
  ioctlPtr(fd: number, request: number, buf: Uint8Array): number;
  /** `fcntl(fd, cmd, arg)` with an integer argument. */
  fcntl(fd: number, cmd: number, arg: number): number;
  /** `open(path, flags, mode)`; `path` is a NUL-terminated byte string. */
  open(path: Uint8Array, flags: number, mode: number): number;
}

/** The raw declared functions (any arity); methods so Deno's typed symbols are assignable. */
export interface RawVariadicSymbols {
  ioctl(...args: never[]): number;
  fcntl(...args: never[]): number;
  open(...args: never[]): number;
}

type AnyCall = (...args: unknown[]) => number;

/**
 * Wraps the raw declarations so callers never see the arm64 filler arguments. `raw` must have
 * been declared for the same `arch` ({@linkcode darwinLibcSymbols}).
 */
export function variadicCalls(arch: DarwinArch, raw: RawVariadicSymbols): VariadicCalls {
  const ioctl = raw.ioctl as unknown as AnyCall;
  const fcntl = raw.fcntl as unknown as AnyCall;
  const open = raw.open as unknown as AnyCall;
  if (arch === "aarch64") {
    // Six fillers occupy x2..x7; the real argument is the 9th and goes to [sp+0].
    return {
      ioctlPtr: (fd, request, buf) => ioctl(fd, BigInt(request), 0n, 0n, 0n, 0n, 0n, 0n, buf),
      fcntl: (fd, cmd, arg) => fcntl(fd, cmd, 0n, 0n, 0n, 0n, 0n, 0n, BigInt(arg)),
      open: (path, flags, mode) => open(path, flags, 0n, 0n, 0n, 0n, 0n, 0n, BigInt(mode)),
    };
  }
  return {
    ioctlPtr: (fd, request, buf) => ioctl(fd, BigInt(request), buf),
    fcntl: (fd, cmd, arg) => fcntl(fd, cmd, BigInt(arg)),
    open: (path, flags, mode) => open(path, flags, mode),
  };
}

/**
 * What the Darwin platform code needs from libSystem. Byte buffers are passed exactly as the
 * kernel sees them, so a test double can decode every struct it is handed. Every method returns
 * the C result (`-1` on failure, then read {@linkcode DarwinLibc.errno}).
 */
export interface DarwinLibc {
  readonly arch: DarwinArch;
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  close(fd: number): number;
  /** `ioctl(fd, request, buf)` (variadic; see the module comment). */
  ioctlPtr(fd: number, request: number, buf: Uint8Array): number;
  /** `fcntl(fd, cmd, arg)` with an integer argument (variadic). */
  fcntl(fd: number, cmd: number, arg: number): number;
  /** `open(path, flags, mode)` (variadic). */
  open(path: string, flags: number, mode: number): number;
  /** `optlen` is a one-element `socklen_t` in/out array. */
  getsockopt(
    fd: number,
    level: number,
    name: number,
    value: Uint8Array,
    optlen: Uint32Array,
  ): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, optlen: number): number;
  read(fd: number, buf: Uint8Array, n: number): number;
  write(fd: number, buf: Uint8Array, n: number): number;
  /** `iov` holds `count` 16-byte `struct iovec { void *base; size_t len; }` entries. */
  writev(fd: number, iov: Uint8Array, count: number): number;
  /** `fds` holds `nfds` 8-byte `struct pollfd { int fd; short events; short revents; }`. */
  poll(fds: Uint8Array, nfds: number, timeoutMs: number): number;
  /** {@linkcode DarwinLibc.poll} on a worker thread; errno is not available afterwards. */
  pollAsync(fds: Uint8Array, nfds: number, timeoutMs: number): Promise<number>;
  /** `oldlen` is a one-element `size_t` in/out array. */
  sysctl(
    mib: Int32Array,
    oldp: Uint8Array | null,
    oldlen: BigUint64Array,
    newp: Uint8Array | null,
    newlen: number,
  ): number;
  /**
   * `sysctlbyname(name, oldp, oldlen, NULL, 0)`: reads a sysctl by name; `oldlen` is a
   * one-element `size_t` in/out array (with `oldp` null: the size to allocate).
   */
  sysctlbyname(name: string, oldp: Uint8Array | null, oldlen: BigUint64Array): number;
  /** `proc_pidpath(pid, buf, buf.length)`: the executable path's length in `buf`; 0 on failure. */
  proc_pidpath(pid: number, buf: Uint8Array): number;
  /** `getpwnam(name)->pw_uid`: a user's uid, or null when there is no such user. */
  userId(name: string): number | null;
  /** 0 when there is no such interface. */
  if_nametoindex(name: string): number;
  /** null when there is no such interface. */
  if_indextoname(index: number): string | null;
  geteuid(): number;
  /** `kill(pid, sig)`; signal 0 only checks that the process exists. */
  kill(pid: number, sig: number): number;
  /** The calling thread's errno; read it right after the failed call. */
  errno(): number;
}

/** Where libSystem lives (served from the dyld shared cache on macOS 11 and later). */
export const LIBSYSTEM_PATH = "/usr/lib/libSystem.B.dylib";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A NUL-terminated copy of `text`. */
export function cString(text: string): Uint8Array {
  const bytes = encoder.encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** The text before the first NUL of `buf` (or all of it). */
export function fromCString(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return decoder.decode(end < 0 ? buf : buf.subarray(0, end));
}

/**
 * The raw symbols {@linkcode bindDarwinLibc} calls: what `Deno.dlopen` returns for
 * {@linkcode darwinLibcSymbols} (tests hand in a recording fake with the same shape).
 */
export type RawDarwinSymbols =
  & Pick<
    Deno.DynamicLibrary<typeof DARWIN_COMMON_SYMBOLS>["symbols"],
    Exclude<keyof typeof DARWIN_COMMON_SYMBOLS, "__error">
  >
  & RawVariadicSymbols;

/**
 * The {@linkcode DarwinLibc} over raw symbols declared for `arch`; `errno` reads the calling
 * thread's errno. {@linkcode loadDarwinLibc} binds libSystem with this.
 */
export function bindDarwinLibc(
  arch: DarwinArch,
  s: RawDarwinSymbols,
  errno: () => number,
): DarwinLibc {
  const variadic = variadicCalls(arch, s);
  const nameBuf = new Uint8Array(16);
  return {
    arch,
    socket: (domain, type, protocol) => s.socket(domain, type, protocol),
    connect: (fd, addr, len) => s.connect(fd, addr, len),
    close: (fd) => s.close(fd),
    ioctlPtr: variadic.ioctlPtr,
    fcntl: variadic.fcntl,
    open: (path, flags, mode) => variadic.open(cString(path), flags, mode),
    getsockopt: (fd, level, name, value, optlen) => s.getsockopt(fd, level, name, value, optlen),
    setsockopt: (fd, level, name, value, optlen) => s.setsockopt(fd, level, name, value, optlen),
    read: (fd, buf, n) => Number(s.read(fd, buf, BigInt(n))),
    write: (fd, buf, n) => Number(s.write(fd, buf, BigInt(n))),
    writev: (fd, iov, count) => Number(s.writev(fd, iov, count)),
    poll: (fds, nfds, timeoutMs) => s.poll(fds, nfds, timeoutMs),
    pollAsync: (fds, nfds, timeoutMs) => s.poll_async(fds, nfds, timeoutMs),
    sysctl: (mib, oldp, oldlen, newp, newlen) =>
      s.sysctl(mib, mib.length, oldp, oldlen, newp, BigInt(newlen)),
    sysctlbyname: (name, oldp, oldlen) => s.sysctlbyname(cString(name), oldp, oldlen, null, 0n),
    proc_pidpath: (pid, buf) => s.proc_pidpath(pid, buf, buf.byteLength),
    userId: (name) => {
      const pw = s.getpwnam(cString(name));
      return pw === null ? null : new Deno.UnsafePointerView(pw).getUint32(PASSWD.pw_uid);
    },
    if_nametoindex: (name) => s.if_nametoindex(cString(name)),
    if_indextoname: (index) => {
      nameBuf.fill(0);
      return s.if_indextoname(index, nameBuf) === null ? null : fromCString(nameBuf);
    },
    geteuid: () => s.geteuid(),
    kill: (pid, sig) => s.kill(pid, sig),
    errno,
  };
}

let loaded: DarwinLibc | undefined;

/**
 * Opens libSystem once per thread (each Worker has its own module instance) and returns the
 * {@linkcode DarwinLibc} over it, declared for the running architecture.
 */
export function loadDarwinLibc(path: string = LIBSYSTEM_PATH): DarwinLibc {
  if (loaded) return loaded;
  const arch = Deno.build.arch;
  let lib: Deno.DynamicLibrary<typeof DARWIN_COMMON_SYMBOLS> & { symbols: RawVariadicSymbols };
  try {
    lib = arch === "aarch64"
      ? Deno.dlopen(path, { ...DARWIN_COMMON_SYMBOLS, ...DARWIN_ARM64_VARIADIC_SYMBOLS })
      : Deno.dlopen(path, { ...DARWIN_COMMON_SYMBOLS, ...DARWIN_X86_64_VARIADIC_SYMBOLS });
  } catch (cause) {
    throw new Error(`Cannot load ${path} with Deno.dlopen (is --allow-ffi set?)`, { cause });
  }
  // errno is thread-local; this location is stable for the thread that owns this module.
  const errnoView = new Deno.UnsafePointerView(lib.symbols.__error()!);
  loaded = bindDarwinLibc(arch, lib.symbols, () => errnoView.getInt32());
  return loaded;
}
