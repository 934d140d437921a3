/**
 * Linux (x86_64/aarch64) constants for files, sockets and capabilities used by the platform
 * layer. Values from `<fcntl.h>`, `<sys/socket.h>`, `<asm-generic/socket.h>`,
 * `<linux/capability.h>`.
 *
 * @module
 */

/** open(2) flags. */
export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_NONBLOCK = 0x800;
export const O_CLOEXEC = 0x80000;

/** fcntl(2) commands. */
export const F_GETFL = 3;
export const F_SETFL = 4;

/** Socket types and type flags. */
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0x800;
export const SOCK_CLOEXEC = 0x80000;

/** Socket option level and names (`SOL_SOCKET`). */
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVTIMEO = 20;
export const SO_SNDTIMEO = 21;
export const SO_BINDTODEVICE = 25;
export const SO_RCVBUFFORCE = 33;
export const SO_MARK = 36;
export const SO_BINDTOIFINDEX = 62;

/** recv/send flags. */
export const MSG_PEEK = 0x2;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;

/** poll(2) events. */
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
/** `sizeof(struct pollfd)`: fd i32 @0, events i16 @4, revents i16 @6. */
export const POLLFD_SIZE = 8;

/** eventfd(2) flags. */
export const EFD_CLOEXEC = 0x80000;
export const EFD_NONBLOCK = 0x800;

/** Capability numbers (bit positions in `/proc/<pid>/status` CapEff). */
export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;

/** `struct timeval` size (two 64-bit fields) for SO_RCVTIMEO. */
export const TIMEVAL_SIZE = 16;
