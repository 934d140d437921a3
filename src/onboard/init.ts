/**
 * `tunbox init`'s decisions, apart from its I/O: which local proxy to use (of those the probe
 * found), which client config describes it, and the commented config for this OS.
 *
 * The proxy chosen: a SOCKS5 port that relays UDP (a client config naming it as a listener
 * first), then any SOCKS5 port, then a mixed or HTTP one. Credentials come from the client's
 * config when its listener requires them.
 *
 * @module
 */

import type { LocalListener } from "./convert.ts";
import type { FoundClient } from "./discover.ts";
import { commented, type Jsonc, trailing, writeJsonc } from "./jsonc_writer.ts";
import type { ProbeResult } from "./probe.ts";
import { type ExcludedServer, proxiedDns, tunInbound, tunRules } from "./tun_profile.ts";

/** The client config that opens `probe`'s port, if one was found. */
export function clientFor(
  probe: { host: string; port: number },
  clients: readonly FoundClient[],
): { client: FoundClient; listener: LocalListener } | null {
  const local = (listen: string) =>
    ["127.0.0.1", "0.0.0.0", "::", "::1", "localhost", "", probe.host].includes(listen);
  for (const c of clients) {
    if ("error" in c.imported) continue;
    const l = c.imported.listeners.find((l) => l.port === probe.port && local(l.listen));
    if (l) return { client: c, listener: l };
  }
  return null;
}

function score(p: ProbeResult, hasClient: boolean): number {
  let s = 0;
  if (p.kind === "socks5" || p.kind === "mixed") s += 100;
  if (p.udp === "works") s += 50;
  else if (p.udp === "accepted") s += 40;
  if (p.socksAuth === "none" || p.authOk === true) s += 20;
  if (p.kind === "http" && p.httpAuth === false) s += 10;
  if (hasClient) s += 5;
  return s;
}

/** Picks the proxy to use from the probe results (null when none is usable). */
export function chooseProxy(
  probes: readonly ProbeResult[],
  clients: readonly FoundClient[],
): ProbeResult | null {
  let best: ProbeResult | null = null;
  let bestScore = -1;
  for (const p of probes) {
    const s = score(p, clientFor(p, clients) !== null);
    if (s > bestScore) [best, bestScore] = [p, s];
  }
  return best;
}

/** Everything `renderInit` writes from. */
export interface InitInputs {
  os: "linux" | "darwin";
  proxy: ProbeResult;
  /** The client config that opens the proxy's port, if found. */
  client: { client: FoundClient; listener: LocalListener } | null;
  /** The proxy servers' addresses (resolved now). */
  servers: ExcludedServer[];
  /** Problems found on the way (unresolvable names, ...), written as comments. */
  warnings: string[];
  /** The DNS server to reach through the proxy. */
  dnsServer: string;
  /** YYYY-MM-DD. */
  date: string;
}

function describeProxy(p: ProbeResult): string {
  const kind = p.kind === "socks5" ? "SOCKS5" : p.kind === "mixed" ? "SOCKS5+HTTP" : "HTTP";
  const parts = [`${kind} on ${p.host}:${p.port}`];
  if (p.kind !== "http") {
    parts.push(
      p.socksAuth === "none"
        ? "no authentication"
        : p.authOk
        ? "username/password (from the client's config)"
        : "needs a username and password",
    );
    parts.push(
      p.udp === "works"
        ? "UDP ASSOCIATE works"
        : p.udp === "accepted"
        ? "UDP ASSOCIATE accepted"
        : `no UDP (${p.udpDetail})`,
    );
  } else if (p.httpAuth) parts.push("needs a username and password");
  return parts.join(", ");
}

/** True when DNS and other UDP can go through the proxy. */
export function relaysUdp(p: ProbeResult): boolean {
  return p.kind !== "http" && (p.udp === "works" || p.udp === "accepted");
}

/** The commented config `tunbox init` writes. */
export function renderInit(i: InitInputs): string {
  const p = i.proxy;
  const udp = relaysUdp(p);
  const users = i.client?.listener.users ?? [];
  const proxy: Record<string, Jsonc> = p.kind === "http"
    ? { type: "http", tag: "proxy", server: p.host, server_port: p.port }
    : { type: "socks", tag: "proxy", server: p.host, server_port: p.port, version: "5" };
  if (users.length > 0) {
    proxy.username = users[0]!.username;
    proxy.password = users[0]!.password;
  } else if (p.socksAuth === "userpass" || p.httpAuth) {
    proxy.username = trailing("", "the proxy needs credentials: fill them in");
    proxy.password = "";
  }
  const rules = tunRules("direct", i.servers, i.date);
  if (!udp) {
    rules.push(commented({ network: "udp", action: "reject" }, [
      "The proxy does not relay UDP: refuse UDP at once so applications fall back to TCP",
      "(browsers retry QUIC as HTTPS over TCP). DNS is answered above, over TCP.",
    ]));
  }
  const config: Record<string, Jsonc> = {
    log: { level: "info", timestamp: true },
    dns: proxiedDns("proxy", i.dnsServer, udp),
    inbounds: [tunInbound(i.os, i.servers)],
    outbounds: [
      commented(proxy, `The local proxy: ${describeProxy(p)}.`),
      commented({ type: "direct", tag: "direct" }, "Private addresses and the proxy server."),
    ],
    route: {
      rules,
      final: trailing("proxy", "everything else goes through the proxy"),
      auto_detect_interface: trailing(
        true,
        "direct connections leave through the real interface, never the TUN",
      ),
    },
  };
  const from = i.client
    ? `${i.client.client.client}${
      i.client.client.pid ? ` (pid ${i.client.client.pid})` : ""
    }, ${i.client.client.path}`
    : "";
  const header = [
    `Written by \`tunbox init\` on ${i.date} for ${i.os === "darwin" ? "macOS" : "Linux"}.`,
    `Local proxy: ${describeProxy(p)}.`,
    from
      ? `Its client: ${from}.`
      : "No client config names this port: the proxy server's address is not known, so it is not excluded below; add it to route_exclude_address if the proxy runs on this machine.",
    ...i.warnings.map((w) => `Warning: ${w}.`),
    "",
    "Check: tunbox check -c <this file>     Run: sudo tunbox run -c <this file>",
    "Diagnose: tunbox doctor -c <this file>  Explain a connection: tunbox explain -c <this file> example.com",
  ];
  return writeJsonc(config, header);
}
