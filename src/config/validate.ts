/**
 * Checks that need the whole decoded config: duplicate tags, references to unknown tags, detour
 * loops, impossible option combinations, and the TUN checks the platform would otherwise fail
 * on later (interface name length, macOS `utunN` names, the system stack's spare address).
 *
 * @module
 */

import { formatIp, nextIp, prefixContains } from "../net/ip.ts";
import type { Pos } from "./diagnostic.ts";
import type { JsonNode } from "./jsonc.ts";
import type { Ctx, Obj, RefKind } from "./reader.ts";
import { closest, didYouMean } from "./suggest.ts";
import { validateDns } from "./validate_dns.ts";
import { loopingOutbounds } from "./tun_escape.ts";
import { ruleIndexProblem, tableIndexProblem, tunPlanWarnings } from "./tun_limits.ts";
import { interfaceNameProblem } from "../../ffi/linux/ifreq.ts";
import { dialFieldsEmpty } from "./decode_dial.ts";
import { Invalid, parsePrefixText } from "./values.ts";
import type {
  DirectOutboundOptions,
  Options,
  OutboundOptions,
  SelectorOutboundOptions,
  TunInboundOptions,
  UrlTestOutboundOptions,
} from "./types.ts";

/** Platform facts the checks depend on (defaults: the running system). */
export interface ValidateOptions {
  /** `Deno.build.os` value; `darwin` enables the `utunN` name check. */
  os?: string;
}

interface Def {
  tag: string;
  pos: Pos;
  path: string;
}

function checkDuplicates(ctx: Ctx, kind: string, defs: Def[]): Map<string, Def> {
  const seen = new Map<string, Def>();
  for (const d of defs) {
    const first = seen.get(d.tag);
    if (first) {
      ctx.error(
        d.pos,
        d.path,
        `duplicate ${kind} tag ${
          JSON.stringify(d.tag)
        } (first used at ${first.pos.file}:${first.pos.line}:${first.pos.column})`,
      );
    } else seen.set(d.tag, d);
  }
  return seen;
}

function listTags(tags: Iterable<string>): string {
  const all = [...tags].map((t) => JSON.stringify(t));
  if (all.length === 0) return "";
  if (all.length > 8) return ` (defined: ${all.slice(0, 8).join(", ")}, ...)`;
  return ` (defined: ${all.join(", ")})`;
}

function posOfKey(o: Obj | undefined, key: string): { pos: Pos; path: string } | undefined {
  if (!o) return undefined;
  const at = o.at(key);
  return at ? { pos: at.node.pos, path: at.path } : { pos: o.keyPos(key), path: o.p(key) };
}

/** The value nodes of `keys` in order, each parsed as a prefix (skipping ones that fail). */
function prefixNodes(o: Obj, keys: string[]): { node: JsonNode; path: string; family: 4 | 6 }[] {
  const out: { node: JsonNode; path: string; family: 4 | 6 }[] = [];
  for (const key of keys) {
    const at = o.at(key);
    if (!at) continue;
    const nodes = at.node.kind === "array"
      ? at.node.items.map((n, i) => ({ node: n, path: `${at.path}[${i}]` }))
      : [{ node: at.node, path: at.path }];
    for (const n of nodes) {
      if (n.node.kind !== "string") continue;
      const p = parsePrefixText(n.node.value, false);
      if (p instanceof Invalid) continue;
      out.push({ ...n, family: p.addr.length === 4 ? 4 : 6 });
    }
  }
  return out;
}

