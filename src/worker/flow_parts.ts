/**
 * What a worker routes and dials flows with, built from decoded options: the outbounds, the DNS
 * module, the router, NTP, and the connection path's services on top of them. Each worker builds
 * them once at start and again for a reload; nothing else builds them, so what a worker runs is
 * what this module makes of the options.
 *
 * ```ts
 * const parts = await buildFlowParts(options, { reactor, ruleSets: new RuleSetRegistry() });
 * const path = new ConnectionPath({ reactor, services: parts.flow, ids: new ConnIds() });
 * parts.close(); // once no connection uses them
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { FlowServices } from "../conn/mod.ts";
import type { Options } from "../config/types.ts";
import { createDns, dnsFlowPrepare, type DnsModule, type SharedDnsMemory } from "../dns/mod.ts";
import type { Reactor } from "../io/reactor.ts";
import { startNtp } from "../ntp/mod.ts";
import { createOutbounds } from "../outbound/registry.ts";
import { loadOutbounds } from "../outbound/load.ts";
import type { BoundSockets } from "../outbound/bound_sockets.ts";
import type { DialContext, Outbound } from "../outbound/types.ts";
import type { Platform } from "../platform/types.ts";
import type { NetworkInterface } from "../platform/types.ts";
import { setClashModeSource } from "../route/clash_mode.ts";
import { hasProcessLookup, setProcessLookup, setUserLookup } from "../route/process.ts";
import { Router } from "../route/router.ts";
import type { RuleSetRegistry } from "../route/rule_set.ts";
import { SharedState, type SharedStateMemory } from "../store/shared_state.ts";
import { inboundDnsHijack } from "../tun/inbound_dns.ts";

/**
 * The flow services built from one version of the options: replaced as a whole by a reload (the
 * old parts stay open while connections that started with them are live).
 */
export interface FlowParts {
  flow: FlowServices;
  outbounds: Map<string, Outbound>;
  dns: DnsModule;
  router: Router;
  /** The outbound remote rule-sets download through when they name none. */
  defaultOutbound: string;
  /** What TLS clients trust (the top-level `certificate`), for the Clash API's URL tests. */
  certificate: Options["certificate"];
  /** Stops NTP, closes the DNS module and the outbounds. */
  close(): void;
}

/** What the parts are built from besides the options (a worker keeps it across reloads). */
export interface PartsBase {
  reactor: Reactor;
  /** The rule-sets route and DNS rules name (the worker swaps their contents in place). */
  ruleSets: RuleSetRegistry;
  /** Sockets dialed from this host, for network changes. */
  sockets?: BoundSockets;
  platform?: Platform;
  /** FakeIP and reverse-mapping memory shared by the instance's workers. */
  shared?: SharedDnsMemory;
  /** Selector choices, the Clash mode and the NTP clock shared by the instance's workers. */
  stateMemory?: SharedStateMemory | undefined;
  /** route.auto_detect_interface: the current default interface. */
  defaultInterface?: () => NetworkInterface | null;
}

/**
 * Builds the outbounds, DNS module, router and NTP from `options` (decoded, so they build: the
 * decoder refuses what these would; `tests/config/check_run_property_test.ts`). Throws the
 * factories' TypeError otherwise. Only the outbound types `options` names are imported
 * (`src/outbound/load.ts`).
 */
export async function buildFlowParts(options: Options, base: PartsBase): Promise<FlowParts> {
  const registry = await loadOutbounds(options.outbounds);
  const { reactor, sockets, platform, shared, stateMemory, ruleSets } = base;
  const state = stateMemory ? new SharedState(stateMemory) : undefined;
  if (state) setClashModeSource(() => state.mode);
  // Process-wide: a build without a platform (the main thread's trial build before a reload)
  // leaves them to the worker, which may run in the same isolate.
  if (platform) {
    setProcessLookup(
      platform.findProcess ? (network, source) => platform.findProcess!(network, source) : null,
      onceProcessError(),
    );
    setUserLookup(platform.userId ? (name) => platform.userId!(name) : null);
  }
  const ctx: DialContext = {
    reactor,
    ...(platform ? { platform } : {}),
    ...(sockets ? { sockets } : {}),
    ...(state ? { selections: state } : {}),
    ...(base.defaultInterface ? { defaultInterface: base.defaultInterface } : {}),
    ...(options.route.default_mark !== undefined
      ? { defaultMark: options.route.default_mark }
      : {}),
    ...(options.certificate ? { certificate: options.certificate } : {}),
  };
  const outbounds = createOutbounds(options.outbounds, ctx, options.route, registry);
  const defaultOutbound = options.route.final || options.outbounds[0]?.tag || "";
  ruleSets.define(options.route.rule_set.map((s) => s.tag));
  const dns = createDns(options, {
    reactor,
    outbounds,
    defaultOutbound,
    ctx,
    ...(shared ? { shared } : {}),
    ruleSets,
  });
  ctx.resolve = (domain, strategy, request) => dns.lookup(domain, strategy, request);
  const router = new Router({
    rules: options.route.rules,
    outbounds: options.outbounds,
    ...(options.route.final !== undefined ? { final: options.route.final } : {}),
    ruleSets,
  });
  const stopNtp = startNtp(options, stateMemory?.clock, { reactor, outbounds, ctx });
  const flow: FlowServices = {
    router,
    outbounds,
    dns,
    prepare: dnsFlowPrepare(options, dns),
    lookup: (domain, strategy) => dns.lookup(domain, strategy),
    autoHijack: inboundDnsHijack(options),
    findProcess: options.route.find_process === true && hasProcessLookup(),
  };
  return {
    flow,
    outbounds,
    dns,
    router,
    defaultOutbound,
    certificate: options.certificate,
    close() {
      stopNtp?.();
      dns.close();
      outbounds.forEach((o) => o.close());
    },
  };
}

/** Logs the first failed process lookup of this worker (the rest would say the same). */
function onceProcessError(): (error: unknown) => void {
  let logged = false;
  return (error) => {
    if (logged) return;
    logged = true;
    getLogger(["tunbox", "route"]).warn(
      "process lookup failed: {error}; process_name, process_path and user rules do not match this connection",
      { error: error instanceof Error ? error.message : String(error) },
    );
  };
}
