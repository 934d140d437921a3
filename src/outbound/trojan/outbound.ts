/**
 * The `trojan` outbound (sing-box `outbound/trojan.md`): Trojan over TLS (and optionally a
 * V2Ray transport), TCP and UDP (one UDP-associate connection per flow carrying every
 * destination).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { TrojanOutboundOptions } from "../../config/types.ts";
import type { Stream } from "../../io/stream.ts";
import { ServerLayers } from "../server_layers.ts";
import { networksOf } from "../proxy_server.ts";
import type { OutboundEnv } from "../registry.ts";
import { type Destination, type DialMeta, type Outbound, type UdpFlow } from "../types.ts";
import { COMMAND_CONNECT, COMMAND_UDP, trojanKey, TrojanStream } from "./stream.ts";

const log = getLogger(["tunbox", "outbound"]);

/** A Trojan client outbound. */
export class TrojanOutbound implements Outbound {
  readonly type = "trojan";
  readonly name: string;
  readonly networks: ReadonlySet<"tcp" | "udp">;
  readonly #key: Uint8Array;
  readonly #layers: ServerLayers;

  constructor(readonly tag: string, options: TrojanOutboundOptions, env: OutboundEnv) {
    this.name = `trojan outbound "${tag}"`;
    this.#layers = new ServerLayers(this.name, options, env);
    this.#key = trojanKey(options.password);
    this.networks = networksOf(options.network);
  }

  #open(dest: Destination, command: number, meta: DialMeta): Promise<TrojanStream> {
    return this.#layers.open(meta, (inner) =>
      new TrojanStream(inner, {
        key: this.#key,
        command,
        dest,
        what: this.name,
        id: meta.id,
      }));
  }

  dialTcp(dest: Destination, meta: DialMeta): Promise<Stream> {
    this.#layers.server.checkNetwork(this.networks, "tcp");
    return this.#open(dest, COMMAND_CONNECT, meta);
  }

  openUdp(meta: DialMeta): Promise<UdpFlow> {
    this.#layers.server.checkNetwork(this.networks, "udp");
    return Promise.resolve(
      new TrojanUdpFlow(this.name, meta, (dest) => this.#open(dest, COMMAND_UDP, meta)),
    );
  }

  close(): void {}
}

/** A UDP flow over one Trojan UDP-associate connection, opened with the first datagram. */
export class TrojanUdpFlow implements UdpFlow {
  onPacket: ((payload: Uint8Array, from: Destination) => void) | null = null;
  onClose: ((reason?: Error) => void) | null = null;
  #dropped = 0;
  #closed = false;
  #stream: TrojanStream | null = null;
  #opening = false;
  #waiting: { payload: Uint8Array; dest: Destination }[] = [];

  constructor(
    readonly name: string,
    readonly meta: DialMeta,
    readonly open: (first: Destination) => Promise<TrojanStream>,
  ) {}

  get dropped(): number {
    return this.#dropped;
  }

  send(payload: Uint8Array, dest: Destination): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    if (this.#stream) {
      if (!this.#stream.sendPacket(dest, payload)) this.#dropped++;
      return;
    }
    if (this.#waiting.length >= 16) this.#dropped++;
    else this.#waiting.push({ payload: payload.slice(), dest });
    if (this.#opening) return;
    this.#opening = true;
    this.open(dest).then((s) => {
      if (this.#closed) {
        s.close();
        return;
      }
      this.#stream = s;
      s.onPacket = (p, from) => this.onPacket?.(p, from);
      s.onHangup = () => this.#end(s.hangupError() ?? undefined);
      for (const w of this.#waiting) if (!s.sendPacket(w.dest, w.payload)) this.#dropped++;
      this.#waiting = [];
    }, (error) => {
      log.debug("[{id}] {name}: UDP associate failed: {error}", {
        id: this.meta.id,
        name: this.name,
        error: error instanceof Error ? error.message : String(error),
      });
      this.#dropped += this.#waiting.length;
      this.#waiting = [];
      this.#end(error instanceof Error ? error : new Error(String(error)));
    });
  }

  #end(reason?: Error): void {
    if (this.#closed) return;
    this.close();
    this.onClose?.(reason);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream?.close();
  }
}

/** Registry factory for `trojan`. */
export function createTrojanOutbound(options: TrojanOutboundOptions, env: OutboundEnv): Outbound {
  return new TrojanOutbound(options.tag, options, env);
}
