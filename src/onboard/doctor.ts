/**
 * `tunbox doctor`: gathers this machine's state (Linux: rtnetlink for links, routes and rules,
 * never `ip`; macOS: interfaces and their subnets), probes the proxy outbounds, reads the proxy
 * client's config, and runs the checks of `doctor_checks.ts`.
 *
 * @module
 */

import type { ConfigDiagnostic } from "../config/diagnostic.ts";
import type { Options, TunInboundOptions } from "../config/types.ts";
import { CAP_NET_ADMIN } from "../../ffi/linux/constants.ts";
import { IFF_UP, RTN_UNICAST } from "../../ffi/linux/netlink.ts";
import { isLinkLocal, parseIp, parsePrefix } from "../net/ip.ts";
import { hasCapability, parseCapEff, readProcText } from "../platform/linux/privileges.ts";
import { withRtNetlink } from "../platform/linux/rtnetlink/mod.ts";
import { isTunLink } from "../platform/linux/tun.ts";
import { Router } from "../route/router.ts";
import { findClients, type FoundClient } from "./discover.ts";
import {
  checkDirectLoop,
  checkDns,
  checkIpv6,
  checkOutbound,
  checkPrivileges,
  checkRules,
  checkServerLoop,
  checkUdp,
  type Finding,
  type HostLink,
  type HostRoute,
  type HostState,
  isLocalProxy,
} from "./doctor_checks.ts";
import { clientFor } from "./init.ts";
import { dnsUdpCheck, probePort, type ProbeResult } from "./probe.ts";
import { type Resolver, resolveServers, systemResolver } from "./resolve.ts";

export type { Finding };

