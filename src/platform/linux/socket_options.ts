/**
 * Loop avoidance for tunbox's own sockets on Linux: bind a socket to the physical interface
 * (`SO_BINDTOIFINDEX`, falling back to `SO_BINDTODEVICE` by name on kernels before 5.0) or set
 * its firewall mark (`SO_MARK`, needs CAP_NET_ADMIN).
 *
 * A lookup with an output interface set skips nexthops on other devices, so auto_route's table
 * (everything via the TUN) yields nothing for a bound socket and evaluation falls through to the
 * main table and the physical default route.
 *
 * @module
 */

import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { E, SysError } from "../../../ffi/errno.ts";
import {
  SO_BINDTODEVICE,
  SO_BINDTOIFINDEX,
  SO_MARK,
  SOL_SOCKET,
} from "../../../ffi/linux/constants.ts";
import type { NetworkInterface } from "../types.ts";

/**
 * Binds socket `fd` to `iface`: `SO_BINDTOIFINDEX` with the index, or on ENOPROTOOPT/EINVAL
 * (kernels < 5.0) `SO_BINDTODEVICE` with the name. Throws SysError naming the socket and
 * interface.
 */
export function bindSocketToInterface(fd: number, iface: NetworkInterface): void {
  const libc = linuxLibc();
  const index = new Int32Array([iface.index]);
  if (libc.setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, new Uint8Array(index.buffer), 4) === 0) {
    return;
  }
  const errno = linuxErrno();
  if (errno !== E.ENOPROTOOPT && errno !== E.EINVAL) {
    throw new SysError(
      `bind socket ${fd} to interface "${iface.name}" (SO_BINDTOIFINDEX ${iface.index})`,
      errno,
    );
  }
  const name = new TextEncoder().encode(iface.name + "\0");
  if (libc.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, name.byteLength) !== 0) {
    throw new SysError(
      `bind socket ${fd} to interface "${iface.name}" (SO_BINDTODEVICE)`,
      linuxErrno(),
    );
  }
}

/** Sets `SO_MARK` on socket `fd`. Throws SysError (EPERM without CAP_NET_ADMIN). */
export function setSocketMark(fd: number, mark: number): void {
  if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) {
    throw new RangeError(`Invalid routing mark ${mark}: must be 0-0xffffffff`);
  }
  const v = new Uint32Array([mark]);
  if (linuxLibc().setsockopt(fd, SOL_SOCKET, SO_MARK, new Uint8Array(v.buffer), 4) !== 0) {
    throw new SysError(
      `set routing mark 0x${mark.toString(16)} on socket ${fd} (SO_MARK)`,
      linuxErrno(),
    );
  }
}
