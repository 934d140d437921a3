/**
 * The binary rule-set format (`.srs`), as sing-box reads and writes it (`common/srs/binary.go`,
 * versions 1 to 5).
 *
 * ```
 * "SRS" (3 bytes)  version (1 byte)  zlib( uvarint rule count, rules... )
 *
 * rule      = 0x00 item* 0xFF invert(1 byte)                       default rule
 *           | 0x01 mode(0 and, 1 or) uvarint count rule* invert    logical rule
 * item      = type(1 byte) value
 * strings   = uvarint count (uvarint length, UTF-8 bytes)*
 * uint16s   = uvarint count (uint16 big-endian)*
 * ip set    = 0x01 (uint64 big-endian count) (uvarint length, from bytes, uvarint length, to bytes)*
 * domain    = 0x00 uint64s(leaves) uint64s(label bitmap) uvarint length, labels
 * uint64s   = uvarint count (uint64 big-endian)*
 * prefix    = uvarint length, address bytes, prefix length (1 byte)
 * ```
 *
 * Item types: 0 query_type (uint16s), 1 network, 2 domain + domain_suffix (a trie, see
 * `src/route/byte_trie.ts`), 3 domain_keyword, 4 domain_regex, 5 source_ip_cidr (ip set),
 * 6 ip_cidr (ip set), 7 source_port (uint16s), 8 source_port_range, 9 port (uint16s),
 * 10 port_range, 11 process_name, 12 process_path, 13 package_name, 14 wifi_ssid, 15 wifi_bssid,
 * 16 AdGuard domain patterns (a trie; version ≥ 2), 17 process_path_regex, 18 network_type (uvarint
 * count, one byte each; version ≥ 3), 19 network_is_expensive and 20 network_is_constrained (no
 * value; version ≥ 3), 21 network_interface_address (uvarint count of (type byte, uvarint count,
 * prefix*); version ≥ 4), 22 default_interface_address (uvarint count, prefix*; version ≥ 4),
 * 23 package_name_regex (version ≥ 5, sing-box 1.14).
 * Lists without a type are strings. Version 1 stores a dot-less `domain_suffix` as an exact name
 * plus a literal `.suffix`; version 2 and later mark it in the trie.
 *
 * Reading checks every length against the data left and refuses what sing-box would misread
 * (unknown versions and item types, a trie that is not a tree), with the offset in the message.
 *
 * @module
 */

import { deflateSync, inflateSync } from "node:zlib";
import {
  emptyHeadlessRule,
  INTERFACE_TYPES,
  RULE_SET_VERSION_CURRENT,
} from "../config/decode_rule_set.ts";
import { Invalid, parsePrefixText } from "../config/values.ts";
import { typeCode } from "../net/dns/packet.ts";
import { bigIntToIp, formatIp, type IpRange, ipToBigInt } from "../net/ip.ts";
import { AdGuardMatcher } from "../route/adguard.ts";
import { ByteTrie, type ByteTrieData } from "../route/byte_trie.ts";
import { DomainSet } from "../route/domain_set.ts";
import {
  cidrRanges,
  type RuleSetDefaultRule,
  type RuleSetLogicalRule,
  type RuleSetRule,
} from "../route/headless.ts";
import { IpSet } from "../route/ip_set.ts";
import { ByteReader, ByteWriter, FormatError } from "./bytes.ts";

/** The first three bytes of every binary rule-set. */
export const SRS_MAGIC = new Uint8Array([0x53, 0x52, 0x53]);

/** Largest decompressed rule data read (a zlib bomb stops here). */
export const MAX_SRS_DECOMPRESSED = 64 * 1024 * 1024;

/** Deepest nesting of logical rules read. */
const MAX_DEPTH = 64;

const ITEM = {
  queryType: 0,
  network: 1,
  domain: 2,
  domainKeyword: 3,
  domainRegex: 4,
  sourceIpCidr: 5,
  ipCidr: 6,
  sourcePort: 7,
  sourcePortRange: 8,
  port: 9,
  portRange: 10,
  processName: 11,
  processPath: 12,
  packageName: 13,
  wifiSsid: 14,
  wifiBssid: 15,
  adGuardDomain: 16,
  processPathRegex: 17,
  networkType: 18,
  networkIsExpensive: 19,
  networkIsConstrained: 20,
  networkInterfaceAddress: 21,
  defaultInterfaceAddress: 22,
  packageNameRegex: 23,
  final: 0xff,
} as const;

