import assert from "node:assert/strict";
import { dnsMetadata, lookupMetadata } from "../../src/dns/router.ts";
import { flowMeta, makeDns, withReactor } from "./_helpers.ts";

const A = 1, AAAA = 28;

Deno.test("`DnsRouter.select()` names the server a query would use, without sending it", async () => {
  await withReactor(async (r) => {
    const { dns } = makeDns(r, {
      dns: {
        servers: [
          { type: "udp", tag: "remote", server: "192.0.2.53" },
          { type: "local", tag: "local" },
          { type: "fakeip", tag: "fake", inet4_range: "198.18.0.0/15" },
        ],
        rules: [
          { domain_suffix: ["lan"], action: "reject" },
          { query_type: ["A"], domain_suffix: ["example.com"], server: "fake" },
          { domain: ["cn.example"], server: "local" },
        ],
        final: "remote",
      },
    });
    try {
      const q = (name: string, qtype: number) => dnsMetadata(flowMeta(), name, qtype);
      assert.deepEqual(dns.router.select(q("www.example.com", A), A), {
        server: "fake",
        ruleIndex: 1,
        ruleText: "query_type=A domain_suffix=example.com => route(fake)",
        addressLimited: false,
      });
      assert.equal(dns.router.select(q("www.example.com", AAAA), AAAA).server, "remote");
      assert.equal(dns.router.select(q("www.example.com", AAAA), AAAA).ruleIndex, -1);
      assert.deepEqual(dns.router.select(q("printer.lan", A), A), {
        server: null,
        ruleIndex: 0,
        ruleText: "domain_suffix=lan => reject",
        addressLimited: false,
      });
      // tunbox's own lookups skip FakeIP servers and carry no query type.
      const own = dns.router.select(lookupMetadata("www.example.com"), 0, true);
      assert.equal(own.server, "remote");
      assert.equal(dns.router.select(lookupMetadata("cn.example"), 0, true).server, "local");
    } finally {
      dns.close();
    }
    await Promise.resolve();
  });
});
