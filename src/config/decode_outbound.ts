/**
 * Outbounds: `direct` (all dial fields), `socks`, `http`, `selector`, `urltest`, and the legacy
 * special outbounds `block` and `dns` (kept, warned about; rules routing to them are rewritten to
 * rule actions in `legacy.ts`).
 *
 * @module
 */

import type { JsonNode } from "./jsonc.ts";
import type { Ctx, Obj } from "./reader.ts";
import { readDialFields } from "./decode_dial.ts";
import { readTls } from "./decode_tls.ts";
import { headerNameProblem, headerValueProblem, isDomainName, testUrlProblem } from "./values.ts";
import { defineTag, entryType } from "./entry.ts";
import { parseIp } from "../net/ip.ts";
import type {
  DirectOutboundOptions,
  HttpOutboundOptions,
  OutboundOptions,
  SelectorOutboundOptions,
  SocksOutboundOptions,
  UrlTestOutboundOptions,
} from "./types.ts";

/** Outbound types tunbox decodes (whether each is supported is `support.ts`'s verdict). */
export const OUTBOUND_TYPES = [
  "direct",
  "socks",
  "http",
  "block",
  "dns",
  "selector",
  "urltest",
] as const;

/** Reads and checks `server` (IP address or domain name) and `server_port`. */
function serverFields(o: Obj, out: { server: string; server_port: number }): void {
  const at = o.at("server");
  const server = o.string("server");
  if (!at) o.ctx.error(o.node, o.path, 'missing "server"');
  else if (server !== undefined) {
    if (parseIp(server) === null && !isDomainName(server)) {
      o.ctx.error(at.node, at.path, `invalid server address ${JSON.stringify(server)}`);
    } else out.server = server;
  }
  const port = o.port("server_port");
  if (port !== undefined) out.server_port = port;
  else if (!o.has("server_port")) o.ctx.error(o.node, o.path, 'missing "server_port"');
}

function decodeSocks(o: Obj, tag: string): SocksOutboundOptions {
  const out: SocksOutboundOptions = { type: "socks", tag, server: "", server_port: 0 };
  serverFields(o, out);
  const version = o.enumOf("version", ["4", "4a", "5"] as const);
  if (version !== undefined) out.version = version;
  const user = o.string("username");
  if (user !== undefined) out.username = user;
  const pass = o.string("password");
  if (pass !== undefined) out.password = pass;
  const network = o.enumOf("network", ["tcp", "udp"] as const);
  if (network !== undefined) out.network = network;
  const uot = o.at("udp_over_tcp");
  if (uot && (uot.node.kind === "boolean" ? uot.node.value : isEnabled(uot.node))) {
    o.feature("udp_over_tcp", "outbound.socks.udp_over_tcp");
  }
  if (uot) {
    if (uot.node.kind === "boolean") out.udp_over_tcp = { enabled: uot.node.value };
    else {
      const u = o.ctx.object(uot.node, uot.path);
      if (u) {
        const v: { enabled: boolean; version?: number } = { enabled: u.bool("enabled") ?? false };
        const ver = u.int("version", 0, 2);
        if (ver !== undefined) v.version = ver;
        u.done();
        out.udp_over_tcp = v;
      }
    }
  }
  if (out.version !== undefined && out.version !== "5" && network === "udp") {
    o.ctx.error(
      o.at("network")!.node,
      o.p("network"),
      `network "udp" needs SOCKS version 5 (version is "${out.version}")`,
    );
  }
  authLength(o);
  readDialFields(o, out);
  return out;
}

/** `headers`: name → one value or a list, each checked as tunbox writes them into requests. */
export function readHeaders(o: Obj): Record<string, string[]> {
  const ctx = o.ctx;
  const out: Record<string, string[]> = {};
  const h = o.object("headers");
  if (!h) return out;
  for (const prop of h.node.props) {
    const path = h.p(prop.key);
    const nameProblem = headerNameProblem(prop.key);
    if (nameProblem) {
      ctx.error(prop.keyPos, path, nameProblem);
      continue;
    }
    if (prop.value.kind === "null") continue;
    out[prop.key] = ctx.listable(prop.value, path, (x, q) => {
      const v = ctx.string(x, q);
      const problem = v === undefined ? undefined : headerValueProblem(v);
      if (problem) ctx.error(x, q, problem);
      return problem ? undefined : v;
    });
  }
  return out;
}

/** True for `{"enabled": true, ...}`. */
function isEnabled(node: JsonNode): boolean {
  return node.kind === "object" &&
    node.props.some((p) => p.key === "enabled" && p.value.kind === "boolean" && p.value.value);
}

/** RFC 1929 limits the SOCKS5 username and password to 255 bytes each. */
function authLength(o: Obj): void {
  if (!o.has("username")) return;
  for (const key of ["username", "password"]) {
    const at = o.at(key);
    if (at?.node.kind === "string" && new TextEncoder().encode(at.node.value).length > 255) {
      o.ctx.error(at.node, at.path, `${key} is longer than 255 bytes (RFC 1929)`);
    }
  }
}

