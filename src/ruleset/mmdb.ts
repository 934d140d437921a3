/**
 * A MaxMind DB reader that lists every network with its data (the format of sing-box's
 * `geoip.db` and of GeoLite2 Country), for `rule-set convert --type geoip`. Format: the
 * "MaxMind DB File Format Specification" 2.0: a binary search tree over address bits, a 16-byte
 * separator, a data section, and a metadata map after `\xab\xcd\xefMaxMind.com` at the end.
 *
 * IPv4 networks of an IPv6 database live under `::/96`; the aliases MaxMind adds for them
 * (`::ffff:0:0/96`, `2002::/16`) are skipped, as `maxminddb.SkipAliasedNetworks` does.
 *
 * @module
 */

import { type IpRange, prefixToRange } from "../net/ip.ts";
import { ByteReader, FormatError } from "./bytes.ts";

const MARKER = [0xab, 0xcd, 0xef, ...new TextEncoder().encode("MaxMind.com")];

/** One network and the data record it points at. */
export interface MmdbNetwork {
  range: IpRange;
  data: unknown;
}

function findMetadata(buf: Uint8Array): number {
  const limit = Math.max(0, buf.length - 128 * 1024);
  outer: for (let i = buf.length - MARKER.length; i >= limit; i--) {
    for (let j = 0; j < MARKER.length; j++) if (buf[i + j] !== MARKER[j]) continue outer;
    return i + MARKER.length;
  }
  throw new FormatError("not a MaxMind DB file: no metadata marker");
}

/** Decodes data-section values (pointers resolve against `base`). */
class Decoder {
  constructor(readonly buf: Uint8Array, readonly base: number) {}

  decode(offset: number, depth = 0): { value: unknown; next: number } {
    if (depth > 64) throw new FormatError("MaxMind DB data nested too deep");
    const r = new ByteReader(this.buf);
    r.pos = offset;
    const ctrl = r.u8("control byte");
    let type = ctrl >> 5;
    if (type === 1) {
      // Pointer: size bits say how many bytes follow.
      const ss = (ctrl >> 3) & 3;
      const v = ctrl & 7;
      let p: number;
      if (ss === 0) p = (v << 8) | r.u8();
      else if (ss === 1) p = ((v << 16) | (r.u8() << 8) | r.u8()) + 2048;
      else if (ss === 2) p = ((v << 24) | (r.u8() << 16) | (r.u8() << 8) | r.u8()) + 526336;
      else p = ((r.u8() << 24) >>> 0) + ((r.u8() << 16) | (r.u8() << 8) | r.u8());
      const target = this.decode(this.base + p, depth + 1);
      return { value: target.value, next: r.pos };
    }
    if (type === 0) type = 7 + r.u8("extended type");
    let size = ctrl & 0x1f;
    if (size === 29) size = 29 + r.u8();
    else if (size === 30) size = 285 + ((r.u8() << 8) | r.u8());
    else if (size === 31) size = 65821 + ((r.u8() << 16) | (r.u8() << 8) | r.u8());
    switch (type) {
      case 2: // UTF-8 string
        return { value: new TextDecoder().decode(r.bytes(size, "string")), next: r.pos };
      case 3: // double
        return { value: new DataView(r.bytes(8).slice().buffer).getFloat64(0), next: r.pos };
      case 4: // bytes
        return { value: r.bytes(size).slice(), next: r.pos };
      case 5: // uint16
      case 6: // uint32
      case 8: // int32
      case 9: // uint64
      case 10: { // uint128
        let v = 0n;
        for (const b of r.bytes(size, "integer")) v = (v << 8n) | BigInt(b);
        return { value: v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v, next: r.pos };
      }
      case 7: { // map
        const out: Record<string, unknown> = {};
        let at = r.pos;
        for (let i = 0; i < size; i++) {
          const k = this.decode(at, depth + 1);
          const v = this.decode(k.next, depth + 1);
          out[String(k.value)] = v.value;
          at = v.next;
        }
        return { value: out, next: at };
      }
      case 11: { // array
        const out: unknown[] = [];
        let at = r.pos;
        for (let i = 0; i < size; i++) {
          const v = this.decode(at, depth + 1);
          out.push(v.value);
          at = v.next;
        }
        return { value: out, next: at };
      }
      case 14: // boolean
        return { value: size !== 0, next: r.pos };
      case 15: // float
        return { value: new DataView(r.bytes(4).slice().buffer).getFloat32(0), next: r.pos };
      default:
        throw new FormatError(`unknown MaxMind DB data type ${type} at offset ${offset}`);
    }
  }
}

