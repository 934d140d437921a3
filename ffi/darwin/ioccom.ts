/**
 * xnu's ioctl number encoding (`bsd/sys/ioccom.h`) in TypeScript, so every ioctl number tunbox
 * uses is computed from its group letter, number and argument size the way the C macros compute
 * it, never typed in:
 *
 * ```ts
 * const SIOCSIFMTU = _IOW("i", 52, IFREQ.size); // 0x80206934
 * ```
 *
 * The command sits in the low 16 bits (group << 8 | number), the argument size in the next 13
 * (`IOCPARM_MASK`), and the direction in the top 3 (`IOC_VOID`/`IOC_OUT`/`IOC_IN`).
 * `tests/ffi/darwin/proof_table_test.ts` expands the header's own macro text and checks these
 * functions agree with it.
 *
 * @module
 */

/** Parameter length mask: at most 13 bits. */
export const IOCPARM_MASK = 0x1fff;
/** No parameters. */
export const IOC_VOID = 0x20000000;
/** Copy parameters out. */
export const IOC_OUT = 0x40000000;
/** Copy parameters in. */
export const IOC_IN = 0x80000000;
/** Copy parameters in and out. */
export const IOC_INOUT = (IOC_IN | IOC_OUT) >>> 0;

/** The group letter's byte ('i', 'N', ...). */
function groupByte(group: string): number {
  if (group.length !== 1 || group.charCodeAt(0) > 0xff) {
    throw new RangeError(`ioctl group must be one byte, got "${group}"`);
  }
  return group.charCodeAt(0);
}

/** `_IOC(inout, group, num, len)`: the encoded request as an unsigned 32-bit number. */
export function _IOC(inout: number, group: string, num: number, len: number): number {
  if (!Number.isInteger(num) || num < 0 || num > 0xff) {
    throw new RangeError(`ioctl number must be 0..255, got ${num}`);
  }
  if (!Number.isInteger(len) || len < 0 || len > IOCPARM_MASK) {
    throw new RangeError(`ioctl argument size must be 0..${IOCPARM_MASK}, got ${len}`);
  }
  return (inout | ((len & IOCPARM_MASK) << 16) | (groupByte(group) << 8) | num) >>> 0;
}

/** `_IO(g, n)`: no argument. */
export function _IO(group: string, num: number): number {
  return _IOC(IOC_VOID, group, num, 0);
}

/** `_IOR(g, n, t)`: the kernel writes `size` bytes. */
export function _IOR(group: string, num: number, size: number): number {
  return _IOC(IOC_OUT, group, num, size);
}

/** `_IOW(g, n, t)`: the kernel reads `size` bytes. */
export function _IOW(group: string, num: number, size: number): number {
  return _IOC(IOC_IN, group, num, size);
}

/** `_IOWR(g, n, t)`: the kernel reads and writes `size` bytes. */
export function _IOWR(group: string, num: number, size: number): number {
  return _IOC(IOC_INOUT, group, num, size);
}
