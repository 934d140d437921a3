/**
 * tunbox under test: its config (pure) and its process in the client namespace.
 *
 * @module
 */

import { type Netns, type NsProcess, tail } from "./netns.ts";
import { diffLines, routingSnapshot } from "./topology.ts";
import type { Stack } from "./types.ts";
import { TUNBOX_DENO_FLAGS, TUNBOX_V8_FLAGS } from "../../src/service/permissions.ts";

/** Name of the TUN device the suite asks tunbox to create. */
export const TUN_NAME = "tunbox0";

/**
 * A sing-box-format config: a TUN inbound (198.18.0.1/30, so the system stack has a spare
 * address, auto_route) and a SOCKS5 outbound to 127.0.0.1:`socksPort` as the final route.
 */
export function tunboxConfig(opts: { stack: Stack; mtu: number; socksPort: number }): unknown {
  return {
    log: { level: "warn" },
    inbounds: [{
      type: "tun",
      tag: "tun-in",
      interface_name: TUN_NAME,
      address: ["198.18.0.1/30"],
      mtu: opts.mtu,
      auto_route: true,
      stack: opts.stack,
    }],
    outbounds: [{
      type: "socks",
      tag: "socks-out",
      server: "127.0.0.1",
      server_port: opts.socksPort,
      version: "5",
    }],
    route: { final: "socks-out" },
  };
}

/** A started tunbox. */
export interface RunningTunbox {
  proc: NsProcess;
  /** SIGTERM, SIGKILL after 10 s, then compares ip rules and routes with the pre-start snapshot. */
  stop(): Promise<string[]>;
}

/** tunbox did not come up; the message carries its stderr tail. */
export class TunboxStartError extends Error {
  override name = "TunboxStartError";
}

/**
 * Starts `deno run -A main.ts run -c <config>` in `ns`, waits for the TUN device and for the
 * service address to be routed into it.
 *
 * @throws {TunboxStartError} "tunbox failed to start: <stderr tail>" when it exits or times out.
 */
export async function startTunbox(
  ns: Netns,
  opts: {
    stack: Stack;
    mtu: number;
    socksPort: number;
    repoRoot: string;
    dir: string;
    probeAddr: string;
    /** `--v8-flags=` value ("" = none); default: the flags tunbox ships with. */
    v8Flags?: string;
    /** `TUNBOX_WORKERS`; default: tunbox's own choice. */
    workers?: number;
    /** A config to run instead of {@linkcode tunboxConfig}'s (same TUN device name). */
    config?: unknown;
  },
): Promise<RunningTunbox> {
  const before = await routingSnapshot(ns);
  const conf = `${opts.dir}/tunbox-${opts.stack}-${opts.mtu}.json`;
  await Deno.writeTextFile(conf, JSON.stringify(opts.config ?? tunboxConfig(opts), null, 2));
  const flags = opts.v8Flags ?? TUNBOX_V8_FLAGS.join(",");
  const proc = ns.spawn("tunbox", [
    ...(opts.workers === undefined ? [] : ["env", `TUNBOX_WORKERS=${opts.workers}`]),
    "deno",
    "run",
    "-A",
    ...TUNBOX_DENO_FLAGS,
    ...(flags ? [`--v8-flags=${flags}`] : []),
    "main.ts",
    "run",
    "-c",
    conf,
  ], { cwd: opts.repoRoot });
  const stop = async (): Promise<string[]> => {
    await proc.stop(10_000);
    if (Deno.env.get("BENCH_KEEP_TMP")) {
      // Kept with the configs: what tunbox printed (logs; V8's --trace-gc lines on stdout).
      const out = conf.replace(/\.json$/, "");
      await Deno.writeTextFile(`${out}.stdout.log`, proc.stdout);
      await Deno.writeTextFile(`${out}.stderr.log`, proc.stderr);
    }
    const problems: string[] = [];
    const after = await routingSnapshot(ns);
    const rules = diffLines(before.rules, after.rules);
    if (rules.length > 0) {
      problems.push(
        `ip rules after tunbox stopped differ from before it started: ${rules.join("; ")}`,
      );
    }
    const routes = diffLines(before.routes, after.routes);
    if (routes.length > 0) {
      problems.push(
        `routes after tunbox stopped differ from before it started: ${routes.join("; ")}`,
      );
    }
    return problems;
  };
  const fail = async (why: string): Promise<never> => {
    const problems = await stop();
    const out = tail(proc.stderr + "\n" + proc.stdout) || "(no output)";
    throw new TunboxStartError(
      `tunbox failed to start: ${why}: ${out}${
        problems.length ? ` [also: ${problems.join("; ")}]` : ""
      }`,
    );
  };
  const deadline = Date.now() + 30_000;
  let route = "";
  let linkSeen = false;
  for (;;) {
    if (proc.exited) return await fail(`exited with status ${proc.exited.code}`);
    if (Date.now() > deadline) {
      return await fail(
        linkSeen
          ? `TUN device "${TUN_NAME}" exists but ${opts.probeAddr} is not routed into it after 30 s (ip route get: ${route.trim()})`
          : `no TUN device "${TUN_NAME}" after 30 s (the process is still running)`,
      );
    }
    const link = await ns.exec(["ip", "link", "show", TUN_NAME], { allowFail: true });
    if (link.code === 0) {
      linkSeen = true;
      route = (await ns.exec(["ip", "route", "get", opts.probeAddr], { allowFail: true })).stdout;
      if (route.includes(`dev ${TUN_NAME}`)) break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, stop };
}

/** Packets through the TUN device (rx + tx), from `ip -s -j link`; undefined without one. */
export async function tunPackets(ns: Netns): Promise<number | undefined> {
  const out = await ns.exec(["ip", "-s", "-j", "link", "show", TUN_NAME], { allowFail: true });
  if (out.code !== 0) return undefined;
  try {
    const [link] = JSON.parse(out.stdout) as Array<
      { stats64?: { rx: { packets: number }; tx: { packets: number } } }
    >;
    return link?.stats64 ? link.stats64.rx.packets + link.stats64.tx.packets : undefined;
  } catch {
    return undefined;
  }
}
