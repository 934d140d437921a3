/**
 * `tunbox doctor`'s checks as pure functions of the config, the machine's state
 * ({@linkcode HostState}, gathered by `doctor_host.ts`) and the probes' results, so each OS's
 * branch is tested with constructed states.
 *
 * Where traffic would go is decided by the same code `run` uses: the route plan
 * (`planRoutes` on Linux, `planDarwinRoutes` on macOS) for what enters the TUN, the router for
 * what tunbox does with it.
 *
 * @module
 */

import type { Options, TunInboundOptions } from "../config/types.ts";
import { tunEscape } from "../config/tun_escape.ts";
import { formatPrefix, isLoopback, parseIp, type Prefix, prefixContains } from "../net/ip.ts";
import { planRoutes, resolveIndexes, RULE_SPAN } from "../platform/linux/auto_route.ts";
import { formatRule } from "../platform/linux/ip_text.ts";
import type { RuleInfo } from "../platform/mod.ts";
import { planDarwinRoutes } from "../platform/darwin/route_plan.ts";
import { isPrivateAddr } from "../net/ip_private.ts";
import { newConnMetadata } from "../route/metadata.ts";
import type { RouteDecision, Router } from "../route/router.ts";
import type { ProbeResult } from "./probe.ts";

/** One check's outcome. */
export interface Finding {
  /** Stable id for scripts: `privileges`, `outbound:proxy`, `udp:proxy`, `loop`, ... */
  id: string;
  status: "ok" | "info" | "warn" | "fail";
  /** What was checked, in plain language. */
  title: string;
  /** What was found. */
  detail: string;
  /** What to do about it (problems only). */
  fix?: string;
}

/** A route of the host's main table that is more specific than the default route. */
export interface HostRoute {
  prefix: Prefix;
  /** Output interface name. */
  dev: string;
}

/** A network interface. */
export interface HostLink {
  name: string;
  /** `tun`, `wireguard`, `veth`, ... ("" when the kernel gives none). */
  kind: string;
  up: boolean;
}

/** What doctor saw on this machine. */
export interface HostState {
  os: "linux" | "darwin";
  /** Root, or CAP_NET_ADMIN on Linux. */
  privileged: boolean;
  privilegeDetail: string;
  /** Non-default routes of the main table (Linux), or the connected subnets (macOS). */
  routes: HostRoute[];
  /** Whether the machine has IPv6 connectivity (an IPv6 default route). */
  ipv6Default: boolean;
  /** Policy rules (Linux). */
  rules: RuleInfo[];
  /** Routes per table id (Linux): how many, and through which devices. */
  tables: Map<number, { count: number; devs: string[] }>;
  links: HostLink[];
  /** `nameserver` lines of /etc/resolv.conf. */
  resolvers: string[];
  /** systemd-resolved's upstream servers, when the stub 127.0.0.53 is in use. */
  resolvedUpstreams: string[] | null;
}

/** Where the TUN's routing sends a packet to `addr`:`port` from this machine. */
export type Capture = "tun" | "bypass" | "blocked";

