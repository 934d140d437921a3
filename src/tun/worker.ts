/**
 * Entry module of a packet worker (a Deno Worker). The main thread sends `init`; the worker
 * builds its reactor, outbounds, router and packet engine, answers `ready` with its wake fd,
 * and runs the reactor until `stop`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { getLogger } from "@logtape/logtape";
import { Reactor } from "../io/reactor.ts";
import { configureLogging } from "../log/mod.ts";
import { builtinOutbounds, createOutbounds } from "../outbound/mod.ts";
import type { DialContext, Outbound } from "../outbound/types.ts";
import { createDns, type DnsModule, missingFakeIpRecord } from "../dns/mod.ts";
import type { ConnMetadata } from "../route/metadata.ts";
import { loadPlatform } from "../platform/mod.ts";
import type { NetworkInterface } from "../platform/types.ts";
import { Router } from "../route/router.ts";
import { TunEngine } from "./engine.ts";
import type { MainToWorker, TunWorkerInit, WorkerToMain } from "./worker_protocol.ts";

const log = getLogger(["tunbox", "worker"]);
/** How often finished connections are reported to the main thread. */
const REPORT_MS = 1000;

let reactor: Reactor | undefined;
let engine: TunEngine | undefined;
let outbounds: Map<string, Outbound> | undefined;
let dns: DnsModule | undefined;
let defaultInterface: NetworkInterface | null = null;

function post(msg: WorkerToMain): void {
  self.postMessage(msg);
}

async function start(init: TunWorkerInit): Promise<void> {
  await configureLogging(init.log.options, {
    color: init.log.color,
    workerName: `worker-${init.index}`,
    baseTime: init.log.baseTime,
  });
  defaultInterface = init.defaultInterface;
  const platform = await loadPlatform();
  const r = reactor = new Reactor(1024);
  const { options } = init;
  const ctx: DialContext = {
    reactor: r,
    platform,
    defaultInterface: () => defaultInterface,
    ...(options.route.default_mark !== undefined
      ? { defaultMark: options.route.default_mark }
      : {}),
  };
  outbounds = createOutbounds(options.outbounds, ctx, options.route, builtinOutbounds());
  const defaultOutbound = options.route.final || options.outbounds[0]?.tag || "";
  const d = dns = createDns(options, { reactor: r, outbounds, defaultOutbound, ctx });
  ctx.resolve = (domain, strategy) => d.lookup(domain, strategy);
  const reverse = options.dns.reverse_mapping === true;
  const prepare = (meta: ConnMetadata): string | null => {
    const addr = meta.destination.addr;
    if (addr.length === 0) return null;
    if (d.isFakeIp(addr)) {
      const domain = d.lookupFake(addr);
      if (domain === undefined) return missingFakeIpRecord(addr);
      // sing-box: the destination becomes the domain; the fake address is kept as the origin.
      meta.originalDestination = meta.destination;
      meta.destination = { addr: new Uint8Array(0), port: meta.destination.port, fqdn: domain };
    } else if (reverse && meta.domain === "") {
      const domain = d.lookupReverse(addr);
      if (domain !== undefined) meta.domain = domain;
    }
    return null;
  };
  const router = new Router({
    rules: options.route.rules,
    outbounds: options.outbounds,
    ...(options.route.final !== undefined ? { final: options.route.final } : {}),
  });
  const usesDns = options.dns.reverse_mapping === true ||
    options.dns.servers.some((sv) => sv.type === "fakeip");
  engine = new TunEngine(init, r, {
    router,
    outbounds,
    hijackDns: (query, meta) => d.handleQuery(query, meta),
    ...(usesDns ? { prepare } : {}),
  }, init.natListenFds ?? []);
  const report = () => {
    if (engine && engine.finished.length > 0) {
      post({ type: "connections", records: engine.finished.splice(0) });
    }
    r.setTimeout(REPORT_MS, report);
  };
  r.setTimeout(REPORT_MS, report);
  post({ type: "ready", wakeFd: r.wakeFd });
  await r.run();
}

function stop(): void {
  if (!reactor) {
    self.close();
    return;
  }
  const r = reactor;
  engine?.close();
  dns?.close();
  for (const o of outbounds?.values() ?? []) o.close();
  r.stop();
}

// A failure inside one flow must never end the worker (and every other flow with it).
self.addEventListener("unhandledrejection", (e: PromiseRejectionEvent) => {
  e.preventDefault();
  log.error("unhandled error in a flow: {error}", { error: String(e.reason) });
});
self.addEventListener("error", (e: ErrorEvent) => {
  e.preventDefault();
  log.error("uncaught error: {error}", { error: e.message });
});

self.onmessage = (e: MessageEvent<MainToWorker>) => {
  const msg = e.data;
  switch (msg.type) {
    case "init": {
      if (msg.init.role !== "tun") {
        post({ type: "failed", message: `worker role "${msg.init.role}" is not handled here` });
        return;
      }
      start(msg.init).then(() => {
        const stats = engine?.snapshot();
        if (engine && engine.finished.length > 0) {
          post({ type: "connections", records: engine.finished.splice(0) });
        }
        reactor?.close();
        if (stats) post({ type: "stopped", stats });
        self.close();
      }, (error) => {
        const message = error instanceof Error ? error.message : String(error);
        log.error("worker failed to start: {message}", { message });
        post({ type: "failed", message });
        self.close();
      });
      return;
    }
    case "stop":
      stop();
      return;
    case "default-interface":
      defaultInterface = msg.iface;
      return;
    case "stats":
      if (engine) post({ type: "stats", stats: engine.snapshot() });
      return;
  }
};
