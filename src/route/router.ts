/**
 * The router: evaluates compiled rules in order for a flow and returns what to do with it
 * (sing-box `route/route.go` `matchRule`).
 *
 * - A matching rule with a non-final action applies it and evaluation continues with the next
 *   rule: `route-options` merges options (and destination overrides) into the metadata,
 *   `sniff` reads the first payload through the caller's hook, `resolve` resolves a domain
 *   destination through the caller's hook.
 * - The first matching final action wins: `route`, `reject`, `hijack-dns` (and `bypass` with an
 *   outbound, which routes). No match: `final`, which defaults to the first outbound's tag.
 *
 * Two entry points share one evaluation:
 * - {@linkcode Router.matchSync} runs without I/O. It returns `null` when a matching `sniff` or
 *   `resolve` needs data first; the flow's `ruleCursor` then points at that rule. This is
 *   sing-box's "pre-match": a TUN stack can answer a SYN with RST for a `reject` before accepting.
 * - {@linkcode Router.route} runs to a decision, awaiting the hooks; it resumes from
 *   `ruleCursor`, so calling it after `matchSync` returned `null` evaluates nothing twice.
 *
 * Both take an optional {@linkcode RouteTrace}: every rule tried is appended to it with the items
 * evaluated and what its action did. `tunbox explain` and the Clash API read it; the decision is
 * the same object the untraced call returns (the trace only records the one evaluation).
 *
 * `sniff` is skipped (sync) when the flow already has a protocol ("duplicate sniff"), when the
 * destination port is a server-speaks-first port (SMTP 25/465/587, IMAP 143/993, POP3 110/995),
 * when the rule's sniffers do not apply to the flow's network (only packet sniffers on TCP or
 * only stream sniffers on UDP; ICMP is never sniffed), or when none of them is implemented.
 * `resolve` only acts on a domain destination (`destination.fqdn`, from `override_address`);
 * TUN flows have IP destinations, so for them it is a no-op, as in sing-box.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { OutboundOptions, RouteOptionsFields, Rule } from "../config/types.ts";
import { applyRouteOptions, type ResolveOptions } from "./action.ts";
import type { ConnMetadata } from "./metadata.ts";
import type { RuleSetLookup } from "./match_state.ts";
import { type CompiledRule, compileRules, type ItemTrace } from "./rule.ts";

const log = getLogger(["tunbox", "route"]);

/** Ports of protocols where the server speaks first: sniffing would only wait (sing-box). */
const SERVER_FIRST_PORTS = new Set([25, 465, 587, 143, 993, 110, 995]);

/** What to do with a flow. `ruleIndex` is -1 and `ruleText` "final" when no rule matched. */
export type RouteDecision =
  | {
    action: "route";
    /** Outbound tag. Dial `meta.destination` (overrides applied). */
    outbound: string;
    ruleIndex: number;
    ruleText: string;
    /** Route options accumulated for this flow (the same object as `meta.routeOptions`). */
    options: RouteOptionsFields;
  }
  | {
    action: "reject";
    /**
     * `default`: TCP RST / ICMP port unreachable (host unreachable for ICMP echo); `drop`:
     * silently drop; `reply`: answer ICMP echo. `default` becomes `drop` when the rule fired
     * more than 50 times in 30 s and `no_drop` is not set (`flooded` is then true).
     */
    method: "default" | "drop" | "reply";
    flooded: boolean;
    ruleIndex: number;
    ruleText: string;
  }
  | { action: "hijack-dns"; ruleIndex: number; ruleText: string };

/** One rule tried by the router, recorded in a {@linkcode RouteTrace}. */
export interface RuleStep {
  /** Index in `route.rules`. */
  index: number;
  /** sing-box's description of the rule, `condition => action`. */
  text: string;
  matched: boolean;
  /** The items evaluated, in order (evaluation stops at the item that decided). */
  items: ItemTrace[];
  /** What a matching non-final action did or why it did nothing (`sniff`, `resolve`, ...). */
  note?: string;
}

/** The rules tried for one flow, in order, for `tunbox explain`. */
export interface RouteTrace {
  steps: RuleStep[];
}

