/**
 * The `block` outbound (deprecated in sing-box in favour of the `reject` action): every dial
 * fails at once with kind `blocked`, which the router turns into a TCP reset.
 *
 * @module
 */

import type { BlockOutboundOptions } from "../config/types.ts";
import type { Stream } from "../io/stream.ts";
import {
  type Destination,
  formatDestination,
  type Outbound,
  OutboundError,
  type UdpFlow,
} from "./types.ts";

const BOTH: ReadonlySet<"tcp" | "udp"> = new Set(["tcp", "udp"]);

/** Refuses every connection. */
export class BlockOutbound implements Outbound {
  readonly type = "block";
  readonly networks = BOTH;

  constructor(readonly tag: string) {}

  dialTcp(dest: Destination): Promise<Stream> {
    return Promise.reject(
      new OutboundError(
        "blocked",
        `block outbound "${this.tag}": connection to ${formatDestination(dest)} blocked`,
      ),
    );
  }

  openUdp(): Promise<UdpFlow> {
    return Promise.reject(
      new OutboundError("blocked", `block outbound "${this.tag}": UDP blocked`),
    );
  }

  close(): void {}
}

/** Registry factory for `block`. */
export function createBlockOutbound(options: BlockOutboundOptions): Outbound {
  return new BlockOutbound(options.tag);
}
