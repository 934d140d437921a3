import assert from "node:assert/strict";
import { setClashModeSource } from "../../src/route/clash_mode.ts";
import { formatIp, parseIp } from "../../src/net/ip.ts";
import { createDns, type DnsModule } from "../../src/dns/mod.ts";
import { verdict } from "../../src/config/support.ts";
import { testContext } from "../outbound/_helpers.ts";
import {
  answersOf,
  ask,
  config,
  FakeClock,
  flowMeta,
  makeDns,
  makeDnsUnchecked,
  type Msg,
  query,
  reply,
  startDnsServer,
  type TestDnsServer,
  withReactor,
  zoneHandler,
} from "./_helpers.ts";
import type { Reactor } from "../../src/io/reactor.ts";

const ZONE_A = {
  "a.test": {
    A: [{ ttl: 60, data: "192.0.2.1" }],
    AAAA: [{ ttl: 60, data: "2001:db8::1" }],
  },
  "b.test": { A: [{ ttl: 60, data: "192.0.2.2" }] },
  "out.test": { A: [{ ttl: 60, data: "203.0.113.9" }] },
};
const ZONE_B = {
  "a.test": { A: [{ ttl: 60, data: "198.51.100.1" }] },
  "b.test": { A: [{ ttl: 60, data: "198.51.100.2" }] },
  "out.test": { A: [{ ttl: 60, data: "198.51.100.9" }] },
};

/** An inbound definition, only so that rules may name its tag. */
function mixed(tag: string) {
  return { type: "mixed", tag, listen: "127.0.0.1", listen_port: 1 };
}

function udp(tag: string, s: TestDnsServer, extra: Record<string, unknown> = {}) {
  return { type: "udp", tag, server: "127.0.0.1", server_port: s.port, ...extra };
}

/** Two upstreams (`A` and `B`) and the module built from `dns` options. */
async function withTwo(
  dnsOptions: (a: TestDnsServer, b: TestDnsServer) => Record<string, unknown>,
  fn: (ctx: {
    r: Reactor;
    a: TestDnsServer;
    b: TestDnsServer;
    dns: ReturnType<typeof makeDns>["dns"];
    clock: FakeClock;
  }) => Promise<void>,
  useClock = false,
  top: Record<string, unknown> = {},
): Promise<void> {
  await withReactor(async (r) => {
    const a = startDnsServer(r, zoneHandler(ZONE_A));
    const b = startDnsServer(r, zoneHandler(ZONE_B));
    const clock = new FakeClock();
    const { dns } = makeDns(
      r,
      { ...top, dns: dnsOptions(a, b) },
      useClock ? { now: clock.now } : {},
    );
    try {
      await fn({ r, a, b, dns, clock });
    } finally {
      dns.close();
      a.close();
      b.close();
    }
  });
}

Deno.test("DNS rules pick the server; no match goes to final (default: first server)", async () => {
  await withTwo(
    (a, b) => ({
      servers: [udp("A", a), udp("B", b)],
      rules: [
        { domain_suffix: ["b.test"], server: "B" },
        { query_type: ["AAAA"], action: "reject" },
        { inbound: ["other-in"], server: "B" },
      ],
    }),
    async ({ a, b, dns }) => {
      assert.deepEqual(answersOf(await ask(dns, query("b.test"))), ["A 198.51.100.2"]);
      assert.deepEqual(answersOf(await ask(dns, query("a.test"))), ["A 192.0.2.1"]);
      assert.equal((await ask(dns, query("a.test", "AAAA")))!.rcode, "REFUSED");
      assert.deepEqual(
        answersOf(await ask(dns, query("out.test"), flowMeta("udp", "other-in"))),
        ["A 198.51.100.9"],
        "inbound of the hijacked flow",
      );
      assert.deepEqual(a.queries.map((q) => q.msg.questions[0].name), ["a.test"]);
      assert.deepEqual(b.queries.map((q) => q.msg.questions[0].name), ["b.test", "out.test"]);
    },
    false,
    { inbounds: [mixed("other-in")] },
  );
  await withTwo(
    (a, b) => ({ servers: [udp("A", a), udp("B", b)], final: "B" }),
    async ({ dns }) => {
      assert.deepEqual(answersOf(await ask(dns, query("a.test"))), ["A 198.51.100.1"]);
    },
  );
});

