/**
 * Shared pieces of the config importers (`import_v2ray.ts`, `import_clash.ts`,
 * `import_sslocal.ts`): what an import produces, tag allocation, port and address lists,
 * geosite/geoip references as sing-box rule sets, and TLS/transport objects in sing-box's shape.
 *
 * @module
 */

import { formatPrefix, parseIp, parsePrefix } from "../net/ip.ts";
import { type Jsonc, Note, note } from "./jsonc_writer.ts";

/** A proxy listener the client config opens on this machine (what `init` probes for). */
export interface LocalListener {
  type: "socks" | "http" | "mixed";
  /** Listen address as written ("127.0.0.1", "0.0.0.0", "::"). */
  listen: string;
  port: number;
  /** Whether the client's SOCKS listener allows UDP ASSOCIATE (null: unknown / not SOCKS). */
  udp: boolean | null;
  /** Credentials the listener requires, if any. */
  users: { username: string; password: string }[];
}

/** A remote server the client connects to: its address must never loop into the TUN. */
export interface RemoteServer {
  /** The outbound tag in the converted config. */
  tag: string;
  /** The protocol (`vmess`, `shadowsocks`, ...). */
  protocol: string;
  host: string;
  port: number;
}

/** What an importer returns. `config` is a sing-box config with comments. */
export interface Imported {
  /** Human name of the input format, e.g. "V2Ray/Xray JSON (v4)". */
  format: string;
  config: Record<string, Jsonc>;
  listeners: LocalListener[];
  servers: RemoteServer[];
  /** The tag of the outbound that carries proxied traffic by default, if there is one. */
  proxyTag: string | null;
  /** One line per input part that could not be converted (also written as comments). */
  dropped: string[];
}

/** Thrown for input that is not a config of the expected kind at all. */
export class ImportError extends Error {
  override name = "ImportError";
}

/** Hands out unique tags: the wanted one, else `wanted-2`, `wanted-3`, ... */
export class Tags {
  readonly #used = new Set<string>();

  /** Reserves `wanted` (or a numbered variant) and returns it. */
  take(wanted: string): string {
    let tag = wanted === "" ? "out" : wanted;
    for (let i = 2; this.#used.has(tag); i++) tag = `${wanted}-${i}`;
    this.#used.add(tag);
    return tag;
  }

  has(tag: string): boolean {
    return this.#used.has(tag);
  }
}

/** Collects the standalone comments and dropped-line messages of one conversion. */
export class Drops {
  readonly lines: string[] = [];

  /** Records that `what` was not converted and why; returns the comment to place there. */
  drop(what: string, why: string): Note {
    const line = `${what}: not converted: ${why}`;
    this.lines.push(line);
    return note(line);
  }
}

/** Ports and ranges from "53,443,1000-2000" (V2Ray) or a number, in sing-box's two fields. */
export function portList(
  value: unknown,
): { port: number[]; port_range: string[]; bad: string[] } {
  const out = { port: [] as number[], port_range: [] as string[], bad: [] as string[] };
  const parts = typeof value === "number"
    ? [String(value)]
    : Array.isArray(value)
    ? value.map(String)
    : String(value ?? "").split(",");
  for (const raw of parts) {
    const p = raw.trim();
    if (p === "") continue;
    const m = /^(\d+)\s*[-:]\s*(\d+)$/.exec(p);
    if (m) {
      const a = Number(m[1]), b = Number(m[2]);
      if (a <= b && b <= 65535) {
        if (a === b) out.port.push(a);
        else out.port_range.push(`${a}:${b}`);
        continue;
      }
    }
    if (/^\d+$/.test(p) && Number(p) <= 65535) out.port.push(Number(p));
    else out.bad.push(p);
  }
  return out;
}

/** An address or CIDR as sing-box writes it (a bare address gets /32 or /128); null if bad. */
export function cidr(text: string): string | null {
  const t = text.trim();
  if (t.includes("/")) {
    const p = parsePrefix(t);
    return p ? formatPrefix(p) : null;
  }
  const a = parseIp(t);
  return a ? formatPrefix({ addr: a, bits: a.length * 8 }) : null;
}

/** True when `host` is an IP literal (with or without brackets). */
export function isIpLiteral(host: string): boolean {
  return parseIp(host.replace(/^\[|\]$/g, "")) !== null;
}

/**
 * Remote rule sets that stand in for V2Ray/Clash geosite and geoip lists (sing-box removed its
 * geo databases in 1.12 and publishes the same lists as rule sets).
 */
export class RuleSets {
  readonly #sets = new Map<string, Record<string, Jsonc>>();
  /** The outbound that downloads them (the proxy: the lists are often blocked). */
  downloadDetour = "";

