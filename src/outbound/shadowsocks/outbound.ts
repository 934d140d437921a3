/**
 * The `shadowsocks` outbound (sing-box `outbound/shadowsocks.md`): TCP and UDP through a
 * shadowsocks server with the AEAD, 2022 or `none` methods ({@linkcode ShadowsocksStream},
 * {@linkcode ShadowsocksUdpFlow}).
 *
 * Refused at config time, each with its verdict's message: SIP003 `plugin`s, `udp_over_tcp`
 * (a sing-box protocol that needs a sing-box server), and the stream ciphers; `multiplex` is
 * ignored with a warning (each connection has its own server connection).
 *
 * @module
 */

import type { ShadowsocksOutboundOptions } from "../../config/types.ts";
import { verdict } from "../../config/support.ts";
import type { Stream } from "../../io/stream.ts";
import { networksOf, ServerConnector } from "../proxy_server.ts";
import type { OutboundEnv } from "../registry.ts";
import {
  type Destination,
  type DialMeta,
  type Outbound,
  toOutboundError,
  type UdpFlow,
} from "../types.ts";
import { type ShadowsocksKeys, shadowsocksKeys, shadowsocksMethod } from "./method.ts";
import { shadowsocksConnect } from "./tcp.ts";
import { ShadowsocksUdpFlow } from "./udp.ts";

/** A shadowsocks client outbound. */
export class ShadowsocksOutbound implements Outbound {
  readonly type = "shadowsocks";
  readonly name: string;
  readonly networks: ReadonlySet<"tcp" | "udp">;
  readonly keys: ShadowsocksKeys;
  readonly #server: ServerConnector;

  constructor(readonly tag: string, options: ShadowsocksOutboundOptions, env: OutboundEnv) {
    this.name = `shadowsocks outbound "${tag}"`;
    if (options.plugin) throw new TypeError(verdict("outbound.shadowsocks.plugin").message);
    if (options.udp_over_tcp?.enabled) {
      throw new TypeError(verdict("outbound.shadowsocks.udp_over_tcp").message);
    }
    this.keys = shadowsocksKeys(shadowsocksMethod(options.method), options.password ?? "");
    this.networks = networksOf(options.network);
    this.#server = new ServerConnector(
      this.name,
      options.server,
      options.server_port,
      options,
      env,
    );
  }

  async dialTcp(dest: Destination, meta: DialMeta): Promise<Stream> {
    this.#server.checkNetwork(this.networks, "tcp");
    const sock = await this.#server.connect(meta);
    try {
      return await shadowsocksConnect(sock, {
        keys: this.keys,
        dest,
        what: this.name,
        id: meta.id,
      });
    } catch (error) {
      sock.abort();
      throw toOutboundError(error, `${this.name}: start session`);
    }
  }

  async openUdp(meta: DialMeta): Promise<UdpFlow> {
    this.#server.checkNetwork(this.networks, "udp");
    const inner = await this.#server.openUdp(meta);
    return new ShadowsocksUdpFlow(this.keys, inner, this.#server.server);
  }

  close(): void {}
}

/** Registry factory for `shadowsocks`. */
export function createShadowsocksOutbound(
  options: ShadowsocksOutboundOptions,
  env: OutboundEnv,
): Outbound {
  return new ShadowsocksOutbound(options.tag, options, env);
}
