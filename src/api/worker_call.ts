/**
 * The main thread's side of the Clash API's requests to a worker: what can be asked and how a
 * failure arrives. The worker's side, which needs the outbounds, is `worker_calls.ts`; this module
 * imports nothing, so the main thread does not load the outbounds and TLS to ask.
 *
 * ```ts
 * const call: WorkerCall = { kind: "delay", tag: "proxy", url, timeoutMs: 5000 };
 * ```
 *
 * @module
 */

/** A request to a worker. */
export type WorkerCall =
  /** Latency of one outbound (a group tests its selected member): milliseconds. */
  | { kind: "delay"; tag: string; url: string; timeoutMs: number }
  /** Latency of every member of a group: `{member: ms}` for those that answered. */
  | { kind: "group-delay"; tag: string; url: string; timeoutMs: number }
  /** The member each group uses now and the URL-test delays a `urltest` group measured. */
  | { kind: "groups" }
  /** A DNS query through the DNS module (rules, cache, servers): the response message. */
  | { kind: "dns-query"; name: string; qtype: number }
  /** Forget cached DNS answers. */
  | { kind: "dns-flush" };

/** One group's state in a worker. */
export interface GroupState {
  now: string;
  /** urltest: the last delay measured per member (ms). */
  delays: Record<string, number>;
}

/**
 * A request that failed, as the main thread sees it: the worker's message, `timeout` when a
 * latency test ran out of time (the API answers 504).
 */
export class WorkerCallFailed extends Error {
  override name = "WorkerCallFailed";
  constructor(message: string, readonly timeout = false) {
    super(message);
  }
}
