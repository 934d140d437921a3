/**
 * The TLS server side over any {@linkcode Stream}: for inbounds (socks, http, mixed) and the
 * Clash API when their `tls` block is enabled, and for tests that need a TLS peer in process.
 * Same machinery as the client (`node:tls` over a {@linkcode StreamDuplex}).
 *
 * ```ts
 * const server = tlsServerContext({ certificate: [certPem], key: [keyPem] });
 * const secured = await tlsAccept(sock, server, { what: 'inbound "socks-in"', timeoutMs: 5000 });
 * ```
 *
 * @module
 */

import tls from "node:tls";
import type { Stream } from "../io/stream.ts";
import {
  awaitHandshake,
  NODE_VERSION,
  TlsError,
  type TlsStream,
  type TlsVersion,
} from "./client.ts";
import { StreamDuplex } from "./stream_duplex.ts";

/** What a TLS server presents and accepts. */
export interface TlsServerConfig {
  /** The certificate chain in PEM, leaf first. */
  certificate: string;
  /** The private key in PEM. */
  key: string;
  /** ALPN protocols the server accepts, in preference order. */
  alpn?: readonly string[];
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
}

/** A prepared server context (parse the certificate and key once, accept many times). */
export interface TlsServerContext {
  readonly config: TlsServerConfig;
  readonly secureContext: tls.SecureContext;
}

/** Parses the certificate and key; throws a TypeError naming what is wrong. */
export function tlsServerContext(config: TlsServerConfig, what = "TLS server"): TlsServerContext {
  try {
    const secureContext = tls.createSecureContext({
      cert: config.certificate,
      key: config.key,
      ...(config.minVersion ? { minVersion: NODE_VERSION[config.minVersion] } : {}),
      ...(config.maxVersion ? { maxVersion: NODE_VERSION[config.maxVersion] } : {}),
    });
    return { config, secureContext };
  } catch (error) {
    throw new TypeError(`${what}: certificate or key rejected: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Runs a TLS server handshake over `inner`; resolves with the encrypted stream, or rejects
 * with a {@linkcode TlsError} naming `what` (and aborts `inner`).
 */
export function tlsAccept(
  inner: Stream,
  context: TlsServerContext,
  options: { what: string; timeoutMs: number },
): Promise<TlsStream> {
  const duplex = new StreamDuplex(inner);
  const fail = (reason: string, cause?: unknown) =>
    new TlsError(`${options.what}: TLS handshake failed: ${reason}`, reason, { cause });
  const socket = new tls.TLSSocket(duplex, {
    isServer: true,
    secureContext: context.secureContext,
    ...(context.config.alpn ? { ALPNProtocols: [...context.config.alpn] } : {}),
    // Read by TLSSocket (half-close) though the typings lack it.
    allowHalfOpen: true,
  } as tls.TLSSocketOptions);
  return awaitHandshake(inner, socket, duplex, {
    event: "secure",
    timeoutMs: options.timeoutMs,
    fail,
    timeout: () => `${options.what}: TLS handshake timed out (after ${options.timeoutMs} ms)`,
  });
}
