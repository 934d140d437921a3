/**
 * The privilege check for TUN setup on Linux: CAP_NET_ADMIN in the effective set (root has it
 * unless it was dropped; a non-root process can hold it via file capabilities or systemd's
 * AmbientCapabilities).
 *
 * @module
 */

import { CAP_NET_ADMIN, O_CLOEXEC, O_RDONLY } from "../../../ffi/linux/constants.ts";
import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";
import { SysError } from "../../../ffi/errno.ts";

/** The one sentence shown when the process lacks CAP_NET_ADMIN. */
export const LINUX_PRIVILEGE_MESSAGE =
  "tunbox needs the CAP_NET_ADMIN capability to create a TUN device and change routes: run it " +
  "as root (for example with sudo) or grant it cap_net_admin";

/** Thrown by `checkPrivileges()` when the process lacks CAP_NET_ADMIN. */
export class PrivilegeError extends Error {
  override name = "PrivilegeError";
}

/**
 * Parses the effective capability set from the text of `/proc/<pid>/status` (the hex `CapEff:`
 * line); null when the line is missing.
 */
export function parseCapEff(status: string): bigint | null {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : null;
}

/** True when `capEff` includes capability number `cap`. */
export function hasCapability(capEff: bigint, cap: number): boolean {
  return ((capEff >> BigInt(cap)) & 1n) === 1n;
}

/**
 * Reads a small `/proc` file through libc. Deno's own file APIs refuse `/proc` without
 * `--allow-all`, and tunbox runs with explicit permissions (`src/service/permissions.ts`).
 */
export function readProcText(path: string): string {
  const libc = linuxLibc();
  const fd = libc.open(new TextEncoder().encode(`${path}\0`), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) throw new SysError(`open ${JSON.stringify(path)}`, linuxErrno());
  try {
    const chunks: Uint8Array[] = [];
    for (;;) {
      const buf = new Uint8Array(4096);
      const n = Number(libc.read(fd, buf, BigInt(buf.length)));
      if (n < 0) throw new SysError(`read ${JSON.stringify(path)}`, linuxErrno());
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
    }
    const decoder = new TextDecoder();
    return chunks.map((c, i) => decoder.decode(c, { stream: i < chunks.length - 1 })).join("");
  } finally {
    libc.close(fd);
  }
}

/** Throws {@linkcode PrivilegeError} when this process lacks CAP_NET_ADMIN. */
export function checkLinuxPrivileges(statusText?: string): void {
  const text = statusText ?? readProcText("/proc/self/status");
  const eff = parseCapEff(text);
  if (eff === null || !hasCapability(eff, CAP_NET_ADMIN)) {
    throw new PrivilegeError(LINUX_PRIVILEGE_MESSAGE);
  }
}
