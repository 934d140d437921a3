/**
 * The `ntp` section: an SNTP client (RFC 4330, `client.ts`, `packet.ts`), the service one worker
 * runs (`service.ts`), the clock every worker reads (`clock.ts`), and {@linkcode startNtp}, which
 * each worker calls (`start.ts`).
 *
 * ```ts
 * import { startNtp } from "../ntp/mod.ts";
 * const stop = startNtp(options, init.state?.clock, { reactor, outbounds, ctx });
 * stop?.(); // on shutdown
 * ```
 *
 * @module
 */

export { CLOCK_SKEW_WARN_MS, SharedClock } from "./clock.ts";
export { ntpExchange } from "./client.ts";
export { NtpService } from "./service.ts";
export { startNtp } from "./start.ts";