/** A rule-set as read from a binary file. */
export interface BinaryRuleSet {
  version: number;
  rules: RuleSetRule[];
}

/** True when `bytes` start with the `SRS` magic. */
export function isSrs(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0x53 && bytes[1] === 0x52 && bytes[2] === 0x53;
}

/**
 * Reads a binary rule-set. Domain and IP items come back as prebuilt structures
 * (`rule.binary`), not lists; {@linkcode recoverLists} turns them back into lists. With `shared`
 * the structures live in `SharedArrayBuffer`s. Throws {@linkcode FormatError} naming the rule and
 * offset for anything malformed.
 */
export function readSrs(bytes: Uint8Array, shared = false): BinaryRuleSet {
  if (bytes.length < 4) {
    throw new FormatError(`not a binary rule-set: ${bytes.length} byte(s), too short`);
  }
  if (!isSrs(bytes)) {
    throw new FormatError('invalid sing-box rule-set file: it does not start with "SRS"');
  }
  const version = bytes[3]!;
  if (version > RULE_SET_VERSION_CURRENT) {
    throw new FormatError(
      `unsupported version: ${version} (tunbox reads binary rule-sets up to version ${RULE_SET_VERSION_CURRENT})`,
    );
  }
  let data: Uint8Array;
  try {
    const out = inflateSync(bytes.subarray(4), { maxOutputLength: MAX_SRS_DECOMPRESSED });
    data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE") {
      throw new FormatError(
        `the rule data decompresses to more than ${MAX_SRS_DECOMPRESSED / 1048576} MiB`,
      );
    }
    throw new FormatError(`corrupted compressed data: ${(e as Error).message}`);
  }
  const r = new ByteReader(data);
  const count = r.count("rule count", 2);
  const rules: RuleSetRule[] = [];
  for (let i = 0; i < count; i++) {
    try {
      rules.push(readRule(r, shared, 0));
    } catch (e) {
      if (e instanceof FormatError) throw new FormatError(`read rule[${i}]: ${e.message}`);
      throw e;
    }
  }
  return { version, rules };
}

function readRule(r: ByteReader, shared: boolean, depth: number): RuleSetRule {
  if (depth > MAX_DEPTH) throw new FormatError(`logical rules nested deeper than ${MAX_DEPTH}`);
  const at = r.pos;
  const type = r.u8("rule type");
  if (type === 0) return readDefault(r, shared);
  if (type === 1) return readLogical(r, shared, depth);
  throw new FormatError(`unknown rule type: ${type} at offset ${at}`);
}

function readLogical(r: ByteReader, shared: boolean, depth: number): RuleSetLogicalRule {
  const at = r.pos;
  const modeByte = r.u8("logical mode");
  if (modeByte > 1) throw new FormatError(`unknown logical mode: ${modeByte} at offset ${at}`);
  const count = r.count("logical rule count", 2);
  const rules: RuleSetRule[] = [];
  for (let i = 0; i < count; i++) {
    try {
      rules.push(readRule(r, shared, depth + 1));
    } catch (e) {
      if (e instanceof FormatError) throw new FormatError(`read logical rule [${i}]: ${e.message}`);
      throw e;
    }
  }
  const out: RuleSetLogicalRule = { type: "logical", mode: modeByte === 0 ? "and" : "or", rules };
  if (r.u8("invert") !== 0) out.invert = true;
  return out;
}

function readStrings(r: ByteReader, what: string): string[] {
  const n = r.count(`${what} count`);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.string(what));
  return out;
}

function readUint16s(r: ByteReader, what: string): number[] {
  const n = r.count(`${what} count`, 2);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(r.u16(what));
  return out;
}

function readUint64Words(r: ByteReader, what: string): Uint8Array {
  const n = r.count(`${what} word count`, 8);
  return r.bytes(n * 8, what);
}

function readTrie(r: ByteReader, shared: boolean, what: string): ByteTrieData {
  r.u8(`${what} set version`);
  const leaves = readUint64Words(r, `${what} leaves`);
  const labelBitmap = readUint64Words(r, `${what} label bitmap`);
  const n = r.count(`${what} label count`);
  const labels = r.bytes(n, `${what} labels`);
  try {
    return ByteTrie.fromLouds({ leaves, labelBitmap, labels }, shared).data;
  } catch (e) {
    throw new FormatError(`${what}: ${(e as Error).message}`);
  }
}

