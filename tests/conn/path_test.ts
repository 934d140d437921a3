// The connection path through fake inbound sides and fake outbounds (in-memory streams): route,
// reject, hijack-dns over TCP and UDP, dial failures, aborts, sniffing, resolve, group chains,
// swapping the services, and the records the tracker reports.

import assert from "node:assert/strict";
import type { OutboundOptions, Rule } from "../../src/config/types.ts";
import { ConnectionPath, type FlowServices } from "../../src/conn/mod.ts";
import type { ConnRecord } from "../../src/conn/record.ts";
import { frameMessage } from "../../src/dns/tcp_framing.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { readExact, readSome, writeAll } from "../../src/io/stream.ts";
import type { Outbound } from "../../src/outbound/types.ts";
import { newConnMetadata } from "../../src/route/metadata.ts";
import { Router } from "../../src/route/router.ts";
import { sleep, withReactor } from "../outbound/_helpers.ts";
import { flow, ip, prefixes, routeTo, rule } from "../route/_helpers.ts";
import { FakeGroup, FakeOutbound, FakeTcpSide, FakeUdpSide } from "./_fakes.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function services(outs: Outbound[], rules: Rule[] = [], extra: Partial<FlowServices> = {}) {
  const outbounds = new Map(outs.map((o) => [o.tag, o]));
  return {
    router: new Router({
      rules,
      outbounds: outs.map((o) => ({ type: "direct", tag: o.tag }) as OutboundOptions),
    }),
    outbounds,
    dns: null,
    prepare: null,
    lookup: null,
    ...extra,
  } satisfies FlowServices;
}

/** Waits until `cond` holds (reactor clock), failing after 2 s. */
async function until(r: Reactor, cond: () => boolean, what: string): Promise<void> {
  const deadline = r.now() + 2000;
  while (!cond()) {
    if (r.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(r, 2);
  }
}

async function readText(s: import("../../src/io/stream.ts").Stream, n: number): Promise<string> {
  const buf = new Uint8Array(n);
  await readExact(s, buf, "test read");
  return dec.decode(buf);
}

/** The closed records of every report so far. */
function closedRecords(path: ConnectionPath): ConnRecord[] {
  return path.tracker.report()?.closed ?? [];
}

Deno.test("`ConnectionPath.tcp()` routes, dials, relays and records a TCP flow", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    const path = new ConnectionPath({ reactor: r, services: services([out]) });
    const side = new FakeTcpSide(r);
    const meta = flow("203.0.113.10:80", { src: "198.18.0.1:40000" });
    meta.id = path.nextId();
    await path.tcp(meta, side);
    assert.deepEqual(out.dials.map((d) => [d.dest, d.meta.id]), [[
      { addr: ip("203.0.113.10"), port: 80 },
      meta.id,
    ]]);
    assert.equal(path.tracker.size, 1);
    await writeAll(side.client, enc.encode("hello"), "client write");
    const far = out.far[0]!;
    assert.equal(await readText(far, 5), "hello");
    await writeAll(far, enc.encode("world!"), "far write");
    assert.equal(await readText(side.client, 6), "world!");
    const live = path.tracker.report()!;
    assert.equal(live.opened.length, 1);
    const opened = live.opened[0]!;
    assert.equal(opened.id, meta.id);
    assert.equal(opened.sourceIp, "198.18.0.1");
    assert.equal(opened.sourcePort, 40000);
    assert.equal(opened.destinationIp, "203.0.113.10");
    assert.equal(opened.action, "route");
    assert.equal(opened.ruleIndex, -1);
    assert.equal(opened.rule, "final");
    assert.equal(opened.outbound, "proxy");
    assert.deepEqual(opened.chain, ["proxy"]);
    assert.deepEqual(live.updates, [meta.id, 5, 6]);
    assert.equal(path.tracker.report(), null, "nothing moved since the last report");
    side.client.shutdownWrite();
    far.shutdownWrite();
    await side.done;
    assert.equal(path.tracker.size, 0);
    const [closed] = closedRecords(path);
    assert.equal(closed!.upload, 5);
    assert.equal(closed!.download, 6);
    assert.ok(closed!.end! >= closed!.start);
    assert.equal(closed!.error, undefined);
  });
});

