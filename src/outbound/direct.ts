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
import { DirectDialer } from "./direct_dialer.ts";
import { DirectIcmpFlow } from "./direct_icmp.ts";
import {
  type Destination,
  type Dialer,
  type DialMeta,
  type IcmpFlow,
  type Outbound,
  OutboundError,
  type UdpFlow,
} from "./types.ts";

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

  /**
   * Real ICMP echo from this host (see `direct_icmp.ts`). Through a `detour` there is no host
   * socket to send from, so the request fails as on an outbound without ICMP.
   */
  openIcmp(destination: Uint8Array, meta: DialMeta): IcmpFlow {
    if (!(this.dialer instanceof DirectDialer)) {
      throw new OutboundError(
        "unreachable",
        `direct outbound "${this.tag}": icmp is not supported through detour`,
      );
    }
    return new DirectIcmpFlow(this.dialer, destination, meta);
  }

  close(): void {}
}

/** Registry factory for `direct`. */
export function createDirectOutbound(options: DirectOutboundOptions, env: OutboundEnv): Outbound {
  return new DirectOutbound(options.tag, options, env);
}