/** Whether `tun` captures traffic to `addr`:`port`, and why (Linux and macOS routing). */
export function captureOf(
  tun: TunInboundOptions,
  addr: Uint8Array,
  port: number,
  host: HostState,
): { capture: Capture; why: string } {
  if (!tun.auto_route) return { capture: "bypass", why: "auto_route is off" };
  const len = addr.length;
  const hasFamily = tun.address.some((a) => a.addr.length === len);
  if (!hasFamily) {
    if (host.os === "linux" && tun.strict_route) {
      return {
        capture: "blocked",
        why: `the TUN has no IPv${len === 4 ? 4 : 6} address and strict_route makes it unreachable`,
      };
    }
    return { capture: "bypass", why: `the TUN has no IPv${len === 4 ? 4 : 6} address` };
  }
  if (isLoopback(addr)) {
    return { capture: "bypass", why: "loopback never enters the TUN" };
  }
  let plan;
  try {
    plan = host.os === "linux" ? planRoutes(tun, "tun") : planDarwinRoutes(tun, "utun");
  } catch {
    return { capture: "bypass", why: "the tun options are invalid (see tunbox check)" };
  }
  let best: Prefix | null = null;
  for (const r of plan.routes) {
    if (r.prefix.addr.length !== len || !prefixContains(r.prefix, addr)) continue;
    if (!best || r.prefix.bits > best.bits) best = r.prefix;
  }
  if (!best) {
    const excluded = tun.route_exclude_address.find((p) =>
      p.addr.length === len && prefixContains(p, addr)
    );
    return {
      capture: "bypass",
      why: excluded
        ? `route_exclude_address ${formatPrefix(excluded)} keeps it out`
        : "route_address does not include it",
    };
  }
  const specific = host.routes
    .filter((r) => r.prefix.addr.length === len && prefixContains(r.prefix, addr))
    .sort((a, b) => b.prefix.bits - a.prefix.bits)[0];
  if (host.os === "linux") {
    // Table routes more specific than 0/0 win at the first rule; the default route is
    // suppressed there, and then the main table's own routes win for everything but DNS.
    if (best.bits > 0) return { capture: "tun", why: `the TUN's route ${formatPrefix(best)}` };
    if (specific && port !== 53) {
      return {
        capture: "bypass",
        why: `the route ${formatPrefix(specific.prefix)} dev ${specific.dev} is more specific`,
      };
    }
    return {
      capture: "tun",
      why: specific ? "DNS (port 53) is always sent to the TUN" : "the TUN's default route",
    };
  }
  if (specific && specific.prefix.bits > best.bits) {
    return {
      capture: "bypass",
      why: `the route ${
        formatPrefix(specific.prefix)
      } dev ${specific.dev} is more specific than the TUN's ${formatPrefix(best)}`,
    };
  }
  return { capture: "tun", why: `the TUN's route ${formatPrefix(best)}` };
}

/** The router's decision for a flow from the TUN to `addr`:`port`, sniffed as `protocol`. */
export async function decide(
  router: Router,
  tun: TunInboundOptions,
  addr: Uint8Array,
  port: number,
  network: "tcp" | "udp",
  protocol = "",
): Promise<RouteDecision> {
  const src = tun.address.find((a) => a.addr.length === addr.length)?.addr ??
    new Uint8Array(addr.length);
  const meta = newConnMetadata({
    id: 0,
    inbound: tun.tag,
    inboundType: "tun",
    network,
    source: { addr: src, port: 50000 },
    destination: { addr, port },
  });
  return await router.route(meta, {
    sniff(sniffers) {
      if (protocol && sniffers.includes(protocol)) meta.protocol = protocol;
      return Promise.resolve();
    },
    resolve: () => Promise.resolve(),
  });
}

/** True for outbounds that reach a proxy on this machine (the common `init` setup). */
export function isLocalProxy(options: Options, tag: string): boolean {
  const o = options.outbounds.find((x) => x.tag === tag);
  if (!o || (o.type !== "socks" && o.type !== "http")) return false;
  const a = parseIp(o.server);
  return o.server === "localhost" || (a !== null && isLoopback(a));
}

function describe(d: RouteDecision): string {
  if (d.action === "route") {
    return `routes it to outbound "${d.outbound}" (${
      d.ruleIndex < 0 ? "route.final" : `rule ${d.ruleIndex}`
    })`;
  }
  if (d.action === "reject") return `rejects it (rule ${d.ruleIndex})`;
  return `answers it itself (hijack-dns, rule ${d.ruleIndex})`;
}

/** Privileges needed by `run`. */
export function checkPrivileges(host: HostState): Finding {
  return host.privileged
    ? {
      id: "privileges",
      status: "ok",
      title: "Privileges to create the TUN",
      detail: host.privilegeDetail,
    }
    : {
      id: "privileges",
      status: "fail",
      title: "Privileges to create the TUN",
      detail: host.privilegeDetail,
      fix: host.os === "linux"
        ? "run tunbox with sudo, or give the binary CAP_NET_ADMIN (setcap cap_net_admin+ep)"
        : "run tunbox with sudo",
    };
}