Deno.test("an outbound's lookup: its domain_resolver's server answers; else the rules, where legacy `outbound` matches its tag", async () => {
  await withTwo(
    (a, b) => ({
      servers: [udp("A", a), udp("B", b)],
      rules: [{ outbound: ["any"], server: "B" }],
      final: "A",
      disable_cache: true,
    }),
    async ({ dns }) => {
      const ip = async (request?: Parameters<typeof dns.lookup>[2]) =>
        (await dns.lookup("a.test", "ipv4_only", request)).map(formatIp);
      assert.deepEqual(await ip(), ["192.0.2.1"], "tunbox's own lookup: no outbound, final");
      assert.deepEqual(await ip({ outbound: "proxy" }), ["198.51.100.1"], "outbound: any");
      assert.deepEqual(await ip({ server: "A", outbound: "proxy" }), ["192.0.2.1"], "resolver");
    },
  );
  await withTwo(
    (a, b) => ({
      servers: [udp("A", a), udp("B", b)],
      rules: [{ outbound: ["direct"], server: "B" }],
      disable_cache: true,
    }),
    async ({ dns }) => {
      const ip = async (outbound: string) =>
        (await dns.lookup("a.test", "ipv4_only", { outbound })).map(formatIp);
      assert.deepEqual(await ip("direct"), ["198.51.100.1"]);
      assert.deepEqual(await ip("proxy"), ["192.0.2.1"], "another outbound's tag");
    },
  );
});

Deno.test("DNS route-options accumulate; reject drop gives null; logical rules match", async () => {
  await withTwo((a, b) => ({
    servers: [udp("A", a), udp("B", b)],
    rules: [
      { domain: ["a.test"], action: "route-options", rewrite_ttl: 7 },
      {
        type: "logical",
        mode: "and",
        rules: [{ domain_keyword: ["out"] }, { query_type: [1] }],
        server: "B",
      },
      { domain: ["drop.test"], action: "reject", method: "drop" },
    ],
  }), async ({ dns }) => {
    const a = await ask(dns, query("a.test"));
    assert.equal(a!.answers[0].ttl, 7);
    assert.deepEqual(answersOf(await ask(dns, query("out.test"))), ["A 198.51.100.9"]);
    assert.equal(await ask(dns, query("drop.test")), null);
  });
});

Deno.test("`strategy: ipv4_only` answers AAAA with an empty success and lookups get IPv4 only", async () => {
  await withTwo((a) => ({ servers: [udp("A", a)], strategy: "ipv4_only" }), async ({ a, dns }) => {
    const six = await ask(dns, query("a.test", "AAAA", 0x5151));
    assert.equal(six!.id, 0x5151);
    assert.equal(six!.rcode, "NOERROR");
    assert.deepEqual(six!.answers, []);
    assert.equal(a.queries.length, 0, "the server was not asked");
    assert.deepEqual((await dns.lookup("a.test")).map(formatIp), ["192.0.2.1"]);
    assert.deepEqual(a.queries.map((q) => q.msg.questions[0].type), ["A"]);
  });
});

