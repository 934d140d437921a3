/**
 * `tunbox demo`: builds two throwaway network namespaces, runs tunbox with an embedded
 * config in one of them against an embedded SOCKS5 server (tunbox's own `socks` inbound),
 * sends real traffic through the TUN (an HTTP fetch checked by SHA-256, a short throughput
 * run, a DNS query over UDP, a connection a rule sends direct), moves the default route to a
 * second uplink (a Wi-Fi switch) and shows new direct connections following it, prints a short report, and
 * removes everything: processes are ended by PID, and the namespaces, held only as fds,
 * disappear with them. The namespace it runs in is never changed (checked at the end).
 *
 * Every child is tunbox itself started with the hidden `--netns` option (see `procs.ts`), so
 * the demo needs no other program.
 *
 * @module
 */

import { processNetnsInodes } from "../../platform/linux/netns.ts";
import type { ClientReport } from "./client.ts";
import { socksConfig, tunConfig } from "./config.ts";
import { currentLinks, DemoNamespaces } from "./namespaces.ts";
import { DemoProcess } from "./procs.ts";
import {
  type CleanupResult,
  formatCleanup,
  formatSetup,
  formatTraffic,
  formatUplinkSwitch,
} from "./report.ts";
import { TOPOLOGY } from "./topology.ts";
import type { UplinkReport } from "./uplink.ts";

const START_TIMEOUT_MS = 30_000;
const CLIENT_TIMEOUT_MS = 60_000;

/** Why the demo cannot run here (one sentence), or null when it can. */
export function demoRequirement(
  os: string = Deno.build.os,
  uid: number | null = Deno.build.os === "windows" ? null : Deno.uid(),
  hasTun: () => boolean = () => {
    try {
      Deno.statSync("/dev/net/tun");
      return true;
    } catch {
      return false;
    }
  },
): string | null {
  if (os !== "linux") {
    return "tunbox demo needs Linux (it builds throwaway network namespaces); " +
      `this is ${os}.`;
  }
  if (uid !== 0) {
    return "tunbox demo needs root to build network namespaces and a TUN device: " +
      "run it with sudo (sudo deno task demo).";
  }
  if (!hasTun()) return "tunbox demo needs /dev/net/tun (load the tun module: modprobe tun).";
  return null;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Waits for `p`, failing after `ms` or when `abort` fires. */
async function within<T>(p: Promise<T>, ms: number, what: string, abort: AbortSignal) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const fail = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
    onAbort = () => reject(new Error("interrupted"));
    abort.addEventListener("abort", onAbort);
  });
  try {
    return await Promise.race([p, fail]);
  } finally {
    clearTimeout(timer);
    abort.removeEventListener("abort", onAbort!);
  }
}

function linkKey(links: { index: number; name: string }[]): string {
  return links.map((l) => `${l.index}:${l.name}`).sort().join(" ");
}

