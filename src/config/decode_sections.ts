/**
 * Top-level sections besides log/dns/inbounds/outbounds/route/experimental: `ntp`,
 * `certificate`, `certificate_providers`, `endpoints`, `services` and sing-box 1.14's
 * `http_clients`. Each is decoded (so its values are checked and available to the runtime) and
 * its verdict from `support.ts` is reported at its key.
 *
 * @module
 */

import type { JsonNode } from "./jsonc.ts";
import type { Ctx, Obj } from "./reader.ts";
import { readDialFields } from "./decode_dial.ts";
import { decodeWireguard, readHeaders } from "./decode_outbound.ts";
import { readTls } from "./decode_tls.ts";
import { defineTag } from "./entry.ts";
import { featureId } from "./support.ts";
import type {
  CertificateOptions,
  EndpointOptions,
  HttpClientOptions,
  NtpOptions,
  Options,
  ServiceOptions,
} from "./types.ts";

const CERTIFICATE_STORES = ["system", "mozilla", "chrome", "none"] as const;

function decodeNtp(o: Obj): NtpOptions {
  const out: NtpOptions = {};
  const set = <K extends keyof NtpOptions>(k: K, v: NtpOptions[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set("enabled", o.bool("enabled"));
  set("server", o.string("server"));
  set("server_port", o.port("server_port"));
  set("interval", o.duration("interval"));
  set("write_to_system", o.bool("write_to_system"));
  readDialFields(o, out);
  if (out.enabled && !out.server) {
    o.ctx.error(o.at("server")?.node ?? o.node, o.at("server")?.path ?? o.path, 'missing "server"');
  }
  o.done(" in ntp");
  return out;
}

function decodeCertificate(o: Obj): CertificateOptions {
  // sing-box reads an empty store as "system".
  const store = o.enumOf("store", ["", ...CERTIFICATE_STORES] as const) || "system";
  if (store === "chrome") o.feature("store", "certificate.store_chrome");
  const out: CertificateOptions = {
    store,
    certificate: o.strings("certificate"),
    certificate_path: o.strings("certificate_path"),
    certificate_directory_path: o.strings("certificate_directory_path"),
  };
  o.done(" in certificate");
  return out;
}

/** True when the certificate options change anything from the system store. */
function certificateUsed(c: CertificateOptions): boolean {
  return c.store !== "system" || c.certificate.length > 0 || c.certificate_path.length > 0 ||
    c.certificate_directory_path.length > 0;
}

/**
 * Reads an HTTP client (an `http_clients` entry, or an inline `http_client` object): engine,
 * version, headers, HTTP/2 and QUIC tuning, TLS and dial fields.
 */
export function decodeHttpClient(o: Obj, tag: string): HttpClientOptions {
  const out: HttpClientOptions = { tag, headers: {} };
  const engine = o.enumOf("engine", ["", "go", "apple"] as const);
  if (engine) out.engine = engine;
  const version = o.int("version", 0, 3);
  if (version !== undefined) out.version = version;
  const fallback = o.bool("disable_version_fallback");
  if (fallback !== undefined) out.disable_version_fallback = fallback;
  out.headers = readHeaders(o);
  // HTTP/2 and QUIC fields: read for their types, not used by tunbox.
  o.duration("idle_timeout");
  o.duration("keep_alive_period");
  o.known("stream_receive_window", "connection_receive_window");
  o.int("max_concurrent_streams", 0, 0xffffffff);
  o.int("initial_packet_size", 0, 65535);
  o.bool("disable_path_mtu_discovery");
  const tls = readTls(o);
  if (tls) out.tls = tls;
  readDialFields(o, out);
  return out;
}

/** Decodes one `endpoints` entry: its tag is an outbound tag, whatever its type. */
function decodeEndpoint(ctx: Ctx, node: JsonNode, path: string, index: number) {
  const o = ctx.object(node, path);
  if (!o) return undefined;
  const tag = defineTag(o, "outbound", index);
  const typeAt = o.at("type");
  if (!typeAt) {
    ctx.error(o.node, o.path, 'missing "type" ("wireguard" or "tailscale")');
    return undefined;
  }
  const type = ctx.string(typeAt.node, typeAt.path);
  if (type === undefined) return undefined;
  const id = featureId("endpoint", type);
  if (id === undefined) {
    ctx.error(
      typeAt.node,
      typeAt.path,
      `unknown endpoint type ${JSON.stringify(type)}; expected "wireguard" or "tailscale"`,
    );
    return undefined;
  }
  const supported = ctx.support(id, typeAt.node, typeAt.path);
  const out: EndpointOptions = { type, tag };
  if (supported && type === "wireguard") {
    o.known("type", "tag");
    out.outbound = decodeWireguard(o, tag, false);
    o.done(' in a "wireguard" endpoint');
    ctx.where.set(out.outbound, o);
    return out;
  }
  for (const p of o.node.props) o.known(p.key);
  return out;
}

/** Decodes one `services` entry (tunbox runs none: the section's verdict covers them). */
function decodeService(ctx: Ctx, node: JsonNode, path: string, index: number) {
  const o = ctx.object(node, path);
  if (!o) return undefined;
  const tag = o.string("tag") || String(index);
  const type = o.string("type");
  if (type === undefined) {
    if (!o.has("type")) ctx.error(o.node, o.path, 'missing "type"');
    return undefined;
  }
  for (const p of o.node.props) o.known(p.key);
  const out: ServiceOptions = { type, tag };
  return out;
}

/** Decodes the sections named above into `options`, reporting each one's verdict at its key. */
export function decodeSections(top: Obj, options: Options): void {
  const ctx = top.ctx;
  const ntp = top.object("ntp");
  if (ntp) {
    options.ntp = decodeNtp(ntp);
    if (options.ntp.enabled) top.feature("ntp", "section.ntp");
  }
  const cert = top.object("certificate");
  if (cert) {
    options.certificate = decodeCertificate(cert);
    if (certificateUsed(options.certificate)) top.feature("certificate", "section.certificate");
  }
  top.feature("certificate_providers", "section.certificate_providers");
  options.endpoints = top.items("endpoints").map((it, i) =>
    decodeEndpoint(ctx, it.node, it.path, i)
  ).filter((x): x is EndpointOptions => x !== undefined);
  // An endpoint is an outbound to everything that routes (its tag is an outbound tag).
  for (const e of options.endpoints) if (e.outbound) options.outbounds.push(e.outbound);
  options.services = top.items("services").map((it, i) => decodeService(ctx, it.node, it.path, i))
    .filter((x): x is ServiceOptions => x !== undefined);
  if (options.services.length > 0) top.feature("services", "section.services");
  options.http_clients = top.items("http_clients").flatMap((it, i) => {
    const o = ctx.object(it.node, it.path);
    if (!o) return [];
    const tag = o.string("tag");
    if (!tag) ctx.error(o.node, o.path, 'missing "tag"');
    else ctx.define("http client", tag, o.at("tag")!.node, o.p("tag"));
    const client = decodeHttpClient(o, tag || String(i));
    o.done(" in an HTTP client");
    if (httpClientExtras(client)) ctx.support("section.http_clients", o.node, o.path);
    return [client];
  });
}

/**
 * True when an HTTP client sets more than tunbox uses of it (its `detour`): TLS, headers,
 * version, engine, other dial fields.
 */
export function httpClientExtras(c: HttpClientOptions): boolean {
  return Object.entries(c).some(([k, v]) =>
    k !== "tag" && k !== "detour" && !(k === "headers" && Object.keys(v as object).length === 0)
  );
}

/**
 * sing-box 1.14's HTTP clients as far as tunbox has them: a remote rule-set without
 * `download_detour` is downloaded through the `detour` of its `http_client` (a tag or inline),
 * else of `route.default_http_client`'s client.
 */
export function applyHttpClients(options: Options): void {
  const byTag = new Map(options.http_clients.map((c) => [c.tag, c]));
  const fallback = options.route.default_http_client !== undefined
    ? byTag.get(options.route.default_http_client)
    : undefined;
  for (const rs of options.route.rule_set) {
    if (rs.type !== "remote" || rs.download_detour !== undefined) continue;
    const own = typeof rs.http_client === "string" ? byTag.get(rs.http_client) : rs.http_client;
    const detour = (rs.http_client !== undefined ? own : fallback)?.detour;
    if (detour !== undefined) rs.download_detour = detour;
  }
}