Deno.test("`ConnectionPath.tcp()` rejects by rule (RST or drop) and records the rule", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    const path = new ConnectionPath({
      reactor: r,
      services: services([out], [
        rule({ ip_cidr: prefixes("203.0.113.0/24") }, { action: "reject", method: "default" }),
        rule({ port: [9] }, { action: "reject", method: "drop" }),
      ]),
    });
    const refused = new FakeTcpSide(r);
    await path.tcp(flow("203.0.113.10:80"), refused);
    assert.equal(refused.rejected, "blocked");
    const dropped = new FakeTcpSide(r);
    await path.tcp(flow("192.0.2.1:9"), dropped);
    assert.equal(dropped.dropped, true);
    assert.equal(out.dials.length, 0);
    const closed = closedRecords(path);
    assert.deepEqual(closed.map((c) => [c.action, c.ruleIndex, c.rule, c.chain]), [
      ["reject", 0, "ip_cidr=203.0.113.0/24 => reject", []],
      ["reject", 1, "port=9 => reject(drop)", []],
    ]);
    assert.equal(path.tracker.size, 0);
  });
});

/** A router whose evaluation throws, as a bug in a rule would. */
function brokenRouter(): Router {
  const fail = () => {
    throw new TypeError("rule evaluation exploded");
  };
  return { matchSync: fail, route: fail, final: "proxy" } as unknown as Router;
}

Deno.test("a router error refuses the flow (fail closed) and is recorded", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    const path = new ConnectionPath({
      reactor: r,
      services: { ...services([out]), router: brokenRouter() },
    });
    const side = new FakeTcpSide(r);
    await path.tcp(flow("203.0.113.10:80"), side);
    assert.equal(side.rejected, "protocol");
    assert.equal(out.dials.length, 0);
    const udp = new FakeUdpSide(new Uint8Array([1]), { addr: ip("203.0.113.10"), port: 53 });
    await path.udp(flow("203.0.113.10:53", { network: "udp" }), udp);
    assert.equal(udp.rejected, "protocol");
    const closed = closedRecords(path);
    assert.deepEqual(closed.map((c) => [c.action, c.error]), [
      ["refused", "route failed: rule evaluation exploded"],
      ["refused", "route failed: rule evaluation exploded"],
    ]);
  });
});

Deno.test("`ConnectionPath.preMatch()` turns a router error into a reject (fail closed)", async () => {
  await withReactor((r) => {
    const path = new ConnectionPath({
      reactor: r,
      services: { ...services([new FakeOutbound(r, "proxy")]), router: brokenRouter() },
    });
    const meta = flow("203.0.113.10:443");
    meta.id = 0;
    const d = path.preMatch(meta);
    assert.equal(d?.action, "reject");
    assert.ok(meta.id > 0, "a refused flow gets an id for its log line and record");
    path.refusedAtSyn(meta, d!);
    const [rec] = closedRecords(path);
    assert.equal(rec!.error, "route failed: rule evaluation exploded");
    assert.equal(rec!.action, "refused");
    return Promise.resolve();
  });
});

Deno.test("a failed dial refuses the flow with the dial's kind and records why", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    out.failWith = "timeout";
    const path = new ConnectionPath({ reactor: r, services: services([out]) });
    const side = new FakeTcpSide(r);
    await path.tcp(flow("203.0.113.10:80"), side);
    assert.equal(side.rejected, "timeout");
    const [rec] = closedRecords(path);
    assert.equal(rec!.error, 'fake "proxy": dial failed (timeout)');
    assert.deepEqual(rec!.chain, ["proxy"]);
  });
});

Deno.test("an outbound without TCP refuses TCP flows", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "udp-only", "direct", ["udp"]);
    const path = new ConnectionPath({ reactor: r, services: services([out]) });
    const side = new FakeTcpSide(r);
    await path.tcp(flow("203.0.113.10:80"), side);
    assert.equal(side.rejected, "unreachable");
    assert.equal(
      closedRecords(path)[0]!.error,
      "TCP is not supported by outbound/direct[udp-only]",
    );
  });
});

/** A DNS answerer that echoes each query with QR set, after `delay(query)` ms. */
function echoDns(r: Reactor, delay: (q: Uint8Array) => number = () => 0) {
  const seen: Uint8Array[] = [];
  return {
    seen,
    handleQuery(query: Uint8Array) {
      seen.push(query);
      const answer = query.slice();
      answer[2]! |= 0x80;
      return new Promise<Uint8Array>((resolve) =>
        r.setTimeout(delay(query), () => resolve(answer))
      );
    },
  };
}

