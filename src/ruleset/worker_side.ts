/**
 * The rule-set parts of a reactor worker (`src/worker/entry.ts`): the worker's registry of live
 * rule-sets, built from the sets loaded when it started and updated by `rule-set` messages, and
 * the `fetch` message that downloads a remote set through one of the worker's outbounds.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Options } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import type { Outbound } from "../outbound/mod.ts";
import { type RuleSetPayload, RuleSetRegistry } from "../route/rule_set.ts";
import type { DownloadRequest, DownloadResult } from "./download.ts";

const log = getLogger(["tunbox", "rule-set"]);

/** The worker's rule-sets: every tag of `route.rule_set`, with the sets loaded so far. */
export function createRuleSetRegistry(
  options: Options,
  payloads: readonly RuleSetPayload[] = [],
): RuleSetRegistry {
  const registry = new RuleSetRegistry(options.route.rule_set.map((s) => s.tag));
  for (const p of payloads) updateRuleSet(registry, p);
  return registry;
}

/** Swaps in a loaded set; a set that cannot be compiled leaves the previous rules (logged). */
export function updateRuleSet(registry: RuleSetRegistry, payload: RuleSetPayload): void {
  try {
    registry.update(payload);
  } catch (e) {
    log.error("rule-set {tag}: cannot use the new rules, keeping the previous ones: {error}", {
      tag: payload.tag,
      error: (e as Error).message,
    });
  }
}

let nextId = 0x7000_0000;

/**
 * Downloads for the main thread through `detour` (else `defaultOutbound`). Resolves with the
 * `fetched` answer (never rejects).
 */
export async function fetchForMain(
  outbounds: ReadonlyMap<string, Outbound>,
  defaultOutbound: string,
  reactor: Reactor,
  msg: { id: number; request: DownloadRequest; detour?: string },
): Promise<{ type: "fetched"; id: number; result?: DownloadResult; error?: string }> {
  const tag = msg.detour || defaultOutbound;
  const outbound = outbounds.get(tag);
  if (!outbound) {
    return { type: "fetched", id: msg.id, error: `download_detour: outbound "${tag}" not found` };
  }
  try {
    // The downloader (HTTP, TLS) is imported by the first download, not by every worker.
    const { download } = await import("./download.ts");
    const result = await download(outbound, reactor, msg.request, nextId++);
    return { type: "fetched", id: msg.id, result };
  } catch (e) {
    return { type: "fetched", id: msg.id, error: (e as Error).message };
  }
}
