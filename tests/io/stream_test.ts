import assert from "node:assert/strict";
import { E, SysError } from "../../ffi/errno.ts";
import { connectTcp } from "../../src/io/socket.ts";
import {
  peekSome,
  readExact,
  readSome,
  StreamClosedError,
  WOULD_BLOCK,
  writeAll,
} from "../../src/io/stream.ts";
import { relay, type RelayStats } from "../../src/io/relay.ts";
import { streamPair } from "../_helpers/stream_pair.ts";
import { echoServer, LOOPBACK, sleep, withReactor } from "../outbound/_helpers.ts";

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 9)) & 0xff;
  return b;
}

Deno.test("`JsStream` carries bytes in order, with WOULD_BLOCK and backpressure", async () => {
  await withReactor(async (r) => {
    const [a, b] = streamPair(r, 1000);
    const data = pattern(10_000);
    // The first write fills the direction; the next one would block.
    assert.equal(a.write(data), 1000);
    assert.equal(a.write(data.subarray(1000)), WOULD_BLOCK);
    const reader = (async () => {
      const out = new Uint8Array(data.length);
      await readExact(b, out, "test read");
      return out;
    })();
    await writeAll(a, data.subarray(1000), "test write");
    assert.deepEqual(await reader, data);
    assert.ok(b.pauses >= 1, "the reader's source was paused at the high-water mark");
  });
});

Deno.test("`JsStream.peek()` does not consume; EOF reads 0 after the data", async () => {
  await withReactor(async (r) => {
    const [a, b] = streamPair(r);
    await writeAll(a, new Uint8Array([1, 2, 3]), "w");
    a.shutdownWrite();
    const p = new Uint8Array(8);
    assert.equal(await peekSome(b, p, "peek"), 3);
    assert.deepEqual(p.subarray(0, 3), new Uint8Array([1, 2, 3]));
    const got = new Uint8Array(2);
    assert.equal(await readSome(b, got, "r"), 2);
    assert.deepEqual(got, new Uint8Array([1, 2]));
    assert.equal(await readSome(b, got, "r"), 1);
    assert.equal(got[0], 3);
    assert.equal(await readSome(b, got, "r"), 0);
    assert.throws(() => a.write(new Uint8Array(1)), /write after shutdown/);
  });
});

Deno.test("`JsStream` reports a failure to reads, hang-up listeners and `hangupError()`", async () => {
  await withReactor(async (r) => {
    const [a, b] = streamPair(r);
    let hungUp = 0;
    b.onHangup = () => hungUp++;
    a.abort(); // the peer sees a reset
    await sleep(r, 5);
    assert.equal(hungUp, 1);
    assert.ok(b.hangupError() instanceof SysError);
    assert.equal((b.hangupError() as SysError).errno, E.ECONNRESET);
    assert.throws(() => b.read(new Uint8Array(4)), /pair stream peer reset/);
  });
});

Deno.test("`JsStream.close()` wakes a pending handshake read, which fails naming the step", async () => {
  await withReactor(async (r) => {
    const [, b] = streamPair(r);
    const pending = readExact(b, new Uint8Array(4), "greeting");
    await sleep(r, 2);
    b.close();
    await assert.rejects(
      pending,
      (e) => e instanceof StreamClosedError && /greeting/.test(e.message),
    );
    await assert.rejects(b.readable(), StreamClosedError);
  });
});

Deno.test("`JsStream` is level-triggered: onReadable repeats until the bytes are read", async () => {
  await withReactor(async (r) => {
    const [a, b] = streamPair(r);
    await writeAll(a, pattern(100), "w");
    let calls = 0;
    const buf = new Uint8Array(10);
    let total = 0;
    await new Promise<void>((resolve) => {
      b.onReadable = () => {
        calls++;
        const n = b.read(buf); // 10 bytes per call: needs 10 calls
        if (n > 0) total += n;
        if (total === 100) {
          b.wantRead(false);
          resolve();
        }
      };
      b.wantRead(true);
    });
    assert.equal(total, 100);
    assert.equal(calls, 10);
  });
});

Deno.test("`relay()` copies between a kernel socket and a JS stream, both ways, with half-close", async () => {
  await withReactor(async (r) => {
    const server = echoServer(r);
    try {
      const upstream = await connectTcp(r, { addr: LOOPBACK, port: server.localAddr().port });
      const [client, inner] = streamPair(r, 32 * 1024);
      const stats = new Promise<RelayStats>((resolve) => {
        relay(inner, upstream, { onClose: resolve });
      });
      const data = pattern(3 * 1024 * 1024 + 17);
      const echoed = (async () => {
        const out = new Uint8Array(data.length);
        await readExact(client, out, "echo");
        // After our FIN, the echo server half-closes too: EOF.
        assert.equal(await readSome(client, new Uint8Array(1), "eof"), 0);
        return out;
      })();
      await writeAll(client, data, "send");
      client.shutdownWrite();
      assert.deepEqual(await echoed, data);
      const s = await stats;
      assert.equal(s.end, "done");
      assert.equal(s.up, data.length);
      assert.equal(s.down, data.length);
      client.close();
    } finally {
      server.close();
    }
  });
});

Deno.test("`relay()` turns a failed JS stream into a reset of the kernel socket", async () => {
  await withReactor(async (r) => {
    const server = echoServer(r);
    try {
      const upstream = await connectTcp(r, { addr: LOOPBACK, port: server.localAddr().port });
      const [client, inner] = streamPair(r);
      const stats = new Promise<RelayStats>((resolve) => {
        relay(inner, upstream, { onClose: resolve });
      });
      await writeAll(client, new Uint8Array([1, 2, 3]), "send");
      await readExact(client, new Uint8Array(3), "echo");
      inner.breakWith(new Error("tls: bad record MAC"));
      const s = await stats;
      assert.equal(s.end, "error");
      assert.match(s.error?.message ?? "", /bad record MAC/);
      assert.ok(upstream.closed);
    } finally {
      server.close();
    }
  });
});
