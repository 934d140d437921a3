/**
 * Whether a proxy outbound's server answers, as its dials find out: the first failure to
 * connect to the server logs one warning (the outbound, the server, the reason, and that new
 * connections fail until it is back), later failures only at debug level, and the first
 * successful connection after that logs that it is back. So a local SOCKS server that stops
 * produces two clear lines instead of one error per connection, and every connection through
 * it still fails at once (a refused connect to a local port takes microseconds).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";

const log = getLogger(["tunbox", "outbound"]);

/** Tracks one proxy server's reachability for its outbound's log. */
export class ServerHealth {
  #down = false;
  #failures = 0;

  constructor(
    /** `socks outbound "proxy"`. */
    readonly name: string,
    /** `127.0.0.1:1080`. */
    readonly server: string,
  ) {}

  /** True after a failed connect until the next successful one. */
  get down(): boolean {
    return this.#down;
  }

  /** Records a failed connect to the server. */
  failed(error: unknown): void {
    this.#failures++;
    const reason = error instanceof Error ? error.message : String(error);
    if (this.#down) {
      log.debug("{name}: server {server} still down: {reason}", {
        name: this.name,
        server: this.server,
        reason,
      });
      return;
    }
    this.#down = true;
    this.#failures = 1;
    log.warn(
      "{name}: server {server} is down ({reason}); new connections through it fail until it is back",
      { name: this.name, server: this.server, reason },
    );
  }

  /** Records a successful connect to the server. */
  ok(): void {
    if (!this.#down) return;
    this.#down = false;
    log.info("{name}: server {server} is back ({failures} connection(s) failed meanwhile)", {
      name: this.name,
      server: this.server,
      failures: this.#failures,
    });
  }
}
