/**
 * `struct ifreq` (Linux x86_64/aarch64: 40 bytes) and interface-name rules.
 *
 * Layout: `ifr_name[IFNAMSIZ=16]` @0 (NUL-terminated), then a 24-byte union @16 of which tunbox
 * uses `ifr_flags` (i16 @16) and `ifr_mtu`/`ifr_ifindex` (i32 @16).
 *
 * @module
 */

/** Interface name buffer size, NUL included; names are at most 15 bytes. */
export const IFNAMSIZ = 16;
/** `sizeof(struct ifreq)` on 64-bit Linux. */
export const IFREQ_SIZE = 40;

/**
 * Why `name` cannot be a Linux interface name (the kernel's `dev_valid_name`), or null when it
 * can. `allowPattern` permits one `%d` (the kernel replaces it with a free number).
 */
export function interfaceNameProblem(name: string, allowPattern = false): string | null {
  const bytes = new TextEncoder().encode(name).byteLength;
  if (bytes === 0) return "it is empty";
  if (bytes >= IFNAMSIZ) return `it is ${bytes} bytes long, the limit is ${IFNAMSIZ - 1}`;
  if (name === "." || name === "..") return "it is a reserved name";
  if (/[/:\s]/.test(name)) return "it contains '/', ':' or whitespace";
  if (name.includes("%")) {
    if (!allowPattern) return "it contains '%'";
    if (!/^[^%]*%d[^%]*$/.test(name)) return "only one '%d' pattern is allowed";
  }
  return null;
}

/** Throws a RangeError naming the problem when `name` is not a valid interface name. */
export function assertInterfaceName(name: string, allowPattern = false): void {
  const problem = interfaceNameProblem(name, allowPattern);
  if (problem) throw new RangeError(`Invalid interface name "${name}": ${problem}`);
}

/** Encodes an `ifreq` carrying a name and `ifr_flags` (the TUNSETIFF argument). */
export function encodeIfreqFlags(name: string, flags: number, out?: Uint8Array): Uint8Array {
  const buf = out ?? new Uint8Array(IFREQ_SIZE);
  if (buf.byteLength < IFREQ_SIZE) throw new RangeError(`ifreq buffer needs ${IFREQ_SIZE} bytes`);
  buf.fill(0, 0, IFREQ_SIZE);
  const bytes = new TextEncoder().encode(name);
  if (bytes.byteLength >= IFNAMSIZ) {
    throw new RangeError(`Invalid interface name "${name}": longer than ${IFNAMSIZ - 1} bytes`);
  }
  buf.set(bytes, 0);
  new DataView(buf.buffer, buf.byteOffset, IFREQ_SIZE).setInt16(16, flags << 16 >> 16, true);
  return buf;
}

/** Encodes an `ifreq` carrying a name and an i32 (`ifr_mtu` / `ifr_ifindex`). */
export function encodeIfreqInt(name: string, value: number): Uint8Array {
  const buf = encodeIfreqFlags(name, 0);
  new DataView(buf.buffer, buf.byteOffset, IFREQ_SIZE).setInt32(16, value, true);
  return buf;
}

/** Reads the (NUL-terminated) name of an `ifreq`. */
export function decodeIfreqName(buf: Uint8Array): string {
  const name = buf.subarray(0, IFNAMSIZ);
  const nul = name.indexOf(0);
  return new TextDecoder().decode(nul >= 0 ? name.subarray(0, nul) : name);
}

/** Reads `ifr_flags` as an unsigned 16-bit value. */
export function decodeIfreqFlags(buf: Uint8Array): number {
  return new DataView(buf.buffer, buf.byteOffset, IFREQ_SIZE).getUint16(16, true);
}

/** Reads the i32 at @16 (`ifr_mtu` / `ifr_ifindex`). */
export function decodeIfreqInt(buf: Uint8Array): number {
  return new DataView(buf.buffer, buf.byteOffset, IFREQ_SIZE).getInt32(16, true);
}
