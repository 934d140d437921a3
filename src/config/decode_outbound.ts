/**
 * Outbounds: `direct` (all dial fields), `socks`, `http`, `shadowsocks`, `selector`, `urltest`, and the legacy
 * special outbounds `block` and `dns` (kept, warned about; rules routing to them are rewritten to
 * rule actions in `legacy.ts`).
 *
 * @module
 */

import type { JsonNode } from "./jsonc.ts";
import type { Ctx, Obj } from "./reader.ts";
import { readDialFields } from "./decode_dial.ts";
import { readTls } from "./decode_tls.ts";
import { headerNameProblem, headerValueProblem, isDomainName, testUrlProblem } from "./values.ts";
import { defineTag, entryType } from "./entry.ts";
import { parseIp } from "../net/ip.ts";
import { type FeatureId, featureId, verdict } from "./support.ts";
import type {
  DirectOutboundOptions,
  HttpOutboundOptions,
  MultiplexOptions,
  OutboundOptions,
  PacketEncoding,
  SelectorOutboundOptions,
  ShadowsocksOutboundOptions,
  SocksOutboundOptions,
  TrojanOutboundOptions,
  UrlTestOutboundOptions,
  V2rayTransportOptions,
  VlessOutboundOptions,
  VmessOutboundOptions,
  WireguardOutboundOptions,
  WireguardPeerOptions,
} from "./types.ts";

/** Outbound types tunbox decodes (whether each is supported is `support.ts`'s verdict). */
export const OUTBOUND_TYPES = [
  "shadowsocks",
  "wireguard",
  "vmess",
  "vless",
  "trojan",
  "direct",
  "socks",
  "http",
  "block",
  "dns",
  "selector",
  "urltest",
] as const;

/**
 * Reads and checks `server` (IP address or domain name) and `server_port`. A missing one with a
 * `detour` is checked after decoding (`ctx.missingBehindDetour`): sing-box's ShadowTLS chain
 * leaves them out, the shadowtls detour dialing its own server.
 */
function serverFields(o: Obj, out: { server: string; server_port: number }): void {
  const at = o.at("server");
  const server = o.string("server");
  const detourNode = o.find("detour")?.value;
  const detour = detourNode?.kind === "string" && detourNode.value !== ""
    ? detourNode.value
    : undefined;
  const missing = (key: string) => {
    const message = `missing ${JSON.stringify(key)}`;
    if (detour === undefined) o.ctx.error(o.node, o.path, message);
    else o.ctx.missingBehindDetour.push({ pos: o.node.pos, path: o.path, detour, message });
  };
  if (!at) missing("server");
  else if (server !== undefined) {
    if (parseIp(server) === null && !isDomainName(server)) {
      o.ctx.error(at.node, at.path, `invalid server address ${JSON.stringify(server)}`);
    } else out.server = server;
  }
  const port = o.port("server_port");
  if (port !== undefined) out.server_port = port;
  else if (!o.has("server_port")) missing("server_port");
}

function decodeSocks(o: Obj, tag: string): SocksOutboundOptions {
  const out: SocksOutboundOptions = { type: "socks", tag, server: "", server_port: 0 };
  serverFields(o, out);
  const version = o.enumOf("version", ["4", "4a", "5"] as const);
  if (version !== undefined) out.version = version;
  const user = o.string("username");
  if (user !== undefined) out.username = user;
  const pass = o.string("password");
  if (pass !== undefined) out.password = pass;
  const network = o.enumOf("network", ["tcp", "udp"] as const);
  if (network !== undefined) out.network = network;
  const uot = o.at("udp_over_tcp");
  if (uot && (uot.node.kind === "boolean" ? uot.node.value : isEnabled(uot.node))) {
    o.feature("udp_over_tcp", "outbound.socks.udp_over_tcp");
  }
  if (uot) {
    if (uot.node.kind === "boolean") out.udp_over_tcp = { enabled: uot.node.value };
    else {
      const u = o.ctx.object(uot.node, uot.path);
      if (u) {
        const v: { enabled: boolean; version?: number } = { enabled: u.bool("enabled") ?? false };
        const ver = u.int("version", 0, 2);
        if (ver !== undefined) v.version = ver;
        u.done();
        out.udp_over_tcp = v;
      }
    }
  }
  if (out.version !== undefined && out.version !== "5" && network === "udp") {
    o.ctx.error(
      o.at("network")!.node,
      o.p("network"),
      `network "udp" needs SOCKS version 5 (version is "${out.version}")`,
    );
  }
  authLength(o);
  readDialFields(o, out);
  return out;
}

