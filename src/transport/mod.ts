/**
 * The layers between a proxy protocol and its server, for the outbounds: TLS and a V2Ray
 * transport (`layers.ts`: `ws`, `http` over TLS) composed over a server connection.
 *
 * ```ts
 * checkTransport({ tls, transport }); // at config time: throws for what tunbox cannot do
 * const stream = await openTransport(connector, meta, { tls, transport }, tlsConfig);
 * ```
 *
 * @module
 */

export {
  checkTransport,
  openTransport,
  ServerLayers,
  type ServerLayersOptions,
  type TransportLayers,
  transportTls,
} from "./layers.ts";
