import assert from "node:assert/strict";
import { natFlow } from "../../src/outbound/nat_flow.ts";
import type { Destination, UdpFlow } from "../../src/outbound/types.ts";

/** A flow that records what is sent and lets the test deliver replies. */
function fakeFlow() {
  const sent: string[] = [];
  const flow: UdpFlow & { deliver(from: Destination): void } = {
    send: (_p, d) => void sent.push(d.domain ?? `${d.addr!.join(".")}:${d.port}`),
    onPacket: null,
    onClose: null,
    dropped: 0,
    close() {},
    deliver(from) {
      this.onPacket?.(new Uint8Array([1]), from);
    },
  };
  return { flow, sent };
}

const ORIGINAL = { addr: new Uint8Array([10, 71, 0, 2]), port: 53 };
const TARGET = { addr: new Uint8Array([10, 71, 0, 3]), port: 53 };
const OTHER = { addr: new Uint8Array([192, 0, 2, 9]), port: 123 };

Deno.test("`natFlow()` sends the original destination's datagrams to the target and maps replies back", () => {
  const { flow, sent } = fakeFlow();
  const nat = natFlow(flow, ORIGINAL, TARGET);
  const seen: Destination[] = [];
  nat.onPacket = (_p, from) => seen.push(from);
  nat.send(new Uint8Array([0]), ORIGINAL);
  nat.send(new Uint8Array([0]), OTHER);
  assert.deepEqual(sent, ["10.71.0.3:53", "192.0.2.9:123"]);
  flow.deliver(TARGET);
  flow.deliver(OTHER);
  assert.deepEqual(seen, [ORIGINAL, OTHER]);
  let closed = false;
  nat.onClose = () => closed = true;
  flow.onClose!();
  assert.equal(closed, true);
});

Deno.test("`natFlow()` matches replies to a domain target by port and leaves an unchanged flow alone", () => {
  const { flow } = fakeFlow();
  assert.equal(natFlow(flow, ORIGINAL, { addr: ORIGINAL.addr.slice(), port: 53 }), flow);
  const nat = natFlow(flow, ORIGINAL, { domain: "dns.example", port: 53 });
  const seen: Destination[] = [];
  nat.onPacket = (_p, from) => seen.push(from);
  flow.deliver({ addr: new Uint8Array([198, 51, 100, 1]), port: 53 });
  flow.deliver({ addr: new Uint8Array([198, 51, 100, 1]), port: 5353 });
  assert.deepEqual(seen[0], ORIGINAL);
  assert.equal(seen[1]!.port, 5353);
});
