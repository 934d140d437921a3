/**
 * One SNTP exchange over any UDP flow (a direct socket or another outbound's UDP): send a
 * request, take the first valid answer from the server, give up after a timeout. Answers that
 * fail the checks of `packet.ts` (garbage, another request's answer, kiss-o'-death) are dropped
 * and counted, so one stray datagram cannot end the exchange early, and the timeout message says
 * what arrived instead.
 *
 * ```ts
 * const flow = await outbound.openUdp({ id: 0 });
 * const sample = await ntpExchange(flow, { domain: "time.apple.com", port: 123 }, reactor);
 * flow.close();
 * ```
 *
 * @module
 */

import type { Reactor } from "../io/reactor.ts";
import { formatDestination } from "../outbound/types.ts";
import type { Destination, UdpFlow } from "../outbound/mod.ts";
import { buildRequest, NtpError, type NtpSample, parseResponse } from "./packet.ts";

/** How long an exchange waits for an answer (sing's NTP client: 5 s). */
export const NTP_TIMEOUT_MS = 5_000;

/** Options of {@linkcode ntpExchange}. */
export interface NtpExchangeOptions {
  timeoutMs?: number;
  /** Unix-ms clock (tests). */
  now?: () => number;
}

/**
 * Queries `server` through `flow` (which the caller owns and closes). Rejects with an
 * {@linkcode NtpError} on timeout, naming the invalid answers seen.
 */
export function ntpExchange(
  flow: UdpFlow,
  server: Destination,
  reactor: Reactor,
  options: NtpExchangeOptions = {},
): Promise<NtpSample> {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? NTP_TIMEOUT_MS;
  const nonce = crypto.getRandomValues(new Uint8Array(8));
  const where = formatDestination(server);
  return new Promise<NtpSample>((resolve, reject) => {
    let done = false;
    const invalid: string[] = [];
    const finish = (error: Error | null, sample?: NtpSample) => {
      if (done) return;
      done = true;
      timer.cancel();
      flow.onPacket = null;
      flow.onClose = null;
      if (error) reject(error);
      else resolve(sample!);
    };
    const timer = reactor.setTimeout(timeoutMs, () => {
      const seen = invalid.length === 0
        ? "no answer"
        : `${invalid.length} invalid answer(s): ${[...new Set(invalid)].slice(0, 3).join("; ")}`;
      finish(new NtpError(`NTP server ${where} did not answer within ${timeoutMs} ms (${seen})`));
    });
    flow.onClose = (reason) =>
      finish(new NtpError(`NTP exchange with ${where} ended: ${reason?.message ?? "closed"}`));
    const t1 = now();
    flow.onPacket = (payload) => {
      const t4 = now();
      try {
        finish(null, parseResponse(payload, nonce, t1, t4));
      } catch (error) {
        if (!(error instanceof NtpError)) throw error;
        invalid.push(error.message);
      }
    };
    flow.send(buildRequest(nonce), server);
  });
}