Deno.test("lookup strategies: order and filter by family; the caller's strategy wins", async () => {
  await withTwo((a) => ({ servers: [udp("A", a)], strategy: "prefer_ipv6" }), async ({ dns }) => {
    assert.deepEqual((await dns.lookup("a.test")).map(formatIp), ["2001:db8::1", "192.0.2.1"]);
    assert.deepEqual((await dns.lookup("a.test", "prefer_ipv4")).map(formatIp), [
      "192.0.2.1",
      "2001:db8::1",
    ]);
    assert.deepEqual((await dns.lookup("a.test", "ipv6_only")).map(formatIp), ["2001:db8::1"]);
    assert.deepEqual((await dns.lookup("a.test.", "ipv4_only")).map(formatIp), ["192.0.2.1"]);
    // b.test has no AAAA: prefer_ipv6 still returns its IPv4 address; ipv6_only finds nothing.
    assert.deepEqual((await dns.lookup("b.test")).map(formatIp), ["192.0.2.2"]);
    await assert.rejects(dns.lookup("b.test", "ipv6_only"), /empty result/);
    await assert.rejects(dns.lookup("nx.test"), /NXDOMAIN/);
  });
});

Deno.test("lookup returns IP literals as they are and rejects names DNS cannot carry", async () => {
  await withTwo((a) => ({ servers: [udp("A", a)] }), async ({ a, dns }) => {
    assert.deepEqual((await dns.lookup("192.0.2.55")).map(formatIp), ["192.0.2.55"]);
    assert.deepEqual((await dns.lookup("[2001:db8::7]")).map(formatIp), ["2001:db8::7"]);
    await assert.rejects(dns.lookup("bad name.test"), /characters DNS does not allow/);
    await assert.rejects(dns.lookup(`${"x".repeat(64)}.test`), /longer than 63/);
    assert.equal(a.queries.length, 0);
  });
});

Deno.test("cache: a second query is answered from the cache with counted-down TTLs, then expires", async () => {
  await withTwo((a) => ({ servers: [udp("A", a)] }), async ({ a, dns, clock }) => {
    const first = await ask(dns, query("a.test", "A", 1));
    assert.equal(first!.answers[0].ttl, 60);
    clock.advance(10_500);
    const second = await ask(dns, query("A.TEST", "A", 2));
    assert.equal(second!.id, 2);
    assert.equal(second!.answers[0].ttl, 49);
    assert.equal(a.queries.length, 1, "served from the cache");
    // Lookups share the cache for the same question.
    assert.deepEqual((await dns.lookup("a.test", "ipv4_only")).map(formatIp), ["192.0.2.1"]);
    assert.equal(a.queries.length, 1);
    clock.advance(50_000);
    await ask(dns, query("a.test", "A", 3));
    assert.equal(a.queries.length, 2, "expired after 60 s");
  }, true);
});

Deno.test("cache: NXDOMAIN is cached for the SOA minimum, SERVFAIL is not", async () => {
  await withReactor(async (r) => {
    const clock = new FakeClock();
    let servfail = 0;
    const zone = zoneHandler(ZONE_A);
    const s = startDnsServer(r, (q, t) => {
      if (q.questions[0].name === "broken.test") {
        servfail++;
        return reply(q, [], 2);
      }
      return zone(q, t);
    });
    const { dns } = makeDns(r, { dns: { servers: [udp("A", s)] } }, { now: clock.now });
    try {
      assert.equal((await ask(dns, query("nx.test")))!.rcode, "NXDOMAIN");
      assert.equal((await ask(dns, query("nx.test")))!.rcode, "NXDOMAIN");
      assert.equal(s.queries.length, 1);
      clock.advance(31_000);
      await ask(dns, query("nx.test"));
      assert.equal(s.queries.length, 2, "SOA minimum 30 s");
      await ask(dns, query("broken.test"));
      const again = await ask(dns, query("broken.test"));
      assert.equal(again!.rcode, "SERVFAIL");
      assert.equal(servfail, 2);
    } finally {
      dns.close();
      s.close();
    }
  });
});

