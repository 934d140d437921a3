// Start order with a local proxy: which outbounds are waited for, the handshake probe, the
// bounded wait and its log lines; and the one-line-per-outage server health log.

import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import {
  localProxies,
  type LocalProxy,
  probeProxy,
  waitForLocalProxies,
} from "../../src/outbound/proxy_ready.ts";
import { ServerHealth } from "../../src/outbound/server_health.ts";
import type { OutboundOptions } from "../../src/config/types.ts";

const records: LogRecord[] = [];
async function captureLogs(): Promise<void> {
  records.length = 0;
  await configure({
    reset: true,
    sinks: { mem: (r: LogRecord) => records.push(r) },
    loggers: [
      { category: ["tunbox"], lowestLevel: "debug", sinks: ["mem"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
}
function lines(level?: string): string[] {
  return records.filter((r) => !level || r.level === level).map((r) =>
    r.message.map((m) => String(m)).join("")
  );
}

function socks(tag: string, server: string, extra: Record<string, unknown> = {}): OutboundOptions {
  return { type: "socks", tag, server, server_port: 1080, ...extra } as OutboundOptions;
}

Deno.test("`localProxies()` keeps socks/http outbounds on loopback, localhost or a local address", () => {
  const found = localProxies([
    socks("a", "127.0.0.1"),
    socks("b", "::1", { version: "4a" }),
    socks("c", "localhost", { username: "u", password: "p" }),
    socks("d", "192.168.1.20"),
    socks("e", "203.0.113.9"),
    socks("f", "127.0.0.1", { detour: "a" }),
    { type: "http", tag: "g", server: "127.0.0.2", server_port: 8080 } as OutboundOptions,
    { type: "direct", tag: "direct" } as OutboundOptions,
  ], [Uint8Array.of(192, 168, 1, 20)]);
  assert.deepEqual(found.map((p) => [p.tag, p.type, p.version, p.host, p.port, p.auth]), [
    ["a", "socks", "5", "127.0.0.1", 1080, false],
    ["b", "socks", "4a", "::1", 1080, false],
    ["c", "socks", "5", "127.0.0.1", 1080, true],
    ["d", "socks", "5", "192.168.1.20", 1080, false],
    ["g", "http", "5", "127.0.0.2", 8080, false],
  ]);
});

/** A TCP server on 127.0.0.1 answering each connection's first read with `answer`. */
function fakeServer(
  answer: Uint8Array | null,
): { port: number; seen: Uint8Array[]; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: Uint8Array[] = [];
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(64);
        const n = await conn.read(buf).catch(() => null);
        if (n) seen.push(buf.slice(0, n));
        if (answer) await conn.write(answer).catch(() => {});
        conn.close();
      })();
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, seen, close: () => listener.close() };
}

function proxy(port: number, extra: Partial<LocalProxy> = {}): LocalProxy {
  return { tag: "p", type: "socks", version: "5", host: "127.0.0.1", port, auth: false, ...extra };
}

Deno.test("`probeProxy()` needs a SOCKS5 method reply; refusals and garbage are reasons", async () => {
  const good = fakeServer(Uint8Array.of(5, 0));
  const bad = fakeServer(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
  try {
    await probeProxy(proxy(good.port));
    await probeProxy(proxy(good.port, { auth: true }));
    assert.deepEqual(good.seen.map((b) => [...b]), [[5, 1, 0], [5, 2, 0, 2]]);
    await assert.rejects(
      probeProxy(proxy(bad.port)),
      /answered the SOCKS5 greeting with version 72/,
    );
    // HTTP and SOCKS4 proxies only need to accept the connection.
    await probeProxy(proxy(bad.port, { type: "http" }));
    await probeProxy(proxy(bad.port, { version: "4" }));
  } finally {
    good.close();
    bad.close();
  }
  // A closed port is refused. A parallel test can take the freed port between close() and the
  // probe (seen as a reset): then the premise did not hold, and a fresh port is tried.
  for (let attempt = 1;; attempt++) {
    const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (free.addr as Deno.NetAddr).port;
    free.close();
    const error = await probeProxy(proxy(port)).then(() => null, (e: unknown) => e);
    if (error instanceof Deno.errors.ConnectionRefused) break;
    assert.ok(attempt < 3, `probing closed ports: ${error}`);
  }
});

Deno.test("`waitForLocalProxies()` waits for a proxy that starts late and logs the wait", async () => {
  await captureLogs();
  // Find a free port, then start the server on it 400 ms later.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  let server: Deno.Listener | undefined;
  const late = setTimeout(() => {
    server = Deno.listen({ hostname: "127.0.0.1", port });
    (async () => {
      for await (const c of server!) {
        await c.read(new Uint8Array(8)).catch(() => null);
        await c.write(Uint8Array.of(5, 0)).catch(() => {});
        c.close();
      }
    })().catch(() => {});
  }, 400);
  try {
    const r = await waitForLocalProxies([proxy(port, { tag: "late" })], 5000);
    assert.deepEqual(r.ready, ["late"]);
    assert.deepEqual(r.notReady, []);
    assert.ok(r.waitedMs >= 380 && r.waitedMs < 2000, `waited ${r.waitedMs} ms`);
    const info = lines("info");
    assert.match(
      info[0]!,
      new RegExp(
        `^waiting up to 5\\.0 s for local proxy outbound/socks\\[late\\] at 127\\.0\\.0\\.1:${port} to accept a handshake before installing routes \\(connection refused\\)$`,
      ),
    );
    assert.match(info[1]!, /^local proxy outbound\/socks\[late\] at .* is ready after 0\.\d\d s$/);
  } finally {
    clearTimeout(late);
    server?.close();
    await reset();
  }
});

Deno.test("`waitForLocalProxies()` gives up after the timeout, says so, and 0 disables it", async () => {
  await captureLogs();
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  try {
    const r = await waitForLocalProxies([proxy(port, { tag: "never" })], 600);
    assert.deepEqual(r.notReady, ["never"]);
    assert.ok(r.waitedMs >= 450 && r.waitedMs < 1500, `waited ${r.waitedMs} ms`);
    assert.match(
      lines("warning")[0]!,
      /^local proxy outbound\/socks\[never\] at .* did not accept a handshake within 0\.6 s \(connection refused\); starting anyway/,
    );
    const none = await waitForLocalProxies([proxy(port)], 0);
    assert.deepEqual(none, { ready: [], notReady: [], waitedMs: 0 });
  } finally {
    await reset();
  }
});

Deno.test("`ServerHealth` logs one warning per outage and one line when the server is back", async () => {
  await captureLogs();
  try {
    const h = new ServerHealth('socks outbound "proxy"', "127.0.0.1:1080");
    h.ok();
    assert.equal(records.length, 0);
    h.failed(new Error("ECONNREFUSED"));
    h.failed(new Error("ECONNREFUSED"));
    h.failed(new Error("ECONNREFUSED"));
    assert.equal(h.down, true);
    h.ok();
    h.ok();
    assert.equal(h.down, false);
    assert.deepEqual(lines("warning"), [
      'socks outbound "proxy": server 127.0.0.1:1080 is down (ECONNREFUSED); new connections through it fail until it is back',
    ]);
    assert.deepEqual(lines("info"), [
      'socks outbound "proxy": server 127.0.0.1:1080 is back (3 connection(s) failed meanwhile)',
    ]);
    assert.equal(lines("debug").length, 2);
  } finally {
    await reset();
  }
});