function readAddress(r: ByteReader, what: string): Uint8Array {
  const at = r.pos;
  const n = r.count(`${what} length`);
  if (n !== 4 && n !== 16) {
    throw new FormatError(`${what} at offset ${at} has ${n} bytes (expected 4 or 16)`);
  }
  return r.bytes(n, what);
}

function readIpSet(r: ByteReader, shared: boolean, what: string): IpSet {
  const at = r.pos;
  const version = r.u8(`${what} version`);
  if (version !== 1) {
    throw new FormatError(`${what} at offset ${at}: unknown IP set version ${version}`);
  }
  const countAt = r.pos;
  const count = r.u64(`${what} range count`);
  if (count * 10 > r.remaining) {
    throw new FormatError(
      `${what} range count ${count} at offset ${countAt} is more than the ${r.remaining} byte(s) left can hold`,
    );
  }
  const ranges: IpRange[] = [];
  for (let i = 0; i < count; i++) {
    const from = readAddress(r, `${what} range ${i} start`);
    const to = readAddress(r, `${what} range ${i} end`);
    if (from.length !== to.length) {
      throw new FormatError(`${what} range ${i} mixes IPv4 and IPv6`);
    }
    const first = ipToBigInt(from);
    const last = ipToBigInt(to);
    if (first > last) throw new FormatError(`${what} range ${i} ends before it starts`);
    ranges.push({ family: from.length === 4 ? 4 : 6, first, last });
  }
  return IpSet.fromRanges(ranges, shared);
}

function formatAddressPrefix(addr: Uint8Array, bits: number): string {
  return `${formatGoIp(addr)}/${bits}`;
}

function readPrefix(r: ByteReader, what: string): string {
  const addr = readAddress(r, what);
  const bits = r.u8(`${what} prefix length`);
  if (bits > addr.length * 8) throw new FormatError(`${what} prefix length ${bits} is too long`);
  return formatAddressPrefix(addr, bits);
}

function interfaceType(r: ByteReader, what: string): string {
  const at = r.pos;
  const v = r.u8(what);
  const name = INTERFACE_TYPES[v];
  if (name === undefined) throw new FormatError(`unknown ${what} ${v} at offset ${at}`);
  return name;
}

function readDefault(r: ByteReader, shared: boolean): RuleSetDefaultRule {
  const rule: RuleSetDefaultRule = emptyHeadlessRule();
  const b: NonNullable<RuleSetDefaultRule["binary"]> = {};
  let last = -1;
  for (;;) {
    const at = r.pos;
    const type = r.u8("item type");
    switch (type) {
      case ITEM.queryType:
        rule.query_type = readUint16s(r, "query_type");
        break;
      case ITEM.network:
        rule.network = readStrings(r, "network");
        break;
      case ITEM.domain:
        b.domain = readTrie(r, shared, "domain");
        break;
      case ITEM.domainKeyword:
        rule.domain_keyword = readStrings(r, "domain_keyword");
        break;
      case ITEM.domainRegex:
        rule.domain_regex = readStrings(r, "domain_regex");
        break;
      case ITEM.sourceIpCidr:
        b.sourceIp = readIpSet(r, shared, "source_ip_cidr").data;
        break;
      case ITEM.ipCidr:
        b.ip = readIpSet(r, shared, "ip_cidr").data;
        break;
      case ITEM.sourcePort:
        rule.source_port = readUint16s(r, "source_port");
        break;
      case ITEM.sourcePortRange:
        rule.source_port_range = readStrings(r, "source_port_range");
        break;
      case ITEM.port:
        rule.port = readUint16s(r, "port");
        break;
      case ITEM.portRange:
        rule.port_range = readStrings(r, "port_range");
        break;
      case ITEM.processName:
        rule.process_name = readStrings(r, "process_name");
        break;
      case ITEM.processPath:
        rule.process_path = readStrings(r, "process_path");
        break;
      case ITEM.processPathRegex:
        rule.process_path_regex = readStrings(r, "process_path_regex");
        break;
      case ITEM.packageName:
        rule.package_name = readStrings(r, "package_name");
        break;
      case ITEM.packageNameRegex:
        rule.package_name_regex = readStrings(r, "package_name_regex");
        break;
      case ITEM.wifiSsid:
        rule.wifi_ssid = readStrings(r, "wifi_ssid");
        break;
      case ITEM.wifiBssid:
        rule.wifi_bssid = readStrings(r, "wifi_bssid");
        break;
      case ITEM.adGuardDomain:
        b.adguard = readTrie(r, shared, "adguard_domain");
        break;
      case ITEM.networkType: {
        const n = r.count("network_type count");
        rule.network_type = [];
        for (let i = 0; i < n; i++) rule.network_type.push(interfaceType(r, "network type"));
        break;
      }
      case ITEM.networkIsExpensive:
        rule.network_is_expensive = true;
        break;
      case ITEM.networkIsConstrained:
        rule.network_is_constrained = true;
        break;
      case ITEM.networkInterfaceAddress: {
        const n = r.count("network_interface_address count", 2);
        rule.network_interface_address = [];
        for (let i = 0; i < n; i++) {
          const key = interfaceType(r, "network_interface_address type");
          const m = r.count("network_interface_address prefix count", 3);
          const list: string[] = [];
          for (let j = 0; j < m; j++) list.push(readPrefix(r, "network_interface_address"));
          rule.network_interface_address.push([key, list]);
        }
        break;
      }
      case ITEM.defaultInterfaceAddress: {
        const n = r.count("default_interface_address count", 3);
        rule.default_interface_address = [];
        for (let i = 0; i < n; i++) {
          rule.default_interface_address.push(readPrefix(r, "default_interface_address"));
        }
        break;
      }
      case ITEM.final:
        if (r.u8("invert") !== 0) rule.invert = true;
        if (Object.keys(b).length > 0) rule.binary = b;
        return rule;
      default:
        throw new FormatError(
          `unknown rule item type: ${type} at offset ${at}${
            last >= 0 ? `, last type: ${last}` : ""
          }`,
        );
    }
    last = type;
  }
}

