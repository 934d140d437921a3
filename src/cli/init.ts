/**
 * `tunbox init`: probes the local proxies, reads the running client's config, resolves the
 * proxy server's name and writes a commented TUN config (`src/onboard/init.ts`).
 *
 * @module
 */

import { parseIp } from "../net/ip.ts";
import { findClients } from "../onboard/discover.ts";
import { chooseProxy, clientFor, relaysUdp, renderInit } from "../onboard/init.ts";
import { dnsUdpCheck, probeLocalProxies, type ProbeResult, USUAL_PORTS } from "../onboard/probe.ts";
import { resolveServers, today } from "../onboard/resolve.ts";
import { writeConfigOutput } from "./config_output.ts";

/** What `init` was asked to do. */
export interface InitCommandOptions {
  print: boolean;
  force: boolean;
  output: string;
  /** `--proxy host:port`: probe only this one. */
  proxy?: string;
  /** `--dns`: the DNS server reached through the proxy (an IP address). */
  dns?: string;
}

function splitHostPort(text: string): { host: string; port: number } | null {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (!m) return null;
  const port = Number(m[2]);
  return port > 0 && port <= 65535 ? { host: m[1]!, port } : null;
}

/** Runs `init`. Returns the exit status. */
export async function initCommand(o: InitCommandOptions): Promise<number> {
  const dnsServer = o.dns ?? "1.1.1.1";
  if (!parseIp(dnsServer)) {
    console.error(`tunbox init: --dns ${JSON.stringify(dnsServer)} is not an IP address`);
    return 2;
  }
  const clients = findClients();
  for (const c of clients) {
    const what = "error" in c.imported
      ? `cannot read it: ${c.imported.error}`
      : `${c.imported.format}, listeners ${
        c.imported.listeners.map((l) => `${l.type} ${l.listen}:${l.port}`).join(", ") || "none"
      }`;
    console.error(
      `tunbox init: found ${c.client}${c.pid ? ` (pid ${c.pid})` : ""}: ${c.path}: ${what}`,
    );
  }
  let host = "127.0.0.1";
  let ports: number[] = [...USUAL_PORTS];
  if (o.proxy !== undefined) {
    const hp = splitHostPort(o.proxy);
    if (!hp) {
      console.error(`tunbox init: --proxy ${JSON.stringify(o.proxy)}: expected host:port`);
      return 2;
    }
    host = hp.host;
    ports = [hp.port];
  } else {
    // Ports the found clients listen on come first.
    const listed = clients.flatMap((c) =>
      "error" in c.imported ? [] : c.imported.listeners.map((l) => l.port)
    );
    ports = [...new Set([...listed, ...ports])];
  }
  const check = dnsUdpCheck(dnsServer);
  const credentialsFor = (port: number) => {
    const c = clientFor({ host, port }, clients);
    return c?.listener.users[0];
  };
  const probes: ProbeResult[] = [];
  for (const r of await probeLocalProxies(ports, host, { udpCheck: check })) {
    const creds = credentialsFor(r.port);
    if (creds && r.socksAuth === "userpass") {
      probes.push(
        ...await probeLocalProxies([r.port], host, { udpCheck: check, credentials: creds }),
      );
    } else probes.push(r);
  }
  for (const p of probes) {
    console.error(
      `tunbox init: ${p.host}:${p.port}: ${p.kind}${
        p.kind !== "http"
          ? `, auth ${p.socksAuth}, UDP ${p.udp}${p.udpDetail ? ` (${p.udpDetail})` : ""}`
          : ""
      }`,
    );
  }
  const proxy = chooseProxy(probes, clients);
  if (!proxy) {
    console.error(
      `tunbox init: no SOCKS5 or HTTP proxy answers on ${host} (ports ${ports.join(", ")}).`,
    );
    console.error(
      "Start your proxy client (V2rayU, V2Ray, Clash, ss-local, ...) or name it: tunbox init --proxy 127.0.0.1:1080",
    );
    return 1;
  }
  const client = clientFor(proxy, clients);
  const serverList = client && !("error" in client.client.imported)
    ? client.client.imported.servers.map((s) => ({
      host: s.host,
      source: `${client.client.client} outbound "${s.tag}"`,
    }))
    : [];
  const resolved = await resolveServers(serverList);
  for (const w of resolved.warnings) console.error(`tunbox init: warning: ${w}`);
  if (!relaysUdp(proxy)) {
    console.error(
      `tunbox init: the proxy does not relay UDP: DNS goes over TCP and other UDP is refused (${proxy.udpDetail})`,
    );
  }
  const text = renderInit({
    os: Deno.build.os === "darwin" ? "darwin" : "linux",
    proxy,
    client,
    servers: resolved.servers,
    warnings: resolved.warnings,
    dnsServer,
    date: today(),
  });
  return await writeConfigOutput(text, {
    print: o.print,
    force: o.force,
    path: o.output,
    command: "init",
  });
}
