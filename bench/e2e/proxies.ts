/**
 * The SOCKS5 servers and redsocks: config text (pure) and processes in the client namespace.
 *
 * @module
 */

import { maxNofile, type Netns, type NsProcess, tail } from "./netns.ts";
import { NET } from "./topology.ts";
import type { SocksServer } from "./types.ts";

/** danted config: listen on 127.0.0.1:`port`, egress bound to `external`, no auth, connect only. */
export function dantedConfig(opts: { port: number; external: string; logFile: string }): string {
  return [
    `logoutput: ${opts.logFile}`,
    `errorlog: ${opts.logFile}`,
    `internal: 127.0.0.1 port = ${opts.port}`,
    // Bound egress: the kernel picks the main table for it, so it bypasses the TUN.
    `external: ${opts.external}`,
    "clientmethod: none",
    "socksmethod: none",
    "user.privileged: root",
    "user.unprivileged: nobody",
    "client pass {",
    "  from: 0.0.0.0/0 to: 0.0.0.0/0",
    "}",
    "socks pass {",
    "  from: 0.0.0.0/0 to: 0.0.0.0/0",
    "  command: connect",
    "}",
    "",
  ].join("\n");
}

/** redsocks config: listen on `localPort` (all addresses), relay to SOCKS5 at 127.0.0.1:`socksPort`. */
export function redsocksConfig(
  opts: { localPort: number; socksPort: number; nofile: number },
): string {
  return `base {
  log_debug = off;
  log_info = off;
  log = stderr;
  daemon = off;
  redirector = iptables;
  rlimit_nofile = ${opts.nofile};
  redsocks_conn_max = ${Math.max(128, Math.floor(opts.nofile / 2) - 64)};
}
redsocks {
  local_ip = 0.0.0.0;
  local_port = ${opts.localPort};
  ip = 127.0.0.1;
  port = ${opts.socksPort};
  type = socks5;
}
`;
}

/** The iptables rule (without `-A`/`-D`) that sends the client's TCP to the service to redsocks. */
export function redsocksRule(): string[] {
  return [
    "-t",
    "nat",
    "OUTPUT",
    "-p",
    "tcp",
    "-d",
    `${NET.serviceAddr}/32`,
    // The SOCKS server's own egress (bound to this address) must not be redirected again.
    "!",
    "-s",
    `${NET.socksEgressAddr}/32`,
    "-j",
    "REDIRECT",
    "--to-ports",
    String(NET.redsocksPort),
  ];
}

/** Waits until something listens on TCP `port` in `ns`, or `proc` exits, or `timeoutMs`. */
export async function waitListening(
  ns: Netns,
  port: number,
  proc: NsProcess,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exited) {
      throw new Error(
        `${proc.label} exited with status ${proc.exited.code}: ${tail(proc.stderr + proc.stdout)}`,
      );
    }
    const out = await ns.exec(["ss", "-Htln", `sport = :${port}`], { allowFail: true });
    if (out.stdout.trim() !== "") return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${proc.label} did not listen on port ${port} within ${timeoutMs} ms: ${tail(proc.stderr)}`,
  );
}

/** A running SOCKS5 server. */
export interface RunningSocks {
  kind: SocksServer;
  proc: NsProcess;
  port: number;
}

/** Starts `kind` in `ns` with its files in `dir`. */
export async function startSocks(ns: Netns, kind: SocksServer, dir: string): Promise<RunningSocks> {
  if (kind === "danted") {
    const conf = `${dir}/danted.conf`;
    await Deno.writeTextFile(
      conf,
      dantedConfig({
        port: NET.socksPort,
        external: NET.socksEgressAddr,
        logFile: `${dir}/danted.log`,
      }),
    );
    // Without -D danted stays in the foreground, so the PID is its main process.
    const proc = ns.spawn("danted", ["danted", "-f", conf, "-p", `${dir}/danted.pid`]);
    try {
      await waitListening(ns, NET.socksPort, proc);
    } catch (e) {
      let log = "";
      try {
        log = tail(await Deno.readTextFile(`${dir}/danted.log`));
      } catch { /* no log */ }
      throw new Error(`${(e as Error).message} ${log}`);
    }
    return { kind, proc, port: NET.socksPort };
  }
  const proc = ns.spawn("microsocks", [
    "microsocks",
    "-i",
    "127.0.0.1",
    "-p",
    String(NET.microsocksPort),
    "-b",
    NET.socksEgressAddr,
  ]);
  await waitListening(ns, NET.microsocksPort, proc);
  return { kind, proc, port: NET.microsocksPort };
}

/** A running redsocks with its iptables rule installed. */
export interface RunningRedsocks {
  proc: NsProcess;
  /** Stops redsocks and removes the rule; returns problems found. */
  stop(): Promise<string[]>;
}

/** Starts redsocks in `ns` relaying to the SOCKS5 server on `socksPort`, then installs the rule. */
export async function startRedsocks(
  ns: Netns,
  socksPort: number,
  dir: string,
): Promise<RunningRedsocks> {
  const conf = `${dir}/redsocks.conf`;
  await Deno.writeTextFile(
    conf,
    redsocksConfig({ localPort: NET.redsocksPort, socksPort, nofile: maxNofile() }),
  );
  const before = (await ns.exec(["iptables-save", "-t", "nat"])).stdout;
  const proc = ns.spawn("redsocks", ["redsocks", "-c", conf]);
  await waitListening(ns, NET.redsocksPort, proc);
  const rule = redsocksRule();
  const [table, t, chain, ...match] = rule;
  await ns.exec(["iptables", table!, t!, "-A", chain!, ...match]);
  return {
    proc,
    async stop() {
      const problems: string[] = [];
      // The rule's packet counter proves the traffic went through redsocks.
      const listed = await ns.exec(["iptables", "-t", "nat", "-L", "OUTPUT", "-v", "-n", "-x"], {
        allowFail: true,
      });
      const ruleLine = listed.stdout.split("\n").find((l) => l.includes("REDIRECT"));
      const pkts = Number(ruleLine?.trim().split(/\s+/)[0] ?? 0);
      if (!(pkts > 0)) {
        problems.push("the REDIRECT rule matched no packet: the traffic bypassed redsocks");
      }
      await ns.exec(["iptables", table!, t!, "-D", chain!, ...match], { allowFail: true });
      await proc.stop();
      const after = (await ns.exec(["iptables-save", "-t", "nat"])).stdout;
      const strip = (s: string) =>
        s.split("\n").filter((l) => !l.startsWith("#") && !l.startsWith(":")).join("\n");
      if (strip(after) !== strip(before)) {
        problems.push(`iptables nat table changed after redsocks: ${after}`);
      }
      return problems;
    },
  };
}
