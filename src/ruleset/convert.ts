/**
 * `rule-set convert`: rule-sets from other formats.
 *
 * - `adguard`: an AdGuard DNS filter, as sing-box converts it (`common/convertor/adguard`):
 *   a list of plain domains becomes one `domain` rule; otherwise the patterns go into the
 *   AdGuard matcher, `@@` exceptions and `$important` rules into logical rules around it,
 *   `/regex/` into `domain_regex`; hosts lines (`0.0.0.0 ads.example`) are taken; rules with
 *   paths, ports, IPs or other modifiers are skipped (counted in a warning).
 * - `geosite`: sing-box's `geosite.db` (version 0: a code index, then per code its items of
 *   type domain / suffix / keyword / regex); one set per code, or only `category`.
 * - `geoip`: a MaxMind DB (sing-box's `geoip.db`, whose data is the country code; GeoLite2
 *   Country, whose data is a record with `country.iso_code`); one set per code, or only
 *   `category`.
 * - `domains`: one entry per line: `example.com` or `domain:example.com` (the domain and its
 *   subdomains), `full:example.com` (exactly), `.example.com` (subdomains only), `+.example.com`,
 *   `keyword:`, `regexp:`, and Clash's `DOMAIN,`, `DOMAIN-SUFFIX,`, `DOMAIN-KEYWORD,`,
 *   `DOMAIN-REGEX,` lines; `#`, `!` and `//` start comments.
 * - `cidrs`: one CIDR or address per line (Clash's `IP-CIDR,`/`IP-CIDR6,` lines too).
 *
 * @module
 */

import { emptyHeadlessRule } from "../config/decode_rule_set.ts";
import { isDomainName } from "../config/values.ts";
import { formatPrefix, type IpRange, mergeRanges, rangeToPrefixes } from "../net/ip.ts";
import { AdGuardMatcher } from "../route/adguard.ts";
import type { RuleSetDefaultRule, RuleSetRule } from "../route/headless.ts";
import { IpSet } from "../route/ip_set.ts";
import { ByteReader, FormatError } from "./bytes.ts";
import { cidrRanges } from "../route/headless.ts";
import { readMmdb } from "./mmdb.ts";

/** The input types `convert` reads. */
export const CONVERT_TYPES = ["adguard", "geosite", "geoip", "domains", "cidrs"] as const;
export type ConvertType = typeof CONVERT_TYPES[number];

/** One converted rule-set. `name` is "" for single-set inputs, else `geosite-cn` etc. */
export interface ConvertedSet {
  name: string;
  version: number;
  rules: RuleSetRule[];
  /** What was converted, for the CLI's output. */
  summary: string;
}

/** Options of {@linkcode convertInput}. */
export interface ConvertOptions {
  /** geosite/geoip: only this code. */
  category?: string;
  onWarning?: (message: string) => void;
}

/** Converts `bytes` of `type`. Throws with a message naming what is wrong. */
export function convertInput(
  type: ConvertType,
  bytes: Uint8Array,
  options: ConvertOptions = {},
): ConvertedSet[] {
  switch (type) {
    case "adguard":
      return [convertAdGuard(new TextDecoder().decode(bytes), options)];
    case "domains":
      return [convertDomainList(new TextDecoder().decode(bytes), options)];
    case "cidrs":
      return [convertCidrList(new TextDecoder().decode(bytes), options)];
    case "geosite":
      return convertGeosite(bytes, options);
    case "geoip":
      return convertGeoip(bytes, options);
  }
}

function lines(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("#") && !l.startsWith("!") && !l.startsWith("//")
  );
}

function headless(fields: Partial<RuleSetDefaultRule>): RuleSetDefaultRule {
  return { ...emptyHeadlessRule(), ...fields };
}

// --- plain lists -------------------------------------------------------------------------------

/** Reads a domain list (see the module documentation). */
export function convertDomainList(text: string, options: ConvertOptions = {}): ConvertedSet {
  const r = headless({});
  let skipped = 0;
  for (const raw of lines(text)) {
    const clash = /^(DOMAIN|DOMAIN-SUFFIX|DOMAIN-KEYWORD|DOMAIN-REGEX),([^,]+)/i.exec(raw);
    let kind = "", value = raw;
    if (clash) [kind, value] = [clash[1]!.toUpperCase(), clash[2]!.trim()];
    else {
      const m = /^(full|domain|keyword|regexp):(.*)$/.exec(raw);
      if (m) [kind, value] = [m[1]!, m[2]!.split(/\s|@/)[0]!];
    }
    switch (kind) {
      case "full":
      case "DOMAIN":
        r.domain.push(value);
        continue;
      case "keyword":
      case "DOMAIN-KEYWORD":
        r.domain_keyword.push(value);
        continue;
      case "regexp":
      case "DOMAIN-REGEX":
        r.domain_regex.push(value);
        continue;
    }
    if (value.startsWith("+.")) value = value.slice(2);
    const bare = value.startsWith(".") ? value.slice(1) : value;
    if (!isDomainName(bare)) {
      skipped++;
      continue;
    }
    r.domain_suffix.push(value);
  }
  if (skipped > 0) options.onWarning?.(`${skipped} line(s) are not domains and were skipped`);
  const n = r.domain.length + r.domain_suffix.length + r.domain_keyword.length +
    r.domain_regex.length;
  if (n === 0) throw new FormatError("the list has no domains");
  return { name: "", version: 2, rules: [r], summary: `${n} domain entries` };
}

