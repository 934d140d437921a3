/**
 * Protocol sniffing for `sniff` rule actions: TLS ClientHello (`tls.ts`), HTTP (`http.ts`), QUIC
 * Initial (`quic.ts`), DNS (`dns.ts`), and the registry that runs the sniffers a rule names on a
 * stream's first bytes or a flow's first datagrams (`sniffers.ts`).
 *
 * ```ts
 * import { applySniffResult, sniffStream } from "../sniff/mod.ts";
 * const r = sniffStream(firstBytes, ["tls", "http"]);
 * if (r.status === "match") applySniffResult(meta, r);
 * ```
 *
 * @module
 */

export * from "./result.ts";
export { type ClientHelloInfo, parseClientHello, sniffTls } from "./tls.ts";
export { sniffHttp } from "./http.ts";
export { sniffDnsPacket, sniffDnsStream } from "./dns.ts";
export {
  deriveClientInitialKeys,
  newQuicSniffState,
  QUIC_DRAFT29,
  QUIC_V1,
  QUIC_V2,
  type QuicSniffState,
  sniffQuic,
} from "./quic.ts";
export {
  applySniffResult,
  DEFAULT_SNIFF_TIMEOUT_MS,
  MAX_SNIFF_BYTES,
  newPacketSniffState,
  PACKET_SNIFFER_NAMES,
  type PacketSniffState,
  sniffPacket,
  sniffStream,
  STREAM_SNIFFER_NAMES,
  StreamSniffBuffer,
} from "./sniffers.ts";