/**
 * Replaces the prebuilt structures of binary rules by lists (sing-box `srs.Read` with
 * `recover`): the trie's `domain`/`domain_suffix`, the IP sets' fewest prefixes. AdGuard
 * patterns have no list form and are reported by `onAdGuard`, then dropped.
 */
export function recoverLists(
  rules: readonly RuleSetRule[],
  onAdGuard?: (patterns: string[]) => void,
): RuleSetRule[] {
  return rules.map((r): RuleSetRule => {
    if (r.type === "logical") return { ...r, rules: recoverLists(r.rules, onAdGuard) };
    const { binary, ...rest } = r;
    const out: RuleSetDefaultRule = { ...rest };
    if (!binary) return out;
    if (binary.domain) {
      const dump = new DomainSet(binary.domain).dump();
      out.domain = dump.domain;
      out.domain_suffix = dump.domain_suffix;
    }
    if (binary.sourceIp) out.source_ip_cidr = prefixStrings(new IpSet(binary.sourceIp));
    if (binary.ip) out.ip_cidr = prefixStrings(new IpSet(binary.ip));
    if (binary.adguard && onAdGuard) onAdGuard(new AdGuardMatcher(binary.adguard).dump());
    return out;
  });
}

function prefixStrings(set: IpSet): string[] {
  return set.prefixes().map((p) => formatAddressPrefix(p.addr, p.bits));
}

