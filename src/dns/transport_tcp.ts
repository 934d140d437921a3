/**
 * DNS over TCP (RFC 7766) through an outbound: 2-byte length framing, one connection reused
 * for many queries and pipelined (each query gets its own message id on the connection; the
 * answer is matched by id and question and given back the caller's id). The connection is
 * closed after {@linkcode TCP_IDLE_MS} without queries. When a reused connection closes before
 * answering (servers close idle connections), the query is retried once on a new connection.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { Reactor } from "../io/reactor.ts";
import { readSome, type Stream, writeAll } from "../io/stream.ts";
import type { Timer } from "../io/timer_queue.ts";
import type { Dialer } from "../outbound/mod.ts";
import { frameMessage, FrameReader } from "./tcp_framing.ts";
import { dnsTimeout, type DnsTransport, IdAllocator, type ServerAddress } from "./transport.ts";
import {
  FLAG_QR,
  messageId,
  type MessageLayout,
  parseMessage,
  sameQuestions,
  setMessageId,
} from "../net/dns/wire.ts";

const log = getLogger(["tunbox", "dns"]);

/** Idle time after which the reused connection is closed. */
export const TCP_IDLE_MS = 30_000;

/** The connection closed before the answer arrived. */
class ConnectionClosed extends Error {
  override name = "ConnectionClosed";
}

interface Pending {
  layout: MessageLayout;
  resolve(msg: Uint8Array): void;
  reject(error: unknown): void;
}

class Connection {
  readonly pending = new Map<number, Pending>();
  readonly ids = new IdAllocator();
  /** Whether a query was already sent on this connection. */
  used = false;
  closed = false;
  #writes: Promise<void> = Promise.resolve();
  #idle: Timer | null = null;

  constructor(readonly sock: Stream, readonly owner: TcpTransport) {
    this.#readLoop();
    this.#armIdle();
  }

  #armIdle(): void {
    this.#idle?.cancel();
    this.#idle = this.owner.reactor.setTimeout(TCP_IDLE_MS, () => {
      if (this.pending.size === 0) this.close(new ConnectionClosed("idle"));
      else this.#armIdle();
    });
  }

  async #readLoop(): Promise<void> {
    const buf = new Uint8Array(16384);
    const frames = new FrameReader();
    let reason = "closed by the server";
    try {
      for (;;) {
        const n = await readSome(this.sock, buf, `${this.owner.name}: read`);
        if (n === 0) break;
        frames.push(buf.subarray(0, n));
        for (let m = frames.next(); m; m = frames.next()) this.#dispatch(m);
      }
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
    }
    this.close(
      new ConnectionClosed(`${this.owner.name}: connection to ${this.owner.server.text} ${reason}`),
    );
  }

  #dispatch(msg: Uint8Array): void {
    if (msg.length < 12) return;
    const p = this.pending.get(messageId(msg));
    if (!p) return;
    let layout: MessageLayout;
    try {
      layout = parseMessage(msg);
    } catch (error) {
      log.debug("{name}: malformed answer from {server}: {error}", {
        name: this.owner.name,
        server: this.owner.server.text,
        error: String(error),
      });
      return;
    }
    if ((layout.flags & FLAG_QR) === 0 || !sameQuestions(layout, p.layout)) return;
    this.pending.delete(layout.id);
    p.resolve(msg);
  }

  exchange(query: Uint8Array, layout: MessageLayout, timeoutMs: number): Promise<Uint8Array> {
    this.used = true;
    this.#armIdle();
    const id = this.ids.take(this.pending);
    const wire = frameMessage(query);
    setMessageId(wire.subarray(2), id);
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = this.owner.reactor.setTimeout(timeoutMs, () => {
        this.pending.delete(id);
        reject(
          dnsTimeout(
            `${this.owner.name}: exchange with ${this.owner.server.text} over ${this.owner.over}`,
            timeoutMs,
          ),
        );
      });
      this.pending.set(id, {
        layout,
        resolve: (m) => {
          timer.cancel();
          resolve(m);
        },
        reject: (e) => {
          timer.cancel();
          reject(e);
        },
      });
      this.#writes = this.#writes.then(() => writeAll(this.sock, wire, `${this.owner.name}: write`))
        .catch((error) => {
          this.close(
            new ConnectionClosed(
              `${this.owner.name}: write to ${this.owner.server.text} failed: ${error}`,
            ),
          );
        });
    });
  }

  close(reason: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.#idle?.cancel();
    this.sock.close();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(reason);
    this.owner.forget(this);
  }
}