Deno.test("cache: disable_cache globally and per rule; disable_expire keeps answers", async () => {
  await withTwo((a) => ({ servers: [udp("A", a)], disable_cache: true }), async ({ a, dns }) => {
    await ask(dns, query("a.test"));
    await ask(dns, query("a.test"));
    assert.equal(a.queries.length, 2);
  });
  await withTwo((a) => ({
    servers: [udp("A", a)],
    rules: [{ domain: ["b.test"], server: "A", disable_cache: true }],
  }), async ({ a, dns }) => {
    await ask(dns, query("b.test"));
    await ask(dns, query("b.test"));
    await ask(dns, query("a.test"));
    await ask(dns, query("a.test"));
    assert.deepEqual(a.queries.map((q) => q.msg.questions[0].name), ["b.test", "b.test", "a.test"]);
  });
  await withTwo(
    (a) => ({ servers: [udp("A", a)], disable_expire: true }),
    async ({ a, dns, clock }) => {
      await ask(dns, query("a.test"));
      clock.advance(3_600_000);
      const again = await ask(dns, query("a.test"));
      assert.equal(again!.answers[0].ttl, 60);
      assert.equal(a.queries.length, 1);
    },
    true,
  );
});

Deno.test("cache: independent_cache keeps answers per server", async () => {
  await withTwo(
    (a, b) => ({
      servers: [udp("A", a), udp("B", b)],
      independent_cache: true,
      rules: [{ inbound: ["via-b"], server: "B" }],
    }),
    async ({ a, b, dns }) => {
      assert.deepEqual(answersOf(await ask(dns, query("a.test"))), ["A 192.0.2.1"]);
      assert.deepEqual(answersOf(await ask(dns, query("a.test"), flowMeta("udp", "via-b"))), [
        "A 198.51.100.1",
      ]);
      await ask(dns, query("a.test"));
      await ask(dns, query("a.test"), flowMeta("udp", "via-b"));
      assert.equal(a.queries.length, 1);
      assert.equal(b.queries.length, 1);
    },
    false,
    { inbounds: [mixed("via-b")] },
  );
});

Deno.test("concurrent identical queries reach the server once", async () => {
  await withTwo((a) => ({ servers: [udp("A", a)] }), async ({ a, dns }) => {
    const answers = await Promise.all([1, 2, 3].map((id) => ask(dns, query("a.test", "A", id))));
    assert.deepEqual(answers.map((m) => m!.id), [1, 2, 3]);
    assert.equal(a.queries.length, 1);
  });
});

Deno.test("reverse_mapping maps answered addresses to names until the TTL ends", async () => {
  await withTwo(
    (a) => ({ servers: [udp("A", a)], reverse_mapping: true }),
    async ({ dns, clock }) => {
      assert.equal(dns.lookupReverse(parseIp("192.0.2.1")!), undefined);
      await ask(dns, query("a.test"));
      await ask(dns, query("a.test", "AAAA"));
      assert.equal(dns.lookupReverse(parseIp("192.0.2.1")!), "a.test");
      assert.equal(dns.lookupReverse(parseIp("2001:db8::1")!), "a.test");
      clock.advance(61_000);
      assert.equal(dns.lookupReverse(parseIp("192.0.2.1")!), undefined);
    },
    true,
  );
  await withTwo((a) => ({ servers: [udp("A", a)] }), async ({ dns }) => {
    await ask(dns, query("a.test"));
    assert.equal(dns.lookupReverse(parseIp("192.0.2.1")!), undefined, "off by default");
  });
});

Deno.test("predefined answers: records, wildcard owners, RCODE, and lookups", async () => {
  await withTwo((a) => ({
    servers: [udp("A", a)],
    rules: [
      {
        domain_suffix: ["pre.test"],
        action: "predefined",
        answer: ["*.pre.test. 30 IN A 10.1.2.3", 'pre.test. IN TXT "v=spf1 -all"'],
      },
      { domain: ["gone.test"], action: "predefined", rcode: "NXDOMAIN" },
    ],
  }), async ({ a, dns }) => {
    const m = await ask(dns, query("www.pre.test", "A", 44));
    assert.equal(m!.id, 44);
    assert.equal(m!.flag_aa, true);
    assert.deepEqual(m!.answers.map((x: Msg) => [x.name, x.type, x.ttl]), [
      ["www.pre.test", "A", 30],
      ["pre.test", "TXT", 3600],
    ]);
    assert.deepEqual(m!.answers[1].data.map(String), ["v=spf1 -all"]);
    assert.equal((await ask(dns, query("gone.test")))!.rcode, "NXDOMAIN");
    assert.deepEqual((await dns.lookup("x.pre.test")).map(formatIp), ["10.1.2.3"]);
    await assert.rejects(dns.lookup("gone.test"), /NXDOMAIN/);
    assert.equal(a.queries.length, 0);
  });
});

