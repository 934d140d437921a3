/**
 * The structured record of one connection: what the connection path knows about a flow, as plain
 * data (structured-clone safe), kept by the worker's {@linkcode ConnTracker} while it is live and
 * by the main thread's {@linkcode ConnectionHub} (live view and closed ring) for the Clash API,
 * the `tunbox connections` CLI and the demo. Addresses are data (text IP and a number port), the
 * matched rule is its index and text, nothing downstream parses a formatted string.
 *
 * ```ts
 * const rec = newConnRecord(meta); // from the flow's metadata
 * rec.rule; // "ip_is_private=true => route(direct)" once routed, "final" for route.final
 * ```
 *
 * @module
 */

import { formatIp } from "../net/ip.ts";
import type { ConnMetadata } from "../route/metadata.ts";

/** How the router decided; `refused` when the flow never reached a decision. */
export type ConnAction = "route" | "reject" | "hijack-dns" | "refused";

/** One connection (live or closed). */
export interface ConnRecord {
  /** Unique within the running instance (all workers), also the `[id]` of log lines. */
  id: number;
  network: "tcp" | "udp" | "icmp";
  /** Inbound tag and type (`tun`, `socks`, `http`, `mixed`). */
  inbound: string;
  inboundType: string;
  /** Source IP as text ("" when unknown) and port. */
  sourceIp: string;
  sourcePort: number;
  /** Destination IP as text ("" for a domain destination) and port. */
  destinationIp: string;
  destinationPort: number;
  /** Domain destination (a SOCKS/HTTP request by name, `override_address`, FakeIP); else "". */
  destinationHost: string;
  /** Sniffed domain (TLS SNI, HTTP Host, QUIC, reverse mapping), else "". */
  domain: string;
  /** Sniffed protocol, else "". */
  protocol: string;
  /** The local process's executable, when it was looked up (process rules, find_process). */
  processPath: string;
  action: ConnAction;
  /** Index of the matched rule in `route.rules`; -1 for `route.final`, -2 before a decision. */
  ruleIndex: number;
  /** sing-box's `condition => action` text of the matched rule, `final`, or "" undecided. */
  rule: string;
  /** The outbound the rule chose (a group's tag when it chose a group); "" when not routed. */
  outbound: string;
  /** Outbound tags from the one that carries the bytes to the one the rule chose (sing-box). */
  chain: string[];
  upload: number;
  download: number;
  /** Epoch milliseconds. */
  start: number;
  /** Epoch milliseconds, when closed. */
  end?: number;
  /** Why it failed or was refused, when it did. */
  error?: string;
}

/** `addr` as text, "" when empty (a domain endpoint). */
export function ipText(addr: Uint8Array): string {
  return addr.length === 0 ? "" : formatIp(addr);
}

/** Formats `addr:port` for logs (`[v6]:port`, `host:port`). */
export function formatEndpoint(addr: Uint8Array, port: number, host = ""): string {
  if (addr.length === 0) return `${host === "" ? "?" : host}:${port}`;
  return addr.length === 16 ? `[${formatIp(addr)}]:${port}` : `${formatIp(addr)}:${port}`;
}

/** A record for a new flow, undecided, with the metadata's addresses. */
export function newConnRecord(meta: ConnMetadata, start = Date.now()): ConnRecord {
  return {
    id: meta.id,
    network: meta.network,
    inbound: meta.inbound,
    inboundType: meta.inboundType,
    sourceIp: ipText(meta.source.addr),
    sourcePort: meta.source.port,
    destinationIp: ipText(meta.destination.addr),
    destinationPort: meta.destination.port,
    destinationHost: meta.destination.fqdn ?? "",
    domain: "",
    protocol: "",
    processPath: "",
    action: "refused",
    ruleIndex: -2,
    rule: "",
    outbound: "",
    chain: [],
    upload: 0,
    download: 0,
    start,
  };
}

/**
 * Copies what routing learnt into the record: the destination after FakeIP and overrides, the
 * sniffed domain and protocol, the process when it was looked up.
 */
export function updateFromMetadata(rec: ConnRecord, meta: ConnMetadata): void {
  rec.destinationIp = ipText(meta.destination.addr);
  rec.destinationPort = meta.destination.port;
  rec.destinationHost = meta.destination.fqdn ?? "";
  rec.domain = meta.domain;
  rec.protocol = meta.protocol;
  rec.processPath = meta.process?.path ?? "";
}

/** The destination of a record for log lines: `1.2.3.4:443`, `example.com:443`. */
export function recordDestination(rec: ConnRecord): string {
  if (rec.destinationIp === "") return `${rec.destinationHost || "?"}:${rec.destinationPort}`;
  return rec.destinationIp.includes(":")
    ? `[${rec.destinationIp}]:${rec.destinationPort}`
    : `${rec.destinationIp}:${rec.destinationPort}`;
}