/** `headers`: name → one value or a list, each checked as tunbox writes them into requests. */
export function readHeaders(o: Obj): Record<string, string[]> {
  const ctx = o.ctx;
  const out: Record<string, string[]> = {};
  const h = o.object("headers");
  if (!h) return out;
  for (const prop of h.node.props) {
    const path = h.p(prop.key);
    const nameProblem = headerNameProblem(prop.key);
    if (nameProblem) {
      ctx.error(prop.keyPos, path, nameProblem);
      continue;
    }
    if (prop.value.kind === "null") continue;
    out[prop.key] = ctx.listable(prop.value, path, (x, q) => {
      const v = ctx.string(x, q);
      const problem = v === undefined ? undefined : headerValueProblem(v);
      if (problem) ctx.error(x, q, problem);
      return problem ? undefined : v;
    });
  }
  return out;
}

/** True for `{"enabled": true, ...}`. */
function isEnabled(node: JsonNode): boolean {
  return node.kind === "object" &&
    node.props.some((p) => p.key === "enabled" && p.value.kind === "boolean" && p.value.value);
}

/** RFC 1929 limits the SOCKS5 username and password to 255 bytes each. */
function authLength(o: Obj): void {
  if (!o.has("username")) return;
  for (const key of ["username", "password"]) {
    const at = o.at(key);
    if (at?.node.kind === "string" && new TextEncoder().encode(at.node.value).length > 255) {
      o.ctx.error(at.node, at.path, `${key} is longer than 255 bytes (RFC 1929)`);
    }
  }
}

/** Every shadowsocks method sing-box knows (`outbound/shadowsocks.md`). */
export const SHADOWSOCKS_METHODS = [
  "2022-blake3-aes-128-gcm",
  "2022-blake3-aes-256-gcm",
  "2022-blake3-chacha20-poly1305",
  "none",
  "aes-128-gcm",
  "aes-192-gcm",
  "aes-256-gcm",
  "chacha20-ietf-poly1305",
  "xchacha20-ietf-poly1305",
  "aes-128-ctr",
  "aes-192-ctr",
  "aes-256-ctr",
  "aes-128-cfb",
  "aes-192-cfb",
  "aes-256-cfb",
  "rc4-md5",
  "chacha20-ietf",
  "xchacha20",
] as const;

/** The verdict on a shadowsocks method tunbox does not implement (undefined: implemented). */
export function shadowsocksMethodFeature(method: string): FeatureId | undefined {
  switch (method) {
    case "aes-192-gcm":
      return "outbound.shadowsocks.method.aes-192-gcm";
    case "xchacha20-ietf-poly1305":
      return "outbound.shadowsocks.method.xchacha20-ietf-poly1305";
    case "aes-128-ctr":
    case "aes-192-ctr":
    case "aes-256-ctr":
    case "aes-128-cfb":
    case "aes-192-cfb":
    case "aes-256-cfb":
    case "rc4-md5":
    case "chacha20-ietf":
    case "xchacha20":
      return "outbound.shadowsocks.method.stream";
  }
  return undefined;
}

/** Key length of the 2022 methods. */
const SS2022_KEY_LENGTH: Record<string, number> = {
  "2022-blake3-aes-128-gcm": 16,
  "2022-blake3-aes-256-gcm": 32,
  "2022-blake3-chacha20-poly1305": 32,
};

/**
 * What is wrong with a shadowsocks `password` for `method`, or null. The 2022 methods take
 * base64 keys of the method's length, `:`-separated (identity keys first, AES methods only);
 * the others any non-empty password (`none`: none). The runtime refuses with the same words.
 */
