/**
 * Test helpers for outbounds, inbounds and the relay: a running reactor, loopback servers on the
 * reactor (TCP echo, TCP sink, UDP echo), real peer processes started and stopped by PID, and
 * a minimal DialContext.
 */

import assert from "node:assert/strict";
import { Reactor } from "../../src/io/reactor.ts";
import { connectTcp, TcpListener, UdpSocket, WOULD_BLOCK } from "../../src/io/socket.ts";
import { readHeaderBlock, readSome, writeAll } from "../../src/io/handshake_io.ts";
import type { DialContext, Outbound } from "../../src/outbound/types.ts";
import { readExact, type Stream } from "../../src/io/stream.ts";
import type { SockAddr } from "../../ffi/sockaddr.ts";

export const LOOPBACK = new Uint8Array([127, 0, 0, 1]);
export const LOOPBACK6 = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
export const enc = new TextEncoder();
export const dec = new TextDecoder();

/** Runs `fn` with a running reactor, stopping and closing it afterwards. */
export async function withReactor(fn: (r: Reactor) => Promise<void>): Promise<void> {
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

/** A DialContext on `r` with no platform and a resolver that knows `localhost` and literals. */
export function testContext(r: Reactor, extra: Partial<DialContext> = {}): DialContext {
  return {
    reactor: r,
    resolve: (domain: string) => {
      if (domain === "localhost") return Promise.resolve([LOOPBACK]);
      if (domain === "localhost6") return Promise.resolve([LOOPBACK6]);
      if (domain === "dual.test") return Promise.resolve([LOOPBACK6, LOOPBACK]);
      return Promise.reject(new Error(`test resolver: unknown name "${domain}"`));
    },
    ...extra,
  };
}

/** Resolves after `ms` on the reactor clock. */
export function sleep(r: Reactor, ms: number): Promise<void> {
  return new Promise((resolve) => r.setTimeout(ms, resolve));
}

/** A TCP echo server on the reactor (echoes until the client's FIN, then half-closes). */
export function echoServer(r: Reactor, addr: Uint8Array = LOOPBACK): TcpListener {
  return new TcpListener(r, { addr, port: 0 }, (sock) => {
    (async () => {
      const buf = new Uint8Array(65536);
      try {
        for (;;) {
          const n = await readSome(sock, buf, "echo read");
          if (n === 0) break;
          await writeAll(sock, buf.subarray(0, n), "echo write");
        }
        sock.shutdownWrite();
        // Wait for the peer to close before closing (so nothing is reset).
        await readSome(sock, buf, "echo drain").catch(() => 0);
      } catch { /* peer went away */ }
      sock.close();
    })();
  });
}

/** A TCP server that sends `greeting` on accept, then echoes (for "server speaks first"). */
export function greetingServer(r: Reactor, greeting: Uint8Array): TcpListener {
  return new TcpListener(r, { addr: LOOPBACK, port: 0 }, (sock) => {
    (async () => {
      try {
        await writeAll(sock, greeting, "greeting");
        const buf = new Uint8Array(4096);
        for (;;) {
          const n = await readSome(sock, buf, "read");
          if (n === 0) break;
          await writeAll(sock, buf.subarray(0, n), "write");
        }
        sock.shutdownWrite();
        await readSome(sock, buf, "drain").catch(() => 0);
      } catch { /* ignore */ }
      sock.close();
    })();
  });
}

/**
 * Dials a {@linkcode greetingServer} through `out` and reads its greeting without writing
 * anything first (SMTP, SSH, FTP): the protocol's request must leave on its own.
 */
export async function assertGreeting(r: Reactor, out: Outbound): Promise<void> {
  const greeting = enc.encode("220 tunbox test server\r\n");
  const server = greetingServer(r, greeting);
  try {
    const s = await out.dialTcp({ addr: LOOPBACK, port: server.localAddr().port }, { id: 99 });
    const got = new Uint8Array(greeting.length);
    try {
      await within(r, 5_000, readExact(s, got, "greeting"), "the server's greeting");
    } finally {
      s.close();
    }
    if (dec.decode(got) !== dec.decode(greeting)) {
      throw new Error(`greeting ${JSON.stringify(dec.decode(got))}`);
    }
  } finally {
    server.close();
  }
}

/**
 * A UDP echo server on the reactor: answers every datagram with `prefix + payload`, after
 * `delayMs` when given.
 */
export function udpEchoServer(
  r: Reactor,
  addr: Uint8Array = LOOPBACK,
  prefix = "",
  delayMs = 0,
): UdpSocket {
  const sock = UdpSocket.open(r, addr.length === 4 ? 4 : 6, {}, { addr, port: 0 });
  const buf = new Uint8Array(65536);
  const p = enc.encode(prefix);
  const from: SockAddr = { addr: new Uint8Array(4), port: 0 };
  sock.onReadable = () => {
    for (;;) {
      const n = sock.recvFrom(buf.subarray(p.length), from);
      if (n === WOULD_BLOCK) return;
      buf.set(p, 0);
      const answer = buf.slice(0, p.length + n);
      const to = { addr: from.addr.slice(), port: from.port };
      if (delayMs > 0) r.setTimeout(delayMs, () => sock.closed || sock.sendTo(answer, to));
      else sock.sendTo(answer, to);
    }
  };
  return sock;
}

/** Writes `data`, half-closes, and reads everything the peer sends until EOF. */
export async function roundTrip(sock: Stream, data: Uint8Array): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const reader = (async () => {
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await readSome(sock, buf, "roundTrip read");
      if (n === 0) break;
      chunks.push(buf.slice(0, n));
    }
  })();
  await writeAll(sock, data, "roundTrip write");
  sock.shutdownWrite();
  await reader;
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Finds an executable in PATH or the sbin directories; throws naming the Debian package. */
export function tool(name: string, pkg: string): string {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/sbin", "/usr/bin"]);
  for (const d of dirs) {
    try {
      if (Deno.statSync(`${d}/${name}`).isFile) return `${d}/${name}`;
    } catch { /* next */ }
  }
  throw new Error(`${name} is not installed (Debian package "${pkg}"); run tests/_prepare.ts`);
}

