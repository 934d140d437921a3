/**
 * UDP sessions of a listening inbound that receives plain datagrams (`direct`, `tproxy`), as
 * sing-box's `udpnat`: one session per client address, opened on its first datagram by asking
 * the handler for a flow (routing happens there), closed after `udp_timeout` without traffic in
 * either direction. Datagrams that arrive while the handler decides are queued (up to
 * {@linkcode MAX_QUEUED}); replies go back through the inbound's `reply` function, which knows
 * how to reach the client (the listening socket for `direct`, a transparent socket bound to the
 * original destination for `tproxy`).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import type { Reactor } from "../io/reactor.ts";
import type { Timer } from "../io/timer_queue.ts";
import { formatSockAddr } from "../io/socket.ts";
import type { Destination, OutboundErrorKind, UdpFlow } from "../outbound/mod.ts";
import type { InboundHandler, InboundRequest } from "./types.ts";

const log = getLogger(["tunbox", "inbound"]);

/** Datagrams kept per session while its route is decided. */
export const MAX_QUEUED = 64;

/** What {@linkcode UdpSessions} needs from its inbound. */
export interface UdpSessionsInit {
  reactor: Reactor;
  handler: InboundHandler;
  timeoutMs: number;
  /** The request for a new session (its first datagram's client and destination). */
  request(source: SockAddr, destination: Destination): InboundRequest;
  /**
   * Sends `payload` to the session's client. `from` is where the outbound received it, and
   * `destination` the session's first destination (what the client sent to).
   */
  reply(client: SockAddr, payload: Uint8Array, from: Destination, destination: Destination): void;
  /** A session ended (to release what `reply` keeps for it). */
  onEnd?(client: SockAddr, destination: Destination): void;
}

class Session {
  state: "pending" | "active" | "closed" = "pending";
  flow: UdpFlow | null = null;
  queue: { payload: Uint8Array; dest: Destination }[] = [];
  last: number;
  timer: Timer | null = null;

  constructor(
    readonly key: string,
    readonly client: SockAddr,
    readonly destination: Destination,
    readonly request: InboundRequest,
    now: number,
  ) {
    this.last = now;
  }
}

/** The sessions of one inbound (see the module description). */
export class UdpSessions {
  readonly #init: UdpSessionsInit;
  readonly #sessions = new Map<string, Session>();
  #closed = false;

  constructor(init: UdpSessionsInit) {
    this.#init = init;
  }

  /** Sessions open now. */
  get size(): number {
    return this.#sessions.size;
  }

  /** One datagram from `source` to `dest` (`payload` is only valid during the call). */
  receive(source: SockAddr, dest: Destination, payload: Uint8Array): void {
    if (this.#closed) return;
    const key = formatSockAddr(source);
    let s = this.#sessions.get(key);
    const now = this.#init.reactor.now();
    if (!s) {
      const client = { addr: source.addr.slice(), port: source.port };
      s = new Session(key, client, dest, this.#init.request(client, dest), now);
      this.#sessions.set(key, s);
      s.queue.push({ payload: payload.slice(), dest });
      this.#open(s);
      return;
    }
    s.last = now;
    if (s.state === "active") s.flow!.send(payload, dest);
    else if (s.state === "pending" && s.queue.length < MAX_QUEUED) {
      s.queue.push({ payload: payload.slice(), dest });
    }
  }

  #open(s: Session): void {
    let settled = false;
    this.#arm(s, this.#init.timeoutMs);
    this.#init.handler.onPacketConnection({
      request: s.request,
      accept: (flow: UdpFlow) => {
        if (settled) return;
        settled = true;
        if (s.state === "closed") {
          flow.close();
          return;
        }
        s.flow = flow;
        s.state = "active";
        flow.onPacket = (payload, from) => {
          if (s.state !== "active") return;
          s.last = this.#init.reactor.now();
          try {
            this.#init.reply(s.client, payload, from, s.destination);
          } catch (error) {
            log.debug("[{id}] reply to {client} failed: {error}", {
              id: s.request.id,
              client: s.key,
              error: String(error),
            });
          }
        };
        flow.onClose = (reason) =>
          this.#end(s, `upstream ended${reason ? `: ${reason.message}` : ""}`);
        for (const p of s.queue) flow.send(p.payload, p.dest);
        s.queue = [];
      },
      reject: (kind: OutboundErrorKind, reason?: unknown) => {
        if (settled) return;
        settled = true;
        this.#end(
          s,
          `rejected (${kind})${reason instanceof Error ? `: ${reason.message}` : ""}`,
        );
      },
    });
  }

  #arm(s: Session, ms: number): void {
    s.timer = this.#init.reactor.setTimeout(ms, () => {
      if (s.state === "closed") return;
      const idle = this.#init.reactor.now() - s.last;
      if (idle >= this.#init.timeoutMs) this.#end(s, "idle timeout");
      else this.#arm(s, this.#init.timeoutMs - idle);
    });
  }

  #end(s: Session, reason: string): void {
    if (s.state === "closed") return;
    s.state = "closed";
    s.timer?.cancel();
    if (this.#sessions.get(s.key) === s) this.#sessions.delete(s.key);
    log.debug("[{id}] UDP session of {client} ended: {reason}", {
      id: s.request.id,
      client: s.key,
      reason,
    });
    const flow = s.flow;
    s.flow = null;
    if (flow) {
      flow.onPacket = flow.onClose = null;
      flow.close();
    }
    s.queue = [];
    this.#init.onEnd?.(s.client, s.destination);
  }

  /** Ends every session. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#sessions.values()]) this.#end(s, "inbound closed");
  }
}
