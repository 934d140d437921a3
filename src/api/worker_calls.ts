/**
 * What the Clash API asks of a worker: the outbounds and the DNS module live in the workers
 * (each builds its own), so latency tests, URL-test group state and DNS queries run there, as
 * requests over the worker protocol (`rpc` → `rpc-result`). Everything here is structured-clone
 * safe; {@linkcode runWorkerCall} is the worker's side.
 *
 * ```ts
 * // main thread
 * const ms = await box.workerCall({ kind: "delay", tag: "proxy", url, timeoutMs: 5000 });
 * ```
 *
 * @module
 */

import type { CertificateOptions } from "../config/types.ts";
import type { DnsModule } from "../dns/mod.ts";
import { encodeQuery } from "../net/dns/packet.ts";
import type { Reactor } from "../io/reactor.ts";
import { isOutboundGroup, type Outbound } from "../outbound/types.ts";
import { urlTestDelay, UrlTestOutbound } from "../outbound/urltest.ts";
import { newConnMetadata } from "../route/metadata.ts";
import type { GroupState, WorkerCall } from "./worker_call.ts";

export { type GroupState, type WorkerCall, WorkerCallFailed } from "./worker_call.ts";

/** What a worker's services give the calls. */
export interface WorkerCallEnv {
  reactor: Reactor;
  outbounds: ReadonlyMap<string, Outbound>;
  dns: DnsModule | null;
  /** What TLS clients trust for `https:` test URLs (absent: the system's roots). */
  certificate?: CertificateOptions;
}

/** Thrown when a test did not finish within its timeout (the API answers 504). */
export class DelayTimeoutError extends Error {
  override name = "DelayTimeoutError";
}

/** Runs `fn` with a deadline on the reactor clock. */
function withTimeout<T>(reactor: Reactor, ms: number, fn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = reactor.setTimeout(ms, () => reject(new DelayTimeoutError("Timeout")));
    fn().then((v) => {
      timer.cancel();
      resolve(v);
    }, (e) => {
      timer.cancel();
      reject(e);
    });
  });
}

function outbound(env: WorkerCallEnv, tag: string): Outbound {
  const o = env.outbounds.get(tag);
  if (!o) throw new TypeError(`outbound "${tag}" not found`);
  return o;
}

function tlsOf(env: WorkerCallEnv, via: string) {
  return { ...(env.certificate ? { certificate: env.certificate } : {}), via };
}

/** Runs one call in the worker. Rejects with a message the API passes on. */
export async function runWorkerCall(call: WorkerCall, env: WorkerCallEnv): Promise<unknown> {
  switch (call.kind) {
    case "delay": {
      const o = outbound(env, call.tag);
      return await withTimeout(
        env.reactor,
        call.timeoutMs,
        () => urlTestDelay(env.reactor, o, call.url, call.timeoutMs, tlsOf(env, call.tag)),
      );
    }
    case "group-delay": {
      const group = outbound(env, call.tag);
      if (!isOutboundGroup(group)) throw new TypeError(`outbound "${call.tag}" is not a group`);
      if (group instanceof UrlTestOutbound) {
        // The group's own test also updates its selection (sing-box's URLTestGroup.URLTest).
        const results = await withTimeout(env.reactor, call.timeoutMs, () => group.checkAll());
        const out: Record<string, number> = {};
        for (const [tag, ms] of results) if (ms !== null) out[tag] = Math.round(ms);
        return out;
      }
      const out: Record<string, number> = {};
      await Promise.all([...new Set(group.members)].map(async (tag) => {
        try {
          const o = outbound(env, tag);
          out[tag] = Math.round(
            await withTimeout(
              env.reactor,
              call.timeoutMs,
              () => urlTestDelay(env.reactor, o, call.url, call.timeoutMs, tlsOf(env, tag)),
            ),
          );
        } catch {
          // A member that fails is left out, as sing-box does.
        }
      }));
      return out;
    }
    case "groups": {
      const out: Record<string, GroupState> = {};
      for (const [tag, o] of env.outbounds) {
        if (!isOutboundGroup(o)) continue;
        const delays: Record<string, number> = {};
        if (o instanceof UrlTestOutbound) {
          for (const [m, ms] of o.delays) delays[m] = Math.round(ms);
        }
        out[tag] = { now: o.selected, delays };
      }
      return out;
    }
    case "dns-query": {
      const dns = env.dns;
      if (!dns) throw new Error("no DNS module is running");
      const meta = newConnMetadata({
        id: 0,
        inbound: "",
        inboundType: "clash-api",
        network: "tcp",
        source: { addr: new Uint8Array(0), port: 0 },
        destination: { addr: new Uint8Array(0), port: 53 },
      });
      const query = encodeQuery(call.name, call.qtype, Math.floor(Math.random() * 0xffff));
      const answer = await dns.handleQuery(query, meta);
      if (answer === null) throw new Error(`the DNS rules dropped the query for ${call.name}`);
      return answer;
    }
    case "dns-flush":
      env.dns?.clearCache();
      return null;
  }
}
