/**
 * TLS blocks: the outbound `tls` (sing-box "TLS" outbound fields, used by the http outbound and
 * the tls/https DNS servers) and the inbound `tls` (http and mixed inbounds). What tunbox does
 * with each key is its verdict in `support.ts` (`tls.<key>`, `inbound_tls.<key>`).
 *
 * Values are checked here so that `check` reports them at their line: versions, pins (base64
 * SHA-256 digests), pairs that must come together or not at all, and that the files named by
 * `*_path` can be read and hold PEM blocks of the right kind.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { Obj } from "./reader.ts";
import { type FeatureId, featureId } from "./support.ts";

/** A TLS protocol version as sing-box spells it. */
export type TlsVersionName = "1.0" | "1.1" | "1.2" | "1.3";

const VERSIONS = ["1.0", "1.1", "1.2", "1.3"] as const satisfies readonly TlsVersionName[];

/** Outbound (client) TLS options. Lists are present only when the JSON has them. */
export interface TlsOptions {
  enabled?: boolean;
  disable_sni?: boolean;
  server_name?: string;
  insecure?: boolean;
  alpn?: string[];
  min_version?: TlsVersionName;
  max_version?: TlsVersionName;
  /** PEM lines or blocks (sing-box joins the list with newlines). */
  certificate?: string[];
  certificate_path?: string;
  /** SHA-256 digests (32 bytes) of SubjectPublicKeyInfo. */
  certificate_public_key_sha256?: Uint8Array[];
  client_certificate?: string[];
  client_certificate_path?: string;
  client_key?: string[];
  client_key_path?: string;
}

/** Inbound (server) TLS options of the http and mixed inbounds. */
export interface InboundTlsOptions {
  enabled?: boolean;
  server_name?: string;
  alpn?: string[];
  min_version?: TlsVersionName;
  max_version?: TlsVersionName;
  certificate?: string[];
  certificate_path?: string;
  key?: string[];
  key_path?: string;
}

/** Outbound keys read by type; each present key also reports its verdict (`tls.<key>`). */
const OUTBOUND_KEYS = [
  "enabled",
  "disable_sni",
  "server_name",
  "insecure",
  "alpn",
  "min_version",
  "max_version",
  "cipher_suites",
  "curve_preferences",
  "certificate",
  "certificate_path",
  "certificate_public_key_sha256",
  "client_certificate",
  "client_certificate_path",
  "client_key",
  "client_key_path",
  "fragment",
  "fragment_fallback_delay",
  "record_fragment",
  "ech",
  "utls",
  "reality",
  "kernel_tx",
  "kernel_rx",
];

const INBOUND_KEYS = [
  "enabled",
  "server_name",
  "insecure",
  "alpn",
  "min_version",
  "max_version",
  "cipher_suites",
  "curve_preferences",
  "certificate",
  "certificate_path",
  "key",
  "key_path",
  "client_authentication",
  "client_certificate",
  "client_certificate_path",
  "client_certificate_public_key_sha256",
  "kernel_tx",
  "kernel_rx",
  "acme",
  "ech",
  "reality",
];

/** Reports each present key's verdict (nothing for supported ones) and marks the keys known. */
function verdicts(
  t: Obj,
  area: "tls" | "inbound_tls",
  keys: readonly string[],
  instead: Partial<Record<string, FeatureId>> = {},
): void {
  for (const k of keys) {
    const id = instead[k] ?? featureId(area, k);
    if (id && !(SWITCHED.has(k) && !switchedOn(t, k))) t.feature(k, id);
    else t.known(k);
  }
}

/** TLS objects sing-box reads only with `"enabled": true` (off otherwise: nothing to report). */
const SWITCHED = new Set(["ech", "utls", "reality"]);

function switchedOn(t: Obj, key: string): boolean {
  const v = t.find(key)?.value;
  return v?.kind !== "object" ||
    v.props.some((p) => p.key === "enabled" && p.value.kind === "boolean" && p.value.value);
}

function version(t: Obj, key: "min_version" | "max_version"): TlsVersionName | undefined {
  return t.enumOf(key, VERSIONS);
}

/** Checks min/max versions against what rustls speaks (1.2 and 1.3) and each other. */
function checkVersions(t: Obj, min?: TlsVersionName, max?: TlsVersionName): void {
  if (max !== undefined && max < "1.2") {
    t.ctx.error(
      t.at("max_version")!.node,
      t.p("max_version"),
      `max_version ${max} leaves no version tunbox can use: its TLS (rustls) speaks 1.2 and 1.3`,
    );
  } else if (min !== undefined && min < "1.2") {
    t.ctx.warn(
      t.at("min_version")!.node,
      t.p("min_version"),
      `TLS ${min} and 1.1 are not available in tunbox (rustls speaks 1.2 and 1.3); servers ` +
        "that only speak older versions fail",
    );
  }
  if (min !== undefined && max !== undefined && min > max) {
    t.ctx.error(t.at("min_version")!.node, t.p("min_version"), "min_version is above max_version");
  }
}

/** Reads `key` as a file that must hold a PEM block whose label matches `label`. */
function pemFile(t: Obj, key: string, label: RegExp, what: string): string | undefined {
  const path = t.string(key);
  if (path === undefined || path === "") return undefined;
  const at = t.at(key)!;
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    t.ctx.error(
      at.node,
      at.path,
      `cannot read ${what} ${JSON.stringify(path)}: ${errorText(error)}`,
    );
    return path;
  }
  if (!pemLabels(text).some((l) => label.test(l))) {
    t.ctx.error(at.node, at.path, `${JSON.stringify(path)} holds no PEM ${what}`);
  }
  return path;
}

