/**
 * IP addresses and prefixes as raw network-order bytes.
 *
 * An address is a `Uint8Array` of length 4 (IPv4) or 16 (IPv6). Parsing never throws: it returns
 * `null`, and callers build an error that names the value. IPv4-mapped IPv6 addresses
 * (`::ffff:1.2.3.4`) stay IPv6 unless {@linkcode unmap} is called.
 *
 * @module
 */

/** A network prefix: address bytes (host bits may be set) and a prefix length. */
export interface Prefix {
  readonly addr: Uint8Array;
  readonly bits: number;
}

/** Parses a dotted-quad IPv4 address. Leading zeros are rejected, as Go's netip does. */
export function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (p.length === 0 || p.length > 3 || !/^[0-9]+$/.test(p)) return null;
    if (p.length > 1 && p[0] === "0") return null;
    const v = Number(p);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

/** Parses an IPv6 address (with `::` compression and an optional dotted IPv4 tail). */
export function parseIpv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45) return null;
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  const out = new Uint8Array(16);
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === "") return [];
    const groups = s.split(":");
    const words: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (i === groups.length - 1 && g.includes(".")) {
        const v4 = parseIpv4(g);
        if (!v4) return null;
        words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      words.push(parseInt(g, 16));
    }
    return words;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !tail) return null;
  if (halves.length === 1 && head.length !== 8) return null;
  if (halves.length === 2 && head.length + tail.length > 7) return null;
  const words = new Array<number>(8).fill(0);
  head.forEach((w, i) => (words[i] = w));
  tail.forEach((w, i) => (words[8 - tail.length + i] = w));
  for (let i = 0; i < 8; i++) {
    out[i * 2] = words[i]! >> 8;
    out[i * 2 + 1] = words[i]! & 0xff;
  }
  return out;
}