/** Runs the demo; returns the exit status (0 only when every check and the cleanup passed). */
export async function runDemo(): Promise<number> {
  const need = demoRequirement();
  if (need) {
    console.error(need);
    return 1;
  }
  const abort = new AbortController();
  const onSignal = () => {
    if (abort.signal.aborted) return;
    console.log("interrupted: removing everything the demo made");
    abort.abort();
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const rootBefore = currentLinks();
  const procs: DemoProcess[] = [];
  const problems: string[] = [];
  let ns: DemoNamespaces | undefined;
  let tun: DemoProcess | undefined;
  const started = performance.now();
  const start = (name: string, path: string, args: string[], stdin?: string) => {
    const p = new DemoProcess(name, path, args, stdin);
    procs.push(p);
    return p;
  };
  try {
    ns = DemoNamespaces.create();
    console.log(
      'tunbox demo: two throwaway network namespaces, "client" (tunbox, its TUN, a SOCKS5 ' +
        'server, the traffic) and "far" (HTTP and DNS servers); nothing outside them changes.',
    );
    const t = TOPOLOGY;
    console.log(
      `Embedded config: TUN ${t.tunAddress} with auto_route and strict_route; private ` +
        `addresses and ${t.directServer} go direct, everything else to the SOCKS5 server on ` +
        `127.0.0.1:${t.socksPort} (tunbox's own socks inbound, egress ${t.clientSocksEgress}).`,
    );
    console.log("");
    const far = start("far services", ns.far.path, [
      "demo",
      "far",
      ...[t.web, t.directServer].flatMap((a) => ["--http", `${a}:80`]),
      "--dns",
      `${t.dns}:53`,
      "--answer",
      t.web,
    ]);
    const socks = start(
      "SOCKS5 server (tunbox)",
      ns.client.path,
      ["run", "-c", "stdin"],
      JSON.stringify(socksConfig()),
    );
    await within(
      Promise.all([
        far.waitFor(/^ready$/m, START_TIMEOUT_MS, abort.signal),
        socks.waitFor(/tunbox started/, START_TIMEOUT_MS, abort.signal),
      ]),
      START_TIMEOUT_MS,
      "starting the far services and the SOCKS5 server",
      abort.signal,
    );
    tun = start("tunbox", ns.client.path, ["run", "-c", "stdin"], JSON.stringify(tunConfig()));
    await tun.waitFor(/tunbox started/, START_TIMEOUT_MS, abort.signal);

    const setup = formatSetup(ns.clientState());
    for (const l of setup.lines) console.log(l);
    problems.push(...setup.problems);
    console.log("");

    const client = start("demo client", ns.client.path, ["demo", "client", "--api", t.apiAddress]);
    await within(client.status, CLIENT_TIMEOUT_MS, "the demo client", abort.signal);
    const line = client.stdout.trim().split("\n").pop() ?? "";
    let report: ClientReport;
    try {
      report = JSON.parse(line);
    } catch {
      throw new Error(`the demo client printed no report${client.tail()}`);
    }
    const traffic = formatTraffic(report);
    for (const l of traffic.lines) console.log(l);
    problems.push(...traffic.problems);
    console.log("");

    // The network changes under tunbox: the default route moves to the second uplink.
    const watcher = start("uplink watcher", ns.client.path, ["demo", "uplink"]);
    await watcher.waitFor(/^ready /m, START_TIMEOUT_MS, abort.signal);
    const movedAt = Date.now();
    ns.switchUplink();
    await within(watcher.status, CLIENT_TIMEOUT_MS, "the uplink watcher", abort.signal);
    let uplink: UplinkReport;
    try {
      uplink = JSON.parse(watcher.stdout.trim().split("\n").pop() ?? "");
    } catch {
      throw new Error(`the uplink watcher printed no report${watcher.tail()}`);
    }
    const noticed = await tun.waitFor(
      new RegExp(`network changed: default interface ${t.clientLink} -> ${t.clientLink2}`),
      3000,
      abort.signal,
    ).then(() => true, () => false);
    const change = formatUplinkSwitch(uplink, movedAt, noticed);
    for (const l of change.lines) console.log(l);
    problems.push(...change.problems);
    if (!tun.running) problems.push(`tunbox exited during the demo${tun.tail()}`);
  } catch (e) {
    problems.push(message(e));
  }

  // Cleanup: whatever happened above. Signals from here on only repeat the request.
  const cleanup: CleanupResult = { processes: 0, namespaces: 0, rootLinks: 0, problems: [] };
  for (const p of procs.toReversed()) {
    const status = await p.stop("SIGTERM");
    cleanup.processes++;
    if (p === tun && status.code !== 0 && !abort.signal.aborted) {
      cleanup.problems.push(
        `tunbox exited with status ${status.code}${status.signal ? ` (${status.signal})` : ""} ` +
          `on SIGTERM${p.tail()}`,
      );
    }
  }
  const inodes = ns ? [ns.client.inode, ns.far.inode] : [];
  ns?.close();
  cleanup.namespaces = inodes.length;
  for (const p of procs) {
    try {
      Deno.statSync(`/proc/${p.pid}`);
      cleanup.problems.push(`process ${p.pid} (${p.name}) still exists`);
    } catch { /* gone */ }
  }
  const held = processNetnsInodes();
  for (const ino of inodes) {
    if (held.has(ino)) cleanup.problems.push(`namespace ${ino} is still held by a process`);
  }
  const rootAfter = currentLinks();
  cleanup.rootLinks = rootAfter.length;
  if (linkKey(rootAfter) !== linkKey(rootBefore)) {
    cleanup.problems.push(
      `interfaces here changed: before ${linkKey(rootBefore)}, after ${linkKey(rootAfter)}`,
    );
  }
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);

  console.log("");
  if (abort.signal.aborted) {
    console.log("demo interrupted");
  } else if (problems.length === 0) {
    console.log(`demo passed (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  } else {
    console.log("demo FAILED:");
    for (const p of problems) console.log(`  - ${p}`);
  }
  for (const l of formatCleanup(cleanup)) console.log(l);
  if (abort.signal.aborted) return 130;
  return problems.length === 0 && cleanup.problems.length === 0 ? 0 : 1;
}
