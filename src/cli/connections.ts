/**
 * `tunbox connections`: the live connections of a running tunbox in the terminal, like `top`,
 * from its Clash API (`/connections` as a WebSocket stream): one line per connection with its
 * rule, outbound chain, speeds and totals, the busiest first, redrawn every second. The API's
 * address and secret come from the config's `experimental.clash_api` (or `--api`/`--secret`).
 * `--once` prints one table and exits (what a pipe gets); `--json` prints the snapshot.
 *
 * @module
 */

import type { ClashConnection, ClashConnections } from "../api/shapes.ts";
import { type ConfigSource, loadConfig } from "../config/load.ts";
import { printDiagnostics } from "./output.ts";

/** What the command needs. */
export interface ConnectionsInput {
  /** `--api host:port`; else from the config. */
  api?: string;
  /** `--secret`; else from the config. */
  secret?: string;
  once: boolean;
  json: boolean;
}

/** Speeds per connection id, from two snapshots `seconds` apart. */
export interface Speeds {
  up: Map<string, number>;
  down: Map<string, number>;
  totalUp: number;
  totalDown: number;
}

/** The speeds between `prev` and `next` (empty without a previous snapshot). */
export function speedsBetween(
  prev: ClashConnections | null,
  next: ClashConnections,
  seconds: number,
): Speeds {
  const s: Speeds = { up: new Map(), down: new Map(), totalUp: 0, totalDown: 0 };
  if (!prev || seconds <= 0) return s;
  const before = new Map(prev.connections.map((c) => [c.id, c]));
  for (const c of next.connections) {
    const p = before.get(c.id);
    if (!p) continue;
    s.up.set(c.id, Math.max(0, (c.upload - p.upload) / seconds));
    s.down.set(c.id, Math.max(0, (c.download - p.download) / seconds));
  }
  s.totalUp = Math.max(0, (next.uploadTotal - prev.uploadTotal) / seconds);
  s.totalDown = Math.max(0, (next.downloadTotal - prev.downloadTotal) / seconds);
  return s;
}

/** `1.5M`-style byte counts (binary units), 5 characters at most. */
export function shortBytes(n: number): string {
  const units = ["B", "K", "M", "G", "T"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(n)}B` : `${n < 10 ? n.toFixed(1) : Math.round(n)}${units[i]}`;
}

function age(start: string, now: number): string {
  const s = Math.max(0, Math.floor((now - Date.parse(start)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}`;
}

function host(c: ClashConnection): string {
  const m = c.metadata;
  const port = m.destinationPort && m.destinationPort !== "0" ? `:${m.destinationPort}` : "";
  if (m.host) return `${m.host}${port}`;
  return `${m.destinationIP.includes(":") ? `[${m.destinationIP}]` : m.destinationIP}${port}`;
}

