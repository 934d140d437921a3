/**
 * libSystem socket and fd calls used by the reactor's macOS backend (`src/io/sys_darwin.ts`).
 * None of these is variadic, so one declaration fits arm64 and x86_64. `fcntl` (variadic) is
 * taken from {@linkcode loadDarwinLibc}.
 *
 * @module
 */

import { LIBSYSTEM_PATH } from "./libc.ts";

export const DARWIN_SOCKET_SYMBOLS = {
  /** int close(int fd) */
  close: { parameters: ["i32"], result: "i32" },
  /** ssize_t read(int fd, void *buf, size_t n) */
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  /** ssize_t write(int fd, const void *buf, size_t n) */
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  /** int socket(int domain, int type, int protocol) */
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** int bind(int fd, const struct sockaddr *addr, socklen_t len) */
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int connect(int fd, const struct sockaddr *addr, socklen_t len) */
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int listen(int fd, int backlog) */
  listen: { parameters: ["i32", "i32"], result: "i32" },
  /** int accept(int fd, struct sockaddr *addr, socklen_t *len) */
  accept: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  /** int shutdown(int fd, int how) */
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  /** int getsockopt(int fd, int level, int name, void *val, socklen_t *len) */
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  /** int setsockopt(int fd, int level, int name, const void *val, socklen_t len) */
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  /** int getsockname(int fd, struct sockaddr *addr, socklen_t *len) */
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  /** int getpeername(int fd, struct sockaddr *addr, socklen_t *len) */
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  /** ssize_t send(int fd, const void *buf, size_t n, int flags) */
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  /** ssize_t recv(int fd, void *buf, size_t n, int flags) */
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  /** ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to, socklen_t len) */
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  /** ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from, socklen_t *len) */
  recvfrom: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"], result: "isize" },
  /** int pipe(int fds[2]) */
  pipe: { parameters: ["buffer"], result: "i32" },
  /** int poll(struct pollfd *fds, nfds_t n, int timeout_ms) — nfds_t is unsigned int */
  poll: { parameters: ["buffer", "u32", "i32"], result: "i32" },
  /** int getrlimit(int resource, struct rlimit *rlim) */
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  /** int setrlimit(int resource, const struct rlimit *rlim) */
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  /** int *__error(void) */
  __error: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

export type DarwinSocketLibc = Deno.DynamicLibrary<typeof DARWIN_SOCKET_SYMBOLS>["symbols"];

let library: Deno.DynamicLibrary<typeof DARWIN_SOCKET_SYMBOLS> | undefined;
let errnoView: Deno.UnsafePointerView | undefined;

/** Opens the socket symbols once per thread. */
export function darwinSocketLibc(): DarwinSocketLibc {
  if (!library) {
    try {
      library = Deno.dlopen(LIBSYSTEM_PATH, DARWIN_SOCKET_SYMBOLS);
    } catch (cause) {
      throw new Error(`Cannot load ${LIBSYSTEM_PATH} with Deno.dlopen (is --allow-ffi set?)`, {
        cause,
      });
    }
    errnoView = new Deno.UnsafePointerView(library.symbols.__error()!);
  }
  return library.symbols;
}

/** The calling thread's errno. */
export function darwinErrno(): number {
  if (!errnoView) darwinSocketLibc();
  return errnoView!.getInt32();
}