Deno.test("legacy rcode:// servers become predefined answers", async () => {
  await withTwo((a) => ({
    servers: [udp("A", a), { tag: "block", address: "rcode://refused" }],
    rules: [{ domain: ["ads.test"], server: "block" }],
  }), async ({ a, dns }) => {
    const m = await ask(dns, query("ads.test", "A", 9));
    assert.equal(m!.rcode, "REFUSED");
    assert.equal(m!.id, 9);
    assert.equal(a.queries.length, 0);
    await assert.rejects(dns.lookup("ads.test"), /REFUSED/);
  });
});

Deno.test("reject in a lookup fails it; reject default answers REFUSED", async () => {
  await withTwo((a) => ({
    servers: [udp("A", a)],
    rules: [{ domain: ["no.test"], action: "reject" }],
  }), async ({ dns }) => {
    assert.equal((await ask(dns, query("no.test")))!.rcode, "REFUSED");
    await assert.rejects(dns.lookup("no.test"), /rejected by dns\.rules\[0\]/);
  });
});

Deno.test("client_subnet: dns-level ECS is sent upstream, a rule's wins, the client sees no OPT", async () => {
  await withTwo((a) => ({
    servers: [udp("A", a)],
    client_subnet: "1.2.3.4/24",
    rules: [{ domain: ["b.test"], server: "A", client_subnet: "2001:db8:aa::/48" }],
  }), async ({ a, dns }) => {
    const m = await ask(dns, query("a.test"));
    assert.equal(m!.additionals.length, 0, "the client's query had no OPT");
    await ask(dns, query("b.test", "A", 1, { edns: 1232 }));
    const ecs = a.queries.map((q) => {
      const opt = q.msg.additionals.find((x: Msg) => x.type === "OPT");
      const o = opt?.options?.find((x: Msg) => x.code === 8);
      return o ? `${o.ip}/${o.sourcePrefixLength}` : "none";
    });
    assert.deepEqual(ecs, ["1.2.3.0/24", "2001:db8:aa::/48"]);
  });
});

Deno.test("address filter rules: an answer outside ip_cidr falls through to the next rule", async () => {
  await withTwo((a, b) => ({
    servers: [udp("A", a), udp("B", b)],
    rules: [{ ip_cidr: ["192.0.2.0/24"], server: "A" }],
    final: "B",
  }), async ({ a, b, dns }) => {
    assert.deepEqual(answersOf(await ask(dns, query("a.test"))), ["A 192.0.2.1"]);
    assert.deepEqual(answersOf(await ask(dns, query("out.test"))), ["A 198.51.100.9"]);
    assert.deepEqual(a.queries.map((q) => q.msg.questions[0].name), ["a.test", "out.test"]);
    assert.deepEqual(b.queries.map((q) => q.msg.questions[0].name), ["out.test"]);
    // Not an address query: the rule does not apply at all.
    await ask(dns, query("a.test", "TXT"));
    assert.equal(b.queries.length, 2);
    assert.equal(a.queries.length, 2);
  });
});

Deno.test("DNS rules with clash_mode follow the current Clash mode", async () => {
  await withTwo((a, b) => ({
    servers: [udp("A", a), udp("B", b)],
    rules: [{ clash_mode: "Direct", server: "B", disable_cache: true }],
    final: "A",
  }), async ({ dns }) => {
    try {
      setClashModeSource(() => "Rule");
      assert.deepEqual(answersOf(await ask(dns, query("a.test"))), ["A 192.0.2.1"]);
      setClashModeSource(() => "direct");
      assert.deepEqual(answersOf(await ask(dns, query("b.test"))), ["A 198.51.100.2"]);
    } finally {
      setClashModeSource(() => "");
    }
  });
});

