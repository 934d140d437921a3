/**
 * The JSON the Clash API answers with, in sing-box's shapes (`experimental/clashapi`), which
 * the public dashboards (yacd, metacubexd, zashboard) read:
 *
 * - a connection: `{id, metadata{network, type, sourceIP, destinationIP, sourcePort,
 *   destinationPort, host, dnsMode, processPath}, upload, download, start, chains, rule,
 *   rulePayload}` — ports as strings, `start` in RFC 3339, `chains` carrier first;
 * - a proxy: `{type, name, udp, history[{time, delay}], now?, all?}` with Clash type names
 *   (`Direct`, `Reject`, `SOCKS`, `Selector`, `URLTest`, ...), plus the `GLOBAL` group;
 * - a rule: `{type, payload, proxy}`; a DNS answer: `{Status, Question, Server, TC, RD, RA, AD,
 *   CD, Answer?, Authority?, Additional?}`; the config: `{port, socks-port, ..., mode,
 *   mode-list, log-level, ...}`.
 *
 * @module
 */

import type { ConnRecord, HubSnapshot } from "../conn/mod.ts";
import type { LogLevel, Options, OutboundOptions } from "../config/types.ts";
import { decodePacket, type PacketRecord, typeCode } from "../net/dns/packet.ts";
import { messageFlags, messageRcode } from "../net/dns/wire.ts";
import type { CompiledRule } from "../route/rule.ts";

/** One connection as sing-box's Clash API reports it (plus tunbox's `end` and `error`). */
export interface ClashConnection {
  id: string;
  metadata: {
    network: "tcp" | "udp" | "icmp";
    type: string;
    sourceIP: string;
    destinationIP: string;
    sourcePort: string;
    destinationPort: string;
    host: string;
    dnsMode: string;
    processPath: string;
    /** mihomo's: the inbound's tag. */
    inboundName: string;
    /** mihomo's: the sniffed domain. */
    sniffHost: string;
  };
  upload: number;
  download: number;
  start: string;
  chains: string[];
  rule: string;
  rulePayload: string;
  /** tunbox: when it closed (RFC 3339). */
  end?: string;
  /** tunbox: why it failed, when it did. */
  error?: string;
}

/** The `GET /connections` snapshot. */
export interface ClashConnections {
  downloadTotal: number;
  uploadTotal: number;
  connections: ClashConnection[];
  memory: number;
  /** tunbox: recently closed connections, oldest first. */
  closed: ClashConnection[];
}

/** The chain a record shows: its outbounds, or what took the connection instead. */
function chainsOf(rec: ConnRecord): string[] {
  if (rec.chain.length > 0) return [...rec.chain];
  if (rec.action === "reject") return ["reject"];
  if (rec.action === "hijack-dns") return ["dns"];
  return [];
}

/** Converts a connection record to its Clash API form (sing-box's `TrackerMetadata` JSON). */
export function toClashConnection(rec: ConnRecord): ClashConnection {
  const out: ClashConnection = {
    id: String(rec.id),
    metadata: {
      network: rec.network,
      type: rec.inbound !== "" ? `${rec.inboundType}/${rec.inbound}` : rec.inboundType,
      sourceIP: rec.sourceIp,
      destinationIP: rec.destinationIp,
      sourcePort: String(rec.sourcePort),
      destinationPort: String(rec.destinationPort),
      host: rec.domain !== "" ? rec.domain : rec.destinationHost,
      dnsMode: "normal",
      processPath: rec.processPath,
      inboundName: rec.inbound,
      sniffHost: rec.domain,
    },
    upload: rec.upload,
    download: rec.download,
    start: new Date(rec.start).toISOString(),
    chains: chainsOf(rec),
    rule: rec.rule,
    rulePayload: "",
  };
  if (rec.end !== undefined) out.end = new Date(rec.end).toISOString();
  if (rec.error !== undefined) out.error = rec.error;
  return out;
}

/** Process memory for `/connections` and `/memory` (resident set, bytes). */
export function processMemory(): number {
  return Deno.memoryUsage().rss;
}

/** The `GET /connections` body from the hub's state. */
export function clashConnections(snap: HubSnapshot, memory = processMemory()): ClashConnections {
  return {
    downloadTotal: snap.downloadTotal,
    uploadTotal: snap.uploadTotal,
    connections: snap.live.map(toClashConnection),
    memory,
    closed: snap.closed.map(toClashConnection),
  };
}

// --- proxies ----------------------------------------------------------------------------------

/** sing-box's `C.ProxyDisplayName`, with `block` shown as `Reject` as its Clash API does. */
const CLASH_TYPES: Record<string, string> = {
  tun: "TUN",
  redirect: "Redirect",
  tproxy: "TProxy",
  direct: "Direct",
  block: "Reject",
  dns: "DNS",
  socks: "SOCKS",
  http: "HTTP",
  mixed: "Mixed",
  shadowsocks: "Shadowsocks",
  vmess: "VMess",
  trojan: "Trojan",
  naive: "Naive",
  wireguard: "WireGuard",
  hysteria: "Hysteria",
  tor: "Tor",
  ssh: "SSH",
  shadowtls: "ShadowTLS",
  shadowsocksr: "ShadowsocksR",
  vless: "VLESS",
  tuic: "TUIC",
  hysteria2: "Hysteria2",
  anytls: "AnyTLS",
  tailscale: "Tailscale",
  selector: "Selector",
  urltest: "URLTest",
};

