import assert from "node:assert/strict";
import {
  buildRequest,
  NTP_UNIX_OFFSET_MS,
  NtpError,
  parseResponse,
  readNtpTime,
  writeNtpTime,
} from "../../src/ntp/packet.ts";
import { ntpExchange } from "../../src/ntp/client.ts";
import { SharedClock } from "../../src/ntp/clock.ts";
import { ntpServer, NtpService, RETRY_MS } from "../../src/ntp/service.ts";
import { startNtp } from "../../src/ntp/mod.ts";
import { DirectDialer } from "../../src/outbound/direct_dialer.ts";
import { builtinOutbounds, createOutbounds } from "../../src/outbound/mod.ts";
import { startSocksServer } from "../../src/inbound/serve_socks.ts";
import { config } from "../dns/_helpers.ts";
import { LOOPBACK, sleep, testContext, within, withReactor } from "../outbound/_helpers.ts";
import { startResponder } from "./_responder.ts";

const NONCE = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);

/** A server answer built by hand: receive t2, transmit t3 (Unix ms). */
function answer(t2: number, t3: number, patch: (b: Uint8Array) => void = () => {}): Uint8Array {
  const b = new Uint8Array(48);
  b[0] = (0 << 6) | (4 << 3) | 4;
  b[1] = 1;
  b.set(NONCE, 24);
  writeNtpTime(b, 32, t2);
  writeNtpTime(b, 40, t3);
  patch(b);
  return b;
}

Deno.test("NTP timestamps: Unix epoch, fractions, and era 1 after 2036", () => {
  const b = new Uint8Array(8);
  writeNtpTime(b, 0, 0);
  assert.deepEqual([...b.subarray(0, 4)], [0x83, 0xaa, 0x7e, 0x80]); // 2208988800
  assert.equal(readNtpTime(b, 0), 0, "1970-01-01 is Unix ms 0 (not the zero timestamp)");
  writeNtpTime(b, 0, 1_767_225_600_250); // 2026-01-01T00:00:00.250Z
  assert.ok(Math.abs(readNtpTime(b, 0) - 1_767_225_600_250) < 0.001);
  assert.equal(new DataView(b.buffer).getUint32(4), 0x40000000);
  // 2040: the seconds field wrapped (top bit clear), RFC 4330 era 1.
  const y2040 = Date.UTC(2040, 0, 1);
  writeNtpTime(b, 0, y2040);
  assert.ok(new DataView(b.buffer).getUint32(0) < 0x80000000);
  assert.equal(readNtpTime(b, 0), y2040);
  assert.equal(readNtpTime(new Uint8Array(8), 0), 0, "the zero timestamp");
  assert.equal(NTP_UNIX_OFFSET_MS, 2_208_988_800_000);
});

Deno.test("`buildRequest()` is a version 4 client request carrying the nonce", () => {
  const req = buildRequest(NONCE);
  assert.equal(req.length, 48);
  assert.equal(req[0], 0b11_100_011);
  assert.deepEqual(req.subarray(40), NONCE);
  assert.deepEqual(req.subarray(1, 40), new Uint8Array(39));
  assert.throws(() => buildRequest(new Uint8Array(4)), RangeError);
});

Deno.test("`parseResponse()` computes offset and delay (RFC 5905 θ and δ)", () => {
  // Client sends at 1000, server receives at 6010 and answers at 6020, client gets it at 1040:
  // offset ((6010-1000)+(6020-1040))/2 = 4995, delay (1040-1000)-(6020-6010) = 30.
  const t0 = 1_767_225_600_000;
  const s = parseResponse(answer(t0 + 6010, t0 + 6020), NONCE, t0 + 1000, t0 + 1040);
  assert.ok(Math.abs(s.offsetMs - 4995) < 0.01, String(s.offsetMs));
  assert.ok(Math.abs(s.delayMs - 30) < 0.01, String(s.delayMs));
  assert.equal(s.stratum, 1);
  assert.ok(Math.abs(s.timeMs - (t0 + 1040 + 4995)) < 0.01);
});

