// ICMP echo flows routed by the rules: real forwarding (fake upstream here), local replies,
// host unreachable, drops, and requests queued while routing.

import assert from "node:assert/strict";
import type { OutboundOptions } from "../../src/config/types.ts";
import { ConnectionPath } from "../../src/conn/mod.ts";
import { Reactor } from "../../src/io/reactor.ts";
import { parsePrefix } from "../../src/net/ip.ts";
import type { IcmpFlow, Outbound } from "../../src/outbound/types.ts";
import { Router } from "../../src/route/router.ts";
import { IcmpFlows, MAX_ICMP_FLOWS } from "../../src/tun/icmp_flows.ts";
import { checksum } from "../../src/wire/checksum.ts";
import { prefixes, routeTo, rule } from "../route/_helpers.ts";

const OUTBOUNDS: OutboundOptions[] = [
  { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: 1080 },
  { type: "direct", tag: "direct" },
];

/** An IPv4 echo request from 198.18.0.1 to `dst`. */
function request(dst: number[], id: number, seq: number): Uint8Array {
  const p = new Uint8Array(20 + 8 + 4);
  p.set([0x45, 0, 0, p.length, 0, 0, 0x40, 0, 64, 1, 0, 0, 198, 18, 0, 1, ...dst]);
  p.set([8, 0, 0, 0, id >> 8, id, seq >> 8, seq, 1, 2, 3, 4], 20);
  const c = checksum(p, 20, p.length);
  p[22] = c >> 8;
  p[23] = c;
  return p;
}

class FakeUpstream implements IcmpFlow {
  onReply: ((m: Uint8Array) => void) | null = null;
  sent: Uint8Array[] = [];
  closed = false;
  send(m: Uint8Array): void {
    this.sent.push(m.slice());
  }
  close(): void {
    this.closed = true;
  }
}

