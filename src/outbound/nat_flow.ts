/**
 * Destination NAT for a UDP flow (sing-box's `bufio.NewDestinationNATPacketConn`): when a rule
 * rewrote a packet connection's destination (`override_address`/`override_port`, a FakeIP
 * domain), datagrams the client sends to the original destination go to the new one, and
 * replies from the new one are reported as coming from the original, so the client (and a
 * `tproxy` write-back socket) sees the server it asked answer. Datagrams to other destinations
 * pass unchanged (full cone).
 *
 * ```ts
 * const flow = natFlow(await outbound.openUdp(meta), { addr: fake, port: 53 }, { domain: "dns.example", port: 53 });
 * ```
 *
 * @module
 */

import type { Destination, UdpFlow } from "./types.ts";

function same(a: Destination, b: Destination): boolean {
  if (a.port !== b.port) return false;
  if (a.domain !== undefined || b.domain !== undefined) return a.domain === b.domain;
  const x = a.addr, y = b.addr;
  if (!x || !y || x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Wraps `flow` so `original` is reached at `target` (see the module description). */
export function natFlow(flow: UdpFlow, original: Destination, target: Destination): UdpFlow {
  if (same(original, target)) return flow;
  // A reply to a name comes from one of its addresses: match it by port.
  const fromTarget = target.domain !== undefined
    ? (from: Destination) => from.port === target.port
    : (from: Destination) => same(from, target);
  const wrapped: UdpFlow = {
    send(payload, dest) {
      flow.send(payload, same(dest, original) ? target : dest);
    },
    onPacket: null,
    onClose: null,
    get dropped() {
      return flow.dropped;
    },
    close() {
      flow.close();
    },
  };
  flow.onPacket = (payload, from) =>
    wrapped.onPacket?.(payload, fromTarget(from) ? original : from);
  flow.onClose = (reason) => wrapped.onClose?.(reason);
  return wrapped;
}
