/**
 * Listing `/proc` and reading its links through libc: Deno's own file APIs refuse `/proc`
 * without `--allow-all`, and tunbox runs with explicit permissions (`readProcText` in
 * `privileges.ts` reads its files the same way).
 *
 * @module
 */

import { SysError } from "../../../ffi/errno.ts";
import { linuxErrno, linuxLibc } from "../../../ffi/linux/libc.ts";

const O_RDONLY = 0;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;

/** The entry names of a directory (without "." and ".."), e.g. `listDir("/proc")`. */
export function listDir(path: string): string[] {
  const libc = linuxLibc();
  const fd = libc.open(
    new TextEncoder().encode(`${path}\0`),
    O_RDONLY | O_DIRECTORY | O_CLOEXEC,
    0,
  );
  if (fd < 0) throw new SysError(`open directory ${JSON.stringify(path)}`, linuxErrno());
  const names: string[] = [];
  const decoder = new TextDecoder();
  try {
    const buf = new Uint8Array(32768);
    const view = new DataView(buf.buffer);
    for (;;) {
      const n = Number(libc.getdents64(fd, buf, BigInt(buf.length)));
      if (n < 0) throw new SysError(`read directory ${JSON.stringify(path)}`, linuxErrno());
      if (n === 0) break;
      // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
      for (let off = 0; off < n;) {
        const reclen = view.getUint16(off + 16, true);
        const nameStart = off + 19;
        let end = nameStart;
        while (end < off + reclen && buf[end] !== 0) end++;
        const name = decoder.decode(buf.subarray(nameStart, end));
        if (name !== "." && name !== "..") names.push(name);
        off += reclen;
      }
    }
  } finally {
    libc.close(fd);
  }
  return names;
}

/** The target of a symbolic link (`/proc/<pid>/cwd`), or null when it cannot be read. */
export function readLink(path: string): string | null {
  const buf = new Uint8Array(4096);
  const n = Number(linuxLibc().readlink(new TextEncoder().encode(`${path}\0`), buf, 4096n));
  return n < 0 ? null : new TextDecoder().decode(buf.subarray(0, n));
}
