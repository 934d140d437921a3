/**
 * glibc symbols for Linux (x86_64 and aarch64), loaded with `Deno.dlopen`.
 *
 * Conventions:
 * - Every call here is synchronous: errno must be read on the calling thread right after the
 *   call ({@linkcode errno}), and a `nonblocking` FFI call would run on another thread and lose it.
 *   Blocking waits happen in `epoll_wait`/`poll` with a timeout, never in `read`.
 * - `ioctl`, `fcntl` and `open` are variadic in C. Linux's x86_64 SysV and aarch64 AAPCS pass
 *   variadic arguments like fixed ones, so a fixed declaration is correct here (macOS differs; see
 *   `ffi/darwin/libc.ts`).
 * - The byte-count results of `read`, `write`, `send`, `recv`, `sendto` and `recvfrom` are
 *   declared `i32`: the `ssize_t` comes back in a 64-bit register whose low half is the same
 *   value for every count tunbox asks for (at most a 64 KiB packet or a 1 MiB buffer) and for
 *   -1, and an `isize` result would be a `bigint` allocated on every packet. Lengths are passed
 *   as numbers for the same reason.
 *
 * @module
 */

/** The symbols table, with each parameter's C type in the comment. */
export const LINUX_LIBC_SYMBOLS = {
  /** int open(const char *path, int flags, mode_t mode) */
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  /** int close(int fd) */
  close: { parameters: ["i32"], result: "i32" },
  /** ssize_t read(int fd, void *buf, size_t n) */
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  /** ssize_t write(int fd, const void *buf, size_t n) */
  write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  /** ssize_t readv(int fd, const struct iovec *iov, int iovcnt) */
  readv: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  /** ssize_t writev(int fd, const struct iovec *iov, int iovcnt) */
  writev: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  /** int ioctl(int fd, unsigned long request, void *arg) — pointer argument form */
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  /** int ioctl(int fd, unsigned long request, unsigned long arg) — integer argument form */
  ioctl_int: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  /** int fcntl(int fd, int cmd, long arg) */
  fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
  /** int socket(int domain, int type, int protocol) */
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** int socketpair(int domain, int type, int protocol, int sv[2]) */
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  /** int bind(int fd, const struct sockaddr *addr, socklen_t len) */
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int connect(int fd, const struct sockaddr *addr, socklen_t len) */
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int listen(int fd, int backlog) */
  listen: { parameters: ["i32", "i32"], result: "i32" },
  /** int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) */
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
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
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "i32" },
  /** ssize_t recv(int fd, void *buf, size_t n, int flags) */
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "i32" },
  /** ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to, socklen_t len) */
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "i32" },
  /** ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from, socklen_t *len) */
  recvfrom: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"], result: "i32" },
  /** ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) */
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  /** ssize_t recvmsg(int fd, struct msghdr *msg, int flags) */
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  /**
   * int recvmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags, struct timespec *timeout):
   * datagrams received (each one's length in its `msg_len`), or -1.
   */
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  /** int sendmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags): datagrams sent, or -1 */
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  /** ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len, unsigned flags) */
  splice: { parameters: ["i32", "pointer", "i32", "pointer", "usize", "u32"], result: "isize" },
  /** int pipe2(int fds[2], int flags) */
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  /** int epoll_create1(int flags) */
  epoll_create1: { parameters: ["i32"], result: "i32" },
  /** int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) */
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  /** int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms) */
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  /** int eventfd(unsigned initval, int flags) */
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  /** int poll(struct pollfd *fds, nfds_t n, int timeout_ms) */
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  /** unsigned if_nametoindex(const char *name) */
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  /** char *if_indextoname(unsigned index, char *buf) */
  if_indextoname: { parameters: ["u32", "buffer"], result: "pointer" },
  /** uid_t geteuid(void) */
  geteuid: { parameters: [], result: "u32" },
  /** pid_t getpid(void) */
  getpid: { parameters: [], result: "i32" },
  /** pid_t gettid(void) */
  gettid: { parameters: [], result: "i32" },
  /** char *strerror(int errnum) */
  strerror: { parameters: ["i32"], result: "pointer" },
  /** int getrlimit(int resource, struct rlimit *rlim) */
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  /** int setrlimit(int resource, const struct rlimit *rlim) */
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  /** int *__errno_location(void) */
  __errno_location: { parameters: [], result: "pointer" },
  /**
   * int poll(struct pollfd *fds, nfds_t n, int timeout_ms), run on Deno's blocking pool so the
   * main thread's event loop keeps running while it waits. errno is lost (another thread); use
   * it only to wait, then make the real calls synchronously.
   */
  poll_nonblocking: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  /**
   * int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms), run on Deno's
   * blocking pool: a reactor sharing the main thread waits here while the thread's event loop
   * serves everything else. errno is lost (another thread): a failure is seen as -1 only.
   */
  epoll_wait_nonblocking: {
    name: "epoll_wait",
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  /** int unshare(int flags) — with CLONE_NEWNET: the calling thread gets a new network namespace */
  unshare: { parameters: ["i32"], result: "i32" },
  /** int setns(int fd, int nstype) — moves the calling thread into the namespace of `fd` */
  setns: { parameters: ["i32", "i32"], result: "i32" },
  /** int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5) */
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  /** pid_t getppid(void) */
  getppid: { parameters: [], result: "i32" },
  /** ssize_t getdents64(int fd, void *dirp, size_t count) (glibc 2.30+) */
  getdents64: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  /** ssize_t readlink(const char *path, char *buf, size_t size) */
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  /** int clock_settime(clockid_t clock, const struct timespec *tp) */
  clock_settime: { parameters: ["i32", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

export type LinuxLibc = Deno.DynamicLibrary<typeof LINUX_LIBC_SYMBOLS>["symbols"];

let library: Deno.DynamicLibrary<typeof LINUX_LIBC_SYMBOLS> | undefined;
let errnoView: Deno.UnsafePointerView | undefined;

/** Opens glibc once per thread (each Worker has its own module instance). */
export function linuxLibc(): LinuxLibc {
  if (!library) {
    try {
      library = Deno.dlopen("libc.so.6", LINUX_LIBC_SYMBOLS);
    } catch (cause) {
      throw new Error("Cannot load libc.so.6 with Deno.dlopen (is --allow-ffi set?)", { cause });
    }
    // errno is thread-local; the location is stable for this thread, which owns this module.
    errnoView = new Deno.UnsafePointerView(library.symbols.__errno_location()!);
  }
  return library.symbols;
}

/** The calling thread's errno. Read it right after the failed call, before any other FFI call. */
export function linuxErrno(): number {
  if (!errnoView) linuxLibc();
  return errnoView!.getInt32();
}
