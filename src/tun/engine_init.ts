/**
 * What a TUN packet engine ({@linkcode TunEngine} in `engine.ts`) is started with and what it
 * reports. The reactor worker that hosts an engine (`src/worker/`) extends these in its
 * messages; `tun/` never imports `worker/`.
 *
 * @module
 */

import type { Prefix, TunStack } from "../config/types.ts";

/** The engine's part of a TUN worker's `init` message: one TUN queue and how to serve it. */
export interface TunEngineInit {
  /** This worker's index among the TUN's workers. */
  index: number;
  /** How many workers serve the TUN. */
  count: number;
  /** This worker's TUN queue fd (non-blocking). */
  fd: number;
  /** Every worker's queue fd, by worker index (a worker may write on another's queue). */
  queueFds: number[];
  tun: {
    name: string;
    index: number;
    mtu: number;
    packetOffset: number;
    /** Linux checksum and segmentation offload is on (`TunDevice.offload`). */
    offload: boolean;
    addresses: Prefix[];
  };
  inboundTag: string;
  stack: TunStack;
  udpTimeoutMs: number;
  /** System stack: NAT port table shared by all workers. */
  natTable?: SharedArrayBuffer;
  /** System stack: the kernel listener's port per family (0 = that family is not served). */
  natListenPorts?: { v4: number; v6: number };
  /** System stack: the listening fds (made by the main thread, shared by every worker). */
  natListenFds?: number[];
}

/** Counters a worker reports; all monotonic except the `open*` gauges. */
export interface WorkerStats {
  packetsIn: number;
  packetsOut: number;
  packetsDropped: number;
  bytesUp: number;
  bytesDown: number;
  tcpOpen: number;
  udpOpen: number;
  connectionsTotal: number;
}

/** Stats with every counter at zero (a worker without a TUN engine, an engine at start). */
export function zeroStats(): WorkerStats {
  return {
    packetsIn: 0,
    packetsOut: 0,
    packetsDropped: 0,
    bytesUp: 0,
    bytesDown: 0,
    tcpOpen: 0,
    udpOpen: 0,
    connectionsTotal: 0,
  };
}
