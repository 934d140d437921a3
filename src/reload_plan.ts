/**
 * What a reload (SIGHUP, `systemctl reload`) has to do, from the running options and the new
 * ones: which parts can be swapped in place, which must restart, and the words for the log.
 *
 * - A TUN inbound whose section is unchanged keeps its device, addresses, routes and rules (and
 *   so every connection through it); a changed, added or removed TUN section restarts the
 *   instance (the device is rebuilt, connections end), as does a change of the memory the
 *   workers share (FakeIP ranges, reverse mapping, cache file, selectors, Clash modes, NTP).
 * - Listener inbounds (`socks`, `http`, `mixed`) restart only when their sections changed.
 * - Router rules, `final`, rule sets, outbounds, DNS and the dial defaults of `route` are
 *   swapped in place in every worker: new connections use the new ones, running connections
 *   keep the outbound they dialed, unless that outbound was removed (then they are closed).
 * - `log` is applied again; a changed `experimental.clash_api` restarts the API server.
 *
 * ```ts
 * const plan = planReload(running, next);
 * for (const line of plan.changed) log.info("reload: changed {what}", { what: line });
 * ```
 *
 * @module
 */

import type { InboundOptions, Options, OutboundOptions } from "./config/types.ts";
import { formatIp } from "./net/ip.ts";
import { clashModeList } from "./store/shared_state.ts";

/** What {@linkcode planReload} decided. */
export interface ReloadPlan {
  /**
   * Why the whole instance must restart (close, then start with the new config), or null when
   * the reload can happen in place: a TUN inbound section changed, appeared or disappeared, or
   * the layout of the memory the workers share changed (FakeIP ranges, reverse mapping, cache
   * file, selectors, Clash modes, NTP).
   */
  restart: string | null;
  /** A TUN inbound section changed, appeared or disappeared: rebuild the TUN inbounds. */
  restartTun: boolean;
  /** A listener inbound section changed, appeared or disappeared: restart the listener worker. */
  restartListeners: boolean;
  /** Router, outbounds, DNS or rule sets differ: workers build and swap in new services. */
  swapServices: boolean;
  /** `log` differs. */
  relog: boolean;
  /** `experimental.clash_api` differs. */
  restartApi: boolean;
  /** Outbound tags that are gone: connections through them are closed. */
  removedOutbounds: string[];
  /** One line per changed part, for the log (`route.rules`, `outbound/socks[proxy]` ...). */
  changed: string[];
  /** One line per part kept as it runs (`inbound/tun[tun-in]` ...). */
  kept: string[];
}

/** True for a decoder's `SourceRef` (where a rule came from: file, line, column, path). */
function isSourceRef(v: unknown): boolean {
  if (!v || typeof v !== "object") return false;
  const keys = Object.keys(v).sort().join(",");
  return keys === "column,file,line,path";
}

/**
 * A canonical JSON form: object keys sorted, byte arrays as IP text or hex, and the decoder's
 * source positions left out, so two decodes of equal configs compare equal whatever their key
 * order and layout.
 */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (key, v) => {
    if (key === "source" && isSourceRef(v)) return undefined;
    if (v instanceof Uint8Array) {
      return v.length === 4 || v.length === 16
        ? `ip:${formatIp(v)}`
        : `hex:${Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("")}`;
    }
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        if ((v as Record<string, unknown>)[k] !== undefined) {
          sorted[k] = (v as Record<string, unknown>)[k];
        }
      }
      return sorted;
    }
    return v;
  });
}