function checkTun(tun: TunInboundOptions, ctx: Ctx, os: string): void {
  const o = ctx.where.get(tun);
  if (!o) return;
  const name = tun.interface_name;
  if (name !== undefined && name !== "") {
    const at = o.at("interface_name")!;
    // The kernel's rule as the TUN setup applies it (one "%d" pattern allowed on Linux).
    const problem = interfaceNameProblem(name, os === "linux");
    if (problem) {
      ctx.error(at.node, at.path, `invalid interface name ${JSON.stringify(name)}: ${problem}`);
    }
    if (os === "darwin" && !/^utun[0-9]+$/.test(name)) {
      ctx.error(
        at.node,
        at.path,
        `on macOS the TUN interface name must be "utun" followed by a number (e.g. "utun8"), got ${
          JSON.stringify(name)
        }`,
      );
    }
  }
  if (os === "linux") {
    // What the Linux route planner refuses (src/config/tun_limits.ts, src/platform/linux/).
    for (
      const [key, problemOf] of [
        ["iproute2_table_index", tableIndexProblem],
        ["iproute2_rule_index", ruleIndexProblem],
      ] as const
    ) {
      const v = tun[key];
      const problem = v ? problemOf(v) : undefined;
      if (problem) {
        const at = o.at(key)!;
        ctx.error(at.node, at.path, `invalid ${key} ${v}: ${problem}`);
      }
    }
    for (const key of ["include_interface", "exclude_interface"] as const) {
      const at = o.at(key);
      if (!at) continue;
      const nodes = at.node.kind === "array"
        ? at.node.items.map((n, i) => ({ node: n, path: `${at.path}[${i}]` }))
        : [{ node: at.node, path: at.path }];
      for (const n of nodes) {
        if (n.node.kind !== "string") continue;
        const problem = interfaceNameProblem(n.node.value);
        if (problem) {
          ctx.error(
            n.node,
            n.path,
            `invalid interface name ${JSON.stringify(n.node.value)}: ${problem}`,
          );
        }
      }
    }
  }
  if (tun.mtu !== undefined && tun.mtu !== 0) {
    const at = o.at("mtu")!;
    if (tun.mtu > 65535) ctx.error(at.node, at.path, `MTU ${tun.mtu} is larger than 65535`);
    else if (tun.mtu < 576) {
      ctx.error(at.node, at.path, `MTU ${tun.mtu} is smaller than 576, the IPv4 minimum`);
    } else if (tun.mtu < 1280 && tun.address.some((p) => p.addr.length === 16)) {
      ctx.error(
        at.node,
        at.path,
        `MTU ${tun.mtu} is smaller than 1280, the minimum for the IPv6 address`,
      );
    }
  }
  const stack = tun.stack ?? "mixed";
  if (stack === "system" || stack === "mixed") {
    const nodes = prefixNodes(o, ["address", "inet4_address", "inet6_address"]);
    for (const family of [4, 6] as const) {
      const idx = tun.address.findIndex((p) => p.addr.length === (family === 4 ? 4 : 16));
      if (idx < 0) continue;
      const first = tun.address[idx]!;
      if (!prefixContains(first, nextIp(first.addr))) {
        const n = nodes.filter((x) => x.family === family)[0];
        const where = n ?? { node: o.node, path: o.p("address") };
        ctx.error(
          where.node,
          where.path,
          `stack ${JSON.stringify(stack)}${
            tun.stack === undefined ? " (the default)" : ""
          } needs one more IPv${family} address after ${
            formatIp(first.addr)
          } in the first prefix (use a /${family === 4 ? 30 : 126} or larger)`,
        );
      }
    }
  }
  const written = ["address", "inet4_address", "inet6_address"].map((k) => o.at(k)).filter((a) =>
    a !== undefined && !(a.node.kind === "array" && a.node.items.length === 0)
  );
  // A misspelt "address" has its own "unknown field" error, with the suggestion.
  const misspelt = o.node.props.some((p) => p.key !== "address" && closest(p.key, ["address"]));
  if (tun.address.length === 0 && written.length === 0 && !misspelt) {
    // Every stack: tunbox configures the device with its address (src/tun/setup.ts). Entries
    // that were written but invalid have their own errors.
    const at = o.at("address");
    ctx.error(
      at?.node ?? o.node,
      at?.path ?? o.path,
      `missing "address": a tun inbound needs one (for example "172.19.0.1/30")`,
    );
  }
  // sing-box refuses auto_redirect without auto_route (protocol/tun/inbound.go); with it, the
  // verdict on auto_redirect is reported where it is decoded (decode_inbound.ts).
  if (tun.auto_redirect && !tun.auto_route) {
    ctx.error(
      o.keyPos("auto_redirect"),
      o.p("auto_redirect"),
      '"auto_redirect" requires "auto_route"',
    );
  }
  if (tun.include_interface.length > 0 && tun.exclude_interface.length > 0) {
    const at = posOfKey(o, "exclude_interface")!;
    ctx.error(
      at.pos,
      at.path,
      '"include_interface" and "exclude_interface" cannot be used together',
    );
  }
  // include_uid with exclude_uid is fine: sing-tun routes include minus exclude (as tunbox).
  for (const w of tunPlanWarnings(tun, os)) {
    // Point at the key the user wrote (a legacy or range spelling merged into this one).
    const spellings: Record<string, string[]> = {
      include_uid: ["include_uid", "include_uid_range"],
      exclude_uid: ["exclude_uid", "exclude_uid_range"],
      address: ["address", "inet4_address", "inet6_address"],
      route_address: ["route_address", "inet4_route_address", "inet6_route_address"],
      route_exclude_address: [
        "route_exclude_address",
        "inet4_route_exclude_address",
        "inet6_route_exclude_address",
      ],
    };
    const key = (spellings[w.key] ?? [w.key]).find((k) => o.has(k)) ?? w.key;
    const at = posOfKey(o, key)!;
    ctx.warn(at.pos, at.path, w.message);
  }
}

