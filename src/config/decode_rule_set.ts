/**
 * Rule-sets in the config (`route.rule_set[]`) and their rules ("headless rules", sing-box
 * `option/rule_set.go`): the fields a rule-set rule may have, checked as sing-box checks them,
 * plus the rule-set source format (`{"version": 3, "rules": [...]}`), which `src/ruleset/` reads
 * with the same decoder so that a local `.json` set and an inline set report the same problems.
 *
 * @module
 */

import type { JsonNode } from "./jsonc.ts";
import type { Ctx, Obj } from "./reader.ts";
import { networkList, sourceOf } from "./decode_rule.ts";
import type {
  HeadlessDefaultRule,
  HeadlessLogicalRule,
  HeadlessRule,
  RuleSetOptions,
} from "./types.ts";
import { Invalid, parsePortRange, parsePrefixText } from "./values.ts";
import { decodeHttpClient, httpClientExtras } from "./decode_sections.ts";

/** The newest rule-set source format version (sing-box 1.14: version 5, `package_name_regex`). */
export const RULE_SET_VERSION_CURRENT = 5;

/** `network_type` values (sing-box `C.InterfaceType`), in their binary order. */
export const INTERFACE_TYPES = ["wifi", "cellular", "ethernet", "other"] as const;

/** A headless default rule with every list empty. */
export function emptyHeadlessRule(): HeadlessDefaultRule {
  return {
    type: "default",
    query_type: [],
    network: [],
    domain: [],
    domain_suffix: [],
    domain_keyword: [],
    domain_regex: [],
    source_ip_cidr: [],
    ip_cidr: [],
    source_port: [],
    source_port_range: [],
    port: [],
    port_range: [],
    process_name: [],
    process_path: [],
    process_path_regex: [],
    package_name: [],
    package_name_regex: [],
    network_type: [],
    wifi_ssid: [],
    wifi_bssid: [],
    network_interface_address: [],
    default_interface_address: [],
  };
}

/** True when a default rule has no condition (sing-box: "missing conditions"). */
export function isEmptyHeadlessRule(r: HeadlessDefaultRule): boolean {
  for (const [k, v] of Object.entries(r)) {
    if (k === "type" || k === "invert" || k === "source") continue;
    if (Array.isArray(v) ? v.length > 0 : v === true) return false;
  }
  return true;
}

function regexes(o: Obj, key: string): string[] {
  return o.listable(key, (n, p) => {
    const s = o.ctx.string(n, p);
    if (s === undefined) return undefined;
    try {
      new RegExp(s);
    } catch (e) {
      o.ctx.error(n, p, `invalid regular expression ${JSON.stringify(s)}: ${(e as Error).message}`);
      return undefined;
    }
    return s;
  });
}

/** Strings that must not be empty (sing-box: "empty item is not allowed"). */
function nonEmptyStrings(o: Obj, key: string): string[] {
  return o.listable(key, (n, p) => {
    const s = o.ctx.string(n, p);
    if (s === "") {
      o.ctx.error(n, p, "empty item is not allowed");
      return undefined;
    }
    return s;
  });
}

/** CIDR strings (a bare address means one address), checked and kept as written. */
function cidrs(ctx: Ctx, node: JsonNode, path: string): string[] {
  return ctx.listable(node, path, (n, p) => {
    const s = ctx.string(n, p);
    if (s === undefined) return undefined;
    const v = parsePrefixText(s, true);
    if (v instanceof Invalid) {
      ctx.error(n, p, `invalid prefix ${JSON.stringify(s)}: ${v.reason}`);
      return undefined;
    }
    return s;
  });
}

function cidrList(o: Obj, key: string): string[] {
  const at = o.at(key);
  return at ? cidrs(o.ctx, at.node, at.path) : [];
}

function portRanges(o: Obj, key: string): string[] {
  return o.listable(key, (n, p) => {
    const s = o.ctx.string(n, p);
    if (s === undefined) return undefined;
    const v = parsePortRange(s);
    if (v instanceof Invalid) {
      o.ctx.error(n, p, `invalid range ${JSON.stringify(s)}: ${v.reason}`);
      return undefined;
    }
    return s;
  });
}