function same(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function label(o: InboundOptions | OutboundOptions, kind: "inbound" | "outbound"): string {
  return `${kind}/${o.type}[${o.tag}]`;
}

/** Compares two lists of tagged sections: added, removed, changed and kept labels. */
function diffTagged<T extends InboundOptions | OutboundOptions>(
  before: readonly T[],
  after: readonly T[],
): { added: T[]; removed: T[]; changed: T[]; kept: T[] } {
  const old = new Map(before.map((o) => [`${o.type}/${o.tag}`, o]));
  const out = { added: [] as T[], removed: [] as T[], changed: [] as T[], kept: [] as T[] };
  const seen = new Set<string>();
  for (const o of after) {
    const key = `${o.type}/${o.tag}`;
    seen.add(key);
    const prev = old.get(key);
    if (!prev) out.added.push(o);
    else if (same(prev, o)) out.kept.push(o);
    else out.changed.push(o);
  }
  for (const [key, o] of old) if (!seen.has(key)) out.removed.push(o);
  return out;
}

/** What the memory shared by the workers is laid out from (`src/dns/shared_names.ts`, `src/store/shared_state.ts`). */
function sharedLayout(o: Options): unknown {
  return {
    fakeip: o.dns.servers.filter((s) => s.type === "fakeip"),
    reverse: o.dns.reverse_mapping === true,
    cache: o.experimental.cache_file,
    selectors: o.outbounds.filter((x) => x.type === "selector"),
    modes: clashModeList(o),
    ntp: o.ntp,
  };
}

/** Plans the reload from `running` to `next` (see the module doc). */
export function planReload(running: Options, next: Options): ReloadPlan {
  const changed: string[] = [];
  const kept: string[] = [];
  const isTun = (i: InboundOptions) => i.type === "tun";
  const tun = diffTagged(running.inbounds.filter(isTun), next.inbounds.filter(isTun));
  const listeners = diffTagged(
    running.inbounds.filter((i) => !isTun(i)),
    next.inbounds.filter((i) => !isTun(i)),
  );
  const outbounds = diffTagged(running.outbounds, next.outbounds);
  for (
    const [what, d] of [["inbound", tun], ["inbound", listeners], [
      "outbound",
      outbounds,
    ]] as const
  ) {
    for (const o of d.added) changed.push(`${label(o, what)} added`);
    for (const o of d.removed) changed.push(`${label(o, what)} removed`);
    for (const o of d.changed) changed.push(`${label(o, what)} changed`);
    for (const o of d.kept) kept.push(label(o, what));
  }
  const outboundOrderChanged = !same(
    running.outbounds.map((o) => o.tag),
    next.outbounds.map((o) => o.tag),
  );
  const { rules: r0, rule_set: s0, ...route0 } = running.route;
  const { rules: r1, rule_set: s1, ...route1 } = next.route;
  const parts: [string, unknown, unknown][] = [
    ["route.rules", r0, r1],
    ["route.rule_set", s0, s1],
    ["route (final, interface, mark, resolver)", route0, route1],
    ["dns", running.dns, next.dns],
  ];
  let servicesDiffer = outbounds.added.length + outbounds.removed.length +
          outbounds.changed.length > 0 || outboundOrderChanged;
  for (const [name, a, b] of parts) {
    if (same(a, b)) kept.push(name);
    else {
      changed.push(name);
      servicesDiffer = true;
    }
  }
  const relog = !same(running.log, next.log);
  if (relog) changed.push("log");
  const restartApi = !same(running.experimental.clash_api, next.experimental.clash_api);
  if (restartApi) changed.push("experimental.clash_api");
  const restartTun = tun.added.length + tun.removed.length + tun.changed.length > 0;
  const sharedLayoutChanged = !same(sharedLayout(running), sharedLayout(next));
  if (sharedLayoutChanged) {
    changed.push(
      "shared state (FakeIP, reverse mapping, cache file, selectors, Clash modes or NTP)",
    );
  }
  const restart = restartTun
    ? "a tun inbound changed"
    : sharedLayoutChanged
    ? "the state workers share changed (FakeIP, reverse mapping, cache file, selectors, Clash modes or NTP)"
    : null;
  const restartListeners =
    listeners.added.length + listeners.removed.length + listeners.changed.length > 0;
  return {
    restart,
    restartTun,
    restartListeners,
    swapServices: servicesDiffer,
    relog,
    restartApi,
    removedOutbounds: outbounds.removed.map((o) => o.tag),
    changed,
    kept,
  };
}