/** The SOCKS/HTTP outbound answered (or not), and with the right authentication. */
export function checkOutbound(
  tag: string,
  server: string,
  probe: ProbeResult | null,
  hasCredentials: boolean,
): Finding {
  const title = `Outbound "${tag}" reachable at ${server}`;
  if (!probe) {
    return {
      id: `outbound:${tag}`,
      status: "fail",
      title,
      detail: `nothing answers on ${server}: every connection routed to "${tag}" will fail`,
      fix:
        "start the proxy client (V2rayU, V2Ray, Clash, ss-local, ...) or correct server/server_port",
    };
  }
  if (probe.kind === "unknown") {
    return {
      id: `outbound:${tag}`,
      status: "fail",
      title,
      detail: `${server} accepts connections but speaks neither SOCKS5 nor HTTP`,
      fix: "point the outbound at the client's SOCKS or HTTP port",
    };
  }
  if (probe.socksAuth === "userpass" && !hasCredentials) {
    return {
      id: `outbound:${tag}`,
      status: "fail",
      title,
      detail: "the proxy requires a username and password, and the outbound has none",
      fix: 'add "username" and "password" to the outbound',
    };
  }
  if (probe.authOk === false) {
    return {
      id: `outbound:${tag}`,
      status: "fail",
      title,
      detail: "the proxy refused the outbound's username and password",
      fix: "correct the credentials",
    };
  }
  return {
    id: `outbound:${tag}`,
    status: "ok",
    title,
    detail: `${
      probe.kind === "http" ? "an HTTP" : probe.kind === "mixed" ? "a SOCKS5+HTTP" : "a SOCKS5"
    } proxy answers${probe.socksAuth === "userpass" ? " and accepts the credentials" : ""}`,
  };
}

/** UDP through a SOCKS outbound, when the config sends UDP (or DNS) through it. */
export function checkUdp(
  tag: string,
  probe: ProbeResult | null,
  dnsThrough: string[],
): Finding | null {
  if (!probe || probe.kind === "http" || probe.kind === "unknown") return null;
  const title = `UDP through outbound "${tag}" (UDP ASSOCIATE)`;
  const needs = dnsThrough.length > 0
    ? `DNS server(s) ${dnsThrough.map((s) => `"${s}"`).join(", ")} query through it over UDP`
    : "UDP connections (QUIC, games, calls) routed to it";
  switch (probe.udp) {
    case "works":
    case "accepted":
      return { id: `udp:${tag}`, status: "ok", title, detail: probe.udpDetail };
    case "untested":
      return { id: `udp:${tag}`, status: "info", title, detail: `not tested: ${probe.udpDetail}` };
    default:
      return {
        id: `udp:${tag}`,
        status: dnsThrough.length > 0 ? "fail" : "warn",
        title,
        detail: `${probe.udpDetail}; ${needs} will fail`,
        fix:
          'enable UDP in the proxy (V2Ray socks inbound "udp": true, ss-local -u, V2rayU\'s UDP option, dante "udpassociate"), or send DNS over TCP ("type": "tcp") and reject UDP ({"network": "udp", "action": "reject"})',
      };
  }
}

/** The proxy server's own address must not come back into the TUN. */
export async function checkServerLoop(
  options: Options,
  tun: TunInboundOptions,
  router: Router,
  host: HostState,
  server: { host: string; addrs: string[]; port: number; source: string },
): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const text of server.addrs) {
    const addr = parseIp(text);
    if (!addr) continue;
    const title = `The proxy server ${server.host}${
      server.host !== text ? ` (${text})` : ""
    } stays out of the TUN (${server.source})`;
    const cap = captureOf(tun, addr, server.port, host);
    if (cap.capture !== "tun") {
      out.push({ id: "loop", status: "ok", title, detail: `not captured: ${cap.why}` });
      continue;
    }
    const d = await decide(router, tun, addr, server.port, "tcp");
    if (d.action === "route" && isLocalProxy(options, d.outbound)) {
      out.push({
        id: "loop",
        status: "fail",
        title,
        detail:
          `this will loop: the proxy client's connection to its server enters the TUN (${cap.why}), and tunbox ${
            describe(d)
          }, which is the proxy client itself`,
        fix: `add "${
          formatPrefix({ addr, bits: addr.length * 8 })
        }" to the tun inbound's route_exclude_address (and an ip_cidr rule to "direct"); tunbox init writes both`,
      });
    } else if (d.action === "route") {
      out.push({
        id: "loop",
        status: "warn",
        title,
        detail: `it enters the TUN (${cap.why}) and tunbox ${
          describe(d)
        }: it works, through tunbox`,
        fix: `add "${
          formatPrefix({ addr, bits: addr.length * 8 })
        }" to route_exclude_address to keep it out of the TUN entirely`,
      });
    } else {
      out.push({
        id: "loop",
        status: "fail",
        title,
        detail: `it enters the TUN (${cap.why}) and tunbox ${
          describe(d)
        }: the proxy cannot reach its server`,
        fix: `add "${formatPrefix({ addr, bits: addr.length * 8 })}" to route_exclude_address`,
      });
    }
  }
  return out;
}