/** Callbacks that perform a rule's I/O for {@linkcode Router.route}. */
export interface RouteHooks {
  /**
   * Reads the flow's first payload for up to `timeoutMs` and runs the named sniffers (see
   * `src/sniff/`), filling `meta.protocol`, `meta.domain` and `meta.client` on success. The
   * names are already filtered for the flow's network and ordered. Not sniffing anything is not
   * an error; a rejection fails the flow.
   */
  sniff(sniffers: readonly string[], timeoutMs: number): Promise<void>;
  /** Resolves `meta.destination.fqdn` into `meta.destinationAddresses`; rejection fails the flow. */
  resolve(options: ResolveOptions): Promise<void>;
}

/** Construction options. */
export interface RouterOptions {
  /** Decoded `route.rules`. */
  rules: readonly Rule[];
  /** `route.final`; default: the first outbound's tag. */
  final?: string;
  /** Decoded outbounds (only the tags are used, to check references). */
  outbounds: readonly OutboundOptions[];
  /** Millisecond clock for reject flood counting; default `performance.now`. */
  now?: () => number;
  /** The rule-sets `rule_set` items name (their contents may change later). */
  ruleSets?: RuleSetLookup;
}

/** Evaluates route rules for flows. */
export class Router {
  readonly #rules: CompiledRule[];
  readonly #final: string;
  readonly #now: () => number;
  /** Problems found at compile time that did not stop it (also logged at warning level). */
  readonly warnings: readonly string[];

  /** Compiles the rules; throws `TypeError` for unknown outbounds or invalid rules. */
  constructor(options: RouterOptions) {
    const { rules, warnings } = compileRules(
      options.rules,
      options.ruleSets ? { ruleSets: options.ruleSets } : {},
    );
    const tags = new Set(options.outbounds.map((o) => o.tag));
    const final = options.final !== undefined && options.final !== ""
      ? options.final
      : options.outbounds[0]?.tag;
    if (final === undefined) {
      throw new TypeError("Cannot create router: no outbounds and no route.final");
    }
    if (!tags.has(final)) {
      throw new TypeError(`Cannot create router: route.final outbound "${final}" not found`);
    }
    for (const r of rules) {
      const a = r.action;
      if (
        (a.kind === "route" || (a.kind === "bypass" && a.outbound !== "")) && !tags.has(a.outbound)
      ) {
        throw new TypeError(
          `Cannot create router: route.rules[${r.index}]: outbound "${a.outbound}" not found`,
        );
      }
    }
    this.#rules = rules;
    this.#final = final;
    this.#now = options.now ?? (() => performance.now());
    // Not logged: `run` has printed these already, at their positions, from the same verdicts
    // (src/config/support.ts) when it loaded the config.
    this.warnings = warnings;
  }

  /** The default outbound tag. */
  get final(): string {
    return this.#final;
  }

  /** Compiled rules, for logs and diagnostics. */
  get rules(): readonly CompiledRule[] {
    return this.#rules;
  }

