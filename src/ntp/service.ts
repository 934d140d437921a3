/**
 * The `ntp` service (sing-box `common/ntp/service.go`): queries `server:server_port` (default
 * port 123) at start and every `interval` (default 30 min) through its dial fields — `detour`
 * sends it through any outbound's UDP — and records the offset in the {@linkcode SharedClock}
 * every worker reads. A failed query is logged and retried after {@linkcode RETRY_MS} (sooner
 * than `interval`: at start the network is often not ready yet). With `write_to_system` the
 * system clock is set to NTP time (needs root; Linux only), as sing-box does; otherwise a system
 * clock off by more than a minute gets a warning, since TLS certificate checks use it.
 *
 * ```ts
 * const ntp = new NtpService(options.ntp, { reactor, dialer, clock });
 * ntp.start();
 * // ...
 * ntp.close();
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { NtpOptions } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import type { Timer } from "../io/timer_queue.ts";
import { parseIp } from "../net/ip.ts";
import type { Destination, Dialer } from "../outbound/mod.ts";
import { ntpExchange } from "./client.ts";
import { CLOCK_SKEW_WARN_MS, type SharedClock } from "./clock.ts";
import type { NtpSample } from "./packet.ts";

const log = getLogger(["tunbox", "ntp"]);

/** Default `interval` (sing-box: 30 min). */
export const DEFAULT_INTERVAL_MS = 30 * 60_000;
/** Retry delay after a failed query. */
export const RETRY_MS = 60_000;

/** What the service needs from the worker running it. */
export interface NtpDeps {
  reactor: Reactor;
  /** Opens the UDP flow (a detour outbound, else a direct dialer with the dial fields). */
  dialer: Pick<Dialer, "openUdp">;
  clock: SharedClock;
  /** Sets the system clock to Unix ms (`write_to_system`); absent where it cannot be done. */
  setSystemTime?: (ms: number) => void;
  /** Per-query timeout (tests). */
  timeoutMs?: number;
}

/** The server as a destination: an IP literal, else a name the dialer resolves. */
export function ntpServer(options: NtpOptions): Destination {
  const host = options.server || "time.apple.com";
  const port = options.server_port || 123;
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const ip = parseIp(bare);
  return ip ? { addr: ip, port } : { domain: host, port };
}

/** Runs NTP queries on a reactor (see the module description). */
export class NtpService {
  readonly #options: NtpOptions;
  readonly #deps: NtpDeps;
  readonly #server: Destination;
  #timer: Timer | null = null;
  #closed = false;
  #running: Promise<NtpSample | null> | null = null;

  constructor(options: NtpOptions, deps: NtpDeps) {
    this.#options = options;
    this.#deps = deps;
    this.#server = ntpServer(options);
  }

  get intervalMs(): number {
    return this.#options.interval && this.#options.interval > 0
      ? this.#options.interval
      : DEFAULT_INTERVAL_MS;
  }

  /** Queries now, then on schedule. */
  start(): void {
    this.#schedule(0);
  }

  /** One query; resolves to the sample, or null after logging the failure. */
  update(): Promise<NtpSample | null> {
    return this.#running ??= this.#update().finally(() => this.#running = null);
  }

  async #update(): Promise<NtpSample | null> {
    const { reactor, dialer } = this.#deps;
    let flow;
    try {
      flow = await dialer.openUdp({ id: 0 });
    } catch (error) {
      log.error("update time: open UDP: {error}", { error: (error as Error).message });
      return null;
    }
    try {
      const sample = await ntpExchange(flow, this.#server, reactor, {
        ...(this.#deps.timeoutMs ? { timeoutMs: this.#deps.timeoutMs } : {}),
      });
      if (this.#closed) return null;
      this.#apply(sample);
      return sample;
    } catch (error) {
      log.error("update time: {error}", { error: (error as Error).message });
      return null;
    } finally {
      flow.close();
    }
  }

  #apply(sample: NtpSample): void {
    const { clock, setSystemTime } = this.#deps;
    if (this.#options.write_to_system) {
      if (!setSystemTime) {
        log.warn("write time to system: not supported on this system");
        clock.update(sample.offsetMs);
      } else {
        try {
          setSystemTime(Date.now() + sample.offsetMs);
          clock.update(0); // the system clock is NTP time now
        } catch (error) {
          log.error("write time to system: {error}", { error: (error as Error).message });
          clock.update(sample.offsetMs);
        }
      }
    } else {
      clock.update(sample.offsetMs);
      if (Math.abs(sample.offsetMs) > CLOCK_SKEW_WARN_MS) {
        log.warn(
          "the system clock is {seconds} s off NTP time: TLS certificate checks use the system clock (set ntp.write_to_system to correct it)",
          { seconds: Math.round(sample.offsetMs / 1000) },
        );
      }
    }
    log.info("updated time: {time} (offset {offset} ms, delay {delay} ms, stratum {stratum})", {
      time: new Date(sample.timeMs).toISOString(),
      offset: Math.round(sample.offsetMs),
      delay: Math.round(sample.delayMs),
      stratum: sample.stratum,
    });
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    this.#timer = this.#deps.reactor.setTimeout(ms, () => {
      this.update().then((sample) => this.#schedule(sample ? this.intervalMs : RETRY_MS));
    });
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = null;
  }
}