export function shadowsocksPasswordProblem(method: string, password: string): string | null {
  if (method === "none") return null;
  const keyLength = SS2022_KEY_LENGTH[method];
  if (keyLength === undefined) {
    return password === "" ? `method "${method}" needs a password` : null;
  }
  const hint = `(generate one with \`openssl rand -base64 ${keyLength}\`)`;
  if (password === "") {
    return `method "${method}" needs a password: a base64 key of ${keyLength} bytes ${hint}`;
  }
  const parts = password.split(":");
  if (parts.length > 1 && method.endsWith("chacha20-poly1305")) {
    return `method "${method}" has no identity keys: give one key, not ${parts.length}`;
  }
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const which = parts.length > 1 ? `key ${i + 1} of the password` : "the password";
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(p) || p.length % 4 !== 0 || p === "") {
      return `${which} is not a base64 key ${hint}`;
    }
    const bytes = (p.length / 4) * 3 - (p.endsWith("==") ? 2 : p.endsWith("=") ? 1 : 0);
    if (bytes < keyLength) {
      return `${which} is a ${bytes}-byte key; method "${method}" needs ${keyLength} ${hint}`;
    }
  }
  return null;
}

/** Reads `multiplex`; an enabled one gets the verdict on multiplexing. */
function readMultiplex(o: Obj): MultiplexOptions | undefined {
  const m = o.object("multiplex");
  if (!m) return undefined;
  const out: MultiplexOptions = {};
  const enabled = m.bool("enabled");
  if (enabled !== undefined) out.enabled = enabled;
  const protocol = m.enumOf("protocol", ["smux", "yamux", "h2mux"] as const);
  if (protocol !== undefined) out.protocol = protocol;
  const mc = m.int("max_connections", 0, 65535);
  if (mc !== undefined) out.max_connections = mc;
  const mins = m.int("min_streams", 0, 65535);
  if (mins !== undefined) out.min_streams = mins;
  const maxs = m.int("max_streams", 0, 65535);
  if (maxs !== undefined) out.max_streams = maxs;
  const padding = m.bool("padding");
  if (padding !== undefined) out.padding = padding;
  m.known("brutal");
  m.done(" in multiplex");
  if (enabled) o.feature("multiplex", "outbound.multiplex");
  return out;
}

function decodeShadowsocks(o: Obj, tag: string): ShadowsocksOutboundOptions {
  const out: ShadowsocksOutboundOptions = {
    type: "shadowsocks",
    tag,
    server: "",
    server_port: 0,
    method: "",
  };
  serverFields(o, out);
  if (o.require("method", ` (one of ${SHADOWSOCKS_METHODS.map((m) => `"${m}"`).join(", ")})`)) {
    const method = o.enumOf("method", SHADOWSOCKS_METHODS);
    if (method !== undefined) {
      out.method = method;
      const id = shadowsocksMethodFeature(method);
      if (id) o.ctx.support(id, o.at("method")!.node, o.p("method"));
    }
  }
  const password = o.string("password");
  if (password !== undefined) out.password = password;
  if (out.method !== "") {
    const problem = shadowsocksPasswordProblem(out.method, password ?? "");
    if (problem) {
      const at = o.at("password");
      o.ctx.error(at?.node ?? o.node, at?.path ?? o.path, problem);
    }
  }
  const plugin = o.string("plugin");
  if (plugin !== undefined) {
    out.plugin = plugin;
    o.feature("plugin", "outbound.shadowsocks.plugin");
  }
  const opts = o.string("plugin_opts");
  if (opts !== undefined) out.plugin_opts = opts;
  const network = o.enumOf("network", ["tcp", "udp"] as const);
  if (network !== undefined) out.network = network;
  const uot = o.at("udp_over_tcp");
  if (uot) {
    const enabled = uot.node.kind === "boolean" ? uot.node.value : isEnabled(uot.node);
    if (enabled) o.feature("udp_over_tcp", "outbound.shadowsocks.udp_over_tcp");
    out.udp_over_tcp = { enabled };
  }
  const mux = readMultiplex(o);
  if (mux) out.multiplex = mux;
  readDialFields(o, out);
  return out;
}

