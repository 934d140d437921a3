/**
 * The packet engine of one worker: reads its TUN queue, dispatches each packet to the stack the
 * inbound uses, and writes packets back.
 *
 * - `system`: TCP goes through the NAT rewrite and back into the TUN (the kernel terminates it;
 *   see `system_stack.ts`).
 * - `gvisor`: TCP goes to tunbox's userspace TCP (`userspace_stack.ts`).
 * - `mixed`: TCP as `system`, UDP in userspace (sing-box's split).
 *
 * Every packet read is handled before the next read reuses the buffer: the NAT rewrites it in
 * place and writes it back; the userspace stack copies only what it must keep.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Reactor } from "../io/reactor.ts";
import { EV_READ, fdRead, fdWrite, WOULD_BLOCK } from "../io/sys.ts";
import { nextIp } from "../net/ip.ts";
import type { Outbound } from "../outbound/types.ts";
import type { Router } from "../route/router.ts";
import type { NatFamily } from "../stack/nat.ts";
import { NatTable } from "../stack/nat_table.ts";
import { TcpStack } from "../stack/tcp/stack.ts";
import { newIpv6Walk, walkIpv6 } from "../wire/ipv6.ts";
import { SystemStack } from "./system_stack.ts";
import type { FlowEnv } from "./tcp_flow.ts";
import { UserspaceFlows } from "./userspace_stack.ts";
import type { ConnectionRecord, TunWorkerInit, WorkerStats } from "./worker_protocol.ts";

const log = getLogger(["tunbox", "tun"]);

/** Packets read per readiness event before other fds get a turn. */
const READ_BUDGET = 128;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;
/** How often NAT sessions are swept. */
const NAT_SWEEP_MS = 5_000;

/** Services the engine routes flows with (built by the worker from the config). */
export interface EngineServices {
  router: Router;
  outbounds: ReadonlyMap<string, Outbound>;
}

/** One worker's packet loop and stacks. */
export class TunEngine {
  readonly stats: WorkerStats = {
    packetsIn: 0,
    packetsOut: 0,
    packetsDropped: 0,
    bytesUp: 0,
    bytesDown: 0,
    tcpOpen: 0,
    udpOpen: 0,
    connectionsTotal: 0,
  };
  /** Finished connections not yet reported to the main thread. */
  readonly finished: ConnectionRecord[] = [];
  readonly #fd: number;
  readonly #offset: number;
  readonly #rx: Uint8Array;
  #system: SystemStack | null = null;
  #tcp: TcpStack | null = null;
  #tcpTimer: { cancel(): void; deadline: number } | null = null;
  #idCounter = 0;
  #sweep: { cancel(): void } | null = null;
  #ipv6Walk = newIpv6Walk();
  readonly env: FlowEnv;

  constructor(
    readonly init: TunWorkerInit,
    readonly reactor: Reactor,
    services: EngineServices,
    /** The shared listening fds of the system stack (from the main thread). */
    listenFds: readonly number[] = [],
  ) {
    this.#fd = init.fd;
    this.#offset = init.tun.packetOffset;
    this.#rx = new Uint8Array(this.#offset + Math.max(init.tun.mtu, 1500) + 64);
    this.env = {
      reactor,
      router: services.router,
      outbounds: services.outbounds,
      record: (rec) => this.#record(rec),
    };
    const nextId = () => this.#nextId();
    if (init.stack === "system" || init.stack === "mixed") {
      if (!init.natTable) throw new TypeError(`stack "${init.stack}" needs a NAT table`);
      const table = new NatTable(init.natTable, init.index, init.count, init.udpTimeoutMs);
      this.#system = new SystemStack(
        reactor,
        this.env,
        table,
        this.#natFamily(4),
        this.#natFamily(6),
        listenFds,
        init.inboundTag,
        nextId,
      );
      this.#sweep = this.#scheduleSweep();
    } else {
      const flows = new UserspaceFlows(reactor, this.env, init.inboundTag, nextId);
      this.#tcp = new TcpStack({
        emit: (pkt) => this.#writeBuilt(pkt),
        onSyn: (flow) => flows.onSyn(flow),
        mtu: init.tun.mtu,
        headroom: Math.max(16, this.#offset),
      });
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

  #nextId(): number {
    this.stats.connectionsTotal++;
    // Unique across workers: worker index in the low bits.
    return (++this.#idCounter) * this.init.count + this.init.index;
  }

  #record(rec: ConnectionRecord): void {
    this.stats.bytesUp += rec.upload;
    this.stats.bytesDown += rec.download;
    this.finished.push(rec);
    if (this.finished.length > 1000) this.finished.splice(0, this.finished.length - 1000);
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
    for (let i = 0; i < READ_BUDGET; i++) {
      const n = fdRead(this.#fd, rx);
      if (n === WOULD_BLOCK) break;
      if (n <= off) continue;
      this.stats.packetsIn++;
      this.#handle(rx.subarray(off, n), now);
    }
  }