function checkInterfaceName(
  ctx: Ctx,
  o: Obj | undefined,
  key: string,
  name: string | undefined,
): void {
  if (!o || name === undefined) return;
  const problem = interfaceNameProblem(name);
  if (problem) {
    const at = o.at(key)!;
    ctx.error(at.node, at.path, `invalid interface name ${JSON.stringify(name)}: ${problem}`);
  }
}

/** An auto_route TUN whose outbounds' own sockets would go back into it (sing-box's tun docs). */
function checkTunEscape(options: Options, ctx: Ctx): void {
  const tuns = options.inbounds.filter((i): i is TunInboundOptions => i.type === "tun");
  const looping = loopingOutbounds(options.outbounds, tuns, options.route);
  if (looping.length === 0) return;
  const tun = tuns.find((t) => t.auto_route === true)!;
  const at = posOfKey(ctx.where.get(tun), "auto_route");
  if (!at) return;
  const tags = looping.map((o) => JSON.stringify(o.tag)).join(", ");
  ctx.warn(
    at.pos,
    at.path,
    `auto_route sends this machine's traffic into the TUN, and nothing keeps the own connections of outbound${
      looping.length > 1 ? "s" : ""
    } ${tags} out of it (no route.auto_detect_interface, route.default_interface, bind_interface or routing mark): they loop back into the TUN; set "route.auto_detect_interface": true`,
  );
}

function checkDetourLoops(outbounds: OutboundOptions[], ctx: Ctx): void {
  const byTag = new Map(outbounds.map((o) => [o.tag, o]));
  const detourOf = (o: OutboundOptions): string | undefined =>
    "detour" in o && typeof o.detour === "string" ? o.detour : undefined;
  for (const start of outbounds) {
    const first = detourOf(start);
    if (first === undefined) continue;
    const chain = [start.tag];
    let cur: string | undefined = first;
    while (cur !== undefined) {
      if (cur === start.tag) {
        const at = posOfKey(ctx.where.get(start), "detour");
        if (at) {
          ctx.error(
            at.pos,
            at.path,
            chain.length === 1
              ? `outbound ${JSON.stringify(start.tag)} detours through itself`
              : `detour loop: ${[...chain, start.tag].map((t) => JSON.stringify(t)).join(" -> ")}`,
          );
        }
        break;
      }
      if (chain.includes(cur)) break; // a loop not through `start`; reported from its members
      chain.push(cur);
      const next = byTag.get(cur);
      cur = next ? detourOf(next) : undefined;
    }
  }
}

/**
 * Cycles through group members (selector/urltest `outbounds`) and detours, which the outbound
 * registry refuses at run time (a dial would recurse forever). Pure detour loops are reported by
 * {@linkcode checkDetourLoops}; each other cycle once, at the member reference that closes it.
 */
