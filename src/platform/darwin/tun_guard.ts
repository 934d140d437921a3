/**
 * Checks a running utun and the routes tunbox installed through it, and repairs what is missing:
 * after a sleep, a network change or a route deleted by another program (`network_monitor.ts`
 * asks for a check). What it verifies, in order:
 *
 * 1. the utun still exists with the same index (if not, nothing can be repaired: the process
 *    that holds the fd lost it, which it only does on close);
 * 2. it is up (IFF_UP), else it is brought up;
 * 3. every configured address is on it (`NET_RT_IFLIST2`), else it is added again;
 * 4. every planned route is in the table through it (`NET_RT_DUMP`), else it is added again
 *    (a route of the same destination through another interface is replaced).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DarwinLibc } from "../../../ffi/darwin/libc.ts";
import { parseInterfaceList, parseRouteDump } from "../../../ffi/darwin/structs.ts";
import { formatPrefix, ipEqual, type Prefix } from "../../net/ip.ts";
import type { PlannedRoute } from "../types.ts";
import { readInterfaceList, readRouteDump } from "./default_interface.ts";
import { missingRoutes, restoreRoutes } from "./route_socket.ts";
import { addUtunAddresses, bringUtunUp } from "./utun.ts";

const log = getLogger(["tunbox", "platform"]);

/** The utun and what tunbox put on it. */
export class UtunGuard {
  /** Routes installed through the utun (set by `installRoutes`, cleared on removal). */
  routes: readonly PlannedRoute[] = [];

  constructor(
    readonly libc: DarwinLibc,
    readonly name: string,
    readonly index: number,
    readonly addresses: readonly Prefix[],
  ) {}

  /** Verifies and repairs (see the module comment); returns one line per repair made. */
  check(): string[] {
    const { libc, name } = this;
    const index = libc.if_nametoindex(name);
    if (index !== this.index) {
      log.error("{name} is gone (index {now}, was {was}): it cannot be repaired", {
        name,
        now: index,
        was: this.index,
      });
      return [];
    }
    const repairs: string[] = [];
    if (bringUtunUp(libc, name)) repairs.push(`brought ${name} up`);
    const listed = parseInterfaceList(readInterfaceList(libc)).find((i) => i.index === index);
    const missing = this.addresses.filter((p) =>
      !listed?.addresses.some((a) => ipEqual(a.addr, p.addr))
    );
    if (missing.length > 0) {
      addUtunAddresses(libc, name, missing);
      for (const p of missing) repairs.push(`re-added address ${formatPrefix(p)} to ${name}`);
    }
    if (this.routes.length > 0) {
      const lost = missingRoutes(parseRouteDump(readRouteDump(libc)), this.routes, index);
      repairs.push(...restoreRoutes(libc, lost));
    }
    return repairs;
  }
}