Deno.test("FakeIP: A/AAAA get fake addresses that map back; lookups skip the fakeip server", async () => {
  await withTwo((a) => ({
    servers: [
      udp("A", a),
      { type: "fakeip", tag: "fake", inet4_range: "198.18.0.0/15", inet6_range: "fc00::/18" },
    ],
    rules: [{ query_type: ["A", "AAAA", "TXT"], server: "fake" }],
  }), async ({ a, dns }) => {
    const four = await ask(dns, query("Site.test", "A", 3));
    assert.deepEqual(answersOf(four), ["A 198.18.0.2"]);
    assert.equal(four!.answers[0].ttl, 600);
    const six = await ask(dns, query("site.test", "AAAA"));
    assert.deepEqual(answersOf(six), ["AAAA fc00::2"]);
    assert.deepEqual(answersOf(await ask(dns, query("site.test"))), ["A 198.18.0.2"], "stable");
    assert.deepEqual(answersOf(await ask(dns, query("other.test"))), ["A 198.18.0.3"]);
    assert.equal(dns.lookupFake(parseIp("198.18.0.2")!), "site.test");
    assert.equal(dns.lookupFake(parseIp("fc00::2")!), "site.test");
    assert.equal(dns.lookupFake(parseIp("198.18.0.9")!), undefined, "missing fakeip record");
    assert.equal(dns.isFakeIp(parseIp("198.19.1.1")!), true);
    assert.equal(dns.isFakeIp(parseIp("192.0.2.1")!), false);
    // Only IP queries are supported by fakeip: the exchange fails, the client gets SERVFAIL.
    assert.equal((await ask(dns, query("site.test", "TXT")))!.rcode, "SERVFAIL");
    assert.equal(a.queries.length, 0);
    // tunbox's own lookups never get fake addresses.
    assert.deepEqual((await dns.lookup("a.test", "ipv4_only")).map(formatIp), ["192.0.2.1"]);
    // ... and the real answer they cached is not what a hijacked query for that name gets
    // (dialing a FakeIP destination looks its domain up; the application asks again later).
    assert.deepEqual(answersOf(await ask(dns, query("a.test", "A"))), ["A 198.18.0.4"]);
    assert.deepEqual((await dns.lookup("a.test", "ipv4_only")).map(formatIp), ["192.0.2.1"]);
    assert.equal(a.queries.length, 1, "the second lookup came from the cache");
  });
});

Deno.test("createDns() refuses server types whose verdict is not supported, in the verdict's words", async () => {
  await withReactor((r) => {
    for (const type of ["resolved", "tailscale"] as const) {
      // `check` refuses these configs; here the runtime is handed one directly.
      const options = config({
        outbounds: [{ type: "direct", tag: "direct" }],
        dns: { servers: [{ type: "udp", tag: "cf", server: "1.1.1.1" }] },
      });
      options.dns.servers[0]!.type = type;
      assert.throws(
        () =>
          createDns(options, {
            reactor: r,
            outbounds: new Map(),
            defaultOutbound: "direct",
            ctx: testContext(r, {}),
          }),
        (e: unknown) =>
          e instanceof TypeError &&
          e.message === `DNS server "cf": ${verdict(`dns.server.${type}`).message}`,
      );
    }
    return Promise.resolve();
  });
});