function readDefault(o: Obj): HeadlessDefaultRule {
  const ctx = o.ctx;
  const r = emptyHeadlessRule();
  r.query_type = o.listable("query_type", (n, p) => {
    if (n.kind === "number") return ctx.int(n, p, 0, 65535);
    return ctx.string(n, p);
  });
  r.network = networkList(o);
  r.domain = nonEmptyStrings(o, "domain");
  r.domain_suffix = nonEmptyStrings(o, "domain_suffix");
  r.domain_keyword = o.strings("domain_keyword");
  r.domain_regex = regexes(o, "domain_regex");
  r.source_ip_cidr = cidrList(o, "source_ip_cidr");
  r.ip_cidr = cidrList(o, "ip_cidr");
  r.source_port = o.ints("source_port", 0, 65535);
  r.source_port_range = portRanges(o, "source_port_range");
  r.port = o.ints("port", 0, 65535);
  r.port_range = portRanges(o, "port_range");
  r.process_name = o.strings("process_name");
  r.process_path = o.strings("process_path");
  r.process_path_regex = regexes(o, "process_path_regex");
  r.package_name = o.strings("package_name");
  r.package_name_regex = regexes(o, "package_name_regex");
  r.network_type = o.listable("network_type", (n, p) => ctx.enumOf(n, p, INTERFACE_TYPES));
  const expensive = o.bool("network_is_expensive");
  if (expensive !== undefined) r.network_is_expensive = expensive;
  const constrained = o.bool("network_is_constrained");
  if (constrained !== undefined) r.network_is_constrained = constrained;
  r.wifi_ssid = o.strings("wifi_ssid");
  r.wifi_bssid = o.strings("wifi_bssid");
  const nia = o.object("network_interface_address");
  if (nia) {
    for (const prop of nia.node.props) {
      nia.known(prop.key);
      if (prop.value.kind === "null") continue;
      const keyNode = { kind: "string", value: prop.key, pos: prop.keyPos } as JsonNode;
      const type = ctx.enumOf(keyNode, nia.p(prop.key), INTERFACE_TYPES);
      const list = cidrs(ctx, prop.value, nia.p(prop.key));
      if (type) r.network_interface_address.push([type, list]);
    }
  }
  r.default_interface_address = cidrList(o, "default_interface_address");
  const invert = o.bool("invert");
  if (invert !== undefined) r.invert = invert;
  for (const key of VERDICT_FIELDS) o.feature(key, `rule.${key}`);
  return r;
}

/** Rule-set fields whose verdict (`src/config/support.ts`) is reported where they are used. */
const VERDICT_FIELDS = [
  "process_name",
  "process_path",
  "process_path_regex",
  "package_name",
  "package_name_regex",
  "network_type",
  "network_is_expensive",
  "network_is_constrained",
  "wifi_ssid",
  "wifi_bssid",
  "network_interface_address",
  "default_interface_address",
] as const;

/**
 * Decodes one rule-set rule (default or logical). Returns undefined when the rule cannot be used
 * (the problem is reported). A rule without any condition is an error, as in sing-box.
 */
export function decodeHeadlessRule(
  ctx: Ctx,
  node: JsonNode,
  path: string,
): HeadlessRule | undefined {
  const o = ctx.object(node, path);
  if (!o) return undefined;
  o.strict("type");
  const typed = o.enumOf("type", ["", "default", "logical"] as const);
  // An unknown type is the one error: the rule's keys are not also reported as unknown.
  if (typed === undefined && o.has("type")) return undefined;
  const type = typed ?? "default";
  if (type === "logical") {
    const mode = o.enumOf("mode", ["and", "or"] as const);
    if (!o.has("mode")) {
      ctx.error(o.node, o.path, 'missing "mode" ("and" or "or") for a logical rule');
    }
    const items = o.items("rules");
    const rules = items.map((r) => decodeHeadlessRule(ctx, r.node, r.path))
      .filter((r): r is HeadlessRule => r !== undefined);
    if (items.length === 0) ctx.error(o.node, o.path, 'missing conditions: "rules" is empty');
    const invert = o.bool("invert");
    o.done(" in a logical rule-set rule");
    if (!mode) return undefined;
    const rule: HeadlessLogicalRule = { type: "logical", mode, rules, source: sourceOf(o) };
    if (invert !== undefined) rule.invert = invert;
    return rule;
  }
  const errorsBefore = ctx.diag.errors.length;
  const rule = readDefault(o);
  o.done(" in a rule-set rule");
  if (isEmptyHeadlessRule(rule) && ctx.diag.errors.length === errorsBefore) {
    ctx.error(o.node, o.path, "missing conditions: the rule has no match fields");
  }
  rule.source = sourceOf(o);
  return rule;
}