function setup() {
  const reactor = new Reactor();
  const upstreams: FakeUpstream[] = [];
  const direct = {
    tag: "direct",
    type: "direct",
    networks: new Set(["tcp", "udp"]),
    openIcmp: () => {
      const u = new FakeUpstream();
      upstreams.push(u);
      return u;
    },
  } as unknown as Outbound;
  const proxy = { tag: "proxy", type: "socks", networks: new Set(["tcp"]) } as unknown as Outbound;
  const router = new Router({
    rules: [
      rule({ network: ["icmp"], ip_cidr: prefixes("10.0.0.1") }, {
        action: "reject",
        method: "reply",
      }),
      rule({ network: ["icmp"], ip_cidr: prefixes("10.0.0.2") }, {
        action: "reject",
        method: "default",
      }),
      rule({ ip_cidr: prefixes("10.0.0.3") }, routeTo("direct")),
    ],
    outbounds: OUTBOUNDS,
    final: "proxy",
  });
  const out: Uint8Array[] = [];
  const path = new ConnectionPath({
    reactor,
    services: {
      router,
      outbounds: new Map([["direct", direct], ["proxy", proxy]]),
      dns: null,
      prepare: null,
      lookup: null,
    },
  });
  const flows = new IcmpFlows({
    reactor,
    path,
    inboundTag: "tun-in",
    tunPrefixes: [parsePrefix("198.18.0.1/30")!],
    emit: (p, len) => out.push(p.slice(0, len)),
    headroom: 0,
  });
  const send = (p: Uint8Array) => flows.input(p, 4, 20, p.length, 12, 16, reactor.now());
  return { reactor, flows, out, upstreams, send, path };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("`IcmpFlows` forwards direct-routed echo and returns the real reply to the client", async () => {
  const { reactor, flows, out, upstreams, send, path } = setup();
  try {
    send(request([10, 0, 0, 3], 0x77, 1));
    send(request([10, 0, 0, 3], 0x77, 2)); // queued while routing, then sent
    await tick();
    assert.equal(upstreams.length, 1);
    assert.deepEqual(upstreams[0]!.sent.map((m) => m[7]), [1, 2]);
    assert.equal(out.length, 0, "nothing is answered locally");
    // The upstream's reply (checksum not valid) becomes 10.0.0.3 -> 198.18.0.1 with a good one.
    upstreams[0]!.onReply!(Uint8Array.of(0, 0, 0xde, 0xad, 0, 0x77, 0, 1, 1, 2, 3, 4));
    const p = out[0]!;
    assert.deepEqual([...p.subarray(12, 20)], [10, 0, 0, 3, 198, 18, 0, 1]);
    assert.equal(p[9], 1);
    assert.equal(checksum(p, 0, 20), 0);
    assert.equal(checksum(p, 20, p.length), 0);
    assert.deepEqual([...p.subarray(20)], [0, 0, p[22], p[23], 0, 0x77, 0, 1, 1, 2, 3, 4]);
    assert.equal(flows.stats.forwarded, 2);
    const [rec] = path.tracker.report()!.opened;
    assert.deepEqual(
      [rec!.network, rec!.destinationIp, rec!.ruleIndex, rec!.outbound],
      ["icmp", "10.0.0.3", 2, "direct"],
    );
  } finally {
    flows.close();
    reactor.close();
  }
  assert.equal(upstreams[0]!.closed, true);
  const [closed] = path.tracker.report()!.closed;
  assert.deepEqual([closed!.upload, closed!.download], [24, 12], "echo bytes both ways");
});

Deno.test("`IcmpFlows` answers reject(reply) and the TUN's network locally, reject with unreachable", async () => {
  const { reactor, flows, out, send } = setup();
  try {
    send(request([198, 18, 0, 2], 1, 1));
    assert.equal(out.length, 1, "the TUN's gateway answers at once");
    assert.equal(out[0]![20], 0);
    send(request([10, 0, 0, 1], 2, 1));
    await tick();
    assert.equal(out.length, 2);
    assert.deepEqual([...out[1]!.subarray(12, 20)], [10, 0, 0, 1, 198, 18, 0, 1]);
    assert.equal(out[1]![20], 0);
    const req = request([10, 0, 0, 2], 3, 1);
    send(req);
    await tick();
    const u = out[2]!;
    assert.deepEqual([u[20], u[21]], [3, 1], "host unreachable");
    assert.deepEqual([...u.subarray(12, 20)], [10, 0, 0, 2, 198, 18, 0, 1]);
    assert.deepEqual([...u.subarray(28)], [...req.subarray(0, 28)], "quotes header + 8 bytes");
    assert.equal(checksum(u, 20, u.length), 0);
  } finally {
    flows.close();
    reactor.close();
  }
});

Deno.test("`IcmpFlows` drops echo routed to an outbound without ICMP (sing-box), once per flow", async () => {
  const { reactor, flows, out, upstreams, send } = setup();
  try {
    for (let seq = 1; seq <= 3; seq++) send(request([203, 0, 113, 10], 9, seq));
    await tick();
    send(request([203, 0, 113, 10], 9, 4));
    assert.equal(out.length, 0);
    assert.equal(upstreams.length, 0);
    assert.equal(flows.stats.dropped, 4);
    assert.equal(flows.size, 1);
  } finally {
    flows.close();
    reactor.close();
  }
});

Deno.test("`IcmpFlows` caps open flows, so pings looping back into the TUN cannot pile up", async () => {
  const { reactor, flows, upstreams, send } = setup();
  try {
    for (let id = 0; id < MAX_ICMP_FLOWS + 10; id++) send(request([10, 0, 0, 3], id, 1));
    await tick();
    assert.equal(flows.size, MAX_ICMP_FLOWS);
    assert.equal(upstreams.length, MAX_ICMP_FLOWS);
    assert.equal(flows.stats.dropped, 10);
  } finally {
    flows.close();
    reactor.close();
  }
});

Deno.test("`IcmpFlows.expire` looks at the idle flows and the first live one, not at every flow", async () => {
  const { reactor, flows } = setup();
  const at = (id: number, now: number) => {
    const p = request([10, 0, 0, 3], id, 1);
    flows.input(p, 4, 20, p.length, 12, 16, now);
  };
  try {
    for (let id = 0; id < 200; id++) at(id, id * 100); // flow `id` last seen at id * 100 ms
    await tick();
    at(0, 40_000); // a packet moves flow 0 behind the others
    let visits = flows.stats.expiryVisits;
    assert.equal(flows.expire(20_000), 0);
    assert.equal(flows.stats.expiryVisits - visits, 1, "nothing idle: one flow looked at");
    visits = flows.stats.expiryVisits;
    assert.equal(flows.expire(40_050), 100, "flows 1..100 were idle for more than 30 s");
    assert.equal(flows.stats.expiryVisits - visits, 101);
    assert.equal(flows.size, 100);
    visits = flows.stats.expiryVisits;
    assert.equal(flows.expire(40_050), 0);
    assert.equal(flows.stats.expiryVisits - visits, 1);
    assert.equal(flows.expire(70_001), 100, "flows 101..199 and flow 0 (last seen at 40 s)");
    assert.equal(flows.size, 0);
  } finally {
    flows.close();
    reactor.close();
  }
});
