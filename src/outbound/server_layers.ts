/**
 * The layers between a proxy protocol and its server: TLS (`tls` options) and a V2Ray
 * transport (`transport`: `ws`, `http` over TLS), composed over the connection `ServerConnector` makes (which
 * applies the dial fields and `detour`). Each layer is a {@linkcode Stream}, so VMess, VLESS
 * and Trojan run unchanged over any of them.
 *
 * ```ts
 * const stream = await openTransport(connector, meta, { tls, transport }, name);
 * const vmess = await vmessConnect(stream, { ... });
 * ```
 *
 * @module
 */

import type { TlsOptions } from "../config/decode_tls.ts";
import type { CertificateOptions, DialOptions, V2rayTransportOptions } from "../config/types.ts";
import { isSupported, verdict } from "../config/support.ts";
import type { Stream } from "../io/stream.ts";
import { ServerConnector } from "./proxy_server.ts";
import type { OutboundEnv } from "./registry.ts";
import { type DialMeta, formatDestination, toOutboundError } from "./types.ts";
import { type TlsClientConfig, tlsConnect } from "../tls/client.ts";
import { tlsClientConfig } from "../tls/options.ts";
import { httpConnect, wsConnect } from "../transport/mod.ts";

/** The layers an outbound configured. */
export interface TransportLayers {
  tls?: TlsOptions | undefined;
  transport?: V2rayTransportOptions | undefined;
}

/**
 * The TLS client configuration of an outbound's `tls` (null when TLS is off): the server's
 * address is the default name; the WebSocket transport offers ALPN `http/1.1` unless `alpn` is
 * set, as sing-box does. Built once, with the outbound (files are read then).
 */
export function transportTls(
  layers: TransportLayers,
  server: string,
  certificate: CertificateOptions | undefined,
  what: string,
): TlsClientConfig | null {
  if (!layers.tls?.enabled) return null;
  const config = tlsClientConfig(layers.tls, server, certificate, what);
  if (!config.alpn && layers.transport?.type === "ws") config.alpn = ["http/1.1"];
  if (!config.alpn && layers.transport?.type === "http") config.alpn = ["h2"];
  return config;
}

/** Refuses (TypeError with its verdict) a transport tunbox does not run. */
export function checkTransport(layers: TransportLayers): void {
  const transport = layers.transport;
  if (!transport) return;
  const id = `transport.${transport.type}` as const;
  if (!isSupported(id)) throw new TypeError(verdict(id).message);
  if (transport.type === "http" && !layers.tls?.enabled) {
    throw new TypeError(verdict("transport.http.plain").message);
  }
}

/**
 * Connects to the server and stacks TLS and the transport on the connection. Failures are
 * `OutboundError`s naming the outbound and the layer.
 */
export async function openTransport(
  server: ServerConnector,
  meta: DialMeta,
  layers: TransportLayers,
  tls: TlsClientConfig | null,
): Promise<Stream> {
  let stream = await server.connect(meta);
  try {
    const transport = layers.transport;
    if (tls) {
      stream = await tlsConnect(stream, tls, { what: server.name, timeoutMs: server.timeoutMs });
    }
    if (transport?.type === "ws") {
      stream = await wsConnect(stream, {
        path: transport.path ?? "/",
        headers: transport.headers,
        host: formatDestination(server.server),
        ...(transport.max_early_data ? { maxEarlyData: transport.max_early_data } : {}),
        ...(transport.early_data_header_name
          ? { earlyDataHeaderName: transport.early_data_header_name }
          : {}),
        what: server.name,
      });
    }
    if (transport?.type === "http") {
      stream = await httpConnect(stream, {
        host: transport.host,
        ...(transport.path !== undefined ? { path: transport.path } : {}),
        ...(transport.method ? { method: transport.method } : {}),
        headers: transport.headers,
        timeoutMs: server.timeoutMs,
        what: server.name,
      });
    }
    return stream;
  } catch (error) {
    stream.abort();
    throw toOutboundError(error, server.name);
  }
}

/** What a protocol outbound configures about its server: address, dial fields and layers. */
export type ServerLayersOptions = TransportLayers & DialOptions & {
  server: string;
  server_port: number;
};

/**
 * A protocol outbound's way to its server, built once with the outbound: refuses a transport
 * tunbox does not run, makes the {@linkcode ServerConnector} (dial fields, `detour`) and the TLS
 * configuration; {@linkcode ServerLayers.open} connects and starts the protocol's session on top.
 *
 * ```ts
 * const layers = new ServerLayers(`vless outbound "proxy"`, options, env);
 * const stream = await layers.open(meta, (inner) => new VlessStream(inner, { ... }));
 * ```
 */
export class ServerLayers {
  readonly server: ServerConnector;
  readonly #layers: TransportLayers;
  readonly #tls: TlsClientConfig | null;

  constructor(readonly name: string, options: ServerLayersOptions, env: OutboundEnv) {
    checkTransport(options);
    this.#layers = options;
    this.server = new ServerConnector(name, options.server, options.server_port, options, env);
    this.#tls = transportTls(options, options.server, env.ctx.certificate, name);
  }

  /**
   * Opens the layers and hands the innermost stream to `start`; when `start` fails the stream
   * is aborted and the error names the outbound ("start session").
   */
  async open<T>(meta: DialMeta, start: (inner: Stream) => T | Promise<T>): Promise<T> {
    const inner = await openTransport(this.server, meta, this.#layers, this.#tls);
    try {
      return await start(inner);
    } catch (error) {
      inner.abort();
      throw toOutboundError(error, `${this.name}: start session`);
    }
  }
}