/** A `direct` outbound (or a proxy dialled directly) whose sockets would re-enter the TUN. */
export function checkDirectLoop(options: Options, host: HostState): Finding[] {
  const tuns = options.inbounds.filter((i): i is TunInboundOptions =>
    i.type === "tun" && i.auto_route === true
  );
  if (tuns.length === 0) return [];
  const route = options.route;
  const out: Finding[] = [];
  const names = new Set(host.links.map((l) => l.name));
  for (const o of options.outbounds) {
    if (o.type !== "direct" && o.type !== "socks" && o.type !== "http") continue;
    if (o.type !== "direct" && (o.detour || isLocalProxy(options, o.tag))) continue;
    const title = `Outbound "${o.tag}" leaves through the real interface, not the TUN`;
    const escape = tunEscape(o, route);
    if (escape.kind === "interface" && escape.by === "bind_interface") {
      const ok = names.has(o.bind_interface!);
      out.push({
        id: `direct:${o.tag}`,
        status: ok ? "ok" : "fail",
        title,
        detail: ok
          ? `bound to ${o.bind_interface}`
          : `it binds to interface "${o.bind_interface}", which this machine does not have: its connections fail`,
        ...(ok
          ? {}
          : { fix: 'remove "bind_interface" and set "route.auto_detect_interface": true' }),
      });
    } else if (escape.kind === "interface") {
      out.push({
        id: `direct:${o.tag}`,
        status: "ok",
        title,
        detail: escape.by === "auto_detect_interface"
          ? "route.auto_detect_interface binds it to the default interface"
          : `route.default_interface binds it to ${route.default_interface}`,
      });
    } else {
      out.push({
        id: `direct:${o.tag}`,
        status: escape.kind === "mark" ? "warn" : "fail",
        title,
        detail: escape.kind === "mark"
          ? "only a routing mark is set: it leaves the TUN only if a policy rule matches that mark"
          : "nothing binds its sockets to an interface: with auto_route its connections go back into the TUN and loop",
        fix: 'set "route.auto_detect_interface": true',
      });
    }
  }
  return out;
}

