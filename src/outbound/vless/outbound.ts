/**
 * The `vless` outbound (sing-box `outbound/vless.md`): VLESS without a flow over TLS and the
 * V2Ray transports; UDP as one connection per destination (`packet_encoding` ""; the default
 * `xudp` and `packetaddr` fall back to it with a warning). `flow: "xtls-rprx-vision"` is
 * refused with its verdict.
 *
 * @module
 */

import type { VlessOutboundOptions } from "../../config/types.ts";
import { verdict } from "../../config/support.ts";
import type { Stream } from "../../io/stream.ts";
import { ServerLayers } from "../server_layers.ts";
import { networksOf } from "../proxy_server.ts";
import type { OutboundEnv } from "../registry.ts";
import { type Destination, type DialMeta, type Outbound, type UdpFlow } from "../types.ts";
import { PerDestinationUdpFlow } from "../udp_per_destination.ts";
import { parseUserId } from "../vmess/protocol.ts";
import { COMMAND_TCP, COMMAND_UDP, VlessStream } from "./stream.ts";

/** A VLESS client outbound. */
export class VlessOutbound implements Outbound {
  readonly type = "vless";
  readonly name: string;
  readonly networks: ReadonlySet<"tcp" | "udp">;
  readonly #uuid: Uint8Array;
  readonly #layers: ServerLayers;

  constructor(readonly tag: string, options: VlessOutboundOptions, env: OutboundEnv) {
    this.name = `vless outbound "${tag}"`;
    if (options.flow) throw new TypeError(verdict("outbound.vless.flow").message);
    this.#layers = new ServerLayers(this.name, options, env);
    this.#uuid = parseUserId(options.uuid);
    this.networks = networksOf(options.network);
  }

  #open(dest: Destination, command: number, meta: DialMeta): Promise<VlessStream> {
    return this.#layers.open(meta, (inner) =>
      new VlessStream(inner, {
        uuid: this.#uuid,
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

/** Registry factory for `vless`. */
export function createVlessOutbound(options: VlessOutboundOptions, env: OutboundEnv): Outbound {
  return new VlessOutbound(options.tag, options, env);
}
