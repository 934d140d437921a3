/**
 * Encoding with `dns-packet`: queries tunbox sends for its own lookups, the EDNS Client Subnet
 * option (RFC 7871) added to forwarded queries, and the records of `predefined` answers. Also
 * the record type and RCODE name tables (sing-box's names, from miekg/dns).
 *
 * `dns-packet` works on Node `Buffer`s; this module converts at the boundary and exposes plain
 * `Uint8Array`s.
 *
 * @module
 */

import dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import { formatIp, maskPrefix, type Prefix } from "../ip.ts";
import { findOpt, FLAG_RD, type MessageLayout, parseMessage, TYPE_OPT } from "./wire.ts";

/** The record shape of `dns-packet` (the fields tunbox uses). */
export interface PacketRecord {
  name: string;
  type: string;
  class?: string;
  ttl?: number;
  data?: unknown;
  udpPayloadSize?: number;
  extendedRcode?: number;
  ednsVersion?: number;
  flags?: number;
  options?: PacketOption[];
}

/** An EDNS option as `dns-packet` decodes and encodes it. */
export interface PacketOption {
  code: number;
  data?: Uint8Array;
  family?: number;
  sourcePrefixLength?: number;
  scopePrefixLength?: number;
  ip?: string;
}

/** A whole message as `dns-packet` sees it. */
export interface Packet {
  id?: number;
  type?: "query" | "response";
  flags?: number;
  questions?: { name: string; type: string; class?: string }[];
  answers?: PacketRecord[];
  authorities?: PacketRecord[];
  additionals?: PacketRecord[];
}

interface DnsPacketLib {
  encode(packet: Packet): Buffer;
  decode(buf: Buffer): Packet;
  answer: { encode(record: PacketRecord): Buffer };
}

const lib = dnsPacket as unknown as DnsPacketLib;

function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Encodes a message with `dns-packet`. */
export function encodePacket(packet: Packet): Uint8Array {
  return bytes(lib.encode(packet));
}

/** Decodes a message with `dns-packet` (throws on malformed input). */
export function decodePacket(msg: Uint8Array): Packet {
  return lib.decode(Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength));
}

/** Encodes one resource record (uncompressed). */
export function encodeRecord(record: PacketRecord): Uint8Array {
  return bytes(lib.answer.encode(record)).slice();
}

/** Record types by name (miekg/dns names; `TYPE<n>` is accepted for any number). */
export const RECORD_TYPES: Readonly<Record<string, number>> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  NULL: 10,
  HINFO: 13,
  PTR: 12,
  MX: 15,
  TXT: 16,
  RP: 17,
  AFSDB: 18,
  SIG: 24,
  KEY: 25,
  AAAA: 28,
  LOC: 29,
  SRV: 33,
  NAPTR: 35,
  KX: 36,
  CERT: 37,
  DNAME: 39,
  OPT: 41,
  APL: 42,
  DS: 43,
  SSHFP: 44,
  IPSECKEY: 45,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  DHCID: 49,
  NSEC3: 50,
  NSEC3PARAM: 51,
  TLSA: 52,
  SMIMEA: 53,
  HIP: 55,
  CDS: 59,
  CDNSKEY: 60,
  OPENPGPKEY: 61,
  CSYNC: 62,
  ZONEMD: 63,
  SVCB: 64,
  HTTPS: 65,
  SPF: 99,
  EUI48: 108,
  EUI64: 109,
  TKEY: 249,
  TSIG: 250,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
  URI: 256,
  CAA: 257,
};

const TYPE_NAMES = new Map<number, string>(
  Object.entries(RECORD_TYPES).map(([k, v]) => [v, k]),
);

/** The code of a record type name (`A`, `aaaa`, `TYPE65`); undefined when unknown. */
export function typeCode(name: string): number | undefined {
  const upper = name.toUpperCase();
  const known = RECORD_TYPES[upper];
  if (known !== undefined) return known;
  const m = /^TYPE([0-9]{1,5})$/.exec(upper);
  if (m) {
    const n = Number(m[1]);
    if (n <= 65535) return n;
  }
  return undefined;
}

/** The name of a record type code (`A`, or `TYPE<n>` for codes without a name). */
export function typeName(code: number): string {
  return TYPE_NAMES.get(code) ?? `TYPE${code}`;
}

/** RCODEs by sing-box's (miekg/dns) names. */
export const RCODES: Readonly<Record<string, number>> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
};

const RCODE_NAMES = new Map<number, string>(Object.entries(RCODES).map(([k, v]) => [v, k]));

/** The name of an RCODE (`NXDOMAIN`, or `RCODE<n>`). */
export function rcodeName(code: number): string {
  return RCODE_NAMES.get(code) ?? `RCODE${code}`;
}

/**
 * Checks that `domain` (without or with the trailing dot) can be put into a query: ASCII
 * letters, digits, `-`, `_` and `*`, labels of 1–63 bytes, at most 253 bytes in all.
 * Returns the reason it cannot, or null.
 */
export function domainProblem(domain: string): string | null {
  const name = domain.endsWith(".") ? domain.slice(0, -1) : domain;
  if (name === "") return "empty name";
  if (name.length > 253) return "longer than 253 bytes";
  for (const label of name.split(".")) {
    if (label.length === 0) return "empty label";
    if (label.length > 63) return `label "${label.slice(0, 16)}..." is longer than 63 bytes`;
    if (!/^[A-Za-z0-9_*-]+$/.test(label)) {
      return `label "${label}" has characters DNS does not allow`;
    }
  }
  return null;
}

/** Encodes a recursive query for `domain` (no trailing dot needed) of type `qtype`. */
export function encodeQuery(domain: string, qtype: number, id = 0): Uint8Array {
  return encodePacket({
    type: "query",
    id,
    flags: FLAG_RD,
    questions: [{ name: domain, type: typeName(qtype), class: "IN" }],
  });
}

/** The ECS option for `prefix` (address masked to the prefix, RFC 7871 §6). */
function ecsOption(prefix: Prefix): PacketOption {
  const masked = maskPrefix(prefix);
  return {
    code: 8,
    family: masked.addr.length === 4 ? 1 : 2,
    sourcePrefixLength: masked.bits,
    scopePrefixLength: 0,
    ip: formatIp(masked.addr),
  };
}

/**
 * Returns `query` with an EDNS Client Subnet option for `prefix`: an existing ECS option is
 * replaced, other options are kept; a query without EDNS gets an OPT record (UDP size 1232,
 * as miekg/dns's default for sing-box). `hadOpt` tells whether the query already had one.
 */
export function setClientSubnet(
  query: Uint8Array,
  layout: MessageLayout,
  prefix: Prefix,
): { query: Uint8Array; hadOpt: boolean } {
  const hadOpt = findOpt(layout) !== undefined;
  const packet = decodePacket(query);
  const additionals = packet.additionals ?? [];
  let opt = additionals.find((r) => r.type === "OPT");
  if (!opt) {
    opt = { name: ".", type: "OPT", udpPayloadSize: 1232, flags: 0, options: [] };
    additionals.push(opt);
  }
  opt.options = (opt.options ?? []).filter((o) => o.code !== 8);
  opt.options.push(ecsOption(prefix));
  packet.additionals = additionals;
  const out = encodePacket(packet);
  // dns-packet keeps the header flags; make sure the result still walks.
  parseMessage(out);
  return { query: out, hadOpt };
}

/** True when the query's OPT record carries any option (then sing-box does not cache it). */
export function optHasOptions(layout: MessageLayout): boolean {
  const opt = findOpt(layout);
  return opt !== undefined && opt.type === TYPE_OPT && opt.rdlength > 0;
}
