/**
 * The `http` outbound: an HTTP/1.1 CONNECT client (RFC 9110 §9.3.6) with Basic proxy
 * authentication and custom headers, over TLS to the proxy when `tls.enabled` (an HTTPS proxy).
 * `path` does not apply to CONNECT and is ignored. TCP only.
 *
 * The response header is read with `peek` and consumed exactly, so bytes the proxy sends after
 * the blank line (the tunnel's first bytes) stay in the socket for the relay.
 * Only `200` is success (as in sing-box); `407` → auth; anything else → refused, with the status
 * line in the message.
 *
 * @module
 */

import type { HttpOutboundOptions } from "../config/types.ts";
import type { Stream } from "../io/stream.ts";
import { formatIp, parseIp } from "../net/ip.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "./direct_dialer.ts";
import { readHeaderBlock, withDeadline, writeAll } from "../io/handshake_io.ts";
import type { OutboundEnv } from "./registry.ts";
import { ServerHealth } from "./server_health.ts";
import { type TlsClientConfig, tlsConnect } from "../tls/client.ts";
import { tlsClientConfig } from "../tls/options.ts";
import {
  type Destination,
  type DialContext,
  type Dialer,
  type DialMeta,
  formatDestination,
  type Outbound,
  OutboundError,
  toOutboundError,
  type UdpFlow,
} from "./types.ts";
import { isSupported, verdict } from "../config/support.ts";
import { headerNameProblem, headerValueProblem } from "../config/values.ts";

const TCP_ONLY: ReadonlySet<"tcp" | "udp"> = new Set(["tcp"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `host:port` for a request target / Host header (`[v6]:port`). */
export function authority(dest: Destination): string {
  if (dest.addr) {
    return dest.addr.length === 16
      ? `[${formatIp(dest.addr)}]:${dest.port}`
      : `${formatIp(dest.addr)}:${dest.port}`;
  }
  return `${dest.domain}:${dest.port}`;
}

/** Parses `HTTP/1.x SSS reason`; returns null when the line is not a status line. */
export function parseStatusLine(line: string): { status: number; reason: string } | null {
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})(?: (.*))?$/.exec(line);
  if (!m) return null;
  return { status: Number(m[1]), reason: m[2] ?? "" };
}

/** An HTTP CONNECT proxy client. */
export class HttpOutbound implements Outbound {
  readonly type = "http";
  readonly networks = TCP_ONLY;
  readonly server: Destination;
  readonly name: string;
  readonly #dialer: Dialer;
  readonly #ctx: DialContext;
  readonly #timeoutMs: number;
  readonly #health: ServerHealth;
  readonly #extraHeaders: string;
  readonly #hostOverride: boolean;
  /** TLS to the proxy itself (`tls.enabled`), else null. */
  readonly #tls: TlsClientConfig | null = null;

  constructor(readonly tag: string, options: HttpOutboundOptions, env: OutboundEnv) {
    this.name = `http outbound "${tag}"`;
    if (options.tls?.enabled) {
      if (!isSupported("outbound.http.tls")) {
        throw new TypeError(verdict("outbound.http.tls").message);
      }
      this.#tls = tlsClientConfig(options.tls, options.server, env.ctx.certificate, this.name);
    }
    const addr = parseIp(options.server);
    this.server = addr
      ? { addr, port: options.server_port }
      : { domain: options.server, port: options.server_port };
    let extra = "";
    if (options.username !== undefined) {
      const token = btoa(
        String.fromCharCode(...encoder.encode(`${options.username}:${options.password ?? ""}`)),
      );
      extra += `Proxy-Authorization: Basic ${token}\r\n`;
    }
    let hostOverride = false;
    for (const [name, values] of Object.entries(options.headers ?? {})) {
      // The same checks as `check` (src/config/values.ts).
      const nameProblem = headerNameProblem(name);
      if (nameProblem) throw new TypeError(`headers: ${nameProblem}`);
      if (name.toLowerCase() === "host") hostOverride = true;
      for (const v of values) {
        const valueProblem = headerValueProblem(v);
        if (valueProblem) throw new TypeError(`headers.${name}: ${valueProblem}`);
        extra += `${name}: ${v}\r\n`;
      }
    }
    this.#extraHeaders = extra;
    this.#hostOverride = hostOverride;
    this.#dialer = env.dialer(this.name, options);
    this.#ctx = env.ctx;
    this.#timeoutMs = options.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#health = new ServerHealth(this.name, formatDestination(this.server));
  }

  /** The CONNECT request for `dest`. */
  request(dest: Destination): string {
    const target = authority(dest);
    const host = this.#hostOverride ? "" : `Host: ${target}\r\n`;
    return `CONNECT ${target} HTTP/1.1\r\n${host}${this.#extraHeaders}\r\n`;
  }

  async dialTcp(dest: Destination, meta: DialMeta): Promise<Stream> {
    const what = `CONNECT ${formatDestination(dest)}`;
    let sock: Stream;
    try {
      sock = await this.#dialer.dialTcp(this.server, meta);
      this.#health.ok();
    } catch (error) {
      const e = toOutboundError(
        error,
        `${this.name}: connect to server ${formatDestination(this.server)}`,
        "refused",
      );
      this.#health.failed(e);
      throw e;
    }
    if (this.#tls) {
      try {
        sock = await tlsConnect(sock, this.#tls, {
          what: `connect to server ${formatDestination(this.server)}`,
          timeoutMs: this.#timeoutMs,
        });
      } catch (error) {
        throw toOutboundError(error, this.name);
      }
    }
    try {
      await withDeadline(
        this.#ctx.reactor,
        sock,
        this.#timeoutMs,
        `${what} via ${formatDestination(this.server)}`,
        async () => {
          await writeAll(sock, encoder.encode(this.request(dest)), "send CONNECT request");
          const header = await readHeaderBlock(sock, "read CONNECT response");
          const text = decoder.decode(header);
          const line = text.slice(0, text.indexOf("\r\n"));
          const status = parseStatusLine(line);
          if (!status) {
            throw new OutboundError(
              "protocol",
              `proxy sent no HTTP status line: ${JSON.stringify(line.slice(0, 64))}`,
            );
          }
          if (status.status === 200) return;
          if (status.status === 407) {
            throw new OutboundError("auth", `proxy requires authentication: "${line}"`);
          }
          throw new OutboundError("refused", `proxy answered "${line}"`);
        },
      );
    } catch (error) {
      sock.close();
      throw toOutboundError(error, `${this.name}: ${what}`);
    }
    return sock;
  }

  openUdp(): Promise<UdpFlow> {
    return Promise.reject(new OutboundError("protocol", `${this.name}: HTTP proxies carry no UDP`));
  }

  close(): void {}
}

/** Registry factory for `http`. */
export function createHttpOutbound(options: HttpOutboundOptions, env: OutboundEnv): Outbound {
  return new HttpOutbound(options.tag, options, env);
}