function fit(text: string, width: number): string {
  if (width <= 0) return "";
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

/**
 * The table for one snapshot, `width` columns wide at most: a summary line, a header and one
 * line per live connection (fastest download first), at most `rows` of them.
 */
export function renderTable(
  snap: ClashConnections,
  speeds: Speeds,
  width: number,
  rows = Infinity,
  now = Date.now(),
): string[] {
  const conns = [...snap.connections].sort((a, b) =>
    (speeds.down.get(b.id) ?? 0) - (speeds.down.get(a.id) ?? 0) ||
    (speeds.up.get(b.id) ?? 0) - (speeds.up.get(a.id) ?? 0) ||
    Date.parse(b.start) - Date.parse(a.start)
  );
  const lines = [
    `${snap.connections.length} connection(s)   ↑ ${shortBytes(speeds.totalUp)}/s ` +
    `↓ ${shortBytes(speeds.totalDown)}/s   total ↑ ${shortBytes(snap.uploadTotal)} ` +
    `↓ ${shortBytes(snap.downloadTotal)}   memory ${shortBytes(snap.memory)}`,
  ];
  // Fixed columns; the destination, rule and chain share what is left.
  const fixed = [
    ["ID", 6],
    ["NET", 4],
    ["↑/s", 6],
    ["↓/s", 6],
    ["↑", 6],
    ["↓", 6],
    ["AGE", 6],
  ] as const;
  const fixedWidth = fixed.reduce((n, [, w]) => n + w + 1, 0);
  const flexible = Math.max(30, width - fixedWidth - 3);
  const hostW = Math.floor(flexible * 0.45), ruleW = Math.floor(flexible * 0.3);
  const chainW = flexible - hostW - ruleW;
  const line = (cells: string[]) => cells.join(" ").trimEnd();
  lines.push(line([
    fit("ID", 6),
    fit("NET", 4),
    fit("DESTINATION", hostW),
    fit("RULE", ruleW),
    fit("CHAIN", chainW),
    "↑/s".padStart(6),
    "↓/s".padStart(6),
    "↑".padStart(6),
    "↓".padStart(6),
    "AGE".padStart(6),
  ]));
  for (const c of conns.slice(0, rows)) {
    lines.push(line([
      fit(c.id, 6),
      fit(c.metadata.network, 4),
      fit(host(c), hostW),
      fit(c.rule, ruleW),
      fit([...c.chains].reverse().join(">"), chainW),
      shortBytes(speeds.up.get(c.id) ?? 0).padStart(6),
      shortBytes(speeds.down.get(c.id) ?? 0).padStart(6),
      shortBytes(c.upload).padStart(6),
      shortBytes(c.download).padStart(6),
      age(c.start, now).padStart(6),
    ]));
  }
  if (conns.length > rows) lines.push(`… ${conns.length - rows} more`);
  return lines.map((l) => l.length > width ? `${l.slice(0, width - 1)}…` : l);
}

/** The API address and secret: flags first, else the config's `experimental.clash_api`. */
async function locateApi(
  sources: ConfigSource[],
  input: ConnectionsInput,
): Promise<{ address: string; secret: string } | null> {
  if (input.api) return { address: input.api, secret: input.secret ?? "" };
  const result = await loadConfig(sources);
  if (result.errors.length > 0 || !result.options) {
    printDiagnostics(result, false);
    return null;
  }
  const api = result.options.experimental.clash_api;
  if (!api?.external_controller) {
    console.error(
      "tunbox connections: the config has no experimental.clash_api.external_controller; give --api host:port",
    );
    return null;
  }
  let address = api.external_controller;
  if (address.startsWith(":")) address = `127.0.0.1${address}`;
  address = address.replace(/^0\.0\.0\.0:/, "127.0.0.1:").replace(/^\[::\]:/, "[::1]:");
  return { address, secret: input.secret ?? api.secret ?? "" };
}

/** Runs `connections`. Returns the exit status. */
export async function connectionsCommand(
  sources: ConfigSource[],
  input: ConnectionsInput,
): Promise<number> {
  const api = await locateApi(sources, input);
  if (!api) return 2;
  const headers: HeadersInit = api.secret ? { authorization: `Bearer ${api.secret}` } : {};
  const once = input.once || input.json || !Deno.stdout.isTerminal();
  const fetchSnapshot = async (): Promise<ClashConnections> => {
    const res = await fetch(`http://${api.address}/connections`, { headers });
    if (res.status === 401) throw new Error("the API refused the secret (401); give --secret");
    if (!res.ok) throw new Error(`GET /connections: HTTP ${res.status}`);
    return await res.json() as ClashConnections;
  };
  if (once) {
    try {
      const first = await fetchSnapshot();
      if (input.json) {
        console.log(JSON.stringify(first, null, 2));
        return 0;
      }
      // Two snapshots a second apart give speeds.
      await new Promise((r) => setTimeout(r, 1000));
      const second = await fetchSnapshot();
      const width = Deno.stdout.isTerminal() ? Deno.consoleSize().columns : 160;
      console.log(renderTable(second, speedsBetween(first, second, 1), width).join("\n"));
      return 0;
    } catch (e) {
      console.error(`tunbox connections: ${api.address}: ${e instanceof Error ? e.message : e}`);
      return 1;
    }
  }
  return await live(api.address, api.secret);
}

/** The live view: redraws on each snapshot of the WebSocket stream until `q` or Ctrl-C. */
function live(address: string, secret: string): Promise<number> {
  const url = `ws://${address}/connections?interval=1000${
    secret ? `&token=${encodeURIComponent(secret)}` : ""
  }`;
  const { promise, resolve } = Promise.withResolvers<number>();
  const enc = new TextEncoder();
  const write = (s: string) => Deno.stdout.writeSync(enc.encode(s));
  let prev: ClashConnections | null = null;
  let prevAt = 0;
  const ws = new WebSocket(url);
  let done = false;
  const finish = (code: number, message?: string) => {
    if (done) return;
    done = true;
    try {
      Deno.stdin.setRaw(false);
    } catch { /* not a terminal */ }
    write("\x1b[?25h\x1b[?1049l"); // cursor back, main screen
    if (message) console.error(message);
    ws.close();
    resolve(code);
  };
  write("\x1b[?1049h\x1b[?25l"); // alternate screen, no cursor
  ws.onmessage = (e) => {
    const snap = JSON.parse(e.data) as ClashConnections;
    const at = performance.now();
    const speeds = speedsBetween(prev, snap, (at - prevAt) / 1000);
    prev = snap;
    prevAt = at;
    const { columns, rows } = Deno.consoleSize();
    const lines = renderTable(snap, speeds, columns, Math.max(1, rows - 4));
    write(`\x1b[H\x1b[2J${lines.join("\n")}\n\x1b[2mq: quit\x1b[0m`);
  };
  ws.onerror = () => finish(1, `tunbox connections: cannot stream ws://${address}/connections`);
  ws.onclose = (e) => {
    if (e.code !== 1000) finish(1, `tunbox connections: the stream ended (${e.code})`);
  };
  (async () => {
    try {
      Deno.stdin.setRaw(true, { cbreak: true });
      const buf = new Uint8Array(16);
      for (;;) {
        const n = await Deno.stdin.read(buf);
        if (n === null || buf.subarray(0, n).some((b) => b === 0x71 || b === 0x03)) break;
      }
    } catch { /* stdin closed */ }
    finish(0);
  })();
  Deno.addSignalListener("SIGINT", () => finish(0));
  return promise;
}
