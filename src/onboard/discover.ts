/**
 * Finding the configs of the proxy clients running on this machine (for `tunbox init` and
 * `tunbox doctor`):
 *
 * - Linux: every process in `/proc` whose program is V2Ray, Xray, Clash, mihomo, ss-local or
 *   sslocal; its config path from its command line (`-config`/`-c`/`-confdir`, Clash's `-f`/`-d`,
 *   ss-local's `-c`), relative paths against `/proc/<pid>/cwd`. An ss-local started with
 *   `-s host -p port -l port` (no file) is described from its arguments.
 * - Both: the files clients keep in known places: V2rayU's `~/.V2rayU/config.json`, ClashX's and
 *   mihomo's `~/.config/clash|mihomo/config.yaml`, Clash Verge Rev's config, V2RayX,
 *   ShadowsocksX-NG. Under `sudo`, `~` is the invoking user's home. System-wide configs
 *   (`/etc/v2ray`, `/etc/shadowsocks-libev`) count only through a running process: Debian ships
 *   example files there that nothing runs.
 *
 * Each found config is converted with the importers (`import.ts`), which give its listeners
 * (the local proxy ports) and its servers (the addresses to keep out of the TUN).
 *
 * @module
 */

import { readProcText } from "../platform/linux/privileges.ts";
import { listDir, readLink } from "../platform/linux/procfs.ts";
import type { Imported } from "./convert.ts";
import { importText } from "./import.ts";

/** A client config found on this machine. */
export interface FoundClient {
  /** The program (`v2ray`, `xray`, `clash`, `mihomo`, `ss-local`, `V2rayU`, ...). */
  client: string;
  /** The process, when found running. */
  pid?: number;
  /** The config file (or `ss-local arguments`). */
  path: string;
  /** The converted config, or why it could not be read. */
  imported: Imported | { error: string };
}

/** Program names (basename of argv[0]) that are proxy clients tunbox can read. */
const PROGRAMS: Record<string, string> = {
  v2ray: "v2ray",
  "v2ray-core": "v2ray",
  xray: "xray",
  clash: "clash",
  "clash-meta": "mihomo",
  "clash.meta": "mihomo",
  mihomo: "mihomo",
  verge_mihomo: "mihomo",
  "verge-mihomo": "mihomo",
  "ss-local": "ss-local",
  sslocal: "sslocal",
};

/** What the command line of a client process says about its config. */
export interface ProcessConfig {
  client: string;
  /** Config file paths as written (maybe relative). */
  files: string[];
  /** Directories whose config files are read (V2Ray `-confdir`, Clash `-d`). */
  dirs: string[];
  /** ss-local configured on the command line: the equivalent JSON. */
  inline?: Record<string, unknown>;
}

/** Reads a client's command line (argv). Returns null for programs that are not clients. */
export function parseClientArgs(argv: readonly string[]): ProcessConfig | null {
  const base = (argv[0] ?? "").split("/").pop()!.toLowerCase();
  const client = PROGRAMS[base] ?? (base.startsWith("clash") ? "clash" : undefined) ??
    (base.startsWith("mihomo") ? "mihomo" : undefined) ??
    (base.startsWith("xray") ? "xray" : undefined) ??
    (base.startsWith("v2ray") && !base.includes("plugin") ? "v2ray" : undefined);
  if (!client) return null;
  const out: ProcessConfig = { client, files: [], dirs: [] };
  const args = argv.slice(1);
  const value = (i: number): [string, number] => {
    const a = args[i]!;
    const eq = a.indexOf("=");
    if (a.startsWith("-") && eq > 0) return [a.slice(eq + 1), i];
    return [args[i + 1] ?? "", i + 1];
  };
  const flag = (a: string) => a.replace(/^--?/, "").split("=")[0]!;
  const inline: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("-")) continue;
    const f = flag(a);
    if (client === "v2ray" || client === "xray") {
      if (f === "config" || f === "c") {
        const [v, j] = value(i);
        out.files.push(...v.split(",").filter(Boolean));
        i = j;
      } else if (f === "confdir") {
        const [v, j] = value(i);
        out.dirs.push(v);
        i = j;
      }
    } else if (client === "clash" || client === "mihomo") {
      if (f === "f") {
        const [v, j] = value(i);
        out.files.push(v);
        i = j;
      } else if (f === "d") {
        const [v, j] = value(i);
        out.dirs.push(v);
        i = j;
      }
    } else {
      // ss-local (libev) and sslocal (rust).
      const [v, j] = value(i);
      switch (f) {
        case "c":
        case "config":
          out.files.push(v);
          break;
        case "s":
        case "server-addr": {
          const m = client === "sslocal" ? /^(.*):(\d+)$/.exec(v) : null;
          if (m) {
            inline.server = m[1]!.replace(/^\[|\]$/g, "");
            inline.server_port = Number(m[2]);
          } else inline.server = v;
          break;
        }
        case "p":
          inline.server_port = Number(v);
          break;
        case "l":
          inline.local_port = Number(v);
          break;
        case "b":
        case "local-addr": {
          const m = /^(.*):(\d+)$/.exec(v);
          if (m) {
            inline.local_address = m[1]!.replace(/^\[|\]$/g, "");
            inline.local_port = Number(m[2]);
          } else inline.local_address = v;
          break;
        }
        case "k":
        case "password":
          inline.password = v;
          break;
        case "m":
        case "encrypt-method":
          inline.method = v;
          break;
        case "u":
        case "U":
          inline.mode = f === "U" ? "udp_only" : "tcp_and_udp";
          continue;
        default:
          continue;
      }
      i = j;
    }
  }
  if ((client === "ss-local" || client === "sslocal") && out.files.length === 0 && inline.server) {
    out.inline = { method: "", ...inline };
  }
  if ((client === "clash" || client === "mihomo") && out.files.length === 0) {
    if (out.dirs.length === 0) {
      out.dirs.push("~/.config/" + (client === "mihomo" ? "mihomo" : "clash"));
    }
  }
  return out;
}