function query(id: number): Uint8Array {
  const q = new Uint8Array(17);
  q[0] = id >> 8;
  q[1] = id & 0xff;
  q[5] = 1; // QDCOUNT 1 (the echo answerer does not parse)
  return q;
}

Deno.test("hijack-dns over TCP answers framed queries through the DNS module", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    // The first query is answered after the second: answers come as they are ready.
    const dns = echoDns(r, (q) => q[1] === 1 ? 30 : 0);
    const path = new ConnectionPath({
      reactor: r,
      services: services([out], [rule({ port: [53] }, { action: "hijack-dns" })], { dns }),
    });
    const side = new FakeTcpSide(r);
    await path.tcp(flow("203.0.113.53:53"), side);
    assert.equal(out.dials.length, 0);
    await writeAll(
      side.client,
      new Uint8Array([...frameMessage(query(1)), ...frameMessage(query(2))]),
      "q",
    );
    const got = new Uint8Array(2 * 19);
    await readExact(side.client, got, "answers");
    assert.deepEqual(got.subarray(0, 4), new Uint8Array([0, 17, 0, 2]));
    assert.equal(got[4]! & 0x80, 0x80, "QR set");
    assert.deepEqual(got.subarray(19, 23), new Uint8Array([0, 17, 0, 1]));
    assert.equal(dns.seen.length, 2);
    side.client.shutdownWrite();
    assert.equal(await readSome(side.client, new Uint8Array(4), "eof"), 0, "EOF after answers");
    await side.done;
    const [rec] = closedRecords(path);
    assert.equal(rec!.action, "hijack-dns");
    assert.equal(rec!.rule, "port=53 => hijack-dns");
    assert.equal(rec!.upload, 38);
    assert.equal(rec!.download, 38);
  });
});

Deno.test("hijack-dns without a DNS module refuses the flow", async () => {
  await withReactor(async (r) => {
    const path = new ConnectionPath({
      reactor: r,
      services: services([new FakeOutbound(r, "proxy")], [rule({}, { action: "hijack-dns" })]),
    });
    const side = new FakeTcpSide(r);
    await path.tcp(flow("203.0.113.53:53"), side);
    assert.equal(side.rejected, "unreachable");
    assert.equal(closedRecords(path)[0]!.error, "hijack-dns: no DNS module is running");
  });
});

Deno.test("aborting a live connection resets both ends and records why", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    const path = new ConnectionPath({ reactor: r, services: services([out]) });
    const side = new FakeTcpSide(r);
    const meta = flow("203.0.113.10:80");
    await path.tcp(meta, side);
    await writeAll(side.client, enc.encode("abc"), "w");
    assert.equal(await readText(out.far[0]!, 3), "abc");
    assert.equal(path.tracker.abort(meta.id, "closed from the API"), true);
    await assert.rejects(readSome(side.client, new Uint8Array(8), "client"), /reset/);
    await assert.rejects(readSome(out.far[0]!, new Uint8Array(8), "far"), /reset/);
    const stats = await side.done;
    assert.equal(stats.error?.message, "closed from the API");
    const [rec] = closedRecords(path);
    assert.equal(rec!.error, "closed from the API");
    assert.equal(rec!.upload, 3);
    assert.equal(path.tracker.abort(meta.id, "again"), false, "no longer live");
  });
});

Deno.test("a connection aborted while it dials is refused once the dial returns", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    const gate = Promise.withResolvers<void>();
    out.gate = gate.promise;
    const path = new ConnectionPath({ reactor: r, services: services([out]) });
    const side = new FakeTcpSide(r);
    const meta = flow("203.0.113.10:80");
    const done = path.tcp(meta, side);
    await until(r, () => out.dials.length === 1, "the dial");
    assert.equal(path.tracker.abortAll("closed from the API"), 1);
    gate.resolve();
    await done;
    assert.equal(side.rejected, "refused");
    assert.equal(side.started, false);
    await assert.rejects(readSome(out.far[0]!, new Uint8Array(1), "far"), /reset/);
    assert.equal(closedRecords(path)[0]!.error, "closed from the API");
  });
});

