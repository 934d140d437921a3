/**
 * A {@linkcode ConnRecord} for tests: a routed TCP connection from 198.18.0.1:40312 to
 * 203.0.113.10:80 through `proxy` by `route.final`, with the given fields replaced.
 *
 * ```ts
 * const rec = connRecord({ network: "udp", outbound: "direct", chain: ["direct"] });
 * ```
 *
 * @module
 */

import type { ConnRecord } from "../../src/conn/record.ts";

/** A closed-or-live record with test defaults (see the module description). */
export function connRecord(over: Partial<ConnRecord> = {}): ConnRecord {
  return {
    id: 17,
    network: "tcp",
    inbound: "tun-in",
    inboundType: "tun",
    sourceIp: "198.18.0.1",
    sourcePort: 40312,
    destinationIp: "203.0.113.10",
    destinationPort: 80,
    destinationHost: "",
    domain: "",
    protocol: "",
    processPath: "",
    action: "route",
    ruleIndex: -1,
    rule: "final",
    outbound: "proxy",
    chain: ["proxy"],
    upload: 100,
    download: 4096,
    start: Date.UTC(2025, 0, 2, 3, 4, 5),
    ...over,
  };
}
