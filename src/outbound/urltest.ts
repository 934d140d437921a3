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
import type { Reactor } from "../io/reactor.ts";
import type { Timer } from "../io/timer_queue.ts";
import type { Stream } from "../io/stream.ts";
import { parseIp } from "../net/ip.ts";
import { tlsConnect } from "../tls/client.ts";
import { trustStore } from "../tls/trust.ts";
import { readHeaderBlock, withDeadline, writeAll } from "../io/handshake_io.ts";
import { parseStatusLine } from "./http.ts";
import type { OutboundEnv } from "./registry.ts";
import type { Destination, DialContext, DialMeta, Outbound, UdpFlow } from "./types.ts";

const log = getLogger(["tunbox", "outbound"]);

export const DEFAULT_TEST_URL = "https://www.gstatic.com/generate_204";
export const DEFAULT_INTERVAL_MS = 180_000;
export const DEFAULT_TOLERANCE_MS = 50;
const TEST_TIMEOUT_MS = 5000;

/**
 * The delay of one URL test through `dialer`, in milliseconds, as sing-box measures it: connect
 * to the URL's host and port, for `https:` URLs complete a TLS handshake (the certificate checked
 * against `certificate`, else the system's roots), send a `HEAD` request and wait for the status
 * line. Throws when any step fails, or after `timeoutMs`.
 *
 * ```ts
 * const ms = await urlTestDelay(reactor, outbound, "https://www.gstatic.com/generate_204");
 * ```
 */
export async function urlTestDelay(
  reactor: Reactor,
  dialer: Pick<Outbound, "dialTcp">,
  url: string | URL,
  timeoutMs = TEST_TIMEOUT_MS,
  options: { certificate?: DialContext["certificate"]; via?: string } = {},
): Promise<number> {
  const u = typeof url === "string" ? parseTestUrl(url) : url;
  const start = reactor.now();
  let sock: Stream = await dialer.dialTcp(urlTarget(u), { id: 0 });
  try {
    if (u.protocol === "https:") {
      sock = await tlsConnect(sock, {
        serverName: u.hostname.replace(/^\[(.*)\]$/, "$1"),
        store: trustStore(options.certificate),
      }, {
        what: `URL test ${u.href}${options.via ? ` through "${options.via}"` : ""}`,
        timeoutMs,
      });
    }
    await withDeadline(reactor, sock, timeoutMs, `URL test ${u.href}`, async () => {
      const path = `${u.pathname}${u.search}`;
      const req = `HEAD ${path} HTTP/1.1\r\nHost: ${u.host}\r\n` +
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
    });
    return reactor.now() - start;
  } finally {
    sock.close();
  }
}

/** Parses a test URL: http or https only. */
export function parseTestUrl(text: string): URL {
  // The same check as `check` (src/config/values.ts).
  const problem = testUrlProblem(text);
  if (problem) throw new TypeError(`url: ${problem}`);
  return new URL(text);
}

/** A test URL's host and port as a destination. */
export function urlTarget(u: URL): Destination {
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = u.port !== "" ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
  const addr = parseIp(host);
  return addr ? { addr, port } : { domain: host, port };
}

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
    this.url = parseTestUrl(url);
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
    return urlTarget(this.url);
  }

  /** Measures one member: milliseconds, or throws. */
  measure(tag: string): Promise<number> {
    const member = this.#get.get(tag);
    if (!member) throw new TypeError(`"${tag}" is not a member of urltest "${this.tag}"`);
    return urlTestDelay(this.#ctx.reactor, member(), this.url, TEST_TIMEOUT_MS, {
      ...(this.#ctx.certificate ? { certificate: this.#ctx.certificate } : {}),
      via: tag,
    });
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
