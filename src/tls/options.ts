/**
 * From decoded options to TLS configurations: the outbound `tls` block (http outbound, tls and
 * https DNS servers, protocol outbounds) to a {@linkcode TlsClientConfig}, the inbound `tls`
 * block to a {@linkcode TlsServerContext}. Files are read here, once, when the outbound or
 * server is built; errors are TypeErrors naming `what` and the file or field.
 *
 * ```ts
 * const config = tlsClientConfig(options.tls ?? {}, options.server, ctx.certificate,
 *   `http outbound "proxy"`);
 * const stream = await tlsConnect(socket, config, { what, timeoutMs });
 * ```
 *
 * @module
 */

import type { InboundTlsOptions, TlsOptions, TlsVersionName } from "../config/decode_tls.ts";
import type { CertificateOptions } from "../config/types.ts";
import type { TlsClientConfig, TlsVersion } from "./client.ts";
import { type TlsServerContext, tlsServerContext } from "./server.ts";
import { loadCertificates, readText, trustStore } from "./trust.ts";

/** rustls has no TLS 1.0/1.1: a lower minimum means 1.2. */
function clampMin(v?: TlsVersionName): TlsVersion | undefined {
  if (v === undefined) return undefined;
  return v === "1.3" ? "1.3" : "1.2";
}

function maxVersion(what: string, v?: TlsVersionName): TlsVersion | undefined {
  if (v === undefined) return undefined;
  if (v === "1.0" || v === "1.1") {
    throw new TypeError(`${what}: tls.max_version ${v} is below TLS 1.2, the oldest tunbox speaks`);
  }
  return v;
}

/** Inline PEM lines or a file's content, when either is given. */
function pem(what: string, role: string, inline?: string[], path?: string): string | undefined {
  if (inline && inline.length > 0) return inline.join("\n");
  if (path) return readText(what, path, role);
  return undefined;
}

/**
 * The client configuration for `tls` towards `serverAddress` (the server's address as written:
 * the default `server_name`). `certificate` is the top-level section (the trust store used when
 * `tls` names no certificate of its own).
 */
export function tlsClientConfig(
  tls: TlsOptions,
  serverAddress: string,
  certificate: CertificateOptions | undefined,
  what: string,
): TlsClientConfig {
  const serverName = tls.server_name || serverAddress;
  if (serverName === "" && !tls.insecure) {
    throw new TypeError(`${what}: tls needs "server_name" (or "insecure": true)`);
  }
  const config: TlsClientConfig = { serverName };
  if (tls.disable_sni) config.disableSni = true;
  if (tls.insecure) config.insecure = true;
  if (tls.alpn && tls.alpn.length > 0) config.alpn = [...tls.alpn];
  const min = clampMin(tls.min_version);
  if (min) config.minVersion = min;
  const max = maxVersion(what, tls.max_version);
  if (max) config.maxVersion = max;
  if (tls.certificate_public_key_sha256 && tls.certificate_public_key_sha256.length > 0) {
    config.pins = [...tls.certificate_public_key_sha256];
  }
  if ((tls.certificate && tls.certificate.length > 0) || tls.certificate_path) {
    config.ca = loadCertificates(
      what,
      tls.certificate,
      tls.certificate_path ? [tls.certificate_path] : [],
    );
  } else if (!config.insecure && !config.pins) {
    config.store = trustStore(certificate);
  }
  const cert = pem(what, "client certificate", tls.client_certificate, tls.client_certificate_path);
  const key = pem(what, "client key", tls.client_key, tls.client_key_path);
  if ((cert === undefined) !== (key === undefined)) {
    throw new TypeError(`${what}: client certificate and client key must be provided together`);
  }
  if (cert !== undefined && key !== undefined) {
    config.clientCertificate = cert;
    config.clientKey = key;
  }
  return config;
}

/** The server context for an inbound's `tls` block; throws naming `what` and the problem. */
export function tlsServerFromOptions(tls: InboundTlsOptions, what: string): TlsServerContext {
  const certificate = pem(what, "certificate", tls.certificate, tls.certificate_path);
  const key = pem(what, "key", tls.key, tls.key_path);
  if (certificate === undefined) throw new TypeError(`${what}: tls needs a certificate`);
  if (key === undefined) throw new TypeError(`${what}: tls needs a key`);
  const min = clampMin(tls.min_version);
  const max = maxVersion(what, tls.max_version);
  return tlsServerContext({
    certificate,
    key,
    ...(tls.alpn && tls.alpn.length > 0 ? { alpn: [...tls.alpn] } : {}),
    ...(min ? { minVersion: min } : {}),
    ...(max ? { maxVersion: max } : {}),
  }, what);
}
