/**
 * Rule actions compiled from {@linkcode RuleAction} (sing-box `route/rule/rule_action.go`).
 *
 * Final actions stop rule evaluation: `route`, `reject`, `hijack-dns`, and `bypass` when it names
 * an outbound (tunbox has no `auto_redirect`, so `bypass` behaves as `route`, and a `bypass`
 * without an outbound is skipped, as sing-box does outside auto-redirect pre-match).
 * Non-final actions apply and continue: `route-options`, `sniff`, `resolve`.
 *
 * @module
 */

import type { DomainStrategy, Prefix, RouteOptionsFields, RuleAction } from "../config/types.ts";
import { featureId, verdict } from "../config/support.ts";
import { formatIp, formatPrefix, parseIp } from "../net/ip.ts";
import {
  DEFAULT_SNIFF_TIMEOUT_MS,
  PACKET_SNIFFER_NAMES,
  STREAM_SNIFFER_NAMES,
} from "../sniff/mod.ts";
import type { ConnMetadata, Endpoint } from "./metadata.ts";

export { DEFAULT_SNIFF_TIMEOUT_MS };

/** Reject flood protection: more than this many triggers ... */
export const REJECT_FLOOD_COUNT = 50;
/** ... within this window (ms) switch `method: "default"` to `drop` unless `no_drop`. */
export const REJECT_FLOOD_WINDOW_MS = 30_000;

/** Every sniffer name sing-box accepts, with the flow kinds it applies to. */
const SNIFFER_KINDS: Record<string, { stream: boolean; packet: boolean }> = {
  tls: { stream: true, packet: false },
  http: { stream: true, packet: false },
  quic: { stream: false, packet: true },
  dns: { stream: true, packet: true },
  stun: { stream: false, packet: true },
  bittorrent: { stream: true, packet: true },
  dtls: { stream: false, packet: true },
  ssh: { stream: true, packet: false },
  rdp: { stream: true, packet: false },
  ntp: { stream: false, packet: true },
};

/** Stream sniffers tunbox implements (`src/sniff/`), in sing-box's default order. */
export const STREAM_SNIFFERS: readonly string[] = STREAM_SNIFFER_NAMES;
/** Packet sniffers tunbox implements (`src/sniff/`), in sing-box's default order. */
export const PACKET_SNIFFERS: readonly string[] = PACKET_SNIFFER_NAMES;

/** A destination override from `override_address`. */
export interface AddressOverride {
  addr: Uint8Array;
  fqdn: string;
}

/** The route-options part of `route`, `bypass` and `route-options`. */
export interface CompiledRouteOptions {
  fields: RouteOptionsFields;
  override: AddressOverride | null;
  overridePort: number;
}

/** Options handed to the `resolve` hook. */
export interface ResolveOptions {
  server?: string;
  strategy?: DomainStrategy;
  disable_cache?: boolean;
  rewrite_ttl?: number;
  client_subnet?: Prefix;
}

/** Counts `reject` triggers for the flood switch to `drop`; the clock is injected. */
export class RejectFloodGuard {
  #times: number[] = [];
  #head = 0;

  /** Records one trigger at `now` (ms); true when this trigger must be dropped. */
  hit(now: number): boolean {
    const times = this.#times;
    while (this.#head < times.length && now - times[this.#head]! > REJECT_FLOOD_WINDOW_MS) {
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > times.length) {
      this.#times = times.slice(this.#head);
      this.#head = 0;
    }
    this.#times.push(now);
    return this.#times.length - this.#head > REJECT_FLOOD_COUNT;
  }
}

/** A compiled action; `text` is sing-box's description (`route(direct)`, `reject(drop)`). */
export type CompiledAction =
  | { kind: "route"; outbound: string; route: CompiledRouteOptions; text: string }
  | { kind: "bypass"; outbound: string; route: CompiledRouteOptions; text: string }
  | { kind: "route-options"; route: CompiledRouteOptions; text: string }
  | {
    kind: "reject";
    method: "default" | "drop" | "reply";
    guard: RejectFloodGuard | null;
    text: string;
  }
  | { kind: "hijack-dns"; text: string }
  | {
    kind: "sniff";
    /** Implemented stream sniffers to run (in order) for TCP. */
    stream: string[];
    /** Implemented packet sniffers to run (in order) for UDP. */
    packet: string[];
    /** The rule names stream sniffers (implemented or not), or names none at all. */
    wantsStream: boolean;
    /** The rule names packet sniffers (implemented or not), or names none at all. */
    wantsPacket: boolean;
    timeoutMs: number;
    text: string;
  }
  | { kind: "resolve"; options: ResolveOptions; text: string };

