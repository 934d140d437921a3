/**
 * Legacy upgrades that need the whole decoded config (the per-field ones, such as TUN
 * `inet4_address` and DNS `address`, happen while decoding):
 *
 * - inbound `sniff`/`sniff_timeout` → a `{inbound, action: "sniff"}` rule placed first;
 *   `domain_strategy` → a `{inbound, action: "resolve"}` rule after it;
 *   `udp_disable_domain_unmapping` → a `route-options` rule; `sniff_override_destination` needs
 *   nothing (the sniffed domain is always used for routing now);
 * - rules routing to a legacy `dns` outbound → `{action: "hijack-dns"}`;
 * - rules routing to a legacy `block` outbound → `{action: "reject"}`.
 *
 * sing-box 1.13 rejects or silently ignores these; tunbox upgrades them with a warning.
 *
 * @module
 */

import type { Ctx } from "./reader.ts";
import { emptyMatch, NO_ACTION } from "./decode_rule.ts";
import type { DefaultRule, InboundOptions, Options, Rule, RuleAction, SourceRef } from "./types.ts";

const HEAD = "is deprecated in sing-box 1.11.0 and ignored since 1.13.1";

function matchFor(inbound: string): Omit<DefaultRule, "action" | "source"> {
  return { type: "default", ...emptyMatch(), inbound: [inbound] };
}

function actionJson(a: Record<string, unknown>): string {
  return JSON.stringify(a).replaceAll(",", ", ").replaceAll('":', '": ');
}

/** Rules that replace the legacy fields of one inbound, with warnings. */
function upgradeInbound(inb: InboundOptions, ctx: Ctx, only: boolean): Rule[] {
  const o = ctx.where.get(inb);
  if (!o) return [];
  // The hinted rule names the inbound by the tag the user gave it; an untagged inbound that is
  // the only one needs no "inbound" at all (its implicit tag is not one sing-box lets rules use).
  const named = o.string("tag") !== undefined && o.string("tag") !== "";
  const scope = (rule: Record<string, unknown>) =>
    named || !only ? { inbound: inb.tag, ...rule } : rule;
  const at = (key: string): SourceRef => {
    const pos = o.keyPos(key);
    return { file: pos.file, line: pos.line, column: pos.column, path: o.p(key) };
  };
  const rules: Rule[] = [];
  const tag = inb.tag;
  if (inb.sniff === true) {
    const action: RuleAction = { action: "sniff", sniffer: [] };
    const shown: Record<string, unknown> = scope({ action: "sniff" });
    if (inb.sniff_timeout !== undefined) {
      action.timeout = inb.sniff_timeout;
      shown.timeout = `${inb.sniff_timeout}ms`;
    }
    rules.push({ ...matchFor(tag), action, source: at("sniff") });
    ctx.warn(
      o.keyPos("sniff"),
      o.p("sniff"),
      `legacy inbound field "sniff" ${HEAD}, use the route rule ${
        actionJson(shown)
      } instead; tunbox upgrades it and places that rule first`,
    );
  } else if (inb.sniff === false) {
    ctx.warn(
      o.keyPos("sniff"),
      o.p("sniff"),
      `legacy inbound field "sniff" ${HEAD}; false is the default, so it does nothing here: remove it`,
    );
  }
  if (inb.sniff_timeout !== undefined && inb.sniff !== true) {
    ctx.warn(
      o.keyPos("sniff_timeout"),
      o.p("sniff_timeout"),
      `legacy inbound field "sniff_timeout" ${HEAD}, and without "sniff": true it does nothing: remove it`,
    );
  }
  if (inb.sniff_override_destination !== undefined) {
    ctx.warn(
      o.keyPos("sniff_override_destination"),
      o.p("sniff_override_destination"),
      `legacy inbound field "sniff_override_destination" ${HEAD}; it needs no replacement (a sniffed domain is always used for routing), so tunbox ignores it`,
    );
  }
  if (inb.domain_strategy !== undefined && inb.domain_strategy !== "") {
    const strategy = inb.domain_strategy;
    rules.push({
      ...matchFor(tag),
      action: { action: "resolve", strategy },
      source: at("domain_strategy"),
    });
    ctx.warn(
      o.keyPos("domain_strategy"),
      o.p("domain_strategy"),
      `legacy inbound field "domain_strategy" ${HEAD}, use the route rule ${
        actionJson(scope({ action: "resolve", strategy }))
      } instead; tunbox upgrades it`,
    );
  }
  if (inb.udp_disable_domain_unmapping) {
    rules.push({
      ...matchFor(tag),
      action: { action: "route-options", udp_disable_domain_unmapping: true },
      source: at("udp_disable_domain_unmapping"),
    });
    ctx.warn(
      o.keyPos("udp_disable_domain_unmapping"),
      o.p("udp_disable_domain_unmapping"),
      `legacy inbound field "udp_disable_domain_unmapping" ${HEAD}, use the route rule ${
        actionJson(scope({ action: "route-options", udp_disable_domain_unmapping: true }))
      } instead; tunbox upgrades it`,
    );
  }
  return rules;
}

/** Applies the upgrades to `options` in place. */
export function upgradeLegacy(options: Options, ctx: Ctx): void {
  const only = options.inbounds.length === 1;
  const prepended = options.inbounds.flatMap((inb) => upgradeInbound(inb, ctx, only));
  const special = new Map<string, "dns" | "block">();
  for (const out of options.outbounds) {
    if (out.type === "dns" || out.type === "block") special.set(out.tag, out.type);
  }
  if (special.size > 0) {
    const rewrite = (rule: Rule) => {
      if (rule.action === NO_ACTION || rule.action.action !== "route") return;
      const kind = special.get(rule.action.outbound);
      if (kind === "dns") rule.action = { action: "hijack-dns" };
      else if (kind === "block") rule.action = { action: "reject", method: "default" };
    };
    options.route.rules.forEach(rewrite);
  }
  if (prepended.length > 0) options.route.rules = [...prepended, ...options.route.rules];
}
