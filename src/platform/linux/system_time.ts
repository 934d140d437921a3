/**
 * Setting the system clock (`ntp.write_to_system`): `clock_settime(CLOCK_REALTIME)`, which needs
 * `CAP_SYS_TIME` (root).
 *
 * @module
 */

import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { SysError } from "../../../ffi/errno.ts";

const CLOCK_REALTIME = 0;

/** Sets the system clock to Unix milliseconds `ms`. Throws a SysError (EPERM without root). */
export function setSystemTime(ms: number): void {
  // struct timespec { time_t tv_sec; long tv_nsec; } on LP64.
  const ts = new BigInt64Array(2);
  const seconds = Math.floor(ms / 1000);
  ts[0] = BigInt(seconds);
  ts[1] = BigInt(Math.round((ms - seconds * 1000) * 1_000_000));
  if (linuxLibc().clock_settime(CLOCK_REALTIME, new Uint8Array(ts.buffer)) !== 0) {
    throw new SysError(`set the system clock to ${new Date(ms).toISOString()}`, linuxErrno());
  }
}