  /** The tag of the rule set for `geosite:<name>` or `geoip:<name>`, registering it. */
  ref(kind: "geosite" | "geoip", name: string): string {
    const tag = `${kind}-${name.toLowerCase()}`;
    if (!this.#sets.has(tag)) {
      const repo = kind === "geosite" ? "sing-geosite" : "sing-geoip";
      this.#sets.set(tag, {
        type: "remote",
        tag,
        format: "binary",
        url: `https://raw.githubusercontent.com/SagerNet/${repo}/rule-set/${tag}.srs`,
      });
    }
    return tag;
  }

  /** Registers an inline set (a converted Clash rule provider) under `tag`. */
  inline(tag: string, rules: Jsonc[]): string {
    this.#sets.set(tag, { type: "inline", tag, rules });
    return tag;
  }

  /** The `route.rule_set` list (empty when no list was referenced). */
  list(): Record<string, Jsonc>[] {
    return [...this.#sets.values()].map((s) =>
      this.downloadDetour && s.type === "remote"
        ? { ...s, download_detour: this.downloadDetour }
        : s
    );
  }
}

/** Options of a sing-box `tls` object gathered from a client config. */
export interface TlsFields {
  serverName?: string;
  insecure?: boolean;
  alpn?: string[];
  fingerprint?: string;
  reality?: { publicKey: string; shortId: string };
}

/** The sing-box outbound `tls` object. */
export function tlsObject(t: TlsFields): Record<string, Jsonc> {
  const out: Record<string, Jsonc> = { enabled: true };
  if (t.serverName) out.server_name = t.serverName;
  if (t.insecure) out.insecure = true;
  if (t.alpn && t.alpn.length > 0) out.alpn = t.alpn;
  const fp = t.fingerprint || (t.reality ? "chrome" : "");
  if (fp) out.utls = { enabled: true, fingerprint: fp };
  if (t.reality) {
    out.reality = { enabled: true, public_key: t.reality.publicKey, short_id: t.reality.shortId };
  }
  return out;
}

/** A WebSocket path with Xray's `?ed=2048` early-data suffix split into sing-box's fields. */
export function wsTransport(
  path: string,
  host: string,
  maxEarlyData = 0,
  earlyDataHeader = "",
): Record<string, Jsonc> {
  const out: Record<string, Jsonc> = { type: "ws" };
  let p = path;
  let early = maxEarlyData;
  let header = earlyDataHeader;
  const m = /^(.*?)\?ed=(\d+)$/.exec(p);
  if (m) {
    p = m[1]!;
    early = Number(m[2]);
    header = "Sec-WebSocket-Protocol";
  }
  if (p !== "" && p !== "/") out.path = p;
  else if (p === "/") out.path = "/";
  if (host) out.headers = { Host: host };
  if (early > 0) out.max_early_data = early;
  if (header) out.early_data_header_name = header;
  return out;
}

/** Reads a string field; "" when missing or not a string. */
export function str(o: unknown, key: string): string {
  if (o === null || typeof o !== "object") return "";
  const v = (o as Record<string, unknown>)[key];
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : "";
}

/** Reads an object field; an empty object when missing or not an object. */
export function obj(o: unknown, key: string): Record<string, unknown> {
  if (o === null || typeof o !== "object") return {};
  const v = (o as Record<string, unknown>)[key];
  return v !== null && typeof v === "object" && !Array.isArray(v)
    ? v as Record<string, unknown>
    : {};
}

/** Reads a list field (one value becomes a list of one); empty when missing. */
export function list(o: unknown, key: string): unknown[] {
  if (o === null || typeof o !== "object") return [];
  const v = (o as Record<string, unknown>)[key];
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** Reads a port (number or numeric string, as V2rayU writes them); 0 when invalid. */
export function portOf(v: unknown): number {
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : 0;
  return Number.isInteger(n) && n > 0 && n <= 65535 ? n : 0;
}

/** Reads a boolean field (true/"true"); undefined when missing. */
export function bool(o: unknown, key: string): boolean | undefined {
  if (o === null || typeof o !== "object") return undefined;
  const v = (o as Record<string, unknown>)[key];
  if (typeof v === "boolean") return v;
  if (v === "true") return true;
  if (v === "false") return false;
  return undefined;
}