/** Reads an inline PEM list (joined with newlines) and checks its blocks' labels. */
function pemInline(t: Obj, key: string, label: RegExp, what: string): string[] | undefined {
  if (!t.has(key)) return undefined;
  const lines = t.strings(key);
  if (lines.length === 0) return undefined;
  if (!pemLabels(lines.join("\n")).some((l) => label.test(l))) {
    t.ctx.error(t.at(key)!.node, t.p(key), `no PEM ${what} in ${key}`);
  }
  return lines;
}

/** The labels of the PEM blocks in `text` (`CERTIFICATE`, `PRIVATE KEY`, ...). */
export function pemLabels(text: string): string[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1]!);
}

const CERT = /^(X509 |TRUSTED )?CERTIFICATE$/;
const KEY = /PRIVATE KEY$/;

function errorText(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  return error instanceof Error ? error.message : String(error);
}

/** Reads the outbound `tls` object of `o`, if present. */
export function readTls(
  o: Obj,
  /** Keys whose verdict is another feature's in this outbound (REALITY in VLESS, ...). */
  instead: Partial<Record<string, FeatureId>> = {},
): TlsOptions | undefined {
  const t = o.object("tls");
  if (!t) return undefined;
  const out: TlsOptions = {};
  const set = <K extends keyof TlsOptions>(k: K, v: TlsOptions[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set("enabled", t.bool("enabled"));
  set("disable_sni", t.bool("disable_sni"));
  set("server_name", t.string("server_name"));
  set("insecure", t.bool("insecure"));
  if (t.has("alpn")) set("alpn", t.strings("alpn").filter((s) => s !== ""));
  set("min_version", version(t, "min_version"));
  set("max_version", version(t, "max_version"));
  checkVersions(t, out.min_version, out.max_version);
  set("certificate", pemInline(t, "certificate", CERT, "certificate"));
  set("certificate_path", pemFile(t, "certificate_path", CERT, "certificate"));
  if (t.has("certificate_public_key_sha256")) {
    const pins = t.listable("certificate_public_key_sha256", (n, p) => {
      const text = t.ctx.string(n, p);
      if (text === undefined) return undefined;
      const bytes = /^[A-Za-z0-9+/]*={0,2}$/.test(text) ? Buffer.from(text, "base64") : null;
      if (!bytes || bytes.length !== 32) {
        t.ctx.error(n, p, `${JSON.stringify(text)} is not a base64 SHA-256 digest (32 bytes)`);
        return undefined;
      }
      return new Uint8Array(bytes);
    });
    if (pins.length > 0) set("certificate_public_key_sha256", pins);
  }
  if (out.certificate_public_key_sha256 && (out.certificate || out.certificate_path)) {
    t.ctx.error(
      t.at("certificate_public_key_sha256")!.node,
      t.p("certificate_public_key_sha256"),
      "certificate_public_key_sha256 conflicts with certificate and certificate_path " +
        "(a pin replaces the certificate check)",
    );
  }
  set("client_certificate", pemInline(t, "client_certificate", CERT, "certificate"));
  set("client_certificate_path", pemFile(t, "client_certificate_path", CERT, "certificate"));
  set("client_key", pemInline(t, "client_key", KEY, "private key"));
  set("client_key_path", pemFile(t, "client_key_path", KEY, "private key"));
  const hasCert = out.client_certificate !== undefined || out.client_certificate_path !== undefined;
  const hasKey = out.client_key !== undefined || out.client_key_path !== undefined;
  if (hasCert !== hasKey) {
    const key = hasCert
      ? (out.client_certificate ? "client_certificate" : "client_certificate_path")
      : (out.client_key ? "client_key" : "client_key_path");
    t.ctx.error(
      t.at(key)!.node,
      t.p(key),
      "client certificate and client key must be provided together",
    );
  }
  verdicts(t, "tls", OUTBOUND_KEYS, instead);
  t.done(" in tls");
  return out;
}

/** Reads the inbound `tls` object of `o` (http and mixed inbounds), if present. */
export function readInboundTls(o: Obj): InboundTlsOptions | undefined {
  const t = o.object("tls");
  if (!t) return undefined;
  const out: InboundTlsOptions = {};
  const set = <K extends keyof InboundTlsOptions>(k: K, v: InboundTlsOptions[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set("enabled", t.bool("enabled"));
  set("server_name", t.string("server_name"));
  if (t.has("alpn")) set("alpn", t.strings("alpn").filter((s) => s !== ""));
  set("min_version", version(t, "min_version"));
  set("max_version", version(t, "max_version"));
  checkVersions(t, out.min_version, out.max_version);
  set("certificate", pemInline(t, "certificate", CERT, "certificate"));
  set("certificate_path", pemFile(t, "certificate_path", CERT, "certificate"));
  set("key", pemInline(t, "key", KEY, "private key"));
  set("key_path", pemFile(t, "key_path", KEY, "private key"));
  if (out.enabled) {
    if (out.certificate === undefined && out.certificate_path === undefined) {
      t.ctx.error(t.node, t.path, 'missing "certificate" or "certificate_path" for a TLS server');
    }
    if (out.key === undefined && out.key_path === undefined) {
      t.ctx.error(t.node, t.path, 'missing "key" or "key_path" for a TLS server');
    }
  }
  verdicts(t, "inbound_tls", INBOUND_KEYS);
  t.done(" in tls");
  return out;
}