/**
 * Compiles one action. `where` names the rule for errors (`route.rules[2]`); problems that do not
 * stop the rule (sniffers tunbox lacks) are appended to `warnings`.
 */
export function compileAction(
  action: RuleAction,
  where: string,
  warnings: string[],
): CompiledAction {
  switch (action.action) {
    case "route": {
      const route = compileRouteOptions(action, where);
      return {
        kind: "route",
        outbound: action.outbound,
        route,
        text: `route(${[action.outbound, ...describeRouteOptions(route)].join(",")})`,
      };
    }
    case "bypass": {
      const route = compileRouteOptions(action as RouteOptionsFields, where);
      const outbound = action.outbound ?? "";
      return {
        kind: "bypass",
        outbound,
        route,
        text: `bypass(${[outbound, ...describeRouteOptions(route)].filter((s) => s).join(",")})`,
      };
    }
    case "route-options": {
      const route = compileRouteOptions(action, where);
      return {
        kind: "route-options",
        route,
        text: `route-options(${describeRouteOptions(route).join(",")})`,
      };
    }
    case "reject": {
      const method = action.method ?? "default";
      if (method !== "default" && method !== "drop" && method !== "reply") {
        throw new TypeError(`${where}: unknown reject method "${method as string}"`);
      }
      return {
        kind: "reject",
        method,
        guard: method === "default" && !action.no_drop ? new RejectFloodGuard() : null,
        text: method === "default" ? "reject" : `reject(${method})`,
      };
    }
    case "hijack-dns":
      return { kind: "hijack-dns", text: "hijack-dns" };
    case "sniff":
      return compileSniff(action.sniffer, action.timeout, where, warnings);
    case "resolve": {
      const options: ResolveOptions = {};
      const parts: string[] = [];
      if (action.server) {
        options.server = action.server;
        parts.push(action.server);
      }
      if (action.strategy) {
        options.strategy = action.strategy;
        parts.push(action.strategy);
      }
      if (action.disable_cache) {
        options.disable_cache = true;
        parts.push("disable_cache");
      }
      if (action.rewrite_ttl !== undefined) {
        options.rewrite_ttl = action.rewrite_ttl;
        parts.push(`rewrite_ttl=${action.rewrite_ttl}`);
      }
      if (action.client_subnet) {
        options.client_subnet = action.client_subnet;
        parts.push(`client_subnet=${formatPrefix(action.client_subnet)}`);
      }
      return {
        kind: "resolve",
        options,
        text: parts.length === 0 ? "resolve" : `resolve(${parts.join(",")})`,
      };
    }
    default:
      throw new TypeError(
        `${where}: unknown rule action "${(action as { action: string }).action}"`,
      );
  }
}

function compileSniff(
  names: readonly string[],
  timeout: number | undefined,
  where: string,
  warnings: string[],
): CompiledAction {
  let stream: string[], packet: string[];
  let wantsStream = true, wantsPacket = true;
  if (names.length === 0) {
    stream = [...STREAM_SNIFFERS];
    packet = [...PACKET_SNIFFERS];
  } else {
    stream = [];
    packet = [];
    wantsStream = wantsPacket = false;
    const missing: string[] = [];
    for (const name of names) {
      const kinds = SNIFFER_KINDS[name];
      if (!kinds) throw new TypeError(`${where}: unknown sniffer "${name}"`);
      wantsStream ||= kinds.stream;
      wantsPacket ||= kinds.packet;
      let implemented = false;
      if (kinds.stream && STREAM_SNIFFERS.includes(name)) {
        if (!stream.includes(name)) stream.push(name);
        implemented = true;
      }
      if (kinds.packet && PACKET_SNIFFERS.includes(name)) {
        if (!packet.includes(name)) packet.push(name);
        implemented = true;
      }
      if (!implemented) missing.push(name);
    }
    for (const name of missing) {
      // The verdict's words, which `check` reports at the sniffer's position.
      const id = featureId("sniff", name);
      if (id) warnings.push(`${where}: ${verdict(id).message}`);
    }
  }
  const timeoutMs = timeout !== undefined && timeout > 0 ? timeout : DEFAULT_SNIFF_TIMEOUT_MS;
  let text = "sniff";
  const shownTimeout = timeout !== undefined && timeout > 0;
  if (names.length > 0 || shownTimeout) {
    const parts = [...names];
    if (shownTimeout) parts.push(formatGoDuration(timeout));
    text = `sniff(${parts.join(",")})`;
  }
  return { kind: "sniff", stream, packet, wantsStream, wantsPacket, timeoutMs, text };
}