/** A started peer process; `stop()` kills it by PID and waits. */
export interface Peer {
  port: number;
  pid: number;
  stop(): Promise<void>;
  output(): string;
}

/** Starts `cmd` and waits until 127.0.0.1:`port` accepts connections (up to 10 s). */
export async function startPeer(
  r: Reactor,
  cmd: string,
  args: string[],
  port: number,
  env?: Record<string, string>,
): Promise<Peer> {
  const child = new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    ...(env ? { env } : {}),
  }).spawn();
  let out = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) out += dec.decode(chunk);
  };
  const collected = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const peer: Peer = {
    port,
    pid: child.pid,
    output: () => out,
    async stop() {
      if (!exited) {
        try {
          Deno.kill(child.pid, "SIGTERM");
        } catch { /* already gone */ }
      }
      await busyWhile(r, Promise.all([status, collected]));
    },
  };
  const deadline = performance.now() + 10_000;
  for (;;) {
    if (exited) {
      await collected;
      throw new Error(`${cmd} exited before listening on ${port}: ${out}`);
    }
    try {
      const s = await connectTcp(r, { addr: LOOPBACK, port }, { connectTimeoutMs: 500 });
      s.close();
      return peer;
    } catch {
      if (performance.now() > deadline) {
        await peer.stop();
        throw new Error(`${cmd} did not listen on ${port} within 10 s: ${out}`);
      }
      await sleep(r, 50);
    }
  }
}

/** A deterministic byte pattern for integrity checks. */
export function pattern(length: number, seed = 7): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Rejects when `promise` does not settle within `ms` on the reactor clock. */
export function within<T>(r: Reactor, ms: number, promise: Promise<T>, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = r.setTimeout(ms, () => reject(new Error(`${what}: not within ${ms} ms`)));
    promise.then((v) => {
      t.cancel();
      resolve(v);
    }, (e) => {
      t.cancel();
      reject(e);
    });
  });
}