/** Parses an IPv4 or IPv6 address; IPv6 may be written in brackets. */
export function parseIp(text: string): Uint8Array | null {
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

/** Formats address bytes: dotted quad, or RFC 5952 IPv6 (longest zero run compressed). */
export function formatIp(addr: Uint8Array): string {
  if (addr.length === 4) return `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  if (addr.length !== 16) throw new RangeError(`Cannot format address of ${addr.length} bytes`);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((addr[i]! << 8) | addr[i + 1]!);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Parses `addr/bits`. Host bits may be set (as sing-box accepts `172.19.0.1/30`). */
export function parsePrefix(text: string): Prefix | null {
  const slash = text.lastIndexOf("/");
  if (slash < 0) return null;
  const addr = parseIp(text.slice(0, slash));
  const bitsText = text.slice(slash + 1);
  if (!addr || !/^[0-9]{1,3}$/.test(bitsText)) return null;
  const bits = Number(bitsText);
  if (bits > addr.length * 8) return null;
  return { addr, bits };
}

/** Formats a prefix as `addr/bits` without masking host bits. */
export function formatPrefix(p: Prefix): string {
  return `${formatIp(p.addr)}/${p.bits}`;
}

/** Returns the network address of a prefix (host bits cleared) as a new prefix. */
export function maskPrefix(p: Prefix): Prefix {
  const out = new Uint8Array(p.addr.length);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, p.bits - i * 8));
    out[i] = p.addr[i]! & ((0xff00 >> keep) & 0xff);
  }
  return { addr: out, bits: p.bits };
}

/** True when `addr` lies inside prefix `p` (same family only). */
export function prefixContains(p: Prefix, addr: Uint8Array): boolean {
  if (p.addr.length !== addr.length) return false;
  let bits = p.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff00 >> bits) & 0xff;
    if ((p.addr[i]! & mask) !== (addr[i]! & mask)) return false;
  }
  return true;
}

/** Byte-wise equality of two addresses. */
export function ipEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Returns the address after `addr` (wrapping within the family), as netip's `Next`. */
export function nextIp(addr: Uint8Array): Uint8Array {
  const out = addr.slice();
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = (out[i]! + 1) & 0xff;
    if (out[i] !== 0) break;
  }
  return out;
}

/**
 * True when `addr` is an IPv4-mapped IPv6 address, `::ffff:a.b.c.d`.
 *
 * ```ts
 * isV4Mapped(parseIp("::ffff:10.0.0.1")!); // true
 * isV4Mapped(parseIp("10.0.0.1")!); // false: already IPv4
 * ```
 */
export function isV4Mapped(addr: Uint8Array): boolean {
  if (addr.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return false;
  return addr[10] === 0xff && addr[11] === 0xff;
}

/** Converts `::ffff:a.b.c.d` to its 4-byte IPv4 form; other addresses are returned as they are. */
export function unmap(addr: Uint8Array): Uint8Array {
  return isV4Mapped(addr) ? addr.slice(12) : addr;
}

/**
 * True for loopback addresses: 127.0.0.0/8, `::1`, and IPv4-mapped 127/8 (`::ffff:127.0.0.1`).
 *
 * ```ts
 * isLoopback(parseIp("127.0.0.53")!); // true
 * isLoopback(parseIp("::2")!); // false
 * ```
 */
export function isLoopback(addr: Uint8Array): boolean {
  if (addr.length === 4) return addr[0] === 127;
  if (addr.length !== 16) return false;
  if (isV4Mapped(addr)) return addr[12] === 127;
  for (let i = 0; i < 15; i++) if (addr[i] !== 0) return false;
  return addr[15] === 1;
}

/** True for link-local unicast addresses: 169.254.0.0/16 and fe80::/10 (not unmapped). */
export function isLinkLocal(addr: Uint8Array): boolean {
  if (addr.length === 4) return addr[0] === 169 && addr[1] === 254;
  return addr.length === 16 && addr[0] === 0xfe && (addr[1]! & 0xc0) === 0x80;
}

/** IPv4 bytes to an unsigned 32-bit number. */
export function ipv4ToU32(addr: Uint8Array, offset = 0): number {
  return ((addr[offset]! << 24) | (addr[offset + 1]! << 16) | (addr[offset + 2]! << 8) |
    addr[offset + 3]!) >>> 0;
}

/** Unsigned 32-bit number to IPv4 bytes. */
export function u32ToIpv4(v: number): Uint8Array {
  return new Uint8Array([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
}

/** Address bytes to a bigint (for range arithmetic). */
export function ipToBigInt(addr: Uint8Array): bigint {
  let v = 0n;
  for (const b of addr) v = (v << 8n) | BigInt(b);
  return v;
}

/** Bigint to address bytes of the given length (4 or 16). */
export function bigIntToIp(v: bigint, length: 4 | 16): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** An inclusive address range within one family. */
export interface IpRange {
  readonly family: 4 | 6;
  readonly first: bigint;
  readonly last: bigint;
}

/** The inclusive range a prefix covers. */
export function prefixToRange(p: Prefix): IpRange {
  const len = p.addr.length * 8;
  const first = ipToBigInt(maskPrefix(p).addr);
  const size = 1n << BigInt(len - p.bits);
  return { family: p.addr.length === 4 ? 4 : 6, first, last: first + size - 1n };
}

/** Sorts and merges overlapping or adjacent ranges of one family. */
export function mergeRanges(ranges: readonly IpRange[]): IpRange[] {
  const sorted = [...ranges].sort((a, b) =>
    a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0)
  );
  const out: IpRange[] = [];
  for (const r of sorted) {
    const top = out[out.length - 1];
    if (top && top.family === r.family && r.first <= top.last + 1n) {
      if (r.last > top.last) out[out.length - 1] = { ...top, last: r.last };
    } else out.push(r);
  }
  return out;
}

/** `include` minus `exclude`, both merged first. */
export function subtractRanges(
  include: readonly IpRange[],
  exclude: readonly IpRange[],
): IpRange[] {
  let current = mergeRanges(include);
  for (const ex of mergeRanges(exclude)) {
    const next: IpRange[] = [];
    for (const r of current) {
      if (r.family !== ex.family || ex.last < r.first || ex.first > r.last) {
        next.push(r);
        continue;
      }
      if (ex.first > r.first) next.push({ family: r.family, first: r.first, last: ex.first - 1n });
      if (ex.last < r.last) next.push({ family: r.family, first: ex.last + 1n, last: r.last });
    }
    current = next;
  }
  return current;
}

/** Re-expresses a range as the minimal list of prefixes covering exactly it. */
export function rangeToPrefixes(r: IpRange): Prefix[] {
  const width = r.family === 4 ? 32 : 128;
  const length = r.family === 4 ? 4 : 16;
  const out: Prefix[] = [];
  let first = r.first;
  while (first <= r.last) {
    // Largest block aligned at `first` that does not pass `last`.
    let size = 0;
    while (size < width) {
      const next = size + 1;
      const block = 1n << BigInt(next);
      if (first % block !== 0n || first + block - 1n > r.last) break;
      size = next;
    }
    out.push({ addr: bigIntToIp(first, length), bits: width - size });
    first += 1n << BigInt(size);
  }
  return out;
}

/** `include` minus `exclude`, as a sorted minimal prefix list (sing-tun `BuildAutoRouteRanges`). */
export function subtractPrefixes(
  include: readonly Prefix[],
  exclude: readonly Prefix[],
): Prefix[] {
  return subtractRanges(include.map(prefixToRange), exclude.map(prefixToRange))
    .flatMap(rangeToPrefixes);
}