  /**
   * Evaluates rules from `meta.ruleCursor` without I/O. Returns the decision, or `null` when a
   * matching `sniff`/`resolve` must run first (then `meta.ruleCursor` is that rule's index).
   */
  matchSync(meta: ConnMetadata, trace?: RouteTrace): RouteDecision | null {
    const rules = this.#rules;
    for (let i = meta.ruleCursor; i < rules.length; i++) {
      const rule = rules[i]!;
      let step: RuleStep | undefined;
      if (trace) {
        step = { index: i, text: rule.text, matched: false, items: [] };
        trace.steps.push(step);
        step.matched = rule.match(meta, step.items);
        if (!step.matched) continue;
      } else if (!rule.match(meta)) continue;
      if (log.isEnabledFor("debug")) {
        log.debug("[{id}] match[{index}] {rule}", { id: meta.id, index: i, rule: rule.text });
      }
      const a = rule.action;
      switch (a.kind) {
        case "route-options":
          applyRouteOptions(meta, a.route);
          if (step) step.note = "route options applied; matching continues";
          continue;
        case "route":
          applyRouteOptions(meta, a.route);
          meta.ruleCursor = rules.length;
          return {
            action: "route",
            outbound: a.outbound,
            ruleIndex: i,
            ruleText: rule.text,
            options: meta.routeOptions,
          };
        case "bypass":
          if (a.outbound === "") {
            if (step) step.note = "bypass without an outbound is skipped outside auto_redirect";
            continue;
          }
          applyRouteOptions(meta, a.route);
          meta.ruleCursor = rules.length;
          return {
            action: "route",
            outbound: a.outbound,
            ruleIndex: i,
            ruleText: rule.text,
            options: meta.routeOptions,
          };
        case "reject": {
          const flooded = a.guard !== null && a.guard.hit(this.#now());
          if (flooded && log.isEnabledFor("debug")) {
            log.debug("[{id}] dropped due to flooding", { id: meta.id });
          }
          meta.ruleCursor = rules.length;
          return {
            action: "reject",
            method: flooded ? "drop" : a.method,
            flooded,
            ruleIndex: i,
            ruleText: rule.text,
          };
        }
        case "hijack-dns":
          meta.ruleCursor = rules.length;
          return { action: "hijack-dns", ruleIndex: i, ruleText: rule.text };
        case "sniff": {
          const skip = sniffSkipReason(meta, a);
          if (skip !== null) {
            if (step) step.note = `sniff skipped: ${skip}`;
            continue;
          }
          meta.ruleCursor = i;
          return null;
        }
        case "resolve":
          if (!meta.destination.fqdn) {
            if (step) step.note = "resolve skipped: the destination is already an IP address";
            continue;
          }
          meta.ruleCursor = i;
          return null;
      }
    }
    meta.ruleCursor = rules.length;
    return {
      action: "route",
      outbound: this.#final,
      ruleIndex: -1,
      ruleText: "final",
      options: meta.routeOptions,
    };
  }

  /** Evaluates rules to a decision, running `sniff`/`resolve` actions through `hooks`. */
  async route(meta: ConnMetadata, hooks: RouteHooks, trace?: RouteTrace): Promise<RouteDecision> {
    for (;;) {
      const decision = this.matchSync(meta, trace);
      if (decision !== null) return decision;
      const index = meta.ruleCursor;
      const a = this.#rules[index]!.action;
      if (a.kind === "sniff") {
        const sniffers = sniffersFor(meta, a);
        await hooks.sniff(sniffers, a.timeoutMs);
        if (trace) {
          const step = trace.steps[trace.steps.length - 1]!;
          step.note = meta.protocol === ""
            ? `sniffed with ${sniffers.join(", ")}: nothing recognised`
            : `sniffed protocol ${meta.protocol}${meta.domain ? `, domain ${meta.domain}` : ""}${
              meta.client ? `, client ${meta.client}` : ""
            }`;
        }
        if (meta.protocol !== "" && log.isEnabledFor("debug")) {
          log.debug("[{id}] sniffed protocol: {protocol}{domain}{client}", {
            id: meta.id,
            protocol: meta.protocol,
            domain: meta.domain ? `, domain: ${meta.domain}` : "",
            client: meta.client ? `, client: ${meta.client}` : "",
          });
        }
      } else if (a.kind === "resolve") {
        await hooks.resolve(a.options);
        if (trace) {
          trace.steps[trace.steps.length - 1]!.note =
            `resolved ${meta.destination.fqdn}: ${meta.destinationAddresses.length} address(es)`;
        }
      }
      meta.ruleCursor = index + 1;
    }
  }
}

type SniffAction = {
  stream: string[];
  packet: string[];
  wantsStream: boolean;
  wantsPacket: boolean;
};

/** Why a `sniff` action does nothing for this flow, or null when it runs. */
function sniffSkipReason(meta: ConnMetadata, a: SniffAction): string | null {
  if (meta.protocol !== "") return `the flow was already sniffed (${meta.protocol})`;
  if (SERVER_FIRST_PORTS.has(meta.destination.port)) {
    return `port ${meta.destination.port} is a server-speaks-first protocol`;
  }
  if (meta.network === "tcp") {
    if (!a.wantsStream) return "the rule names no sniffer for TCP";
    return a.stream.length > 0 ? null : "none of the rule's TCP sniffers is implemented";
  }
  if (meta.network === "udp") {
    if (!a.wantsPacket) return "the rule names no sniffer for UDP";
    return a.packet.length > 0 ? null : "none of the rule's UDP sniffers is implemented";
  }
  return `${meta.network} flows are not sniffed`;
}

/** The implemented sniffers a `sniff` action runs for this flow; empty means skip. */
function sniffersFor(meta: ConnMetadata, a: SniffAction): readonly string[] {
  if (sniffSkipReason(meta, a) !== null) return EMPTY;
  return meta.network === "tcp" ? a.stream : a.packet;
}

const EMPTY: readonly string[] = [];
