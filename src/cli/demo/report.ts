/**
 * The demo's plain-text report: the device, the rules and routes tunbox installed (as
 * `ip rule` / `ip route` print them), the checks, the connections tunbox reported, the
 * verdict and the cleanup. Pure functions of the collected data.
 *
 * @module
 */

import type { ClashConnection } from "../../api/clash_api.ts";
import { formatPrefix } from "../../net/ip.ts";
import { formatRoute, formatRule, tableName } from "../../platform/linux/ip_text.ts";
import type { ClientReport, DemoCheck } from "./client.ts";
import { findConnection } from "./client.ts";
import type { NamespaceState } from "./namespaces.ts";
import { TOPOLOGY } from "./topology.ts";
import type { UplinkReport } from "./uplink.ts";

const ARPHRD_NONE = 0xfffe;
/** Tables and rules every namespace starts with (not tunbox's). */
const SYSTEM_TABLES = new Set([253, 254, 255]);
const SYSTEM_RULE_PRIORITIES = new Set([0, 32766, 32767]);

/** Which outbound each check's connection must have taken. */
export const EXPECTED_OUTBOUND: Record<DemoCheck["id"], string> = {
  dns: "proxy",
  http: "proxy",
  direct: "direct",
  throughput: "proxy",
};

/** Byte count in B / KiB / MiB / GiB. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Lines about the TUN device, rules and routes found in the client namespace. */
export function formatSetup(state: NamespaceState): { lines: string[]; problems: string[] } {
  const lines: string[] = [];
  const problems: string[] = [];
  const names = new Map(state.links.map((l) => [l.index, l.name]));
  const tun = state.links.find((l) => l.kind === "tun" || l.type === ARPHRD_NONE);
  if (!tun) {
    problems.push("no TUN device in the client namespace while tunbox ran");
  } else {
    const addrs = state.addresses.filter((a) => a.index === tun.index && a.scope === 0)
      .map((a) => formatPrefix(a.prefix));
    lines.push(`TUN device: ${tun.name}  ${addrs.join(", ") || "(no address)"}  mtu ${tun.mtu}`);
  }
  const rules = state.rules.filter((r) =>
    !(SYSTEM_RULE_PRIORITIES.has(r.priority) && r.table !== undefined &&
      SYSTEM_TABLES.has(r.table) && !r.src && !r.dst)
  );
  if (rules.length === 0) problems.push("tunbox installed no policy rules (auto_route)");
  for (const family of [4, 6] as const) {
    const mine = rules.filter((r) => r.family === family);
    if (mine.length === 0) continue;
    lines.push(`Policy rules tunbox installed (ip ${family === 6 ? "-6 " : ""}rule):`);
    for (const r of mine) lines.push(`  ${formatRule(r, r.flags).replace("\t", " ")}`);
  }
  const routes = state.routes.filter((r) => !SYSTEM_TABLES.has(r.table));
  if (routes.length === 0) problems.push("tunbox installed no routes (auto_route)");
  const tables = new Map<string, string[]>();
  for (const r of routes) {
    const key = `ip ${r.family === 6 ? "-6 " : ""}route show table ${tableName(r.table)}`;
    const dev = r.oif !== undefined ? names.get(r.oif) ?? `#${r.oif}` : undefined;
    tables.set(key, [...tables.get(key) ?? [], formatRoute(r, dev)]);
  }
  for (const [title, list] of tables) {
    lines.push(`Routes tunbox installed (${title}):`);
    for (const l of list) lines.push(`  ${l}`);
  }
  return { lines, problems };
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
}

/** The checks and the connections tunbox reported, with problems found. */
export function formatTraffic(report: ClientReport): { lines: string[]; problems: string[] } {
  const lines: string[] = [];
  const problems: string[] = [];
  lines.push("Checks:");
  for (const c of report.checks) {
    lines.push(`  ${c.ok ? "ok  " : "FAIL"}  ${c.title}: ${c.detail}`);
    if (!c.ok) problems.push(`${c.title}: ${c.detail}`);
  }
  if (report.apiError) {
    problems.push(report.apiError);
    return { lines, problems };
  }
  lines.push(`Connections (from tunbox's Clash API, ${report.apiVersion ?? "?"}):`);
  const rows = [["net", "source", "destination", "rule", "outbound", "up", "down", "check"]];
  const byCheck = new Map<ClashConnection, DemoCheck>();
  for (const c of report.checks) {
    const conn = findConnection(report.connections, c);
    if (!conn) {
      if (c.localPort !== undefined) {
        problems.push(`tunbox reported no connection for "${c.title}" (port ${c.localPort})`);
      }
      continue;
    }
    byCheck.set(conn, c);
    const outbound = conn.chains[0] ?? "";
    if (outbound !== EXPECTED_OUTBOUND[c.id]) {
      problems.push(
        `"${c.title}" went to outbound "${outbound}", expected "${EXPECTED_OUTBOUND[c.id]}"`,
      );
    }
  }
  for (const conn of report.connections) {
    const m = conn.metadata;
    rows.push([
      m.network,
      `${m.sourceIP}:${m.sourcePort}`,
      `${m.destinationIP}:${m.destinationPort}`,
      conn.rule,
      conn.chains.join(" > "),
      formatBytes(conn.upload),
      formatBytes(conn.download),
      byCheck.get(conn)?.id ?? "",
    ]);
  }
  if (report.connections.length === 0) lines.push("  (none)");
  else lines.push(...table(rows).map((l) => `  ${l}`));
  lines.push(
    `  totals: ${formatBytes(report.uploadTotal)} up, ${formatBytes(report.downloadTotal)} down`,
  );
  return { lines, problems };
}

/** What cleanup found. */
export interface CleanupResult {
  processes: number;
  namespaces: number;
  rootLinks: number;
  problems: string[];
}

/** The cleanup line(s). */
export function formatCleanup(c: CleanupResult): string[] {
  if (c.problems.length === 0) {
    return [
      `cleanup: ${c.processes} processes ended, ${c.namespaces} namespaces released, ` +
      `root namespace unchanged (${c.rootLinks} interfaces)`,
    ];
  }
  return ["cleanup FAILED:", ...c.problems.map((p) => `  - ${p}`)];
}

/**
 * The network-change part: the default route moved to the second uplink; tunbox noticed, and
 * new direct connections left from the second uplink's address within 2 s.
 */
export function formatUplinkSwitch(
  report: UplinkReport,
  movedAt: number,
  noticed: boolean,
): { lines: string[]; problems: string[] } {
  const t = TOPOLOGY;
  const lines = [
    `Network change (as a Wi-Fi switch does): default route moved from ${t.clientLink} to ` +
    `${t.clientLink2}`,
  ];
  const problems: string[] = [];
  const seen =
    `tunbox logged "network changed: default interface ${t.clientLink} -> ${t.clientLink2}"`;
  lines.push(`  ${noticed ? "ok  " : "FAIL"}  ${seen}`);
  if (!noticed) problems.push(`tunbox did not log the default interface change`);
  const ms = report.at - movedAt;
  const ok = report.at > 0 && ms <= 2000;
  const what = report.at > 0
    ? `new direct connections leave from ${report.after} (${t.clientLink2}) ${
      Math.max(0, ms)
    } ms after the move (before: ${report.before})`
    : `new direct connections still leave from ${report.after} (expected ${t.clientDirect2})`;
  lines.push(`  ${ok ? "ok  " : "FAIL"}  ${what}`);
  if (!ok) problems.push(what);
  return { lines, problems };
}
