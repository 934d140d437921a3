/**
 * A DNS transport whose implementation is imported by its first query: `https` servers need
 * `node:http2` and TLS, which a worker whose config has no such server should not load (each
 * isolate's module graph is resident memory: `docs/architecture.md`, "Memory"). The options are
 * checked when the DNS module is built, as for every transport; only the import waits.
 *
 * ```ts
 * const t = lazyHttpsTransport("cf", reactor, dialer, address, tls, request);
 * const answer = await t.exchange(query, 5000); // imports transport_https.ts, then asks
 * ```
 *
 * @module
 */

import type { DnsTransport } from "./transport.ts";
import type { HttpsTransport } from "./transport_https.ts";

/** Builds the real transport on the first `exchange`; `close` closes it if it was built. */
export class LazyTransport implements DnsTransport {
  #real: Promise<DnsTransport> | null = null;
  #closed = false;

  constructor(
    readonly tag: string,
    readonly type: string,
    readonly load: () => Promise<DnsTransport>,
  ) {}

  exchange(query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.#closed) {
      return Promise.reject(new TypeError(`DNS server "${this.tag}": transport closed`));
    }
    this.#real ??= this.load();
    return this.#real.then((t) => t.exchange(query, timeoutMs));
  }

  close(): void {
    this.#closed = true;
    this.#real?.then((t) => t.close(), () => {});
  }
}

/** An `https` (and `h3`) server's transport: `HttpsTransport`, imported by the first query. */
export function lazyHttpsTransport(
  ...args: ConstructorParameters<typeof HttpsTransport>
): LazyTransport {
  return new LazyTransport(args[0], "https", async () => {
    const { HttpsTransport } = await import("./transport_https.ts");
    return new HttpsTransport(...args);
  });
}
