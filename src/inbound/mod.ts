/**
 * Listener inbounds (`socks`, `http`, `mixed`) and handlers that relay their requests.
 *
 * @module
 */

export { ListenerInbound, type ListenerSettings } from "./listener.ts";
export {
  createDirectHandler,
  createOutboundHandler,
  type OutboundHandler,
} from "./outbound_handler.ts";
export { createRouterHandler, requestMetadata, type RouterHandler } from "./router_handler.ts";
export { type SocksServer, type SocksServerOptions, startSocksServer } from "./serve_socks.ts";
export { hostsResolver } from "../dns/hosts_file.ts";
export type * from "./types.ts";
