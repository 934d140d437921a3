/**
 * tunbox's DNS module for callers outside `dns/`: {@linkcode createDns} builds it on a worker's
 * reactor (`module.ts`: servers, rules, cache, FakeIP, hijack answers); the shared FakeIP and
 * reverse-mapping memory, DNS-over-TCP framing and the step that rewrites a flow's FakeIP
 * destination before routing come with it.
 *
 * ```ts
 * const dns = createDns(options, { reactor, outbounds, defaultOutbound, ctx });
 * ctx.resolve = (domain, strategy) => dns.lookup(domain, strategy);
 * const answer = await dns.handleQuery(udpPayload, meta); // null: drop
 * const prepare = dnsFlowPrepare(options, dns); // FakeIP → domain before routing
 * ```
 *
 * @module
 */

export { createDns, type DnsEnv, type DnsModule, unsupportedServerMessage } from "./module.ts";
export { type DnsTransport } from "./transport.ts";
export { FAKEIP_TTL, FakeIpStore, missingFakeIpRecord } from "./fakeip.ts";
export { createSharedDnsMemory, type SharedDnsMemory } from "./shared_names.ts";
export { frameMessage, FrameReader } from "./tcp_framing.ts";
export { dnsFlowPrepare, type DnsNames } from "./flow_prepare.ts";