/** Reads `transport` (V2Ray transports); its type gets its verdict. */
function readTransport(o: Obj): V2rayTransportOptions | undefined {
  const t = o.object("transport");
  if (!t) return undefined;
  const typeAt = t.at("type");
  const types = ["ws", "http", "httpupgrade", "grpc", "quic"] as const;
  if (!typeAt) {
    o.ctx.error(t.node, t.path, `missing "type" (one of ${types.map((x) => `"${x}"`).join(", ")})`);
    for (const p of t.node.props) t.known(p.key);
    return undefined;
  }
  const type = t.enumOf("type", types);
  if (type === undefined) {
    for (const p of t.node.props) t.known(p.key);
    return undefined;
  }
  o.ctx.support(`transport.${type}`, typeAt.node, typeAt.path);
  const headers = () =>
    t.map("headers", (n, p) => t.ctx.listable(n, p, (x, q) => t.ctx.string(x, q)));
  const set = <T extends object, K extends keyof T>(out: T, k: K, v: T[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  let out: V2rayTransportOptions;
  switch (type) {
    case "ws": {
      const ws: Extract<V2rayTransportOptions, { type: "ws" }> = { type, headers: headers() };
      set(ws, "path", t.string("path"));
      set(ws, "max_early_data", t.int("max_early_data", 0, 0xffffffff));
      set(ws, "early_data_header_name", t.string("early_data_header_name"));
      out = ws;
      break;
    }
    case "http": {
      const h: Extract<V2rayTransportOptions, { type: "http" }> = {
        type,
        host: t.strings("host"),
        headers: headers(),
      };
      set(h, "path", t.string("path"));
      set(h, "method", t.string("method"));
      set(h, "idle_timeout", t.duration("idle_timeout"));
      set(h, "ping_timeout", t.duration("ping_timeout"));
      out = h;
      break;
    }
    case "httpupgrade": {
      const h: Extract<V2rayTransportOptions, { type: "httpupgrade" }> = {
        type,
        headers: headers(),
      };
      set(h, "host", t.string("host"));
      set(h, "path", t.string("path"));
      out = h;
      break;
    }
    case "grpc": {
      const g: Extract<V2rayTransportOptions, { type: "grpc" }> = { type };
      set(g, "service_name", t.string("service_name"));
      set(g, "idle_timeout", t.duration("idle_timeout"));
      set(g, "ping_timeout", t.duration("ping_timeout"));
      set(g, "permit_without_stream", t.bool("permit_without_stream"));
      out = g;
      break;
    }
    case "quic":
      out = { type };
      break;
  }
  t.done(` in a "${type}" transport`);
  return out;
}

/** Reads `packet_encoding`; the encodings tunbox does not implement get their verdict. */
function readPacketEncoding(o: Obj): PacketEncoding | undefined {
  const at = o.at("packet_encoding");
  if (!at) return undefined;
  const v = o.ctx.enumOf(at.node, at.path, ["", "packetaddr", "xudp"] as const, {});
  if (v === "packetaddr" || v === "xudp") {
    o.ctx.support(`outbound.packet_encoding.${v}`, at.node, at.path);
  }
  return v;
}

function decodeVmess(o: Obj, tag: string): VmessOutboundOptions {
  const out: VmessOutboundOptions = { type: "vmess", tag, server: "", server_port: 0, uuid: "" };
  serverFields(o, out);
  readUuid(o, out, "VMess");
  const security = o.enumOf(
    "security",
    [
      "auto",
      "none",
      "zero",
      "aes-128-gcm",
      "chacha20-poly1305",
      "aes-128-ctr",
    ] as const,
  );
  if (security !== undefined) {
    out.security = security;
    if (security === "aes-128-ctr") o.feature("security", "outbound.vmess.security.aes-128-ctr");
  }
  const alterId = o.int("alter_id", 0, 65535);
  if (alterId !== undefined) {
    out.alter_id = alterId;
    if (alterId > 0) o.feature("alter_id", "outbound.vmess.alter_id");
  }
  const gp = o.bool("global_padding");
  if (gp !== undefined) out.global_padding = gp;
  const al = o.bool("authenticated_length");
  if (al !== undefined) out.authenticated_length = al;
  const pe = readPacketEncoding(o);
  if (pe !== undefined) out.packet_encoding = pe;
  readV2rayCommon(o, out);
  return out;
}

/** `uuid` (required, non-empty) of VMess and VLESS. */
function readUuid(o: Obj, out: { uuid: string }, protocol: string): void {
  if (!o.require("uuid")) return;
  const at = o.at("uuid")!;
  const uuid = o.string("uuid");
  if (uuid === "") o.ctx.error(at.node, at.path, `must not be empty (the ${protocol} user id)`);
  else if (uuid !== undefined) out.uuid = uuid;
}

/** The fields VMess, VLESS and Trojan share after their own. */
function readV2rayCommon(
  o: Obj,
  out: {
    tag: string;
    network?: "tcp" | "udp";
    tls?: VmessOutboundOptions["tls"];
    transport?: V2rayTransportOptions;
    multiplex?: MultiplexOptions;
  },
): void {
  const network = o.enumOf("network", ["tcp", "udp"] as const);
  if (network !== undefined) out.network = network;
  const tls = readTls(o, { reality: "outbound.reality" });
  if (tls) out.tls = tls;
  const tlsNode = o.find("tls")?.value;
  if (
    tlsNode?.kind === "object" &&
    tlsNode.props.some((p) => p.key === "reality" && isEnabled(p.value))
  ) {
    o.ctx.leftOut.set(out.tag, { message: verdict("outbound.reality").message, path: o.path });
  }
  const transport = readTransport(o);
  if (transport) out.transport = transport;
  if (transport) {
    // A transport tunbox lacks leaves the outbound out (its verdict says so at its line).
    const id = transport.type === "http" && !tls?.enabled
      ? "transport.http.plain" as const
      : `transport.${transport.type}` as const;
    if (id === "transport.http.plain") {
      o.ctx.support(id, o.at("transport")!.node, o.p("transport"));
    }
    if (verdict(id).level !== "supported") {
      o.ctx.leftOut.set(out.tag, { message: verdict(id).message, path: o.path });
    }
  }
  const mux = readMultiplex(o);
  if (mux) out.multiplex = mux;
  readDialFields(o, out as VmessOutboundOptions);
}

function decodeVless(o: Obj, tag: string): VlessOutboundOptions {
  const out: VlessOutboundOptions = { type: "vless", tag, server: "", server_port: 0, uuid: "" };
  serverFields(o, out);
  readUuid(o, out, "VLESS");
  const flow = o.enumOf("flow", ["xtls-rprx-vision"] as const);
  if (flow !== undefined) {
    out.flow = flow;
    o.feature("flow", "outbound.vless.flow");
    o.ctx.leftOut.set(tag, { message: verdict("outbound.vless.flow").message, path: o.path });
  }
  // Absent, sing-box's default is xudp; tunbox carries VLESS UDP one connection per destination.
  const pe = readPacketEncoding(o);
  if (pe !== undefined) out.packet_encoding = pe;
  readV2rayCommon(o, out);
  return out;
}

function decodeTrojan(o: Obj, tag: string): TrojanOutboundOptions {
  const out: TrojanOutboundOptions = {
    type: "trojan",
    tag,
    server: "",
    server_port: 0,
    password: "",
  };
  serverFields(o, out);
  if (o.require("password")) {
    const password = o.string("password");
    if (password !== undefined) out.password = password;
  }
  readV2rayCommon(o, out);
  return out;
}

/** A base64 WireGuard key (32 bytes); reports a bad one at its value. */
function wgKey(o: Obj, key: string, required: boolean): string | undefined {
  const at = o.at(key);
  if (!at) {
    if (required) {
      o.ctx.error(o.node, o.path, `missing ${JSON.stringify(key)} (a base64 WireGuard key)`);
    }
    return undefined;
  }
  const v = o.string(key);
  if (v === undefined) return undefined;
  if (v === "" && !required) return undefined;
  if (!/^[A-Za-z0-9+/]{43}=$/.test(v)) {
    o.ctx.error(
      at.node,
      at.path,
      `${
        JSON.stringify(v)
      } is not a WireGuard key (44 base64 characters, 32 bytes; \`wg genkey\` makes one)`,
    );
    return undefined;
  }
  return v;
}

/** `reserved`: three bytes, as a list of numbers or a base64 string. */
function wgReserved(o: Obj): number[] | undefined {
  const at = o.at("reserved");
  if (!at) return undefined;
  let bytes: number[] | undefined;
  if (at.node.kind === "string") {
    const raw = at.node.value;
    if (/^[A-Za-z0-9+/]*={0,2}$/.test(raw) && raw.length % 4 === 0) {
      bytes = [...Uint8Array.from(atob(raw), (c) => c.charCodeAt(0))];
    }
  } else bytes = o.ints("reserved", 0, 255);
  if (!bytes || bytes.length !== 3) {
    if (bytes && bytes.length === 0) return undefined;
    o.ctx.error(at.node, at.path, "must be three bytes (a list of three numbers, or base64)");
    return undefined;
  }
  return bytes;
}

function wgPeer(p: Obj, legacy: boolean): WireguardPeerOptions | undefined {
  const addrKey = legacy ? "server" : "address";
  const portKey = legacy ? "server_port" : "port";
  const peer: WireguardPeerOptions = { address: "", port: 0, public_key: "", allowed_ips: [] };
  const address = p.string(addrKey);
  if (address !== undefined) peer.address = address;
  const port = p.port(portKey);
  if (port !== undefined) peer.port = port;
  const pub = wgKey(p, "public_key", true);
  if (pub) peer.public_key = pub;
  const psk = wgKey(p, "pre_shared_key", false);
  if (psk) peer.pre_shared_key = psk;
  peer.allowed_ips = p.prefixes("allowed_ips", true);
  const ka = p.int("persistent_keepalive_interval", 0, 65535);
  if (ka !== undefined) peer.persistent_keepalive_interval = ka;
  const reserved = wgReserved(p);
  if (reserved) peer.reserved = reserved;
  if (!legacy && peer.allowed_ips.length === 0) {
    p.ctx.error(p.node, p.path, 'missing "allowed_ips" (the addresses this peer carries)');
  }
  if (peer.address === "" || peer.port === 0) {
    p.ctx.error(
      p.node,
      p.path,
      `missing ${JSON.stringify(addrKey)} and ${JSON.stringify(portKey)}: tunbox only connects ` +
        "to peers (it does not listen for them)",
    );
  }
  p.done(" in a WireGuard peer");
  return peer;
}

/**
 * A WireGuard endpoint (sing-box 1.11) or the legacy outbound (deprecated in 1.11, removed in
 * 1.13), read into one shape.
 */
export function decodeWireguard(o: Obj, tag: string, legacy: boolean): WireguardOutboundOptions {
  const out: WireguardOutboundOptions = {
    type: "wireguard",
    tag,
    address: [],
    private_key: "",
    peers: [],
  };
  if (legacy) out.legacy = true;
  out.address = o.prefixes(legacy ? "local_address" : "address", true);
  if (out.address.length === 0) {
    o.ctx.error(
      o.node,
      o.path,
      `missing ${legacy ? '"local_address"' : '"address"'} (the interface's addresses)`,
    );
  }
  const key = wgKey(o, "private_key", true);
  if (key) out.private_key = key;
  const mtu = o.int("mtu", 576, 65535);
  if (mtu !== undefined) out.mtu = mtu;
  const system = o.bool(legacy ? "system_interface" : "system");
  if (system !== undefined) out.system = system;
  if (system) o.feature(legacy ? "system_interface" : "system", "endpoint.wireguard.system");
  const name = o.string(legacy ? "interface_name" : "name");
  if (name !== undefined) out.name = name;
  const workers = o.int("workers", 0, 1024);
  if (workers !== undefined) out.workers = workers;
  if (!legacy) {
    const lp = o.port("listen_port");
    if (lp !== undefined) out.listen_port = lp;
    const ut = o.duration("udp_timeout");
    if (ut !== undefined) out.udp_timeout = ut;
  } else {
    const network = o.enumOf("network", ["tcp", "udp"] as const);
    if (network !== undefined) out.network = network;
    o.known("gso");
  }
  const peers = o.items("peers");
  for (const it of peers) {
    const p = o.ctx.object(it.node, it.path);
    if (!p) continue;
    const peer = wgPeer(p, legacy);
    if (peer) out.peers.push(peer);
  }
  if (legacy && peers.length === 0) {
    // The single-peer form: server, server_port, peer_public_key, pre_shared_key, reserved.
    const peer: WireguardPeerOptions = {
      address: o.string("server") ?? "",
      port: o.port("server_port") ?? 0,
      public_key: wgKey(o, "peer_public_key", true) ?? "",
      allowed_ips: [
        { addr: new Uint8Array(4), bits: 0 },
        { addr: new Uint8Array(16), bits: 0 },
      ],
    };
    const psk = wgKey(o, "pre_shared_key", false);
    if (psk) peer.pre_shared_key = psk;
    const reserved = wgReserved(o);
    if (reserved) peer.reserved = reserved;
    if (peer.address === "" || peer.port === 0) {
      o.ctx.error(o.node, o.path, 'missing "server" and "server_port" (the peer to connect to)');
    }
    out.peers.push(peer);
  } else if (legacy) {
    // Per-peer reserved defaults to the outbound's.
    const reserved = wgReserved(o);
    for (const p of out.peers) if (!p.reserved && reserved) p.reserved = reserved;
    o.known("server", "server_port", "peer_public_key", "pre_shared_key");
  } else if (peers.length === 0) {
    o.ctx.error(o.node, o.path, 'missing "peers"');
  }
  readDialFields(o, out);
  if (legacy) {
    const at = o.at("type")!;
    o.ctx.warn(
      at.node,
      at.path,
      "the wireguard outbound is deprecated in sing-box 1.11.0 and removed in 1.13.0, use an " +
        'endpoint instead ({"endpoints": [{"type": "wireguard", ...}]}); tunbox still runs it',
    );
  }
  return out;
}

function decodeHttp(o: Obj, tag: string): HttpOutboundOptions {
  const out: HttpOutboundOptions = { type: "http", tag, server: "", server_port: 0, headers: {} };
  serverFields(o, out);
  const user = o.string("username");
  if (user !== undefined) out.username = user;
  const pass = o.string("password");
  if (pass !== undefined) out.password = pass;
  const path = o.string("path");
  if (path !== undefined) out.path = path;
  out.headers = readHeaders(o);
  const tls = readTls(o);
  if (tls) out.tls = tls;
  if (tls?.enabled) o.feature("tls", "outbound.http.tls");
  readDialFields(o, out);
  return out;
}

function decodeDirect(o: Obj, tag: string): DirectOutboundOptions {
  const out: DirectOutboundOptions = { type: "direct", tag };
  readDialFields(o, out);
  // Zero values are what sing-box's omitempty fields read as unset: no override, no warning.
  const addr = o.string("override_address");
  if (addr) out.override_address = addr;
  const port = o.port("override_port");
  if (port) out.override_port = port;
  for (const k of ["override_address", "override_port"] as const) {
    if (out[k]) {
      o.ctx.warn(
        o.keyPos(k),
        o.p(k),
        `destination override fields in direct outbound are deprecated in sing-box 1.11.0 and removed in 1.13.0, use a rule with {"action": "route-options", "${k}": ...} instead; tunbox still honours it`,
      );
    }
  }
  return out;
}

function decodeGroup<T extends "selector" | "urltest">(
  o: Obj,
  type: T,
  tag: string,
): SelectorOutboundOptions | UrlTestOutboundOptions {
  const outbounds = o.tagRefs("outbounds", "outbound");
  if (!o.has("outbounds") || outbounds.length === 0) {
    o.ctx.error(
      o.at("outbounds")?.node ?? o.node,
      o.at("outbounds")?.path ?? o.path,
      'missing "outbounds" (the tags to choose from)',
    );
  }
  const interrupt = o.bool("interrupt_exist_connections");
  if (type === "selector") {
    const out: SelectorOutboundOptions = { type: "selector", tag, outbounds };
    const dflt = o.tagRef("default", "outbound");
    if (dflt !== undefined) {
      out.default = dflt;
      if (outbounds.length > 0 && !outbounds.includes(dflt)) {
        o.ctx.error(
          o.at("default")!.node,
          o.p("default"),
          `default outbound ${JSON.stringify(dflt)} is not in "outbounds"`,
        );
      }
    }
    if (interrupt !== undefined) out.interrupt_exist_connections = interrupt;
    return out;
  }
  const out: UrlTestOutboundOptions = { type: "urltest", tag, outbounds };
  const url = o.optionalString("url");
  if (url !== undefined) {
    const problem = testUrlProblem(url);
    if (problem) o.ctx.error(o.at("url")!.node, o.p("url"), problem);
    else out.url = url;
  }
  const interval = o.duration("interval");
  if (interval !== undefined) out.interval = interval;
  const tolerance = o.int("tolerance", 0, 65535);
  if (tolerance !== undefined) out.tolerance = tolerance;
  const idle = o.duration("idle_timeout");
  if (idle !== undefined) out.idle_timeout = idle;
  if (interrupt !== undefined) out.interrupt_exist_connections = interrupt;
  return out;
}

/** Decodes one entry of `outbounds`. */
export function decodeOutbound(
  ctx: Ctx,
  node: JsonNode,
  path: string,
  index: number,
): OutboundOptions | undefined {
  const o = ctx.object(node, path);
  if (!o) return undefined;
  const tag = defineTag(o, "outbound", index);
  o.known("tag");
  const type = entryType(o, "outbound", OUTBOUND_TYPES);
  if (!type) {
    // A sing-box protocol tunbox does not build: left out, with its verdict (a warning).
    const t = o.find("type")?.value;
    const id = t?.kind === "string" ? featureId("outbound", t.value) : undefined;
    if (id && verdict(id, ctx.os).level === "warning") {
      ctx.leftOut.set(tag, { message: verdict(id).message, path: o.path });
    }
    return undefined;
  }
  const typeAt = o.at("type")!;
  let out: OutboundOptions;
  switch (type) {
    case "shadowsocks":
      out = decodeShadowsocks(o, tag);
      break;
    case "wireguard":
      out = decodeWireguard(o, tag, true);
      break;
    case "vmess":
      out = decodeVmess(o, tag);
      break;
    case "vless":
      out = decodeVless(o, tag);
      break;
    case "trojan":
      out = decodeTrojan(o, tag);
      break;
    case "direct":
      out = decodeDirect(o, tag);
      break;
    case "socks":
      out = decodeSocks(o, tag);
      break;
    case "http":
      out = decodeHttp(o, tag);
      break;
    case "block":
    case "dns":
      out = { type, tag };
      ctx.warn(
        typeAt.node,
        typeAt.path,
        `legacy special outbounds are deprecated in sing-box 1.11.0 and removed in 1.13.0, use the rule action ${
          type === "block" ? '{"action": "reject"}' : '{"action": "hijack-dns"}'
        } instead; tunbox rewrites rules that route to ${JSON.stringify(tag)} that way`,
      );
      break;
    case "selector":
    case "urltest":
      out = decodeGroup(o, type, tag);
      break;
  }
  o.done(` in a "${type}" outbound`);
  if (ctx.leftOut.has(tag)) return undefined;
  ctx.where.set(out, o);
  return out;
}