function compileRouteOptions(o: RouteOptionsFields, where: string): CompiledRouteOptions {
  const fields: RouteOptionsFields = {};
  let override: AddressOverride | null = null;
  if (o.override_address !== undefined && o.override_address !== "") {
    const ip = parseIp(o.override_address);
    override = ip ? { addr: ip, fqdn: "" } : { addr: new Uint8Array(0), fqdn: o.override_address };
    if (!ip && !/^[A-Za-z0-9_.-]+$/.test(o.override_address)) {
      throw new TypeError(
        `${where}: override_address "${o.override_address}" is neither an IP nor a domain`,
      );
    }
    fields.override_address = o.override_address;
  }
  const overridePort = o.override_port ?? 0;
  if (!Number.isInteger(overridePort) || overridePort < 0 || overridePort > 65535) {
    throw new RangeError(`${where}: override_port ${overridePort} is outside 0..65535`);
  }
  if (overridePort > 0) fields.override_port = overridePort;
  if (o.network_strategy !== undefined) fields.network_strategy = o.network_strategy;
  if (o.fallback_delay) fields.fallback_delay = o.fallback_delay;
  if (o.udp_disable_domain_unmapping) fields.udp_disable_domain_unmapping = true;
  if (o.udp_connect) fields.udp_connect = true;
  if (o.udp_timeout && o.udp_timeout > 0) fields.udp_timeout = o.udp_timeout;
  if (o.tls_fragment) {
    fields.tls_fragment = true;
    if (o.tls_fragment_fallback_delay !== undefined) {
      fields.tls_fragment_fallback_delay = o.tls_fragment_fallback_delay;
    }
  }
  if (o.tls_record_fragment) fields.tls_record_fragment = true;
  return { fields, override, overridePort };
}

function describeRouteOptions(r: CompiledRouteOptions): string[] {
  const f = r.fields;
  const out: string[] = [];
  if (r.override) {
    out.push(`override-address=${r.override.fqdn || formatIp(r.override.addr)}`);
  }
  if (r.overridePort > 0) out.push(`override-port=${r.overridePort}`);
  if (f.network_strategy !== undefined) out.push(`network-strategy=${f.network_strategy}`);
  if (f.fallback_delay) out.push(`fallback-delay=${formatGoDuration(f.fallback_delay)}`);
  if (f.udp_disable_domain_unmapping) out.push("udp-disable-domain-unmapping");
  if (f.udp_connect) out.push("udp-connect");
  if (f.udp_timeout) out.push("udp-timeout");
  if (f.tls_fragment) out.push("tls-fragment");
  if (f.tls_fragment_fallback_delay) {
    out.push(`tls-fragment-fallback-delay=${formatGoDuration(f.tls_fragment_fallback_delay)}`);
  }
  if (f.tls_record_fragment) out.push("tls-record-fragment");
  return out;
}

/**
 * Applies route options to a flow as sing-box's `matchRule` does: the first override saves the
 * original destination; `override_address` replaces the address (clearing resolved addresses)
 * and keeps the port; `override_port` replaces the port; other fields are merged.
 */
export function applyRouteOptions(meta: ConnMetadata, r: CompiledRouteOptions): void {
  if ((r.override || r.overridePort > 0) && meta.originalDestination === null) {
    meta.originalDestination = meta.destination;
  }
  if (r.override) {
    const dest: Endpoint = { addr: r.override.addr, port: meta.destination.port };
    if (r.override.fqdn) dest.fqdn = r.override.fqdn;
    meta.destination = dest;
    meta.destinationAddresses = [];
  }
  if (r.overridePort > 0) {
    const dest: Endpoint = { addr: meta.destination.addr, port: r.overridePort };
    if (meta.destination.fqdn !== undefined) dest.fqdn = meta.destination.fqdn;
    meta.destination = dest;
  }
  Object.assign(meta.routeOptions, r.fields);
}

/** Formats milliseconds as Go's `time.Duration.String()` does (`300ms`, `1.5s`, `1m30s`). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 0) return "-" + formatGoDuration(-ms);
  if (ms < 1000) return `${trimNumber(ms)}ms`;
  const totalSeconds = ms / 1000;
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds - h * 3600) / 60);
  const s = totalSeconds - h * 3600 - m * 60;
  let out = "";
  if (h > 0) out += `${h}h`;
  if (h > 0 || m > 0) out += `${m}m`;
  return `${out}${trimNumber(s)}s`;
}

function trimNumber(v: number): string {
  return String(Math.round(v * 1e6) / 1e6);
}