Deno.test("`parseResponse()` refuses answers a client must not use, naming why", () => {
  const t = 1_767_225_600_000;
  const cases: [string, Uint8Array, RegExp][] = [
    ["short", answer(t, t).subarray(0, 47), /47 bytes is shorter than an NTP header/],
    ["client mode", answer(t, t, (b) => b[0] = (4 << 3) | 3), /mode 3, not 4/],
    ["version 0", answer(t, t, (b) => b[0] = 4), /NTP version 0/],
    [
      "kiss-o'-death",
      answer(t, t, (b) => {
        b[1] = 0;
        b.set([0x44, 0x45, 0x4e, 0x59], 12);
      }),
      /kiss-o'-death from the server \(code "DENY"\)/,
    ],
    ["stratum 16", answer(t, t, (b) => b[1] = 16), /stratum 16/],
    ["leap 3", answer(t, t, (b) => b[0] = (3 << 6) | (4 << 3) | 4), /not synchronised/],
    ["other origin", answer(t, t, (b) => b[31] = 9), /not for this request/],
    ["zero transmit", answer(t, t, (b) => b.fill(0, 40, 48)), /zero receive or transmit/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => parseResponse(bytes, NONCE, t, t), (e: unknown) => {
      assert.ok(e instanceof NtpError, what);
      assert.match((e as Error).message, message, what);
      return true;
    });
  }
});

Deno.test("`ntpExchange()` measures a server's clock 1 h ahead over loopback UDP", async () => {
  await withReactor(async (r) => {
    const server = startResponder(r, "ok", 3_600_000);
    const dialer = new DirectDialer("ntp", {}, testContext(r));
    const flow = await dialer.openUdp({ id: 1 });
    try {
      const s = await ntpExchange(flow, { addr: LOOPBACK, port: server.addr.port }, r);
      assert.ok(Math.abs(s.offsetMs - 3_600_000) < 200, `offset ${s.offsetMs}`);
      assert.ok(s.delayMs >= 0 && s.delayMs < 200, `delay ${s.delayMs}`);
      assert.equal(s.stratum, 2);
      assert.equal(server.requests.length, 1);
      assert.equal(server.requests[0]![0], 0b11_100_011);
    } finally {
      flow.close();
      server.close();
    }
  });
});

