/**
 * The `ntp` section at run time: {@linkcode startNtp} is called by every worker; the first to
 * claim the shared clock runs the service (one query stream per instance, whatever the worker
 * count), and every worker reads the time from the clock.
 *
 * ```ts
 * const stop = startNtp(options, init.state?.clock, { reactor, outbounds, ctx });
 * // on shutdown
 * stop?.();
 * ```
 *
 * @module
 */

import type { Options } from "../config/types.ts";
import type { Reactor } from "../io/reactor.ts";
import { DirectDialer } from "../outbound/direct_dialer.ts";
import type { DialContext, Dialer, Outbound } from "../outbound/mod.ts";
import { SharedClock } from "./clock.ts";
import { NtpService } from "./service.ts";
import { setSystemTime } from "../platform/linux/system_time.ts";

/**
 * Starts the NTP service in this worker when `ntp.enabled`, the instance has a shared clock,
 * and no other worker claimed it. Returns the function that stops it, or null.
 */
export function startNtp(
  options: Options,
  clockMemory: SharedArrayBuffer | undefined,
  deps: { reactor: Reactor; outbounds: ReadonlyMap<string, Outbound>; ctx: DialContext },
): (() => void) | null {
  const ntp = options.ntp;
  if (!ntp?.enabled || !clockMemory) return null;
  const clock = new SharedClock(clockMemory);
  if (!clock.claim()) return null;
  let dialer: Pick<Dialer, "openUdp">;
  if (ntp.detour) {
    const detour = deps.outbounds.get(ntp.detour);
    if (!detour) throw new TypeError(`ntp: detour outbound "${ntp.detour}" not found`);
    dialer = detour;
  } else {
    dialer = new DirectDialer("ntp", ntp, deps.ctx);
  }
  const service = new NtpService(ntp, {
    reactor: deps.reactor,
    dialer,
    clock,
    ...(Deno.build.os === "linux" ? { setSystemTime } : {}),
  });
  service.start();
  return () => service.close();
}
