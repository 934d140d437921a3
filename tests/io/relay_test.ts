import assert from "node:assert/strict";
import type { Reactor } from "../../src/io/reactor.ts";
import { connectTcp, TcpListener, type TcpSocket, WOULD_BLOCK } from "../../src/io/socket.ts";
import { readExact, readSome, writeAll } from "../../src/io/handshake_io.ts";
import { relay, type RelayOptions, type RelayStats } from "../../src/io/relay.ts";
import { dec, enc, LOOPBACK, roundTrip, sleep, within, withReactor } from "../outbound/_helpers.ts";

/**
 * Client ↔ [relay: accepted socket `a` ↔ upstream `b`] ↔ server. `serve` runs for each upstream
 * connection the relay makes; the returned client is connected through the relay.
 */
async function throughRelay(
  r: Reactor,
  serve: (sock: TcpSocket) => void,
  options: RelayOptions = {},
): Promise<
  { client: TcpSocket; stats: Promise<RelayStats>; relayed: Promise<ReturnType<typeof relay>> }
> {
  const server = new TcpListener(r, { addr: LOOPBACK, port: 0 }, serve);
  let resolveStats!: (s: RelayStats) => void;
  const stats = new Promise<RelayStats>((res) => (resolveStats = res));
  let resolveRelay!: (x: ReturnType<typeof relay>) => void;
  const relayed = new Promise<ReturnType<typeof relay>>((res) => (resolveRelay = res));
  const front = new TcpListener(r, { addr: LOOPBACK, port: 0 }, (a) => {
    connectTcp(r, server.localAddr()).then((b) => {
      front.close();
      server.close();
      resolveRelay(relay(a, b, {
        ...options,
        onClose: (s) => {
          options.onClose?.(s);
          resolveStats(s);
        },
      }));
    });
  });
  const client = await connectTcp(r, front.localAddr());
  return { client, stats, relayed };
}

/** Streams a deterministic pattern in chunks. */
class PatternStream {
  #x: number;
  constructor(seed: number) {
    this.#x = seed;
  }
  fill(buf: Uint8Array): void {
    let x = this.#x;
    for (let i = 0; i < buf.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      buf[i] = x >>> 24;
    }
    this.#x = x;
  }
}

Deno.test("`relay()` moves 100 MB through splice to a slow reader without buffering it", async () => {
  await withReactor(async (r) => {
    const TOTAL = 100 << 20;
    const PAUSE_EVERY = 16 << 20;
    let received = 0;
    let mismatch = -1;
    let maxInFlight = 0;
    let relayRef: ReturnType<typeof relay> | null = null;
    const sinkDone = new Promise<void>((resolveSink) => {
      throughRelay(r, (sock) => {
        (async () => {
          const expect = new PatternStream(42);
          const buf = new Uint8Array(1 << 16);
          const want = new Uint8Array(1 << 16);
          let nextPause = PAUSE_EVERY;
          for (;;) {
            const n = await readSome(sock, buf, "sink read");
            if (n === 0) break;
            expect.fill(want.subarray(0, n));
            for (let i = 0; i < n && mismatch < 0; i++) {
              if (buf[i] !== want[i]) mismatch = received + i;
            }
            received += n;
            if (received >= nextPause) {
              nextPause += PAUSE_EVERY;
              await sleep(r, 60); // a slow reader: the relay must stop reading meanwhile
              if (relayRef) maxInFlight = Math.max(maxInFlight, relayRef.up - received);
            }
          }
          sock.close();
          resolveSink();
        })();
      }).then(async ({ client, relayed }) => {
        relayRef = await relayed;
        const src = new PatternStream(42);
        const chunk = new Uint8Array(1 << 20);
        let blocked = 0;
        for (let sent = 0; sent < TOTAL; sent += chunk.length) {
          src.fill(chunk);
          let off = 0;
          while (off < chunk.length) {
            const n = client.write(chunk.subarray(off));
            if (n === WOULD_BLOCK) {
              blocked++;
              await client.writable();
              continue;
            }
            off += n;
          }
        }
        assert.ok(blocked > 0, "the writer never saw backpressure");
        client.shutdownWrite();
        assert.equal(await readSome(client, new Uint8Array(16), "client EOF"), 0);
        client.close();
      });
    });
    await sinkDone;
    assert.equal(mismatch, -1, `first corrupted byte at ${mismatch}`);
    assert.equal(received, TOTAL);
    assert.equal(relayRef!.up, TOTAL);
    // While the reader paused, at most the kernel's socket buffers were in flight, not 100 MB.
    assert.ok(maxInFlight < 16 << 20, `relay ran ${maxInFlight} bytes ahead of a paused reader`);
  });
});