/** The home directory of the user who ran tunbox (under sudo: the invoking user's). */
export function userHome(os: string = Deno.build.os): string {
  const env = (k: string) => {
    try {
      return Deno.env.get(k);
    } catch {
      return undefined;
    }
  };
  const sudoUser = env("SUDO_USER");
  if (sudoUser && sudoUser !== "root") {
    return os === "darwin" ? `/Users/${sudoUser}` : `/home/${sudoUser}`;
  }
  return env("HOME") ?? "";
}

/** Config files clients keep in known places, for this OS. `~` is {@linkcode userHome}. */
export function knownConfigPaths(os: string = Deno.build.os): { client: string; path: string }[] {
  const home = userHome(os);
  const list: { client: string; path: string }[] = [
    { client: "V2rayU", path: `${home}/.V2rayU/config.json` },
    { client: "clash", path: `${home}/.config/clash/config.yaml` },
    { client: "mihomo", path: `${home}/.config/mihomo/config.yaml` },
    { client: "clash.meta", path: `${home}/.config/clash.meta/config.yaml` },
  ];
  if (os === "darwin") {
    const support = `${home}/Library/Application Support`;
    list.push(
      {
        client: "Clash Verge Rev",
        path: `${support}/io.github.clash-verge-rev.clash-verge-rev/clash-verge.yaml`,
      },
      { client: "V2RayX", path: `${support}/V2RayX/config.json` },
      { client: "ShadowsocksX-NG", path: `${support}/ShadowsocksX-NG/ss-local-config.json` },
    );
  } else {
    list.push(
      {
        client: "Clash Verge Rev",
        path: `${home}/.local/share/io.github.clash-verge-rev.clash-verge-rev/clash-verge.yaml`,
      },
    );
  }
  return list;
}

function read(client: string, path: string, pid?: number): FoundClient {
  let imported: FoundClient["imported"];
  try {
    imported = importText(Deno.readTextFileSync(path));
  } catch (e) {
    imported = { error: e instanceof Error ? e.message : String(e) };
  }
  return { client, path, imported, ...(pid !== undefined ? { pid } : {}) };
}

/** The running client processes' configs (Linux; empty elsewhere or without /proc access). */
export function runningClients(): FoundClient[] {
  if (Deno.build.os !== "linux") return [];
  let pids: string[];
  try {
    pids = listDir("/proc").filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  const out: FoundClient[] = [];
  // A proxy in another network namespace (a container, a test's namespace) cannot be ours.
  const ownNet = readLink("/proc/thread-self/ns/net");
  for (const pid of pids) {
    const net = readLink(`/proc/${pid}/ns/net`);
    if (ownNet !== null && net !== null && net !== ownNet) continue;
    let argv: string[];
    try {
      argv = readProcText(`/proc/${pid}/cmdline`).split("\0").filter((a) => a !== "");
    } catch {
      continue; // gone, or not ours to read
    }
    const pc = parseClientArgs(argv);
    if (!pc) continue;
    const cwd = readLink(`/proc/${pid}/cwd`) ?? "/";
    const home = userHome();
    const abs = (p: string) =>
      p.startsWith("/") ? p : p.startsWith("~/") ? `${home}${p.slice(1)}` : `${cwd}/${p}`;
    if (pc.inline) {
      let imported: FoundClient["imported"];
      try {
        imported = importText(JSON.stringify(pc.inline));
      } catch (e) {
        imported = { error: (e as Error).message };
      }
      out.push({ client: pc.client, pid: Number(pid), path: "ss-local arguments", imported });
      continue;
    }
    const files = pc.files.map(abs);
    for (const d of pc.dirs.map(abs)) {
      const name = pc.client === "clash" || pc.client === "mihomo" ? "config.yaml" : "";
      if (name) files.push(`${d}/${name}`);
      else {
        try {
          for (const e of Deno.readDirSync(d)) {
            if (e.isFile && e.name.endsWith(".json")) files.push(`${d}/${e.name}`);
          }
        } catch { /* unreadable directory */ }
      }
    }
    for (const f of files) out.push(read(pc.client, f, Number(pid)));
  }
  return out;
}

/** Running clients first, then known config files not already found. */
export function findClients(): FoundClient[] {
  const found = runningClients();
  const seen = new Set(found.map((f) => f.path));
  for (const k of knownConfigPaths()) {
    if (seen.has(k.path)) continue;
    try {
      if (!Deno.statSync(k.path).isFile) continue;
    } catch {
      continue;
    }
    seen.add(k.path);
    found.push(read(k.client, k.path));
  }
  return found;
}