/** DNS: which resolver the system uses and what happens to its queries. */
export async function checkDns(
  options: Options,
  tun: TunInboundOptions,
  router: Router,
  host: HostState,
): Promise<Finding[]> {
  const out: Finding[] = [];
  if (host.resolvers.length === 0) {
    return [{
      id: "dns",
      status: "info",
      title: "The system resolver",
      detail: "no nameserver found in /etc/resolv.conf",
    }];
  }
  const targets: { addr: string; via: string }[] = [];
  for (const r of host.resolvers) {
    const a = parseIp(r);
    if (!a) continue;
    const loop = isLoopback(a);
    if (loop && r === "127.0.0.53" && host.resolvedUpstreams) {
      out.push({
        id: "dns:stub",
        status: "info",
        title: "The system resolver",
        detail: `systemd-resolved's stub (127.0.0.53) answers; its upstream servers: ${
          host.resolvedUpstreams.join(", ") || "none"
        }`,
      });
      for (const u of host.resolvedUpstreams) {
        targets.push({ addr: u, via: "systemd-resolved's upstream" });
      }
    } else if (loop) {
      out.push({
        id: `dns:${r}`,
        status: "info",
        title: `The system resolver ${r}`,
        detail:
          "a resolver on this machine: its own queries to its upstream servers are what tunbox sees",
      });
    } else targets.push({ addr: r, via: "the system resolver" });
  }
  for (const t of targets) {
    const addr = parseIp(t.addr);
    if (!addr) continue;
    const title = `DNS queries to ${t.addr} (${t.via})`;
    const id = `dns:${t.addr}`;
    const lan = isPrivateAddr(addr);
    const cap = captureOf(tun, addr, 53, host);
    if (cap.capture === "blocked") {
      out.push({
        id,
        status: "fail",
        title,
        detail: `they cannot be sent: ${cap.why}`,
        fix: "add an address of that family to the tun inbound",
      });
      continue;
    }
    if (cap.capture === "bypass") {
      out.push({
        id,
        status: "fail",
        title,
        detail:
          `they go straight to ${t.addr}, past the TUN (${cap.why}): not proxied, not hijacked — a DNS leak`,
        fix: host.os === "darwin"
          ? "set the system DNS server to one routed into the TUN (e.g. 1.1.1.1 in System Settings → Network → DNS); the hijack-dns rule then answers it"
          : "set a resolver routed into the TUN, or remove it from route_exclude_address",
      });
      continue;
    }
    const d = await decide(router, tun, addr, 53, "udp", "dns");
    if (d.action === "hijack-dns") {
      out.push({
        id,
        status: "ok",
        title,
        detail: `captured and answered by tunbox (${describe(d)})`,
      });
    } else if (
      d.action === "route" && !isLocalProxy(options, d.outbound) &&
      options.outbounds.find((o) => o.tag === d.outbound)?.type === "direct"
    ) {
      out.push({
        id,
        status: "warn",
        title,
        detail: `tunbox ${
          describe(d)
        }: they reach ${t.addr} directly, not through the proxy — a DNS leak`,
        fix:
          'put {"action": "sniff"} and {"protocol": "dns", "action": "hijack-dns"} first in route.rules',
      });
    } else if (d.action === "route" && lan) {
      out.push({
        id,
        status: "fail",
        title,
        detail: `tunbox ${
          describe(d)
        }: the proxy cannot reach ${t.addr} on your LAN, so name lookups fail`,
        fix:
          'put {"action": "sniff"} and {"protocol": "dns", "action": "hijack-dns"} first in route.rules',
      });
    } else {
      out.push({ id, status: "ok", title, detail: `captured; tunbox ${describe(d)}` });
    }
  }
  return out;
}

/** IPv6: captured, blocked, or leaking past the TUN. */
export function checkIpv6(tun: TunInboundOptions, host: HostState): Finding {
  const title = "IPv6 traffic";
  const has6 = tun.address.some((a) => a.addr.length === 16);
  if (!host.ipv6Default) {
    return { id: "ipv6", status: "ok", title, detail: "this machine has no IPv6 default route" };
  }
  if (has6 && tun.auto_route) {
    return {
      id: "ipv6",
      status: "ok",
      title,
      detail: "the TUN has an IPv6 address: IPv6 goes through it",
    };
  }
  const fix =
    'add an IPv6 address to the tun inbound, e.g. "address": ["172.19.0.1/30", "fdfe:dcba:9876::1/126"]';
  if (host.os === "linux" && tun.strict_route && tun.auto_route) {
    return {
      id: "ipv6",
      status: "warn",
      title,
      detail:
        "this machine has IPv6 but the TUN has no IPv6 address: strict_route makes IPv6 unreachable (no leak, but applications wait before falling back to IPv4)",
      fix,
    };
  }
  return {
    id: "ipv6",
    status: "fail",
    title,
    detail:
      "this machine has IPv6 but the TUN has no IPv6 address: IPv6 connections bypass the TUN and the proxy (a leak)",
    fix,
  };
}

/** Known tables and rule priorities of other VPN and TUN tools (Linux). */
const KNOWN_TABLES: Record<number, string> = {
  52: "Tailscale",
  51820: "WireGuard (wg-quick)",
  2022: "sing-box / mihomo / Clash Meta (sing-tun's default table)",
};