function checkGroupCycles(outbounds: OutboundOptions[], ctx: Ctx): void {
  const edges = new Map<string, { to: string; at: { pos: Pos; path: string }; group: boolean }[]>();
  for (const out of outbounds) {
    const o = ctx.where.get(out);
    if (!o) continue;
    const list: { to: string; at: { pos: Pos; path: string }; group: boolean }[] = [];
    if ("detour" in out && out.detour) {
      list.push({ to: out.detour, at: posOfKey(o, "detour")!, group: false });
    }
    if (out.type === "selector" || out.type === "urltest") {
      const at = o.at("outbounds");
      out.outbounds.forEach((to, i) => {
        const node = at?.node.kind === "array" ? at.node.items[i] : at?.node;
        const path = at?.node.kind === "array" ? `${at.path}[${i}]` : at?.path ?? o.path;
        list.push({ to, at: { pos: (node ?? o.node).pos, path }, group: true });
      });
    }
    edges.set(out.tag, list);
  }
  const state = new Map<string, 1 | 2>();
  const visit = (tag: string, path: { tag: string; group: boolean }[]): void => {
    if (state.get(tag) === 2) return;
    state.set(tag, 1);
    for (const e of edges.get(tag) ?? []) {
      if (state.get(e.to) === 1) {
        const start = path.findIndex((p) => p.tag === e.to);
        const cycle = [...path.slice(start === -1 ? path.length : start), { tag, group: e.group }];
        if (cycle.some((c) => c.group) || e.group) {
          const tags = [...cycle.map((c) => c.tag), e.to].map((t) => JSON.stringify(t));
          ctx.error(e.at.pos, e.at.path, `reference cycle: ${tags.join(" -> ")}`);
        }
        continue;
      }
      visit(e.to, [...path, { tag, group: e.group }]);
    }
    state.set(tag, 2);
  };
  for (const tag of edges.keys()) visit(tag, []);
}

/**
 * A legacy `dns` outbound is not an outbound at run time (rules that route to it become
 * `hijack-dns`), so nothing else may use it: a detour, a group member, `route.final`.
 */
function checkLegacyDnsOutboundRefs(options: Options, ctx: Ctx): void {
  const legacy = new Set(options.outbounds.filter((o) => o.type === "dns").map((o) => o.tag));
  if (legacy.size === 0) return;
  for (const ref of ctx.refs) {
    if (ref.kind !== "outbound" || !legacy.has(ref.tag)) continue;
    if (/^route\.rules\[\d+\]\.outbound$/.test(ref.path)) continue; // rewritten to hijack-dns
    if (/^dns\.rules\[\d+\]\.outbound/.test(ref.path)) continue; // a match item, not a use
    ctx.error(
      ref.pos,
      ref.path,
      `outbound ${
        JSON.stringify(ref.tag)
      } is a legacy dns outbound: only rules can use it (tunbox turns them into {"action": "hijack-dns"})`,
    );
  }
}

/**
 * Uses of outbounds tunbox leaves out (a protocol it does not build, REALITY, a VLESS flow):
 * a group (selector, urltest) skips them with a warning and loses them from its members; a group
 * whose every member is left out is left out too. Any other use (a rule, `final`, a `detour`, a
 * DNS server's `detour`) leaves the traffic nowhere to go: one root cause, one error, so the
 * outbound's own warning becomes the error and lists every such use (through groups too) instead
 * of an error per use.
 */