for (
  const [mode, expected] of [
    ["silent", /did not answer within 300 ms \(no answer\)$/],
    ["garbage", /did not answer within 300 ms \(1 invalid answer\(s\): /],
    ["kod", /\(1 invalid answer\(s\): kiss-o'-death from the server \(code "RATE"\)\)$/],
    ["wrong-origin", /invalid answer\(s\): answer is not for this request/],
  ] as const
) {
  Deno.test(`\`ntpExchange()\` times out on a ${mode} server and says what came`, async () => {
    await withReactor(async (r) => {
      const server = startResponder(r, mode);
      const flow = await new DirectDialer("ntp", {}, testContext(r)).openUdp({ id: 1 });
      try {
        await assert.rejects(
          ntpExchange(flow, { addr: LOOPBACK, port: server.addr.port }, r, { timeoutMs: 300 }),
          (e: Error) => {
            assert.ok(e instanceof NtpError);
            assert.match(e.message, new RegExp(`^NTP server 127\\.0\\.0\\.1:${server.addr.port} `));
            assert.match(e.message, expected);
            return true;
          },
        );
      } finally {
        flow.close();
        server.close();
      }
    });
  });
}

Deno.test("`ntpExchange()` keeps waiting past garbage for the real answer", async () => {
  await withReactor(async (r) => {
    const good = startResponder(r, "ok", -5000);
    const flow = await new DirectDialer("ntp", {}, testContext(r)).openUdp({ id: 1 });
    try {
      const pending = ntpExchange(flow, { addr: LOOPBACK, port: good.addr.port }, r);
      // A stray datagram from elsewhere arrives first.
      flow.onPacket!(new Uint8Array([1, 2, 3]), { addr: LOOPBACK, port: 9 });
      const s = await within(r, 3000, pending, "answer");
      assert.ok(Math.abs(s.offsetMs + 5000) < 200);
    } finally {
      flow.close();
      good.close();
    }
  });
});

Deno.test("the NTP service goes through its detour (a SOCKS5 outbound's UDP) and shares the time", async () => {
  await withReactor(async (r) => {
    const server = startResponder(r, "ok", 120_000);
    const socks = startSocksServer({ reactor: r, listen: { addr: LOOPBACK, port: 0 } });
    const options = config({
      outbounds: [
        { type: "direct", tag: "direct" },
        { type: "socks", tag: "proxy", server: "127.0.0.1", server_port: socks.localAddr().port },
      ],
      ntp: {
        enabled: true,
        server: "127.0.0.1",
        server_port: server.addr.port,
        interval: "1h",
        detour: "proxy",
      },
    });
    const outbounds = createOutbounds(options.outbounds, testContext(r), {}, builtinOutbounds());
    // Count the UDP flows the detour opens (the answer arriving proves SOCKS UDP carried it).
    const proxy = outbounds.get("proxy")!;
    let opened = 0;
    const openUdp = proxy.openUdp.bind(proxy);
    proxy.openUdp = (meta) => {
      opened++;
      return openUdp(meta);
    };
    const memory = SharedClock.memory();
    const otherWorker = new SharedClock(memory);
    const stop = startNtp(options, memory, { reactor: r, outbounds, ctx: testContext(r) });
    try {
      assert.ok(stop, "the first worker runs the service");
      assert.equal(
        startNtp(options, memory, { reactor: r, outbounds, ctx: testContext(r) }),
        null,
        "a second worker does not",
      );
      await within(
        r,
        5000,
        (async () => {
          while (!otherWorker.synced) await sleep(r, 20);
        })(),
        "NTP update",
      );
      assert.ok(Math.abs(otherWorker.offsetMs - 120_000) < 300, String(otherWorker.offsetMs));
      assert.ok(Math.abs(otherWorker.now() - (Date.now() + 120_000)) < 300);
      assert.equal(server.requests.length, 1, "one query until the interval");
      assert.equal(opened, 1, "through the detour");
    } finally {
      stop?.();
      for (const o of outbounds.values()) o.close();
      socks.close();
      server.close();
    }
  });
});

Deno.test("the NTP service retries a failed query and then writes the system time when asked", async () => {
  await withReactor(async (r) => {
    const server = startResponder(r, "silent", 2_000);
    const clock = new SharedClock(SharedClock.memory());
    const written: number[] = [];
    const service = new NtpService(
      { enabled: true, server: "127.0.0.1", server_port: server.addr.port, write_to_system: true },
      {
        reactor: r,
        dialer: new DirectDialer("ntp", {}, testContext(r)),
        clock,
        setSystemTime: (ms) => void written.push(ms),
        timeoutMs: 200,
      },
    );
    try {
      assert.equal(await service.update(), null, "no answer: logged, nothing recorded");
      assert.equal(clock.synced, false);
      assert.ok(RETRY_MS < service.intervalMs, "a failure is retried before the interval");
      server.mode = "ok";
      const s = await service.update();
      assert.ok(s);
      assert.equal(written.length, 1);
      assert.ok(Math.abs(written[0]! - (Date.now() + 2_000)) < 300);
      assert.equal(clock.offsetMs, 0, "the system clock carries the correction now");
      assert.equal(clock.synced, true);
    } finally {
      service.close();
      server.close();
    }
  });
});

Deno.test("`ntpServer()` reads IP literals and names, with port 123 by default", () => {
  assert.deepEqual(ntpServer({ server: "time.apple.com" }), {
    domain: "time.apple.com",
    port: 123,
  });
  assert.deepEqual(ntpServer({ server: "[2001:db8::1]", server_port: 1123 }).port, 1123);
  assert.equal(ntpServer({ server: "192.0.2.1" }).addr?.length, 4);
});