/** Formats an address as Go's `netip.Addr.String` (an IPv4-mapped IPv6 keeps dotted form). */
export function formatGoIp(addr: Uint8Array): string {
  if (addr.length === 16) {
    let mapped = addr[10] === 0xff && addr[11] === 0xff;
    for (let i = 0; i < 10 && mapped; i++) if (addr[i] !== 0) mapped = false;
    if (mapped) return `::ffff:${addr[12]}.${addr[13]}.${addr[14]}.${addr[15]}`;
  }
  return formatIp(addr);
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/**
 * sing-box `compile`'s version choice: a version 5 set without `package_name_regex` is written
 * as 4, a version 4 set without interface address items as 3, a version 3 set without network
 * type items as 2.
 */
export function downgradeVersion(version: number, rules: readonly RuleSetRule[]): number {
  const any = (pred: (r: RuleSetDefaultRule) => boolean): boolean => {
    const walk = (list: readonly RuleSetRule[]): boolean =>
      list.some((r) => (r.type === "logical" ? walk(r.rules) : pred(r)));
    return walk(rules);
  };
  let v = version;
  if (v === 5 && !any((r) => r.package_name_regex.length > 0)) v = 4;
  if (
    v === 4 &&
    !any((r) => r.network_interface_address.length > 0 || r.default_interface_address.length > 0)
  ) v = 3;
  if (
    v === 3 &&
    !any((r) =>
      r.network_type.length > 0 || r.network_is_expensive === true ||
      r.network_is_constrained === true
    )
  ) v = 2;
  return v;
}

/**
 * Writes a binary rule-set of `version` (1 to 5). Items newer than the version are refused as
 * sing-box refuses them (`network_type` needs version 3, ...). The zlib stream is made by Node's
 * zlib at the best compression; sing-box's Go compressor may choose other bytes for the same data.
 */
export function writeSrs(rules: readonly RuleSetRule[], version: number): Uint8Array {
  if (!Number.isInteger(version) || version < 1 || version > RULE_SET_VERSION_CURRENT) {
    throw new RangeError(
      `Cannot write rule-set version ${version}: expected 1 to ${RULE_SET_VERSION_CURRENT}`,
    );
  }
  const payload = encodeRules(rules, version);
  const compressed = deflateSync(payload, { level: 9 });
  const out = new Uint8Array(4 + compressed.length);
  out.set(SRS_MAGIC);
  out[3] = version;
  out.set(compressed, 4);
  return out;
}

/** The uncompressed rule data of a binary rule-set (after the zlib layer). */
export function encodeRules(rules: readonly RuleSetRule[], version: number): Uint8Array {
  const w = new ByteWriter();
  w.uvarint(rules.length);
  rules.forEach((r, i) => writeRule(w, r, version, `rules[${i}]`));
  return w.finish();
}

/** The uncompressed rule data of a binary rule-set file (for tests and comparisons). */
export function srsPayload(bytes: Uint8Array): Uint8Array {
  if (!isSrs(bytes)) throw new FormatError("not a binary rule-set");
  const out = inflateSync(bytes.subarray(4), { maxOutputLength: MAX_SRS_DECOMPRESSED });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function writeRule(w: ByteWriter, r: RuleSetRule, version: number, where: string): void {
  if (r.type === "logical") {
    w.u8(1);
    w.u8(r.mode === "and" ? 0 : 1);
    w.uvarint(r.rules.length);
    r.rules.forEach((s, i) => writeRule(w, s, version, `${where}.rules[${i}]`));
    w.u8(r.invert ? 1 : 0);
    return;
  }
  writeDefault(w, r, version, where);
}

function writeStrings(w: ByteWriter, type: number, list: readonly string[]): void {
  if (list.length === 0) return;
  w.u8(type);
  w.uvarint(list.length);
  for (const s of list) w.string(s);
}

function writeUint16s(w: ByteWriter, type: number, list: readonly number[]): void {
  if (list.length === 0) return;
  w.u8(type);
  w.uvarint(list.length);
  for (const v of list) w.u16(v);
}

function writeTrie(w: ByteWriter, trie: ByteTrie): void {
  const louds = trie.toLouds();
  w.u8(0);
  w.uvarint(louds.leaves.length / 8);
  w.bytes(louds.leaves);
  w.uvarint(louds.labelBitmap.length / 8);
  w.bytes(louds.labelBitmap);
  w.uvarint(louds.labels.length);
  w.bytes(louds.labels);
}

function writeIpSet(w: ByteWriter, type: number, set: IpSet): void {
  w.u8(type);
  w.u8(1);
  const ranges = set.ranges();
  w.u64(ranges.length);
  for (const r of ranges) {
    const len = r.family === 4 ? 4 : 16;
    w.uvarint(len);
    w.bytes(bigIntToIp(r.first, len));
    w.uvarint(len);
    w.bytes(bigIntToIp(r.last, len));
  }
}

function writePrefix(w: ByteWriter, text: string, where: string): void {
  const p = parsePrefixText(text, true);
  if (p instanceof Invalid) throw new TypeError(`${where}: invalid prefix "${text}": ${p.reason}`);
  w.uvarint(p.addr.length);
  w.bytes(p.addr);
  w.u8(p.bits);
}

function needVersion(version: number, min: number, what: string): void {
  if (version < min) {
    throw new RangeError(`\`${what}\` rule item is only supported in version ${min} or later`);
  }
}

function queryTypeCode(v: string | number, where: string): number {
  if (typeof v === "number") return v;
  const code = typeCode(v);
  if (code === undefined) throw new TypeError(`${where}: unknown DNS query type "${v}"`);
  return code;
}

function writeDefault(w: ByteWriter, r: RuleSetDefaultRule, version: number, where: string): void {
  const b = r.binary ?? {};
  w.u8(0);
  writeUint16s(
    w,
    ITEM.queryType,
    r.query_type.map((v, i) => queryTypeCode(v, `${where}.query_type[${i}]`)),
  );
  writeStrings(w, ITEM.network, r.network);
  if (r.domain.length > 0 || r.domain_suffix.length > 0) {
    w.u8(ITEM.domain);
    writeTrie(w, new DomainSet(r.domain, r.domain_suffix, version === 1).trie);
  } else if (b.domain) {
    w.u8(ITEM.domain);
    writeTrie(w, ByteTrie.fromData(b.domain));
  }
  writeStrings(w, ITEM.domainKeyword, r.domain_keyword);
  writeStrings(w, ITEM.domainRegex, r.domain_regex);
  if (r.source_ip_cidr.length > 0) {
    const ranges = cidrRanges(r.source_ip_cidr, `${where}.source_ip_cidr`);
    writeIpSet(w, ITEM.sourceIpCidr, IpSet.fromRanges(ranges));
  } else if (b.sourceIp) writeIpSet(w, ITEM.sourceIpCidr, new IpSet(b.sourceIp));
  if (r.ip_cidr.length > 0) {
    writeIpSet(w, ITEM.ipCidr, IpSet.fromRanges(cidrRanges(r.ip_cidr, `${where}.ip_cidr`)));
  } else if (b.ip) writeIpSet(w, ITEM.ipCidr, new IpSet(b.ip));
  writeUint16s(w, ITEM.sourcePort, r.source_port);
  writeStrings(w, ITEM.sourcePortRange, r.source_port_range);
  writeUint16s(w, ITEM.port, r.port);
  writeStrings(w, ITEM.portRange, r.port_range);
  writeStrings(w, ITEM.processName, r.process_name);
  writeStrings(w, ITEM.processPath, r.process_path);
  writeStrings(w, ITEM.processPathRegex, r.process_path_regex);
  writeStrings(w, ITEM.packageName, r.package_name);
  if (r.package_name_regex.length > 0) {
    needVersion(version, 5, "package_name_regex");
    writeStrings(w, ITEM.packageNameRegex, r.package_name_regex);
  }
  if (r.network_type.length > 0) {
    needVersion(version, 3, "network_type");
    w.u8(ITEM.networkType);
    w.uvarint(r.network_type.length);
    for (const t of r.network_type) {
      const i = (INTERFACE_TYPES as readonly string[]).indexOf(t);
      if (i < 0) throw new TypeError(`${where}.network_type: unknown interface type "${t}"`);
      w.u8(i);
    }
  }
  if (r.network_is_expensive) {
    needVersion(version, 3, "network_is_expensive");
    w.u8(ITEM.networkIsExpensive);
  }
  if (r.network_is_constrained) {
    needVersion(version, 3, "network_is_constrained");
    w.u8(ITEM.networkIsConstrained);
  }
  if (r.network_interface_address.length > 0) {
    needVersion(version, 4, "network_interface_address");
    w.u8(ITEM.networkInterfaceAddress);
    w.uvarint(r.network_interface_address.length);
    for (const [key, list] of r.network_interface_address) {
      const i = (INTERFACE_TYPES as readonly string[]).indexOf(key);
      if (i < 0) {
        throw new TypeError(`${where}.network_interface_address: unknown interface type "${key}"`);
      }
      w.u8(i);
      w.uvarint(list.length);
      for (const p of list) writePrefix(w, p, `${where}.network_interface_address.${key}`);
    }
  }
  if (r.default_interface_address.length > 0) {
    needVersion(version, 4, "default_interface_address");
    w.u8(ITEM.defaultInterfaceAddress);
    w.uvarint(r.default_interface_address.length);
    for (const p of r.default_interface_address) {
      writePrefix(w, p, `${where}.default_interface_address`);
    }
  }
  writeStrings(w, ITEM.wifiSsid, r.wifi_ssid);
  writeStrings(w, ITEM.wifiBssid, r.wifi_bssid);
  if (b.adguard) {
    needVersion(version, 2, "AdGuard");
    w.u8(ITEM.adGuardDomain);
    writeTrie(w, ByteTrie.fromData(b.adguard));
  }
  w.u8(ITEM.final);
  w.u8(r.invert ? 1 : 0);
}