function checkLeftOutRefs(options: Options, ctx: Ctx): void {
  if (ctx.leftOut.size === 0) {
    for (const m of ctx.missingBehindDetour) ctx.error(m.pos, m.path, m.message);
    return;
  }
  const groups = new Map<number, SelectorOutboundOptions | UrlTestOutboundOptions>();
  options.outbounds.forEach((o) => {
    if (o.type !== "selector" && o.type !== "urltest") return;
    const at = ctx.where.get(o)?.path;
    const m = at ? /^outbounds\[(\d+)\]$/.exec(at) : null;
    if (m) groups.set(Number(m[1]), o);
  });
  // A group whose every member is left out is left out too (until nothing changes).
  for (let changed = true; changed;) {
    changed = false;
    for (const g of groups.values()) {
      if (ctx.leftOut.has(g.tag) || g.outbounds.length === 0) continue;
      if (g.outbounds.every((t) => ctx.leftOut.has(t))) {
        const at = ctx.where.get(g)!;
        const message = `group ${JSON.stringify(g.tag)} is left out: every member is`;
        ctx.leftOut.set(g.tag, { message, path: at.path, members: [...g.outbounds] });
        ctx.warn(at.node, at.path, message);
        changed = true;
      }
    }
  }
  // The outbounds at the root of a left-out tag (a group's: its members', recursively).
  const roots = (tag: string, seen = new Set<string>()): string[] => {
    const lo = ctx.leftOut.get(tag);
    if (!lo || seen.has(tag)) return [];
    seen.add(tag);
    return lo.members ? lo.members.flatMap((m) => roots(m, seen)) : [tag];
  };
  const uses = new Map<
    string,
    { ref: (typeof ctx.refs)[number]; via?: string; unset?: boolean }[]
  >();
  for (const ref of ctx.refs) {
    if (ref.kind !== "outbound") continue;
    const lo = ctx.leftOut.get(ref.tag);
    if (lo === undefined) continue;
    if (/^dns\.rules\[\d+\]\.outbound/.test(ref.path)) continue; // a match item, not a use
    const m = /^outbounds\[(\d+)\]\.(outbounds|default)/.exec(ref.path);
    const group = m ? groups.get(Number(m[1])) : undefined;
    if (group) {
      if (!ctx.leftOut.has(group.tag)) {
        ctx.warn(ref.pos, ref.path, `${JSON.stringify(ref.tag)} is skipped: ${lo.message}`);
      }
      continue;
    }
    for (const root of new Set(roots(ref.tag))) {
      const list = uses.get(root) ?? [];
      list.push(lo.members ? { ref, via: ref.tag } : { ref });
      uses.set(root, list);
    }
  }
  for (const m of ctx.missingBehindDetour) {
    if (!ctx.leftOut.has(m.detour)) ctx.error(m.pos, m.path, m.message);
  }
  // Without route.final, sing-box's default is the first outbound of "outbounds": when tunbox
  // leaves that one out, the default must not silently become the next one (a proxy's traffic
  // would go elsewhere, perhaps direct).
  const first = ctx.defs.outbound.find((d) => d.path.startsWith("outbounds["));
  if (options.route.final === undefined && first && ctx.leftOut.has(first.tag)) {
    const ref = { kind: "outbound" as const, tag: first.tag, pos: first.pos, path: "route.final" };
    for (const root of new Set(roots(first.tag))) {
      const list = uses.get(root) ?? [];
      list.push({ ref, unset: true, ...(root === first.tag ? {} : { via: first.tag }) });
      uses.set(root, list);
    }
  }
  for (const [tag, list] of uses) {
    const lo = ctx.leftOut.get(tag)!;
    const i = ctx.diag.warnings.findIndex((w) =>
      w.message === lo.message && (w.path === lo.path || w.path.startsWith(`${lo.path}.`))
    );
    const where = (p: Pos, file: string | undefined) =>
      `${p.file === file ? "" : `${p.file}:`}${p.line}:${p.column}`;
    const warning = i < 0 ? undefined : ctx.diag.warnings.splice(i, 1)[0]!;
    const at: Pos = warning ?? list[0]!.ref.pos;
    list.sort((a, b) =>
      a.ref.pos.file !== b.ref.pos.file ? 0 : a.ref.pos.line - b.ref.pos.line ||
        a.ref.pos.column - b.ref.pos.column
    );
    const named = list.map(({ ref, via, unset }) =>
      unset
        ? `the default route (route.final is not set, so the first outbound${
          via ? `, group ${JSON.stringify(via)},` : ""
        } is the default)`
        : `${ref.path} (${where(ref.pos, at.file)}${
          via ? `, through group ${JSON.stringify(via)}` : ""
        })`
    );
    ctx.error(
      at,
      warning?.path ?? list[0]!.ref.path,
      `${warning ? "" : `outbound ${JSON.stringify(tag)} cannot be used: `}${lo.message}. ` +
        `It is used by ${named.join(", ")}: ${
          fixes(list.filter((u) => !u.unset).length, list.some((u) => u.unset))
        }`,
    );
  }
  for (const g of groups.values()) {
    g.outbounds = g.outbounds.filter((t) => !ctx.leftOut.has(t));
    if (g.type === "selector" && g.default !== undefined && ctx.leftOut.has(g.default)) {
      delete g.default;
    }
  }
  options.outbounds = options.outbounds.filter((o) => !ctx.leftOut.has(o.tag));
}

