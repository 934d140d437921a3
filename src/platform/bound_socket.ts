/**
 * Which of a system's sockets a flow's local end is: the one bound to exactly its address and
 * port, else one bound to the wildcard address on that port (an unconnected UDP socket). Both
 * process finders (`linux/process_lookup.ts`, `darwin/process_lookup.ts`) pick with it from the
 * socket lists their kernels give.
 *
 * ```ts
 * const s = pickBoundSocket(sockets, addr, (s) => s.port === port ? s.addr : null);
 * ```
 *
 * @module
 */

import { ipEqual } from "../net/ip.ts";

/**
 * The socket of `sockets` whose local address is `addr` (else the wildcard) on `port`. `localOf`
 * gives a socket's local address in `addr`'s family when its port is `port`, else null.
 */
export function pickBoundSocket<T>(
  sockets: Iterable<T>,
  addr: Uint8Array,
  localOf: (socket: T) => Uint8Array | null,
): T | null {
  let wildcard: T | null = null;
  for (const s of sockets) {
    const local = localOf(s);
    if (local === null) continue;
    if (ipEqual(local, addr)) return s;
    if (wildcard === null && local.every((b) => b === 0)) wildcard = s;
  }
  return wildcard;
}
