/**
 * The strict decoder: a parsed (and merged) JSON tree to {@linkcode Options}, then legacy
 * upgrades, cross-reference checks and warnings. Every problem is collected; decoding goes on
 * past errors so one run reports them all.
 *
 * @module
 */

import { Diagnostics } from "./diagnostic.ts";
import { type JsonNode, parseJsonc } from "./jsonc.ts";
import { Ctx, Obj } from "./reader.ts";
import { decodeDns, legacyDnsHints } from "./decode_dns.ts";
import { decodeInbound } from "./decode_inbound.ts";
import { decodeOutbound } from "./decode_outbound.ts";
import { decodeRoute } from "./decode_route.ts";
import { applyHttpClients, decodeSections } from "./decode_sections.ts";
import { fragmentMessage } from "./fragment.ts";
import { upgradeLegacy } from "./legacy.ts";
import { Invalid, parseListenAddress } from "./values.ts";
import { validate, type ValidateOptions } from "./validate.ts";
import { lintClashMode, lintFakeIp, lintRules } from "./lint.ts";
import type {
  ExperimentalOptions,
  InboundOptions,
  LogLevel,
  LogOptions,
  Options,
  OutboundOptions,
} from "./types.ts";

/** Log levels in the `log.level` field. */
export const LOG_LEVELS = [
  "trace",
  "debug",
  "info",
  "warn",
  "error",
  "fatal",
  "panic",
] as const satisfies readonly LogLevel[];

function decodeLog(o: Obj | undefined): LogOptions {
  const log: LogOptions = {};
  if (!o) return log;
  const disabled = o.bool("disabled");
  if (disabled !== undefined) log.disabled = disabled;
  const level = o.enumOf("level", LOG_LEVELS, { warning: "warn" });
  if (level !== undefined) log.level = level;
  const output = o.string("output");
  if (output !== undefined) log.output = output;
  const ts = o.bool("timestamp");
  if (ts !== undefined) log.timestamp = ts;
  o.done(" in log");
  return log;
}

function decodeExperimental(o: Obj | undefined): ExperimentalOptions {
  const ex: ExperimentalOptions = {};
  if (!o) return ex;
  const c = o.object("clash_api");
  if (c) {
    const api: NonNullable<ExperimentalOptions["clash_api"]> = {
      access_control_allow_origin: c.strings("access_control_allow_origin"),
    };
    const set = <K extends keyof typeof api>(k: K, v: (typeof api)[K] | undefined) => {
      if (v !== undefined) api[k] = v;
    };
    const controller = c.at("external_controller");
    set("external_controller", c.string("external_controller"));
    if (controller?.node.kind === "string" && controller.node.value !== "") {
      const parsed = parseListenAddress(controller.node.value);
      if (parsed instanceof Invalid) {
        c.ctx.error(
          controller.node,
          controller.path,
          `invalid external_controller ${JSON.stringify(controller.node.value)}: ${parsed.reason}`,
        );
      }
    }
    set("external_ui", c.string("external_ui"));
    set("external_ui_download_url", c.string("external_ui_download_url"));
    set("external_ui_download_detour", c.tagRef("external_ui_download_detour", "outbound"));
    set("secret", c.string("secret"));
    set("default_mode", c.string("default_mode"));
    c.feature("default_mode", "experimental.clash_api.default_mode");
    c.feature("external_ui", "experimental.clash_api.external_ui");
    set("access_control_allow_private_network", c.bool("access_control_allow_private_network"));
    // sing-box still reads these 1.8-era keys and refuses to start only when one is set (true or a
    // non-empty string: `"store_selected": false` passes), with one error for them all.
    const legacy: string[] = [];
    for (const k of ["store_mode", "store_selected", "store_fakeip", "cache_file", "cache_id"]) {
      c.known(k);
      const v = c.find(k)?.value;
      if ((v?.kind === "boolean" && v.value) || (v?.kind === "string" && v.value !== "")) {
        legacy.push(k);
      }
    }
    const first = legacy[0] === undefined ? undefined : c.find(legacy[0]);
    if (first) {
      const keys = legacy.map((k) => JSON.stringify(k)).join(", ");
      c.ctx.error(
        first.keyPos,
        c.p(legacy[0]!),
        `the Clash API's cache fields (${keys}) were moved in sing-box 1.8.0, which refuses ` +
          'them when set; use "experimental.cache_file": {"enabled": true' +
          (legacy.includes("store_fakeip") ? ', "store_fakeip": true' : "") + "} instead",
      );
    }
    c.done(" in clash_api");
    ex.clash_api = api;
  }
  const f = o.object("cache_file");
  if (f) {
    const cache: NonNullable<ExperimentalOptions["cache_file"]> = {};
    const set = <K extends keyof typeof cache>(k: K, v: (typeof cache)[K] | undefined) => {
      if (v !== undefined) cache[k] = v;
    };
    set("enabled", f.bool("enabled"));
    set("path", f.string("path"));
    set("cache_id", f.string("cache_id"));
    set("store_fakeip", f.bool("store_fakeip"));
    set("store_rdrc", f.bool("store_rdrc"));
    set("store_dns", f.bool("store_dns"));
    f.feature("store_dns", "experimental.cache_file.store_dns");
    set("rdrc_timeout", f.duration("rdrc_timeout"));
    f.done(" in cache_file");
    ex.cache_file = cache;
  }
  if (c) c.ctx.where.set(ex.clash_api!, c);
  if (ex.cache_file?.enabled) o.feature("cache_file", "experimental.cache_file");
  else o.known("cache_file");
  o.feature("v2ray_api", "experimental.v2ray_api");
  o.feature("debug", "experimental.debug");
  o.done(" in experimental");
  return ex;
}

