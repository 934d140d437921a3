import assert from "node:assert/strict";
import { SysError } from "../../ffi/errno.ts";
import { HostsTransport } from "../../src/dns/transport_hosts.ts";
import { LocalTransport, parseResolvConf } from "../../src/dns/transport_local.ts";
import { TcpTransport } from "../../src/dns/transport_tcp.ts";
import { UdpTransport } from "../../src/dns/transport_udp.ts";
import { ServerAddress } from "../../src/dns/transport.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { formatIp } from "../../src/net/ip.ts";
import { DirectDialer } from "../../src/outbound/direct_dialer.ts";
import {
  answersOf,
  decode,
  query,
  reply,
  startDnsServer,
  testContext,
  type TestDnsServer,
  withReactor,
  zoneHandler,
} from "./_helpers.ts";

const ZONE = {
  "a.test": {
    A: [{ ttl: 60, data: "192.0.2.1" }],
    AAAA: [{ ttl: 60, data: "2001:db8::1" }],
    TXT: [{ ttl: 60, data: ["hello"] }],
  },
};

function direct(r: Reactor): DirectDialer {
  return new DirectDialer("test direct", {}, testContext(r));
}

function address(r: Reactor, server: TestDnsServer): ServerAddress {
  return new ServerAddress('DNS server "t"', { addr: server.addr }, server.port, r);
}

function udpTransport(r: Reactor, server: TestDnsServer): UdpTransport {
  const addr = address(r, server);
  return new UdpTransport(
    "t",
    r,
    direct(r),
    addr,
    new TcpTransport("t", r, direct(r), addr, "udp"),
  );
}

Deno.test("udp transport: answer carries the caller's id, the server sees another id", async () => {
  await withReactor(async (r) => {
    const server = startDnsServer(r, zoneHandler(ZONE));
    const t = udpTransport(r, server);
    try {
      const answer = decode(await t.exchange(query("a.test", "A", 0x1111), 2000));
      assert.equal(answer.id, 0x1111);
      assert.deepEqual(answersOf(answer), ["A 192.0.2.1"]);
      assert.equal(server.queries.length, 1);
      assert.equal(server.queries[0]!.transport, "udp");
      // Two concurrent queries with the same client id get distinct ids on the wire.
      const [x, y] = await Promise.all([
        t.exchange(query("a.test", "AAAA", 7), 2000),
        t.exchange(query("a.test", "TXT", 7), 2000),
      ]);
      assert.deepEqual(answersOf(decode(x)), ["AAAA 2001:db8::1"]);
      assert.equal(decode(y).answers[0].type, "TXT");
      const ids = server.queries.slice(1).map((q) => q.msg.id);
      assert.notEqual(ids[0], ids[1]);
    } finally {
      t.close();
      server.close();
    }
  });
});

Deno.test("udp transport: a lost query is sent again after 1 s", async () => {
  await withReactor(async (r) => {
    let seen = 0;
    const zone = zoneHandler(ZONE);
    const server = startDnsServer(r, (q, tr) => (++seen === 1 ? null : zone(q, tr)));
    const t = udpTransport(r, server);
    try {
      const start = r.now();
      const answer = decode(await t.exchange(query("a.test"), 5000));
      const took = r.now() - start;
      assert.deepEqual(answersOf(answer), ["A 192.0.2.1"]);
      assert.equal(server.queries.length, 2);
      assert.ok(took >= 900 && took < 3000, `took ${took} ms`);
      assert.equal(t.sent, 2);
    } finally {
      t.close();
      server.close();
    }
  });
});

Deno.test("udp transport: a truncated answer is asked again over TCP", async () => {
  await withReactor(async (r) => {
    const zone = zoneHandler(ZONE);
    const server = startDnsServer(r, (q, tr) => {
      if (tr === "udp") return reply(q, [], 0, { flags: 0x8000 | 0x0200 | 0x0100 | 0x0080 });
      return zone(q, tr);
    });
    const t = udpTransport(r, server);
    try {
      const answer = decode(await t.exchange(query("a.test", "A", 99), 3000));
      assert.equal(answer.id, 99);
      assert.equal(answer.flag_tc, false);
      assert.deepEqual(answersOf(answer), ["A 192.0.2.1"]);
      assert.deepEqual(server.queries.map((q) => q.transport), ["udp", "tcp"]);
    } finally {
      t.close();
      server.close();
    }
  });
});

Deno.test("udp transport: silence rejects with ETIMEDOUT naming the server", async () => {
  await withReactor(async (r) => {
    const server = startDnsServer(r, () => null);
    const t = udpTransport(r, server);
    try {
      const start = r.now();
      await assert.rejects(
        t.exchange(query("a.test"), 300),
        (e: unknown) =>
          e instanceof SysError && e.code === "ETIMEDOUT" &&
          e.message.includes(`DNS server "t": exchange with 127.0.0.1:${server.port}`),
      );
      assert.ok(r.now() - start < 1000);
    } finally {
      t.close();
      server.close();
    }
  });
});

Deno.test("udp transport: an answer to another question is ignored", async () => {
  await withReactor(async (r) => {
    const server = startDnsServer(
      r,
      (q) => reply({ ...q, questions: [{ name: "b.test", type: "A" }] }),
    );
    const t = udpTransport(r, server);
    try {
      await assert.rejects(t.exchange(query("a.test"), 300), /ETIMEDOUT|after 300 ms/);
      assert.equal(server.queries.length, 1);
    } finally {
      t.close();
      server.close();
    }
  });
});

