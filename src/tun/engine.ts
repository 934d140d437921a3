/**
 * The packet engine of one worker: reads its TUN queue, hands each packet to the
 * {@linkcode Dispatcher} (IP parsing, fragment reassembly), and from there to the stack the
 * inbound uses (ICMP echo goes to `icmp_flows.ts`, routed like any flow):
 *
 * - `system`: TCP goes through the NAT rewrite and back into the TUN (the kernel terminates it;
 *   see `system_stack.ts`); UDP in userspace sessions.
 * - `gvisor`: TCP goes to tunbox's userspace TCP (`userspace_stack.ts`); UDP likewise.
 * - `mixed`: as `system` (sing-box's split: kernel TCP, userspace UDP).
 *
 * Every packet read is handled before the next read reuses the buffer: the NAT rewrites it in
 * place and writes it back; the userspace stacks copy only what they must keep.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Reactor } from "../io/reactor.ts";
import { EV_READ, fdRead, fdWrite, WOULD_BLOCK } from "../io/sys.ts";
import { nextIp } from "../net/ip.ts";
import type { ConnectionPath } from "../conn/mod.ts";
import { Dispatcher } from "../stack/dispatch.ts";
import type { NatFamily } from "../stack/nat.ts";
import { NatTable } from "../stack/nat_table.ts";
import { TcpStack } from "../stack/tcp/mod.ts";
import { SystemStack } from "./system_stack.ts";
import { UdpFlows } from "./udp_flows.ts";
import { IcmpFlows } from "./icmp_flows.ts";
import { Impairment, parseImpair } from "./impair.ts";
import {
  frameForTun,
  setVnetTcpHeader,
  unframe,
  VNET_HDR_LEN,
  vnetPartialChecksum,
} from "./framing.ts";
import { UserspaceFlows } from "./userspace_stack.ts";
import { type TunEngineInit, type WorkerStats, zeroStats } from "./engine_init.ts";

const log = getLogger(["tunbox", "tun"]);

/** The largest IP packet a TUN with segmentation offload hands over, whatever its MTU. */
const OFFLOAD_MAX_PACKET = 65535;
/** Packets read per readiness event before other fds get a turn. */
const READ_BUDGET = 128;
/** How often NAT sessions are swept. */
const NAT_SWEEP_MS = 5_000;

/** One worker's packet loop and stacks. */
export class TunEngine {
  readonly stats: WorkerStats = zeroStats();
  readonly #fd: number;
  readonly #offset: number;
  readonly #rx: Uint8Array;
  /** `#rx` after the platform prefix: where the IP packet read starts. */
  readonly #rxIp: Uint8Array;
  /** The userspace stack's packet buffer from its virtio_net_hdr on (offload). */
  #tcpFrame: Uint8Array | null = null;
  /** Scratch for packets that have no room for the platform prefix before them. */
  readonly #tx: Uint8Array;
  readonly #dispatcher: Dispatcher;
  readonly #udp: UdpFlows;
  readonly #icmp: IcmpFlows;
  #system: SystemStack | null = null;
  #tcp: TcpStack | null = null;
  #tcpTimer: { cancel(): void; deadline: number } | null = null;
  #sweep: { cancel(): void } | null = null;
  /** `TUNBOX_IMPAIR` fault injection (tests on kernels without netem). */
  #impair: Impairment | null = null;
  /** Packets the TUN did not take (counted with the dispatcher's drops in snapshots). */
  #writeDrops = 0;
  /** Frames read from the TUN whose prefix did not announce their packet (utun). */
  #readDrops = 0;

