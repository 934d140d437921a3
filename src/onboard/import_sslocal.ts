/**
 * shadowsocks-libev `ss-local` JSON (and shadowsocks-rust's `sslocal` with `servers`/`locals`)
 * → a sing-box config of the same shape: a `socks` inbound on `local_address:local_port` and a
 * `shadowsocks` outbound per server (a `urltest` over them when there are several).
 *
 * @module
 */

import {
  Drops,
  type Imported,
  ImportError,
  list,
  type LocalListener,
  portOf,
  type RemoteServer,
  str,
  Tags,
} from "./convert.ts";
import { commented, type Jsonc } from "./jsonc_writer.ts";

type O = Record<string, unknown>;

/** True when `root` looks like an ss-local/sslocal config. */
export function isSsLocalConfig(root: O): boolean {
  return ("server" in root && "method" in root) || ("servers" in root && "local_port" in root) ||
    ("servers" in root && "locals" in root) ||
    list(root, "servers").some((s) => typeof s === "object" && s !== null && "method" in s);
}

/** Converts a parsed ss-local config. Throws {@linkcode ImportError} for non-configs. */
export function importSsLocal(root: O): Imported {
  if (!isSsLocalConfig(root)) {
    throw new ImportError("not an ss-local config: no server and method");
  }
  const drops = new Drops();
  const tags = new Tags();
  const servers: RemoteServer[] = [];
  const outbounds: Jsonc[] = [];
  // ss-libev: one server (its "server" may be a list of addresses); ss-rust: "servers".
  const entries: O[] = "servers" in root && Array.isArray(root.servers)
    ? (root.servers as O[])
    : list(root, "server").map((addr) => ({ ...root, server: addr }));
  entries.forEach((e, i) => {
    const host = str(e, "server") || str(e, "address");
    const port = portOf(e.server_port ?? e.port);
    const method = str(e, "method") || str(root, "method");
    const password = str(e, "password") || str(root, "password");
    if (!host || port === 0) {
      outbounds.push(drops.drop(`servers[${i}]`, "it has no server address and port"));
      return;
    }
    const tag = tags.take(str(e, "remarks") || "proxy");
    const out: Record<string, Jsonc> = {
      type: "shadowsocks",
      tag,
      server: host,
      server_port: port,
      method,
      password,
    };
    const plugin = str(e, "plugin") || str(root, "plugin");
    if (plugin) {
      out.plugin = plugin.includes("obfs") ? "obfs-local" : plugin;
      const opts = str(e, "plugin_opts") || str(root, "plugin_opts");
      if (opts) out.plugin_opts = opts;
    }
    const mode = str(e, "mode") || str(root, "mode") || "tcp_only";
    if (mode === "tcp_only") out.network = "tcp";
    outbounds.push(out);
    servers.push({ tag, protocol: "shadowsocks", host, port });
  });
  if (servers.length === 0) throw new ImportError("the ss-local config names no usable server");
  let proxyTag = servers[0]!.tag;
  if (servers.length > 1) {
    proxyTag = tags.take("auto");
    outbounds.push({ type: "urltest", tag: proxyTag, outbounds: servers.map((s) => s.tag) });
  }
  const direct = tags.take("direct");
  outbounds.push({ type: "direct", tag: direct });

  const listeners: LocalListener[] = [];
  const inbounds: Jsonc[] = [];
  const locals: O[] = Array.isArray(root.locals)
    ? (root.locals as O[])
    : [{ local_address: root.local_address, local_port: root.local_port, mode: root.mode }];
  locals.forEach((l, i) => {
    const port = portOf(l.local_port);
    const protocol = str(l, "protocol") || "socks";
    if (port === 0) return;
    if (protocol !== "socks" && protocol !== "http") {
      inbounds.push(drops.drop(`locals[${i}] (${protocol})`, "tunbox has no such inbound"));
      return;
    }
    const listen = str(l, "local_address") || "127.0.0.1";
    const type = protocol === "http" ? "http" : "socks";
    const mode = str(l, "mode") || str(root, "mode") || "tcp_only";
    const udp = type === "socks" ? mode !== "tcp_only" : null;
    const ib: Record<string, Jsonc> = {
      type,
      tag: tags.take(`${type}-in`),
      listen,
      listen_port: port,
    };
    inbounds.push(
      udp === false
        ? commented(ib, [
          'ss-local ran without UDP (-u / "mode": "tcp_and_udp"); sing-box\'s socks inbound always accepts UDP',
        ])
        : ib,
    );
    listeners.push({ type, listen, port, udp, users: [] });
  });
  const config: Record<string, Jsonc> = {
    log: { level: "info", timestamp: true },
    ...(inbounds.length > 0 ? { inbounds } : {}),
    outbounds,
    route: { final: proxyTag },
  };
  const nameserver = str(root, "nameserver");
  if (nameserver) {
    config.dns = {
      servers: [{ type: "udp", tag: "remote", server: nameserver, detour: proxyTag }],
      final: "remote",
    };
  }
  return {
    format: "shadowsocks ss-local JSON",
    config,
    listeners,
    servers,
    proxyTag,
    dropped: drops.lines,
  };
}