Deno.test("tcp transport: pipelines queries on one connection and reconnects after a close", async () => {
  await withReactor(async (r) => {
    const server = startDnsServer(r, zoneHandler(ZONE));
    const t = new TcpTransport("t", r, direct(r), address(r, server));
    try {
      const answers = await Promise.all(
        ["A", "AAAA", "TXT"].map((type, i) => t.exchange(query("a.test", type, 100 + i), 2000)),
      );
      assert.deepEqual(answers.map((a) => decode(a).id), [100, 101, 102]);
      assert.deepEqual(answersOf(decode(answers[1]!)), ["AAAA 2001:db8::1"]);
      assert.equal(server.tcpConnections, 1);
      await t.exchange(query("a.test"), 2000);
      assert.equal(server.tcpConnections, 1, "reused");
      // The server closes idle connections: the next query retries on a new one.
      server.dropTcpConnections();
      const again = decode(await t.exchange(query("a.test", "A", 5), 2000));
      assert.deepEqual(answersOf(again), ["A 192.0.2.1"]);
      assert.equal(server.tcpConnections, 2);
      assert.ok(server.queries.every((q) => q.transport === "tcp"));
    } finally {
      t.close();
      server.close();
    }
  });
});

Deno.test("tcp transport: a refused connection fails at once", async () => {
  await withReactor(async (r) => {
    const server = startDnsServer(r, zoneHandler(ZONE));
    const port = server.port;
    server.close();
    const addr = new ServerAddress(
      'DNS server "t"',
      { addr: new Uint8Array([127, 0, 0, 1]) },
      port,
      r,
    );
    const t = new TcpTransport("t", r, direct(r), addr);
    try {
      const start = r.now();
      await assert.rejects(t.exchange(query("a.test"), 5000), /refused|ECONNREFUSED/i);
      assert.ok(r.now() - start < 1000);
    } finally {
      t.close();
    }
  });
});

Deno.test("hosts transport: predefined first, then files; other families empty; unknown NXDOMAIN", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-dns-" });
  try {
    const path = `${dir}/hosts`;
    await Deno.writeTextFile(
      path,
      "# comment\n192.0.2.10 Files.Test alias.test\n192.0.2.11 files.test\n2001:db8::5 six.test\n",
    );
    await withReactor(async (r) => {
      const t = new HostsTransport("h", r, [path], {
        "pre.test": ["198.51.100.1", "2001:db8::99"],
        "files.test": ["203.0.113.1"],
      });
      const ask = async (name: string, type = "A") =>
        decode(await t.exchange(query(name, type), 1000));
      assert.deepEqual(answersOf(await ask("pre.test")), ["A 198.51.100.1"]);
      assert.deepEqual(answersOf(await ask("pre.test", "AAAA")), ["AAAA 2001:db8::99"]);
      assert.deepEqual(answersOf(await ask("FILES.test")), ["A 203.0.113.1"], "predefined wins");
      assert.deepEqual(answersOf(await ask("alias.test")), ["A 192.0.2.10"]);
      const six = await ask("six.test", "A");
      assert.equal(six.rcode, "NOERROR");
      assert.deepEqual(six.answers, []);
      assert.equal((await ask("six.test", "AAAA")).answers[0].ttl, 600);
      assert.equal((await ask("missing.test")).rcode, "NXDOMAIN");
      assert.equal((await ask("alias.test", "TXT")).rcode, "NXDOMAIN");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`parseResolvConf()` reads up to three nameservers and ignores the rest", () => {
  const text = "# generated\nsearch example.com\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\n" +
    "options ndots:2\nnameserver  bogus\nnameserver 10.0.0.3 ; trailing\nnameserver 10.0.0.4\n";
  assert.deepEqual(parseResolvConf(text).map(formatIp), ["10.0.0.1", "fe80::1", "10.0.0.3"]);
});

Deno.test("local transport: hosts first, then resolv.conf nameservers in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tunbox-dns-" });
  try {
    await withReactor(async (r) => {
      const zone = zoneHandler(ZONE);
      // First nameserver fails with SERVFAIL, the second answers (same port, two addresses).
      const first = startDnsServer(r, (q) => reply(q, [], 2));
      const second = startDnsServer(r, zone, {
        addr: new Uint8Array([127, 0, 0, 2]),
        port: first.port,
      });
      await Deno.writeTextFile(
        `${dir}/resolv.conf`,
        "nameserver 127.0.0.1\nnameserver 127.0.0.2\n",
      );
      await Deno.writeTextFile(`${dir}/hosts`, "192.0.2.200 local.test\n");
      const t = new LocalTransport("local", r, direct(r), {
        resolvConf: `${dir}/resolv.conf`,
        hosts: `${dir}/hosts`,
        nameserverPort: first.port,
      });
      try {
        const fromHosts = decode(await t.exchange(query("local.test"), 2000));
        assert.deepEqual(answersOf(fromHosts), ["A 192.0.2.200"]);
        assert.equal(first.queries.length + second.queries.length, 0, "hosts answered");
        const viaDns = decode(await t.exchange(query("a.test", "A", 31), 2000));
        assert.equal(viaDns.id, 31);
        assert.deepEqual(answersOf(viaDns), ["A 192.0.2.1"]);
        assert.equal(first.queries.length, 1);
        assert.equal(second.queries.length, 1);
        assert.deepEqual(t.nameservers().map((s) => s.server.text), [
          `127.0.0.1:${first.port}`,
          `127.0.0.2:${first.port}`,
        ]);
      } finally {
        t.close();
        first.close();
        second.close();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