Deno.test("a `sniff` action reads the first bytes; the sniffed domain picks the rule", async () => {
  await withReactor(async (r) => {
    const a = new FakeOutbound(r, "a");
    const b = new FakeOutbound(r, "b");
    const path = new ConnectionPath({
      reactor: r,
      services: services([a, b], [
        rule({}, { action: "sniff", sniffer: [] }),
        rule({ domain_suffix: ["example.com"] }, routeTo("b")),
      ]),
    });
    const request = enc.encode("GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n");
    const side = new FakeTcpSide(r, request);
    await path.tcp(flow("203.0.113.10:80"), side);
    assert.equal(a.dials.length, 0);
    assert.equal(b.dials.length, 1);
    assert.equal(await readText(b.far[0]!, request.length), dec.decode(request));
    const [rec] = path.tracker.report()!.opened;
    assert.equal(rec!.domain, "www.example.com");
    assert.equal(rec!.protocol, "http");
    assert.equal(rec!.ruleIndex, 1);
    assert.equal(rec!.rule, "domain_suffix=example.com => route(b)");
  });
});

Deno.test("the chain follows groups to the outbound that carries the bytes", async () => {
  await withReactor(async (r) => {
    const a = new FakeOutbound(r, "a");
    const b = new FakeOutbound(r, "b");
    const outs = new Map<string, Outbound>([["a", a], ["b", b]]);
    const group = new FakeGroup("select", ["a", "b"], "b", (t) => outs.get(t)!);
    const path = new ConnectionPath({ reactor: r, services: services([group, a, b]) });
    await path.tcp(flow("203.0.113.10:80"), new FakeTcpSide(r));
    group.selected = "a";
    await path.tcp(flow("203.0.113.10:80"), new FakeTcpSide(r));
    const opened = path.tracker.report()!.opened;
    assert.deepEqual(opened.map((o) => [o.outbound, o.chain]), [
      ["select", ["b", "select"]],
      ["select", ["a", "select"]],
    ]);
    assert.equal(b.dials.length, 1);
    assert.equal(a.dials.length, 1);
  });
});

Deno.test("new flows use replaced services; running ones keep theirs", async () => {
  await withReactor(async (r) => {
    const old = new FakeOutbound(r, "proxy");
    const path = new ConnectionPath({ reactor: r, services: services([old]) });
    const first = new FakeTcpSide(r);
    await path.tcp(flow("203.0.113.10:80"), first);
    const next = new FakeOutbound(r, "proxy");
    path.services = services([next]);
    await path.tcp(flow("203.0.113.10:80"), new FakeTcpSide(r));
    assert.equal(old.dials.length, 1);
    assert.equal(next.dials.length, 1);
    await writeAll(first.client, enc.encode("still"), "w");
    assert.equal(await readText(old.far[0]!, 5), "still");
  });
});

Deno.test("an unknown FakeIP destination is refused before routing", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    const path = new ConnectionPath({
      reactor: r,
      services: services([out], [], { prepare: () => "no FakeIP mapping for 198.18.0.9" }),
    });
    assert.equal(path.canPreMatch, false);
    const side = new FakeTcpSide(r);
    await path.tcp(flow("198.18.0.9:443"), side);
    assert.equal(side.rejected, "unreachable");
    assert.equal(out.dials.length, 0);
    assert.equal(closedRecords(path)[0]!.error, "no FakeIP mapping for 198.18.0.9");
  });
});

Deno.test("a `resolve` action dials the resolved address of a domain destination", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    const asked: string[] = [];
    const path = new ConnectionPath({
      reactor: r,
      services: services([out], [rule({}, { action: "resolve", strategy: "ipv4_only" })], {
        lookup: (domain, strategy) => {
          asked.push(`${domain} ${strategy}`);
          return Promise.resolve([ip("192.0.2.7")]);
        },
      }),
    });
    const meta = newConnMetadata({
      id: path.nextId(),
      inbound: "socks-in",
      inboundType: "socks",
      network: "tcp",
      source: { addr: ip("127.0.0.1"), port: 50000 },
      destination: { addr: new Uint8Array(0), port: 443, fqdn: "example.com" },
    });
    await path.tcp(meta, new FakeTcpSide(r));
    assert.deepEqual(asked, ["example.com ipv4_only"]);
    assert.deepEqual(out.dials[0]!.dest, { addr: ip("192.0.2.7"), port: 443 });
    const [rec] = path.tracker.report()!.opened;
    assert.equal(rec!.destinationHost, "example.com");
    assert.equal(rec!.destinationIp, "");
  });
});

