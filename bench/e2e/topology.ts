/**
 * The two-namespace topology every path is measured in.
 *
 * ```
 *  client ns                                   server ns
 *  ┌──────────────────────────────┐  veth      ┌───────────────────────────────┐
 *  │ tools, proxy under test,     │ 10.77.0.1 ─┤ 10.77.0.2                      │
 *  │ SOCKS5 on 127.0.0.1:1080     │ 10.77.0.3  │ lo: 203.0.113.10/32 (services) │
 *  │ default via 10.77.0.2        │            │ iperf3, echo, hold, bulk       │
 *  └──────────────────────────────┘            └───────────────────────────────┘
 * ```
 *
 * The service address is reached from the client only through its default route, so a TUN
 * proxy's auto_route captures the tools' unbound sockets, while the SOCKS server's egress,
 * bound to 10.77.0.3, goes straight out of the veth.
 *
 * @module
 */

import { Netns, run } from "./netns.ts";

/** Addresses and ports of the topology. */
export const NET = {
  clientAddr: "10.77.0.1",
  socksEgressAddr: "10.77.0.3",
  serverVethAddr: "10.77.0.2",
  serviceAddr: "203.0.113.10",
  iperfPort: 5201,
  echoPort: 7000,
  holdPort: 7001,
  bulkPort: 7002,
  socksPort: 1080,
  microsocksPort: 1081,
  redsocksPort: 12345,
} as const;

const SYSCTLS = [
  // Sequential connection tests leave TIME-WAIT sockets behind on the closing side.
  "net.ipv4.tcp_tw_reuse=1",
  "net.ipv4.ip_local_port_range=1024 65535",
  "net.core.somaxconn=65535",
  "net.ipv4.tcp_max_syn_backlog=65535",
];

/** The client and server namespaces joined by one veth pair. */
export class Topology {
  /** @param client namespace running the proxy and the tools. @param server the services. */
  constructor(readonly client: Netns, readonly server: Netns) {}

  /** Creates both namespaces and wires them; deletes what it made if a step fails. */
  static async create(tag = crypto.randomUUID().slice(0, 6)): Promise<Topology> {
    const t = new Topology(new Netns(`tb-bench-c-${tag}`), new Netns(`tb-bench-s-${tag}`));
    try {
      await t.client.create();
      await t.server.create();
      // No duplicate address detection: link-local addresses and their routes appear at once,
      // so routing snapshots taken later do not see them arrive.
      for (const ns of [t.client, t.server]) {
        for (const kv of ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]) {
          await ns.exec(["sysctl", "-q", "-w", kv]);
        }
      }
      const c = t.client.name;
      const s = t.server.name;
      // Both veth ends are created inside the namespaces, never in the root namespace.
      await run([
        "ip",
        "-n",
        c,
        "link",
        "add",
        "veth-c",
        "type",
        "veth",
        "peer",
        "name",
        "veth-s",
        "netns",
        s,
      ]);
      await run(["ip", "-n", c, "addr", "add", `${NET.clientAddr}/24`, "dev", "veth-c"]);
      await run(["ip", "-n", c, "addr", "add", `${NET.socksEgressAddr}/24`, "dev", "veth-c"]);
      await run(["ip", "-n", c, "link", "set", "veth-c", "up"]);
      await run(["ip", "-n", s, "addr", "add", `${NET.serverVethAddr}/24`, "dev", "veth-s"]);
      await run(["ip", "-n", s, "addr", "add", `${NET.serviceAddr}/32`, "dev", "lo"]);
      await run(["ip", "-n", s, "link", "set", "veth-s", "up"]);
      await run(["ip", "-n", c, "route", "add", "default", "via", NET.serverVethAddr]);
      for (const ns of [t.client, t.server]) {
        for (const kv of SYSCTLS) await ns.exec(["sysctl", "-q", "-w", kv]);
      }
      await t.#settle();
      return t;
    } catch (e) {
      await t.destroy();
      throw e;
    }
  }

  /** Waits until the client's routes stop changing (link-local setup), at most 5 s. */
  async #settle(): Promise<void> {
    let last = "";
    for (let i = 0; i < 50; i++) {
      const now = (await routingSnapshot(this.client)).routes;
      if (
        now === last && !(await this.client.exec(["ip", "-6", "addr"])).stdout.includes("tentative")
      ) return;
      last = now;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops every process in both namespaces and deletes them. */
  async destroy(): Promise<void> {
    await Promise.allSettled([this.client.destroy(), this.server.destroy()]);
  }
}

/**
 * Lines of `before` missing from `after` (prefixed "- ") and lines new in `after` ("+ "),
 * compared as multisets, in their original order.
 */
export function diffLines(before: string, after: string): string[] {
  const count = (text: string) => {
    const m = new Map<string, number>();
    for (const l of text.split("\n").map((x) => x.trimEnd()).filter((x) => x !== "")) {
      m.set(l, (m.get(l) ?? 0) + 1);
    }
    return m;
  };
  const a = count(before);
  const b = count(after);
  const out: string[] = [];
  for (const [l, n] of a) for (let i = b.get(l) ?? 0; i < n; i++) out.push(`- ${l}`);
  for (const [l, n] of b) for (let i = a.get(l) ?? 0; i < n; i++) out.push(`+ ${l}`);
  return out;
}

/** `ip rule` (v4 and v6) and `ip route show table all` of a namespace, for before/after checks. */
export async function routingSnapshot(ns: Netns): Promise<{ rules: string; routes: string }> {
  const r4 = await ns.exec(["ip", "-4", "rule", "show"]);
  const r6 = await ns.exec(["ip", "-6", "rule", "show"], { allowFail: true });
  const routes = await ns.exec(["ip", "route", "show", "table", "all"]);
  const routes6 = await ns.exec(["ip", "-6", "route", "show", "table", "all"], { allowFail: true });
  return { rules: r4.stdout + r6.stdout, routes: routes.stdout + routes6.stdout };
}