  constructor(
    readonly init: TunEngineInit,
    readonly reactor: Reactor,
    /** Where new flows go (route, dial, relay, record). */
    readonly path: ConnectionPath,
    /** The shared listening fds of the system stack (from the main thread). */
    listenFds: readonly number[] = [],
  ) {
    this.#fd = init.fd;
    this.#offset = init.tun.packetOffset;
    const largest = init.tun.offload ? OFFLOAD_MAX_PACKET : Math.max(init.tun.mtu, 1500);
    const size = this.#offset + largest + 64;
    this.#rx = new Uint8Array(size);
    this.#rxIp = this.#offset === 0 ? this.#rx : this.#rx.subarray(this.#offset);
    this.#tx = new Uint8Array(size);
    const headroom = Math.max(16, this.#offset);
    this.#udp = new UdpFlows(
      reactor,
      path,
      init.inboundTag,
      (pkt) => this.#writePacket(pkt, pkt.length),
      init.udpTimeoutMs,
      headroom,
    );
    if (init.stack === "system" || init.stack === "mixed") {
      if (!init.natTable) throw new TypeError(`stack "${init.stack}" needs a NAT table`);
      const table = new NatTable(init.natTable, init.index, init.count, init.udpTimeoutMs);
      const system = this.#system = new SystemStack(
        reactor,
        path,
        table,
        this.#natFamily(4),
        this.#natFamily(6),
        listenFds,
        init.inboundTag,
      );
      system.writeBack = (pkt, len, worker, rewritten) =>
        this.#writePacket(pkt, len, this.init.queueFds[worker] ?? this.#fd, rewritten);
      this.#sweep = this.#scheduleSweep();
    } else {
      const flows = new UserspaceFlows(reactor, path, init.inboundTag);
      // With offload, TCP leaves with partial checksums and as super segments of up to 64 KiB
      // that the kernel cuts (or takes whole, for a local socket) whatever the MTU.
      const offload = init.tun.offload && this.#offset === VNET_HDR_LEN;
      this.#tcp = new TcpStack({
        emit: offload
          ? (pkt, len, segmentSize) => this.#writeOffloaded(pkt, len, segmentSize)
          : (pkt, len) => this.#writePacket(pkt, len),
        onSyn: (flow) => flows.onSyn(flow),
        mtu: init.tun.mtu,
        headroom,
        ...(offload
          ? { computeChecksums: false, pseudoHeaderChecksums: true, segmentationOffload: true }
          : {}),
      });
    }
    const icmp = this.#icmp = new IcmpFlows({
      reactor,
      path,
      inboundTag: init.inboundTag,
      tunPrefixes: init.tun.addresses,
      emit: (pkt, len) => this.#writePacket(pkt, len),
      headroom,
    });
    this.#dispatcher = new Dispatcher({
      tcp: this.#system ?? this.#tcp,
      onUdp: (d, now) => this.#udp.input(d, now),
      emit: (pkt) => this.#writePacket(pkt, pkt.length),
      onIcmpEcho: (p, v, l4Off, l4End, srcOff, dstOff, now) =>
        icmp.input(p, v, l4Off, l4End, srcOff, dstOff, now),
    });
    const impair = Deno.env.get("TUNBOX_IMPAIR");
    if (impair) {
      const settings = parseImpair(impair);
      log.warn("fault injection on packets read from the TUN: {impair}", { impair });
      const deliver = (pkt: Uint8Array) => this.#dispatcher.input(pkt, this.reactor.now());
      this.#impair = new Impairment(settings, reactor, deliver);
    }
    reactor.add(this.#fd, EV_READ, () => this.#onReadable());
    reactor.afterRound = () => this.#afterRound();
  }

  #natFamily(family: 4 | 6): NatFamily | null {
    const prefix = this.init.tun.addresses.find((p) => p.addr.length === (family === 4 ? 4 : 16));
    if (!prefix || !this.init.natListenPorts) return null;
    const port = family === 4 ? this.init.natListenPorts.v4 : this.init.natListenPorts.v6;
    if (port <= 0) return null;
    return { tunAddr: prefix.addr, peerAddr: nextIp(prefix.addr), listenPort: port };
  }

  #scheduleSweep(): { cancel(): void } {
    return this.reactor.setTimeout(NAT_SWEEP_MS, () => {
      this.#system?.expire(this.reactor.now());
      this.#sweep = this.#scheduleSweep();
    });
  }

  #onReadable(): void {
    const rx = this.#rx;
    const off = this.#offset;
    const now = this.reactor.now();
    this.#tcp?.setNow(now);
    const dispatcher = this.#dispatcher;
    const impair = this.#impair;
    for (let i = 0; i < READ_BUDGET; i++) {
      const n = fdRead(this.#fd, rx);
      if (n === WOULD_BLOCK) break;
      if (n <= off) continue;
      this.stats.packetsIn++;
      if (off === 0) {
        // Linux without a prefix: the packet is rx[0..n), handed on with its length (no view).
        if (impair === null) dispatcher.input(rx, now, n);
        else impair.input(rx.subarray(0, n));
        continue;
      }
      if (off === VNET_HDR_LEN && impair === null) {
        // Linux with offload: the virtio_net_hdr says whether the checksum is partial (a TCP
        // packet may then be a 64 KiB super segment); the NAT keeps the header on write-back.
        dispatcher.input(this.#rxIp, now, n - off, vnetPartialChecksum(rx));
        continue;
      }
      const ip = unframe(rx.subarray(0, n), off);
      if (ip === null) {
        this.#readDrops++;
        continue;
      }
      if (impair === null) dispatcher.input(ip, now);
      else impair.input(ip);
    }
  }

  /**
   * Writes one IP packet, `pkt[0..len)`, to a TUN queue (this worker's unless `fd` is given),
   * framed for the device (`framing.ts`: macOS utun's 4-byte address family, Linux's
   * virtio_net_hdr). `rewritten`: the packet is the one just read, rewritten in place, so its
   * virtio_net_hdr as read still describes it and goes back with it; any other packet gets an
   * all-zero one (a full checksum, no segmentation).
   */
  #writePacket(pkt: Uint8Array, len: number, fd = this.#fd, rewritten = false): void {
    let out = pkt;
    let outLen = len;
    if (
      rewritten && this.#offset === VNET_HDR_LEN && pkt.buffer === this.#rx.buffer &&
      pkt.byteOffset === VNET_HDR_LEN
    ) {
      out = this.#rx;
      outLen = len + VNET_HDR_LEN;
    } else if (this.#offset > 0) {
      const framed = frameForTun(pkt.subarray(0, len), this.#offset, this.#tx);
      if (framed === null) {
        this.#writeDrops++;
        return;
      }
      out = framed;
      outLen = framed.length;
    }
    this.#writeFrame(fd, out, outLen);
  }

  /**
   * Writes a TCP packet of the userspace stack under offload: its partial checksum and, with
   * `segmentSize` > 0, its segmentation go in the virtio_net_hdr written in the headroom before
   * it (the packet is the stack's builder buffer, always the same view).
   */
  #writeOffloaded(pkt: Uint8Array, len: number, segmentSize: number): void {
    let frame = this.#tcpFrame;
    if (
      frame === null || frame.buffer !== pkt.buffer ||
      frame.byteOffset + VNET_HDR_LEN !== pkt.byteOffset
    ) {
      frame = this.#tcpFrame = new Uint8Array(pkt.buffer, pkt.byteOffset - VNET_HDR_LEN);
    }
    setVnetTcpHeader(frame, segmentSize);
    this.#writeFrame(this.#fd, frame, len + VNET_HDR_LEN);
  }

  #writeFrame(fd: number, out: Uint8Array, outLen: number): void {
    try {
      if (fdWrite(fd, out, outLen) === WOULD_BLOCK) {
        this.#writeDrops++;
        return;
      }
      this.stats.packetsOut++;
    } catch (error) {
      this.#writeDrops++;
      log.debug("write to TUN failed: {error}", { error: String(error) });
    }
  }

  /** After each reactor round: run the userspace stack's due timers and re-arm its timer. */
  #afterRound(): void {
    const tcp = this.#tcp;
    if (!tcp) return;
    const next = tcp.poll(this.reactor.now());
    if (next === Infinity) return;
    const t = this.#tcpTimer;
    if (t && t.deadline <= next) return;
    t?.cancel();
    // The timer only wakes the loop; `afterRound` then polls the stack.
    this.#tcpTimer = this.reactor.at(next, () => {
      this.#tcpTimer = null;
    });
  }

  /** Counters and gauges for stats. */
  snapshot(): WorkerStats {
    const d = this.#dispatcher.stats;
    this.stats.packetsDropped = d.malformed + d.badChecksum + d.unhandled + d.errors +
      this.#writeDrops + this.#readDrops;
    this.stats.tcpOpen = this.#tcp ? this.#tcp.connectionCount : this.#system!.nat.table.size;
    this.stats.udpOpen = this.#udp.size;
    const tracker = this.path.tracker;
    this.stats.connectionsTotal = tracker.total;
    this.stats.bytesUp = tracker.uploadClosed;
    this.stats.bytesDown = tracker.downloadClosed;
    return { ...this.stats };
  }

  close(): void {
    this.reactor.remove(this.#fd);
    this.reactor.afterRound = null;
    this.#sweep?.cancel();
    this.#tcpTimer?.cancel();
    this.#udp.close();
    this.#icmp.close();
    this.#system?.close();
    this.#tcp?.destroy();
  }
}
