import assert from "node:assert/strict";
import fc from "fast-check";
import type { OutboundOptions, Rule } from "../../src/config/types.ts";
import type { ConnMetadata } from "../../src/route/metadata.ts";
import { type RouteHooks, Router, type RouteTrace } from "../../src/route/router.ts";
import { anyRule, flowCase, type SniffOutcome } from "./_arbitrary.ts";
import { flow, logical, prefixes, routeTo, rule } from "./_helpers.ts";

const OUTBOUNDS: OutboundOptions[] = [
  { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: 1080 },
  { type: "direct", tag: "direct" },
  { type: "block", tag: "block" },
];

function router(rules: Rule[]): Router {
  return new Router({ rules, outbounds: OUTBOUNDS, now: () => 0 });
}

/** Hooks that apply a fixed sniff outcome and resolve every domain to 10.0.0.1. */
function hooksFor(meta: ConnMetadata, sniff: SniffOutcome): RouteHooks {
  return {
    sniff() {
      if (sniff.protocol !== "") meta.protocol = sniff.protocol;
      if (sniff.domain !== "") meta.domain = sniff.domain;
      return Promise.resolve();
    },
    resolve() {
      meta.destinationAddresses = [new Uint8Array([10, 0, 0, 1])];
      return Promise.resolve();
    },
  };
}

Deno.test("`Router.matchSync()` with a trace records each rule tried and the items evaluated", () => {
  const r = router([
    rule({ port: [22] }, routeTo("block")),
    rule({ network: ["udp"], ip_cidr: prefixes("8.8.8.0/24") }, routeTo("direct")),
    rule({ ip_cidr: prefixes("8.8.8.0/24"), port: [443, 80] }, routeTo("proxy")),
    rule({}, routeTo("block")),
  ]);
  const trace: RouteTrace = { steps: [] };
  const d = r.matchSync(flow("8.8.8.8:443"), trace);
  assert.equal(d?.action === "route" && d.outbound, "proxy");
  assert.deepEqual(trace.steps, [
    {
      index: 0,
      text: "port=22 => route(block)",
      matched: false,
      items: [{ text: "port=22", matched: false }],
    },
    {
      index: 1,
      text: "network=udp ip_cidr=8.8.8.0/24 => route(direct)",
      matched: false,
      // sing-box's order: address and port groups first (their flags are shared with included
      // rule-sets), then the other items.
      items: [{ text: "ip_cidr=8.8.8.0/24", matched: true }, {
        text: "network=udp",
        matched: false,
      }],
    },
    {
      index: 2,
      text: "ip_cidr=8.8.8.0/24 port=[443 80] => route(proxy)",
      matched: true,
      items: [{ text: "ip_cidr=8.8.8.0/24", matched: true }, {
        text: "port=[443 80]",
        matched: true,
      }],
    },
  ]);
});

Deno.test("`Router` trace nests a logical rule's sub-rules and notes skipped actions", async () => {
  const r = router([
    { ...rule({ port: [443] }, { action: "sniff", sniffer: ["quic"] }) },
    logical("or", [rule({ port: [53] }), rule({ domain: ["example.com"] })], routeTo("direct")),
    rule({}, { action: "resolve" }),
    rule({ port: [443] }, { action: "bypass" }),
  ]);
  const meta = flow("1.1.1.1:443");
  const trace: RouteTrace = { steps: [] };
  const d = await r.route(meta, hooksFor(meta, { protocol: "", domain: "" }), trace);
  assert.equal(d.ruleIndex, -1);
  assert.deepEqual(trace.steps.map((s) => [s.index, s.matched, s.note]), [
    [0, true, "sniff skipped: the rule names no sniffer for TCP"],
    [1, false, undefined],
    [2, true, "resolve skipped: the destination is already an IP address"],
    [3, true, "bypass without an outbound is skipped outside auto_redirect"],
  ]);
  assert.deepEqual(trace.steps[1]!.items, [
    { text: "port=53", matched: false, items: [{ text: "port=53", matched: false }] },
    {
      text: "domain=example.com",
      matched: false,
      items: [{ text: "domain=example.com", matched: false }],
    },
  ]);
});

Deno.test("`Router.route()` trace says what a sniff found", async () => {
  const r = router([
    rule({}, { action: "sniff", sniffer: [] }),
    rule({ protocol: ["tls"] }, routeTo("proxy")),
  ]);
  const meta = flow("1.1.1.1:443");
  const trace: RouteTrace = { steps: [] };
  await r.route(meta, hooksFor(meta, { protocol: "tls", domain: "example.com" }), trace);
  assert.equal(trace.steps[0]!.note, "sniffed protocol tls, domain example.com");
  assert.equal(trace.steps[1]!.matched, true);
});

Deno.test("`Router` decides the same with and without a trace (generated rules and flows)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(anyRule, { minLength: 0, maxLength: 8 }),
      flowCase,
      async (rules, c) => {
        const plain = router(rules);
        const traced = router(rules);
        const m1 = c.meta();
        const m2 = c.meta();
        const d1 = await plain.route(m1, hooksFor(m1, c.sniff));
        const trace: RouteTrace = { steps: [] };
        const d2 = await traced.route(m2, hooksFor(m2, c.sniff), trace);
        assert.deepEqual(d2, d1);
        assert.deepEqual({ ...m2, id: 0 }, { ...m1, id: 0 });
        // Steps are in rule order, each rule at most once; the deciding rule is the last step.
        const indexes = trace.steps.map((s) => s.index);
        assert.deepEqual(indexes, [...indexes].sort((a, b) => a - b));
        assert.equal(new Set(indexes).size, indexes.length);
        if (d2.ruleIndex >= 0) {
          const last = trace.steps[trace.steps.length - 1]!;
          assert.equal(last.index, d2.ruleIndex);
          assert.equal(last.matched, true);
        } else {
          assert.equal(trace.steps.length, rules.length);
        }
      },
    ),
    { numRuns: 400 },
  );
});
