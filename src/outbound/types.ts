/**
 * The outbound contract: what the router hands a connection to, and what every outbound type
 * (direct, socks, http, block, selector, urltest) implements. Outbounds run on a worker's
 * {@linkcode Reactor}: every socket they open is a reactor socket (`src/io/socket.ts`).
 *
 * @module
 */

import type { CertificateOptions, DomainStrategy } from "../config/types.ts";
import { SysError } from "../../ffi/errno.ts";
import type { Reactor } from "../io/reactor.ts";
import type { Stream } from "../io/stream.ts";
import { formatIp } from "../net/ip.ts";
import type { NetworkInterface, Platform } from "../platform/mod.ts";
import type { BoundSockets } from "./bound_sockets.ts";

/** Where to connect: an IP address, a domain, or both (then the address is used). */
export interface Destination {
  /** 4 or 16 bytes. */
  addr?: Uint8Array;
  domain?: string;
  port: number;
}

/** Formats a destination for messages: `1.2.3.4:80`, `[::1]:443`, `example.com:443`. */
export function formatDestination(dest: Destination): string {
  if (dest.addr && dest.addr.length === 16) return `[${formatIp(dest.addr)}]:${dest.port}`;
  if (dest.addr && dest.addr.length === 4) return `${formatIp(dest.addr)}:${dest.port}`;
  return `${dest.domain ?? "?"}:${dest.port}`;
}

/** What outbounds need from the worker that runs them. */
export interface DialContext {
  reactor: Reactor;
  /** Socket binding (interface, mark) and interface lookup by name. */
  platform?: Pick<Platform, "bindToInterface" | "setMark" | "interfaceIndex" | "hardwareAddress">;
  /** route.auto_detect_interface: the current default interface (null = unknown). */
  defaultInterface?: () => NetworkInterface | null;
  /** route.default_mark. */
  defaultMark?: number;
  /** The top-level `certificate` section: what TLS clients trust by default (absent: system). */
  certificate?: CertificateOptions;
  /** Tracks the sockets dialed from this host so network changes can end dead ones. */
  sockets?: BoundSockets;
  /**
   * Resolves a domain to addresses (the DNS module provides it). Absent: dialing a domain fails
   * with a clear error.
   */
  resolve?: (
    domain: string,
    strategy?: DomainStrategy,
    request?: ResolveRequest,
  ) => Promise<Uint8Array[]>;
  /**
   * Selector choices shared by every worker and persisted by the main thread
   * (`src/store/shared_state.ts`). Absent: each selector keeps its choice to itself.
   */
  selections?: SelectorChoices;
}

/**
 * Who asks to resolve a name, as sing-box's dialers tell its DNS router: `server`, the DNS server
 * a `domain_resolver` (or `route.default_domain_resolver`) names, answers directly; without it
 * the DNS rules decide, and `outbound` (the tag of the outbound that dials) is what legacy
 * `outbound` DNS rule items match.
 */
export interface ResolveRequest {
  server?: string;
  outbound?: string;
}

/** Where selectors read and write their choice when it is shared. */
export interface SelectorChoices {
  hasSelector(tag: string): boolean;
  selected(tag: string): string | undefined;
  select(tag: string, member: string): boolean;
}

/** Per-connection data passed to an outbound (the connection id for logs). */
export interface DialMeta {
  id: number;
}

/** A connection target for the router. */
export interface Outbound {
  readonly tag: string;
  readonly type: string;
  readonly networks: ReadonlySet<"tcp" | "udp">;
  /**
   * Connected, handshake done, ready to relay: a kernel socket (direct, socks, http) or a stream
   * layered over one (TLS, proxy protocols). Errors are {@linkcode OutboundError}.
   */
  dialTcp(dest: Destination, meta: DialMeta): Promise<Stream>;
  /** A UDP flow whose datagrams each carry their own destination (full-cone). */
  openUdp(meta: DialMeta): Promise<UdpFlow>;
  /**
   * ICMP echo to `destination` (an IP address), for outbounds that can carry ICMP (sing-box:
   * `direct`, WireGuard, Tailscale); absent on the others, which makes an echo request routed
   * to them fail as in sing-box ("icmp is not supported by outbound"). Throws
   * {@linkcode OutboundError} when the socket cannot be made.
   */
  openIcmp?(destination: Uint8Array, meta: DialMeta): IcmpFlow;
  close(): void;
}

