// sing-box 1.14's tun dns_address as the connection path applies it: flows from the tun inbound
// to the derived DNS address on port 53 are answered by the DNS module before any rule, also
// when the rules would send them to a proxy; dns_mode disabled and an explicit dns_address turn
// that off; other inbounds, ports and addresses are untouched.

import assert from "node:assert/strict";
import type { Options, OutboundOptions } from "../../src/config/types.ts";
import { ConnectionPath, type FlowServices } from "../../src/conn/mod.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { Router } from "../../src/route/router.ts";
import { inboundDnsHijack } from "../../src/tun/inbound_dns.ts";
import { sleep, withReactor } from "../outbound/_helpers.ts";
import { flow, ip } from "../route/_helpers.ts";
import { FakeOutbound, FakeUdpSide } from "../conn/_fakes.ts";
import { tunOptions } from "../platform/darwin/_options.ts";

const withTun = (over: Parameters<typeof tunOptions>[0]) =>
  ({ inbounds: [tunOptions({ address: ["198.18.0.1/16"], ...over })] }) as unknown as Options;

Deno.test("`inboundDnsHijack()` claims the derived DNS address on port 53 of the tun inbound only", () => {
  const hijack = inboundDnsHijack(withTun({}))!;
  assert.equal(hijack(flow("198.18.0.2:53", { network: "udp" })), "dns_address 198.18.0.2");
  assert.equal(hijack(flow("198.18.0.2:53")), "dns_address 198.18.0.2"); // TCP too
  assert.equal(hijack(flow("198.18.0.2:853")), null);
  assert.equal(hijack(flow("198.18.0.3:53", { network: "udp" })), null);
  assert.equal(hijack(flow("8.8.8.8:53", { network: "udp" })), null);
  assert.equal(hijack(flow("198.18.0.2:53", { network: "udp", inbound: "other" })), null);
  assert.equal(inboundDnsHijack(withTun({ dns_mode: "disabled" })), null);
  assert.equal(inboundDnsHijack(withTun({ dns_address: [ip("198.18.0.53")] })), null);
  assert.ok(inboundDnsHijack(withTun({ dns_mode: "native" })));
});

function echoDns() {
  return {
    handleQuery(query: Uint8Array) {
      const answer = query.slice();
      answer[2]! |= 0x80;
      return Promise.resolve(answer);
    },
  };
}

async function until(r: Reactor, cond: () => boolean): Promise<void> {
  const deadline = r.now() + 2000;
  while (!cond()) {
    if (r.now() > deadline) throw new Error("timed out");
    await sleep(r, 2);
  }
}

Deno.test("a query to 198.18.0.2:53 is answered by the DNS module even when the rules say proxy", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    const services: FlowServices = {
      router: new Router({
        rules: [],
        outbounds: [{ type: "direct", tag: "proxy" } as OutboundOptions],
      }),
      outbounds: new Map([["proxy", out]]),
      dns: echoDns(),
      prepare: null,
      lookup: null,
      autoHijack: inboundDnsHijack(withTun({})),
    };
    const path = new ConnectionPath({ reactor: r, services });
    const q = new Uint8Array(17);
    q[1] = 9;
    const side = new FakeUdpSide(q, { addr: ip("198.18.0.2"), port: 53 });
    await path.udp(flow("198.18.0.2:53", { network: "udp" }), side);
    await until(r, () => side.replies.length === 1);
    assert.equal(side.replies[0]!.payload[1], 9);
    assert.equal(side.replies[0]!.payload[2]! & 0x80, 0x80);
    assert.deepEqual(out.flows, []); // never reached the proxy
    const rec = path.tracker.report()!.opened[0]!;
    assert.equal(rec.action, "hijack-dns");
    assert.equal(rec.rule, "dns_address 198.18.0.2");
    // Another destination still goes by the rules (final: proxy).
    const other = new FakeUdpSide(q, { addr: ip("9.9.9.9"), port: 53 });
    await path.udp(flow("9.9.9.9:53", { network: "udp" }), other);
    assert.equal(out.flows.length, 1);
  });
});