/** The Clash type name of an outbound type (`Unknown` for one sing-box does not name). */
export function clashType(type: string): string {
  return CLASH_TYPES[type] ?? "Unknown";
}

/** One latency test result (sing-box's `URLTestHistory`). */
export interface DelayHistory {
  /** RFC 3339. */
  time: string;
  /** Milliseconds. */
  delay: number;
}

/** A proxy entry of `/proxies`. */
export interface ClashProxy {
  type: string;
  name: string;
  udp: boolean;
  history: DelayHistory[];
  /** tunbox: whether the last latency test answered (mihomo's field). */
  alive: boolean;
  now?: string;
  all?: string[];
}

/** What the API knows about the outbounds' run-time state. */
export interface ProxyState {
  /** The member a group uses now. */
  now(tag: string): string | undefined;
  /** The last latency test of an outbound. */
  history(tag: string): DelayHistory | undefined;
}

/** Member tags of a group outbound's options, else null. */
export function groupMembers(o: OutboundOptions): string[] | null {
  return o.type === "selector" || o.type === "urltest" ? [...o.outbounds] : null;
}

/** Whether an outbound carries UDP (by its options; a group by the member it uses now). */
function carriesUdp(
  o: OutboundOptions,
  byTag: ReadonlyMap<string, OutboundOptions>,
  state: ProxyState,
  depth = 0,
): boolean {
  const network = (o as { network?: string }).network;
  if (network === "tcp") return false;
  if (o.type === "http") return false;
  if (o.type === "socks" && (o.version === "4" || o.version === "4a")) return false;
  const members = groupMembers(o);
  if (members && depth < 8) {
    const now = byTag.get(state.now(o.tag) ?? members[0] ?? "");
    return now ? carriesUdp(now, byTag, state, depth + 1) : false;
  }
  return true;
}

/** The `/proxies/{name}` entry of an outbound. */
export function proxyInfo(
  o: OutboundOptions,
  byTag: ReadonlyMap<string, OutboundOptions>,
  state: ProxyState,
): ClashProxy {
  const last = state.history(o.tag);
  const info: ClashProxy = {
    type: clashType(o.type),
    name: o.tag,
    udp: carriesUdp(o, byTag, state),
    history: last ? [last] : [],
    alive: last !== undefined,
  };
  const members = groupMembers(o);
  if (members) {
    info.now = state.now(o.tag) ?? members[0] ?? "";
    info.all = members;
  }
  return info;
}

/** The outbounds the API lists (legacy `dns` outbounds are not outbounds in tunbox). */
export function listedOutbounds(options: Options): OutboundOptions[] {
  return options.outbounds.filter((o) => o.type !== "dns" && o.tag !== "");
}

/** The default outbound: `route.final`, else the first outbound. */
export function defaultOutbound(options: Options): string {
  return options.route.final || listedOutbounds(options)[0]?.tag || "";
}

/** `GET /proxies`: every outbound by tag, with sing-box's `GLOBAL` group first. */
export function clashProxies(options: Options, state: ProxyState): Record<string, ClashProxy> {
  const outs = listedOutbounds(options);
  const byTag = new Map(outs.map((o) => [o.tag, o]));
  const def = defaultOutbound(options);
  const all = outs.filter((o) => !["direct", "block", "dns"].includes(o.type)).map((o) => o.tag);
  // sing-box sorts the default outbound first ("fix clash dashboard").
  all.sort((a, b) => (a === def ? -1 : b === def ? 1 : 0));
  const proxies: Record<string, ClashProxy> = {
    GLOBAL: {
      type: "Fallback",
      name: "GLOBAL",
      udp: true,
      history: [],
      alive: true,
      all,
      now: def,
    },
  };
  for (const o of outs) proxies[o.tag] = proxyInfo(o, byTag, state);
  return proxies;
}

// --- rules --------------------------------------------------------------------------------------

/** A rule of `GET /rules`. */
export interface ClashRule {
  type: string;
  payload: string;
  proxy: string;
}

/** sing-box's `/rules` entry: the rule's kind, its condition and its action. */
export function clashRule(rule: CompiledRule, kind: "default" | "logical"): ClashRule {
  return { type: kind, payload: rule.conditionText, proxy: rule.action.text };
}

// --- configs --------------------------------------------------------------------------------------

/** `GET /configs`. */
export interface ClashConfig {
  port: number;
  "socks-port": number;
  "redir-port": number;
  "tproxy-port": number;
  "mixed-port": number;
  "allow-lan": boolean;
  "bind-address": string;
  mode: string;
  "mode-list": string[];
  /** zashboard reads `modes`. */
  modes: string[];
  "log-level": string;
  ipv6: boolean;
  tun: { enable: boolean; stack?: string; device?: string };
}

