/**
 * The `direct` outbound: dials from this host with the dial fields (interface binding, mark,
 * bind addresses, timeouts) so its traffic never loops back into the TUN. UDP flows use one
 * socket per address family. See {@linkcode DirectDialer} for the binding rules.
 *
 * @module
 */

import type { DirectOutboundOptions } from "../config/types.ts";
import type { Stream } from "../io/stream.ts";
import type { OutboundEnv } from "./registry.ts";
import type { Destination, Dialer, DialMeta, Outbound, UdpFlow } from "./types.ts";

const BOTH: ReadonlySet<"tcp" | "udp"> = new Set(["tcp", "udp"]);

/** Dials directly (or through `detour`). */
export class DirectOutbound implements Outbound {
  readonly type = "direct";
  readonly networks = BOTH;
  readonly dialer: Dialer;

  constructor(readonly tag: string, options: DirectOutboundOptions, env: OutboundEnv) {
    this.dialer = env.dialer(`direct outbound "${tag}"`, options);
  }

  dialTcp(dest: Destination, meta: DialMeta): Promise<Stream> {
    return this.dialer.dialTcp(dest, meta);
  }

  openUdp(meta: DialMeta): Promise<UdpFlow> {
    return this.dialer.openUdp(meta);
  }

  close(): void {}
}

/** Registry factory for `direct`. */
export function createDirectOutbound(options: DirectOutboundOptions, env: OutboundEnv): Outbound {
  return new DirectOutbound(options.tag, options, env);
}