  /** Dispatches one IP packet (a view into the receive buffer, valid only during the call). */
  #handle(pkt: Uint8Array, now: number): void {
    const version = pkt[0]! >> 4;
    let family: 4 | 6;
    let l4Off: number;
    let proto: number;
    let len: number;
    if (version === 4) {
      if (pkt.length < 20) return this.#drop();
      const ihl = (pkt[0]! & 0x0f) * 4;
      len = (pkt[2]! << 8) | pkt[3]!;
      if (ihl < 20 || len < ihl || len > pkt.length) return this.#drop();
      // Fragments (MF set or a non-zero offset) are not reassembled here yet.
      if ((((pkt[6]! & 0x3f) << 8) | pkt[7]!) !== 0) return this.#drop();
      family = 4;
      l4Off = ihl;
      proto = pkt[9]!;
    } else if (version === 6) {
      if (pkt.length < 40) return this.#drop();
      len = 40 + ((pkt[4]! << 8) | pkt[5]!);
      if (len > pkt.length) return this.#drop();
      family = 6;
      proto = pkt[6]!;
      l4Off = 40;
      if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP && proto !== IPPROTO_ICMPV6) {
        const w = this.#ipv6Walk;
        if (walkIpv6(pkt, len, w) !== null || w.fragHeader >= 0) return this.#drop();
        proto = w.protocol;
        l4Off = w.offset;
      }
    } else {
      return this.#drop();
    }
    if (len !== pkt.length) pkt = pkt.subarray(0, len);

    if (proto === IPPROTO_TCP) {
      const system = this.#system;
      if (system) {
        if (system.process(pkt, l4Off, family, now)) {
          this.#writeInPlace(pkt, this.init.queueFds[system.writeTo] ?? this.#fd);
        }
      } else {
        this.#tcp!.input(pkt, now);
      }
      return;
    }
    if (proto === IPPROTO_UDP || proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
      // UDP sessions and ICMP echo are wired in a following change.
      return this.#drop();
    }
    this.#drop();
  }

  #drop(): void {
    this.stats.packetsDropped++;
  }

  /**
   * Writes a packet that sits in the receive buffer (its prefix bytes are in place before it),
   * on queue `fd`.
   */
  #writeInPlace(pkt: Uint8Array, fd: number): void {
    const off = this.#offset;
    const out = off === 0
      ? pkt
      : new Uint8Array(pkt.buffer, pkt.byteOffset - off, pkt.length + off);
    this.#write(out, fd);
  }

  /** Writes a packet built by a stack with headroom before it; fills the platform prefix. */
  #writeBuilt(pkt: Uint8Array): void {
    const off = this.#offset;
    if (off === 0) return this.#write(pkt);
    const out = new Uint8Array(pkt.buffer, pkt.byteOffset - off, pkt.length + off);
    this.#fillPrefix(out, pkt[0]! >> 4);
    this.#write(out);
  }

  /** The per-packet prefix: macOS utun's 4-byte big-endian address family; zero otherwise. */
  #fillPrefix(out: Uint8Array, version: number): void {
    out.fill(0, 0, this.#offset);
    if (this.#offset === 4) out[3] = version === 6 ? 30 : 2;
  }

  #write(out: Uint8Array, fd = this.#fd): void {
    try {
      if (fdWrite(fd, out) === WOULD_BLOCK) {
        this.stats.packetsDropped++;
        return;
      }
      this.stats.packetsOut++;
    } catch (error) {
      this.stats.packetsDropped++;
      log.debug("write to TUN failed: {error}", { error: String(error) });
    }
  }

  /** After each reactor round: run the userspace stack's due timers and re-arm its timer. */
  #afterRound(): void {
    const tcp = this.#tcp;
    if (!tcp) return;
    const now = this.reactor.now();
    const next = tcp.poll(now);
    if (next === Infinity) return;
    const t = this.#tcpTimer;
    if (t && t.deadline <= next) return;
    t?.cancel();
    this.#tcpTimer = this.reactor.at(next, () => {
      this.#tcpTimer = null;
    });
  }

  /** Gauges for stats. */
  snapshot(): WorkerStats {
    if (this.#tcp) this.stats.tcpOpen = this.#tcp.connectionCount;
    if (this.#system) this.stats.tcpOpen = this.#system.nat.table.size;
    return { ...this.stats };
  }

  close(): void {
    this.reactor.remove(this.#fd);
    this.#sweep?.cancel();
    this.#tcpTimer?.cancel();
    this.#system?.close();
    this.#tcp?.destroy();
  }
}
