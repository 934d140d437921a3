/**
 * The rule-set source format (`{"version": 3, "rules": [...]}`): reading with positions (the
 * config's strict decoder, so problems read `file:line:col: rules[0].domain_regex[0]: ...`), and
 * writing JSON the way sing-box's encoder does (two-space indent, fields in sing-box's order,
 * empty fields left out, a one-element list written as the bare value, `<`, `>` and `&` escaped).
 *
 * @module
 */

import { type ConfigDiagnostic, Diagnostics, sortDiagnostics } from "../config/diagnostic.ts";
import { decodeRuleSetSource, type RuleSetSource } from "../config/decode_rule_set.ts";
import { parseJsonc } from "../config/jsonc.ts";
import { Ctx } from "../config/reader.ts";
import type { HeadlessRule } from "../config/types.ts";
import { RECORD_TYPES, typeCode } from "../net/dns/packet.ts";
import type { RuleSetRule } from "../route/headless.ts";

export type { RuleSetSource };

/** What {@linkcode parseRuleSetSource} found; `set` only when there are no errors. */
export interface SourceParseResult {
  set?: RuleSetSource;
  errors: ConfigDiagnostic[];
  warnings: ConfigDiagnostic[];
}

/** Reads a rule-set source file's text (JSON; comments are accepted as in configs). */
export function parseRuleSetSource(text: string, file: string): SourceParseResult {
  const diag = new Diagnostics();
  const root = parseJsonc(text, file, diag);
  let set: RuleSetSource | undefined;
  if (root) set = decodeRuleSetSource(new Ctx(diag), root);
  const out: SourceParseResult = {
    errors: sortDiagnostics(diag.errors, [file]),
    warnings: sortDiagnostics(diag.warnings, [file]),
  };
  if (set && diag.errors.length === 0) out.set = set;
  return out;
}

const NAMES = new Map<number, string>(Object.entries(RECORD_TYPES).map(([k, v]) => [v, k]));

/** Go's `json.Marshal` of a string (HTML-safe). */
export function goJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) {
      out += "\\u" + c.toString(16).padStart(4, "0");
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        out += s[i]! + s[i + 1]!;
        i++;
      } else out += "\\ufffd";
    } else out += s[i];
  }
  return out + '"';
}

type JsonValue = string | number | boolean | JsonValue[] | [string, JsonValue][];

/** An object as ordered entries, so field order is kept. */
function obj(entries: [string, JsonValue | undefined][]): [string, JsonValue][] {
  return entries.filter((e): e is [string, JsonValue] => e[1] !== undefined);
}

function listable(list: readonly (string | number)[]): JsonValue | undefined {
  if (list.length === 0) return undefined;
  if (list.length === 1) return list[0]!;
  return [...list];
}

function queryTypeValue(v: string | number): string | number {
  const code = typeof v === "number" ? v : typeCode(v);
  if (code === undefined) return v;
  return NAMES.get(code) ?? code;
}

function ruleValue(r: HeadlessRule | RuleSetRule): [string, JsonValue][] {
  if (r.type === "logical") {
    return obj([
      ["type", "logical"],
      ["mode", r.mode],
      ["rules", r.rules.length > 0 ? r.rules.map(ruleValue) : undefined],
      ["invert", r.invert ? true : undefined],
    ]);
  }
  const nia = r.network_interface_address.length > 0
    ? r.network_interface_address.map(([k, v]): [string, JsonValue] => [k, listable(v) ?? []])
    : undefined;
  return obj([
    ["query_type", listable(r.query_type.map(queryTypeValue))],
    ["network", listable(r.network)],
    ["domain", listable(r.domain)],
    ["domain_suffix", listable(r.domain_suffix)],
    ["domain_keyword", listable(r.domain_keyword)],
    ["domain_regex", listable(r.domain_regex)],
    ["source_ip_cidr", listable(r.source_ip_cidr)],
    ["ip_cidr", listable(r.ip_cidr)],
    ["source_port", listable(r.source_port)],
    ["source_port_range", listable(r.source_port_range)],
    ["port", listable(r.port)],
    ["port_range", listable(r.port_range)],
    ["process_name", listable(r.process_name)],
    ["process_path", listable(r.process_path)],
    ["process_path_regex", listable(r.process_path_regex)],
    ["package_name", listable(r.package_name)],
    ["package_name_regex", listable(r.package_name_regex)],
    ["network_type", listable(r.network_type)],
    ["network_is_expensive", r.network_is_expensive ? true : undefined],
    ["network_is_constrained", r.network_is_constrained ? true : undefined],
    ["wifi_ssid", listable(r.wifi_ssid)],
    ["wifi_bssid", listable(r.wifi_bssid)],
    ["network_interface_address", nia],
    ["default_interface_address", listable(r.default_interface_address)],
    ["invert", r.invert ? true : undefined],
  ]);
}

/** A scalar or a list of scalars. */
function encodeValue(v: JsonValue, indent: string, out: string[]): void {
  if (typeof v === "string") {
    out.push(goJsonString(v));
    return;
  }
  if (typeof v === "number" || typeof v === "boolean") {
    out.push(String(v));
    return;
  }
  if (v.length === 0) {
    out.push("[]");
    return;
  }
  const inner = indent + "  ";
  out.push("[\n");
  v.forEach((item, i) => {
    out.push(inner);
    encodeValue(item as JsonValue, inner, out);
    out.push(i < v.length - 1 ? ",\n" : "\n");
  });
  out.push(indent, "]");
}

/** Keys whose values are objects (everything else that is an array is a list). */
const OBJECT_KEYS = new Set(["network_interface_address"]);

/**
 * A rule-set as sing-box's encoder writes it (`rule-set format`, `decompile`), ending in one
 * newline. Rules with prebuilt structures must be turned back into lists first.
 */
export function formatRuleSetSource(
  set: { version: number; rules: readonly (HeadlessRule | RuleSetRule)[] },
): string {
  const out: string[] = [];
  const rules = set.rules.map(ruleValue);
  const root: [string, JsonValue][] = obj([
    ["version", set.version],
    ["rules", rules.length > 0 ? rules : undefined],
  ]);
  encodeObject(root, "", out);
  return out.join("") + "\n";
}

function encodeObject(entries: [string, JsonValue][], indent: string, out: string[]): void {
  if (entries.length === 0) {
    out.push("{}");
    return;
  }
  const inner = indent + "  ";
  out.push("{\n");
  entries.forEach(([k, val], i) => {
    out.push(inner, goJsonString(k), ": ");
    if (k === "rules") encodeRules(val as [string, JsonValue][][], inner, out);
    else if (OBJECT_KEYS.has(k)) encodeObject(val as [string, JsonValue][], inner, out);
    else encodeValue(val, inner, out);
    out.push(i < entries.length - 1 ? ",\n" : "\n");
  });
  out.push(indent, "}");
}

function encodeRules(rules: [string, JsonValue][][], indent: string, out: string[]): void {
  const inner = indent + "  ";
  out.push("[\n");
  rules.forEach((r, i) => {
    out.push(inner);
    encodeObject(r, inner, out);
    out.push(i < rules.length - 1 ? ",\n" : "\n");
  });
  out.push(indent, "]");
}