/**
 * Turns a fresh connection into the one queries use (DNS over TLS: the TLS handshake), within
 * `timeoutMs`; rejects with an error naming the server and the reason.
 */
export type ConnectionSetup = (sock: Stream, timeoutMs: number) => Promise<Stream>;

/**
 * A `tcp` DNS server (also the fallback of a `udp` server for truncated answers), and with a
 * {@linkcode ConnectionSetup} the base of DNS over TLS.
 */
export class TcpTransport implements DnsTransport {
  readonly type: string;
  #conn: Connection | null = null;
  #connecting: Promise<Connection> | null = null;
  #closed = false;
  /** Connections opened so far (tests and diagnostics: reuse means this stays small). */
  connections = 0;

  constructor(
    readonly tag: string,
    readonly reactor: Reactor,
    readonly dialer: Pick<Dialer, "dialTcp">,
    readonly server: ServerAddress,
    type = "tcp",
    readonly setup?: ConnectionSetup,
    /** Names the protocol in messages: `over TCP`, `over TLS`. */
    readonly over = "TCP",
  ) {
    this.type = type;
  }

  /** `DNS server "tag"`, for messages. */
  get name(): string {
    return this.server.name;
  }

  /** @internal Called by a connection when it closes. */
  forget(conn: Connection): void {
    if (this.#conn === conn) this.#conn = null;
  }

  #connection(deadline: number): Promise<Connection> {
    if (this.#conn && !this.#conn.closed) return Promise.resolve(this.#conn);
    if (this.#connecting) return this.#connecting;
    this.#connecting = (async () => {
      const dest = await this.server.destination();
      let sock = await this.dialer.dialTcp(dest, { id: 0 });
      this.connections++;
      if (this.setup && !this.#closed) {
        sock = await this.setup(sock, Math.max(1, Math.ceil(deadline - this.reactor.now())));
      }
      if (this.#closed) {
        sock.close();
        throw new ConnectionClosed(`${this.name}: transport closed`);
      }
      const conn = new Connection(sock, this);
      this.#conn = conn;
      return conn;
    })().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  async exchange(query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const layout = parseMessage(query);
    const originalId = layout.id;
    const what = `${this.name}: exchange with ${this.server.text} over ${this.over}`;
    const deadline = this.reactor.now() + timeoutMs;
    let last: unknown = null;
    for (let attempt = 0; attempt < 2; attempt++) {
      const remaining = Math.ceil(deadline - this.reactor.now());
      if (remaining <= 0 || this.#closed) break;
      const conn = await this.#withDeadline(this.#connection(deadline), remaining, what);
      const reused = conn.used;
      try {
        const answer = await conn.exchange(
          query,
          layout,
          Math.max(1, Math.ceil(deadline - this.reactor.now())),
        );
        setMessageId(answer, originalId);
        return answer;
      } catch (error) {
        last = error;
        if (!(error instanceof ConnectionClosed) || !reused) throw error;
      }
    }
    throw last ?? dnsTimeout(what, timeoutMs);
  }

  #withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = this.reactor.setTimeout(ms, () => reject(dnsTimeout(`${what}: connect`, ms)));
      p.then((v) => {
        t.cancel();
        resolve(v);
      }, (e) => {
        t.cancel();
        reject(e);
      });
    });
  }

  close(): void {
    this.#closed = true;
    this.#conn?.close(new ConnectionClosed(`${this.name}: transport closed`));
    this.#conn = null;
  }
}