function nameservers(text: string): string[] {
  return text.split("\n").flatMap((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return m ? [m[1]!.replace(/%.*$/, "")] : [];
  });
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** This machine's state as doctor needs it. */
export function gatherHost(): HostState {
  const os = Deno.build.os === "darwin" ? "darwin" : "linux";
  const resolvConf = readText("/etc/resolv.conf") ?? "";
  const resolvers = nameservers(resolvConf);
  const stub = readText("/run/systemd/resolve/resolv.conf");
  const host: HostState = {
    os,
    privileged: false,
    privilegeDetail: "",
    routes: [],
    ipv6Default: false,
    rules: [],
    tables: new Map(),
    links: [],
    resolvers,
    resolvedUpstreams: resolvers.includes("127.0.0.53") && stub !== null ? nameservers(stub) : null,
  };
  if (os === "linux") {
    try {
      const eff = parseCapEff(readProcText("/proc/self/status"));
      host.privileged = eff !== null && hasCapability(eff, CAP_NET_ADMIN);
      host.privilegeDetail = host.privileged
        ? "CAP_NET_ADMIN is in the effective set"
        : "this process lacks CAP_NET_ADMIN: tunbox run could not create the TUN or its routes";
    } catch (e) {
      host.privilegeDetail = `cannot read /proc/self/status: ${(e as Error).message}`;
    }
    withRtNetlink((nl) => {
      const links = nl.listLinks();
      const names = new Map(links.map((l) => [l.index, l.name]));
      host.links = links.map((l): HostLink => ({
        name: l.name,
        kind: l.kind ?? (isTunLink(l) ? "tun" : ""),
        up: (l.flags & IFF_UP) !== 0,
      }));
      for (const r of nl.listRoutes()) {
        const dev = r.oif !== undefined ? names.get(r.oif) ?? "" : "";
        const t = host.tables.get(r.table) ?? { count: 0, devs: [] };
        t.count++;
        if (dev && !t.devs.includes(dev)) t.devs.push(dev);
        host.tables.set(r.table, t);
        if (r.table !== 254 || r.type !== RTN_UNICAST) continue;
        if (r.dst.bits === 0) {
          if (r.family === 6) host.ipv6Default = true;
          continue;
        }
        if (r.family === 6 && isLinkLocal(r.dst.addr)) continue;
        host.routes.push({ prefix: r.dst, dev });
      }
      host.rules = nl.listRules();
    });
  } else {
    host.privileged = Deno.uid?.() === 0;
    host.privilegeDetail = host.privileged
      ? "running as root"
      : "not running as root: tunbox run needs sudo to create a utun device and routes";
    const seen = new Map<string, HostLink>();
    for (const i of Deno.networkInterfaces()) {
      if (!seen.has(i.name)) {
        seen.set(i.name, {
          name: i.name,
          kind: i.name.startsWith("utun") ? "tun" : i.name.startsWith("wg") ? "wireguard" : "",
          up: true,
        });
      }
      const p = parsePrefix(i.cidr);
      const a = parseIp(i.address);
      if (!p || !a || i.name.startsWith("lo")) continue;
      if (a.length === 16 && isLinkLocal(a)) continue;
      if (a.length === 16 && (a[0]! & 0xe0) === 0x20 && !i.name.startsWith("utun")) {
        host.ipv6Default = true; // a global address: IPv6 is in use
      }
      host.routes.push({ prefix: p, dev: i.name });
    }
    host.links = [...seen.values()];
  }
  return host;
}

/** What `runDoctor` can be given instead of looking itself (tests). */
export interface DoctorDeps {
  host?: HostState;
  clients?: FoundClient[];
  resolve?: Resolver;
  probeTimeoutMs?: number;
}

/** Runs every check for `options`. `warnings` are the config loader's. */
export async function runDoctor(
  options: Options,
  warnings: readonly ConfigDiagnostic[],
  deps: DoctorDeps = {},
): Promise<Finding[]> {
  const host = deps.host ?? gatherHost();
  const findings: Finding[] = [checkPrivileges(host)];
  for (const w of warnings) {
    findings.push({
      id: "config",
      status: "warn",
      title: "The configuration",
      detail: w.format(),
    });
  }
  let router: Router;
  try {
    router = new Router({
      rules: options.route.rules,
      outbounds: options.outbounds,
      ...(options.route.final !== undefined ? { final: options.route.final } : {}),
    });
  } catch (e) {
    findings.push({
      id: "router",
      status: "fail",
      title: "The route rules",
      detail: (e as Error).message,
      fix: "tunbox check shows where",
    });
    return findings;
  }
  for (const w of router.warnings) {
    findings.push({ id: "rules", status: "warn", title: "A rule that never matches", detail: w });
  }

  // The proxy outbounds.
  const defaultOutbound = options.route.final || options.outbounds[0]?.tag || "";
  const probes = new Map<string, ProbeResult | null>();
  for (const o of options.outbounds) {
    if (o.type !== "socks" && o.type !== "http") continue;
    const dnsThrough = options.dns.servers.filter((s) =>
      s.type === "udp" &&
      (s.detour === o.tag || (!s.detour && s.legacy && defaultOutbound === o.tag))
    );
    const target = dnsThrough.find((s) => s.server && parseIp(s.server));
    const probe = await probePort(o.server, o.server_port, {
      timeoutMs: deps.probeTimeoutMs ?? 2000,
      ...(o.username ? { credentials: { username: o.username, password: o.password ?? "" } } : {}),
      ...(o.type === "socks" && o.network !== "tcp" && target?.server
        ? { udpCheck: dnsUdpCheck(target.server) }
        : {}),
    });
    probes.set(o.tag, probe);
    findings.push(
      checkOutbound(o.tag, `${o.server}:${o.server_port}`, probe, o.username !== undefined),
    );
    if (o.type === "socks" && o.network !== "tcp" && o.version !== "4" && o.version !== "4a") {
      const udp = checkUdp(o.tag, probe, dnsThrough.map((s) => s.tag));
      if (udp) findings.push(udp);
    }
  }

  const tun = options.inbounds.find((i): i is TunInboundOptions => i.type === "tun");
  if (!tun) {
    findings.push({
      id: "tun",
      status: "info",
      title: "TUN inbound",
      detail: "the configuration has no tun inbound: only its listeners carry traffic",
    });
    return findings;
  }

  // The proxy server must not loop back into the TUN.
  const clients = deps.clients ?? findClients();
  for (const o of options.outbounds) {
    if (!isLocalProxy(options, o.tag) || (o.type !== "socks" && o.type !== "http")) continue;
    const c = clientFor({ host: o.server, port: o.server_port }, clients);
    if (!c || "error" in c.client.imported) {
      findings.push({
        id: "loop",
        status: "info",
        title: `The server behind outbound "${o.tag}"`,
        detail:
          `no proxy client config on this machine names ${o.server}:${o.server_port}, so its server's address is unknown and a loop cannot be checked`,
      });
      continue;
    }
    const servers = c.client.imported.servers.map((s) => ({
      host: s.host,
      port: s.port,
      source: `${c.client.client}${c.client.pid ? ` pid ${c.client.pid}` : ""}, ${c.client.path}`,
    }));
    const resolved = await resolveServers(servers, deps.resolve ?? systemResolver);
    for (const w of resolved.warnings) {
      findings.push({ id: "loop", status: "warn", title: "The proxy server's address", detail: w });
    }
    for (const s of resolved.servers) {
      const port = servers.find((x) => x.host === s.host)?.port ?? 443;
      findings.push(
        ...await checkServerLoop(options, tun, router, host, { ...s, port }),
      );
    }
  }
  findings.push(...checkDirectLoop(options, host));
  findings.push(...await checkDns(options, tun, router, host));
  findings.push(checkIpv6(tun, host));
  findings.push(...checkRules(tun, host));
  return findings;
}

const MARK: Record<Finding["status"], string> = { ok: "✓", info: "·", warn: "!", fail: "✗" };

/** The findings as text: problems first, each with its fix. */
export function renderFindings(findings: readonly Finding[]): string {
  const order = { fail: 0, warn: 1, info: 2, ok: 3 };
  const sorted = [...findings].sort((a, b) => order[a.status] - order[b.status]);
  const out: string[] = [];
  for (const f of sorted) {
    out.push(`${MARK[f.status]} ${f.title}: ${f.detail}`);
    if (f.fix && (f.status === "fail" || f.status === "warn")) out.push(`    fix: ${f.fix}`);
  }
  const fails = findings.filter((f) => f.status === "fail").length;
  const warns = findings.filter((f) => f.status === "warn").length;
  out.push("");
  out.push(
    fails === 0 && warns === 0 ? "No problems found." : `${fails} problem(s), ${warns} warning(s).`,
  );
  return out.join("\n");
}

export type { HostRoute };