/** How to fix `n` uses of a left-out outbound, plus the default route when `unset`. */
function fixes(n: number, unset: boolean): string {
  const out: string[] = [];
  if (n > 0) {
    out.push(
      `point ${n === 1 ? "that" : "those"} at another outbound, or remove ${
        n === 1 ? "it" : "them"
      }`,
    );
  }
  if (unset) out.push('set "route.final" to another outbound, or put another outbound first');
  return out.join("; ");
}

/** Runs every whole-config check; problems go to `ctx`. */
export function validate(options: Options, ctx: Ctx, vo: ValidateOptions = {}): void {
  const os = vo.os ?? Deno.build.os;
  // Every tag defined counts, including those of entries tunbox refused (their error is the
  // one root cause: references to them are not reported again).
  const defs: Record<RefKind, Map<string, Def>> = {
    inbound: checkDuplicates(ctx, "inbound", ctx.defs.inbound),
    outbound: checkDuplicates(ctx, "outbound", ctx.defs.outbound),
    "dns server": checkDuplicates(ctx, "DNS server", ctx.defs["dns server"]),
    "rule-set": checkDuplicates(ctx, "rule-set", ctx.defs["rule-set"]),
    "http client": checkDuplicates(ctx, "HTTP client", ctx.defs["http client"]),
  };
  for (const ref of ctx.refs) {
    const known = defs[ref.kind];
    if (known.has(ref.tag)) continue;
    const hint = didYouMean(ref.tag, known.keys());
    const message = `unknown ${ref.kind} ${JSON.stringify(ref.tag)}${
      hint || (known.size === 0 ? ` (no ${ref.kind}s are defined)` : listTags(known.keys()))
    }`;
    // A rule's `inbound` item is a name to compare, which sing-box does not check: one for an
    // inbound this config lacks (a config shared between machines) never matches.
    if (ref.kind === "inbound" && /rules\[\d+\]\.inbound(\[\d+\])?$/.test(ref.path)) {
      ctx.warn(ref.pos, ref.path, `${message}: the item never matches`);
    } else ctx.error(ref.pos, ref.path, message);
  }
  for (const inb of options.inbounds) {
    if (inb.type === "tun") checkTun(inb, ctx, os);
  }
  for (const out of options.outbounds) {
    if ("bind_interface" in out) {
      checkInterfaceName(ctx, ctx.where.get(out), "bind_interface", out.bind_interface);
    }
  }
  const routeObj = ctx.where.get(options.route);
  checkInterfaceName(ctx, routeObj, "default_interface", options.route.default_interface);
  if (
    routeObj && options.route.auto_detect_interface && options.route.default_interface !== undefined
  ) {
    const at = posOfKey(routeObj, "default_interface")!;
    ctx.warn(at.pos, at.path, '"default_interface" is ignored while "auto_detect_interface" is on');
  }
  checkTunEscape(options, ctx);
  checkDetourLoops(options.outbounds, ctx);
  checkGroupCycles(options.outbounds, ctx);
  checkLegacyDnsOutboundRefs(options, ctx);
  checkLeftOutRefs(options, ctx);
  validateDns(options, ctx, ctx.rcodeServers);
  // A typed DNS server detouring to an empty direct outbound is fatal in sing-box (#3585).
  const outByTag = new Map(options.outbounds.map((o) => [o.tag, o]));
  for (const s of options.dns.servers) {
    if (s.legacy || s.detour === undefined) continue;
    const target = outByTag.get(s.detour);
    if (target?.type === "direct" && dialFieldsEmpty(target as DirectOutboundOptions)) {
      const at = posOfKey(ctx.where.get(s), "detour");
      if (at) {
        ctx.error(
          at.pos,
          at.path,
          `detour to an empty direct outbound makes no sense; remove "detour" (typed DNS servers dial directly by default)`,
        );
      }
    }
  }
}
