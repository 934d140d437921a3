/**
 * `ip_is_private` / `source_ip_is_private`: sing-box's definition, `!N.IsPublicAddr(addr)` from
 * SagerNet/sing `common/network/addr.go`, built on Go's `net/netip` predicates:
 *
 * | Go predicate | IPv4 | IPv6 |
 * |---|---|---|
 * | `IsPrivate` | 10/8, 172.16/12, 192.168/16 | fc00::/7 |
 * | `IsLoopback` | 127/8 | ::1 |
 * | `IsMulticast` | 224/4 | ff00::/8 |
 * | `IsLinkLocalUnicast` | 169.254/16 | fe80::/10 |
 * | `IsInterfaceLocalMulticast` | — | ff01::/16 (ignoring the flag bits: `ff?1`) |
 * | `IsUnspecified` | 0.0.0.0 only | :: only |
 *
 * The first four look through IPv4-mapped IPv6 (`::ffff:10.0.0.1` is private); the last two do
 * not (`::ffff:0.0.0.0` is "public"). Everything else is public, notably 100.64/10 (CGNAT),
 * 198.18/15 (benchmarking, FakeIP), 0.0.0.0/8 other than 0.0.0.0, 240/4 and 255.255.255.255.
 *
 * @module
 */

/** True when sing-box's `IsPublicAddr` is false for these 4 or 16 address bytes. */
export function isPrivateAddr(a: Uint8Array): boolean {
  if (a.length === 4) return isPrivateV4(a[0]!, a[1]!, a[2]!, a[3]!);
  if (a.length !== 16) return false;
  const b0 = a[0]!, b1 = a[1]!;
  // IPv4-mapped: the netip predicates that unmap first.
  let zeroHead = true;
  for (let i = 0; i < 10; i++) {
    if (a[i] !== 0) {
      zeroHead = false;
      break;
    }
  }
  if (zeroHead && a[10] === 0xff && a[11] === 0xff) {
    const c0 = a[12]!, c1 = a[13]!;
    return c0 === 10 || (c0 === 172 && (c1 & 0xf0) === 16) || (c0 === 192 && c1 === 168) ||
      c0 === 127 || (c0 & 0xf0) === 224 || (c0 === 169 && c1 === 254);
  }
  if ((b0 & 0xfe) === 0xfc) return true; // fc00::/7
  if (b0 === 0xff) return true; // ff00::/8 (includes interface-local ff01::/16)
  if (b0 === 0xfe && (b1 & 0xc0) === 0x80) return true; // fe80::/10
  if (zeroHead) {
    // ::1 and ::
    if (a[10] !== 0 || a[11] !== 0 || a[12] !== 0 || a[13] !== 0 || a[14] !== 0) return false;
    return a[15] === 1 || a[15] === 0;
  }
  return false;
}

function isPrivateV4(b0: number, b1: number, b2: number, b3: number): boolean {
  return b0 === 10 || (b0 === 172 && (b1 & 0xf0) === 16) || (b0 === 192 && b1 === 168) ||
    b0 === 127 || (b0 & 0xf0) === 224 || (b0 === 169 && b1 === 254) ||
    (b0 === 0 && b1 === 0 && b2 === 0 && b3 === 0);
}

/** sing-box's `N.IsPublicAddr`: the negation of {@linkcode isPrivateAddr}. */
export function isPublicAddr(a: Uint8Array): boolean {
  return !isPrivateAddr(a);
}
