/**
 * Real SOCKS servers from Debian, started on loopback with a random port and stopped by PID:
 * dante (`danted`), `microsocks`, and V2Ray's socks inbound (`v2ray`).
 */

import type { Reactor } from "../../src/io/reactor.ts";
import { freePort, type Peer, startPeer, tool } from "./_helpers.ts";

async function withTempDir(peer: (dir: string) => Promise<Peer>): Promise<Peer> {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-peer-" });
  try {
    const p = await peer(dir);
    const stop = p.stop;
    p.stop = async () => {
      await stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    };
    return p;
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

/** dante on 127.0.0.1:<random> with no authentication; CONNECT and UDP ASSOCIATE allowed. */
export function startDanted(r: Reactor): Promise<Peer> {
  const danted = tool("danted", "dante-server");
  return withTempDir(async (dir) => {
    const port = freePort();
    const conf = `${dir}/danted.conf`;
    await Deno.writeTextFile(
      conf,
      `logoutput: stderr
internal: 127.0.0.1 port = ${port}
external: lo
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect udpassociate udpreply }
`,
    );
    return await startPeer(r, danted, ["-f", conf, "-p", `${dir}/danted.pid`, "-N", "1"], port);
  });
}

/** microsocks on 127.0.0.1:<random>, with `-u/-P` when credentials are given (TCP only). */
export function startMicrosocks(r: Reactor, user?: string, pass?: string): Promise<Peer> {
  const bin = tool("microsocks", "microsocks");
  const port = freePort();
  const args = ["-i", "127.0.0.1", "-p", String(port)];
  if (user !== undefined) args.push("-u", user, "-P", pass ?? "");
  return startPeer(r, bin, args, port);
}

/** V2Ray's socks inbound (UDP enabled) on 127.0.0.1:<random> with a freedom outbound. */
export function startV2ray(r: Reactor, user?: string, pass?: string): Promise<Peer> {
  const v2ray = tool("v2ray", "v2ray");
  return withTempDir(async (dir) => {
    const port = freePort();
    const settings: Record<string, unknown> = { udp: true, ip: "127.0.0.1" };
    if (user !== undefined) {
      settings.auth = "password";
      settings.accounts = [{ user, pass: pass ?? "" }];
    } else {
      settings.auth = "noauth";
    }
    const config = {
      log: { loglevel: "warning" },
      inbounds: [{ listen: "127.0.0.1", port, protocol: "socks", settings }],
      outbounds: [{ protocol: "freedom" }],
    };
    const file = `${dir}/config.json`;
    await Deno.writeTextFile(file, JSON.stringify(config));
    return await startPeer(r, v2ray, ["-config", file], port, {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      V2RAY_LOCATION_ASSET: dir,
    });
  });
}

/**
 * V2Ray 4.34 as a client: a SOCKS5 inbound on 127.0.0.1:<random> (no auth) whose traffic goes
 * out through `outbound` (a V2Ray outbound object: vmess, vless, trojan...).
 */
export function startV2rayClient(r: Reactor, outbound: Record<string, unknown>): Promise<Peer> {
  const v2ray = tool("v2ray", "v2ray");
  return withTempDir(async (dir) => {
    const port = freePort();
    const config = {
      log: { loglevel: "warning" },
      inbounds: [{
        listen: "127.0.0.1",
        port,
        protocol: "socks",
        settings: { auth: "noauth", udp: false },
      }],
      outbounds: [outbound],
    };
    const file = `${dir}/config.json`;
    await Deno.writeTextFile(file, JSON.stringify(config));
    return await startPeer(r, v2ray, ["-config", file], port, {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      V2RAY_LOCATION_ASSET: dir,
    });
  });
}

/**
 * shadowsocks-libev's `ss-server` on 127.0.0.1:<random> (TCP and UDP, `-v` so its log names
 * each connection), with `method` and `password`.
 */
export function startSsServer(r: Reactor, method: string, password: string): Promise<Peer> {
  const bin = tool("ss-server", "shadowsocks-libev");
  const port = freePort();
  return startPeer(r, bin, [
    "-s",
    "127.0.0.1",
    "-p",
    String(port),
    "-m",
    method,
    "-k",
    password,
    "-u",
    "-v",
    "--no-delay",
  ], port);
}

/** shadowsocks-libev's `ss-local` on 127.0.0.1:<random>, a SOCKS5 front for `server:port`. */
export function startSsLocal(
  r: Reactor,
  serverPort: number,
  method: string,
  password: string,
): Promise<Peer> {
  const bin = tool("ss-local", "shadowsocks-libev");
  const port = freePort();
  return startPeer(r, bin, [
    "-s",
    "127.0.0.1",
    "-p",
    String(serverPort),
    "-l",
    String(port),
    "-b",
    "127.0.0.1",
    "-m",
    method,
    "-k",
    password,
  ], port);
}

/** Options of {@linkcode startV2rayServer}. */
export interface V2rayServerOptions {
  protocol: "vmess" | "vless" | "trojan";
  /** VMess/VLESS uuid or Trojan password. */
  secret: string;
  /** `streamSettings` (transport, TLS). */
  stream?: Record<string, unknown>;
  /** Loglevel; "info" logs each accepted connection ("accepted tcp:..."). */
  loglevel?: string;
}

/**
 * V2Ray 4.34 as a VMess, VLESS or Trojan server on 127.0.0.1:<random> with a freedom outbound
 * (so it connects to loopback destinations itself).
 */
export function startV2rayServer(r: Reactor, o: V2rayServerOptions): Promise<Peer> {
  const v2ray = tool("v2ray", "v2ray");
  return withTempDir(async (dir) => {
    const port = freePort();
    const settings = o.protocol === "vmess"
      ? { clients: [{ id: o.secret, alterId: 0 }] }
      : o.protocol === "vless"
      ? { clients: [{ id: o.secret }], decryption: "none" }
      : { clients: [{ password: o.secret }] };
    const config = {
      log: { loglevel: o.loglevel ?? "info" },
      inbounds: [{
        listen: "127.0.0.1",
        port,
        protocol: o.protocol,
        settings,
        ...(o.stream ? { streamSettings: o.stream } : {}),
      }],
      outbounds: [{ protocol: "freedom" }],
    };
    const file = `${dir}/config.json`;
    await Deno.writeTextFile(file, JSON.stringify(config));
    return await startPeer(r, v2ray, ["-config", file], port, {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      V2RAY_LOCATION_ASSET: dir,
    });
  });
}

/**
 * trojan-gfw (`trojan`) as a server on 127.0.0.1:<random> with the certificate `cert`/`key`;
 * unknown clients go to `fallbackPort` on 127.0.0.1 (trojan's "remote_addr").
 */
export function startTrojanServer(
  r: Reactor,
  password: string,
  cert: string,
  key: string,
  fallbackPort: number,
): Promise<Peer> {
  const bin = tool("trojan", "trojan");
  return withTempDir(async (dir) => {
    const port = freePort();
    const config = {
      run_type: "server",
      local_addr: "127.0.0.1",
      local_port: port,
      remote_addr: "127.0.0.1",
      remote_port: fallbackPort,
      password: [password],
      log_level: 1,
      ssl: { cert, key, alpn: ["http/1.1"], reuse_session: true, session_ticket: false },
      tcp: { no_delay: true, keep_alive: true, reuse_port: false },
    };
    const file = `${dir}/config.json`;
    await Deno.writeTextFile(file, JSON.stringify(config));
    return await startPeer(r, bin, ["-c", file], port);
  });
}