/**
 * A minimal HTTP/1.1 server on the reactor: `GET`/`HEAD` of a path in `files` answers 200 with
 * the bytes (one request per connection); anything else 404. Records each request head.
 */
export function httpServer(
  r: Reactor,
  files: Record<string, Uint8Array>,
  addr: Uint8Array = LOOPBACK,
): TcpListener & { requests: string[] } {
  const requests: string[] = [];
  const listener = new TcpListener(r, { addr, port: 0 }, (sock) => {
    (async () => {
      try {
        const head = dec.decode(await readHeaderBlock(sock, "http server read", 65536));
        requests.push(head);
        const [method, path] = head.split(" ");
        const body = files[(path ?? "").replace(/\?.*$/, "")];
        const status = body ? "200 OK" : "404 Not Found";
        const payload = body ?? enc.encode("not found");
        await writeAll(
          sock,
          enc.encode(
            `HTTP/1.1 ${status}\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n`,
          ),
          "http server head",
        );
        if (method !== "HEAD") await writeAll(sock, payload, "http server body");
        sock.shutdownWrite();
        await readSome(sock, new Uint8Array(1024), "drain").catch(() => 0);
      } catch { /* client went away */ }
      sock.close();
    })();
  });
  return Object.assign(listener, { requests });
}

/**
 * Awaits a Deno-native promise (a child process, its pipes, a signal) while a reactor runs.
 *
 * An idle reactor blocks in `epoll_wait` for up to 50 ms per turn and yields with
 * `setImmediate`, so Deno's own I/O driver (tokio, polled only every 61 scheduler ticks when
 * the loop never parks) sees child exits and pipe data seconds late. Keeping the reactor busy
 * with a 0 ms timer makes its turns short until `promise` settles.
 */
export async function busyWhile<T>(r: Reactor, promise: Promise<T>): Promise<T> {
  let done = false;
  const tick = () => {
    if (!done) r.setTimeout(0, tick);
  };
  tick();
  try {
    return await promise;
  } finally {
    done = true;
  }
}

/** Runs a command to completion; returns exit code, stdout bytes and stderr text. */
export async function run(
  r: Reactor,
  cmd: string,
  args: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const out = await busyWhile(
    r,
    new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" }).output(),
  );
  return { code: out.code, stdout: out.stdout, stderr: dec.decode(out.stderr) };
}

/** SHA-256 hex of `data`. */
export async function sha256(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Writes `data` while reading back exactly as many bytes (an echo round trip without
 * half-close: microsocks closes both ways on the first FIN, V2Ray waits seconds after one).
 */
export async function echoExact(sock: Stream, data: Uint8Array): Promise<Uint8Array> {
  const back = new Uint8Array(data.length);
  const reader = readExactInto(sock, back);
  await writeAll(sock, data, "echoExact write");
  await reader;
  return back;
}

async function readExactInto(sock: Stream, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const n = await readSome(sock, buf.subarray(off), "echoExact read");
    if (n === 0) throw new Error(`echoExact: EOF after ${off} of ${buf.length} bytes`);
    off += n;
  }
}

/**
 * Asserts that `stream` delivers exactly `first`, then fails with `message` (a decoder that
 * read a good chunk and then a forged one), and closes both ends.
 */
export async function assertFirstThenFails(
  stream: Stream,
  server: Stream,
  first: string,
  message: string,
): Promise<void> {
  const got = new Uint8Array(enc.encode(first).length);
  await readExact(stream, got, "the first chunk");
  assert.equal(dec.decode(got), first);
  await assert.rejects(readSome(stream, new Uint8Array(16), "the forged chunk"), (e: Error) => {
    assert.equal(e.message, message);
    return true;
  });
  stream.close();
  server.close();
}
