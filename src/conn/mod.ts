/**
 * Connections as first-class objects: the one path every inbound hands its flows to, the
 * structured record each connection keeps, the worker's tracker and the main thread's hub.
 *
 * ```ts
 * import { ConnectionPath, ConnectionHub } from "../conn/mod.ts";
 * // in a worker
 * const path = new ConnectionPath({ reactor, services, ids: new ConnIds(init.connIds) });
 * void path.tcp(meta, side);
 * // on the main thread
 * const hub = new ConnectionHub();
 * await hub.refresh();
 * hub.snapshot().live;
 * ```
 *
 * @module
 */

export { DnsPacketFlow, DnsStreamServer } from "./dns_hijack.ts";
export {
  CLOSED_LIMIT,
  ConnectionHub,
  type ConnsMessage,
  type HubSnapshot,
  type HubToWorker,
  type WorkerLink,
} from "./hub.ts";
export { ConnIds, createConnIdMemory } from "./ids.ts";
export {
  ConnectionPath,
  type ConnectionPathOptions,
  type DnsAnswerer,
  type FlowServices,
  outboundChain,
} from "./path.ts";
export {
  type ConnAction,
  type ConnRecord,
  formatEndpoint,
  ipText,
  newConnRecord,
  recordDestination,
} from "./record.ts";
export type {
  FlowStats,
  IcmpInboundSide,
  IcmpVerdict,
  TcpInboundSide,
  UdpInboundSide,
} from "./sides.ts";
export { type ConnControl, type ConnReport, ConnTracker, TrackedConn } from "./tracker.ts";