/** The rule-set source format: `{"version": N, "rules": [...]}`. */
export interface RuleSetSource {
  version: number;
  rules: HeadlessRule[];
}

/**
 * Decodes a rule-set source file's root object (sing-box `PlainRuleSetCompat`): `version` 1 to
 * {@linkcode RULE_SET_VERSION_CURRENT} is required; unknown fields are errors.
 */
export function decodeRuleSetSource(ctx: Ctx, node: JsonNode): RuleSetSource | undefined {
  const o = ctx.object(node, "");
  if (!o) return undefined;
  const versionAt = o.at("version");
  let version: number | undefined;
  if (!versionAt) {
    ctx.error(
      o.node,
      "(root)",
      `missing rule-set version ("version": 1 to ${RULE_SET_VERSION_CURRENT})`,
    );
  } else if (versionAt.node.kind !== "number" || !Number.isInteger(versionAt.node.value)) {
    ctx.expected(versionAt.node, versionAt.path, "a version number");
  } else {
    const v = versionAt.node.value;
    if (v === 0) ctx.error(versionAt.node, versionAt.path, "missing rule-set version");
    else if (v < 1 || v > RULE_SET_VERSION_CURRENT) {
      ctx.error(
        versionAt.node,
        versionAt.path,
        `unknown rule-set version: ${v} (tunbox reads versions 1 to ${RULE_SET_VERSION_CURRENT})`,
      );
    } else version = v;
  }
  const rules = o.items("rules").map((r) => decodeHeadlessRule(ctx, r.node, r.path))
    .filter((r): r is HeadlessRule => r !== undefined);
  o.done(" in a rule-set file");
  if (version === undefined) return undefined;
  return { version, rules };
}

function pick(p: { file: string; line: number; column: number }) {
  return { file: p.file, line: p.line, column: p.column };
}

/** sing-box's default format for a path or URL: `.json` → source, `.srs` → binary. */
export function ruleSetFormatOf(pathOrUrl: string): "source" | "binary" | undefined {
  let path = pathOrUrl;
  try {
    path = new URL(pathOrUrl).pathname;
  } catch {
    // not a URL: a file path
  }
  if (path.endsWith(".json")) return "source";
  if (path.endsWith(".srs")) return "binary";
  return undefined;
}

/**
 * Decodes one `route.rule_set[]` entry. sing-box 1.14 accepts a list of tags (one rule-set per
 * tag, with `{tag}` in `path`/`url`/`initial_path` replaced by each), so this returns a list.
 */