/** sing-box's level names as Clash shows them (trace as debug, below error as error). */
function clashLogLevel(level: LogLevel | undefined, disabled: boolean): string {
  if (disabled) return "silent";
  switch (level ?? "info") {
    case "trace":
    case "debug":
      return "debug";
    case "info":
      return "info";
    case "warn":
      return "warning";
    default:
      return "error";
  }
}

/** `GET /configs` from the options and the current mode. */
export function clashConfig(options: Options, mode: string, modes: readonly string[]): ClashConfig {
  const port = (type: string) => {
    const i = options.inbounds.find((x) => x.type === type);
    return i && "listen_port" in i ? i.listen_port ?? 0 : 0;
  };
  const listeners = options.inbounds.filter((i) => i.type !== "tun");
  const tun = options.inbounds.find((i) => i.type === "tun");
  const allowLan = listeners.some((i) =>
    "listen" in i && i.listen instanceof Uint8Array && i.listen.every((b) => b === 0)
  );
  const config: ClashConfig = {
    port: port("http"),
    "socks-port": port("socks"),
    "redir-port": 0,
    "tproxy-port": 0,
    "mixed-port": port("mixed"),
    "allow-lan": allowLan,
    "bind-address": "*",
    mode,
    "mode-list": [...modes],
    modes: [...modes],
    "log-level": clashLogLevel(options.log.level, options.log.disabled === true),
    ipv6: true,
    tun: { enable: tun !== undefined },
  };
  if (tun && tun.type === "tun") {
    if (tun.stack) config.tun.stack = tun.stack;
    if (tun.interface_name) config.tun.device = tun.interface_name;
  }
  return config;
}

// --- DNS ------------------------------------------------------------------------------------------

/** One record of a `/dns/query` answer. */
export interface ClashDnsRecord {
  name: string;
  type: number;
  TTL: number;
  data: string;
}

/** The `/dns/query` answer (sing-box's, from miekg/dns). */
export interface ClashDnsAnswer {
  Status: number;
  Question: { Name: string; Qtype: number; Qclass: number }[];
  Server: string;
  TC: boolean;
  RD: boolean;
  RA: boolean;
  AD: boolean;
  CD: boolean;
  Answer?: ClashDnsRecord[];
  Authority?: ClashDnsRecord[];
  Additional?: ClashDnsRecord[];
}

const fqdn = (name: string) => name.endsWith(".") ? name : `${name}.`;

/** The text of a record's data as a zone file shows it (`1.2.3.4`, `example.com.`, ...). */
function recordData(r: PacketRecord): string {
  const d = r.data;
  if (typeof d === "string") return ["CNAME", "NS", "PTR"].includes(r.type) ? fqdn(d) : d;
  if (r.type === "TXT" && Array.isArray(d)) {
    return d.map((x) => `"${new TextDecoder().decode(x as Uint8Array)}"`).join(" ");
  }
  if (d && typeof d === "object") {
    const o = d as Record<string, unknown>;
    if (r.type === "MX") return `${o.preference} ${fqdn(String(o.exchange))}`;
    if (r.type === "SOA") {
      return `${fqdn(String(o.mname))} ${
        fqdn(String(o.rname))
      } ${o.serial} ${o.refresh} ${o.retry} ${o.expire} ${o.minimum}`;
    }
    if (d instanceof Uint8Array) return `\\# ${d.length}`;
  }
  return "";
}

/** Converts a DNS response message to the `/dns/query` JSON. */
export function clashDnsAnswer(response: Uint8Array): ClashDnsAnswer {
  const p = decodePacket(response);
  // The header's flags and RCODE as they are on the wire.
  const flags = messageFlags(response);
  const rr = (r: PacketRecord): ClashDnsRecord => ({
    name: fqdn(r.name),
    type: typeCode(r.type) ?? 0,
    TTL: r.ttl ?? 0,
    data: recordData(r),
  });
  const out: ClashDnsAnswer = {
    Status: messageRcode(response),
    Question: (p.questions ?? []).map((q) => ({
      Name: fqdn(q.name),
      Qtype: typeCode(q.type) ?? 0,
      Qclass: 1,
    })),
    Server: "internal",
    TC: (flags & 0x0200) !== 0,
    RD: (flags & 0x0100) !== 0,
    RA: (flags & 0x0080) !== 0,
    AD: (flags & 0x0020) !== 0,
    CD: (flags & 0x0010) !== 0,
  };
  const answers = (p.answers ?? []).map(rr);
  const authority = (p.authorities ?? []).map(rr);
  const additional = (p.additionals ?? []).filter((r) => r.type !== "OPT").map(rr);
  if (answers.length > 0) out.Answer = answers;
  if (authority.length > 0) out.Authority = authority;
  if (additional.length > 0) out.Additional = additional;
  return out;
}