/** Decodes a root node into options; diagnostics go to `diag`. */
export function decodeRoot(
  root: JsonNode,
  diag: Diagnostics,
  validateOptions: ValidateOptions = {},
): Options {
  const ctx = new Ctx(diag, validateOptions.os ?? Deno.build.os);
  const options: Options = {
    log: {},
    dns: { servers: [], rules: [] },
    endpoints: [],
    inbounds: [],
    outbounds: [],
    route: { rules: [], rule_set: [] },
    services: [],
    http_clients: [],
    experimental: {},
  };
  // A piece of a config (an inbound as the sing-box docs print it, ...): one error saying where
  // it belongs instead of an unknown field per key.
  const fragment = fragmentMessage(root);
  if (fragment !== undefined) {
    ctx.error(root, "(root)", fragment);
    return options;
  }
  if (root.kind !== "object") {
    ctx.expected(root, "(root)", "an object");
    return options;
  }
  // Top-level paths are plain keys ("route.rules[0]").
  const top = new Obj(ctx, root, "");
  top.known("$schema");
  options.log = decodeLog(top.object("log"));
  options.dns = decodeDns(top.object("dns"));
  options.inbounds = top.items("inbounds").map((it, i) => decodeInbound(ctx, it.node, it.path, i))
    .filter((x): x is InboundOptions => x !== undefined);
  options.outbounds = top.items("outbounds").map((it, i) =>
    decodeOutbound(ctx, it.node, it.path, i)
  )
    .filter((x): x is OutboundOptions => x !== undefined);
  options.route = decodeRoute(top.object("route"));
  options.experimental = decodeExperimental(top.object("experimental"));
  decodeSections(top, options);
  applyHttpClients(options);
  top.done();
  if (
    !ctx.defs.outbound.some((d) => d.path.startsWith("outbounds[")) &&
    (ctx.defs.outbound.length === 0 || options.route.final === undefined)
  ) {
    // sing-box's default outbound is route.final, else the first of "outbounds" (endpoints are
    // not considered), else a direct outbound tagged "direct" it adds (outbound manager).
    const direct: OutboundOptions = { type: "direct", tag: "direct" };
    options.outbounds.unshift(direct);
    ctx.define("outbound", "direct", root, "outbounds");
  }
  upgradeLegacy(options, ctx);
  validate(options, ctx, validateOptions);
  legacyDnsHints(options, ctx);
  lintRules(options, ctx);
  lintFakeIp(options, ctx);
  lintClashMode(options, ctx);
  return options;
}

/** Result of decoding one text: options only when there are no errors. */
export interface DecodeTextResult {
  options?: Options;
  errors: import("./diagnostic.ts").ConfigDiagnostic[];
  warnings: import("./diagnostic.ts").ConfigDiagnostic[];
}

/**
 * Parses and decodes one config text (pure; for tests and tools). `fileName` is used in
 * diagnostics. Diagnostics are sorted by position.
 */
export function decodeConfigText(
  text: string,
  fileName: string,
  validateOptions: ValidateOptions = {},
): DecodeTextResult {
  const diag = new Diagnostics();
  const root = parseJsonc(text, fileName, diag);
  let options: Options | undefined;
  if (root && diag.errors.length === 0) options = decodeRoot(root, diag, validateOptions);
  const byPos = (a: { line: number; column: number }, b: { line: number; column: number }) =>
    a.line - b.line || a.column - b.column;
  const result: DecodeTextResult = {
    errors: diag.errors.sort(byPos),
    warnings: diag.warnings.sort(byPos),
  };
  if (options && diag.errors.length === 0) result.options = options;
  return result;
}
