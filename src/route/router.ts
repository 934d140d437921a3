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
import { type CompiledRule, compileRules } from "./rule.ts";

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
    const { rules, warnings } = compileRules(options.rules);
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
    this.warnings = warnings;
    for (const w of warnings) log.warn("{warning}", { warning: w });
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
  matchSync(meta: ConnMetadata): RouteDecision | null {
    const rules = this.#rules;
    for (let i = meta.ruleCursor; i < rules.length; i++) {
      const rule = rules[i]!;
      if (!rule.match(meta)) continue;
      if (log.isEnabledFor("debug")) {
        log.debug("[{id}] match[{index}] {rule}", { id: meta.id, index: i, rule: rule.text });
      }
      const a = rule.action;
      switch (a.kind) {
        case "route-options":
          applyRouteOptions(meta, a.route);
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
          if (a.outbound === "") continue;
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
        case "sniff":
          if (this.#sniffersFor(meta, a).length === 0) continue;
          meta.ruleCursor = i;
          return null;
        case "resolve":
          if (!meta.destination.fqdn) continue;
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
  async route(meta: ConnMetadata, hooks: RouteHooks): Promise<RouteDecision> {
    for (;;) {
      const decision = this.matchSync(meta);
      if (decision !== null) return decision;
      const index = meta.ruleCursor;
      const a = this.#rules[index]!.action;
      if (a.kind === "sniff") {
        await hooks.sniff(this.#sniffersFor(meta, a), a.timeoutMs);
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
      }
      meta.ruleCursor = index + 1;
    }
  }

  /** The implemented sniffers a `sniff` action runs for this flow; empty means skip. */
  #sniffersFor(
    meta: ConnMetadata,
    a: { stream: string[]; packet: string[]; wantsStream: boolean; wantsPacket: boolean },
  ): readonly string[] {
    if (meta.protocol !== "") return EMPTY;
    if (SERVER_FIRST_PORTS.has(meta.destination.port)) return EMPTY;
    if (meta.network === "tcp") return a.wantsStream ? a.stream : EMPTY;
    if (meta.network === "udp") return a.wantsPacket ? a.packet : EMPTY;
    return EMPTY;
  }
}

const EMPTY: readonly string[] = [];
