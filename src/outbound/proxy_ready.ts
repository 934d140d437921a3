/**
 * Start order with a local proxy: when tunbox starts before the SOCKS/HTTP server it forwards to
 * (both started at boot, or the proxy app restarting), installing routes at once would capture
 * every connection into an outbound that refuses them. The TUN inbound therefore waits, bounded
 * by its `proxy_ready_timeout` (default {@linkcode DEFAULT_PROXY_READY_TIMEOUT_MS}), until each
 * local proxy outbound accepts a handshake: for SOCKS5 the method negotiation (a greeting
 * answered by a version-5 reply), for SOCKS4 and HTTP an accepted TCP connection. After the
 * timeout it starts anyway and says so.
 *
 * Local means the server is a loopback address, `localhost`, or an address of this machine
 * (`localAddresses`); a remote proxy does not delay the start, and outbounds with a `detour`
 * are not probed (their path is another outbound).
 *
 * Runs on the main thread with Deno's own sockets, before anything is installed.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Options, OutboundOptions } from "../config/types.ts";
import { formatIp, isLoopback, parseIp } from "../net/ip.ts";

const log = getLogger(["tunbox", "outbound"]);

/** Default of the tun inbound's `proxy_ready_timeout`. */
export const DEFAULT_PROXY_READY_TIMEOUT_MS = 5000;
/** Pause between probes of a proxy that is not ready. */
const RETRY_MS = 100;
/** Longest a single probe may take. */
const PROBE_TIMEOUT_MS = 1000;

/** A socks/http outbound whose server runs on this machine. */
export interface LocalProxy {
  tag: string;
  type: "socks" | "http";
  /** SOCKS version ("5" unless configured). */
  version: "4" | "4a" | "5";
  /** IP literal to connect to. */
  host: string;
  port: number;
  /** The SOCKS5 greeting offers username/password too. */
  auth: boolean;
}

/** `127.0.0.1:1080` or `[::1]:1080`. */
export function formatProxy(p: LocalProxy): string {
  return p.host.includes(":") ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`;
}

/**
 * The outbounds to wait for: `socks` and `http` without `detour` whose server is loopback,
 * `localhost` or one of `localAddresses`.
 */
export function localProxies(
  outbounds: readonly OutboundOptions[],
  localAddresses: readonly Uint8Array[] = [],
): LocalProxy[] {
  const local = new Set(localAddresses.map(formatIp));
  const out: LocalProxy[] = [];
  for (const o of outbounds) {
    if (o.type !== "socks" && o.type !== "http") continue;
    if (o.detour) continue;
    let host: string;
    if (o.server === "localhost") host = "127.0.0.1";
    else {
      const addr = parseIp(o.server.startsWith("[") ? o.server.slice(1, -1) : o.server);
      if (!addr || !(isLoopback(addr) || local.has(formatIp(addr)))) continue;
      host = formatIp(addr);
    }
    out.push({
      tag: o.tag,
      type: o.type,
      version: o.type === "socks" ? o.version ?? "5" : "5",
      host,
      port: o.server_port,
      auth: o.username !== undefined,
    });
  }
  return out;
}

/** Resolves when `p` accepts a handshake; rejects with the reason (refused, timeout, garbage). */
export async function probeProxy(p: LocalProxy, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let conn: Deno.TcpConn | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      conn?.close();
      conn = undefined;
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const attempt = async () => {
    conn = await Deno.connect({ hostname: p.host, port: p.port });
    if (p.type !== "socks" || p.version !== "5") return;
    await conn.write(p.auth ? Uint8Array.of(5, 2, 0, 2) : Uint8Array.of(5, 1, 0));
    const reply = new Uint8Array(2);
    let got = 0;
    while (got < 2) {
      const n = await conn.read(reply.subarray(got));
      if (n === null) throw new Error("closed before answering the SOCKS5 greeting");
      got += n;
    }
    if (reply[0] !== 5) {
      throw new Error(`answered the SOCKS5 greeting with version ${reply[0]}`);
    }
  };
  try {
    await Promise.race([attempt(), timeout]);
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* already closed */ }
  }
}

function reason(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "connection refused";
  return error instanceof Error ? error.message : String(error);
}

/** What {@linkcode waitForLocalProxies} found. */
export interface ProxyWaitResult {
  /** Tags of the proxies that accepted a handshake. */
  ready: string[];
  /** Tags of the proxies that did not within the timeout. */
  notReady: string[];
  /** How long the wait took, ms. */
  waitedMs: number;
}

/**
 * Probes every proxy until it accepts a handshake or `timeoutMs` has passed, logging the wait
 * (only when a proxy was not ready at once), each proxy that became ready, and each that did
 * not. `timeoutMs` 0 probes nothing.
 */
export async function waitForLocalProxies(
  proxies: readonly LocalProxy[],
  timeoutMs: number,
): Promise<ProxyWaitResult> {
  const started = performance.now();
  const result: ProxyWaitResult = { ready: [], notReady: [], waitedMs: 0 };
  if (timeoutMs <= 0 || proxies.length === 0) return result;
  const deadline = started + timeoutMs;
  await Promise.all(proxies.map(async (p) => {
    let announced = false;
    for (;;) {
      const left = deadline - performance.now();
      try {
        await probeProxy(p, Math.max(1, Math.min(PROBE_TIMEOUT_MS, left)));
        const waited = performance.now() - started;
        if (announced) {
          log.info("local proxy outbound/{type}[{tag}] at {addr} is ready after {seconds} s", {
            type: p.type,
            tag: p.tag,
            addr: formatProxy(p),
            seconds: (waited / 1000).toFixed(2),
          });
        } else {
          log.debug("local proxy outbound/{type}[{tag}] at {addr} is ready", {
            type: p.type,
            tag: p.tag,
            addr: formatProxy(p),
          });
        }
        result.ready.push(p.tag);
        return;
      } catch (error) {
        if (performance.now() + RETRY_MS >= deadline) {
          log.warn(
            "local proxy outbound/{type}[{tag}] at {addr} did not accept a handshake within {seconds} s ({reason}); starting anyway: connections through it fail until it is up",
            {
              type: p.type,
              tag: p.tag,
              addr: formatProxy(p),
              seconds: (timeoutMs / 1000).toFixed(1),
              reason: reason(error),
            },
          );
          result.notReady.push(p.tag);
          return;
        }
        if (!announced) {
          announced = true;
          log.info(
            "waiting up to {seconds} s for local proxy outbound/{type}[{tag}] at {addr} to accept a handshake before installing routes ({reason})",
            {
              seconds: (timeoutMs / 1000).toFixed(1),
              type: p.type,
              tag: p.tag,
              addr: formatProxy(p),
              reason: reason(error),
            },
          );
        }
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }));
  result.waitedMs = performance.now() - started;
  return result;
}

/** The longest `proxy_ready_timeout` of the config's tun inbounds (default when unset). */
export function proxyReadyTimeout(options: Options): number {
  let ms = -1;
  for (const i of options.inbounds) {
    if (i.type !== "tun") continue;
    ms = Math.max(ms, i.proxy_ready_timeout ?? DEFAULT_PROXY_READY_TIMEOUT_MS);
  }
  return Math.max(0, ms);
}