Deno.test("createDns() refuses a fakeip default server, two fakeip servers and missing tags", async () => {
  await withReactor((r) => {
    // `check` refuses these configs first (tests/config/dns_checks_test.ts); the module's own
    // refusals stand behind it.
    const fake = { type: "fakeip", tag: "f", inet4_range: "198.18.0.0/15" };
    assert.throws(() => makeDnsUnchecked(r, { dns: { servers: [fake] } }), /cannot be fakeip/);
    assert.throws(
      () =>
        makeDnsUnchecked(r, {
          dns: {
            servers: [{ type: "local", tag: "l" }, fake, { ...fake, tag: "g" }],
          },
        }),
      /multiple fakeip servers are not supported/,
    );
    assert.throws(
      () =>
        makeDnsUnchecked(r, {
          dns: { servers: [{ type: "udp", tag: "u", server: "dns.example" }] },
        }),
      /server "dns.example" is a domain name; set "domain_resolver"/,
    );
    return Promise.resolve();
  });
});

Deno.test("a server given by name is resolved with its domain_resolver", async () => {
  await withReactor(async (r) => {
    const up = startDnsServer(r, zoneHandler(ZONE_A));
    const { dns } = makeDns(r, {
      dns: {
        servers: [
          {
            type: "udp",
            tag: "named",
            server: "ns.local",
            server_port: up.port,
            domain_resolver: "hosts",
          },
          { type: "hosts", tag: "hosts", predefined: { "ns.local": "127.0.0.1" } },
        ],
      },
    });
    try {
      assert.deepEqual((await dns.lookup("a.test", "ipv4_only")).map(formatIp), ["192.0.2.1"]);
      assert.equal(up.queries.length, 1);
    } finally {
      dns.close();
      up.close();
    }
  });
});

Deno.test("a server given by name with a detour and no resolver: its outbound gets the name", async () => {
  await withReactor(async (r) => {
    const up = startDnsServer(r, zoneHandler(ZONE_A));
    const asked: string[] = [];
    // The direct outbound resolves what it dials through its context, as in a worker.
    let dns: DnsModule | null = null;
    const resolve = (domain: string): Promise<Uint8Array[]> => {
      asked.push(domain);
      if (domain === "resolver.lan") return Promise.resolve([parseIp("127.0.0.1")!]);
      return dns!.lookup(domain);
    };
    // The legacy form real configs use (a typed server may not detour to a plain direct).
    const servers = [{ tag: "named", address: `udp://resolver.lan:${up.port}`, detour: "direct" }];
    dns = makeDns(r, { dns: { servers } }, { ctx: { resolve } }).dns;
    try {
      assert.deepEqual((await dns.lookup("a.test", "ipv4_only")).map(formatIp), ["192.0.2.1"]);
      assert.deepEqual(asked, ["resolver.lan"]);
      assert.equal(up.queries.length, 1);
    } finally {
      dns.close();
    }
    // Its own name is never looked up through itself (that would loop): with no other server,
    // the lookup the outbound makes fails at once, naming the server.
    const loopResolve = (d: string): Promise<Uint8Array[]> => loop.lookup(d);
    const loop: DnsModule = makeDns(r, { dns: { servers } }, { ctx: { resolve: loopResolve } }).dns;
    try {
      await assert.rejects(
        loop.lookup("resolver.lan", "ipv4_only"),
        /lookup resolver\.lan: DNS server "named" cannot look up its own name \(it would loop through itself\); set "domain_resolver" on it/,
      );
      assert.equal(up.queries.length, 1);
    } finally {
      loop.close();
      up.close();
    }
  });
});

Deno.test("createDns() refuses a domain_resolver cycle; no servers means a local default", async () => {
  await withReactor((r) => {
    assert.throws(
      () =>
        makeDnsUnchecked(r, {
          dns: {
            servers: [
              { type: "udp", tag: "x", server: "x.example", domain_resolver: "y" },
              { type: "tcp", tag: "y", server: "y.example", domain_resolver: "x" },
            ],
          },
        }),
      /DNS server "x": domain_resolver cycle: x → y → x/,
    );
    // Nothing is sent: only the default server's type is checked.
    const { dns } = makeDns(r, {});
    assert.equal(dns.router.server("local")?.type, "local");
    dns.close();
    return Promise.resolve();
  });
});
