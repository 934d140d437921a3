import assert from "node:assert/strict";
import type { SockAddr } from "../../ffi/sockaddr.ts";
import { UdpSocket, WOULD_BLOCK } from "../../src/io/socket.ts";
import { FLAG_TC, messageFlags } from "../../src/net/dns/wire.ts";
import { tool } from "../outbound/_helpers.ts";
import {
  answersOf,
  ask,
  decode,
  encode,
  flowMeta,
  makeDns,
  query,
  reply,
  startDnsServer,
  withReactor,
  zoneHandler,
} from "./_helpers.ts";

const ZONE = {
  "a.test": {
    A: [{ ttl: 60, data: "192.0.2.1" }],
    AAAA: [{ ttl: 60, data: "2001:db8::1" }],
    TXT: [{ ttl: 60, data: ["first", "second"] }],
  },
  "big.test": {
    A: Array.from({ length: 60 }, (_, i) => ({ ttl: 60, data: `192.0.2.${i + 1}` })),
  },
};

async function withHijack(
  fn: (ctx: Awaited<ReturnType<typeof setup>>) => Promise<void>,
  handler = zoneHandler(ZONE),
): Promise<void> {
  await withReactor(async (r) => {
    const ctx = setup(r, handler);
    try {
      await fn(ctx);
    } finally {
      ctx.dns.close();
      ctx.server.close();
    }
  });
}

function setup(r: Parameters<Parameters<typeof withReactor>[0]>[0], handler = zoneHandler(ZONE)) {
  const server = startDnsServer(r, handler);
  const { dns } = makeDns(r, {
    dns: { servers: [{ type: "udp", tag: "up", server: "127.0.0.1", server_port: server.port }] },
  });
  return { r, server, dns };
}

Deno.test("hijack answers A, AAAA and TXT questions with the client's id", async () => {
  await withHijack(async ({ dns }) => {
    const a = await ask(dns, query("a.test", "A", 0xbeef));
    assert.equal(a!.id, 0xbeef);
    assert.equal(a!.type, "response");
    assert.deepEqual(a!.questions, [{ name: "a.test", type: "A", class: "IN" }]);
    assert.deepEqual(answersOf(a), ["A 192.0.2.1"]);
    assert.deepEqual(answersOf(await ask(dns, query("a.test", "AAAA"))), ["AAAA 2001:db8::1"]);
    const txt = await ask(dns, query("a.test", "TXT"));
    assert.deepEqual(txt!.answers[0].data.map(String), ["first", "second"]);
    assert.equal((await ask(dns, query("nope.test")))!.rcode, "NXDOMAIN");
  });
});

Deno.test("hijack: malformed queries get FORMERR when the header is readable, else nothing", async () => {
  await withHijack(async ({ dns, server }) => {
    assert.equal(await dns.handleQuery(new Uint8Array(11), flowMeta()), null);
    // A header announcing a question that is not there.
    const header = new Uint8Array([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    const formerr = decode((await dns.handleQuery(header, flowMeta()))!);
    assert.equal(formerr.id, 0x1234);
    assert.equal(formerr.rcode, "FORMERR");
    assert.equal(formerr.questions.length, 0);
    // Two questions: FORMERR with the questions echoed.
    const two = encode({
      type: "query",
      id: 5,
      questions: [{ type: "A", name: "a.test" }, { type: "A", name: "b.test" }],
    });
    const m = await ask(dns, two);
    assert.equal(m!.rcode, "FORMERR");
    assert.equal(m!.questions.length, 2);
    // A response sent to us is dropped; an UPDATE (opcode 5) is NOTIMP.
    const resp = encode(reply({ id: 1, questions: [{ type: "A", name: "a.test" }] }));
    assert.equal(await dns.handleQuery(resp, flowMeta()), null);
    const update = query("a.test");
    update[2] = update[2]! | (5 << 3);
    assert.equal((await ask(dns, update))!.rcode, "NOTIMP");
    assert.equal(server.queries.length, 0);
  });
});

Deno.test("hijack: a failing upstream gives SERVFAIL, never an exception", async () => {
  await withReactor(async (r) => {
    const server = startDnsServer(r, zoneHandler(ZONE));
    const port = server.port;
    server.close();
    const { dns } = makeDns(r, {
      dns: { servers: [{ type: "tcp", tag: "down", server: "127.0.0.1", server_port: port }] },
    });
    try {
      const m = await ask(dns, query("a.test", "A", 77));
      assert.equal(m!.id, 77);
      assert.equal(m!.rcode, "SERVFAIL");
      await assert.rejects(dns.lookup("a.test"), /refused|ECONNREFUSED/i);
    } finally {
      dns.close();
    }
  });
});

Deno.test("hijack over UDP truncates answers beyond the client's limit; TCP gets them whole", async () => {
  await withHijack(async ({ dns }) => {
    const udp = await dns.handleQuery(query("big.test"), flowMeta("udp"));
    assert.ok(udp!.length <= 512);
    assert.ok(messageFlags(udp!) & FLAG_TC);
    assert.equal(decode(udp!).answers.length, 0);
    const tcp = await dns.handleQuery(query("big.test"), flowMeta("tcp"));
    assert.equal(decode(tcp!).answers.length, 60);
    // With EDNS 4096 the whole answer fits over UDP.
    const edns = await dns.handleQuery(query("big.test", "A", 1, { edns: 4096 }), flowMeta("udp"));
    assert.equal(decode(edns!).answers.length, 60);
  });
});

Deno.test("hijack answers a real client: dig through a UDP socket serving handleQuery()", async () => {
  const dig = tool("dig", "dnsutils");
  await withHijack(async ({ r, dns }) => {
    const sock = UdpSocket.open(r, 4, {}, { addr: new Uint8Array([127, 0, 0, 1]), port: 0 });
    const buf = new Uint8Array(65536);
    sock.onReadable = () => {
      for (;;) {
        const from: SockAddr = { addr: new Uint8Array(4), port: 0 };
        const n = sock.recvFrom(buf, from);
        if (n === WOULD_BLOCK) return;
        dns.handleQuery(buf.slice(0, n), flowMeta()).then((answer) => {
          if (answer) sock.sendTo(answer, from);
        });
      }
    };
    try {
      const port = sock.localAddr().port;
      // Several queries per dig run (a child process resolves slowly while a reactor runs).
      const run = async (...args: string[]) => {
        const out = await new Deno.Command(dig, {
          args: ["@127.0.0.1", "-p", String(port), "+tries=1", "+time=3", ...args],
          stdout: "piped",
          stderr: "piped",
        }).output();
        return new TextDecoder().decode(out.stdout);
      };
      const short = await run("+short", "a.test", "A", "a.test", "AAAA", "a.test", "TXT");
      assert.deepEqual(short.trim().split("\n"), ["192.0.2.1", "2001:db8::1", '"first" "second"']);
      // dig's default EDNS size fits 60 records; +noedns makes the answer truncated.
      const full = await run("nope.test", "A", "big.test", "A", "+noedns", "+ignore");
      const replies = full.split(";; ->>HEADER<<-").slice(1);
      assert.equal(replies.length, 2, full);
      const [nx, cut] = replies as [string, string];
      assert.match(nx, /status: NXDOMAIN/);
      assert.match(cut, /status: NOERROR/);
      assert.match(cut, /flags:[^;]* tc/);
      assert.doesNotMatch(cut, /ANSWER SECTION/);
    } finally {
      sock.close();
    }
  });
});