/**
 * ICMP echo to one destination through an outbound (sing-box 1.13's direct-route connection):
 * requests go out as they came, replies come back with the request's identifier restored.
 */
export interface IcmpFlow {
  /** Sends an echo request: the whole ICMP message (type, code, checksum, id, seq, data). */
  send(message: Uint8Array): void;
  /**
   * Receives each echo reply (the ICMP message; its checksum is not valid and must be
   * recomputed for the packet it goes into); the bytes are valid only during the call.
   */
  onReply: ((message: Uint8Array) => void) | null;
  readonly closed: boolean;
  close(): void;
}

/** The part of an outbound that other outbounds dial through (`detour`). */
export type Dialer = Pick<Outbound, "dialTcp" | "openUdp">;

/** A UDP association: datagrams to any destination, replies from any source. */
export interface UdpFlow {
  /**
   * Sends one datagram; dropped (and counted in `dropped`) when the socket would block.
   * `payload` is only read during the call (what waits is copied), so callers may reuse it.
   */
  send(payload: Uint8Array, dest: Destination): void;
  /** Receives each datagram; `payload` is only valid during the call. */
  onPacket: ((payload: Uint8Array, from: Destination) => void) | null;
  /** Called once when the flow ends by itself (control connection closed, socket error). */
  onClose: ((reason?: Error) => void) | null;
  /** Datagrams dropped so far (would block, unresolvable destination, oversized). */
  readonly dropped: number;
  /**
   * Optional: from now on, datagrams of up to `maxDatagram` bytes may be held until the end of
   * the reactor round and leave together (one `sendmmsg` on Linux). For a caller that sends
   * bursts (a tunnel's packets); flows without it send each datagram at once.
   */
  holdSends?(maxDatagram: number): void;
  close(): void;
}

/** How a dial failed; the router maps it to what the application sees (RST, ICMP). */
export type OutboundErrorKind =
  | "refused"
  | "unreachable"
  | "timeout"
  | "blocked"
  | "protocol"
  | "auth";

/** A failed dial or handshake. The message names the outbound, the action and the value. */
export class OutboundError extends Error {
  override name = "OutboundError";
  constructor(
    readonly kind: OutboundErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const ERRNO_KIND: Record<string, OutboundErrorKind> = {
  ECONNREFUSED: "refused",
  ECONNRESET: "refused",
  ECONNABORTED: "refused",
  EPIPE: "refused",
  ETIMEDOUT: "timeout",
  ENETUNREACH: "unreachable",
  EHOSTUNREACH: "unreachable",
  ENETDOWN: "unreachable",
  EADDRNOTAVAIL: "unreachable",
  EAFNOSUPPORT: "unreachable",
  EACCES: "blocked",
  EPERM: "blocked",
};

/**
 * Wraps any failure as an {@linkcode OutboundError}: system errors by errno (ECONNREFUSED →
 * refused, ETIMEDOUT → timeout, ENETUNREACH → unreachable, ...), anything else as `fallback`.
 * `prefix` names the outbound and action ("socks outbound \"proxy\": connect to 1.2.3.4:1080").
 */
export function toOutboundError(
  error: unknown,
  prefix: string,
  fallback: OutboundErrorKind = "protocol",
): OutboundError {
  if (error instanceof OutboundError) {
    return error.message.startsWith(prefix)
      ? error
      : new OutboundError(error.kind, `${prefix}: ${error.message}`, { cause: error });
  }
  if (error instanceof SysError) {
    return new OutboundError(ERRNO_KIND[error.code] ?? fallback, `${prefix}: ${error.message}`, {
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new OutboundError(fallback, `${prefix}: ${message}`, { cause: error });
}

/** An outbound that delegates each dial to one of its members (`selector`, `urltest`). */
export interface OutboundGroup extends Outbound {
  /** Member tags, in config order. */
  readonly members: readonly string[];
  /** The member dials go to now. */
  readonly selected: string;
}

/** True when `o` is a group (has members and a selected one). */
export function isOutboundGroup(o: Outbound): o is OutboundGroup {
  return "members" in o && "selected" in o;
}