/** Other tools' routes and rules, and tunbox's own stale ones (Linux). */
export function checkRules(tun: TunInboundOptions, host: HostState): Finding[] {
  if (host.os !== "linux") return [];
  const out: Finding[] = [];
  let ids;
  try {
    ids = resolveIndexes(tun);
  } catch {
    return [];
  }
  const { table, ruleIndex } = ids;
  const ours = host.rules.filter((r) =>
    r.priority >= ruleIndex && r.priority <= ruleIndex + RULE_SPAN
  );
  const tableInfo = host.tables.get(table);
  const liveTun = (tableInfo?.devs ?? []).find((d) =>
    host.links.some((l) => l.name === d && l.kind === "tun" && l.up)
  );
  // Rule texts with the TUN's name left out, so a crashed run's rules match the plan.
  const norm = (t: string) => t.replace(/\t/, " ").replace(/iif (?!lo\b)\S+/g, "iif *");
  let planned: Set<string> = new Set();
  try {
    planned = new Set(planRoutes(tun, "tunbox").rules.map((r) => norm(r.text)));
  } catch { /* invalid options: check reports them */ }
  if (ours.length > 0) {
    const texts = ours.map((r) => formatRule(r, r.flags).replace(/\t/, " "));
    const matchesPlan = texts.every((t) => planned.has(norm(t)));
    if (matchesPlan && liveTun) {
      out.push({
        id: "rules:running",
        status: "info",
        title: `Policy rules at priorities ${ruleIndex}–${ruleIndex + RULE_SPAN}`,
        detail:
          `tunbox's rules are installed and table ${table} routes into ${liveTun}: tunbox (or sing-box with the same options) is running`,
      });
    } else if (matchesPlan) {
      out.push({
        id: "rules:stale",
        status: "warn",
        title: `Policy rules at priorities ${ruleIndex}–${ruleIndex + RULE_SPAN}`,
        detail:
          `${ours.length} rule(s) left by a run that did not stop cleanly (table ${table} has no TUN route)`,
        fix: "sudo tunbox cleanup -c <config> (the next run also removes them)",
      });
    } else {
      out.push({
        id: "rules:conflict",
        status: "fail",
        title: `Policy rules at priorities ${ruleIndex}–${ruleIndex + RULE_SPAN}`,
        detail: `another tool's rule(s) use tunbox's priorities: ${
          texts.map((t) => `"${t}"`).join(", ")
        }${
          tableInfo && liveTun ? ` (table ${table} routes into ${liveTun})` : ""
        }; tunbox would remove them at start, breaking that tool`,
        fix:
          `stop the other tool (sing-box, mihomo and Clash Meta use priorities 9000–9010 and table 2022 too), or give tunbox other ones: "iproute2_rule_index": ${
            ruleIndex + 100
          }, "iproute2_table_index": ${table + 100}`,
      });
    }
  }
  // Rules of other tools before ours that send traffic elsewhere.
  const seen = new Set<string>();
  for (const r of host.rules) {
    if (r.priority >= ruleIndex && r.priority <= ruleIndex + RULE_SPAN) continue;
    if (r.action !== "lookup" || r.table === undefined || [253, 254, 255].includes(r.table)) {
      continue;
    }
    const name = KNOWN_TABLES[r.table] ?? "";
    const key = `${r.table}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const text = formatRule(r, r.flags).replace(/\t/, " ");
    const before = r.priority < ruleIndex;
    out.push({
      id: `rules:table-${r.table}`,
      status: before && (host.tables.get(r.table)?.count ?? 0) > 0 ? "warn" : "info",
      title: `Routing table ${r.table}${name ? ` (${name})` : ""}`,
      detail: before
        ? `"${text}" is consulted before tunbox's rules: what it routes never reaches the TUN`
        : `"${text}" comes after tunbox's rules: tunbox takes the traffic it would have routed`,
      ...(before
        ? {
          fix:
            "expected for a VPN's own network (Tailscale's tailnet); otherwise stop that tool while tunbox runs",
        }
        : {}),
    });
  }
  for (const l of host.links) {
    if (!l.up || l.name === liveTun) continue;
    if (l.kind === "tun" || l.kind === "wireguard") {
      out.push({
        id: `link:${l.name}`,
        status: "warn",
        title: `Interface ${l.name} (${l.kind})`,
        detail: l.kind === "wireguard"
          ? "a WireGuard interface is up: if it carries a full tunnel, tunbox's rules come first and take its traffic"
          : "another TUN device is up (a VPN, Clash, sing-box?): two tools routing everything fight over the default route",
        fix: "stop the other tool while tunbox runs, unless it only routes its own network",
      });
    }
  }
  return out;
}
