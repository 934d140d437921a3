/**
 * The `urltest` outbound: delegates to the member with the lowest measured delay.
 *
 * A test connects through each member to the URL's host and port, runs a TLS handshake for
 * `https:` URLs (trusting the top-level `certificate` section, else the system's roots; the
 * certificate must be valid for the URL's host), sends a `HEAD` request and waits for the status
 * line, as sing-box's URL test does; the delay is the time from the dial to the status line.
 * Tests run at start and every `interval` (default 3 min); the selection moves only when another
 * member is faster by more than `tolerance` (default 50 ms). Until the first result, the first
 * member is used.
 *
 * @module
 */

import { testUrlProblem } from "../config/values.ts";
import { getLogger } from "@logtape/logtape";
import type { UrlTestOutboundOptions } from "../config/types.ts";
import type { Timer } from "../io/timer_queue.ts";
import type { Stream } from "../io/stream.ts";
import { parseIp } from "../net/ip.ts";
import { tlsConnect } from "../tls/client.ts";
import { trustStore } from "../tls/trust.ts";
import { readHeaderBlock, withDeadline, writeAll } from "./handshake_io.ts";
import { parseStatusLine } from "./http.ts";
import type { OutboundEnv } from "./registry.ts";
import type { Destination, DialContext, DialMeta, Outbound, UdpFlow } from "./types.ts";

const log = getLogger(["tunbox", "outbound"]);

export const DEFAULT_TEST_URL = "https://www.gstatic.com/generate_204";
export const DEFAULT_INTERVAL_MS = 180_000;
export const DEFAULT_TOLERANCE_MS = 50;
const TEST_TIMEOUT_MS = 5000;

/** Picks the fastest member by periodic tests. */
export class UrlTestOutbound implements Outbound {
  readonly type = "urltest";
  readonly members: readonly string[];
  readonly url: URL;
  readonly intervalMs: number;
  readonly toleranceMs: number;
  /** Last measured delay per member (absent: not measured or failed). */
  readonly delays = new Map<string, number>();
  #get: Map<string, () => Outbound>;
  #selected: string;
  #ctx: DialContext;
  #timer: Timer | null = null;
  #running: Promise<Map<string, number | null>> | null = null;
  #closed = false;

  constructor(readonly tag: string, options: UrlTestOutboundOptions, env: OutboundEnv) {
    if (options.outbounds.length === 0) throw new TypeError("outbounds: at least one is required");
    this.members = [...options.outbounds];
    this.#get = new Map(options.outbounds.map((t, i) => [t, env.ref(t, `outbounds[${i}]`)]));
    this.#selected = options.outbounds[0]!;
    // "" is the default, as in sing-box; the same check as `check` (src/config/values.ts).
    const url = options.url || DEFAULT_TEST_URL;
    const problem = testUrlProblem(url);
    if (problem) throw new TypeError(`url: ${problem}`);
    this.url = new URL(url);
    this.intervalMs = options.interval ?? DEFAULT_INTERVAL_MS;
    this.toleranceMs = options.tolerance ?? DEFAULT_TOLERANCE_MS;
    this.#ctx = env.ctx;
    this.#schedule(0);
  }

  /** The selected member's tag. */
  get selected(): string {
    return this.#selected;
  }

  get current(): Outbound {
    return this.#get.get(this.#selected)!();
  }

  get networks(): ReadonlySet<"tcp" | "udp"> {
    return this.current.networks;
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    this.#timer = this.#ctx.reactor.setTimeout(ms, () => {
      this.checkAll().finally(() => this.#schedule(this.intervalMs));
    });
  }

  /** The URL's host and port as a destination. */
  get target(): Destination {
    const host = this.url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = this.url.port !== ""
      ? Number(this.url.port)
      : this.url.protocol === "https:"
      ? 443
      : 80;
    const addr = parseIp(host);
    return addr ? { addr, port } : { domain: host, port };
  }

  /** Measures one member: milliseconds, or throws. */
  async measure(tag: string): Promise<number> {
    const member = this.#get.get(tag);
    if (!member) throw new TypeError(`"${tag}" is not a member of urltest "${this.tag}"`);
    const reactor = this.#ctx.reactor;
    const start = reactor.now();
    let sock: Stream = await member().dialTcp(this.target, { id: 0 });
    try {
      if (this.url.protocol === "https:") {
        sock = await tlsConnect(sock, {
          serverName: this.url.hostname.replace(/^\[(.*)\]$/, "$1"),
          store: trustStore(this.#ctx.certificate),
        }, { what: `URL test ${this.url.href} through "${tag}"`, timeoutMs: TEST_TIMEOUT_MS });
      }
      await withDeadline(
        reactor,
        sock,
        TEST_TIMEOUT_MS,
        `URL test ${this.url.href}`,
        async () => {
          const path = `${this.url.pathname}${this.url.search}`;
          const req = `HEAD ${path} HTTP/1.1\r\nHost: ${this.url.host}\r\n` +
            `User-Agent: tunbox\r\nConnection: close\r\n\r\n`;
          await writeAll(sock, new TextEncoder().encode(req), "send URL test request");
          const header = new TextDecoder().decode(
            await readHeaderBlock(sock, "read URL test response"),
          );
          const line = header.slice(0, header.indexOf("\r\n"));
          if (!parseStatusLine(line)) {
            throw new SyntaxError(
              `URL test got no HTTP status line: ${JSON.stringify(line.slice(0, 40))}`,
            );
          }
        },
      );
      return reactor.now() - start;
    } finally {
      sock.close();
    }
  }

  /** Tests every member now and updates the selection; returns the delays (null = failed). */
  checkAll(): Promise<Map<string, number | null>> {
    if (this.#running) return this.#running;
    this.#running = (async () => {
      const results = new Map<string, number | null>();
      await Promise.all(this.members.map(async (tag) => {
        try {
          const ms = await this.measure(tag);
          this.delays.set(tag, ms);
          results.set(tag, ms);
        } catch (error) {
          this.delays.delete(tag);
          results.set(tag, null);
          log.debug("urltest {tag}: {member} failed: {error}", {
            tag: this.tag,
            member: tag,
            error: String(error),
          });
        }
      }));
      this.#reselect();
      return results;
    })().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  #reselect(): void {
    let best: string | null = null;
    let bestMs = Infinity;
    for (const tag of this.members) {
      const ms = this.delays.get(tag);
      if (ms !== undefined && ms < bestMs) {
        best = tag;
        bestMs = ms;
      }
    }
    if (best === null || best === this.#selected) return;
    const current = this.delays.get(this.#selected);
    if (current !== undefined && current <= bestMs + this.toleranceMs) return;
    log.info("urltest {tag}: selected {member} ({ms} ms)", {
      tag: this.tag,
      member: best,
      ms: Math.round(bestMs),
    });
    this.#selected = best;
  }

  dialTcp(dest: Destination, meta: DialMeta): Promise<Stream> {
    return this.current.dialTcp(dest, meta);
  }

  openUdp(meta: DialMeta): Promise<UdpFlow> {
    return this.current.openUdp(meta);
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
  }
}

/** Registry factory for `urltest`. */
export function createUrlTestOutbound(options: UrlTestOutboundOptions, env: OutboundEnv): Outbound {
  return new UrlTestOutbound(options.tag, options, env);
}
