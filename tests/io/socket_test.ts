import assert from "node:assert/strict";
import { Reactor } from "../../src/io/reactor.ts";
import {
  connectTcp,
  TcpListener,
  type TcpSocket,
  UdpSocket,
  WOULD_BLOCK,
} from "../../src/io/socket.ts";
import { SysError } from "../../ffi/errno.ts";
import { signalWaker } from "../../src/io/sys.ts";

const LOOPBACK = new Uint8Array([127, 0, 0, 1]);
const LOOPBACK6 = new Uint8Array(16).fill(0, 0, 15).map((_, i) => (i === 15 ? 1 : 0));

async function withReactor(fn: (r: Reactor) => Promise<void>): Promise<void> {
  const r = new Reactor();
  const loop = r.run();
  try {
    await fn(r);
  } finally {
    r.stop();
    await loop;
    r.close();
  }
}

/**
 * Starts an echo server with backpressure: when the client is slow to read, the server stops
 * reading until its pending bytes are written, then half-closes after the client's FIN.
 */
function echoServer(r: Reactor, addr: Uint8Array): TcpListener {
  return new TcpListener(r, { addr, port: 0 }, (sock: TcpSocket) => {
    const buf = new Uint8Array(65536);
    let pending: Uint8Array | null = null;
    let eof = false;
    const flush = (): boolean => {
      while (pending) {
        const n = sock.write(pending);
        if (n === WOULD_BLOCK) return false;
        pending = n === pending.length ? null : pending.subarray(n);
      }
      return true;
    };
    sock.onWritable = () => {
      if (!flush()) return;
      sock.wantWrite(false);
      if (eof) sock.shutdownWrite();
      else sock.wantRead(true);
    };
    sock.onReadable = () => {
      for (;;) {
        const n = sock.read(buf);
        if (n === WOULD_BLOCK) return;
        if (n === 0) {
          eof = true;
          sock.wantRead(false);
          if (pending) sock.wantWrite(true);
          else sock.shutdownWrite();
          return;
        }
        pending = buf.slice(0, n);
        if (!flush()) {
          sock.wantRead(false);
          sock.wantWrite(true);
          return;
        }
      }
    };
    sock.wantRead(true);
  });
}

Deno.test("`connectTcp()` reaches a `TcpListener` and echoes bytes until half-close", async () => {
  await withReactor(async (r) => {
    const server = echoServer(r, LOOPBACK);
    const port = server.localAddr().port;
    const client = await connectTcp(r, { addr: LOOPBACK, port });
    assert.deepEqual(client.peerAddr().addr, LOOPBACK);
    const message = new TextEncoder().encode("hello through the reactor");
    await client.writeAll(message);
    const got = new Uint8Array(message.length);
    await client.readExact(got, "read echo");
    assert.deepEqual(got, message);
    client.shutdownWrite();
    assert.equal(await client.readSome(new Uint8Array(16)), 0);
    client.close();
    server.close();
  });
});

Deno.test("`connectTcp()` works over IPv6 loopback and moves 8 MiB intact", async () => {
  await withReactor(async (r) => {
    const server = echoServer(r, LOOPBACK6);
    const client = await connectTcp(r, { addr: LOOPBACK6, port: server.localAddr().port });
    const data = new Uint8Array(8 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131) & 0xff;
    const received = new Uint8Array(data.length);
    let got = 0;
    const reader = (async () => {
      while (got < data.length) {
        const n = await client.readSome(received.subarray(got));
        if (n === 0) break;
        got += n;
      }
    })();
    await client.writeAll(data);
    client.shutdownWrite();
    await reader;
    assert.equal(got, data.length);
    assert.deepEqual(received, data);
    client.close();
    server.close();
  });
});

Deno.test('a `TcpListener` on "::" takes IPv4 too, as Go\'s does; one on "::1" only IPv6', async () => {
  await withReactor(async (r) => {
    const any = echoServer(r, new Uint8Array(16));
    const client = await connectTcp(r, { addr: LOOPBACK, port: any.localAddr().port });
    const message = new TextEncoder().encode("v4 on a dual-stack listener");
    await client.writeAll(message);
    const got = new Uint8Array(message.length);
    await client.readExact(got, "read echo");
    assert.deepEqual(got, message);
    client.close();
    any.close();
    const only6 = echoServer(r, LOOPBACK6);
    await assert.rejects(
      connectTcp(r, { addr: LOOPBACK, port: only6.localAddr().port }),
      (e: unknown) => e instanceof SysError,
    );
    only6.close();
  });
});

Deno.test("`connectTcp()` to a closed port fails with ECONNREFUSED naming the address", async () => {
  await withReactor(async (r) => {
    const probe = new TcpListener(r, { addr: LOOPBACK, port: 0 }, () => {});
    const port = probe.localAddr().port;
    probe.close();
    await assert.rejects(connectTcp(r, { addr: LOOPBACK, port }), (e: unknown) => {
      assert.ok(e instanceof SysError);
      assert.equal(e.code, "ECONNREFUSED");
      assert.match(
        e.message,
        new RegExp(`connect to 127\\.0\\.0\\.1:${port} failed: ECONNREFUSED`),
      );
      return true;
    });
  });
});

Deno.test("`UdpSocket` sends and receives datagrams with the sender's address", async () => {
  await withReactor(async (r) => {
    const a = UdpSocket.open(r, 4, {}, { addr: LOOPBACK, port: 0 });
    const b = UdpSocket.open(r, 4, {}, { addr: LOOPBACK, port: 0 });
    const received = new Promise<{ text: string; port: number }>((resolve) => {
      const buf = new Uint8Array(2048);
      const from = { addr: new Uint8Array(4), port: 0 };
      b.onReadable = () => {
        const n = b.recvFrom(buf, from);
        if (n === WOULD_BLOCK) return;
        resolve({ text: new TextDecoder().decode(buf.subarray(0, n)), port: from.port });
      };
    });
    assert.equal(a.sendTo(new TextEncoder().encode("ping"), b.localAddr()), 4);
    const got = await received;
    assert.equal(got.text, "ping");
    assert.equal(got.port, a.localAddr().port);
    a.close();
    b.close();
  });
});

Deno.test("`Reactor` wakes from epoll_wait when its eventfd is signalled", async () => {
  await withReactor(async (r) => {
    let woke = 0;
    r.onWake(() => woke++);
    // Let the loop go idle (blocking), then wake it.
    await new Promise((res) => setTimeout(res, 5));
    signalWaker(r.wakeFd);
    const start = performance.now();
    while (woke === 0 && performance.now() - start < 1000) {
      await new Promise((res) => setTimeout(res, 1));
    }
    assert.equal(woke, 1);
  });
});

Deno.test("`Reactor` timers fire in order on the reactor clock", async () => {
  await withReactor(async (r) => {
    const order: number[] = [];
    const done = new Promise<void>((resolve) => {
      r.setTimeout(20, () => {
        order.push(20);
        resolve();
      });
      r.setTimeout(5, () => order.push(5));
      const cancelled = r.setTimeout(10, () => order.push(10));
      cancelled.cancel();
    });
    await done;
    assert.deepEqual(order, [5, 20]);
  });
});