Deno.test("`relay()` in copy mode moves 20 MB intact", async () => {
  await withReactor(async (r) => {
    const data = new Uint8Array(20 << 20);
    new PatternStream(3).fill(data);
    const { client, stats } = await throughRelay(r, (sock) => {
      // Echo server.
      (async () => {
        const buf = new Uint8Array(65536);
        for (;;) {
          const n = await readSome(sock, buf, "echo");
          if (n === 0) break;
          await writeAll(sock, buf.subarray(0, n), "echo");
        }
        sock.shutdownWrite();
        await readSome(sock, buf, "drain").catch(() => 0);
        sock.close();
      })();
    }, { mode: "copy" });
    const back = await roundTrip(client, data);
    client.close();
    assert.equal(back.length, data.length);
    assert.deepEqual(back, data);
    const s = await stats;
    assert.equal(s.end, "done");
    assert.equal(s.up, data.length);
    assert.equal(s.down, data.length);
  });
});

Deno.test("`relay()` half-closes: the client's FIN reaches the server, which still answers", async () => {
  await withReactor(async (r) => {
    const { client, stats } = await throughRelay(r, (sock) => {
      (async () => {
        const buf = new Uint8Array(64);
        let got = "";
        for (;;) {
          const n = await readSome(sock, buf, "server read");
          if (n === 0) break; // the client's FIN arrived through the relay
          got += dec.decode(buf.subarray(0, n));
        }
        await writeAll(sock, enc.encode(`after FIN got "${got}"`), "server write");
        sock.shutdownWrite();
        await readSome(sock, buf, "server drain").catch(() => 0);
        sock.close();
      })();
    });
    const back = await roundTrip(client, enc.encode("ping"));
    client.close();
    assert.equal(dec.decode(back), 'after FIN got "ping"');
    const s = await stats;
    assert.equal(s.end, "done");
    assert.equal(s.up, 4);
    assert.equal(s.down, 'after FIN got "ping"'.length);
  });
});

Deno.test("`relay()` half-closes the other way: the server's FIN reaches the client, which still sends", async () => {
  await withReactor(async (r) => {
    const serverGot = Promise.withResolvers<string>();
    const { client, stats } = await throughRelay(r, (sock) => {
      (async () => {
        await writeAll(sock, enc.encode("bye"), "server write");
        sock.shutdownWrite(); // server is done sending first
        const buf = new Uint8Array(64);
        let got = "";
        for (;;) {
          const n = await readSome(sock, buf, "server read");
          if (n === 0) break;
          got += dec.decode(buf.subarray(0, n));
        }
        serverGot.resolve(got);
        sock.close();
      })();
    });
    const buf = new Uint8Array(3);
    await readExact(client, buf, "client read");
    assert.equal(dec.decode(buf), "bye");
    assert.equal(await readSome(client, new Uint8Array(8), "client EOF"), 0);
    // The client can still send after the server's FIN.
    await writeAll(client, enc.encode("late data"), "client write");
    client.shutdownWrite();
    assert.equal(await serverGot.promise, "late data");
    const s = await stats;
    client.close();
    assert.equal(s.end, "done");
    assert.equal(s.up, 9);
    assert.equal(s.down, 3);
  });
});

Deno.test("`relay()` propagates a reset from the server to the client", async () => {
  await withReactor(async (r) => {
    const { client, stats } = await throughRelay(r, (sock) => {
      (async () => {
        await readSome(sock, new Uint8Array(16), "server read");
        sock.abort(); // RST
      })();
    });
    await writeAll(client, enc.encode("hello"), "client write");
    const err = await readSome(client, new Uint8Array(16), "client read").then(
      (n) => `read ${n}`,
      (e: Error) => e.message,
    );
    client.close();
    assert.match(err, /ECONNRESET/);
    const s = await stats;
    assert.equal(s.end, "error");
    assert.match(String(s.error), /ECONNRESET/);
  });
});