Deno.test("`ConnectionPath.udp()` opens the outbound's flow, queued datagram first", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    const path = new ConnectionPath({ reactor: r, services: services([out]) });
    const dest = { addr: ip("203.0.113.10"), port: 443 };
    const side = new FakeUdpSide(new Uint8Array([1, 2, 3]), dest);
    const meta = flow("203.0.113.10:443", { network: "udp" });
    await path.udp(meta, side);
    const f = out.flows[0]!;
    side.send(new Uint8Array([4, 5]));
    assert.deepEqual(f.sent.map((s) => [...s.payload]), [[1, 2, 3], [4, 5]]);
    f.answer(new Uint8Array([9, 9, 9, 9]), dest);
    assert.deepEqual(side.replies.map((x) => x.payload.length), [4]);
    const report = path.tracker.report()!;
    assert.equal(report.opened[0]!.network, "udp");
    assert.deepEqual(report.updates, [meta.id, 5, 4]);
    side.end("idle timeout");
    const [rec] = closedRecords(path);
    assert.equal(rec!.upload, 5);
    assert.equal(rec!.download, 4);
    assert.equal(rec!.error, "idle timeout");
    assert.equal(f.closed, true);
  });
});

Deno.test("UDP hijack-dns answers each datagram from the address it was sent to", async () => {
  await withReactor(async (r) => {
    const dns = echoDns(r);
    const path = new ConnectionPath({
      reactor: r,
      services: services([new FakeOutbound(r, "proxy")], [
        rule({ port: [53] }, { action: "hijack-dns" }),
      ], { dns }),
    });
    const dest = { addr: ip("203.0.113.53"), port: 53 };
    const side = new FakeUdpSide(query(7), dest);
    await path.udp(flow("203.0.113.53:53", { network: "udp" }), side);
    side.send(query(8), { addr: ip("203.0.113.54"), port: 53 });
    await until(r, () => side.replies.length === 2, "two answers");
    assert.deepEqual(side.replies.map((x) => [x.payload[1], [...x.from.addr!]]), [
      [7, [203, 0, 113, 53]],
      [8, [203, 0, 113, 54]],
    ]);
    assert.equal(side.replies[0]!.payload[2]! & 0x80, 0x80);
  });
});

Deno.test("a UDP session that ends while it is routed is recorded and never opened", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    const path = new ConnectionPath({ reactor: r, services: services([out]) });
    const side = new FakeUdpSide(new Uint8Array([1]), { addr: ip("203.0.113.10"), port: 9 });
    const done = path.udp(flow("203.0.113.10:9", { network: "udp" }), side);
    side.closed = true; // evicted before the (synchronous) route resolves
    await done;
    assert.equal(side.flow, null);
    assert.equal(closedRecords(path)[0]!.error, "ended while routing");
  });
});

Deno.test("a UDP session to a FakeIP address sends to the domain; replies come from the fake address", async () => {
  await withReactor(async (r) => {
    const out = new FakeOutbound(r, "proxy");
    const fake = ip("198.18.0.9");
    const path = new ConnectionPath({
      reactor: r,
      services: services([out], [], {
        prepare: (meta) => {
          meta.originalDestination = meta.destination;
          meta.destination = { addr: new Uint8Array(0), port: 53, fqdn: "dns.example" };
          return null;
        },
      }),
    });
    const side = new FakeUdpSide(new Uint8Array([1]), { addr: fake, port: 53 });
    await path.udp(flow("198.18.0.9:53", { network: "udp" }), side);
    side.send(new Uint8Array([2]), { addr: ip("192.0.2.1"), port: 123 });
    const f = out.flows[0]!;
    assert.deepEqual(f.sent.map((x) => x.dest), [
      { domain: "dns.example", port: 53 },
      { addr: ip("192.0.2.1"), port: 123 },
    ]);
    f.answer(new Uint8Array([3]), { addr: ip("192.0.2.53"), port: 53 });
    assert.deepEqual(side.replies.map((x) => x.from), [{ addr: fake, port: 53 }]);
    assert.equal(path.tracker.report()!.opened[0]!.destinationHost, "dns.example");
  });
});
