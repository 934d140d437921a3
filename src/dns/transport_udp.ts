/**
 * DNS over UDP through an outbound's UDP flow: direct sockets, or a SOCKS5 UDP ASSOCIATE when
 * the server goes through a `socks` outbound. One flow serves every query of the server; each
 * query gets its own message id on it and the answer is given back the caller's id.
 *
 * A query is sent again after {@linkcode UDP_RETRY_MS} and then at doubling intervals until the
 * timeout. Answers are accepted only from the server's port, for the same question, with QR set.
 * A truncated answer (TC) is asked again over TCP through the same outbound (RFC 7766 §5), as
 * sing-box does. The flow is closed after {@linkcode UDP_IDLE_MS} without queries (so a SOCKS
 * association does not stay open forever) and reopened on demand; a flow that ends by itself
 * (SOCKS control connection closed) is reopened at the next send.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Reactor } from "../io/reactor.ts";
import type { Timer } from "../io/timer_queue.ts";
import { ipEqual, isV4Mapped } from "../net/ip.ts";
import type { Destination, Dialer, UdpFlow } from "../outbound/mod.ts";
import { dnsTimeout, type DnsTransport, IdAllocator, type ServerAddress } from "./transport.ts";
import type { TcpTransport } from "./transport_tcp.ts";
import {
  FLAG_QR,
  FLAG_TC,
  messageFlags,
  messageId,
  type MessageLayout,
  parseMessage,
  sameQuestions,
  setMessageId,
} from "../net/dns/wire.ts";

const log = getLogger(["tunbox", "dns"]);

/** First retransmission delay. */
export const UDP_RETRY_MS = 1000;
/** Idle time after which the UDP flow is closed. */
export const UDP_IDLE_MS = 30_000;

interface Pending {
  layout: MessageLayout;
  resolve(msg: Uint8Array): void;
  reject(error: unknown): void;
}

/** A `udp` DNS server. */
export class UdpTransport implements DnsTransport {
  readonly type: string;
  readonly #pending = new Map<number, Pending>();
  readonly #ids = new IdAllocator();
  #flow: UdpFlow | null = null;
  #opening: Promise<UdpFlow> | null = null;
  #idle: Timer | null = null;
  #closed = false;
  /** Queries sent (retransmissions included), for tests and stats. */
  sent = 0;

  constructor(
    readonly tag: string,
    readonly reactor: Reactor,
    readonly dialer: Pick<Dialer, "openUdp">,
    readonly server: ServerAddress,
    /** Where truncated answers are asked again; null: return them as they are. */
    readonly tcp: TcpTransport | null,
    type = "udp",
  ) {
    this.type = type;
  }

  get name(): string {
    return this.server.name;
  }

  #openFlow(): Promise<UdpFlow> {
    if (this.#flow) return Promise.resolve(this.#flow);
    if (this.#opening) return this.#opening;
    this.#opening = this.dialer.openUdp({ id: 0 }).then((flow) => {
      if (this.#closed) {
        flow.close();
        throw new TypeError(`${this.name}: transport closed`);
      }
      flow.onPacket = (payload, from) => this.#receive(payload, from);
      flow.onClose = (reason) => {
        if (this.#flow === flow) this.#flow = null;
        log.debug("{name}: UDP flow to {server} ended: {reason}", {
          name: this.name,
          server: this.server.text,
          reason: String(reason ?? "closed"),
        });
      };
      this.#flow = flow;
      return flow;
    }).finally(() => {
      this.#opening = null;
    });
    return this.#opening;
  }

  #armIdle(): void {
    this.#idle?.cancel();
    this.#idle = this.reactor.setTimeout(UDP_IDLE_MS, () => {
      this.#idle = null;
      if (this.#pending.size > 0) {
        this.#armIdle();
        return;
      }
      const flow = this.#flow;
      this.#flow = null;
      flow?.close();
    });
  }

  #receive(payload: Uint8Array, from: Destination): void {
    if (payload.length < 12) return;
    const p = this.#pending.get(messageId(payload));
    if (!p) return;
    const dest = this.#dest;
    if (
      dest &&
      (from.port !== dest.port || (from.addr && dest.addr && !sameAddr(from.addr, dest.addr)))
    ) {
      return;
    }
    const msg = payload.slice();
    let layout: MessageLayout;
    try {
      layout = parseMessage(msg);
    } catch (error) {
      log.debug("{name}: malformed answer from {server}: {error}", {
        name: this.name,
        server: this.server.text,
        error: String(error),
      });
      return;
    }
    if ((layout.flags & FLAG_QR) === 0 || !sameQuestions(layout, p.layout)) return;
    this.#pending.delete(layout.id);
    p.resolve(msg);
  }

  #dest: Destination | null = null;

  async #send(wire: Uint8Array): Promise<void> {
    const dest = await this.server.destination();
    this.#dest = dest;
    const flow = await this.#openFlow();
    this.sent++;
    flow.send(wire, dest);
  }

  async exchange(query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.#closed) throw new TypeError(`${this.name}: transport closed`);
    const layout = parseMessage(query);
    const originalId = layout.id;
    const started = this.reactor.now();
    const id = this.#ids.take(this.#pending);
    const wire = query.slice();
    setMessageId(wire, id);
    this.#armIdle();
    const what = `${this.name}: exchange with ${this.server.text}`;
    const answer = await new Promise<Uint8Array>((resolve, reject) => {
      let retry: Timer | null = null;
      let interval = UDP_RETRY_MS;
      const finish = () => {
        overall.cancel();
        retry?.cancel();
        this.#pending.delete(id);
      };
      const overall = this.reactor.setTimeout(timeoutMs, () => {
        finish();
        reject(dnsTimeout(what, timeoutMs));
      });
      const attempt = () => {
        this.#send(wire).catch((error) => {
          if (!this.#pending.has(id)) return;
          finish();
          reject(error);
        });
        retry = this.reactor.setTimeout(interval, attempt);
        interval *= 2;
      };
      this.#pending.set(id, {
        layout,
        resolve: (m) => {
          finish();
          resolve(m);
        },
        reject: (e) => {
          finish();
          reject(e);
        },
      });
      attempt();
    });
    setMessageId(answer, originalId);
    if ((messageFlags(answer) & FLAG_TC) !== 0 && this.tcp) {
      const remaining = Math.ceil(timeoutMs - (this.reactor.now() - started));
      log.info("{name}: response truncated, retrying with TCP", { name: this.name });
      if (remaining <= 0) throw dnsTimeout(what, timeoutMs);
      return await this.tcp.exchange(query, remaining);
    }
    return answer;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#idle?.cancel();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(new TypeError(`${this.name}: transport closed`));
    this.#flow?.close();
    this.#flow = null;
    this.tcp?.close();
  }
}

function sameAddr(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length === b.length) return ipEqual(a, b);
  // An IPv4-mapped IPv6 source for an IPv4 server (dual-stack sockets).
  const [v4, v6] = a.length === 4 ? [a, b] : [b, a];
  return v4.length === 4 && isV4Mapped(v6) && ipEqual(v6.subarray(12), v4);
}