Deno.test("`relay()` notices a reset on a half-closed side and resets the other", async () => {
  await withReactor(async (r) => {
    const serverSock = Promise.withResolvers<TcpSocket>();
    const { client, stats } = await throughRelay(r, (sock) => serverSock.resolve(sock));
    const server = await serverSock.promise;
    // The server finishes sending (the relay stops reading it), then resets while idle.
    server.shutdownWrite();
    assert.equal(await readSome(client, new Uint8Array(8), "client EOF"), 0);
    server.abort();
    const s = await within(r, 2000, stats, "relay end after the reset");
    assert.equal(s.end, "error");
    const err = await readSome(client, new Uint8Array(8), "client read").then(
      (n) => `read ${n}`,
      (e: Error) => e.message,
    );
    client.close();
    assert.match(err, /ECONNRESET|EPIPE|read 0/);
  });
});

Deno.test("`relay()` writes the initial buffers before relayed bytes", async () => {
  await withReactor(async (r) => {
    const { client, stats } = await throughRelay(r, (sock) => {
      (async () => {
        const buf = new Uint8Array(64);
        let got = "";
        for (;;) {
          const n = await readSome(sock, buf, "server read");
          if (n === 0) break;
          got += dec.decode(buf.subarray(0, n));
        }
        await writeAll(sock, enc.encode(`[${got}]`), "server write");
        sock.shutdownWrite();
        await readSome(sock, buf, "drain").catch(() => 0);
        sock.close();
      })();
    }, { initialToB: enc.encode("sniffed-"), initialToA: enc.encode("handshake-extra|") });
    const back = await roundTrip(client, enc.encode("rest"));
    client.close();
    assert.equal(dec.decode(back), "handshake-extra|[sniffed-rest]");
    const s = await stats;
    assert.equal(s.up, "sniffed-rest".length);
    assert.equal(s.down, back.length);
  });
});

Deno.test("`relay()` closes both sides after the idle timeout", async () => {
  await withReactor(async (r) => {
    const { client, stats } = await throughRelay(r, () => {}, { idleTimeoutMs: 120 });
    const start = r.now();
    await writeAll(client, enc.encode("x"), "client write");
    const s = await stats;
    const elapsed = r.now() - start;
    client.close();
    assert.equal(s.end, "idle");
    assert.ok(elapsed >= 110 && elapsed < 1000, `idle close after ${elapsed} ms`);
  });
});

Deno.test("`Relay.close()` closes both sockets and reports `closed`", async () => {
  await withReactor(async (r) => {
    const { client, stats, relayed } = await throughRelay(r, () => {});
    (await relayed).close();
    const s = await stats;
    assert.equal(s.end, "closed");
    assert.equal(await readSome(client, new Uint8Array(8), "client EOF"), 0);
    client.close();
  });
});

Deno.test("`relay()` reads a socket once per message: a short read is not followed by an EAGAIN read", async () => {
  await withReactor(async (r) => {
    const { client, relayed } = await throughRelay(r, (sock) => {
      (async () => {
        const buf = new Uint8Array(64);
        for (;;) {
          const n = await readSome(sock, buf, "echo read").catch(() => 0);
          if (n === 0) break;
          await writeAll(sock, buf.slice(0, n), "echo write");
        }
        sock.close();
      })();
    });
    const rl = await relayed;
    let reads = 0;
    let wouldBlock = 0;
    for (const side of [rl.a, rl.b]) {
      const read = side.read.bind(side);
      side.read = (buf: Uint8Array) => {
        reads++;
        const n = read(buf);
        if (n === WOULD_BLOCK) wouldBlock++;
        return n;
      };
    }
    const buf = new Uint8Array(64);
    for (let i = 0; i < 5; i++) {
      await writeAll(client, enc.encode(`message ${i}`), "client write");
      await readExact(client, buf.subarray(0, 9), "client read");
      assert.equal(dec.decode(buf.subarray(0, 9)), `message ${i}`);
    }
    client.close();
    // Each message is read once from the client's side and once from the server's side.
    assert.equal(wouldBlock, 0, `${wouldBlock} of ${reads} reads found nothing`);
    assert.equal(reads, 10);
  });
});