/** Every network of a MaxMind DB with its (decoded, cached) data. Throws {@linkcode FormatError}. */
export function readMmdb(buf: Uint8Array): { networks: MmdbNetwork[]; databaseType: string } {
  const metaStart = findMetadata(buf);
  const meta = new Decoder(buf, metaStart).decode(metaStart).value as Record<string, unknown>;
  const nodeCount = Number(meta.node_count);
  const recordSize = Number(meta.record_size);
  const ipVersion = Number(meta.ip_version);
  if (![24, 28, 32].includes(recordSize)) {
    throw new FormatError(`MaxMind DB record size ${recordSize} is not 24, 28 or 32`);
  }
  const nodeBytes = recordSize / 4;
  const treeSize = nodeCount * nodeBytes;
  if (!Number.isSafeInteger(nodeCount) || treeSize + 16 > metaStart) {
    throw new FormatError("MaxMind DB search tree is larger than the file");
  }
  const dataBase = treeSize + 16;
  const decoder = new Decoder(buf, dataBase);
  const record = (node: number, right: number): number => {
    const o = node * nodeBytes;
    if (recordSize === 24) {
      const b = o + right * 3;
      return (buf[b]! << 16) | (buf[b + 1]! << 8) | buf[b + 2]!;
    }
    if (recordSize === 28) {
      if (right === 0) {
        return (((buf[o + 3]! & 0xf0) << 20) | (buf[o]! << 16) | (buf[o + 1]! << 8) |
          buf[o + 2]!) >>> 0;
      }
      return (((buf[o + 3]! & 0x0f) << 24) | (buf[o + 4]! << 16) | (buf[o + 5]! << 8) |
        buf[o + 6]!) >>> 0;
    }
    const b = o + right * 4;
    return ((buf[b]! << 24) | (buf[b + 1]! << 16) | (buf[b + 2]! << 8) | buf[b + 3]!) >>> 0;
  };
  const bits = ipVersion === 6 ? 128 : 32;
  const cache = new Map<number, unknown>();
  const networks: MmdbNetwork[] = [];
  const stack: { node: number; depth: number; value: bigint }[] = [{
    node: 0,
    depth: 0,
    value: 0n,
  }];
  while (stack.length > 0) {
    const { node, depth, value } = stack.pop()!;
    if (bits === 128 && isAlias(value, depth)) continue;
    if (node >= nodeCount) {
      if (node === nodeCount) continue; // no data
      const offset = node - nodeCount - 16;
      let data = cache.get(offset);
      if (data === undefined) {
        data = decoder.decode(dataBase + offset).value;
        cache.set(offset, data);
      }
      networks.push({ range: toRange(value, depth, bits), data });
      continue;
    }
    if (depth >= bits) throw new FormatError("MaxMind DB search tree deeper than the address");
    const bit = 1n << BigInt(bits - depth - 1);
    stack.push({ node: record(node, 1), depth: depth + 1, value: value | bit });
    stack.push({ node: record(node, 0), depth: depth + 1, value });
  }
  return { networks, databaseType: String(meta.database_type ?? "") };
}

/** `::ffff:0:0/96` and `2002::/16`: MaxMind's aliases of the IPv4 subtree. */
function isAlias(value: bigint, depth: number): boolean {
  if (depth === 96 && value === 0xffff00000000n) return true;
  if (depth === 16 && value === 0x2002n << 112n) return true;
  return false;
}

function toRange(value: bigint, depth: number, bits: number): IpRange {
  if (bits === 128 && depth >= 96 && value >> 32n === 0n) {
    const v4 = Number(value & 0xffffffffn);
    return prefixToRange({
      addr: new Uint8Array([v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff]),
      bits: depth - 96,
    });
  }
  const len = bits / 8;
  const addr = new Uint8Array(len);
  let v = value;
  for (let i = len - 1; i >= 0; i--) {
    addr[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return prefixToRange({ addr, bits: depth });
}
