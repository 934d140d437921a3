/**
 * TLS ClientHello sniffer: the server name (SNI) from the first handshake message.
 *
 * Input is every byte the client sent so far (the caller concatenates TCP segments). The
 * ClientHello may span several TLS records, and records may arrive in pieces; the sniffer
 * answers `need-more` until the whole handshake message is present. Validation follows Go's
 * `crypto/tls` server (which sing-box uses): the first record must be a handshake record with a
 * 3.x version, the message must be a ClientHello no larger than 64 KiB, the extension block
 * must be well formed without duplicates, and `server_name` must hold at most one host name,
 * without a trailing dot. A ClientHello without SNI is still TLS (domain "").
 *
 * @module
 */

import { matched, NEED_MORE, noMatch, type SniffResult } from "./result.ts";

const RECORD_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
/** Go's `maxCiphertext`: largest record body accepted. */
const MAX_RECORD = 16384 + 2048;
/** Go's `maxHandshake`. */
const MAX_HANDSHAKE = 65536;

/** Fields of a ClientHello that sniffers use. GREASE values are kept, as ja3 does. */
export interface ClientHelloInfo {
  serverName: string;
  cipherSuites: number[];
  /** `supported_versions` (43). */
  versions: number[];
  /** `supported_groups` (10). */
  groups: number[];
  /** `signature_algorithms` (13). */
  signatureAlgorithms: number[];
  /** ALPN protocol names (16). */
  alpn: string[];
}

/** Sniffs TLS from the start of a TCP stream. */
export function sniffTls(data: Uint8Array): SniffResult {
  // Gather handshake bytes across records. Most hellos fit one record: no copy then.
  let pos = 0;
  let single: Uint8Array | null = null;
  let parts: Uint8Array[] | null = null;
  let have = 0;
  let need = -1; // total handshake bytes needed (4 + length) once known
  while (need < 0 || have < need) {
    if (data.length - pos < 5) {
      if (pos === 0 && !plausibleRecordPrefix(data)) return noMatch("not a TLS handshake record");
      return NEED_MORE;
    }
    const type = data[pos]!;
    const major = data[pos + 1]!;
    const length = (data[pos + 3]! << 8) | data[pos + 4]!;
    if (type !== RECORD_HANDSHAKE) {
      return noMatch(pos === 0 ? "not a TLS handshake record" : "unexpected TLS record type");
    }
    if (major !== 3) return noMatch("bad TLS record version");
    if (length > MAX_RECORD) return noMatch("oversized TLS record");
    const body = data.subarray(pos + 5, Math.min(data.length, pos + 5 + length));
    if (single === null && parts === null) single = body;
    else {
      parts ??= [single!];
      parts.push(body);
    }
    have += body.length;
    if (need < 0 && have >= 4) {
      const head = firstBytes(single, parts, 4);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) {
        return noMatch("first handshake message is not a ClientHello");
      }
      const len = (head[1]! << 16) | (head[2]! << 8) | head[3]!;
      if (len > MAX_HANDSHAKE) return noMatch("oversized ClientHello");
      need = 4 + len;
    }
    if (body.length < length) break; // partial record: everything available is consumed
    pos += 5 + length;
  }
  if (need < 0 || have < need) return NEED_MORE;
  const message = parts === null ? single! : concat(parts, need);
  const hello = parseClientHello(message.subarray(4, need));
  if (hello === null) return noMatch("malformed ClientHello");
  return matched("tls", hello.serverName);
}

/** True when a short prefix could still start a TLS handshake record. */
function plausibleRecordPrefix(d: Uint8Array): boolean {
  if (d.length >= 1 && d[0] !== RECORD_HANDSHAKE) return false;
  if (d.length >= 2 && d[1] !== 3) return false;
  return true;
}

function firstBytes(single: Uint8Array | null, parts: Uint8Array[] | null, n: number): Uint8Array {
  if (parts === null) return single!;
  return concat(parts, n);
}

function concat(parts: Uint8Array[], limit: number): Uint8Array {
  const out = new Uint8Array(limit);
  let o = 0;
  for (const p of parts) {
    if (o >= limit) break;
    const take = Math.min(p.length, limit - o);
    out.set(p.subarray(0, take), o);
    o += take;
  }
  return out;
}