export function decodeRuleSet(o: Obj, index: number): RuleSetOptions[] {
  const ctx = o.ctx;
  o.strict("type", "tag", "format");
  // sing-box reads a missing or empty "type" as "inline".
  const typeAt = o.at("type");
  const type = typeAt ? o.enumOf("type", ["", "inline", "local", "remote"] as const) : "";
  const kind = type === "" ? "inline" : type;
  if (kind !== undefined) {
    ctx.support(`rule_set.${kind}`, typeAt?.node ?? o.node, typeAt?.path ?? o.path);
  }
  const tagAt = o.at("tag");
  const tags = tagAt?.node.kind === "array" ? o.strings("tag") : [o.string("tag") ?? ""];
  if (tags.length === 0 || tags.some((t) => t === "")) {
    ctx.error(tagAt?.node ?? o.node, tagAt?.path ?? o.path, 'missing "tag"');
  }
  if (tagAt?.node.kind === "array") {
    tagAt.node.items.forEach((n, i) => {
      if (n.kind === "string" && n.value !== "") {
        ctx.define("rule-set", n.value, n, `${tagAt.path}[${i}]`);
      }
    });
  } else if (tags[0]) ctx.define("rule-set", tags[0], tagAt!.node, tagAt!.path);
  const out: RuleSetOptions = { type: kind ?? "inline", tag: tags[0] || String(index), rules: [] };
  const format = o.enumOf("format", ["", "source", "binary"] as const);
  const path = kind === "local" ? o.string("path") : undefined;
  const url = kind === "remote" ? o.string("url") : undefined;
  if (path !== undefined) out.path = path;
  if (url !== undefined) out.url = url;
  if (kind === "remote") {
    const initial = o.optionalString("initial_path");
    if (initial !== undefined) out.initial_path = initial;
    o.feature("initial_path", "rule_set.initial_path");
    const detour = o.tagRef("download_detour", "outbound");
    if (detour !== undefined) out.download_detour = detour;
    const client = o.at("http_client");
    if (client && client.node.kind === "string") {
      const tag = o.tagRef("http_client", "http client");
      if (tag !== undefined) out.http_client = tag;
    } else if (client) {
      const c = ctx.object(client.node, client.path);
      if (c) {
        out.http_client = decodeHttpClient(c, "");
        c.done(" in an HTTP client");
        if (httpClientExtras(out.http_client)) {
          ctx.support("rule_set.http_client", o.keyPos("http_client"), o.p("http_client"));
        }
      }
    }
    const interval = o.duration("update_interval");
    if (interval !== undefined && interval > 0) out.update_interval = interval;
  }
  // No "type" but a "path" or "url" and no "rules": sing-box reads it as inline and refuses the
  // path; one error that says which type was meant instead of "empty" plus an unknown field.
  const meant = type === "" && !o.has("rules")
    ? (o.has("path") ? "local" : o.has("url") ? "remote" : undefined)
    : undefined;
  if (meant !== undefined) {
    const key = meant === "local" ? "path" : "url";
    ctx.error(
      typeAt?.node ?? o.node,
      typeAt?.path ?? o.path,
      `a rule-set without "type" is inline (sing-box reads it so) and takes no "${key}": add "type": "${meant}"`,
    );
    return [];
  }
  if (kind === "inline") {
    const items = o.items("rules");
    out.rules = items.map((r) => decodeHeadlessRule(ctx, r.node, r.path))
      .filter((r): r is HeadlessRule => r !== undefined);
    if (items.length === 0) {
      ctx.error(o.node, o.path, 'empty inline rule-set: "rules" needs at least one rule');
    }
  }
  o.known("version");
  // An unknown type is the one error: its other keys are not reported as unknown too.
  if (kind !== undefined) o.done(` in a ${kind} rule-set`);
  if (kind === "local" && !path) {
    ctx.error(o.node, o.path, 'missing "path" for a local rule-set');
  }
  if (kind === "remote" && !url) {
    ctx.error(o.node, o.path, 'missing "url" for a remote rule-set');
  }
  if (kind === "remote" && url) {
    try {
      const u = new URL(url.replaceAll("{tag}", "tag"));
      if (u.protocol !== "http:" && u.protocol !== "https:") {
        ctx.error(o.keyPos("url"), o.p("url"), `"${url}" is not an http or https URL`);
      }
    } catch {
      ctx.error(o.keyPos("url"), o.p("url"), `invalid URL ${JSON.stringify(url)}`);
    }
  }
  if (kind === "local" || kind === "remote") {
    const given = format === "" ? undefined : format;
    const f = given ?? ruleSetFormatOf(path ?? url ?? "");
    if (f === undefined && (path || url)) {
      ctx.error(
        o.node,
        o.path,
        `missing "format" ("source" or "binary"): the ${
          kind === "local" ? "path" : "URL"
        } does not end in .json or .srs`,
      );
    }
    if (f !== undefined) out.format = f;
  }
  if (!kind || tags.every((t) => t === "")) return [];
  const named = o.at(kind === "local" ? "path" : kind === "remote" ? "url" : "");
  out.source = named
    ? { ...pick(named.node.pos), path: named.path }
    : { ...pick(o.pos), path: o.path };
  if (tags.length > 1) {
    if (kind === "inline") {
      ctx.error(tagAt!.node, tagAt!.path, "a list of tags cannot be used with an inline rule-set");
      return [];
    }
    const templated = [out.path, out.url, out.initial_path].filter((x) => x !== undefined);
    if (!templated.some((x) => x!.includes("{tag}"))) {
      ctx.error(
        tagAt!.node,
        tagAt!.path,
        'a list of tags needs "{tag}" in "path", "url" or "initial_path" (replaced by each tag)',
      );
      return [];
    }
  }
  const sub = (x: string | undefined, tag: string) => x?.replaceAll("{tag}", tag);
  return tags.filter((t) => t !== "").map((tag) => {
    const one: RuleSetOptions = { ...out, tag };
    const p = sub(out.path, tag), u = sub(out.url, tag), ip = sub(out.initial_path, tag);
    if (p !== undefined) one.path = p;
    if (u !== undefined) one.url = u;
    if (ip !== undefined) one.initial_path = ip;
    ctx.where.set(one, o);
    return one;
  });
}