function decodeHttp(o: Obj, tag: string): HttpOutboundOptions {
  const out: HttpOutboundOptions = { type: "http", tag, server: "", server_port: 0, headers: {} };
  serverFields(o, out);
  const user = o.string("username");
  if (user !== undefined) out.username = user;
  const pass = o.string("password");
  if (pass !== undefined) out.password = pass;
  const path = o.string("path");
  if (path !== undefined) out.path = path;
  out.headers = readHeaders(o);
  const tls = readTls(o);
  if (tls) out.tls = tls;
  if (tls?.enabled) o.feature("tls", "outbound.http.tls");
  readDialFields(o, out);
  return out;
}

function decodeDirect(o: Obj, tag: string): DirectOutboundOptions {
  const out: DirectOutboundOptions = { type: "direct", tag };
  readDialFields(o, out);
  const addr = o.string("override_address");
  if (addr !== undefined) out.override_address = addr;
  const port = o.port("override_port");
  if (port !== undefined) out.override_port = port;
  for (const k of ["override_address", "override_port"]) {
    if (o.has(k)) {
      o.ctx.warn(
        o.keyPos(k),
        o.p(k),
        `destination override fields in direct outbound are deprecated in sing-box 1.11.0 and removed in 1.13.0, use a rule with {"action": "route-options", "${k}": ...} instead; tunbox still honours it`,
      );
    }
  }
  return out;
}

function decodeGroup<T extends "selector" | "urltest">(
  o: Obj,
  type: T,
  tag: string,
): SelectorOutboundOptions | UrlTestOutboundOptions {
  const outbounds = o.tagRefs("outbounds", "outbound");
  if (!o.has("outbounds") || outbounds.length === 0) {
    o.ctx.error(
      o.at("outbounds")?.node ?? o.node,
      o.at("outbounds")?.path ?? o.path,
      'missing "outbounds" (the tags to choose from)',
    );
  }
  const interrupt = o.bool("interrupt_exist_connections");
  if (type === "selector") {
    const out: SelectorOutboundOptions = { type: "selector", tag, outbounds };
    const dflt = o.tagRef("default", "outbound");
    if (dflt !== undefined) {
      out.default = dflt;
      if (outbounds.length > 0 && !outbounds.includes(dflt)) {
        o.ctx.error(
          o.at("default")!.node,
          o.p("default"),
          `default outbound ${JSON.stringify(dflt)} is not in "outbounds"`,
        );
      }
    }
    if (interrupt !== undefined) out.interrupt_exist_connections = interrupt;
    return out;
  }
  const out: UrlTestOutboundOptions = { type: "urltest", tag, outbounds };
  const url = o.optionalString("url");
  if (url !== undefined) {
    const problem = testUrlProblem(url);
    if (problem) o.ctx.error(o.at("url")!.node, o.p("url"), problem);
    else out.url = url;
  }
  const interval = o.duration("interval");
  if (interval !== undefined) out.interval = interval;
  const tolerance = o.int("tolerance", 0, 65535);
  if (tolerance !== undefined) out.tolerance = tolerance;
  const idle = o.duration("idle_timeout");
  if (idle !== undefined) out.idle_timeout = idle;
  if (interrupt !== undefined) out.interrupt_exist_connections = interrupt;
  return out;
}

/** Decodes one entry of `outbounds`. */
export function decodeOutbound(
  ctx: Ctx,
  node: JsonNode,
  path: string,
  index: number,
): OutboundOptions | undefined {
  const o = ctx.object(node, path);
  if (!o) return undefined;
  const tag = defineTag(o, "outbound", index);
  o.known("tag");
  const type = entryType(o, "outbound", OUTBOUND_TYPES);
  if (!type) return undefined;
  const typeAt = o.at("type")!;
  let out: OutboundOptions;
  switch (type) {
    case "direct":
      out = decodeDirect(o, tag);
      break;
    case "socks":
      out = decodeSocks(o, tag);
      break;
    case "http":
      out = decodeHttp(o, tag);
      break;
    case "block":
    case "dns":
      out = { type, tag };
      ctx.warn(
        typeAt.node,
        typeAt.path,
        `legacy special outbounds are deprecated in sing-box 1.11.0 and removed in 1.13.0, use the rule action ${
          type === "block" ? '{"action": "reject"}' : '{"action": "hijack-dns"}'
        } instead; tunbox rewrites rules that route to ${JSON.stringify(tag)} that way`,
      );
      break;
    case "selector":
    case "urltest":
      out = decodeGroup(o, type, tag);
      break;
  }
  o.done(` in a "${type}" outbound`);
  ctx.where.set(out, o);
  return out;
}
