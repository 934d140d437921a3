/**
 * The `vmess` outbound (sing-box `outbound/vmess.md`): VMess AEAD (`alter_id` 0) over TCP,
 * TLS and the V2Ray transports; security `auto` (AES-128-GCM, or `none` under TLS, as sing-box
 * chooses), `aes-128-gcm`, `chacha20-poly1305`, `none`/`zero`; `global_padding` and
 * `authenticated_length`. UDP is VMess's own: one connection per destination, each datagram a
 * chunk (`packet_encoding` ""; `packetaddr` and `xudp` fall back to it with a warning).
 *
 * @module
 */

import type { VmessOutboundOptions } from "../../config/types.ts";
import { verdict } from "../../config/support.ts";
import type { Stream } from "../../io/stream.ts";
import { ServerLayers } from "../server_layers.ts";
import { networksOf } from "../proxy_server.ts";
import type { OutboundEnv } from "../registry.ts";
import { type Destination, type DialMeta, type Outbound, type UdpFlow } from "../types.ts";
import { PerDestinationUdpFlow } from "../udp_per_destination.ts";
import {
  COMMAND_TCP,
  COMMAND_UDP,
  commandKey,
  parseUserId,
  SECURITY_AES_128_GCM,
  SECURITY_CHACHA20_POLY1305,
  SECURITY_NONE,
} from "./protocol.ts";
import { vmessConnect } from "./stream.ts";

/** A VMess client outbound. */
export class VmessOutbound implements Outbound {
  readonly type = "vmess";
  readonly name: string;
  readonly networks: ReadonlySet<"tcp" | "udp">;
  readonly security: number;
  readonly #cmdKey: Uint8Array;
  readonly #layers: ServerLayers;
  readonly #options: VmessOutboundOptions;

  constructor(readonly tag: string, options: VmessOutboundOptions, env: OutboundEnv) {
    this.name = `vmess outbound "${tag}"`;
    if ((options.alter_id ?? 0) > 0) {
      throw new TypeError(verdict("outbound.vmess.alter_id").message);
    }
    this.#layers = new ServerLayers(this.name, options, env);
    let security = options.security || "auto";
    if (security === "auto" && options.tls?.enabled) security = "zero";
    switch (security) {
      case "auto":
      case "aes-128-gcm":
        this.security = SECURITY_AES_128_GCM;
        break;
      case "chacha20-poly1305":
        this.security = SECURITY_CHACHA20_POLY1305;
        break;
      case "none":
      case "zero":
        this.security = SECURITY_NONE;
        break;
      default:
        throw new TypeError(verdict("outbound.vmess.security.aes-128-ctr").message);
    }
    this.#cmdKey = commandKey(parseUserId(options.uuid));
    this.networks = networksOf(options.network);
    this.#options = options;
  }

  #open(dest: Destination, command: number, meta: DialMeta): Promise<Stream> {
    return this.#layers.open(meta, (inner) =>
      vmessConnect(inner, {
        cmdKey: this.#cmdKey,
        security: this.security,
        globalPadding: this.#options.global_padding ?? false,
        authenticatedLength: this.#options.authenticated_length ?? false,
        command,
        dest,
        what: this.name,
        id: meta.id,
      }));
  }

  dialTcp(dest: Destination, meta: DialMeta): Promise<Stream> {
    this.#layers.server.checkNetwork(this.networks, "tcp");
    return this.#open(dest, COMMAND_TCP, meta);
  }

  openUdp(meta: DialMeta): Promise<UdpFlow> {
    this.#layers.server.checkNetwork(this.networks, "udp");
    return Promise.resolve(
      new PerDestinationUdpFlow(this.name, meta, (dest) => this.#open(dest, COMMAND_UDP, meta)),
    );
  }

  close(): void {}
}

/** Registry factory for `vmess`. */
export function createVmessOutbound(options: VmessOutboundOptions, env: OutboundEnv): Outbound {
  return new VmessOutbound(options.tag, options, env);
}
