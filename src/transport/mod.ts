/**
 * The V2Ray transports a proxy protocol runs over, each a {@linkcode Stream} over another
 * stream: `ws` (`ws.ts`, with early data) and `http` (`http.ts`, HTTP/2 over TLS). The outbounds
 * compose them with TLS over a server connection (`outbound/server_layers.ts`).
 *
 * ```ts
 * const ws = await wsConnect(tlsStream, { host: "example.com", path: "/ray", what: "vless[proxy]" });
 * ```
 *
 * @module
 */

export { httpConnect, type HttpStream, type HttpTransportOptions } from "./http.ts";
export { wsConnect, type WsOptions, type WsStream } from "./ws.ts";