/** A bounds-checked big-endian reader over a byte view. */
class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array, readonly end = b.length) {}
  get left(): number {
    return this.end - this.pos;
  }
  u8(): number {
    if (this.pos + 1 > this.end) return -1;
    return this.b[this.pos++]!;
  }
  u16(): number {
    if (this.pos + 2 > this.end) return -1;
    const v = (this.b[this.pos]! << 8) | this.b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
  /** Returns a sub-reader over the next `n` bytes, or null if they are not there. */
  take(n: number): Reader | null {
    if (n < 0 || this.pos + n > this.end) return null;
    const r = new Reader(this.b, this.pos + n);
    r.pos = this.pos;
    this.pos += n;
    return r;
  }
  /** Reads a u8/u16 length and returns a sub-reader over that many bytes. */
  prefixed8(): Reader | null {
    return this.take(this.u8());
  }
  prefixed16(): Reader | null {
    return this.take(this.u16());
  }
}

function u16List(r: Reader): number[] | null {
  if (r.left % 2 !== 0) return null;
  const out: number[] = [];
  while (r.left > 0) out.push(r.u16());
  return out;
}

/**
 * Parses a ClientHello body (after the 4-byte handshake header). Returns null when Go's
 * `crypto/tls` would reject the message.
 */
export function parseClientHello(body: Uint8Array): ClientHelloInfo | null {
  const r = new Reader(body);
  if (r.u16() < 0) return null; // legacy_version
  if (r.take(32) === null) return null; // random
  if (r.prefixed8() === null) return null; // legacy_session_id
  const suitesR = r.prefixed16();
  if (suitesR === null) return null;
  const cipherSuites = u16List(suitesR);
  if (cipherSuites === null) return null;
  const compression = r.prefixed8();
  if (compression === null) return null;
  const info: ClientHelloInfo = {
    serverName: "",
    cipherSuites,
    versions: [],
    groups: [],
    signatureAlgorithms: [],
    alpn: [],
  };
  if (r.left === 0) return info; // no extensions
  const exts = r.prefixed16();
  if (exts === null || r.left !== 0) return null;
  const seen = new Set<number>();
  while (exts.left > 0) {
    const type = exts.u16();
    const data = exts.prefixed16();
    if (type < 0 || data === null) return null;
    if (seen.has(type)) return null;
    seen.add(type);
    switch (type) {
      case 0: { // server_name
        const list = data.prefixed16();
        if (list === null || list.left === 0) return null;
        while (list.left > 0) {
          const nameType = list.u8();
          const name = list.prefixed16();
          if (nameType < 0 || name === null || name.left === 0) return null;
          if (nameType !== 0) continue;
          if (info.serverName !== "") return null;
          const host = ascii(name);
          if (host.endsWith(".")) return null;
          info.serverName = host;
        }
        break;
      }
      case 10: { // supported_groups
        const list = data.prefixed16();
        if (list === null) return null;
        const groups = u16List(list);
        if (groups === null || groups.length === 0) return null;
        info.groups = groups;
        break;
      }
      case 13: { // signature_algorithms
        const list = data.prefixed16();
        if (list === null) return null;
        const algs = u16List(list);
        if (algs === null || algs.length === 0) return null;
        info.signatureAlgorithms = algs;
        break;
      }
      case 16: { // application_layer_protocol_negotiation
        const list = data.prefixed16();
        if (list === null || list.left === 0) return null;
        while (list.left > 0) {
          const proto = list.prefixed8();
          if (proto === null || proto.left === 0) return null;
          info.alpn.push(ascii(proto));
        }
        break;
      }
      case 43: { // supported_versions
        const list = data.prefixed8();
        if (list === null) return null;
        const versions = u16List(list);
        if (versions === null || versions.length === 0) return null;
        info.versions = versions;
        break;
      }
      default:
        data.pos = data.end; // other extensions are skipped unparsed
    }
    if (data.left !== 0) return null;
  }
  return info;
}

function ascii(r: Reader): string {
  let s = "";
  for (let i = r.pos; i < r.end; i++) s += String.fromCharCode(r.b[i]!);
  r.pos = r.end;
  return s;
}

/**
 * Parses a handshake message stream (no record layer, as in QUIC CRYPTO frames) that must start
 * with a ClientHello: `need-more` when truncated.
 */
export function parseHandshakeClientHello(
  stream: Uint8Array,
): ClientHelloInfo | "need-more" | null {
  if (stream.length < 4) return "need-more";
  if (stream[0] !== HANDSHAKE_CLIENT_HELLO) return null;
  const len = (stream[1]! << 16) | (stream[2]! << 8) | stream[3]!;
  if (len > MAX_HANDSHAKE) return null;
  if (stream.length < 4 + len) return "need-more";
  return parseClientHello(stream.subarray(4, 4 + len));
}