/** Reads a CIDR list (see the module documentation). */
export function convertCidrList(text: string, options: ConvertOptions = {}): ConvertedSet {
  const cidrs: string[] = [];
  let skipped = 0;
  for (const raw of lines(text)) {
    const clash = /^IP-CIDR6?,([^,]+)/i.exec(raw);
    const value = clash ? clash[1]!.trim() : raw.split(/\s/)[0]!;
    try {
      cidrRanges([value], "line");
      cidrs.push(value);
    } catch {
      skipped++;
    }
  }
  if (skipped > 0) options.onWarning?.(`${skipped} line(s) are not CIDRs and were skipped`);
  if (cidrs.length === 0) throw new FormatError("the list has no CIDRs");
  const set = IpSet.fromRanges(cidrRanges(cidrs, "cidrs"));
  return {
    name: "",
    version: 2,
    rules: [headless({ binary: { ip: set.data } })],
    summary: `${cidrs.length} CIDRs in ${set.rangeCount} ranges`,
  };
}

// --- AdGuard -----------------------------------------------------------------------------------

interface AdGuardLine {
  line: string;
  raw: boolean;
  /** A hosts-file line: the exact name (`|name^`). */
  hosts?: boolean;
  exclude: boolean;
  regexp: boolean;
  important: boolean;
}

const HOSTS_LINE = /^(0\.0\.0\.0|127\.0\.0\.1|::1?|::)\s+([^\s#]+)/;

/** Reads an AdGuard DNS filter as sing-box does (see the module documentation). */
export function convertAdGuard(text: string, options: ConvertOptions = {}): ConvertedSet {
  const parsed: AdGuardLine[] = [];
  let ignored = 0;
  for (const original of text.split(/\r?\n/)) {
    let line = original.trim();
    if (line === "" || line.startsWith("!") || line.startsWith("#")) continue;
    if (isDomainName(line)) {
      parsed.push({ line, raw: true, exclude: false, regexp: false, important: false });
      continue;
    }
    const host = HOSTS_LINE.exec(line);
    if (host) {
      if (isDomainName(host[2]!) && host[2] !== "localhost") {
        parsed.push({
          line: host[2]!,
          raw: true,
          hosts: true,
          exclude: false,
          regexp: false,
          important: false,
        });
      }
      continue;
    }
    let important = false, exclude = false, regexp = false;
    if (!line.startsWith("/") && line.includes("$")) {
      const params = line.slice(line.indexOf("$") + 1).split(",");
      let ok = true;
      for (const p of params) {
        const [k, v] = p.split("=");
        if (k === "important") important = true;
        else if (k === "dnsrewrite" && v !== undefined && /^(0\.0\.0\.0|::)$/.test(v)) continue;
        else ok = false;
      }
      if (!ok) {
        ignored++;
        continue;
      }
      line = line.slice(0, line.indexOf("$"));
    }
    if (line.startsWith("@@")) {
      line = line.slice(2);
      exclude = true;
    }
    if (line.endsWith("|")) line = line.slice(0, -1);
    let body = line.replace(/^\|\|?/, "").replace(/\^$/, "");
    if (body.startsWith("/") && body.endsWith("/") && body.length > 2) {
      regexp = true;
      body = body.slice(1, -1);
      line = body;
    } else {
      if (body.includes("://")) {
        body = body.slice(body.indexOf("://") + 3);
        line = "||" + line.slice(line.indexOf("://") + 3);
      }
      const check = (body.startsWith(".") || body.startsWith("-") ? "r" + body : body)
        .replaceAll("*", "x");
      if (body === "" || /[\/?&\[\]()!#~]/.test(body) || !isDomainName(check)) {
        ignored++;
        continue;
      }
    }
    parsed.push({ line, raw: false, exclude, regexp, important });
  }
  if (parsed.length === 0) {
    throw new FormatError("AdGuard rule-set is empty or all rules are unsupported");
  }
  if (ignored > 0) {
    options.onWarning?.(`parsed rules: ${parsed.length}/${parsed.length + ignored}`);
  }
  const summary = `${parsed.length} AdGuard rules${ignored > 0 ? ` (${ignored} unsupported)` : ""}`;
  if (parsed.every((p) => p.raw)) {
    return {
      name: "",
      version: 2,
      rules: [headless({ domain: parsed.map((p) => p.line) })],
      summary,
    };
  }
  const pick = (important: boolean, exclude: boolean): RuleSetDefaultRule => {
    const set = parsed.filter((p) => p.important === important && p.exclude === exclude);
    const patterns = set.filter((p) => !p.regexp).map((p) => p.hosts ? `|${p.line}^` : p.line);
    const rule = headless({ domain_regex: set.filter((p) => p.regexp).map((p) => p.line) });
    if (patterns.length > 0) rule.binary = { adguard: new AdGuardMatcher(patterns).trie.data };
    return rule;
  };
  const has = (r: RuleSetDefaultRule) => r.domain_regex.length > 0 || r.binary !== undefined;
  let current: RuleSetRule = pick(false, false);
  const exclude = pick(false, true);
  if (has(exclude)) {
    current = { type: "logical", mode: "and", rules: [{ ...exclude, invert: true }, current] };
  }
  const important = pick(true, false);
  if (has(important)) current = { type: "logical", mode: "or", rules: [important, current] };
  const importantExclude = pick(true, true);
  if (has(importantExclude)) {
    current = {
      type: "logical",
      mode: "and",
      rules: [{ ...importantExclude, invert: true }, current],
    };
  }
  return { name: "", version: 2, rules: [current], summary };
}

// --- geosite.db --------------------------------------------------------------------------------

const GEOSITE_KINDS = ["domain", "domain_suffix", "domain_keyword", "domain_regex"] as const;

/** Reads sing-box's `geosite.db`: code → items. Throws {@linkcode FormatError}. */
export function readGeosite(bytes: Uint8Array): Map<string, { type: number; value: string }[]> {
  const r = new ByteReader(bytes);
  const version = r.u8("geosite version");
  if (version !== 0) throw new FormatError(`unknown geosite database version ${version}`);
  const count = r.count("code count", 3);
  const index: { code: string; offset: number; length: number }[] = [];
  for (let i = 0; i < count; i++) {
    const code = r.string("code");
    index.push({ code, offset: r.uvarint("code offset"), length: r.uvarint("item count") });
  }
  const base = r.pos;
  const out = new Map<string, { type: number; value: string }[]>();
  for (const e of index) {
    const items = new ByteReader(bytes);
    items.pos = base + e.offset;
    if (items.pos > bytes.length) {
      throw new FormatError(`geosite code ${e.code}: offset out of range`);
    }
    const list: { type: number; value: string }[] = [];
    for (let i = 0; i < e.length; i++) {
      const type = items.u8(`geosite ${e.code} item type`);
      list.push({ type, value: items.string(`geosite ${e.code} item`) });
    }
    out.set(e.code, list);
  }
  return out;
}

function convertGeosite(bytes: Uint8Array, options: ConvertOptions): ConvertedSet[] {
  const db = readGeosite(bytes);
  const codes = options.category ? [options.category.toLowerCase()] : [...db.keys()].sort();
  return codes.map((code) => {
    const items = db.get(code);
    if (!items) throw new FormatError(`code ${code} not exists!`);
    const r = headless({});
    for (const it of items) {
      const kind = GEOSITE_KINDS[it.type];
      if (kind) r[kind].push(it.value);
    }
    return { name: `geosite-${code}`, version: 2, rules: [r], summary: `${items.length} items` };
  });
}

// --- geoip (MaxMind DB) ------------------------------------------------------------------------

/** The country code of a geoip record: sing-geoip's string, or GeoLite2's `country.iso_code`. */
function codeOf(data: unknown): string | undefined {
  if (typeof data === "string") return data.toLowerCase();
  if (data && typeof data === "object") {
    const d = data as Record<string, { iso_code?: unknown } | undefined>;
    const iso = d.country?.iso_code ?? d.registered_country?.iso_code;
    if (typeof iso === "string") return iso.toLowerCase();
  }
  return undefined;
}

function convertGeoip(bytes: Uint8Array, options: ConvertOptions): ConvertedSet[] {
  const { networks } = readMmdb(bytes);
  const byCode = new Map<string, IpRange[]>();
  for (const n of networks) {
    const code = codeOf(n.data);
    if (code === undefined) continue;
    const list = byCode.get(code);
    if (list) list.push(n.range);
    else byCode.set(code, [n.range]);
  }
  const codes = options.category ? [options.category.toLowerCase()] : [...byCode.keys()].sort();
  return codes.map((code) => {
    const ranges = byCode.get(code);
    if (!ranges) throw new FormatError(`country code not found: ${code}`);
    const merged = mergeRanges(ranges);
    const prefixes = merged.flatMap(rangeToPrefixes);
    return {
      name: `geoip-${code}`,
      version: 2,
      rules: [headless({ ip_cidr: prefixes.map(formatPrefix) })],
      summary: `${prefixes.length} CIDRs`,
    };
  });
}
